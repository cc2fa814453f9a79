// 2-D convolution on CUDA (cuDNN): forward, backward data and backward weights over NCHW/OIHW tensors, with
// the CPU op's signatures, attributes and checks. Descriptors are built with the kernel; the algorithm is chosen
// at its first run (conv_algo.h: benchmarked on the op's own tensors, or by heuristics, per the "cudnn"
// setting read when the kernel is built) and shared with every kernel of the same shapes through the cache.
// Bias: cudnnAddTensor after the forward, cudnnConvolutionBackwardBias beside the filter gradient.
#include <climits>
#include <memory>

#include "../core/kernel.h"
#include "common.h"
#include "conv_algo.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

// Shapes and attributes of one convolution, checked against each other.
struct ConvGeometry {
  Shape x, w, y;                                    // x (N, C, H, W), w (K, C, kh, kw), y (N, K, OH, OW)
  std::vector<int64_t> stride, padding, dilation;  // dilation 1 = dense
};

std::vector<int64_t> readPair(const KernelContext& ctx, const char* key, int64_t fallback, int64_t min) {
  std::vector<int64_t> v = ctx.attrs.getInts(ctx.op, key, {fallback, fallback});
  if (v.size() != 2 || v[0] < min || v[1] < min) {
    std::string got;
    for (size_t i = 0; i < v.size(); ++i) got += (i ? "," : "") + std::to_string(v[i]);
    ctx.fail(code::kInvalidArgument, "expected attribute '" + std::string(key) + "' to be two integers >= " +
                                         std::to_string(min) + " but received [" + got + "]");
  }
  return v;
}

// Reads stride/padding/dilation, checks x and w (float32, rank 4, positive sizes, channels, kernel fits the
// padded input) and returns the geometry with y computed: OH = (H + 2p - d(kh-1) - 1) / s + 1.
ConvGeometry readGeometry(const KernelContext& ctx, const ValueInfo& x, const std::string& xName, const ValueInfo& w,
                          const std::string& wName) {
  for (const auto& v : ctx.inputs) ctx.expectDtype(v, DType::F32, "every input");
  for (const auto& v : ctx.outputs) ctx.expectDtype(v, DType::F32, "every output");
  for (const auto& [v, name] : {std::pair{&x, xName}, std::pair{&w, wName}}) {
    ctx.expectRank(*v, 4, name);
    for (int64_t d : v->shape) {
      if (d <= 0) {
        ctx.fail(code::kInvalidArgument, "expected positive sizes for " + name + " but received " + shapeString(v->shape));
      }
    }
  }
  std::vector<int64_t> stride = readPair(ctx, "stride", 1, 1);
  std::vector<int64_t> padding = readPair(ctx, "padding", 0, 0);
  std::vector<int64_t> dilation = readPair(ctx, "dilation", 1, 1);
  if (w.shape[1] != x.shape[1]) {
    ctx.fail(code::kShapeMismatch, "expected " + std::to_string(w.shape[1]) + " input channels (" + wName + " " +
                                       shapeString(w.shape) + ") for " + xName + " but received " +
                                       std::to_string(x.shape[1]) + " (" + xName + " " + shapeString(x.shape) + ")");
  }
  ConvGeometry g;
  g.x = x.shape;
  g.w = w.shape;
  g.y = {x.shape[0], w.shape[0], 0, 0};
  for (int i = 0; i < 2; ++i) {
    int64_t extent = dilation[i] * (w.shape[2 + i] - 1) + 1;
    int64_t padded = x.shape[2 + i] + 2 * padding[i];
    if (extent > padded) {
      ctx.fail(code::kShapeMismatch, "kernel " + shapeString(w.shape) + " (dilated extent " + std::to_string(extent) +
                                         ") is larger than the padded input " + xName + " " + shapeString(x.shape) +
                                         " with padding " + std::to_string(padding[i]));
    }
    g.y[2 + i] = (padded - extent) / stride[i] + 1;
  }
  g.stride = stride;
  g.padding = padding;
  g.dilation = dilation;
  return g;
}

