// Backend-independent part of the batch norm ops (batchnorm_forward_training, _forward_inference, _backward, and
// the synchronised batchnorm_stats / _apply_training / _backward_reduce / _backward_apply): the eps and momentum
// attributes, shape and dtype checks, and the per-channel plane geometry. native/cpu/batchnorm.cc,
// native/cpu/syncbn.cc, native/cuda/batchnorm.cu and native/cuda/syncbn.cu validate through these.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../core/kernel.h"

namespace rn::ops {

// x viewed as N planes of HW elements per channel: channel c of image n starts at (n*C + c)*HW.
struct ChannelPlanes {
  int64_t N = 0, C = 0, HW = 0;
  int64_t count() const { return N * HW; }  // elements per channel
  int64_t plane(int64_t n, int64_t c) const { return (n * C + c) * HW; }
};

inline ChannelPlanes planesOf(const Shape& x) { return {x[0], x[1], x[2] * x[3]}; }

using NamedValues = std::vector<std::pair<const ValueInfo*, std::string>>;

// The eps attribute: default 1e-5, finite and ≥ 0.
inline double readBatchNormEps(const KernelContext& ctx) {
  const double eps = ctx.attrs.getFloat(ctx.op, "eps", 1e-5);
  if (!(eps >= 0 && std::isfinite(eps))) ctx.fail(code::kInvalidArgument, "eps must be a finite number ≥ 0");
  return eps;
}

// The momentum attribute: default 0.1, in [0, 1].
inline double readBatchNormMomentum(const KernelContext& ctx) {
  const double momentum = ctx.attrs.getFloat(ctx.op, "momentum", 0.1);
  if (!(momentum >= 0 && momentum <= 1)) ctx.fail(code::kInvalidArgument, "momentum must be in [0, 1]");
  return momentum;
}

// x (N, C, H, W) float32 and every listed value a float32 [C].
inline void expectChannelVectors(const KernelContext& ctx, const NamedValues& vectors) {
  const ValueInfo& x = ctx.inputs[0];
  ctx.expectDtype(x, DType::F32, "x");
  ctx.expectRank(x, 4, "x");
  for (const auto& [value, what] : vectors) {
    ctx.expectDtype(*value, DType::F32, what);
    ctx.expectShape(*value, {x.shape[1]}, what);
  }
}

// A float32 value of x's (input 0's) shape.
inline void expectLikeX(const KernelContext& ctx, const ValueInfo& value, const std::string& what) {
  ctx.expectDtype(value, DType::F32, what);
  ctx.expectShape(value, ctx.inputs[0].shape, what);
}

// The training forward's attributes.
struct BatchNormTrainingParams {
  double eps, momentum;
};

// batchnorm_forward_training: inputs (x, gamma, beta, running_mean, running_var) → (y, running_mean, running_var,
// save_mean, save_invstd).
inline BatchNormTrainingParams checkBatchNormForwardTraining(const KernelContext& ctx) {
  ctx.expectArity(5, 5);
  const auto& in = ctx.inputs;
  const auto& out = ctx.outputs;
  expectChannelVectors(ctx, {{&in[1], "gamma"}, {&in[2], "beta"}, {&in[3], "running_mean"}, {&in[4], "running_var"},
                             {&out[1], "output running_mean"}, {&out[2], "output running_var"},
                             {&out[3], "save_mean"}, {&out[4], "save_invstd"}});
  expectLikeX(ctx, out[0], "y");
  if (planesOf(in[0].shape).count() < 2) {
    ctx.fail(code::kInvalidArgument, "training needs more than one value per channel");
  }
  BatchNormTrainingParams p;
  p.eps = readBatchNormEps(ctx);
  p.momentum = readBatchNormMomentum(ctx);
  return p;
}

// batchnorm_forward_inference: inputs (x, gamma, beta, running_mean, running_var) → y; returns eps.
inline double checkBatchNormForwardInference(const KernelContext& ctx) {
  ctx.expectArity(5, 1);
  const auto& in = ctx.inputs;
  expectChannelVectors(ctx, {{&in[1], "gamma"}, {&in[2], "beta"}, {&in[3], "running_mean"}, {&in[4], "running_var"}});
  expectLikeX(ctx, ctx.outputs[0], "y");
  return readBatchNormEps(ctx);
}

// batchnorm_backward: inputs (x, dy, gamma, save_mean, save_invstd) → (dx, dgamma, dbeta); returns eps, which
// belongs to the op's contract (cuDNN's backward takes it) though save_invstd already folds it in.
inline double checkBatchNormBackward(const KernelContext& ctx) {
  ctx.expectArity(5, 3);
  const auto& in = ctx.inputs;
  const auto& out = ctx.outputs;
  expectChannelVectors(ctx, {{&in[2], "gamma"}, {&in[3], "save_mean"}, {&in[4], "save_invstd"},
                             {&out[1], "dgamma"}, {&out[2], "dbeta"}});
  expectLikeX(ctx, in[1], "dy");
  expectLikeX(ctx, out[0], "dx");
  return readBatchNormEps(ctx);
}

// --- SyncBN (native/cpu/syncbn.cc, native/cuda/syncbn.cu) ---------------------------------------------------------
// stats and sums are float32 [2C+1]: per-channel sums, then per-channel sums, then one count (see syncbn.cc).

// Each listed value a float32 vector of `size` elements.
inline void expectVectors(const KernelContext& ctx, int64_t size, const NamedValues& vectors) {
  for (const auto& [value, what] : vectors) {
    ctx.expectDtype(*value, DType::F32, what);
    ctx.expectShape(*value, {size}, what);
  }
}

// x (input 0) a float32 (N, C, H, W) and each listed value the same; returns C.
inline int64_t expectImages(const KernelContext& ctx, const NamedValues& images) {
  const ValueInfo& x = ctx.inputs[0];
  ctx.expectDtype(x, DType::F32, "x");
  ctx.expectRank(x, 4, "x");
  for (const auto& [value, what] : images) {
    ctx.expectDtype(*value, DType::F32, what);
    ctx.expectShape(*value, x.shape, what);
  }
  return x.shape[1];
}

// batchnorm_stats: inputs (x, running_mean) → stats [2C+1].
inline void checkBatchNormStats(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  const int64_t c = expectImages(ctx, {});
  expectVectors(ctx, c, {{&ctx.inputs[1], "running_mean"}});
  expectVectors(ctx, 2 * c + 1, {{&ctx.outputs[0], "stats"}});
}

// batchnorm_apply_training: inputs (x, gamma, beta, running_mean, running_var, stats) → (y, running_mean,
// running_var, save_mean, save_invstd).
inline BatchNormTrainingParams checkBatchNormApplyTraining(const KernelContext& ctx) {
  ctx.expectArity(6, 5);
  const auto& in = ctx.inputs;
  const auto& out = ctx.outputs;
  const int64_t c = expectImages(ctx, {{&out[0], "y"}});
  expectVectors(ctx, c, {{&in[1], "gamma"}, {&in[2], "beta"}, {&in[3], "running_mean"}, {&in[4], "running_var"},
                         {&out[1], "output running_mean"}, {&out[2], "output running_var"},
                         {&out[3], "save_mean"}, {&out[4], "save_invstd"}});
  expectVectors(ctx, 2 * c + 1, {{&in[5], "stats"}});
  BatchNormTrainingParams p;
  p.eps = readBatchNormEps(ctx);
  p.momentum = readBatchNormMomentum(ctx);
  return p;
}

// batchnorm_backward_reduce: inputs (x, dy, save_mean, save_invstd) → (dgamma, dbeta, sums [2C+1]).
inline void checkBatchNormBackwardReduce(const KernelContext& ctx) {
  ctx.expectArity(4, 3);
  const auto& in = ctx.inputs;
  const auto& out = ctx.outputs;
  const int64_t c = expectImages(ctx, {{&in[1], "dy"}});
  expectVectors(ctx, c, {{&in[2], "save_mean"}, {&in[3], "save_invstd"}, {&out[0], "dgamma"}, {&out[1], "dbeta"}});
  expectVectors(ctx, 2 * c + 1, {{&out[2], "sums"}});
}

// batchnorm_backward_apply: inputs (x, dy, gamma, save_mean, save_invstd, sums, stats) → dx.
inline void checkBatchNormBackwardApply(const KernelContext& ctx) {
  ctx.expectArity(7, 1);
  const auto& in = ctx.inputs;
  const int64_t c = expectImages(ctx, {{&in[1], "dy"}, {&ctx.outputs[0], "dx"}});
  expectVectors(ctx, c, {{&in[2], "gamma"}, {&in[3], "save_mean"}, {&in[4], "save_invstd"}});
  expectVectors(ctx, 2 * c + 1, {{&in[5], "sums"}, {&in[6], "stats"}});
}

// The message both backends throw when the group's count per channel is below 2 (batchnorm_apply_training).
inline std::string syncBatchNormCountMessage(double count) {
  return "training needs more than one value per channel over all replicas but the group holds " +
         std::to_string(static_cast<int64_t>(count));
}

}  // namespace rn::ops
