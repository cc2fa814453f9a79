// color_affine_u8 on the CPU: uint8 crops x (N, 3, H, W) and their colour maps m (N, 12) → the normalised float
// input y (N, 3, H, W), y[n, r] = Σ_k (M[r, k] / 255)·x[n, k] + c[r] (native/ops/color_affine.h). One crop row
// block per OpenMP iteration; the arithmetic is ops::colorPixel (fused multiply-adds, as on CUDA).
#include "../core/kernel.h"
#include "../ops/color_affine.h"

namespace rn::cpu {
namespace {

class ColorAffineU8 : public Kernel {
 public:
  explicit ColorAffineU8(int64_t plane) : plane_(plane) {}

  void run(const KernelArgs& a) override {
    const uint8_t* x = a.in[0].as<uint8_t>();  // (N, 3, H, W)
    const float* maps = a.in[1].f32();         // (N, 12)
    float* y = a.out[0].f32();                 // (N, 3, H, W)
    const int64_t n = a.in[0].dim(0), plane = plane_;
    // Blocks of a plane's pixels per image, so small batches still spread over the threads.
    constexpr int64_t kBlock = 4096;
    const int64_t blocks = (plane + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < n * blocks; ++t) {
      const int64_t i = t / blocks, start = (t % blocks) * kBlock;
      const int64_t end = start + kBlock < plane ? start + kBlock : plane;
      const ops::ColorMap cm = ops::colorMapOf(maps + i * ops::kColorMapSize);
      const uint8_t* red = x + i * 3 * plane;
      const uint8_t* green = red + plane;
      const uint8_t* blue = green + plane;
      float* yr = y + i * 3 * plane;
      float* yg = yr + plane;
      float* yb = yg + plane;
      for (int64_t p = start; p < end; ++p) {
        const float r = red[p], g = green[p], b = blue[p];
        yr[p] = ops::colorPixel(cm, 0, r, g, b);
        yg[p] = ops::colorPixel(cm, 1, r, g, b);
        yb[p] = ops::colorPixel(cm, 2, r, g, b);
      }
    }
  }

 private:
  int64_t plane_;
};

std::unique_ptr<Kernel> makeColorAffineU8(const KernelContext& ctx) {
  return std::make_unique<ColorAffineU8>(ops::colorAffineShapes(ctx));
}

RN_REGISTER_KERNEL("cpu", "color_affine_u8", makeColorAffineU8);

}  // namespace
}  // namespace rn::cpu
