// 2-D convolution on CUDA (cuDNN): forward, backward data and backward weights over NCHW/OIHW tensors, with
// the CPU op's signatures, attributes and checks. Descriptors are built with the kernel; the algorithm is chosen
// at its first run (conv_algo.h: benchmarked on the op's own tensors, or by heuristics, per the "cudnn"
// setting read when the kernel is built) and shared with every kernel of the same shapes through the cache.
// Bias: cudnnAddTensor after the forward, cudnnConvolutionBackwardBias beside the filter gradient.
#include <climits>
#include <memory>

#include "../core/kernel.h"
#include "../ops/conv_geometry.h"
#include "common.h"
#include "conv_algo.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

// Shapes and attributes of one convolution, checked against each other (native/ops/conv_geometry.h).
using ops::ConvGeometry;

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
  const ops::ConvSpec spec = ops::checkConv2dForward(ctx);
  return std::make_unique<Conv2d>(ctx.op, keyOf(ctx, spec.g, ConvDirection::Forward), spec.g, spec.bias);
}

// Inputs (dy, w) → dx; the geometry comes from dx's shape, and dy must match it.
std::unique_ptr<Kernel> makeConv2dBackwardData(const KernelContext& ctx) {
  const ConvGeometry g = ops::checkConv2dBackwardData(ctx);
  return std::make_unique<Conv2d>(ctx.op, keyOf(ctx, g, ConvDirection::BackwardData), g, false);
}

// Inputs (x, dy) → dw[, db].
std::unique_ptr<Kernel> makeConv2dBackwardWeights(const KernelContext& ctx) {
  const ops::ConvSpec spec = ops::checkConv2dBackwardWeights(ctx);
  return std::make_unique<Conv2d>(ctx.op, keyOf(ctx, spec.g, ConvDirection::BackwardFilter), spec.g, spec.bias);
}

RN_REGISTER_KERNEL("cuda", "conv2d_forward", makeConv2dForward);
RN_REGISTER_KERNEL("cuda", "conv2d_backward_data", makeConv2dBackwardData);
RN_REGISTER_KERNEL("cuda", "conv2d_backward_weights", makeConv2dBackwardWeights);

}  // namespace
}  // namespace rn::cuda
