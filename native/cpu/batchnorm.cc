// Batch norm 2d on the CPU (NCHW): training forward with running-stat update, inference forward, training backward.
//
// Plain OpenMP loops, parallel over channels: each thread reduces one channel's N planes and then rewrites them
// while they are still in its L2 cache. Measured against oneDNN 2.6, whose only NCHW f32 implementation is
// `ncsp_bnorm:any`, forward training + backward on one thread: 2.8 vs 16.0 ms at N16 C64 56x56, 2.4 vs 11.4 ms at
// N128 C16 32x32, 0.44 vs 2.1 ms at N16 C512 7x7.
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

struct Moments {
  double mean;
  double varBiased;
};

// Sums of (x - pivot) and its square, pivot = the channel's first element: the shifted-data form keeps
// E[d²] - E[d]² accurate when |mean| ≫ std, at the cost of one subtract.
Moments channelMoments(const float* x, const ChannelPlanes& p, int64_t c) {
  const float pivot = x[p.plane(0, c)];
  double sum = 0, sumSq = 0;
  for (int64_t n = 0; n < p.N; ++n) {
    const float* plane = x + p.plane(n, c);
    float planeSum = 0, planeSumSq = 0;
#pragma omp simd reduction(+ : planeSum, planeSumSq)
    for (int64_t i = 0; i < p.HW; ++i) {
      const float d = plane[i] - pivot;
      planeSum += d;
      planeSumSq += d * d;
    }
    sum += planeSum;
    sumSq += planeSumSq;
  }
  const double shiftedMean = sum / static_cast<double>(p.count());
  const double var = std::max(sumSq / static_cast<double>(p.count()) - shiftedMean * shiftedMean, 0.0);
  return {pivot + shiftedMean, var};
}

class BatchNormForwardTraining : public Kernel {
 public:
  BatchNormForwardTraining(ChannelPlanes planes, double eps, double momentum)
      : planes_(planes), eps_(eps), momentum_(momentum) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();      // (N, C, H, W)
    const float* gamma = a.in[1].f32();  // (C)
    const float* beta = a.in[2].f32();   // (C)
    const float* runningMeanIn = a.in[3].f32();
    const float* runningVarIn = a.in[4].f32();
    float* y = a.out[0].f32();                // (N, C, H, W)
    float* runningMean = a.out[1].f32();      // (C), normally the same buffer as input 3
    float* runningVar = a.out[2].f32();       // (C), normally the same buffer as input 4
    float* saveMean = a.out[3].f32();         // (C)
    float* saveInvStd = a.out[4].f32();       // (C)
    const ChannelPlanes p = planes_;
    const double unbias = static_cast<double>(p.count()) / static_cast<double>(p.count() - 1);
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < p.C; ++c) {
      const Moments m = channelMoments(x, p, c);
      const double invStd = 1.0 / std::sqrt(m.varBiased + eps_);
      const double scale = gamma[c] * invStd;
      scaleShiftChannel(x, y, p, c, static_cast<float>(scale), static_cast<float>(beta[c] - m.mean * scale));
      saveMean[c] = static_cast<float>(m.mean);
      saveInvStd[c] = static_cast<float>(invStd);
      runningMean[c] = static_cast<float>((1 - momentum_) * runningMeanIn[c] + momentum_ * m.mean);
      runningVar[c] = static_cast<float>((1 - momentum_) * runningVarIn[c] + momentum_ * m.varBiased * unbias);
    }
  }

 private:
  ChannelPlanes planes_;
  double eps_, momentum_;
};

class BatchNormForwardInference : public Kernel {
 public:
  BatchNormForwardInference(ChannelPlanes planes, double eps) : planes_(planes), eps_(eps) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();  // (N, C, H, W)
    const float* gamma = a.in[1].f32();
    const float* beta = a.in[2].f32();
    const float* runningMean = a.in[3].f32();
    const float* runningVar = a.in[4].f32();
    float* y = a.out[0].f32();  // (N, C, H, W)
    const ChannelPlanes p = planes_;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < p.C; ++c) {
      const double scale = gamma[c] / std::sqrt(static_cast<double>(runningVar[c]) + eps_);
      scaleShiftChannel(x, y, p, c, static_cast<float>(scale), static_cast<float>(beta[c] - runningMean[c] * scale));
    }
  }

 private:
  ChannelPlanes planes_;
  double eps_;
};

// With x̂ = (x - mean)·invstd and M = N·H·W: dbeta = Σdy, dgamma = Σdy·x̂,
// dx = gamma·invstd·(dy - dbeta/M - x̂·dgamma/M), evaluated as dx = a·dy + b·x + k per channel.
class BatchNormBackward : public Kernel {
 public:
  explicit BatchNormBackward(ChannelPlanes planes) : planes_(planes) {}

  void run(const KernelArgs& a) override {
    const float* x = a.in[0].f32();   // (N, C, H, W)
    const float* dy = a.in[1].f32();  // (N, C, H, W)
    const float* gamma = a.in[2].f32();
    const float* saveMean = a.in[3].f32();
    const float* saveInvStd = a.in[4].f32();
    float* dx = a.out[0].f32();  // (N, C, H, W)
    float* dgamma = a.out[1].f32();
    float* dbeta = a.out[2].f32();
    const ChannelPlanes p = planes_;
    const double count = static_cast<double>(p.count());
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < p.C; ++c) {
      const float mean = saveMean[c];
      const DySums s = channelDySums(x, dy, p, c, mean);
      const double sumDy = s.dy, sumDyCentered = s.dyCentered;
      const double invStd = saveInvStd[c];
      dbeta[c] = static_cast<float>(sumDy);
      dgamma[c] = static_cast<float>(sumDyCentered * invStd);
      const double da = gamma[c] * invStd;
      const double db = -da * invStd * invStd * sumDyCentered / count;
      const float fa = static_cast<float>(da), fb = static_cast<float>(db);
      const float k = static_cast<float>(-da * sumDy / count - db * mean);
      affineBackwardChannel(x, dy, dx, p, c, fa, fb, k);
    }
  }

 private:
  ChannelPlanes planes_;
};

std::unique_ptr<Kernel> makeForwardTraining(const KernelContext& ctx) {
  const ops::BatchNormTrainingParams p = ops::checkBatchNormForwardTraining(ctx);
  return std::make_unique<BatchNormForwardTraining>(planesOf(ctx.inputs[0].shape), p.eps, p.momentum);
}

std::unique_ptr<Kernel> makeForwardInference(const KernelContext& ctx) {
  const double eps = ops::checkBatchNormForwardInference(ctx);
  return std::make_unique<BatchNormForwardInference>(planesOf(ctx.inputs[0].shape), eps);
}

std::unique_ptr<Kernel> makeBackward(const KernelContext& ctx) {
  // eps is checked as part of the op's contract; here save_invstd already folds it in.
  ops::checkBatchNormBackward(ctx);
  return std::make_unique<BatchNormBackward>(planesOf(ctx.inputs[0].shape));
}

RN_REGISTER_KERNEL("cpu", "batchnorm_forward_training", makeForwardTraining);
RN_REGISTER_KERNEL("cpu", "batchnorm_forward_inference", makeForwardInference);
RN_REGISTER_KERNEL("cpu", "batchnorm_backward", makeBackward);

}  // namespace
}  // namespace rn::cpu
