// Optimizer updates on CUDA with the CPU kernels' torch.optim (PyTorch 2.x) semantics, in place on flat float32
// buffers: the same signatures, attributes, defaults, float32 operation order, and step-derived scalars in
// double (see native/cpu/optim.cc for the table of ops).
//
// `hyper` = [lr, step] stays on the device: thread 0 of each block reads and checks it and derives the step's
// scalars into shared memory, so a compiled program needs no host round trip when the schedule changes. A bad
// hyper leaves every buffer untouched and is reported through a DataReport, which the op reads after a stream
// synchronisation to throw the CPU's RN_INVALID_ARGUMENT (one sync per update op; a step has two: the decayed
// and the undecayed parameter groups).
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../core/kernel.h"
#include "../ops/optim_params.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

using ops::number;

// Report words: 0 = what was wrong (0 nothing, 1 the learning rate, 2 the step), 1 and 2 = lr and step bits.
enum BadHyper : unsigned long long { kHyperOk = 0, kBadLr = 1, kBadStep = 2 };

// torch's lerp (ATen/native/Lerp.h): start + w·(end − start) for |w| < 0.5, else end − (end − start)·(1 − w).
__device__ __forceinline__ float lerp(float start, float end, float w) {
  return fabsf(w) < 0.5f ? start + w * (end - start) : end - (end - start) * (1.0f - w);
}

// Runs rule.apply(i, scalars) over [0, n) when hyper is valid; rule.derive(lr, step) gives the step's scalars.
template <class Rule>
__global__ void updateKernel(Rule rule, const float* hyper, int64_t n, unsigned long long* report) {
  __shared__ typename Rule::Scalars scalars;
  __shared__ bool valid;
  if (threadIdx.x == 0) {
    const float lr = hyper[0], step = hyper[1];
    unsigned long long bad = kHyperOk;
    if (!(isfinite(lr) && lr >= 0.0f)) {
      bad = kBadLr;
    } else if (!(isfinite(step) && step >= 1.0f && floorf(step) == step)) {
      bad = kBadStep;
    }
    valid = bad == kHyperOk;
    if (valid) {
      scalars = rule.derive(lr, static_cast<double>(step));
    } else if (blockIdx.x == 0) {
      report[1] = __float_as_uint(lr);
      report[2] = __float_as_uint(step);
      report[0] = bad;
    }
  }
  __syncthreads();
  if (!valid) return;
  RN_GRID_STRIDE(i, n) { rule.apply(i, scalars); }
}

// ---------------------------------------------------------------------------------------------------- SGD

struct SgdRule {
  struct Scalars {
    float lr;
    bool first;
  };
  const float* param;
  const float* grad;
  const float* bufIn;
  float* paramOut;
  float* bufOut;
  float momentum, oneMinusDampening, weightDecay;
  bool nesterov;

  // Inputs (param, grad, momentum_buf, hyper) → (param, momentum_buf).
  size_t hyperInput() const { return 3; }
  void bind(const KernelArgs& a) {
    param = a.in[0].f32();
    grad = a.in[1].f32();
    bufIn = a.in[2].f32();
    paramOut = a.out[0].f32();
    bufOut = a.out[1].f32();
  }
  __device__ Scalars derive(float lr, double step) const { return {lr, step == 1.0}; }
  __device__ void apply(int64_t i, const Scalars& s) const {
    const float p = param[i];
    float g = grad[i];
    if (weightDecay != 0.0f) g = g + weightDecay * p;
    if (momentum != 0.0f) {
      const float b = s.first ? g : bufIn[i] * momentum + oneMinusDampening * g;
      bufOut[i] = b;
      g = nesterov ? g + momentum * b : b;
    }
    paramOut[i] = p + -s.lr * g;
  }
};

// ------------------------------------------------------------------------------------------------ RMSprop

struct RmspropRule {
  struct Scalars {
    float lr;
  };
  const float* param;
  const float* grad;
  const float* sqIn;
  const float* bufIn;
  const float* gaIn;  // centered only
  float* paramOut;
  float* sqOut;
  float* bufOut;
  float* gaOut;  // centered only
  float alpha, oneMinusAlpha, eps, weightDecay, momentum;
  bool centered;

