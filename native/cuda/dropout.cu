// Inverted dropout on CUDA, with the CPU's counter-based hash: element i is kept when u(seed, i) ≥ p, u the
// splitmix64 finaliser of the seed state and i (top 53 bits), so a seed gives the same mask on every backend.
// Forward (x, seed int64 [1]) → (y, mask uint8); backward (dy, mask) → dx = mask·dy/(1-p). The seed is read
// on the device, so a program keeps its kernels when the seed changes.
#include <cstdint>

#include "../core/kernel.h"
#include "common.h"
#include "kernels.h"
#include "../ops/dropout_mask.h"

namespace rn::cuda {
namespace {

// (x, seed) → (y, mask); p and scale as the CPU computes them (scale = float(1 / (1 - p))).
__global__ void dropoutForward(const float* x, const int64_t* seed, float* y, uint8_t* mask, int64_t n, double p,
                               float scale) {
  const uint64_t state = ops::dropoutState(*seed);
  RN_GRID_STRIDE(i, n) {
    const bool keep = ops::dropoutUniform(state, static_cast<uint64_t>(i)) >= p;
    mask[i] = keep ? 1 : 0;
    y[i] = keep ? x[i] * scale : 0.0f;
  }
}

__global__ void dropoutBackward(const float* dy, const uint8_t* mask, float* dx, int64_t n, float scale) {
  RN_GRID_STRIDE(i, n) { dx[i] = mask[i] ? dy[i] * scale : 0.0f; }
}

class DropoutForward : public Kernel {
 public:
  DropoutForward(std::string op, double p) : op_(std::move(op)), p_(p), scale_(static_cast<float>(1.0 / (1.0 - p))) {}
  void run(const KernelArgs& a) override {
    const int64_t n = a.in[0].numel();
    if (n == 0) return;
    dropoutForward<<<blocksFor(n), kThreads, 0, cudaDevice(a.device).stream()>>>(
        a.in[0].f32(), a.in[1].as<int64_t>(), a.out[0].f32(), a.out[1].as<uint8_t>(), n, p_, scale_);
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
  double p_;
  float scale_;
};

class DropoutBackward : public Kernel {
 public:
  DropoutBackward(std::string op, double p) : op_(std::move(op)), scale_(static_cast<float>(1.0 / (1.0 - p))) {}
  void run(const KernelArgs& a) override {
    const int64_t n = a.in[0].numel();
    if (n == 0) return;
    dropoutBackward<<<blocksFor(n), kThreads, 0, cudaDevice(a.device).stream()>>>(
        a.in[0].f32(), a.in[1].as<uint8_t>(), a.out[0].f32(), n, scale_);
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
  float scale_;
};

std::unique_ptr<Kernel> makeDropoutForward(const KernelContext& ctx) {
  return std::make_unique<DropoutForward>(ctx.op, ops::checkDropoutForward(ctx));
}

std::unique_ptr<Kernel> makeDropoutBackward(const KernelContext& ctx) {
  return std::make_unique<DropoutBackward>(ctx.op, ops::checkDropoutBackward(ctx));
}

RN_REGISTER_KERNEL("cuda", "dropout_forward", makeDropoutForward);
RN_REGISTER_KERNEL("cuda", "dropout_backward", makeDropoutBackward);

}  // namespace
}  // namespace rn::cuda
