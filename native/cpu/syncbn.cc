// Synchronised batch norm on the CPU (NCHW): the training forward and backward split in two around an
// all-reduce, so batch statistics and their gradient terms are summed over every replica of a group.
//
//   forward:  batchnorm_stats → allreduce_mean(stats, sum) → batchnorm_apply_training
//   backward: batchnorm_backward_reduce → allreduce_mean(sums, sum) → batchnorm_backward_apply
//
// stats [2C+1] = Σ(x − p) per channel, Σ(x − p)² per channel, then the element count per channel, with the
// pivot p = running_mean: the shifted sums keep E[d²] − E[d]² accurate when |mean| ≫ std, and under SyncBN
// every replica holds the same running statistics, so the pivot is common to all of them.
// sums [2C+1] = Σdy per channel, then Σdy·x̂ per channel (x̂ = (x − mean)·invstd with the group's mean and invstd),
// then an unused 0: the layout of stats, so the backward pass allocates it like stats.
#include <algorithm>
#include <cmath>

#include "../core/kernel.h"
#include "../ops/batchnorm_shapes.h"
#include "batchnorm_loops.h"

namespace rn::cpu {
namespace {

// x viewed as N planes of HW elements per channel (native/ops/batchnorm_shapes.h).
using ops::ChannelPlanes;
using ops::planesOf;

// Inputs (x, running_mean); output stats [2C+1].
class BatchNormStats : public Kernel {
 public:
  explicit BatchNormStats(ChannelPlanes planes) : planes_(planes) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();      // (N, C, H, W)
    const float* pivot = a.in[1].f32();  // (C) running_mean
    float* stats = a.out[0].f32();       // (2C + 1)
    const ChannelPlanes p = planes_;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < p.C; ++c) {
      const float shift = pivot[c];
      double sum = 0, sumSq = 0;
      for (int64_t n = 0; n < p.N; ++n) {
        const float* plane = x + p.plane(n, c);
        float planeSum = 0, planeSumSq = 0;
#pragma omp simd reduction(+ : planeSum, planeSumSq)
        for (int64_t i = 0; i < p.HW; ++i) {
          const float d = plane[i] - shift;
          planeSum += d;
          planeSumSq += d * d;
        }
        sum += planeSum;
        sumSq += planeSumSq;
      }
      stats[c] = static_cast<float>(sum);
      stats[p.C + c] = static_cast<float>(sumSq);
    }
    stats[2 * p.C] = static_cast<float>(p.count());
  }

 private:
  ChannelPlanes planes_;
};

// Inputs (x, gamma, beta, running_mean, running_var, stats summed over the group);
// outputs (y, running_mean, running_var, save_mean, save_invstd) — the running statistics in place.
class BatchNormApplyTraining : public Kernel {
 public:
  BatchNormApplyTraining(std::string op, ChannelPlanes planes, double eps, double momentum)
      : op_(std::move(op)), planes_(planes), eps_(eps), momentum_(momentum) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();  // (N, C, H, W)
    const float* gamma = a.in[1].f32();
    const float* beta = a.in[2].f32();
    const float* runningMeanIn = a.in[3].f32();  // also the pivot of stats
    const float* runningVarIn = a.in[4].f32();
    const float* stats = a.in[5].f32();  // (2C + 1)
    float* y = a.out[0].f32();           // (N, C, H, W)
    float* runningMean = a.out[1].f32();
    float* runningVar = a.out[2].f32();
    float* saveMean = a.out[3].f32();
    float* saveInvStd = a.out[4].f32();
    const ChannelPlanes p = planes_;
    const double count = stats[2 * p.C];
    RN_CHECK(count >= 2, code::kInvalidArgument, op_, ops::syncBatchNormCountMessage(count));
    const double unbias = count / (count - 1);
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < p.C; ++c) {
      const double shiftedMean = stats[c] / count;
      const double mean = runningMeanIn[c] + shiftedMean;
      const double var = std::max(stats[p.C + c] / count - shiftedMean * shiftedMean, 0.0);
      const double invStd = 1.0 / std::sqrt(var + eps_);
      const double scale = gamma[c] * invStd;
      const float fScale = static_cast<float>(scale), fShift = static_cast<float>(beta[c] - mean * scale);
      scaleShiftChannel(x, y, p, c, fScale, fShift);
      saveMean[c] = static_cast<float>(mean);
      saveInvStd[c] = static_cast<float>(invStd);
      runningMean[c] = static_cast<float>((1 - momentum_) * runningMeanIn[c] + momentum_ * mean);
      runningVar[c] = static_cast<float>((1 - momentum_) * runningVarIn[c] + momentum_ * var * unbias);
    }
  }

 private:
  std::string op_;
  ChannelPlanes planes_;
  double eps_, momentum_;
};