// The cuDNN key of a checked geometry: tensors within cuDNN's int sizes, attributes within int.
ConvKey keyOf(const KernelContext& ctx, const ConvGeometry& g, ConvDirection direction) {
  expectCudnnSized(ctx, {g.x, DType::F32}, "the image");
  expectCudnnSized(ctx, {g.w, DType::F32}, "the filter");
  expectCudnnSized(ctx, {g.y, DType::F32}, "the output");
  for (const auto* pair : {&g.stride, &g.padding, &g.dilation}) {
    for (int64_t v : *pair) {
      if (v > INT_MAX) ctx.fail(code::kInvalidArgument, "cuDNN takes stride, padding and dilation below 2^31");
    }
  }
  CudaDevice& device = cudaDevice(ctx.device);
  ConvKey key;
  key.device = device.index();
  key.workspaceLimit = device.workspaceLimit();
  key.n = static_cast<int>(g.x[0]);
  key.c = static_cast<int>(g.x[1]);
  key.h = static_cast<int>(g.x[2]);
  key.w = static_cast<int>(g.x[3]);
  key.k = static_cast<int>(g.w[0]);
  key.r = static_cast<int>(g.w[2]);
  key.s = static_cast<int>(g.w[3]);
  key.padH = static_cast<int>(g.padding[0]);
  key.padW = static_cast<int>(g.padding[1]);
  key.strideH = static_cast<int>(g.stride[0]);
  key.strideW = static_cast<int>(g.stride[1]);
  key.dilationH = static_cast<int>(g.dilation[0]);
  key.dilationW = static_cast<int>(g.dilation[1]);
  key.direction = direction;
  key.search = convSearchFromMode(ctx.op, convolutionMode());
  return key;
}

// Operand positions: forward (x, w[, b]) → y; backward data (dy, w) → dx; backward weights (x, dy) → dw[, db].
class Conv2d : public Kernel {
 public:
  Conv2d(std::string op, const ConvKey& key, const ConvGeometry& g, bool bias)
      : op_(std::move(op)),
        key_(key),
        desc_(op_, key, static_cast<int>(g.y[2]), static_cast<int>(g.y[3])),
        bias_(bias ? std::make_unique<TensorDescriptor>(op_, Shape{1, g.w[0], 1, 1}) : nullptr) {}

