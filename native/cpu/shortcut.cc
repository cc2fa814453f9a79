// ResNet shortcut type A on the CPU (fb.resnet.torch): strided subsampling x[:, :, ::s, ::s] (what
// SpatialAveragePooling(1,1,s,s) computes) followed by zero channels up to the output's channel count.
// Forward x [N,C,H,W] → y [N,Cout,ceil(H/s),ceil(W/s)], Cout ≥ C; backward dy → dx, zero off the sampled grid.
#include <cstring>

#include "../core/kernel.h"

namespace rn::cpu {
namespace {

struct Geometry {
  int64_t n, c, h, w, cOut, ho, wo, stride;
};

class ShortcutAForward : public Kernel {
 public:
  explicit ShortcutAForward(Geometry g) : g_(g) {}
  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();
    float* y = a.out[0].f32();
    const Geometry g = g_;
    const int64_t plane = g.ho * g.wo;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.n; ++n) {
      for (int64_t c = 0; c < g.cOut; ++c) {
        float* dst = y + (n * g.cOut + c) * plane;
        if (c >= g.c) {
          std::memset(dst, 0, static_cast<size_t>(plane) * sizeof(float));
          continue;
        }
        const float* src = x + (n * g.c + c) * g.h * g.w;
        for (int64_t i = 0; i < g.ho; ++i) {
          const float* row = src + i * g.stride * g.w;
          for (int64_t j = 0; j < g.wo; ++j) dst[i * g.wo + j] = row[j * g.stride];
        }
      }
    }
  }

 private:
  Geometry g_;
};

class ShortcutABackward : public Kernel {
 public:
  explicit ShortcutABackward(Geometry g) : g_(g) {}
  void run(const KernelArgs& a) override {
    const float* dy = a.in[0].f32();
    float* dx = a.out[0].f32();
    const Geometry g = g_;
    const int64_t plane = g.ho * g.wo;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.n; ++n) {
      for (int64_t c = 0; c < g.c; ++c) {
        const float* src = dy + (n * g.cOut + c) * plane;
        float* dst = dx + (n * g.c + c) * g.h * g.w;
        if (g.stride == 1) {
          std::memcpy(dst, src, static_cast<size_t>(plane) * sizeof(float));
          continue;
        }
        std::memset(dst, 0, static_cast<size_t>(g.h * g.w) * sizeof(float));
        for (int64_t i = 0; i < g.ho; ++i) {
          float* row = dst + i * g.stride * g.w;
          for (int64_t j = 0; j < g.wo; ++j) row[j * g.stride] = src[i * g.wo + j];
        }
      }
    }
  }

 private:
  Geometry g_;
};

// Checks x (input or output per `forward`) against y with the stride attribute.
Geometry geometry(const KernelContext& ctx, bool forward) {
  ctx.expectArity(1, 1);
  const ValueInfo& x = forward ? ctx.inputs[0] : ctx.outputs[0];
  const ValueInfo& y = forward ? ctx.outputs[0] : ctx.inputs[0];
  const std::string xName = forward ? "x" : "dx", yName = forward ? "y" : "dy";
  const int64_t stride = ctx.attrs.getInt(ctx.op, "stride");
  if (stride < 1) ctx.fail(code::kInvalidArgument, "attribute 'stride' must be >= 1 but is " + std::to_string(stride));
  ctx.expectDtype(x, DType::F32, xName);
  ctx.expectDtype(y, DType::F32, yName);
  ctx.expectRank(x, 4, xName);
  ctx.expectRank(y, 4, yName);
  Geometry g{x.shape[0], x.shape[1], x.shape[2], x.shape[3], y.shape[1],
             (x.shape[2] + stride - 1) / stride, (x.shape[3] + stride - 1) / stride, stride};
  if (g.cOut < g.c) {
    ctx.fail(code::kShapeMismatch, "expected at least " + std::to_string(g.c) + " channels for " + yName +
                                       " but received " + shapeString(y.shape));
  }
  ctx.expectShape(y, {g.n, g.cOut, g.ho, g.wo}, yName);
  return g;
}

std::unique_ptr<Kernel> makeShortcutAForward(const KernelContext& ctx) {
  return std::make_unique<ShortcutAForward>(geometry(ctx, true));
}

std::unique_ptr<Kernel> makeShortcutABackward(const KernelContext& ctx) {
  return std::make_unique<ShortcutABackward>(geometry(ctx, false));
}

RN_REGISTER_KERNEL("cpu", "shortcut_a_forward", makeShortcutAForward);
RN_REGISTER_KERNEL("cpu", "shortcut_a_backward", makeShortcutABackward);

}  // namespace
}  // namespace rn::cpu
