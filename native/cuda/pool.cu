// Max, average and global average pooling 2d on CUDA (NCHW), own kernels: max pooling returns int32 indices
// (the argmax's flat position in its H×W plane), which cuDNN's pooling does not give.
//
// Window rules are the CPU's (PyTorch's): floor or ceil output sizes, padding counted in the average's divisor
// or not, a window's cells visited in row-major order so max pooling keeps the first maximum, NaN propagates.
#include <limits>

#include "../core/kernel.h"
#include "../ops/pool_geometry.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

// Window geometry of one pooling op (native/ops/pool_geometry.h), passed to the kernels by value.
using ops::PoolGeometry;

// The input cells [first, last) of output position o along one axis, and the count PyTorch divides by when
// padding counts: the window clipped to the padded input only.
__device__ __forceinline__ void windowAxis(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t in,
                                           int64_t& first, int64_t& last, int64_t& paddedCount) {
  const int64_t start = o * stride - pad;
  const int64_t end = min(start + kernel, in + pad);
  paddedCount = end - start;
  first = max(start, int64_t{0});
  last = min(end, in);
}

__global__ void maxPoolForward(const float* x, float* y, int32_t* indices, PoolGeometry g) {
  const int64_t total = g.planes * g.outH * g.outW;
  RN_GRID_STRIDE(e, total) {
    const int64_t ow = e % g.outW;
    const int64_t oh = (e / g.outW) % g.outH;
    const int64_t plane = e / (g.outW * g.outH);
    int64_t h0, h1, w0, w1, padded;
    windowAxis(oh, g.strideH, g.padH, g.kernelH, g.inH, h0, h1, padded);
    windowAxis(ow, g.strideW, g.padW, g.kernelW, g.inW, w0, w1, padded);
    const float* xs = x + plane * g.inH * g.inW;
    float best = -INFINITY;
    int64_t argmax = h0 * g.inW + w0;
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t w = w0; w < w1; ++w) {
        const int64_t at = h * g.inW + w;
        const float v = xs[at];
        if (v > best || isnan(v)) {
          best = v;
          argmax = at;
        }
      }
    }
    y[e] = best;
    indices[e] = static_cast<int32_t>(argmax);
  }
}

// dx is zeroed first; dx[argmax] += dy. Windows may share a maximum, so the adds are atomic. An index outside
// the plane is counted in report word 0 and skipped, not written.
__global__ void maxPoolBackward(const float* dy, const int32_t* indices, float* dx, int64_t planes, int64_t pooled,
                                int64_t image, unsigned long long* report) {
  RN_GRID_STRIDE(e, planes * pooled) {
    const int64_t at = indices[e];
    if (at < 0 || at >= image) {
      atomicAdd(&report[0], 1ULL);
    } else {
      atomicAdd(&dx[(e / pooled) * image + at], dy[e]);
    }
  }
}

// PyTorch's divisor for one window: the window clipped to the padded input, or to the input itself.
__device__ __forceinline__ float avgDivisor(const PoolGeometry& g, bool countIncludePad, int64_t oh, int64_t ow) {
  int64_t h0, h1, paddedRows, w0, w1, paddedColumns;
  windowAxis(oh, g.strideH, g.padH, g.kernelH, g.inH, h0, h1, paddedRows);
  windowAxis(ow, g.strideW, g.padW, g.kernelW, g.inW, w0, w1, paddedColumns);
  return static_cast<float>(countIncludePad ? paddedRows * paddedColumns : (h1 - h0) * (w1 - w0));
}

__global__ void avgPoolForward(const float* x, float* y, PoolGeometry g, bool countIncludePad) {
  const int64_t total = g.planes * g.outH * g.outW;
  RN_GRID_STRIDE(e, total) {
    const int64_t ow = e % g.outW;
    const int64_t oh = (e / g.outW) % g.outH;
    const int64_t plane = e / (g.outW * g.outH);
    int64_t h0, h1, w0, w1, padded;
    windowAxis(oh, g.strideH, g.padH, g.kernelH, g.inH, h0, h1, padded);
    windowAxis(ow, g.strideW, g.padW, g.kernelW, g.inW, w0, w1, padded);
    const float* xs = x + plane * g.inH * g.inW;
    float sum = 0.0f;
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t w = w0; w < w1; ++w) sum += xs[h * g.inW + w];
    }
    y[e] = sum / avgDivisor(g, countIncludePad, oh, ow);
  }
}