  void run(const KernelArgs& a) override {
    CudaDevice& device = cudaDevice(a.device);
    ConvBuffers b;
    switch (key_.direction) {
      case ConvDirection::Forward:
        b = {a.in[0].ptr, a.in[1].ptr, a.out[0].ptr};
        break;
      case ConvDirection::BackwardData:
        b = {a.out[0].ptr, a.in[1].ptr, a.in[0].ptr};
        break;
      case ConvDirection::BackwardFilter:
        b = {a.in[0].ptr, a.out[0].ptr, a.in[1].ptr};
        break;
    }
    // Chosen at the first run, and again whenever the buffers' alignment differs from the last choice's.
    const int alignX = alignmentOf(b.x), alignW = alignmentOf(b.w), alignY = alignmentOf(b.y);
    if (!chosen_ || alignX != key_.alignX || alignW != key_.alignW || alignY != key_.alignY) {
      key_.alignX = alignX;
      key_.alignW = alignW;
      key_.alignY = alignY;
      algo_ = chooseConvAlgo(op_, device, key_, desc_, b);
      chosen_ = true;
    }
    void* workspace = algo_.workspaceBytes > 0 ? device.workspace(algo_.workspaceBytes, op_) : nullptr;
    cudnnHandle_t handle = device.cudnn();
    const float one = 1.0f, zero = 0.0f;
    switch (key_.direction) {
      case ConvDirection::Forward:
        RN_CUDNN(op_, cudnnConvolutionForward(handle, &one, desc_.x(), b.x, desc_.w(), b.w, desc_.conv(),
                                              static_cast<cudnnConvolutionFwdAlgo_t>(algo_.algo), workspace,
                                              algo_.workspaceBytes, &zero, desc_.y(), b.y));
        if (bias_) RN_CUDNN(op_, cudnnAddTensor(handle, &one, bias_->get(), a.in[2].ptr, &one, desc_.y(), b.y));
        break;
      case ConvDirection::BackwardData:
        RN_CUDNN(op_, cudnnConvolutionBackwardData(handle, &one, desc_.w(), b.w, desc_.y(), b.y, desc_.conv(),
                                                   static_cast<cudnnConvolutionBwdDataAlgo_t>(algo_.algo), workspace,
                                                   algo_.workspaceBytes, &zero, desc_.x(), b.x));
        break;
      case ConvDirection::BackwardFilter:
        RN_CUDNN(op_, cudnnConvolutionBackwardFilter(handle, &one, desc_.x(), b.x, desc_.y(), b.y, desc_.conv(),
                                                     static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo_.algo),
                                                     workspace, algo_.workspaceBytes, &zero, desc_.w(), b.w));
        if (bias_) {
          RN_CUDNN(op_, cudnnConvolutionBackwardBias(handle, &one, desc_.y(), b.y, &zero, bias_->get(), a.out[1].ptr));
        }
        break;
    }
  }

 private:
  std::string op_;
  ConvKey key_;
  ConvDescriptors desc_;
  std::unique_ptr<TensorDescriptor> bias_;  // (1, K, 1, 1) when the op has a bias
  bool chosen_ = false;
  ConvAlgo algo_;
};

// Inputs (x, w[, b]) → y.
std::unique_ptr<Kernel> makeConv2dForward(const KernelContext& ctx) {
  ctx.expectArity(2, 3, 1);
  ConvGeometry g = readGeometry(ctx, ctx.inputs[0], "x", ctx.inputs[1], "w");
  const bool bias = ctx.inputs.size() == 3;
  if (bias) ctx.expectShape(ctx.inputs[2], {g.w[0]}, "b");
  ctx.expectShape(ctx.outputs[0], g.y, "y");
  return std::make_unique<Conv2d>(ctx.op, keyOf(ctx, g, ConvDirection::Forward), g, bias);
}

// Inputs (dy, w) → dx; the geometry comes from dx's shape, and dy must match it.
std::unique_ptr<Kernel> makeConv2dBackwardData(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  ConvGeometry g = readGeometry(ctx, ctx.outputs[0], "dx", ctx.inputs[1], "w");
  ctx.expectShape(ctx.inputs[0], g.y, "dy");
  return std::make_unique<Conv2d>(ctx.op, keyOf(ctx, g, ConvDirection::BackwardData), g, false);
}

// Inputs (x, dy) → dw[, db].
std::unique_ptr<Kernel> makeConv2dBackwardWeights(const KernelContext& ctx) {
  ctx.expectArity(2, ctx.outputs.size() == 2 ? 2 : 1);
  ConvGeometry g = readGeometry(ctx, ctx.inputs[0], "x", ctx.outputs[0], "dw");
  ctx.expectShape(ctx.inputs[1], g.y, "dy");
  const bool bias = ctx.outputs.size() == 2;
  if (bias) ctx.expectShape(ctx.outputs[1], {g.w[0]}, "db");
  return std::make_unique<Conv2d>(ctx.op, keyOf(ctx, g, ConvDirection::BackwardFilter), g, bias);
}

RN_REGISTER_KERNEL("cuda", "conv2d_forward", makeConv2dForward);
RN_REGISTER_KERNEL("cuda", "conv2d_backward_data", makeConv2dBackwardData);
RN_REGISTER_KERNEL("cuda", "conv2d_backward_weights", makeConv2dBackwardWeights);

}  // namespace
}  // namespace rn::cuda
