// Element-wise add (c = a + b) and accumulate (dst += src, in place) on the CPU.
#include "../core/kernel.h"
#include "elementwise.h"

namespace rn::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves (and stalls on a busy machine).
constexpr int64_t kParallelMin = 1 << 15;

class Add : public Kernel {
 public:
  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();
    const float* y = a.in[1].f32();
    float* z = a.out[0].f32();
    const int64_t n = a.in[0].numel();
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) z[i] = x[i] + y[i];
  }
};

// Inputs (dst, src), output dst: the program binds output 0 to the same value as input 0.
class Accumulate : public Kernel {
 public:
  void run(const KernelArgs& a) override {
    const float* src = a.in[1].f32();
    float* dst = a.out[0].f32();
    const float* prev = a.in[0].f32();
    const int64_t n = a.in[0].numel();
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) dst[i] = prev[i] + src[i];
  }
};

std::unique_ptr<Kernel> makeAdd(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  expectSameFloatShapes(ctx);
  return std::make_unique<Add>();
}

std::unique_ptr<Kernel> makeAccumulate(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  expectSameFloatShapes(ctx);
  return std::make_unique<Accumulate>();
}

RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "add", makeAdd);
RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "accumulate", makeAccumulate);

}  // namespace
}  // namespace rn::cpu
