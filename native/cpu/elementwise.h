// Shared checks for element-wise kernels: every operand float32 with one shape.
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
}

}  // namespace rn::cpu