// The output positions [first, last) along one axis whose window holds input cell i:
// o·stride - pad ≤ i < o·stride - pad + kernel.
__device__ __forceinline__ void coveringAxis(int64_t i, int64_t stride, int64_t pad, int64_t kernel, int64_t out,
                                             int64_t& first, int64_t& last) {
  const int64_t lead = i + pad - kernel + 1;  // need o·stride ≥ lead
  first = lead > 0 ? (lead + stride - 1) / stride : 0;
  last = min((i + pad) / stride + 1, out);
}

// A gather per input cell (no atomics): dx = Σ over the windows holding it of dy / divisor.
__global__ void avgPoolBackward(const float* dy, float* dx, PoolGeometry g, bool countIncludePad) {
  const int64_t total = g.planes * g.inH * g.inW;
  RN_GRID_STRIDE(e, total) {
    const int64_t w = e % g.inW;
    const int64_t h = (e / g.inW) % g.inH;
    const int64_t plane = e / (g.inW * g.inH);
    int64_t oh0, oh1, ow0, ow1;
    coveringAxis(h, g.strideH, g.padH, g.kernelH, g.outH, oh0, oh1);
    coveringAxis(w, g.strideW, g.padW, g.kernelW, g.outW, ow0, ow1);
    const float* dys = dy + plane * g.outH * g.outW;
    float sum = 0.0f;
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      for (int64_t ow = ow0; ow < ow1; ++ow) sum += dys[oh * g.outW + ow] / avgDivisor(g, countIncludePad, oh, ow);
    }
    dx[e] = sum;
  }
}

// One warp per plane: y[plane] = Σ x / image.
__global__ void globalAvgPoolForward(const float* x, float* y, int64_t planes, int64_t image) {
  const int lane = threadIdx.x % 32;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  for (int64_t plane = warp; plane < planes; plane += warps) {
    const float* xs = x + plane * image;
    float sum = 0.0f;
    for (int64_t i = lane; i < image; i += 32) sum += xs[i];
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (lane == 0) y[plane] = sum / static_cast<float>(image);
  }
}

__global__ void globalAvgPoolBackward(const float* dy, float* dx, int64_t planes, int64_t image) {
  RN_GRID_STRIDE(e, planes * image) { dx[e] = dy[e / image] / static_cast<float>(image); }
}

class MaxPoolForward : public Kernel {
 public:
  MaxPoolForward(std::string op, PoolGeometry g) : op_(std::move(op)), g_(g) {}
  void run(const KernelArgs& a) override {
    const int64_t total = g_.planes * g_.outH * g_.outW;
    if (total == 0) return;
    maxPoolForward<<<blocksFor(total), kThreads, 0, cudaDevice(a.device).stream()>>>(
        a.in[0].f32(), a.out[0].f32(), a.out[1].as<int32_t>(), g_);
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
  PoolGeometry g_;
};

class MaxPoolBackward : public Kernel {
 public:
  MaxPoolBackward(std::string op, Device& device, int64_t planes, int64_t pooled, int64_t image)
      : op_(std::move(op)), planes_(planes), pooled_(pooled), image_(image), report_(device, op_) {}
  void run(const KernelArgs& a) override {
    CudaDevice& device = cudaDevice(a.device);
    cudaStream_t stream = device.stream();
    float* dx = a.out[0].f32();
    const size_t dxBytes = static_cast<size_t>(planes_ * image_) * sizeof(float);
    if (dxBytes > 0) RN_CUDA(op_, cudaMemsetAsync(dx, 0, dxBytes, stream));
    if (planes_ * pooled_ == 0) return;
    report_.reset(stream, 0);
    maxPoolBackward<<<blocksFor(planes_ * pooled_), kThreads, 0, stream>>>(
        a.in[0].f32(), a.in[1].as<int32_t>(), dx, planes_, pooled_, image_, report_.words());
    RN_CUDA_LAUNCHED(op_);
    report_.wait(stream);
    const unsigned long long badIndices = report_.word(0);
    RN_CHECK(badIndices == 0, code::kInvalidArgument, op_,
             std::to_string(badIndices) + " indices lie outside the " + std::to_string(image_) + "-element input plane");
  }

