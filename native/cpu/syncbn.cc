// Synchronised batch norm on the CPU (NCHW or nChw16c, through the loops of batchnorm_loops.h): the training forward and backward split in two around an
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
#include <vector>

#include "../core/kernel.h"
#include "../ops/batchnorm_shapes.h"
#include "batchnorm_loops.h"

namespace rn::cpu {
namespace {

// x viewed as N planes of HW elements per channel (native/ops/batchnorm_shapes.h).
using ops::ChannelPlanes;
using ops::planesOf;

// The x geometry both layouts need; plain walks planes, nChw16c walks 16-channel blocks (batchnorm_loops.h).
struct Images {
  Images(const Shape& x, Layout layout)
      : planes(planesOf(x)), runs(blockRunsOf(x)), blocked(layout == Layout::Blocked16) {}
  ChannelPlanes planes;
  BlockRuns runs;
  bool blocked;
};

// Inputs (x, running_mean); output stats [2C+1].
class BatchNormStats : public Kernel {
 public:
  explicit BatchNormStats(Images images) : images_(images) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();      // (N, C, H, W)
    const float* pivot = a.in[1].f32();  // (C) running_mean
    float* stats = a.out[0].f32();       // (2C + 1)
    const ChannelPlanes p = images_.planes;
    stats[2 * p.C] = static_cast<float>(p.count());
    if (images_.blocked) {
      const BlockRuns r = images_.runs;
      forEachBlockTwoPass(
          r, 0,  // no rewrite pass
          [&](int64_t b, int64_t n0, int64_t n1, double* sum, double* sumSq) {
            blockMomentSums(x, r, b, n0, n1, pivot + b * kBlockChannels, sum, sumSq);
          },
          [&](int64_t b, const double* sum, const double* sumSq) {
            for (int64_t l = 0; l < kBlockChannels; ++l) {
              stats[b * kBlockChannels + l] = static_cast<float>(sum[l]);
              stats[p.C + b * kBlockChannels + l] = static_cast<float>(sumSq[l]);
            }
          },
          [](int64_t, int64_t, int64_t) {});
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < p.C; ++c) {
      const ShiftedSums sums = channelShiftedSums(x, p, c, pivot[c]);
      stats[c] = static_cast<float>(sums.sum);
      stats[p.C + c] = static_cast<float>(sums.sumSq);
    }
  }

 private:
  Images images_;
};

// y = x·scale[c] + shift[c] in either layout.
void scaleShift(const Images& images, const float* x, float* y, const std::vector<float>& scale,
                const std::vector<float>& shift) {
  if (images.blocked) {
    const BlockRuns r = images.runs;
    forEachBlockRun(r, [&](int64_t b, int64_t n0, int64_t n1) {
      scaleShiftBlock(x, y, r, b, n0, n1, scale.data() + b * kBlockChannels, shift.data() + b * kBlockChannels);
    });
    return;
  }
  const ChannelPlanes p = images.planes;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < p.C; ++c) scaleShiftChannel(x, y, p, c, scale[c], shift[c]);
}

// Inputs (x, gamma, beta, running_mean, running_var, stats summed over the group);
// outputs (y, running_mean, running_var, save_mean, save_invstd) — the running statistics in place.
class BatchNormApplyTraining : public Kernel {
 public:
  BatchNormApplyTraining(std::string op, Images images, double eps, double momentum)
      : op_(std::move(op)), images_(images), eps_(eps), momentum_(momentum) {}

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
    const int64_t channels = images_.planes.C;
    const double count = stats[2 * channels];
    RN_CHECK(count >= 2, code::kInvalidArgument, op_, ops::syncBatchNormCountMessage(count));
    const double unbias = count / (count - 1);
    std::vector<float> scale(static_cast<size_t>(channels)), shift(scale.size());
    for (int64_t c = 0; c < channels; ++c) {
      const double shiftedMean = stats[c] / count;
      const double mean = runningMeanIn[c] + shiftedMean;
      const double var = std::max(stats[channels + c] / count - shiftedMean * shiftedMean, 0.0);
      const double invStd = 1.0 / std::sqrt(var + eps_);
      const double s = gamma[c] * invStd;
      scale[c] = static_cast<float>(s);
      shift[c] = static_cast<float>(beta[c] - mean * s);
      saveMean[c] = static_cast<float>(mean);
      saveInvStd[c] = static_cast<float>(invStd);
      runningMean[c] = static_cast<float>((1 - momentum_) * runningMeanIn[c] + momentum_ * mean);
      runningVar[c] = static_cast<float>((1 - momentum_) * runningVarIn[c] + momentum_ * var * unbias);
    }
    scaleShift(images_, x, y, scale, shift);
  }

 private:
  std::string op_;
  Images images_;
  double eps_, momentum_;
};

