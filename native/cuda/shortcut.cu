// ResNet shortcut type A on CUDA (fb.resnet.torch): strided subsampling x[:, :, ::s, ::s] followed by zero
// channels up to the output's channel count. Forward x [N,C,H,W] → y [N,Cout,ceil(H/s),ceil(W/s)], Cout ≥ C;
// backward dy → dx, zero off the sampled grid. One thread per element of the op's output: no memset pass.
#include "../core/kernel.h"
#include "../ops/shortcut_geometry.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

using Geometry = ops::ShortcutGeometry;

// y (N, Cout, HO, WO): channel c < C samples x (N, C, H, W) at (i·s, j·s); the rest are zeros.
__global__ void shortcutAForward(const float* x, float* y, Geometry g) {
  const int64_t total = g.n * g.cOut * g.ho * g.wo;
  RN_GRID_STRIDE(e, total) {
    const int64_t j = e % g.wo;
    const int64_t i = (e / g.wo) % g.ho;
    const int64_t c = (e / (g.wo * g.ho)) % g.cOut;
    const int64_t n = e / (g.wo * g.ho * g.cOut);
    y[e] = c < g.c ? x[((n * g.c + c) * g.h + i * g.stride) * g.w + j * g.stride] : 0.0f;
  }
}

// dx (N, C, H, W): dy (N, Cout, HO, WO) at (h/s, w/s) where both divide evenly, else zero.
__global__ void shortcutABackward(const float* dy, float* dx, Geometry g) {
  const int64_t total = g.n * g.c * g.h * g.w;
  RN_GRID_STRIDE(e, total) {
    const int64_t w = e % g.w;
    const int64_t h = (e / g.w) % g.h;
    const int64_t c = (e / (g.w * g.h)) % g.c;
    const int64_t n = e / (g.w * g.h * g.c);
    const bool sampled = h % g.stride == 0 && w % g.stride == 0;
    dx[e] = sampled ? dy[((n * g.cOut + c) * g.ho + h / g.stride) * g.wo + w / g.stride] : 0.0f;
  }
}

class ShortcutA : public Kernel {
 public:
  ShortcutA(std::string op, Geometry g, bool forward) : op_(std::move(op)), g_(g), forward_(forward) {}
  void run(const KernelArgs& a) override {
    const int64_t total = forward_ ? g_.n * g_.cOut * g_.ho * g_.wo : g_.n * g_.c * g_.h * g_.w;
    if (total == 0) return;
    cudaStream_t stream = cudaDevice(a.device).stream();
    if (forward_) {
      shortcutAForward<<<blocksFor(total), kThreads, 0, stream>>>(a.in[0].f32(), a.out[0].f32(), g_);
    } else {
      shortcutABackward<<<blocksFor(total), kThreads, 0, stream>>>(a.in[0].f32(), a.out[0].f32(), g_);
    }
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
  Geometry g_;
  bool forward_;
};

std::unique_ptr<Kernel> makeShortcutAForward(const KernelContext& ctx) {
  return std::make_unique<ShortcutA>(ctx.op, ops::shortcutGeometry(ctx, true), true);
}

std::unique_ptr<Kernel> makeShortcutABackward(const KernelContext& ctx) {
  return std::make_unique<ShortcutA>(ctx.op, ops::shortcutGeometry(ctx, false), false);
}

RN_REGISTER_KERNEL("cuda", "shortcut_a_forward", makeShortcutAForward);
RN_REGISTER_KERNEL("cuda", "shortcut_a_backward", makeShortcutABackward);

}  // namespace
}  // namespace rn::cuda