  // Inputs (param, grad, square_avg, momentum_buf[, grad_avg], hyper) → (param, square_avg, momentum_buf[, grad_avg]).
  size_t hyperInput() const { return centered ? 5 : 4; }
  void bind(const KernelArgs& a) {
    param = a.in[0].f32();
    grad = a.in[1].f32();
    sqIn = a.in[2].f32();
    bufIn = a.in[3].f32();
    gaIn = centered ? a.in[4].f32() : nullptr;
    paramOut = a.out[0].f32();
    sqOut = a.out[1].f32();
    bufOut = a.out[2].f32();
    gaOut = centered ? a.out[3].f32() : nullptr;
  }
  __device__ Scalars derive(float lr, double) const { return {lr}; }
  __device__ void apply(int64_t i, const Scalars& s) const {
    const float p = param[i];
    float g = grad[i];
    if (weightDecay != 0.0f) g = g + weightDecay * p;
    const float sq = sqIn[i] * alpha + oneMinusAlpha * g * g;  // square_avg.mul_(alpha).addcmul_(g, g, 1 − alpha)
    sqOut[i] = sq;
    float avg;
    if (centered) {
      const float ga = lerp(gaIn[i], g, oneMinusAlpha);  // grad_avg.lerp_(g, 1 − alpha)
      gaOut[i] = ga;
      avg = sqrtf(sq + -1.0f * ga * ga);
    } else {
      avg = sqrtf(sq);
    }
    avg = avg + eps;
    if (momentum > 0.0f) {
      const float b = bufIn[i] * momentum + g / avg;  // buf.mul_(momentum).addcdiv_(g, avg)
      bufOut[i] = b;
      paramOut[i] = p + -s.lr * b;
    } else {
      paramOut[i] = p + -s.lr * g / avg;
    }
  }
};

// ----------------------------------------------------------------------------------------------- Adadelta

struct AdadeltaRule {
  struct Scalars {
    float lr;
  };
  const float* param;
  const float* grad;
  const float* sqIn;
  const float* accIn;
  float* paramOut;
  float* sqOut;
  float* accOut;
  float rho, oneMinusRho, eps, weightDecay;

  // Inputs (param, grad, square_avg, acc_delta, hyper) → (param, square_avg, acc_delta).
  size_t hyperInput() const { return 4; }
  void bind(const KernelArgs& a) {
    param = a.in[0].f32();
    grad = a.in[1].f32();
    sqIn = a.in[2].f32();
    accIn = a.in[3].f32();
    paramOut = a.out[0].f32();
    sqOut = a.out[1].f32();
    accOut = a.out[2].f32();
  }
  __device__ Scalars derive(float lr, double) const { return {lr}; }
  __device__ void apply(int64_t i, const Scalars& s) const {
    const float p = param[i];
    float g = grad[i];
    if (weightDecay != 0.0f) g = g + weightDecay * p;
    const float sq = sqIn[i] * rho + oneMinusRho * g * g;
    sqOut[i] = sq;
    const float sd = sqrtf(sq + eps);
    const float acc = accIn[i];
    const float delta = sqrtf(acc + eps) / sd * g;
    accOut[i] = acc * rho + oneMinusRho * delta * delta;
    paramOut[i] = p + -s.lr * delta;
  }
};

// ------------------------------------------------------------------------------------------------ Adagrad

struct AdagradRule {
  struct Scalars {
    float negClr;
  };
  const float* param;
  const float* grad;
  const float* sumIn;
  float* paramOut;
  float* sumOut;
  double lrDecay;
  float eps, weightDecay;

  // Inputs (param, grad, state_sum, hyper) → (param, state_sum).
  size_t hyperInput() const { return 3; }
  void bind(const KernelArgs& a) {
    param = a.in[0].f32();
    grad = a.in[1].f32();
    sumIn = a.in[2].f32();
    paramOut = a.out[0].f32();
    sumOut = a.out[1].f32();
  }

  // clr = lr / (1 + (step − 1)·lr_decay), in double like torch's Python scalar math.
  __device__ Scalars derive(float lr, double step) const {
    return {static_cast<float>(-static_cast<double>(lr) / (1.0 + (step - 1.0) * lrDecay))};
  }
  __device__ void apply(int64_t i, const Scalars& s) const {
    const float p = param[i];
    float g = grad[i];
    if (weightDecay != 0.0f) g = g + weightDecay * p;
    const float sum = sumIn[i] + 1.0f * g * g;
    sumOut[i] = sum;
    const float sd = sqrtf(sum) + eps;
    paramOut[i] = p + s.negClr * g / sd;
  }
};

// ------------------------------------------------------------------------------------------- Adam, AdamW

