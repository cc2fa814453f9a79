// Synchronised batch norm on CUDA (NCHW float32): the four ops of native/cpu/syncbn.cc with the same operands,
// attributes, checks (native/ops/batchnorm_shapes.h) and arithmetic.
//
//   forward:  batchnorm_stats → allreduce_mean(stats, sum) → batchnorm_apply_training
//   backward: batchnorm_backward_reduce → allreduce_mean(sums, sum) → batchnorm_backward_apply
//
// Per-channel sums are deterministic: one block per channel, each thread accumulating a fixed subset of the
// channel's elements in double (the CPU: float within a plane, double across planes), then a fixed-order tree
// reduction in shared memory; no atomics, so every run gives the same bits. Per-channel coefficients are
// computed in double as on the CPU, then applied element-wise in float. The statistics are read on the device
// (they come from an all-reduce on the device); the one data check, a group count below 2, goes through a
// DataReport so that batchnorm_apply_training throws the CPU's error (one stream synchronisation per run).
#include <cmath>
#include <cstring>
#include <memory>

#include "../core/kernel.h"
#include "../ops/batchnorm_shapes.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

using ops::ChannelPlanes;
using ops::planesOf;

constexpr int kReduceThreads = 256;  // a power of two: the tree reduction halves it

// Walks this thread's elements of channel c (j = threadIdx.x, + blockDim.x, …, of the channel's N·HW values, plane
// n = j / HW, offset i = j % HW) without a 64-bit division per element.
struct ChannelWalk {
  int64_t n, i, dn, di;
  __device__ __forceinline__ ChannelWalk(int64_t HW) {
    n = threadIdx.x / HW;
    i = threadIdx.x - n * HW;
    dn = blockDim.x / HW;
    di = blockDim.x - dn * HW;
  }
  __device__ __forceinline__ int64_t element(int64_t c, int64_t C, int64_t HW) const { return (n * C + c) * HW + i; }
  __device__ __forceinline__ void next(int64_t HW) {
    n += dn;
    i += di;
    if (i >= HW) {
      i -= HW;
      ++n;
    }
  }
};

// Sums two doubles per thread over the block in a fixed order; thread 0 ends with the totals.
__device__ __forceinline__ void blockSum2(double* shared, double& a, double& b) {
  const int t = threadIdx.x;
  shared[t] = a;
  shared[blockDim.x + t] = b;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) {
      shared[t] += shared[t + s];
      shared[blockDim.x + t] += shared[blockDim.x + t + s];
    }
    __syncthreads();
  }
  a = shared[0];
  b = shared[blockDim.x];
}

// One block per channel (blockIdx.x = c, gridDim.x = max(C, 1)): stats[c] = Σ(x − p), stats[C + c] = Σ(x − p)²
// with the pivot p = running_mean[c]; block 0 also writes the count stats[2C].
__global__ void statsKernel(const float* x, const float* pivot, float* stats, int64_t C, int64_t HW, int64_t perChannel,
                            float count) {
  __shared__ double shared[2 * kReduceThreads];
  const int64_t c = blockIdx.x;
  if (c == 0 && threadIdx.x == 0) stats[2 * C] = count;
  if (c >= C) return;  // C = 0: the one block only writes the count
  const float shift = pivot[c];
  double sum = 0, sumSq = 0;
  if (perChannel > 0) {
    ChannelWalk w(HW);
    for (int64_t j = threadIdx.x; j < perChannel; j += blockDim.x, w.next(HW)) {
      const float d = x[w.element(c, C, HW)] - shift;
      sum += d;
      sumSq += static_cast<double>(d * d);  // d·d in float, as on the CPU
    }
  }
  blockSum2(shared, sum, sumSq);
  if (threadIdx.x == 0) {
    stats[c] = static_cast<float>(sum);
    stats[C + c] = static_cast<float>(sumSq);
  }
}

