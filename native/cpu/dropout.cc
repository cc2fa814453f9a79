// Inverted dropout on the CPU. Forward (x, seed int64 [1]) → (y, mask uint8): element i is kept when
// u(seed, i) ≥ p, where u is a counter-based uniform in [0,1) (the splitmix64 finaliser of seed and i, top 53
// bits), so the mask depends only on the seed and the element index, never on the thread count; kept elements
// are scaled by 1/(1-p). Backward (dy, mask) → dx = mask·dy/(1-p). Attribute p, 0 ≤ p < 1.
#include <cstdint>

#include "../core/kernel.h"
#include "../ops/dropout_mask.h"

namespace rn::cpu {
namespace {

class DropoutForward : public Kernel {
 public:
  explicit DropoutForward(double p) : p_(p), scale_(static_cast<float>(1.0 / (1.0 - p))) {}
  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();
    const uint64_t state = ops::dropoutState(a.in[1].as<int64_t>()[0]);
    float* y = a.out[0].f32();
    uint8_t* mask = a.out[1].as<uint8_t>();
    const int64_t n = a.in[0].numel();
    const double p = p_;
    const float scale = scale_;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const bool keep = ops::dropoutUniform(state, static_cast<uint64_t>(i)) >= p;
      mask[i] = keep ? 1 : 0;
      y[i] = keep ? x[i] * scale : 0.0f;
    }
  }

 private:
  double p_;
  float scale_;
};

class DropoutBackward : public Kernel {
 public:
  explicit DropoutBackward(double p) : scale_(static_cast<float>(1.0 / (1.0 - p))) {}
  void run(const KernelArgs& a) override {
    const float* dy = a.in[0].f32();
    const uint8_t* mask = a.in[1].as<uint8_t>();
    float* dx = a.out[0].f32();
    const int64_t n = a.in[0].numel();
    const float scale = scale_;
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) dx[i] = mask[i] ? dy[i] * scale : 0.0f;
  }

 private:
  float scale_;
};

std::unique_ptr<Kernel> makeDropoutForward(const KernelContext& ctx) {
  return std::make_unique<DropoutForward>(ops::checkDropoutForward(ctx));
}

std::unique_ptr<Kernel> makeDropoutBackward(const KernelContext& ctx) {
  return std::make_unique<DropoutBackward>(ops::checkDropoutBackward(ctx));
}

RN_REGISTER_KERNEL("cpu", "dropout_forward", makeDropoutForward);
RN_REGISTER_KERNEL("cpu", "dropout_backward", makeDropoutBackward);

}  // namespace
}  // namespace rn::cpu
