// ResNet shortcut type A on the CPU (fb.resnet.torch): strided subsampling x[:, :, ::s, ::s] (what
// SpatialAveragePooling(1,1,s,s) computes) followed by zero channels up to the output's channel count.
// Forward x [N,C,H,W] → y [N,Cout,ceil(H/s),ceil(W/s)], Cout ≥ C; backward dy → dx, zero off the sampled grid.
// In nChw16c (x and y both; C and Cout are then multiples of 16, so the zero channels are whole blocks) a sampled
// pixel moves as one 16-channel vector.
#include <cstring>
#include <memory>

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

class ShortcutAForwardBlocked : public Kernel {
 public:
  explicit ShortcutAForwardBlocked(Geometry g) : g_(g) {}
  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();
    float* y = a.out[0].f32();
    const Geometry g = g_;
    const int64_t blocks = g.c / kBlockChannels, blocksOut = g.cOut / kBlockChannels;
    const int64_t run = g.ho * g.wo * kBlockChannels;  // one (image, block) pair of y
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.n; ++n) {
      for (int64_t b = 0; b < blocksOut; ++b) {
        float* dst = y + (n * blocksOut + b) * run;
        if (b >= blocks) {
          std::memset(dst, 0, static_cast<size_t>(run) * sizeof(float));
          continue;
        }
        const float* src = x + (n * blocks + b) * g.h * g.w * kBlockChannels;
        for (int64_t i = 0; i < g.ho; ++i) {
          for (int64_t j = 0; j < g.wo; ++j) {
            std::memcpy(dst + (i * g.wo + j) * kBlockChannels, src + (i * g.w + j) * g.stride * kBlockChannels,
                        kBlockChannels * sizeof(float));
          }
        }
      }
    }
  }

 private:
  Geometry g_;
};

class ShortcutABackwardBlocked : public Kernel {
 public:
  explicit ShortcutABackwardBlocked(Geometry g) : g_(g) {}
  void run(const KernelArgs& a) override {
    const float* dy = a.in[0].f32();
    float* dx = a.out[0].f32();
    const Geometry g = g_;
    const int64_t blocks = g.c / kBlockChannels, blocksOut = g.cOut / kBlockChannels;
    const int64_t run = g.h * g.w * kBlockChannels;  // one (image, block) pair of dx
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.n; ++n) {
      for (int64_t b = 0; b < blocks; ++b) {
        const float* src = dy + (n * blocksOut + b) * g.ho * g.wo * kBlockChannels;
        float* dst = dx + (n * blocks + b) * run;
        if (g.stride == 1) {
          std::memcpy(dst, src, static_cast<size_t>(run) * sizeof(float));
          continue;
        }
        std::memset(dst, 0, static_cast<size_t>(run) * sizeof(float));
        for (int64_t i = 0; i < g.ho; ++i) {
          for (int64_t j = 0; j < g.wo; ++j) {
            std::memcpy(dst + (i * g.w + j) * g.stride * kBlockChannels, src + (i * g.wo + j) * kBlockChannels,
                        kBlockChannels * sizeof(float));
          }
        }
      }
    }
  }

 private:
  Geometry g_;
};

std::unique_ptr<Kernel> makeShortcutAForward(const KernelContext& ctx) {
  const Geometry g = ops::shortcutGeometry(ctx, true);
  if (ctx.expectOneLayout({{&ctx.inputs[0], "x"}, {&ctx.outputs[0], "y"}}) == Layout::Blocked16) {
    return std::make_unique<ShortcutAForwardBlocked>(g);
  }
  return std::make_unique<ShortcutAForward>(g);
}

std::unique_ptr<Kernel> makeShortcutABackward(const KernelContext& ctx) {
  const Geometry g = ops::shortcutGeometry(ctx, false);
  if (ctx.expectOneLayout({{&ctx.inputs[0], "dy"}, {&ctx.outputs[0], "dx"}}) == Layout::Blocked16) {
    return std::make_unique<ShortcutABackwardBlocked>(g);
  }
  return std::make_unique<ShortcutABackward>(g);
}

RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "shortcut_a_forward", makeShortcutAForward);
RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "shortcut_a_backward", makeShortcutABackward);

}  // namespace
}  // namespace rn::cpu
