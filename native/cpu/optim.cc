// Optimizer updates on the CPU with torch.optim's (PyTorch 2.x) semantics, in place on flat float32 buffers.
//
// Every op takes (param, grad, state…, hyper) and returns (param, state…): the program binds each output to
// the same value as the input it updates. `hyper` is float32[2] = [lr, step], step counting from 1 at the
// first update, so a compiled program keeps working when the schedule changes; the fixed hyper-parameters
// are attributes. The element-wise math is float32 in torch's operation order; scalars derived from the step
// (bias corrections, Adagrad's decayed rate) are computed in double, as torch computes them in Python.
//
//   sgd_update      (param, grad, momentum_buf, hyper)                       → (param, momentum_buf)
//                   attrs momentum 0.9, dampening 0, weight_decay 1e-4, nesterov true (fb.resnet.torch's)
//   rmsprop_update  (param, grad, square_avg, momentum_buf, hyper)           → (param, square_avg, momentum_buf)
//                   (param, grad, square_avg, momentum_buf, grad_avg, hyper) → (…, grad_avg) when centered
//                   attrs alpha 0.99, eps 1e-8, weight_decay 0, momentum 0, centered false
//   adadelta_update (param, grad, square_avg, acc_delta, hyper)              → (param, square_avg, acc_delta)
//                   attrs rho 0.9, eps 1e-6, weight_decay 0
//   adagrad_update  (param, grad, state_sum, hyper)                          → (param, state_sum)
//                   attrs lr_decay 0, eps 1e-10, weight_decay 0 (initial_accumulator_value: fill state_sum)
//   adam_update     (param, grad, exp_avg, exp_avg_sq, hyper)                → (param, exp_avg, exp_avg_sq)
//                   (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, hyper) → (…, max_exp_avg_sq) when amsgrad
//                   attrs beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0 (L2, added to the gradient), amsgrad false
//   adamw_update    as adam_update, weight decay decoupled (param *= 1 − lr·wd first); weight_decay 1e-2
//
// State buffers start as zeros (Adagrad's state_sum as initial_accumulator_value); SGD's momentum buffer is
// overwritten at step 1 (torch's "buffer is None" case), so its initial contents do not matter.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../core/kernel.h"
#include "../ops/optim_params.h"

namespace rn::cpu {
namespace {

// Below this many elements the update runs on one thread: a parallel region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;

using ops::number;

struct Hyper {
  float lr;
  double step;
};

// Reads [lr, step] from the hyper tensor at run time: lr finite and ≥ 0, step an integer ≥ 1.
Hyper readHyper(const std::string& op, const TensorRef& hyper) {
  const float* h = hyper.f32();
  const float lr = h[0];
  const float step = h[1];
  RN_CHECK(std::isfinite(lr) && lr >= 0.0f, code::kInvalidArgument, op,
           "hyper[0] (the learning rate) must be finite and ≥ 0 but is " + number(lr));
  RN_CHECK(std::isfinite(step) && step >= 1.0f && std::floor(step) == step, code::kInvalidArgument, op,
           "hyper[1] (the step, 1 at the first update) must be an integer ≥ 1 but is " + number(step));
  return {lr, static_cast<double>(step)};
}

// torch's lerp (ATen/native/Lerp.h): start + w·(end − start) for |w| < 0.5, else end − (end − start)·(1 − w).
inline float lerp(float start, float end, float w) {
  return std::fabs(w) < 0.5f ? start + w * (end - start) : end - (end - start) * (1.0f - w);
}

// ---------------------------------------------------------------------------------------------------- SGD

class SgdUpdate : public Kernel {
 public:
  SgdUpdate(std::string op, float momentum, float dampening, float weightDecay, bool nesterov)
      : op_(std::move(op)),
        momentum_(momentum),
        oneMinusDampening_(static_cast<float>(1.0 - static_cast<double>(dampening))),
        weightDecay_(weightDecay),
        nesterov_(nesterov) {}

