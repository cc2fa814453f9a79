// Backend-independent part of dropout: the p attribute, the shape checks, and the counter-based mask hash
// itself, compiled for host and device from this one definition so a seed gives the same mask everywhere.
#pragma once

#include <cstdint>
#include <string>

#include "../core/kernel.h"

#ifdef __CUDACC__
#define RN_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define RN_HOST_DEVICE inline
#endif

namespace rn::ops {

RN_HOST_DEVICE uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The stream state of a seed; element i keeps when dropoutUniform(state, i) ≥ p.
RN_HOST_DEVICE uint64_t dropoutState(int64_t seed) { return mix64(static_cast<uint64_t>(seed)); }

// Uniform in [0,1) for (seed state, index): splitmix64 step index+1, top 53 bits.
RN_HOST_DEVICE double dropoutUniform(uint64_t state, uint64_t index) {
  const uint64_t z = mix64(state + (index + 1) * 0x9e3779b97f4a7c15ULL);
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

inline double readDropoutP(const KernelContext& ctx) {
  const double p = ctx.attrs.getFloat(ctx.op, "p");
  if (!(p >= 0.0 && p < 1.0)) ctx.fail(code::kInvalidArgument, "attribute 'p' must be in [0, 1) but is " + std::to_string(p));
  return p;
}

// dropout_forward: (x f32, seed i64 [1]) → (y f32, mask u8); returns p.
inline double checkDropoutForward(const KernelContext& ctx) {
  ctx.expectArity(2, 2);
  const double p = readDropoutP(ctx);
  const Shape& shape = ctx.inputs[0].shape;
  ctx.expectDtype(ctx.inputs[0], DType::F32, "x");
  ctx.expectDtype(ctx.inputs[1], DType::I64, "seed");
  ctx.expectShape(ctx.inputs[1], {1}, "seed");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "y");
  ctx.expectShape(ctx.outputs[0], shape, "y");
  ctx.expectDtype(ctx.outputs[1], DType::U8, "mask");
  ctx.expectShape(ctx.outputs[1], shape, "mask");
  return p;
}

// dropout_backward: (dy f32, mask u8) → dx f32; returns p.
inline double checkDropoutBackward(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  const double p = readDropoutP(ctx);
  const Shape& shape = ctx.inputs[0].shape;
  ctx.expectDtype(ctx.inputs[0], DType::F32, "dy");
  ctx.expectDtype(ctx.inputs[1], DType::U8, "mask");
  ctx.expectShape(ctx.inputs[1], shape, "mask");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "dx");
  ctx.expectShape(ctx.outputs[0], shape, "dx");
  return p;
}

}  // namespace rn::ops
