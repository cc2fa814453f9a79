// Backend-independent part of allreduce_mean: operand checks and attributes, shared by native/cpu/collective.cc
// and native/cuda/collective.cu. Inputs (x[, weight [1]]), output x; attributes group (required) and average
// (default true). The caller finds its rank's communicator from the group id.
#pragma once

#include <cstdint>

#include "../core/kernel.h"

namespace rn::ops {

struct AllreduceParams {
  int group;
  bool average;
  bool weighted;  // a weight input [1] scales this rank's contribution
};

inline AllreduceParams checkAllreduceMean(const KernelContext& ctx) {
  ctx.expectArity(1, 2, 1);
  ctx.expectDtype(ctx.inputs[0], DType::F32, "x");
  ctx.expectShape(ctx.outputs[0], ctx.inputs[0].shape, "output x");
  const bool weighted = ctx.inputs.size() == 2;
  if (weighted) {
    ctx.expectDtype(ctx.inputs[1], DType::F32, "weight");
    ctx.expectShape(ctx.inputs[1], {1}, "weight");
  }
  const int64_t group = ctx.attrs.getInt(ctx.op, "group");
  const bool average = ctx.attrs.getBool(ctx.op, "average", true);
  return {static_cast<int>(group), average, weighted};
}

}  // namespace rn::ops