  void run(const KernelArgs& a) override {
    const Hyper h = readHyper(op_, a.in[3]);
    const float* param = a.in[0].f32();
    const float* grad = a.in[1].f32();
    const float* bufIn = a.in[2].f32();
    float* paramOut = a.out[0].f32();
    float* bufOut = a.out[1].f32();
    const int64_t n = a.in[0].numel();
    const float lr = h.lr, wd = weightDecay_, m = momentum_, omd = oneMinusDampening_;
    const bool decay = wd != 0.0f, useMomentum = m != 0.0f, first = h.step == 1.0, nesterov = nesterov_;
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const float p = param[i];
      float g = grad[i];
      if (decay) g = g + wd * p;
      if (useMomentum) {
        const float b = first ? g : bufIn[i] * m + omd * g;
        bufOut[i] = b;
        g = nesterov ? g + m * b : b;
      }
      paramOut[i] = p + -lr * g;
    }
  }

 private:
  std::string op_;
  float momentum_, oneMinusDampening_, weightDecay_;
  bool nesterov_;
};

std::unique_ptr<Kernel> makeSgdUpdate(const KernelContext& ctx) {
  const ops::SgdParams p = ops::readSgdParams(ctx);
  return std::make_unique<SgdUpdate>(ctx.op, static_cast<float>(p.momentum), static_cast<float>(p.dampening),
                                     static_cast<float>(p.weightDecay), p.nesterov);
}

// ------------------------------------------------------------------------------------------------ RMSprop

class RmspropUpdate : public Kernel {
 public:
  RmspropUpdate(std::string op, double alpha, double eps, double weightDecay, double momentum, bool centered)
      : op_(std::move(op)),
        alpha_(static_cast<float>(alpha)),
        oneMinusAlpha_(static_cast<float>(1.0 - alpha)),
        eps_(static_cast<float>(eps)),
        weightDecay_(static_cast<float>(weightDecay)),
        momentum_(static_cast<float>(momentum)),
        centered_(centered) {}

  void run(const KernelArgs& a) override {
    const Hyper h = readHyper(op_, a.in[centered_ ? 5 : 4]);
    const float* param = a.in[0].f32();
    const float* grad = a.in[1].f32();
    const float* sqIn = a.in[2].f32();
    const float* bufIn = a.in[3].f32();
    const float* gaIn = centered_ ? a.in[4].f32() : nullptr;
    float* paramOut = a.out[0].f32();
    float* sqOut = a.out[1].f32();
    float* bufOut = a.out[2].f32();
    float* gaOut = centered_ ? a.out[3].f32() : nullptr;
    const int64_t n = a.in[0].numel();
    const float lr = h.lr, wd = weightDecay_, alpha = alpha_, oma = oneMinusAlpha_, eps = eps_, m = momentum_;
    const bool decay = wd != 0.0f, useMomentum = m > 0.0f, centered = centered_;
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const float p = param[i];
      float g = grad[i];
      if (decay) g = g + wd * p;
      const float sq = sqIn[i] * alpha + oma * g * g;  // square_avg.mul_(alpha).addcmul_(g, g, 1 − alpha)
      sqOut[i] = sq;
      float avg;
      if (centered) {
        const float ga = lerp(gaIn[i], g, oma);  // grad_avg.lerp_(g, 1 − alpha)
        gaOut[i] = ga;
        avg = std::sqrt(sq + -1.0f * ga * ga);
      } else {
        avg = std::sqrt(sq);
      }
      avg = avg + eps;
      if (useMomentum) {
        const float b = bufIn[i] * m + g / avg;  // buf.mul_(momentum).addcdiv_(g, avg)
        bufOut[i] = b;
        paramOut[i] = p + -lr * b;
      } else {
        paramOut[i] = p + -lr * g / avg;
      }
    }
  }

 private:
  std::string op_;
  float alpha_, oneMinusAlpha_, eps_, weightDecay_, momentum_;
  bool centered_;
};

std::unique_ptr<Kernel> makeRmspropUpdate(const KernelContext& ctx) {
  const ops::RmspropParams p = ops::readRmspropParams(ctx);
  return std::make_unique<RmspropUpdate>(ctx.op, p.alpha, p.eps, p.weightDecay, p.momentum, p.centered);
}