// batchnorm_apply_training, per channel (grid-stride over C): mean and variance from the group's sums, the saved
// and running statistics, and y's scale and shift (coeffs[2c], coeffs[2c + 1]). A count below 2 (or NaN) writes
// nothing and is reported: word 0 = 1, word 1 = the count's float bits.
__global__ void applyChannelKernel(const float* gamma, const float* beta, const float* runningMeanIn,
                                   const float* runningVarIn, const float* stats, float* runningMean, float* runningVar,
                                   float* saveMean, float* saveInvStd, float* coeffs, int64_t C, double eps,
                                   double momentum, unsigned long long* report) {
  const float countValue = stats[2 * C];
  const double count = countValue;
  if (!(count >= 2)) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
      report[0] = 1;
      report[1] = __float_as_uint(countValue);
    }
    return;
  }
  const double unbias = count / (count - 1);
  RN_GRID_STRIDE(c, C) {
    const double pivot = runningMeanIn[c], oldVar = runningVarIn[c];
    const double shiftedMean = stats[c] / count;
    const double mean = pivot + shiftedMean;
    const double var = fmax(stats[C + c] / count - shiftedMean * shiftedMean, 0.0);
    const double invStd = 1.0 / sqrt(var + eps);
    const double scale = gamma[c] * invStd;
    coeffs[2 * c] = static_cast<float>(scale);
    coeffs[2 * c + 1] = static_cast<float>(beta[c] - mean * scale);
    saveMean[c] = static_cast<float>(mean);
    saveInvStd[c] = static_cast<float>(invStd);
    runningMean[c] = static_cast<float>((1 - momentum) * pivot + momentum * mean);
    runningVar[c] = static_cast<float>((1 - momentum) * oldVar + momentum * var * unbias);
  }
}

// y = x·scale[c] + shift[c], skipped (like the channel kernel) when the group's count is below 2.
__global__ void scaleShiftKernel(const float* x, const float* coeffs, const float* stats, float* y, int64_t C,
                                 int64_t HW, int64_t n) {
  if (!(stats[2 * C] >= 2.0f)) return;
  RN_GRID_STRIDE(i, n) {
    const int64_t c = (i / HW) % C;
    y[i] = __fadd_rn(__fmul_rn(x[i], coeffs[2 * c]), coeffs[2 * c + 1]);
  }
}

// One block per channel: dbeta[c] = sums[c] = Σdy, dgamma[c] = sums[C + c] = Σdy·(x − mean)·invstd; block 0 also
// writes the unused sums[2C] = 0.
__global__ void backwardReduceKernel(const float* x, const float* dy, const float* saveMean, const float* saveInvStd,
                                     float* dgamma, float* dbeta, float* sums, int64_t C, int64_t HW,
                                     int64_t perChannel) {
  __shared__ double shared[2 * kReduceThreads];
  const int64_t c = blockIdx.x;
  if (c == 0 && threadIdx.x == 0) sums[2 * C] = 0.0f;
  if (c >= C) return;
  const float mean = saveMean[c];
  double sumDy = 0, sumDyCentered = 0;
  if (perChannel > 0) {
    ChannelWalk w(HW);
    for (int64_t j = threadIdx.x; j < perChannel; j += blockDim.x, w.next(HW)) {
      const int64_t e = w.element(c, C, HW);
      const float g = dy[e];
      sumDy += g;
      sumDyCentered += static_cast<double>(g * (x[e] - mean));  // the product in float, as on the CPU
    }
  }
  blockSum2(shared, sumDy, sumDyCentered);
  if (threadIdx.x == 0) {
    const float db = static_cast<float>(sumDy);
    const float dg = static_cast<float>(sumDyCentered * saveInvStd[c]);
    dbeta[c] = db;
    sums[c] = db;
    dgamma[c] = dg;
    sums[C + c] = dg;
  }
}

