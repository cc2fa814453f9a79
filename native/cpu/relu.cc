// ReLU forward and backward on the CPU; the backward reads the output, so both may run in place.
#include <algorithm>

#include "../core/kernel.h"
#include "elementwise.h"

namespace rn::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves (and stalls on a busy machine).
constexpr int64_t kParallelMin = 1 << 15;

class ReluForward : public Kernel {
 public:
  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();
    float* y = a.out[0].f32();
    const int64_t n = a.in[0].numel();
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;  // std::max here does not vectorise
  }
};

class ReluBackward : public Kernel {
 public:
  void run(const KernelArgs& a) override {
    const float* y = a.in[0].f32();   // forward output
    const float* dy = a.in[1].f32();
    float* dx = a.out[0].f32();
    const int64_t n = a.in[0].numel();
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
  }
};

std::unique_ptr<Kernel> makeReluForward(const KernelContext& ctx) {
  ctx.expectArity(1, 1);
  expectSameFloatShapes(ctx);
  return std::make_unique<ReluForward>();
}

std::unique_ptr<Kernel> makeReluBackward(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  expectSameFloatShapes(ctx);
  return std::make_unique<ReluBackward>();
}

RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "relu_forward", makeReluForward);
RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "relu_backward", makeReluBackward);

}  // namespace
}  // namespace rn::cpu
