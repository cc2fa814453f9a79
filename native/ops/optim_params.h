// Backend-independent part of the optimizer update ops (sgd, rmsprop, adadelta, adagrad, adam, adamw): the
// (param, grad, state…, hyper) → (param, state…) signature checks and the hyper-parameter attributes with their
// defaults and ranges. native/cpu/optim.cc and native/cuda/optim.cu both validate through these; the values are
// returned as read (double), each backend converts them as its kernels need.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../core/kernel.h"

namespace rn::ops {

// A number as the optimizer messages print it: up to 9 significant digits.
inline std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Arity, dtypes and shapes: every buffer input and every output float32 of param's shape, the last input
// float32[2]. `inputs` and `outputs` name them for the messages.
inline void expectUpdateSignature(const KernelContext& ctx, const std::vector<std::string>& inputs,
                                  const std::vector<std::string>& outputs) {
  ctx.expectArity(inputs.size(), outputs.size());
  const Shape& shape = ctx.inputs[0].shape;
  for (size_t i = 0; i + 1 < inputs.size(); ++i) {
    ctx.expectDtype(ctx.inputs[i], DType::F32, "input " + std::to_string(i) + " (" + inputs[i] + ")");
    ctx.expectShape(ctx.inputs[i], shape, "input " + std::to_string(i) + " (" + inputs[i] + ", as param)");
  }
  const size_t h = inputs.size() - 1;
  ctx.expectDtype(ctx.inputs[h], DType::F32, "input " + std::to_string(h) + " (hyper = [lr, step])");
  ctx.expectShape(ctx.inputs[h], Shape{2}, "input " + std::to_string(h) + " (hyper = [lr, step])");
  for (size_t i = 0; i < outputs.size(); ++i) {
    ctx.expectDtype(ctx.outputs[i], DType::F32, "output " + std::to_string(i) + " (" + outputs[i] + ")");
    ctx.expectShape(ctx.outputs[i], shape, "output " + std::to_string(i) + " (" + outputs[i] + ", as param)");
  }
}

// A float attribute with a range check; `lo`/`hi` inclusive unless the flags say open.
inline double attrIn(const KernelContext& ctx, const std::string& key, double fallback, double lo, double hi,
                     bool hiOpen = false) {
  const double v = ctx.attrs.getFloat(ctx.op, key, fallback);
  if (!std::isfinite(v) || v < lo || (hiOpen ? v >= hi : v > hi)) {
    ctx.fail(code::kInvalidArgument, "attribute '" + key + "' must be a number in [" + number(lo) + ", " +
                                         (std::isinf(hi) ? "inf" : number(hi)) + (hiOpen ? ")" : "]") +
                                         " but is " + number(v));
  }
  return v;
}

struct SgdParams {
  double momentum, dampening, weightDecay;
  bool nesterov;
};

// sgd_update: momentum 0.9, dampening 0, weight_decay 1e-4, nesterov true (fb.resnet.torch's).
inline SgdParams readSgdParams(const KernelContext& ctx) {
  expectUpdateSignature(ctx, {"param", "grad", "momentum_buf", "hyper"}, {"param", "momentum_buf"});
  SgdParams p;
  p.momentum = attrIn(ctx, "momentum", 0.9, 0.0, INFINITY);
  p.dampening = attrIn(ctx, "dampening", 0.0, -INFINITY, INFINITY);
  p.weightDecay = attrIn(ctx, "weight_decay", 1e-4, 0.0, INFINITY);
  p.nesterov = ctx.attrs.getBool(ctx.op, "nesterov", true);
  if (p.nesterov && (p.momentum <= 0.0 || p.dampening != 0.0)) {
    ctx.fail(code::kInvalidArgument, "nesterov momentum requires momentum > 0 and dampening 0 (momentum " +
                                         number(p.momentum) + ", dampening " + number(p.dampening) + ")");
  }
  return p;
}

struct RmspropParams {
  double alpha, eps, weightDecay, momentum;
  bool centered;
};

// rmsprop_update: alpha 0.99, eps 1e-8, weight_decay 0, momentum 0, centered false (one more buffer when centered).
inline RmspropParams readRmspropParams(const KernelContext& ctx) {
  RmspropParams p;
  p.centered = ctx.attrs.getBool(ctx.op, "centered", false);
  if (p.centered) {
    expectUpdateSignature(ctx, {"param", "grad", "square_avg", "momentum_buf", "grad_avg", "hyper"},
                          {"param", "square_avg", "momentum_buf", "grad_avg"});
  } else {
    expectUpdateSignature(ctx, {"param", "grad", "square_avg", "momentum_buf", "hyper"},
                          {"param", "square_avg", "momentum_buf"});
  }
  p.alpha = attrIn(ctx, "alpha", 0.99, 0.0, INFINITY);
  p.eps = attrIn(ctx, "eps", 1e-8, 0.0, INFINITY);
  p.weightDecay = attrIn(ctx, "weight_decay", 0.0, 0.0, INFINITY);
  p.momentum = attrIn(ctx, "momentum", 0.0, 0.0, INFINITY);
  return p;
}

struct AdadeltaParams {
  double rho, eps, weightDecay;
};

// adadelta_update: rho 0.9, eps 1e-6, weight_decay 0.
inline AdadeltaParams readAdadeltaParams(const KernelContext& ctx) {
  expectUpdateSignature(ctx, {"param", "grad", "square_avg", "acc_delta", "hyper"},
                        {"param", "square_avg", "acc_delta"});
  AdadeltaParams p;
  p.rho = attrIn(ctx, "rho", 0.9, 0.0, 1.0);
  p.eps = attrIn(ctx, "eps", 1e-6, 0.0, INFINITY);
  p.weightDecay = attrIn(ctx, "weight_decay", 0.0, 0.0, INFINITY);
  return p;
}

struct AdagradParams {
  double lrDecay, eps, weightDecay;
};

// adagrad_update: lr_decay 0, eps 1e-10, weight_decay 0.
inline AdagradParams readAdagradParams(const KernelContext& ctx) {
  expectUpdateSignature(ctx, {"param", "grad", "state_sum", "hyper"}, {"param", "state_sum"});
  AdagradParams p;
  p.lrDecay = attrIn(ctx, "lr_decay", 0.0, 0.0, INFINITY);
  p.eps = attrIn(ctx, "eps", 1e-10, 0.0, INFINITY);
  p.weightDecay = attrIn(ctx, "weight_decay", 0.0, 0.0, INFINITY);
  return p;
}

struct AdamParams {
  double beta1, beta2, eps, weightDecay;
  bool amsgrad;
};

// adam_update / adamw_update (decoupled): beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0 (adamw 1e-2),
// amsgrad false (one more buffer when set).
inline AdamParams readAdamParams(const KernelContext& ctx, bool decoupled) {
  AdamParams p;
  p.amsgrad = ctx.attrs.getBool(ctx.op, "amsgrad", false);
  if (p.amsgrad) {
    expectUpdateSignature(ctx, {"param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "hyper"},
                          {"param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"});
  } else {
    expectUpdateSignature(ctx, {"param", "grad", "exp_avg", "exp_avg_sq", "hyper"},
                          {"param", "exp_avg", "exp_avg_sq"});
  }
  p.beta1 = attrIn(ctx, "beta1", 0.9, 0.0, 1.0, true);
  p.beta2 = attrIn(ctx, "beta2", 0.999, 0.0, 1.0, true);
  p.eps = attrIn(ctx, "eps", 1e-8, 0.0, INFINITY);
  p.weightDecay = attrIn(ctx, "weight_decay", decoupled ? 1e-2 : 0.0, 0.0, INFINITY);
  return p;
}

}  // namespace rn::ops
