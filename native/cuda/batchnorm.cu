// Batch norm 2d on CUDA (NCHW) through cuDNN's spatial batch norm: training forward with running-stat update,
// inference forward, training backward.
//
// The CPU's semantics hold: y uses the biased batch variance; running_var is updated with the unbiased one
// (cuDNN's running average uses var·M/(M-1), M = N·H·W, with exponentialAverageFactor = momentum:
// running = (1-momentum)·running + momentum·batch); save_invstd = 1/sqrt(var + eps) (cuDNN's
// resultSaveInvVariance). cuDNN updates the running statistics in place, so when the program binds them to
// other buffers than the inputs, the inputs are copied there first. CUDNN_BATCHNORM_SPATIAL, not _PERSISTENT:
// the persistent kernels may overflow on large inputs (cuDNN docs).
#include <cmath>
#include <memory>

#include "../core/kernel.h"
#include "../ops/batchnorm_shapes.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

constexpr cudnnBatchNormMode_t kMode = CUDNN_BATCHNORM_SPATIAL;

// x's descriptor and the per-channel one (1, C, 1, 1); absent for an empty x, which needs no cuDNN call.
struct BatchNormDescriptors {
  std::unique_ptr<TensorDescriptor> x, channel;
  int64_t channels = 0;

  BatchNormDescriptors(const std::string& op, const Shape& x4) : channels(x4[1]) {
    if (numel(x4) == 0) return;
    x = std::make_unique<TensorDescriptor>(op, x4);
    channel = std::make_unique<TensorDescriptor>(op, Shape{1, x4[1], 1, 1});
  }
  bool empty() const { return !x; }
};

class BatchNormForwardTraining : public Kernel {
 public:
  BatchNormForwardTraining(std::string op, const Shape& x, double eps, double momentum)
      : op_(std::move(op)), d_(op_, x), eps_(eps), momentum_(momentum) {}

  void run(const KernelArgs& a) override {
    if (d_.empty()) return;  // no channels (training needs two values per channel, so C = 0)
    CudaDevice& device = cudaDevice(a.device);
    const size_t channelBytes = static_cast<size_t>(d_.channels) * sizeof(float);
    // Outputs 1, 2 are normally the buffers of inputs 3, 4; cuDNN reads the old running values from the outputs.
    for (int s = 0; s < 2; ++s) {
      if (a.out[1 + s].ptr != a.in[3 + s].ptr && channelBytes > 0) {
        RN_CUDA(op_, cudaMemcpyAsync(a.out[1 + s].ptr, a.in[3 + s].ptr, channelBytes, cudaMemcpyDeviceToDevice,
                                     device.stream()));
      }
    }
    const float one = 1.0f, zero = 0.0f;
    RN_CUDNN(op_, cudnnBatchNormalizationForwardTraining(
                      device.cudnn(), kMode, &one, &zero, d_.x->get(), a.in[0].ptr,  // x (N, C, H, W)
                      d_.x->get(), a.out[0].ptr,                                     // y (N, C, H, W)
                      d_.channel->get(), a.in[1].ptr, a.in[2].ptr,                   // gamma, beta (C)
                      momentum_, a.out[1].ptr, a.out[2].ptr,                         // running mean, var (C)
                      eps_, a.out[3].ptr, a.out[4].ptr));                            // save_mean, save_invstd (C)
  }

 private:
  std::string op_;
  BatchNormDescriptors d_;
  double eps_, momentum_;
};

class BatchNormForwardInference : public Kernel {
 public:
  BatchNormForwardInference(std::string op, const Shape& x, double eps) : op_(std::move(op)), d_(op_, x), eps_(eps) {}

  void run(const KernelArgs& a) override {
    if (d_.empty()) return;
    const float one = 1.0f, zero = 0.0f;
    RN_CUDNN(op_, cudnnBatchNormalizationForwardInference(
                      cudaDevice(a.device).cudnn(), kMode, &one, &zero, d_.x->get(), a.in[0].ptr,  // x
                      d_.x->get(), a.out[0].ptr,                                                  // y
                      d_.channel->get(), a.in[1].ptr, a.in[2].ptr,                                // gamma, beta
                      a.in[3].ptr, a.in[4].ptr, eps_));                                           // running mean, var
  }

 private:
  std::string op_;
  BatchNormDescriptors d_;
  double eps_;
};

// Inputs (x, dy, gamma, save_mean, save_invstd) → (dx, dgamma, dbeta), from the saved statistics.
class BatchNormBackward : public Kernel {
 public:
  BatchNormBackward(std::string op, const Shape& x, double eps) : op_(std::move(op)), d_(op_, x), eps_(eps) {}

  void run(const KernelArgs& a) override {
    CudaDevice& device = cudaDevice(a.device);
    if (d_.empty()) {
      // No values: the sums dgamma and dbeta are zero.
      const size_t channelBytes = static_cast<size_t>(d_.channels) * sizeof(float);
      if (channelBytes == 0) return;
      RN_CUDA(op_, cudaMemsetAsync(a.out[1].ptr, 0, channelBytes, device.stream()));
      RN_CUDA(op_, cudaMemsetAsync(a.out[2].ptr, 0, channelBytes, device.stream()));
      return;
    }
    const float one = 1.0f, zero = 0.0f;
    RN_CUDNN(op_, cudnnBatchNormalizationBackward(
                      device.cudnn(), kMode, &one, &zero, &one, &zero,           // dx and dgamma/dbeta overwritten
                      d_.x->get(), a.in[0].ptr, d_.x->get(), a.in[1].ptr,        // x, dy
                      d_.x->get(), a.out[0].ptr,                                 // dx
                      d_.channel->get(), a.in[2].ptr, a.out[1].ptr, a.out[2].ptr,  // gamma, dgamma, dbeta
                      eps_, a.in[3].ptr, a.in[4].ptr));                          // save_mean, save_invstd
  }

 private:
  std::string op_;
  BatchNormDescriptors d_;
  double eps_;
};

std::unique_ptr<Kernel> makeForwardTraining(const KernelContext& ctx) {
  const ops::BatchNormTrainingParams p = ops::checkBatchNormForwardTraining(ctx);
  expectCudnnSized(ctx, ctx.inputs[0], "x");
  return std::make_unique<BatchNormForwardTraining>(ctx.op, ctx.inputs[0].shape, p.eps, p.momentum);
}

std::unique_ptr<Kernel> makeForwardInference(const KernelContext& ctx) {
  const double eps = ops::checkBatchNormForwardInference(ctx);
  expectCudnnSized(ctx, ctx.inputs[0], "x");
  return std::make_unique<BatchNormForwardInference>(ctx.op, ctx.inputs[0].shape, eps);
}

std::unique_ptr<Kernel> makeBackward(const KernelContext& ctx) {
  // cuDNN's backward takes eps (as a consistency argument); save_invstd already folds it in.
  const double eps = ops::checkBatchNormBackward(ctx);
  expectCudnnSized(ctx, ctx.inputs[0], "x");
  return std::make_unique<BatchNormBackward>(ctx.op, ctx.inputs[0].shape, eps);
}

RN_REGISTER_KERNEL("cuda", "batchnorm_forward_training", makeForwardTraining);
RN_REGISTER_KERNEL("cuda", "batchnorm_forward_inference", makeForwardInference);
RN_REGISTER_KERNEL("cuda", "batchnorm_backward", makeBackward);

}  // namespace
}  // namespace rn::cuda
