// Max, average and global average pooling 2d on the CPU (NCHW): OpenMP loops, parallel over the N·C planes.
// Max and global average pooling also take nChw16c images: loops over (image, channel block) pairs with the 16
// channels of a pixel as one vector. Max pooling's indices stay plain int32 (N, C, OH, OW) holding the position in
// the H×W plane in either layout, so the backward of either layout reads the forward's of either.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../core/kernel.h"
#include "../ops/pool_geometry.h"

namespace rn::cpu {
namespace {

// The shared window geometry (native/ops/pool_geometry.h) with the CPU kernels' window walks.
//
// The window kernels sweep output rows: for each input row h and kernel column kw of a row of windows, one
// vectorisable loop over the output columns whose tap lands inside the input. Within a window that visits cells in
// row-major order, so max pooling keeps PyTorch's first-maximum index.
struct PoolGeometry : ops::PoolGeometry {
  explicit PoolGeometry(const ops::PoolGeometry& g) : ops::PoolGeometry(g) {}

  // The input rows [first, last) of output row oh, and the row count PyTorch divides by when padding counts:
  // the window clipped to the padded input only.
  void rows(int64_t oh, int64_t& first, int64_t& last, int64_t& paddedCount) const {
    const int64_t start = oh * strideH - padH;
    const int64_t end = std::min(start + kernelH, inH + padH);
    paddedCount = end - start;
    first = std::max<int64_t>(start, 0);
    last = std::min(end, inH);
  }

  // The same for the columns of output column ow.
  void columns(int64_t ow, int64_t& first, int64_t& last, int64_t& paddedCount) const {
    const int64_t start = ow * strideW - padW;
    const int64_t end = std::min(start + kernelW, inW + padW);
    paddedCount = end - start;
    first = std::max<int64_t>(start, 0);
    last = std::min(end, inW);
  }

  // Output columns [first, last) whose kernel column kw lands inside the input: 0 ≤ ow·stride - pad + kw < inW.
  void tapColumns(int64_t kw, int64_t& first, int64_t& last) const {
    const int64_t lead = padW - kw;  // need ow·stride ≥ lead
    first = lead > 0 ? (lead + strideW - 1) / strideW : 0;
    const int64_t room = inW + padW - kw;  // need ow·stride < room
    last = room > 0 ? std::min(outW, (room - 1) / strideW + 1) : 0;
  }
};

// One kernel tap across a row of windows: each window keeps its running maximum and that value's index.
// A compile-time stride (kStride > 0) turns the strided load into shuffles instead of a gather.
template <int64_t kStride>
void maxTap(const float* xs, int64_t tap, int64_t stride, int64_t first, int64_t last, float* best, int32_t* argmax) {
  const int64_t step = kStride > 0 ? kStride : stride;
#pragma omp simd
  for (int64_t ow = first; ow < last; ++ow) {
    const int64_t at = tap + ow * step;
    const float v = xs[at];
    if (v > best[ow] || std::isnan(v)) {  // NaN propagates, as in PyTorch
      best[ow] = v;
      argmax[ow] = static_cast<int32_t>(at);
    }
  }
}

class MaxPoolForward : public Kernel {
 public:
  explicit MaxPoolForward(PoolGeometry g) : g_(g) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();             // (N, C, H, W)
    float* y = a.out[0].f32();                  // (N, C, OH, OW)
    int32_t* indices = a.out[1].as<int32_t>();  // (N, C, OH, OW): argmax within the H×W plane
    const PoolGeometry g = g_;
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < g.planes; ++plane) {
      const float* xs = x + plane * g.inH * g.inW;
      for (int64_t oh = 0; oh < g.outH; ++oh) {
        float* best = y + (plane * g.outH + oh) * g.outW;
        int32_t* argmax = indices + (plane * g.outH + oh) * g.outW;
        int64_t h0, h1, paddedRows;
        g.rows(oh, h0, h1, paddedRows);
        for (int64_t ow = 0; ow < g.outW; ++ow) {
          int64_t w0, w1, paddedColumns;
          g.columns(ow, w0, w1, paddedColumns);
          best[ow] = -std::numeric_limits<float>::infinity();
          argmax[ow] = static_cast<int32_t>(h0 * g.inW + w0);
        }
        for (int64_t h = h0; h < h1; ++h) {
          for (int64_t kw = 0; kw < g.kernelW; ++kw) {
            int64_t first, last;
            g.tapColumns(kw, first, last);
            const int64_t tap = h * g.inW + kw - g.padW;  // input index of output column 0's tap
            if (g.strideW == 2) {
              maxTap<2>(xs, tap, 2, first, last, best, argmax);
            } else if (g.strideW == 1) {
              maxTap<1>(xs, tap, 1, first, last, best, argmax);
            } else {
              maxTap<0>(xs, tap, g.strideW, first, last, best, argmax);
            }
          }
        }
      }
    }
  }