// Inputs (x, dy, save_mean, save_invstd); outputs (dgamma, dbeta, sums [2C+1]): this replica's Σdy·x̂ and Σdy,
// the first two being its share of the parameter gradients (the gradient all-reduce adds the others').
class BatchNormBackwardReduce : public Kernel {
 public:
  explicit BatchNormBackwardReduce(ChannelPlanes planes) : planes_(planes) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();   // (N, C, H, W)
    const float* dy = a.in[1].f32();  // (N, C, H, W)
    const float* saveMean = a.in[2].f32();
    const float* saveInvStd = a.in[3].f32();
    float* dgamma = a.out[0].f32();
    float* dbeta = a.out[1].f32();
    float* sums = a.out[2].f32();  // (2C + 1)
    const ChannelPlanes p = planes_;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < p.C; ++c) {
      const float mean = saveMean[c];
      const DySums s = channelDySums(x, dy, p, c, mean);
      const double sumDy = s.dy, sumDyCentered = s.dyCentered;
      dbeta[c] = sums[c] = static_cast<float>(sumDy);
      dgamma[c] = sums[p.C + c] = static_cast<float>(sumDyCentered * saveInvStd[c]);
    }
    sums[2 * p.C] = 0;
  }

 private:
  ChannelPlanes planes_;
};

// Inputs (x, dy, gamma, save_mean, save_invstd, sums summed over the group, stats); output dx:
// dx = gamma·invstd·(dy − Σdy/M − x̂·Σdy·x̂/M) with M the group's element count per channel,
// evaluated as dx = a·dy + b·x + k per channel.
class BatchNormBackwardApply : public Kernel {
 public:
  explicit BatchNormBackwardApply(ChannelPlanes planes) : planes_(planes) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();   // (N, C, H, W)
    const float* dy = a.in[1].f32();  // (N, C, H, W)
    const float* gamma = a.in[2].f32();
    const float* saveMean = a.in[3].f32();
    const float* saveInvStd = a.in[4].f32();
    const float* sums = a.in[5].f32();   // (2C + 1)
    const float* stats = a.in[6].f32();  // (2C + 1): only the count is read
    float* dx = a.out[0].f32();          // (N, C, H, W)
    const ChannelPlanes p = planes_;
    const double count = stats[2 * p.C];
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < p.C; ++c) {
      const double invStd = saveInvStd[c];
      const double da = gamma[c] * invStd;
      const double db = -da * invStd * sums[p.C + c] / count;
      const float fa = static_cast<float>(da), fb = static_cast<float>(db);
      const float k = static_cast<float>(-da * sums[c] / count - db * saveMean[c]);
      affineBackwardChannel(x, dy, dx, p, c, fa, fb, k);
    }
  }

 private:
  ChannelPlanes planes_;
};

std::unique_ptr<Kernel> makeStats(const KernelContext& ctx) {
  ops::checkBatchNormStats(ctx);
  return std::make_unique<BatchNormStats>(planesOf(ctx.inputs[0].shape));
}

std::unique_ptr<Kernel> makeApplyTraining(const KernelContext& ctx) {
  const ops::BatchNormTrainingParams p = ops::checkBatchNormApplyTraining(ctx);
  return std::make_unique<BatchNormApplyTraining>(ctx.op, planesOf(ctx.inputs[0].shape), p.eps, p.momentum);
}

std::unique_ptr<Kernel> makeBackwardReduce(const KernelContext& ctx) {
  ops::checkBatchNormBackwardReduce(ctx);
  return std::make_unique<BatchNormBackwardReduce>(planesOf(ctx.inputs[0].shape));
}

std::unique_ptr<Kernel> makeBackwardApply(const KernelContext& ctx) {
  ops::checkBatchNormBackwardApply(ctx);
  return std::make_unique<BatchNormBackwardApply>(planesOf(ctx.inputs[0].shape));
}

RN_REGISTER_KERNEL("cpu", "batchnorm_stats", makeStats);
RN_REGISTER_KERNEL("cpu", "batchnorm_apply_training", makeApplyTraining);
RN_REGISTER_KERNEL("cpu", "batchnorm_backward_reduce", makeBackwardReduce);
RN_REGISTER_KERNEL("cpu", "batchnorm_backward_apply", makeBackwardApply);

}  // namespace
}  // namespace rn::cpu
