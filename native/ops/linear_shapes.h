// Backend-independent part of the linear ops (forward, backward data, backward weights): arity, dtype and shape
// checks and the matrix sizes. native/cpu/linear.cc and native/cuda/linear.cu both validate through these.
#pragma once

#include <cstdint>
#include <string>

#include "../core/kernel.h"

namespace rn::ops {

// x [n, in], w [out, in], y [n, out].
struct LinearDims {
  int64_t n, in, out;
};

// Sizes of a linear op and whether it has a bias (forward: input b; backward weights: output db).
struct LinearSpec {
  LinearDims d;
  bool bias;
};

inline void expectMatrix(const KernelContext& ctx, const ValueInfo& v, const std::string& what) {
  ctx.expectDtype(v, DType::F32, what);
  ctx.expectRank(v, 2, what);
}

// linear_forward: inputs (x [N,in], w [out,in], optional b [out]); output y [N,out].
inline LinearSpec checkLinearForward(const KernelContext& ctx) {
  ctx.expectArity(2, 3, 1);
  expectMatrix(ctx, ctx.inputs[0], "x");
  expectMatrix(ctx, ctx.inputs[1], "w");
  const LinearDims d{ctx.inputs[0].shape[0], ctx.inputs[0].shape[1], ctx.inputs[1].shape[0]};
  ctx.expectShape(ctx.inputs[1], {d.out, d.in}, "w");
  const bool bias = ctx.inputs.size() == 3;
  if (bias) {
    ctx.expectDtype(ctx.inputs[2], DType::F32, "b");
    ctx.expectShape(ctx.inputs[2], {d.out}, "b");
  }
  ctx.expectDtype(ctx.outputs[0], DType::F32, "y");
  ctx.expectShape(ctx.outputs[0], {d.n, d.out}, "y");
  return {d, bias};
}

// linear_backward_data: inputs (dy [N,out], w [out,in]); output dx [N,in].
inline LinearDims checkLinearBackwardData(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  expectMatrix(ctx, ctx.inputs[0], "dy");
  expectMatrix(ctx, ctx.inputs[1], "w");
  const LinearDims d{ctx.inputs[0].shape[0], ctx.inputs[1].shape[1], ctx.inputs[0].shape[1]};
  ctx.expectShape(ctx.inputs[1], {d.out, d.in}, "w");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "dx");
  ctx.expectShape(ctx.outputs[0], {d.n, d.in}, "dx");
  return d;
}

// linear_backward_weights: inputs (x [N,in], dy [N,out]); outputs dw [out,in], optional db [out].
inline LinearSpec checkLinearBackwardWeights(const KernelContext& ctx) {
  if (ctx.inputs.size() != 2 || ctx.outputs.empty() || ctx.outputs.size() > 2) {
    ctx.fail(code::kInvalidArgument, "expected 2 inputs and 1-2 outputs");
  }
  expectMatrix(ctx, ctx.inputs[0], "x");
  expectMatrix(ctx, ctx.inputs[1], "dy");
  const LinearDims d{ctx.inputs[0].shape[0], ctx.inputs[0].shape[1], ctx.inputs[1].shape[1]};
  ctx.expectShape(ctx.inputs[1], {d.n, d.out}, "dy");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "dw");
  ctx.expectShape(ctx.outputs[0], {d.out, d.in}, "dw");
  const bool bias = ctx.outputs.size() == 2;
  if (bias) {
    ctx.expectDtype(ctx.outputs[1], DType::F32, "db");
    ctx.expectShape(ctx.outputs[1], {d.out}, "db");
  }
  return {d, bias};
}

}  // namespace rn::ops