 private:
  PoolGeometry g_;
};

// nChw16c images, 16 channels per vector: y blocked; indices plain (N, C, OH, OW) like the plain kernel's.
// Each window visits its cells in row-major order, so the first maximum wins here too.
class MaxPoolForwardBlocked : public Kernel {
 public:
  explicit MaxPoolForwardBlocked(PoolGeometry g) : g_(g) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();             // (N, C, H, W) nChw16c
    float* y = a.out[0].f32();                  // (N, C, OH, OW) nChw16c
    int32_t* indices = a.out[1].as<int32_t>();  // (N, C, OH, OW) plain
    const PoolGeometry g = g_;
    const int64_t image = g.inH * g.inW, pooled = g.outH * g.outW;
#pragma omp parallel for schedule(static)
    for (int64_t run = 0; run < g.planes / kBlockChannels; ++run) {  // run = n·C/16 + block: the (n, block) pairs in order
      const float* xs = x + run * image * kBlockChannels;
      float* ys = y + run * pooled * kBlockChannels;
      int32_t* argmaxes = indices + run * kBlockChannels * pooled;  // channel run·16 + l's plane starts at l·pooled
      for (int64_t oh = 0; oh < g.outH; ++oh) {
        int64_t h0, h1, paddedRows;
        g.rows(oh, h0, h1, paddedRows);
        for (int64_t ow = 0; ow < g.outW; ++ow) {
          int64_t w0, w1, paddedColumns;
          g.columns(ow, w0, w1, paddedColumns);
          float best[kBlockChannels];
          int32_t argmax[kBlockChannels];
          for (int64_t l = 0; l < kBlockChannels; ++l) {
            best[l] = -std::numeric_limits<float>::infinity();
            argmax[l] = static_cast<int32_t>(h0 * g.inW + w0);
          }
          for (int64_t h = h0; h < h1; ++h) {
            for (int64_t w = w0; w < w1; ++w) {
              const int32_t at = static_cast<int32_t>(h * g.inW + w);
              const float* px = xs + at * kBlockChannels;
#pragma omp simd
              for (int64_t l = 0; l < kBlockChannels; ++l) {
                if (px[l] > best[l] || std::isnan(px[l])) {  // NaN propagates, as in PyTorch
                  best[l] = px[l];
                  argmax[l] = at;
                }
              }
            }
          }
          const int64_t o = oh * g.outW + ow;
          for (int64_t l = 0; l < kBlockChannels; ++l) {
            ys[o * kBlockChannels + l] = best[l];
            argmaxes[l * pooled + o] = argmax[l];
          }
        }
      }
    }
  }

 private:
  PoolGeometry g_;
};

// dx = 0, then dx[argmax] += dy per plane; an index outside the plane is an error, not a stray write.
class MaxPoolBackward : public Kernel {
 public:
  MaxPoolBackward(std::string op, int64_t planes, int64_t pooled, int64_t image)
      : op_(std::move(op)), planes_(planes), pooled_(pooled), image_(image) {}

