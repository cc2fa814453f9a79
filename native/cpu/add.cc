// Element-wise add (c = a + b) and accumulate (dst += src, in place) on the CPU. add's bool attribute `relu`
// (CPU only; default false) fuses a following ReLU: c = max(0, a + b), bit for bit relu.cc's forward of the sum
// (the residual join of a ResNet block, whose backward relu_backward computes from c as before).
#include "../core/kernel.h"
#include "elementwise.h"

namespace rn::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves (and stalls on a busy machine).
constexpr int64_t kParallelMin = 1 << 15;

class Add : public Kernel {
 public:
  explicit Add(bool relu) : relu_(relu) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();
    const float* y = a.in[1].f32();
    float* z = a.out[0].f32();
    const int64_t n = a.in[0].numel();
    if (relu_) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) {
        const float s = x[i] + y[i];
        z[i] = s > 0.0f ? s : 0.0f;  // as relu.cc (std::max here does not vectorise)
      }
      return;
    }
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) z[i] = x[i] + y[i];
  }

 private:
  bool relu_;
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
  return std::make_unique<Add>(ctx.attrs.getBool(ctx.op, "relu", false));
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