// Inputs (x, dy, save_mean, save_invstd); outputs (dgamma, dbeta, sums [2C+1]): this replica's Σdy·x̂ and Σdy,
// the first two being its share of the parameter gradients (the gradient all-reduce adds the others').
class BatchNormBackwardReduce : public Kernel {
 public:
  explicit BatchNormBackwardReduce(Images images) : images_(images) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();   // (N, C, H, W)
    const float* dy = a.in[1].f32();  // (N, C, H, W)
    const float* saveMean = a.in[2].f32();
    const float* saveInvStd = a.in[3].f32();
    float* dgamma = a.out[0].f32();
    float* dbeta = a.out[1].f32();
    float* sums = a.out[2].f32();  // (2C + 1)
    const ChannelPlanes p = images_.planes;
    const auto finish = [&](int64_t c, double sumDy, double sumDyCentered) {
      dbeta[c] = sums[c] = static_cast<float>(sumDy);
      dgamma[c] = sums[p.C + c] = static_cast<float>(sumDyCentered * saveInvStd[c]);
    };
    sums[2 * p.C] = 0;
    if (images_.blocked) {
      const BlockRuns r = images_.runs;
      forEachBlockTwoPass(
          r, 0,  // no rewrite pass
          [&](int64_t b, int64_t n0, int64_t n1, double* sumDy, double* sumDyCentered) {
            blockDySums(x, dy, r, b, n0, n1, saveMean + b * kBlockChannels, sumDy, sumDyCentered);
          },
          [&](int64_t b, const double* sumDy, const double* sumDyCentered) {
            for (int64_t l = 0; l < kBlockChannels; ++l) finish(b * kBlockChannels + l, sumDy[l], sumDyCentered[l]);
          },
          [](int64_t, int64_t, int64_t) {});
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < p.C; ++c) {
      const DySums s = channelDySums(x, dy, p, c, saveMean[c]);
      finish(c, s.dy, s.dyCentered);
    }
  }

 private:
  Images images_;
};

// Inputs (x, dy, gamma, save_mean, save_invstd, sums summed over the group, stats); output dx:
// dx = gamma·invstd·(dy − Σdy/M − x̂·Σdy·x̂/M) with M the group's element count per channel,
// evaluated as dx = a·dy + b·x + k per channel.
class BatchNormBackwardApply : public Kernel {
 public:
  explicit BatchNormBackwardApply(Images images) : images_(images) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();   // (N, C, H, W)
    const float* dy = a.in[1].f32();  // (N, C, H, W)
    const float* gamma = a.in[2].f32();
    const float* saveMean = a.in[3].f32();
    const float* saveInvStd = a.in[4].f32();
    const float* sums = a.in[5].f32();   // (2C + 1)
    const float* stats = a.in[6].f32();  // (2C + 1): only the count is read
    float* dx = a.out[0].f32();          // (N, C, H, W)
    const ChannelPlanes p = images_.planes;
    const double count = stats[2 * p.C];
    std::vector<float> fa(static_cast<size_t>(p.C)), fb(fa.size()), k(fa.size());
    for (int64_t c = 0; c < p.C; ++c) {
      const double invStd = saveInvStd[c];
      const double da = gamma[c] * invStd;
      const double db = -da * invStd * sums[p.C + c] / count;
      fa[c] = static_cast<float>(da);
      fb[c] = static_cast<float>(db);
      k[c] = static_cast<float>(-da * sums[c] / count - db * saveMean[c]);
    }
    if (images_.blocked) {
      const BlockRuns r = images_.runs;
      forEachBlockRun(r, [&](int64_t b, int64_t n0, int64_t n1) {
        const int64_t at = b * kBlockChannels;
        affineBackwardBlock(x, dy, dx, r, b, n0, n1, fa.data() + at, fb.data() + at, k.data() + at);
      });
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < p.C; ++c) affineBackwardChannel(x, dy, dx, p, c, fa[c], fb[c], k[c]);
  }

 private:
  Images images_;
};

// x's geometry and the one layout of x and the listed images.
Images imagesOf(const KernelContext& ctx, const ops::NamedValues& images) {
  ops::NamedValues all{{&ctx.inputs[0], "x"}};
  all.insert(all.end(), images.begin(), images.end());
  return Images(ctx.inputs[0].shape, ctx.expectOneLayout(all));
}

std::unique_ptr<Kernel> makeStats(const KernelContext& ctx) {
  ops::checkBatchNormStats(ctx);
  return std::make_unique<BatchNormStats>(imagesOf(ctx, {}));
}

std::unique_ptr<Kernel> makeApplyTraining(const KernelContext& ctx) {
  const ops::BatchNormTrainingParams p = ops::checkBatchNormApplyTraining(ctx);
  return std::make_unique<BatchNormApplyTraining>(ctx.op, imagesOf(ctx, {{&ctx.outputs[0], "y"}}), p.eps, p.momentum);
}

std::unique_ptr<Kernel> makeBackwardReduce(const KernelContext& ctx) {
  ops::checkBatchNormBackwardReduce(ctx);
  return std::make_unique<BatchNormBackwardReduce>(imagesOf(ctx, {{&ctx.inputs[1], "dy"}}));
}

std::unique_ptr<Kernel> makeBackwardApply(const KernelContext& ctx) {
  ops::checkBatchNormBackwardApply(ctx);
  return std::make_unique<BatchNormBackwardApply>(imagesOf(ctx, {{&ctx.inputs[1], "dy"}, {&ctx.outputs[0], "dx"}}));
}

RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "batchnorm_stats", makeStats);
RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "batchnorm_apply_training", makeApplyTraining);
RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "batchnorm_backward_reduce", makeBackwardReduce);
RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "batchnorm_backward_apply", makeBackwardApply);

}  // namespace
}  // namespace rn::cpu