  void run(const KernelArgs& a) override {
    const float* dy = a.in[0].f32();                  // (N, C, OH, OW)
    const int32_t* indices = a.in[1].as<int32_t>();   // (N, C, OH, OW)
    float* dx = a.out[0].f32();                       // (N, C, H, W)
    const int64_t planes = planes_, pooled = pooled_, image = image_;
    int64_t badIndices = 0;
#pragma omp parallel for schedule(static) reduction(+ : badIndices)
    for (int64_t plane = 0; plane < planes; ++plane) {
      float* dxs = dx + plane * image;
      const float* dys = dy + plane * pooled;
      const int32_t* argmax = indices + plane * pooled;
      std::memset(dxs, 0, static_cast<size_t>(image) * sizeof(float));
      for (int64_t o = 0; o < pooled; ++o) {
        const int64_t at = argmax[o];
        if (at < 0 || at >= image) {
          ++badIndices;
        } else {
          dxs[at] += dys[o];
        }
      }
    }
    RN_CHECK(badIndices == 0, code::kInvalidArgument, op_,
             std::to_string(badIndices) + " indices lie outside the " + std::to_string(image) + "-element input plane");
  }

 private:
  std::string op_;
  int64_t planes_, pooled_, image_;
};

// The blocked backward: dx blocked, dy blocked, indices plain as the forward wrote them.
class MaxPoolBackwardBlocked : public Kernel {
 public:
  MaxPoolBackwardBlocked(std::string op, int64_t planes, int64_t pooled, int64_t image)
      : op_(std::move(op)), planes_(planes), pooled_(pooled), image_(image) {}

  void run(const KernelArgs& a) override {
    const float* dy = a.in[0].f32();                 // (N, C, OH, OW) nChw16c
    const int32_t* indices = a.in[1].as<int32_t>();  // (N, C, OH, OW) plain
    float* dx = a.out[0].f32();                      // (N, C, H, W) nChw16c
    const int64_t pooled = pooled_, image = image_;
    int64_t badIndices = 0;
#pragma omp parallel for schedule(static) reduction(+ : badIndices)
    for (int64_t run = 0; run < planes_ / kBlockChannels; ++run) {  // the (n, block) pairs, as in the forward
      float* dxs = dx + run * image * kBlockChannels;
      const float* dys = dy + run * pooled * kBlockChannels;
      const int32_t* argmaxes = indices + run * kBlockChannels * pooled;
      std::memset(dxs, 0, static_cast<size_t>(image * kBlockChannels) * sizeof(float));
      for (int64_t o = 0; o < pooled; ++o) {
        for (int64_t l = 0; l < kBlockChannels; ++l) {
          const int64_t at = argmaxes[l * pooled + o];
          if (at < 0 || at >= image) {
            ++badIndices;
          } else {
            dxs[at * kBlockChannels + l] += dys[o * kBlockChannels + l];
          }
        }
      }
    }
    RN_CHECK(badIndices == 0, code::kInvalidArgument, op_,
             std::to_string(badIndices) + " indices lie outside the " + std::to_string(image) + "-element input plane");
  }

 private:
  std::string op_;
  int64_t planes_, pooled_, image_;
};

// PyTorch's divisor for one window: the window clipped to the padded input, or to the input itself.
float avgDivisor(const PoolGeometry& g, bool countIncludePad, int64_t oh, int64_t ow) {
  int64_t h0, h1, paddedRows, w0, w1, paddedColumns;
  g.rows(oh, h0, h1, paddedRows);
  g.columns(ow, w0, w1, paddedColumns);
  return static_cast<float>(countIncludePad ? paddedRows * paddedColumns : (h1 - h0) * (w1 - w0));
}

