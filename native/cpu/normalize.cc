// normalize_u8 on the CPU: a uint8 image batch x [N,C,H,W] → float32 y [N,C,H,W], y = (x − mean[c]) / std[c]
// with mean and std per channel on the 0–255 scale (lib/data's Normalization). Each value is a look-up in a
// per-channel table of the 256 results, computed in double once, so both backends and lib/data agree bit for bit.
#include <cmath>
#include <vector>

#include "../core/kernel.h"
#include "../ops/normalize_table.h"

namespace rn::cpu {
namespace {

class NormalizeU8 : public Kernel {
 public:
  NormalizeU8(std::vector<float> table, int64_t channels, int64_t plane)
      : table_(std::move(table)), channels_(channels), plane_(plane) {}

  void run(const KernelArgs& a) override {
    const uint8_t* x = a.in[0].as<uint8_t>();  // (N, C, H, W)
    float* y = a.out[0].f32();                 // (N, C, H, W)
    const int64_t planes = a.in[0].dim(0) * channels_;
    const float* table = table_.data();
    const int64_t plane = plane_, channels = channels_;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      const float* lookup = table + (p % channels) * 256;
      const uint8_t* src = x + p * plane;
      float* dst = y + p * plane;
      for (int64_t i = 0; i < plane; ++i) dst[i] = lookup[src[i]];
    }
  }

 private:
  std::vector<float> table_;  // (C, 256)
  int64_t channels_, plane_;
};

std::unique_ptr<Kernel> makeNormalizeU8(const KernelContext& ctx) {
  std::vector<float> table = ops::normalizeTable(ctx);
  const Shape& x = ctx.inputs[0].shape;
  return std::make_unique<NormalizeU8>(std::move(table), x[1], x[2] * x[3]);
}

RN_REGISTER_KERNEL("cpu", "normalize_u8", makeNormalizeU8);

}  // namespace
}  // namespace rn::cpu
