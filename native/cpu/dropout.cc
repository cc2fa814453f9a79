// Inverted dropout on the CPU. Forward (x, seed int64 [1]) → (y, mask uint8): element i is kept when
// u(seed, i) ≥ p, where u is a counter-based uniform in [0,1) (the splitmix64 finaliser of seed and i, top 53
// bits), so the mask depends only on the seed and the element index, never on the thread count; kept elements
// are scaled by 1/(1-p). Backward (dy, mask) → dx = mask·dy/(1-p). Attribute p, 0 ≤ p < 1.
#include <cstdint>

#include "../core/kernel.h"

namespace rn::cpu {
namespace {

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in [0,1) for (seed, index): splitmix64 step index+1 of a stream whose state starts at mix64(seed).
inline double uniformAt(uint64_t seedState, uint64_t index) {
  const uint64_t z = mix64(seedState + (index + 1) * 0x9e3779b97f4a7c15ULL);
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

class DropoutForward : public Kernel {
 public:
  explicit DropoutForward(double p) : p_(p), scale_(static_cast<float>(1.0 / (1.0 - p))) {}
  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();
    const uint64_t state = mix64(static_cast<uint64_t>(a.in[1].as<int64_t>()[0]));
    float* y = a.out[0].f32();
    uint8_t* mask = a.out[1].as<uint8_t>();
    const int64_t n = a.in[0].numel();
    const double p = p_;
    const float scale = scale_;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const bool keep = uniformAt(state, static_cast<uint64_t>(i)) >= p;
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
  return std::make_unique<DropoutForward>(p);
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
  return std::make_unique<DropoutBackward>(p);
}

RN_REGISTER_KERNEL("cpu", "dropout_forward", makeDropoutForward);
RN_REGISTER_KERNEL("cpu", "dropout_backward", makeDropoutBackward);

}  // namespace
}  // namespace rn::cpu
