// Backend-independent part of color_affine_u8: shape checks and the per-pixel arithmetic shared by both backends.
// x uint8 (N, 3, H, W) crops before their colour steps, m float32 (N, 12) each crop's map as lib/data hands it over
// (FolderBatch.colorAffine: M row-major 3×3 for pixels on [0, 1], then the offset c) → y float32 (N, 3, H, W),
// y[n, r] = Σ_k (M[r, k] / 255)·x[n, k] + c[r]: the float path's arithmetic (native/image writeCrop) on the bytes,
// as a fixed chain of correctly rounded fused multiply-adds (colorPixel), so the CPU and CUDA kernels give the
// same bits whatever the compilers contract, and a host can reproduce them (test/train/byte-input.test.ts).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "../core/kernel.h"

namespace rn::ops {

constexpr int64_t kColorMapSize = 12;

/** Checks x, m and y; returns the plane size H·W. */
inline int64_t colorAffineShapes(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  const ValueInfo& x = ctx.inputs[0];
  const ValueInfo& m = ctx.inputs[1];
  ctx.expectDtype(x, DType::U8, "x");
  ctx.expectRank(x, 4, "x");
  if (x.shape[1] != 3) ctx.fail(code::kShapeMismatch, "expected x with 3 channels but received " + std::to_string(x.shape[1]));
  ctx.expectDtype(m, DType::F32, "m");
  ctx.expectShape(m, Shape{x.shape[0], kColorMapSize}, "m");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "y");
  ctx.expectShape(ctx.outputs[0], x.shape, "y");
  return x.shape[2] * x.shape[3];
}

/** The 3×3 matrix scaled to bytes (M / 255, in float as the float path computes it) and the offset of crop map `map`. */
struct ColorMap {
  float m[9];
  float c[3];
};

#if defined(__CUDACC__)
__host__ __device__
#endif
inline ColorMap colorMapOf(const float* map) {
  ColorMap out;
  for (int q = 0; q < 9; ++q) out.m[q] = map[q] / 255.f;
  for (int r = 0; r < 3; ++r) out.c[r] = map[9 + r];
  return out;
}

/** Output channel r of pixel (red, green, blue): fma(M[r,2]/255, b, fma(M[r,1]/255, g, fma(M[r,0]/255, r, c[r]))). */
#if defined(__CUDACC__)
__host__ __device__
#endif
inline float colorPixel(const ColorMap& cm, int row, float red, float green, float blue) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(cm.m[row * 3 + 2], blue, __fmaf_rn(cm.m[row * 3 + 1], green, __fmaf_rn(cm.m[row * 3], red, cm.c[row])));
#else
  return std::fma(cm.m[row * 3 + 2], blue, std::fma(cm.m[row * 3 + 1], green, std::fma(cm.m[row * 3], red, cm.c[row])));
#endif
}

}  // namespace rn::ops