class AvgPoolForward : public Kernel {
 public:
  AvgPoolForward(PoolGeometry g, bool countIncludePad) : g_(g), countIncludePad_(countIncludePad) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();  // (N, C, H, W)
    float* y = a.out[0].f32();       // (N, C, OH, OW)
    const PoolGeometry g = g_;
    const bool countIncludePad = countIncludePad_;
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < g.planes; ++plane) {
      const float* xs = x + plane * g.inH * g.inW;
      for (int64_t oh = 0; oh < g.outH; ++oh) {
        float* sum = y + (plane * g.outH + oh) * g.outW;
        int64_t h0, h1, paddedRows;
        g.rows(oh, h0, h1, paddedRows);
        std::fill(sum, sum + g.outW, 0.0f);
        for (int64_t h = h0; h < h1; ++h) {
          for (int64_t kw = 0; kw < g.kernelW; ++kw) {
            int64_t first, last;
            g.tapColumns(kw, first, last);
            const int64_t tap = h * g.inW + kw - g.padW;  // input index of output column 0's tap
#pragma omp simd
            for (int64_t ow = first; ow < last; ++ow) sum[ow] += xs[tap + ow * g.strideW];
          }
        }
        for (int64_t ow = 0; ow < g.outW; ++ow) sum[ow] /= avgDivisor(g, countIncludePad, oh, ow);
      }
    }
  }

 private:
  PoolGeometry g_;
  bool countIncludePad_;
};

class AvgPoolBackward : public Kernel {
 public:
  AvgPoolBackward(PoolGeometry g, bool countIncludePad) : g_(g), countIncludePad_(countIncludePad) {}

  void run(const KernelArgs& a) override {
    const float* dy = a.in[0].f32();  // (N, C, OH, OW)
    float* dx = a.out[0].f32();       // (N, C, H, W)
    const PoolGeometry g = g_;
    const bool countIncludePad = countIncludePad_;
#pragma omp parallel
    {
      std::vector<float> share(g.outW);  // one row of dy / divisor
#pragma omp for schedule(static)
      for (int64_t plane = 0; plane < g.planes; ++plane) {
        float* dxs = dx + plane * g.inH * g.inW;
        std::fill(dxs, dxs + g.inH * g.inW, 0.0f);
        for (int64_t oh = 0; oh < g.outH; ++oh) {
          const float* dys = dy + (plane * g.outH + oh) * g.outW;
          for (int64_t ow = 0; ow < g.outW; ++ow) share[ow] = dys[ow] / avgDivisor(g, countIncludePad, oh, ow);
          int64_t h0, h1, paddedRows;
          g.rows(oh, h0, h1, paddedRows);
          for (int64_t h = h0; h < h1; ++h) {
            for (int64_t kw = 0; kw < g.kernelW; ++kw) {
              int64_t first, last;
              g.tapColumns(kw, first, last);
              const int64_t tap = h * g.inW + kw - g.padW;
              // Distinct output columns hit distinct input columns for one (h, kw), so the scatter is safe to vectorise.
#pragma omp simd
              for (int64_t ow = first; ow < last; ++ow) dxs[tap + ow * g.strideW] += share[ow];
            }
          }
        }
      }
    }
  }

 private:
  PoolGeometry g_;
  bool countIncludePad_;
};

class GlobalAvgPoolForward : public Kernel {
 public:
  GlobalAvgPoolForward(int64_t planes, int64_t image, Layout layout)
      : planes_(planes), image_(image), blocked_(layout == Layout::Blocked16) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();  // (N, C, H, W)
    float* y = a.out[0].f32();       // (N, C)
    const int64_t image = image_;
    if (blocked_) {
#pragma omp parallel for schedule(static)
      for (int64_t run = 0; run < planes_ / kBlockChannels; ++run) {  // run = n·C/16 + block; y[run·16 + l]
        const float* xs = x + run * image * kBlockChannels;
        float sum[kBlockChannels] = {};
        for (int64_t i = 0; i < image; ++i) {
#pragma omp simd
          for (int64_t l = 0; l < kBlockChannels; ++l) sum[l] += xs[i * kBlockChannels + l];
        }
        for (int64_t l = 0; l < kBlockChannels; ++l) y[run * kBlockChannels + l] = sum[l] / static_cast<float>(image);
      }
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < planes_; ++plane) {
      const float* xs = x + plane * image;
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < image; ++i) sum += xs[i];
      y[plane] = sum / static_cast<float>(image);
    }
  }

 private:
  int64_t planes_, image_;
  bool blocked_;
};

class GlobalAvgPoolBackward : public Kernel {
 public:
  GlobalAvgPoolBackward(int64_t planes, int64_t image, Layout layout)
      : planes_(planes), image_(image), blocked_(layout == Layout::Blocked16) {}

