// Backend-independent checks of the ops that read logits and labels (softmax cross-entropy, top-k correct),
// shared by native/cpu/{loss,topk}.cc and native/cuda/{loss,topk}.cu.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../core/kernel.h"

namespace rn::ops {

// Input 0: float32 logits [N, K] (named `what`); input 1: int32 labels [N].
inline void expectLogitsAndLabels(const KernelContext& ctx, const std::string& what) {
  ctx.expectDtype(ctx.inputs[0], DType::F32, what);
  ctx.expectRank(ctx.inputs[0], 2, what);
  ctx.expectDtype(ctx.inputs[1], DType::I32, "labels");
  ctx.expectShape(ctx.inputs[1], {ctx.inputs[0].shape[0]}, "labels");
}

// The error text for a label outside [0, K), the same on every backend.
inline std::string labelOutsideMessage(int64_t label, int64_t index, int64_t k, const std::string& rowsName, int64_t n) {
  return "label " + std::to_string(label) + " at index " + std::to_string(index) + " is outside [0, " +
         std::to_string(k) + ") for " + rowsName + " of shape [" + std::to_string(n) + "," + std::to_string(k) + "]";
}

// topk_correct: inputs (logits [N,K], labels [N]) → int32 [len(ks)]; attribute ks (default [1, 5]), each ≥ 1.
inline std::vector<int64_t> checkTopkCorrect(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  expectLogitsAndLabels(ctx, "logits");
  std::vector<int64_t> ks = ctx.attrs.getInts(ctx.op, "ks", {1, 5});
  if (ks.empty()) ctx.fail(code::kInvalidArgument, "attribute 'ks' must list at least one k");
  for (int64_t k : ks) {
    if (k < 1) ctx.fail(code::kInvalidArgument, "attribute 'ks' must hold integers >= 1 but holds " + std::to_string(k));
  }
  ctx.expectDtype(ctx.outputs[0], DType::I32, "output");
  ctx.expectShape(ctx.outputs[0], {static_cast<int64_t>(ks.size())}, "output");
  return ks;
}

}  // namespace rn::ops