struct AdamRule {
  struct Scalars {
    float negStepSize, bc2Sqrt, shrink;
  };
  const float* param;
  const float* grad;
  const float* mIn;
  const float* vIn;
  const float* vmaxIn;  // amsgrad only
  float* paramOut;
  float* mOut;
  float* vOut;
  float* vmaxOut;  // amsgrad only
  double beta1, beta2, weightDecay;  // for the step's scalars
  float oneMinusBeta1, beta2f, oneMinusBeta2, weightDecayf, eps;
  bool amsgrad, decoupled;

  // Inputs (param, grad, exp_avg, exp_avg_sq[, max_exp_avg_sq], hyper) → (param, exp_avg, exp_avg_sq[, max…]).
  size_t hyperInput() const { return amsgrad ? 5 : 4; }
  void bind(const KernelArgs& a) {
    param = a.in[0].f32();
    grad = a.in[1].f32();
    mIn = a.in[2].f32();
    vIn = a.in[3].f32();
    vmaxIn = amsgrad ? a.in[4].f32() : nullptr;
    paramOut = a.out[0].f32();
    mOut = a.out[1].f32();
    vOut = a.out[2].f32();
    vmaxOut = amsgrad ? a.out[3].f32() : nullptr;
  }

  __device__ Scalars derive(float lrFloat, double step) const {
    const double lr = lrFloat;
    const double biasCorrection1 = 1.0 - pow(beta1, step);
    const double biasCorrection2 = 1.0 - pow(beta2, step);
    return {static_cast<float>(-(lr / biasCorrection1)), static_cast<float>(sqrt(biasCorrection2)),
            static_cast<float>(1.0 - lr * weightDecay)};  // AdamW: param.mul_(1 − lr·wd)
  }
  __device__ void apply(int64_t i, const Scalars& s) const {
    float p = param[i];
    float g = grad[i];
    if (weightDecay != 0.0) {
      if (decoupled) {
        p = p * s.shrink;
      } else {
        g = g + weightDecayf * p;
      }
    }
    const float m = lerp(mIn[i], g, oneMinusBeta1);  // exp_avg.lerp_(g, 1 − beta1)
    mOut[i] = m;
    const float v = vIn[i] * beta2f + oneMinusBeta2 * g * g;
    vOut[i] = v;
    float vHat = v;
    if (amsgrad) {
      vHat = vmaxIn[i] < v ? v : vmaxIn[i];  // torch.maximum(max_exp_avg_sq, exp_avg_sq)
      vmaxOut[i] = vHat;
    }
    const float denom = sqrtf(vHat) / s.bc2Sqrt + eps;
    paramOut[i] = p + s.negStepSize * m / denom;
  }
};

// ------------------------------------------------------------------------------------------- the kernels

float floatFromBits(unsigned long long bits) {
  const uint32_t word = static_cast<uint32_t>(bits);
  float f;
  std::memcpy(&f, &word, sizeof f);
  return f;
}

// Launches a rule's update over the op's buffers and throws the CPU's message when the report says hyper was bad.
template <class Rule>
class Update : public Kernel {
 public:
  Update(std::string op, Device& device, Rule rule) : op_(std::move(op)), rule_(rule), report_(device, op_) {}

  void run(const KernelArgs& a) override {
    const int64_t n = a.in[0].numel();
    cudaStream_t stream = cudaDevice(a.device).stream();
    Rule rule = rule_;
    rule.bind(a);
    report_.reset(stream, 0);
    // At least one block, so that an empty buffer still has its hyper checked, as on the CPU.
    updateKernel<<<std::max(1, blocksFor(n)), kThreads, 0, stream>>>(rule, a.in[rule_.hyperInput()].f32(), n,
                                                                     report_.words());
    RN_CUDA_LAUNCHED(op_);
    report_.wait(stream);
    const float lr = floatFromBits(report_.word(1)), step = floatFromBits(report_.word(2));
    RN_CHECK(report_.word(0) != kBadLr, code::kInvalidArgument, op_,
             "hyper[0] (the learning rate) must be finite and ≥ 0 but is " + number(lr));
    RN_CHECK(report_.word(0) != kBadStep, code::kInvalidArgument, op_,
             "hyper[1] (the step, 1 at the first update) must be an integer ≥ 1 but is " + number(step));
  }

 private:
  std::string op_;
  Rule rule_;  // attributes; buffers bound per run
  DataReport report_;
};