  void run(const KernelArgs& a) override {
    const float* dy = a.in[0].f32();  // (N, C)
    float* dx = a.out[0].f32();       // (N, C, H, W)
    const int64_t image = image_;
    if (blocked_) {
#pragma omp parallel for schedule(static)
      for (int64_t run = 0; run < planes_ / kBlockChannels; ++run) {  // run = n·C/16 + block; dy[run·16 + l]
        float share[kBlockChannels];
        for (int64_t l = 0; l < kBlockChannels; ++l) share[l] = dy[run * kBlockChannels + l] / static_cast<float>(image);
        float* dxs = dx + run * image * kBlockChannels;
        for (int64_t i = 0; i < image; ++i) {
#pragma omp simd
          for (int64_t l = 0; l < kBlockChannels; ++l) dxs[i * kBlockChannels + l] = share[l];
        }
      }
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < planes_; ++plane) {
      const float share = dy[plane] / static_cast<float>(image);
      float* dxs = dx + plane * image;
#pragma omp simd
      for (int64_t i = 0; i < image; ++i) dxs[i] = share;
    }
  }

 private:
  int64_t planes_, image_;
  bool blocked_;
};

std::unique_ptr<Kernel> makeMaxPoolForward(const KernelContext& ctx) {
  const PoolGeometry g(ops::checkMaxPoolForward(ctx));
  if (ctx.expectOneLayout({{&ctx.inputs[0], "x"}, {&ctx.outputs[0], "y"}}) == Layout::Blocked16) {
    return std::make_unique<MaxPoolForwardBlocked>(g);
  }
  return std::make_unique<MaxPoolForward>(g);
}

std::unique_ptr<Kernel> makeMaxPoolBackward(const KernelContext& ctx) {
  const ops::MaxPoolBackwardSizes s = ops::checkMaxPoolBackward(ctx);
  if (ctx.expectOneLayout({{&ctx.inputs[0], "dy"}, {&ctx.outputs[0], "dx"}}) == Layout::Blocked16) {
    return std::make_unique<MaxPoolBackwardBlocked>(ctx.op, s.planes, s.pooled, s.image);
  }
  return std::make_unique<MaxPoolBackward>(ctx.op, s.planes, s.pooled, s.image);
}

std::unique_ptr<Kernel> makeAvgPoolForward(const KernelContext& ctx) {
  const ops::AvgPoolSpec spec = ops::checkAvgPoolForward(ctx);
  return std::make_unique<AvgPoolForward>(PoolGeometry(spec.g), spec.countIncludePad);
}

std::unique_ptr<Kernel> makeAvgPoolBackward(const KernelContext& ctx) {
  const ops::AvgPoolSpec spec = ops::checkAvgPoolBackward(ctx);
  return std::make_unique<AvgPoolBackward>(PoolGeometry(spec.g), spec.countIncludePad);
}

std::unique_ptr<Kernel> makeGlobalAvgPoolForward(const KernelContext& ctx) {
  const ops::GlobalPoolSizes s = ops::checkGlobalAvgPoolForward(ctx);
  return std::make_unique<GlobalAvgPoolForward>(s.planes, s.image, ctx.inputs[0].layout);
}

std::unique_ptr<Kernel> makeGlobalAvgPoolBackward(const KernelContext& ctx) {
  const ops::GlobalPoolSizes s = ops::checkGlobalAvgPoolBackward(ctx);
  return std::make_unique<GlobalAvgPoolBackward>(s.planes, s.image, ctx.outputs[0].layout);
}

RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "maxpool2d_forward", makeMaxPoolForward);
RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "maxpool2d_backward", makeMaxPoolBackward);
RN_REGISTER_KERNEL("cpu", "avgpool2d_forward", makeAvgPoolForward);
RN_REGISTER_KERNEL("cpu", "avgpool2d_backward", makeAvgPoolBackward);
RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "global_avgpool_forward", makeGlobalAvgPoolForward);
RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "global_avgpool_backward", makeGlobalAvgPoolBackward);

}  // namespace
}  // namespace rn::cpu
