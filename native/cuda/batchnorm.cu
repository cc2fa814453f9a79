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

// x (N, C, H, W) float32 and every listed value a float32 [C].
void expectChannelVectors(const KernelContext& ctx, const std::vector<std::pair<const ValueInfo*, std::string>>& vectors) {
  const ValueInfo& x = ctx.inputs[0];
  ctx.expectDtype(x, DType::F32, "x");
  ctx.expectRank(x, 4, "x");
  for (const auto& [value, what] : vectors) {
    ctx.expectDtype(*value, DType::F32, what);
    ctx.expectShape(*value, {x.shape[1]}, what);
  }
}

void expectImage(const KernelContext& ctx, const ValueInfo& value, const std::string& what) {
  ctx.expectDtype(value, DType::F32, what);
  ctx.expectShape(value, ctx.inputs[0].shape, what);
}

double readEps(const KernelContext& ctx) {
  const double eps = ctx.attrs.getFloat(ctx.op, "eps", 1e-5);
  if (!(eps >= 0 && std::isfinite(eps))) ctx.fail(code::kInvalidArgument, "eps must be a finite number ≥ 0");
  return eps;
}

std::unique_ptr<Kernel> makeForwardTraining(const KernelContext& ctx) {
  ctx.expectArity(5, 5);
  const auto& in = ctx.inputs;
  const auto& out = ctx.outputs;
  expectChannelVectors(ctx, {{&in[1], "gamma"}, {&in[2], "beta"}, {&in[3], "running_mean"}, {&in[4], "running_var"},
                             {&out[1], "output running_mean"}, {&out[2], "output running_var"},
                             {&out[3], "save_mean"}, {&out[4], "save_invstd"}});
  expectImage(ctx, out[0], "y");
  const Shape& x = in[0].shape;
  if (x[0] * x[2] * x[3] < 2) ctx.fail(code::kInvalidArgument, "training needs more than one value per channel");
  const double eps = readEps(ctx);
  const double momentum = ctx.attrs.getFloat(ctx.op, "momentum", 0.1);
  if (!(momentum >= 0 && momentum <= 1)) ctx.fail(code::kInvalidArgument, "momentum must be in [0, 1]");
  expectCudnnSized(ctx, in[0], "x");
  return std::make_unique<BatchNormForwardTraining>(ctx.op, x, eps, momentum);
}

std::unique_ptr<Kernel> makeForwardInference(const KernelContext& ctx) {
  ctx.expectArity(5, 1);
  const auto& in = ctx.inputs;
  expectChannelVectors(ctx, {{&in[1], "gamma"}, {&in[2], "beta"}, {&in[3], "running_mean"}, {&in[4], "running_var"}});
  expectImage(ctx, ctx.outputs[0], "y");
  const double eps = readEps(ctx);
  expectCudnnSized(ctx, in[0], "x");
  return std::make_unique<BatchNormForwardInference>(ctx.op, in[0].shape, eps);
}

std::unique_ptr<Kernel> makeBackward(const KernelContext& ctx) {
  ctx.expectArity(5, 3);
  const auto& in = ctx.inputs;
  const auto& out = ctx.outputs;
  expectChannelVectors(ctx, {{&in[2], "gamma"}, {&in[3], "save_mean"}, {&in[4], "save_invstd"},
                             {&out[1], "dgamma"}, {&out[2], "dbeta"}});
  expectImage(ctx, in[1], "dy");
  expectImage(ctx, out[0], "dx");
  // cuDNN's backward takes eps (as a consistency argument); save_invstd already folds it in.
  const double eps = readEps(ctx);
  expectCudnnSized(ctx, in[0], "x");
  return std::make_unique<BatchNormBackward>(ctx.op, in[0].shape, eps);
}

RN_REGISTER_KERNEL("cuda", "batchnorm_forward_training", makeForwardTraining);
RN_REGISTER_KERNEL("cuda", "batchnorm_forward_inference", makeForwardInference);
RN_REGISTER_KERNEL("cuda", "batchnorm_backward", makeBackward);

}  // namespace
}  // namespace rn::cuda