// ----------------------------------------------------------------------------------------------- Adadelta

class AdadeltaUpdate : public Kernel {
 public:
  AdadeltaUpdate(std::string op, double rho, double eps, double weightDecay)
      : op_(std::move(op)),
        rho_(static_cast<float>(rho)),
        oneMinusRho_(static_cast<float>(1.0 - rho)),
        eps_(static_cast<float>(eps)),
        weightDecay_(static_cast<float>(weightDecay)) {}

  void run(const KernelArgs& a) override {
    const Hyper h = readHyper(op_, a.in[4]);
    const float* param = a.in[0].f32();
    const float* grad = a.in[1].f32();
    const float* sqIn = a.in[2].f32();
    const float* accIn = a.in[3].f32();
    float* paramOut = a.out[0].f32();
    float* sqOut = a.out[1].f32();
    float* accOut = a.out[2].f32();
    const int64_t n = a.in[0].numel();
    const float lr = h.lr, wd = weightDecay_, rho = rho_, omr = oneMinusRho_, eps = eps_;
    const bool decay = wd != 0.0f;
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const float p = param[i];
      float g = grad[i];
      if (decay) g = g + wd * p;
      const float sq = sqIn[i] * rho + omr * g * g;
      sqOut[i] = sq;
      const float sd = std::sqrt(sq + eps);
      const float delta = std::sqrt(accIn[i] + eps) / sd * g;
      accOut[i] = accIn[i] * rho + omr * delta * delta;
      paramOut[i] = p + -lr * delta;
    }
  }

 private:
  std::string op_;
  float rho_, oneMinusRho_, eps_, weightDecay_;
};

std::unique_ptr<Kernel> makeAdadeltaUpdate(const KernelContext& ctx) {
  const ops::AdadeltaParams p = ops::readAdadeltaParams(ctx);
  return std::make_unique<AdadeltaUpdate>(ctx.op, p.rho, p.eps, p.weightDecay);
}

// ------------------------------------------------------------------------------------------------ Adagrad

class AdagradUpdate : public Kernel {
 public:
  AdagradUpdate(std::string op, double lrDecay, double eps, double weightDecay)
      : op_(std::move(op)),
        lrDecay_(lrDecay),
        eps_(static_cast<float>(eps)),
        weightDecay_(static_cast<float>(weightDecay)) {}

  void run(const KernelArgs& a) override {
    const Hyper h = readHyper(op_, a.in[3]);
    const float* param = a.in[0].f32();
    const float* grad = a.in[1].f32();
    const float* sumIn = a.in[2].f32();
    float* paramOut = a.out[0].f32();
    float* sumOut = a.out[1].f32();
    const int64_t n = a.in[0].numel();
    // clr = lr / (1 + (step − 1)·lr_decay), in double like torch's Python scalar math.
    const float negClr = static_cast<float>(-static_cast<double>(h.lr) / (1.0 + (h.step - 1.0) * lrDecay_));
    const float wd = weightDecay_, eps = eps_;
    const bool decay = wd != 0.0f;
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const float p = param[i];
      float g = grad[i];
      if (decay) g = g + wd * p;
      const float sum = sumIn[i] + 1.0f * g * g;
      sumOut[i] = sum;
      const float sd = std::sqrt(sum) + eps;
      paramOut[i] = p + negClr * g / sd;
    }
  }

 private:
  std::string op_;
  double lrDecay_;
  float eps_, weightDecay_;
};

std::unique_ptr<Kernel> makeAdagradUpdate(const KernelContext& ctx) {
  const ops::AdagradParams p = ops::readAdagradParams(ctx);
  return std::make_unique<AdagradUpdate>(ctx.op, p.lrDecay, p.eps, p.weightDecay);
}

// ------------------------------------------------------------------------------------------- Adam, AdamW