// batchnorm_backward_apply, per channel: dx = a·dy + b·x + k with a = gamma·invstd, b = −a·invstd·Σdy·x̂/M,
// k = −a·Σdy/M − b·mean (coeffs[3c … 3c + 2]), M = stats[2C] the group's count.
__global__ void backwardChannelKernel(const float* gamma, const float* saveMean, const float* saveInvStd,
                                      const float* sums, const float* stats, float* coeffs, int64_t C) {
  const double count = stats[2 * C];
  RN_GRID_STRIDE(c, C) {
    const double invStd = saveInvStd[c];
    const double da = gamma[c] * invStd;
    const double db = -da * invStd * sums[C + c] / count;
    coeffs[3 * c] = static_cast<float>(da);
    coeffs[3 * c + 1] = static_cast<float>(db);
    coeffs[3 * c + 2] = static_cast<float>(-da * sums[c] / count - db * saveMean[c]);
  }
}

__global__ void affineBackwardKernel(const float* x, const float* dy, const float* coeffs, float* dx, int64_t C,
                                     int64_t HW, int64_t n) {
  RN_GRID_STRIDE(i, n) {
    const int64_t c = (i / HW) % C;
    const float* k = coeffs + 3 * c;
    dx[i] = __fadd_rn(__fadd_rn(__fmul_rn(k[0], dy[i]), __fmul_rn(k[1], x[i])), k[2]);
  }
}

int channelBlocks(int64_t C) { return static_cast<int>(C > 0 ? C : 1); }

// Inputs (x, running_mean); output stats [2C+1].
class BatchNormStats : public Kernel {
 public:
  BatchNormStats(std::string op, ChannelPlanes planes) : op_(std::move(op)), p_(planes) {}

  void run(const KernelArgs& a) override {
    statsKernel<<<channelBlocks(p_.C), kReduceThreads, 0, cudaDevice(a.device).stream()>>>(
        a.in[0].f32(), a.in[1].f32(), a.out[0].f32(), p_.C, p_.HW, p_.count(), static_cast<float>(p_.count()));
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
  ChannelPlanes p_;
};

// Inputs (x, gamma, beta, running_mean, running_var, stats summed over the group);
// outputs (y, running_mean, running_var, save_mean, save_invstd) — the running statistics in place.
class BatchNormApplyTraining : public Kernel {
 public:
  BatchNormApplyTraining(std::string op, Device& device, ChannelPlanes planes, double eps, double momentum)
      : op_(std::move(op)), p_(planes), eps_(eps), momentum_(momentum), report_(device, op_) {}

  void run(const KernelArgs& a) override {
    CudaDevice& device = cudaDevice(a.device);
    cudaStream_t stream = device.stream();
    float* coeffs = static_cast<float*>(device.workspace(static_cast<size_t>(2 * (p_.C > 0 ? p_.C : 1)) * sizeof(float), op_));
    report_.reset(stream, 0);
    applyChannelKernel<<<blocksFor(p_.C > 0 ? p_.C : 1), kThreads, 0, stream>>>(
        a.in[1].f32(), a.in[2].f32(), a.in[3].f32(), a.in[4].f32(), a.in[5].f32(), a.out[1].f32(), a.out[2].f32(),
        a.out[3].f32(), a.out[4].f32(), coeffs, p_.C, eps_, momentum_, report_.words());
    RN_CUDA_LAUNCHED(op_);
    const int64_t n = p_.N * p_.C * p_.HW;
    if (n > 0) {
      scaleShiftKernel<<<blocksFor(n), kThreads, 0, stream>>>(a.in[0].f32(), coeffs, a.in[5].f32(), a.out[0].f32(), p_.C,
                                                              p_.HW, n);
      RN_CUDA_LAUNCHED(op_);
    }
    report_.wait(stream);
    if (report_.word(0) != 0) {
      const unsigned int bits = static_cast<unsigned int>(report_.word(1));
      float count = 0;
      static_assert(sizeof(count) == sizeof(bits), "float32 bits");
      std::memcpy(&count, &bits, sizeof(count));
      RN_THROW(code::kInvalidArgument, op_, ops::syncBatchNormCountMessage(count));
    }
  }

