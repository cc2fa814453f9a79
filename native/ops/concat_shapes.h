// Backend-independent part of the concat ops (concat_forward, concat_backward): arity, dtype and shape checks and
// the channel layout of the parts in the whole. native/cpu/concat.cc and native/cuda/concat.cu both validate
// through these.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../core/kernel.h"

namespace rn::ops {

struct ConcatLayout {
  int64_t batch = 0;              // dim 0
  int64_t inner = 1;              // product of dims after 1
  std::vector<int64_t> channels;  // dim 1 of each part
  std::vector<int64_t> offsets;   // channel offset of each part in the whole
  int64_t total = 0;              // Σ channels
};

// Checks that `parts` agree with `whole` except along dim 1, whose sizes must add up.
inline ConcatLayout concatLayoutOf(const KernelContext& ctx, const std::vector<ValueInfo>& parts,
                                   const ValueInfo& whole, const std::string& partName, const std::string& wholeName) {
  ctx.expectDtype(whole, DType::F32, wholeName);
  if (whole.shape.size() < 2) {
    ctx.fail(code::kShapeMismatch, "expected a tensor of rank >= 2 for " + wholeName + " but received " +
                                       shapeString(whole.shape));
  }
  ConcatLayout l;
  l.batch = whole.shape[0];
  for (size_t d = 2; d < whole.shape.size(); ++d) l.inner *= whole.shape[d];
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string what = partName + " " + std::to_string(i);
    ctx.expectDtype(parts[i], DType::F32, what);
    ctx.expectRank(parts[i], whole.shape.size(), what);
    Shape wanted = whole.shape;
    wanted[1] = parts[i].shape[1];
    ctx.expectShape(parts[i], wanted, what);
    l.offsets.push_back(l.total);
    l.channels.push_back(parts[i].shape[1]);
    l.total += parts[i].shape[1];
  }
  if (l.total != whole.shape[1]) {
    ctx.fail(code::kShapeMismatch, "expected the " + partName + " channels to add up to " +
                                       std::to_string(whole.shape[1]) + " but they add up to " + std::to_string(l.total));
  }
  return l;
}

// concat_forward: inputs (a, b, …) with at least one part; output y.
inline ConcatLayout checkConcatForward(const KernelContext& ctx) {
  if (ctx.inputs.empty() || ctx.outputs.size() != 1) {
    ctx.fail(code::kInvalidArgument, "expected at least 1 input and 1 output");
  }
  return concatLayoutOf(ctx, ctx.inputs, ctx.outputs[0], "input", "output");
}

// concat_backward: input dy; outputs (da, db, …), one per part, with the parts' shapes.
inline ConcatLayout checkConcatBackward(const KernelContext& ctx) {
  if (ctx.inputs.size() != 1 || ctx.outputs.empty()) {
    ctx.fail(code::kInvalidArgument, "expected 1 input and at least 1 output");
  }
  return concatLayoutOf(ctx, ctx.outputs, ctx.inputs[0], "output", "dy");
}

}  // namespace rn::ops
