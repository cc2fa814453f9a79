// ResNet shortcut type A on the CPU (fb.resnet.torch): strided subsampling x[:, :, ::s, ::s] (what
// SpatialAveragePooling(1,1,s,s) computes) followed by zero channels up to the output's channel count.
// Forward x [N,C,H,W] → y [N,Cout,ceil(H/s),ceil(W/s)], Cout ≥ C; backward dy → dx, zero off the sampled grid.
#include <cstring>

#include "../core/kernel.h"
#include "../ops/shortcut_geometry.h"

namespace rn::cpu {
namespace {

using Geometry = ops::ShortcutGeometry;

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

std::unique_ptr<Kernel> makeShortcutAForward(const KernelContext& ctx) {
  return std::make_unique<ShortcutAForward>(ops::shortcutGeometry(ctx, true));
}

std::unique_ptr<Kernel> makeShortcutABackward(const KernelContext& ctx) {
  return std::make_unique<ShortcutABackward>(ops::shortcutGeometry(ctx, false));
}

RN_REGISTER_KERNEL("cpu", "shortcut_a_forward", makeShortcutAForward);
RN_REGISTER_KERNEL("cpu", "shortcut_a_backward", makeShortcutABackward);

}  // namespace
}  // namespace rn::cpu
