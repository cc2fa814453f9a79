// Inverted dropout on CUDA, with the CPU's counter-based hash: element i is kept when u(seed, i) ≥ p, u the
// splitmix64 finaliser of the seed state and i (top 53 bits), so a seed gives the same mask on every backend.
// Forward (x, seed int64 [1]) → (y, mask uint8); backward (dy, mask) → dx = mask·dy/(1-p). The seed is read
// on the device, so a program keeps its kernels when the seed changes.
#include <cstdint>

#include "../core/kernel.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// (x, seed) → (y, mask); p and scale as the CPU computes them (scale = float(1 / (1 - p))).
__global__ void dropoutForward(const float* x, const int64_t* seed, float* y, uint8_t* mask, int64_t n, double p,
                               float scale) {
  const uint64_t state = mix64(static_cast<uint64_t>(*seed));
  RN_GRID_STRIDE(i, n) {
    const uint64_t z = mix64(state + (static_cast<uint64_t>(i) + 1) * 0x9e3779b97f4a7c15ULL);
    const bool keep = static_cast<double>(z >> 11) * 0x1.0p-53 >= p;
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

double readP(const KernelContext& ctx) {
  const double p = ctx.attrs.getFloat(ctx.op, "p");
  if (!(p >= 0.0 && p < 1.0)) ctx.fail(code::kInvalidArgument, "attribute 'p' must be in [0, 1) but is " + std::to_string(p));
  return p;
}

std::unique_ptr<Kernel> makeDropoutForward(const KernelContext& ctx) {
  ctx.expectArity(2, 2);
  const double p = readP(ctx);
  const Shape& shape = ctx.inputs[0].shape;
  ctx.expectDtype(ctx.inputs[0], DType::F32, "x");
  ctx.expectDtype(ctx.inputs[1], DType::I64, "seed");
  ctx.expectShape(ctx.inputs[1], {1}, "seed");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "y");
  ctx.expectShape(ctx.outputs[0], shape, "y");
  ctx.expectDtype(ctx.outputs[1], DType::U8, "mask");
  ctx.expectShape(ctx.outputs[1], shape, "mask");
  return std::make_unique<DropoutForward>(ctx.op, p);
}

std::unique_ptr<Kernel> makeDropoutBackward(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  const double p = readP(ctx);
  const Shape& shape = ctx.inputs[0].shape;
  ctx.expectDtype(ctx.inputs[0], DType::F32, "dy");
  ctx.expectDtype(ctx.inputs[1], DType::U8, "mask");
  ctx.expectShape(ctx.inputs[1], shape, "mask");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "dx");
  ctx.expectShape(ctx.outputs[0], shape, "dx");
  return std::make_unique<DropoutBackward>(ctx.op, p);
}

RN_REGISTER_KERNEL("cuda", "dropout_forward", makeDropoutForward);
RN_REGISTER_KERNEL("cuda", "dropout_backward", makeDropoutBackward);

}  // namespace
}  // namespace rn::cuda