 private:
  std::string op_;
  int64_t planes_, pooled_, image_;
  DataReport report_;
};

class AvgPool : public Kernel {
 public:
  AvgPool(std::string op, PoolGeometry g, bool countIncludePad, bool forward)
      : op_(std::move(op)), g_(g), countIncludePad_(countIncludePad), forward_(forward) {}
  void run(const KernelArgs& a) override {
    cudaStream_t stream = cudaDevice(a.device).stream();
    const int64_t total = g_.planes * (forward_ ? g_.outH * g_.outW : g_.inH * g_.inW);
    if (total == 0) return;
    if (forward_) {
      avgPoolForward<<<blocksFor(total), kThreads, 0, stream>>>(a.in[0].f32(), a.out[0].f32(), g_, countIncludePad_);
    } else {
      avgPoolBackward<<<blocksFor(total), kThreads, 0, stream>>>(a.in[0].f32(), a.out[0].f32(), g_, countIncludePad_);
    }
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
  PoolGeometry g_;
  bool countIncludePad_, forward_;
};

class GlobalAvgPool : public Kernel {
 public:
  GlobalAvgPool(std::string op, int64_t planes, int64_t image, bool forward)
      : op_(std::move(op)), planes_(planes), image_(image), forward_(forward) {}
  void run(const KernelArgs& a) override {
    cudaStream_t stream = cudaDevice(a.device).stream();
    if (forward_) {
      if (planes_ == 0) return;
      // An empty plane averages to 0/0 = NaN, as on the CPU.
      globalAvgPoolForward<<<blocksFor(planes_ * 32), kThreads, 0, stream>>>(a.in[0].f32(), a.out[0].f32(), planes_,
                                                                             image_);
    } else {
      if (planes_ * image_ == 0) return;
      globalAvgPoolBackward<<<blocksFor(planes_ * image_), kThreads, 0, stream>>>(a.in[0].f32(), a.out[0].f32(),
                                                                                  planes_, image_);
    }
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
  int64_t planes_, image_;
  bool forward_;
};

std::unique_ptr<Kernel> makeMaxPoolForward(const KernelContext& ctx) {
  return std::make_unique<MaxPoolForward>(ctx.op, ops::checkMaxPoolForward(ctx));
}

std::unique_ptr<Kernel> makeMaxPoolBackward(const KernelContext& ctx) {
  const ops::MaxPoolBackwardSizes s = ops::checkMaxPoolBackward(ctx);
  return std::make_unique<MaxPoolBackward>(ctx.op, ctx.device, s.planes, s.pooled, s.image);
}

std::unique_ptr<Kernel> makeAvgPoolForward(const KernelContext& ctx) {
  const ops::AvgPoolSpec spec = ops::checkAvgPoolForward(ctx);
  return std::make_unique<AvgPool>(ctx.op, spec.g, spec.countIncludePad, true);
}

std::unique_ptr<Kernel> makeAvgPoolBackward(const KernelContext& ctx) {
  const ops::AvgPoolSpec spec = ops::checkAvgPoolBackward(ctx);
  return std::make_unique<AvgPool>(ctx.op, spec.g, spec.countIncludePad, false);
}

std::unique_ptr<Kernel> makeGlobalAvgPoolForward(const KernelContext& ctx) {
  const ops::GlobalPoolSizes s = ops::checkGlobalAvgPoolForward(ctx);
  return std::make_unique<GlobalAvgPool>(ctx.op, s.planes, s.image, true);
}

std::unique_ptr<Kernel> makeGlobalAvgPoolBackward(const KernelContext& ctx) {
  const ops::GlobalPoolSizes s = ops::checkGlobalAvgPoolBackward(ctx);
  return std::make_unique<GlobalAvgPool>(ctx.op, s.planes, s.image, false);
}

RN_REGISTER_KERNEL("cuda", "maxpool2d_forward", makeMaxPoolForward);
RN_REGISTER_KERNEL("cuda", "maxpool2d_backward", makeMaxPoolBackward);
RN_REGISTER_KERNEL("cuda", "avgpool2d_forward", makeAvgPoolForward);
RN_REGISTER_KERNEL("cuda", "avgpool2d_backward", makeAvgPoolBackward);
RN_REGISTER_KERNEL("cuda", "global_avgpool_forward", makeGlobalAvgPoolForward);
RN_REGISTER_KERNEL("cuda", "global_avgpool_backward", makeGlobalAvgPoolBackward);

}  // namespace
}  // namespace rn::cuda