 private:
  std::string op_;
  ChannelPlanes p_;
  double eps_, momentum_;
  DataReport report_;
};

// Inputs (x, dy, save_mean, save_invstd); outputs (dgamma, dbeta, sums [2C+1]).
class BatchNormBackwardReduce : public Kernel {
 public:
  BatchNormBackwardReduce(std::string op, ChannelPlanes planes) : op_(std::move(op)), p_(planes) {}

  void run(const KernelArgs& a) override {
    backwardReduceKernel<<<channelBlocks(p_.C), kReduceThreads, 0, cudaDevice(a.device).stream()>>>(
        a.in[0].f32(), a.in[1].f32(), a.in[2].f32(), a.in[3].f32(), a.out[0].f32(), a.out[1].f32(), a.out[2].f32(), p_.C,
        p_.HW, p_.count());
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
  ChannelPlanes p_;
};

// Inputs (x, dy, gamma, save_mean, save_invstd, sums summed over the group, stats); output dx.
class BatchNormBackwardApply : public Kernel {
 public:
  BatchNormBackwardApply(std::string op, ChannelPlanes planes) : op_(std::move(op)), p_(planes) {}

  void run(const KernelArgs& a) override {
    const int64_t n = p_.N * p_.C * p_.HW;
    if (n == 0) return;  // no dx to write (and C > 0)
    CudaDevice& device = cudaDevice(a.device);
    cudaStream_t stream = device.stream();
    float* coeffs = static_cast<float*>(device.workspace(static_cast<size_t>(3 * p_.C) * sizeof(float), op_));
    backwardChannelKernel<<<blocksFor(p_.C), kThreads, 0, stream>>>(a.in[2].f32(), a.in[3].f32(), a.in[4].f32(),
                                                                    a.in[5].f32(), a.in[6].f32(), coeffs, p_.C);
    RN_CUDA_LAUNCHED(op_);
    affineBackwardKernel<<<blocksFor(n), kThreads, 0, stream>>>(a.in[0].f32(), a.in[1].f32(), coeffs, a.out[0].f32(),
                                                                p_.C, p_.HW, n);
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
  ChannelPlanes p_;
};

std::unique_ptr<Kernel> makeStats(const KernelContext& ctx) {
  ops::checkBatchNormStats(ctx);
  return std::make_unique<BatchNormStats>(ctx.op, planesOf(ctx.inputs[0].shape));
}

std::unique_ptr<Kernel> makeApplyTraining(const KernelContext& ctx) {
  const ops::BatchNormTrainingParams p = ops::checkBatchNormApplyTraining(ctx);
  return std::make_unique<BatchNormApplyTraining>(ctx.op, ctx.device, planesOf(ctx.inputs[0].shape), p.eps, p.momentum);
}

std::unique_ptr<Kernel> makeBackwardReduce(const KernelContext& ctx) {
  ops::checkBatchNormBackwardReduce(ctx);
  return std::make_unique<BatchNormBackwardReduce>(ctx.op, planesOf(ctx.inputs[0].shape));
}

std::unique_ptr<Kernel> makeBackwardApply(const KernelContext& ctx) {
  ops::checkBatchNormBackwardApply(ctx);
  return std::make_unique<BatchNormBackwardApply>(ctx.op, planesOf(ctx.inputs[0].shape));
}

RN_REGISTER_KERNEL("cuda", "batchnorm_stats", makeStats);
RN_REGISTER_KERNEL("cuda", "batchnorm_apply_training", makeApplyTraining);
RN_REGISTER_KERNEL("cuda", "batchnorm_backward_reduce", makeBackwardReduce);
RN_REGISTER_KERNEL("cuda", "batchnorm_backward_apply", makeBackwardApply);

}  // namespace
}  // namespace rn::cuda
