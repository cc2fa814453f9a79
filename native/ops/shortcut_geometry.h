// Backend-independent part of the type-A shortcut (strided subsampling, zero channels appended): the stride
// attribute, shape checks and geometry, shared by native/cpu/shortcut.cc and native/cuda/shortcut.cu.
#pragma once

#include <cstdint>
#include <string>

#include "../core/kernel.h"

namespace rn::ops {

struct ShortcutGeometry {
  int64_t n, c, h, w, cOut, ho, wo, stride;
};

// Checks x (input, or output for the backward) against y (output, or input) with the stride attribute.
inline ShortcutGeometry shortcutGeometry(const KernelContext& ctx, bool forward) {
  ctx.expectArity(1, 1);
  const ValueInfo& x = forward ? ctx.inputs[0] : ctx.outputs[0];
  const ValueInfo& y = forward ? ctx.outputs[0] : ctx.inputs[0];
  const std::string xName = forward ? "x" : "dx", yName = forward ? "y" : "dy";
  const int64_t stride = ctx.attrs.getInt(ctx.op, "stride");
  if (stride < 1) ctx.fail(code::kInvalidArgument, "attribute 'stride' must be >= 1 but is " + std::to_string(stride));
  ctx.expectDtype(x, DType::F32, xName);
  ctx.expectDtype(y, DType::F32, yName);
  ctx.expectRank(x, 4, xName);
  ctx.expectRank(y, 4, yName);
  ShortcutGeometry g{x.shape[0], x.shape[1], x.shape[2], x.shape[3], y.shape[1],
                     (x.shape[2] + stride - 1) / stride, (x.shape[3] + stride - 1) / stride, stride};
  if (g.cOut < g.c) {
    ctx.fail(code::kShapeMismatch, "expected at least " + std::to_string(g.c) + " channels for " + yName +
                                       " but received " + shapeString(y.shape));
  }
  ctx.expectShape(y, {g.n, g.cOut, g.ho, g.wo}, yName);
  return g;
}

}  // namespace rn::ops