class AdamUpdate : public Kernel {
 public:
  AdamUpdate(std::string op, double beta1, double beta2, double eps, double weightDecay, bool amsgrad,
             bool decoupled)
      : op_(std::move(op)),
        beta1_(beta1),
        beta2_(beta2),
        eps_(static_cast<float>(eps)),
        weightDecay_(weightDecay),
        amsgrad_(amsgrad),
        decoupled_(decoupled) {}

  void run(const KernelArgs& a) override {
    const Hyper h = readHyper(op_, a.in[amsgrad_ ? 5 : 4]);
    const float* param = a.in[0].f32();
    const float* grad = a.in[1].f32();
    const float* mIn = a.in[2].f32();
    const float* vIn = a.in[3].f32();
    const float* vmaxIn = amsgrad_ ? a.in[4].f32() : nullptr;
    float* paramOut = a.out[0].f32();
    float* mOut = a.out[1].f32();
    float* vOut = a.out[2].f32();
    float* vmaxOut = amsgrad_ ? a.out[3].f32() : nullptr;
    const int64_t n = a.in[0].numel();

    const double lr = h.lr;
    const double biasCorrection1 = 1.0 - std::pow(beta1_, h.step);
    const double biasCorrection2 = 1.0 - std::pow(beta2_, h.step);
    const float negStepSize = static_cast<float>(-(lr / biasCorrection1));
    const float bc2Sqrt = static_cast<float>(std::sqrt(biasCorrection2));
    const float oneMinusBeta1 = static_cast<float>(1.0 - beta1_);
    const float beta2 = static_cast<float>(beta2_), oneMinusBeta2 = static_cast<float>(1.0 - beta2_);
    const float eps = eps_;
    const bool decay = weightDecay_ != 0.0, decoupled = decoupled_, amsgrad = amsgrad_;
    const float wd = static_cast<float>(weightDecay_);
    const float shrink = static_cast<float>(1.0 - lr * weightDecay_);  // AdamW: param.mul_(1 − lr·wd)
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      float p = param[i];
      float g = grad[i];
      if (decay) {
        if (decoupled) {
          p = p * shrink;
        } else {
          g = g + wd * p;
        }
      }
      const float m = lerp(mIn[i], g, oneMinusBeta1);  // exp_avg.lerp_(g, 1 − beta1)
      mOut[i] = m;
      const float v = vIn[i] * beta2 + oneMinusBeta2 * g * g;
      vOut[i] = v;
      float vHat = v;
      if (amsgrad) {
        vHat = vmaxIn[i] < v ? v : vmaxIn[i];  // torch.maximum(max_exp_avg_sq, exp_avg_sq)
        vmaxOut[i] = vHat;
      }
      const float denom = std::sqrt(vHat) / bc2Sqrt + eps;
      paramOut[i] = p + negStepSize * m / denom;
    }
  }

 private:
  std::string op_;
  double beta1_, beta2_;
  float eps_;
  double weightDecay_;
  bool amsgrad_, decoupled_;
};

std::unique_ptr<Kernel> makeAdam(const KernelContext& ctx, bool decoupled) {
  const ops::AdamParams p = ops::readAdamParams(ctx, decoupled);
  return std::make_unique<AdamUpdate>(ctx.op, p.beta1, p.beta2, p.eps, p.weightDecay, p.amsgrad, decoupled);
}

std::unique_ptr<Kernel> makeAdamUpdate(const KernelContext& ctx) { return makeAdam(ctx, false); }
std::unique_ptr<Kernel> makeAdamwUpdate(const KernelContext& ctx) { return makeAdam(ctx, true); }

RN_REGISTER_KERNEL("cpu", "sgd_update", makeSgdUpdate);
RN_REGISTER_KERNEL("cpu", "rmsprop_update", makeRmspropUpdate);
RN_REGISTER_KERNEL("cpu", "adadelta_update", makeAdadeltaUpdate);
RN_REGISTER_KERNEL("cpu", "adagrad_update", makeAdagradUpdate);
RN_REGISTER_KERNEL("cpu", "adam_update", makeAdamUpdate);
RN_REGISTER_KERNEL("cpu", "adamw_update", makeAdamwUpdate);

}  // namespace
}  // namespace rn::cpu
