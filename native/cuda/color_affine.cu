// color_affine_u8 on CUDA: uint8 crops x (N, 3, H, W) and their colour maps m (N, 12) → the normalised float input
// y (N, 3, H, W), y[n, r] = Σ_k (M[r, k] / 255)·x[n, k] + c[r] (native/ops/color_affine.h), so image-folder batches
// cross PCIe as bytes plus 48 bytes a crop. One pixel (its three channels) per thread.
#include "../core/kernel.h"
#include "../ops/color_affine.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

__global__ void colorAffinePixels(const uint8_t* x, const float* maps, float* y, int64_t pixels, int64_t plane) {
  RN_GRID_STRIDE(i, pixels) {
    const int64_t n = i / plane, p = i % plane;
    const ops::ColorMap cm = ops::colorMapOf(maps + n * ops::kColorMapSize);
    const int64_t base = n * 3 * plane + p;
    const float r = x[base], g = x[base + plane], b = x[base + 2 * plane];
    y[base] = ops::colorPixel(cm, 0, r, g, b);
    y[base + plane] = ops::colorPixel(cm, 1, r, g, b);
    y[base + 2 * plane] = ops::colorPixel(cm, 2, r, g, b);
  }
}

class ColorAffineU8 : public Kernel {
 public:
  explicit ColorAffineU8(int64_t plane) : plane_(plane) {}

  void run(const KernelArgs& a) override {
    const auto* x = a.in[0].as<const uint8_t>();  // (N, 3, H, W)
    const float* maps = a.in[1].f32();            // (N, 12)
    float* y = a.out[0].f32();                    // (N, 3, H, W)
    const int64_t pixels = a.in[0].dim(0) * plane_;
    if (pixels == 0) return;
    cudaStream_t stream = cudaDevice(a.device).stream();
    colorAffinePixels<<<blocksFor(pixels, kThreads), kThreads, 0, stream>>>(x, maps, y, pixels, plane_);
    RN_CUDA_LAUNCHED("color_affine_u8");
  }

 private:
  int64_t plane_;
};

std::unique_ptr<Kernel> makeColorAffineU8(const KernelContext& ctx) {
  return std::make_unique<ColorAffineU8>(ops::colorAffineShapes(ctx));
}

RN_REGISTER_KERNEL("cuda", "color_affine_u8", makeColorAffineU8);

}  // namespace
}  // namespace rn::cuda
