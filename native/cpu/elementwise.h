// Shared checks for element-wise kernels: every operand float32 with one shape and one layout (an element-wise
// loop over flat memory is then right for any layout).
#pragma once
#include "../core/kernel.h"

namespace rn::cpu {

inline void expectSameFloatShapes(const KernelContext& ctx) {
  const Shape& shape = ctx.inputs.at(0).shape;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    ctx.expectDtype(ctx.inputs[i], DType::F32, "input " + std::to_string(i));
    ctx.expectShape(ctx.inputs[i], shape, "input " + std::to_string(i));
  }
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    ctx.expectDtype(ctx.outputs[i], DType::F32, "output " + std::to_string(i));
    ctx.expectShape(ctx.outputs[i], shape, "output " + std::to_string(i));
  }
  const Layout layout = ctx.inputs.at(0).layout;
  for (const auto* values : {&ctx.inputs, &ctx.outputs}) {
    for (const ValueInfo& v : *values) {
      if (v.layout != layout) {
        ctx.fail(code::kInvalidArgument, std::string("expected every operand in one layout but received ") +
                                             layoutName(layout) + " and " + layoutName(v.layout));
      }
    }
  }
}

}  // namespace rn::cpu
