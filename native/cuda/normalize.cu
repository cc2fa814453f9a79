// normalize_u8 on CUDA: a uint8 image batch x [N,C,H,W] → float32 y [N,C,H,W], y = (x − mean[c]) / std[c] with
// mean and std per channel on the 0–255 scale. Input batches cross PCIe as bytes (a quarter of the floats) and
// are normalised here. The per-channel table of the 256 results is the CPU kernel's, so the two agree bit for bit.
#include <cmath>
#include <memory>
#include <vector>

#include "../core/kernel.h"
#include "../ops/normalize_table.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

// One byte per thread: any plane size and alignment.
__global__ void normalizeBytes(const uint8_t* x, const float* table, float* y, int64_t n, int64_t plane, int64_t channels) {
  RN_GRID_STRIDE(i, n) {
    const int64_t c = (i / plane) % channels;
    y[i] = __ldg(table + c * 256 + x[i]);
  }
}

// Four bytes per thread when a plane holds a multiple of 4 values and the buffers are aligned: one 4-byte load
// and one 16-byte store, the four values in one channel.
__global__ void normalizeQuads(const uchar4* x, const float* table, float4* y, int64_t quads, int64_t planeQuads,
                               int64_t channels) {
  RN_GRID_STRIDE(i, quads) {
    const float* lookup = table + ((i / planeQuads) % channels) * 256;
    const uchar4 v = x[i];
    y[i] = make_float4(__ldg(lookup + v.x), __ldg(lookup + v.y), __ldg(lookup + v.z), __ldg(lookup + v.w));
  }
}

class NormalizeU8 : public Kernel {
 public:
  NormalizeU8(std::shared_ptr<Storage> table, int64_t channels, int64_t plane)
      : table_(std::move(table)), channels_(channels), plane_(plane) {}

  void run(const KernelArgs& a) override {
    const auto* x = a.in[0].as<const uint8_t>();  // (N, C, H, W)
    float* y = a.out[0].f32();                    // (N, C, H, W)
    const int64_t n = a.in[0].numel();
    const auto* table = static_cast<const float*>(table_->data());  // (C, 256)
    cudaStream_t stream = cudaDevice(a.device).stream();
    const bool aligned = reinterpret_cast<uintptr_t>(x) % 4 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0;
    if (plane_ % 4 == 0 && aligned) {
      const int64_t quads = n / 4;
      normalizeQuads<<<blocksFor(quads, kThreads), kThreads, 0, stream>>>(
          reinterpret_cast<const uchar4*>(x), table, reinterpret_cast<float4*>(y), quads, plane_ / 4, channels_);
    } else {
      normalizeBytes<<<blocksFor(n, kThreads), kThreads, 0, stream>>>(x, table, y, n, plane_, channels_);
    }
    RN_CUDA_LAUNCHED("normalize_u8");
  }

 private:
  std::shared_ptr<Storage> table_;
  int64_t channels_, plane_;
};

std::unique_ptr<Kernel> makeNormalizeU8(const KernelContext& ctx) {
  const std::vector<float> host = ops::normalizeTable(ctx);
  const Shape& x = ctx.inputs[0].shape;
  // Factories run on the device's worker, so the upload is queued before any run of the kernel.
  auto table = std::make_shared<Storage>(&ctx.device, host.size() * sizeof(float));
  ctx.device.copyFromHost(table->data(), host.data(), host.size() * sizeof(float));
  return std::make_unique<NormalizeU8>(std::move(table), x[1], x[2] * x[3]);
}

RN_REGISTER_KERNEL("cuda", "normalize_u8", makeNormalizeU8);

}  // namespace
}  // namespace rn::cuda