std::unique_ptr<Kernel> makeSgdUpdate(const KernelContext& ctx) {
  const ops::SgdParams p = ops::readSgdParams(ctx);
  const double momentum = p.momentum, dampening = p.dampening, weightDecay = p.weightDecay;
  const bool nesterov = p.nesterov;
  SgdRule rule{};
  rule.momentum = static_cast<float>(momentum);
  rule.oneMinusDampening = static_cast<float>(1.0 - static_cast<double>(static_cast<float>(dampening)));
  rule.weightDecay = static_cast<float>(weightDecay);
  rule.nesterov = nesterov;
  return std::make_unique<Update<SgdRule>>(ctx.op, ctx.device, rule);
}

std::unique_ptr<Kernel> makeRmspropUpdate(const KernelContext& ctx) {
  const ops::RmspropParams p = ops::readRmspropParams(ctx);
  const double alpha = p.alpha, eps = p.eps, weightDecay = p.weightDecay, momentum = p.momentum;
  const bool centered = p.centered;
  RmspropRule rule{};
  rule.alpha = static_cast<float>(alpha);
  rule.oneMinusAlpha = static_cast<float>(1.0 - alpha);
  rule.eps = static_cast<float>(eps);
  rule.weightDecay = static_cast<float>(weightDecay);
  rule.momentum = static_cast<float>(momentum);
  rule.centered = centered;
  return std::make_unique<Update<RmspropRule>>(ctx.op, ctx.device, rule);
}

std::unique_ptr<Kernel> makeAdadeltaUpdate(const KernelContext& ctx) {
  const ops::AdadeltaParams p = ops::readAdadeltaParams(ctx);
  const double rho = p.rho, eps = p.eps, weightDecay = p.weightDecay;
  AdadeltaRule rule{};
  rule.rho = static_cast<float>(rho);
  rule.oneMinusRho = static_cast<float>(1.0 - rho);
  rule.eps = static_cast<float>(eps);
  rule.weightDecay = static_cast<float>(weightDecay);
  return std::make_unique<Update<AdadeltaRule>>(ctx.op, ctx.device, rule);
}

std::unique_ptr<Kernel> makeAdagradUpdate(const KernelContext& ctx) {
  const ops::AdagradParams p = ops::readAdagradParams(ctx);
  const double lrDecay = p.lrDecay, eps = p.eps, weightDecay = p.weightDecay;
  AdagradRule rule{};
  rule.lrDecay = lrDecay;
  rule.eps = static_cast<float>(eps);
  rule.weightDecay = static_cast<float>(weightDecay);
  return std::make_unique<Update<AdagradRule>>(ctx.op, ctx.device, rule);
}

std::unique_ptr<Kernel> makeAdam(const KernelContext& ctx, bool decoupled) {
  const ops::AdamParams p = ops::readAdamParams(ctx, decoupled);
  const double beta1 = p.beta1, beta2 = p.beta2, eps = p.eps, weightDecay = p.weightDecay;
  const bool amsgrad = p.amsgrad;
  AdamRule rule{};
  rule.beta1 = beta1;
  rule.beta2 = beta2;
  rule.weightDecay = weightDecay;
  rule.oneMinusBeta1 = static_cast<float>(1.0 - beta1);
  rule.beta2f = static_cast<float>(beta2);
  rule.oneMinusBeta2 = static_cast<float>(1.0 - beta2);
  rule.weightDecayf = static_cast<float>(weightDecay);
  rule.eps = static_cast<float>(eps);
  rule.amsgrad = amsgrad;
  rule.decoupled = decoupled;
  return std::make_unique<Update<AdamRule>>(ctx.op, ctx.device, rule);
}

std::unique_ptr<Kernel> makeAdamUpdate(const KernelContext& ctx) { return makeAdam(ctx, false); }
std::unique_ptr<Kernel> makeAdamwUpdate(const KernelContext& ctx) { return makeAdam(ctx, true); }

RN_REGISTER_KERNEL("cuda", "sgd_update", makeSgdUpdate);
RN_REGISTER_KERNEL("cuda", "rmsprop_update", makeRmspropUpdate);
RN_REGISTER_KERNEL("cuda", "adadelta_update", makeAdadeltaUpdate);
RN_REGISTER_KERNEL("cuda", "adagrad_update", makeAdagradUpdate);
RN_REGISTER_KERNEL("cuda", "adam_update", makeAdamUpdate);
RN_REGISTER_KERNEL("cuda", "adamw_update", makeAdamwUpdate);

}  // namespace
}  // namespace rn::cuda
