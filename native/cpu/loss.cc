// Softmax cross-entropy on the CPU: forward (mean loss, per-sample losses, saved probabilities) and backward.
// Labels are int32 class indices; one outside [0, K) is an RN_INVALID_ARGUMENT naming the label and its index.
#include <algorithm>
#include <cmath>

#include "../core/kernel.h"
#include "../ops/logits_labels.h"

namespace rn::cpu {
namespace {

// Checked serially before any parallel work, so the throw never crosses an OpenMP region.
void checkLabels(const std::string& op, const char* rowsName, const int32_t* labels, int64_t n, int64_t k) {
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= k) {
      RN_THROW(code::kInvalidArgument, op,
               ops::labelOutsideMessage(labels[i], i, k, rowsName, n));
    }
  }
}

using ops::expectLogitsAndLabels;

// Inputs (logits [N,K], labels int32 [N]); outputs (loss [1], losses [N], probs [N,K]).
class SoftmaxCrossEntropyForward : public Kernel {
 public:
  explicit SoftmaxCrossEntropyForward(std::string op) : op_(std::move(op)) {}
  void run(const KernelArgs& a) override {
    const float* logits = a.in[0].f32();
    const int32_t* labels = a.in[1].as<int32_t>();
    float* loss = a.out[0].f32();
    float* losses = a.out[1].f32();
    float* probs = a.out[2].f32();
    const int64_t n = a.in[0].dim(0), k = a.in[0].dim(1);
    checkLabels(op_, "logits", labels, n, k);
    double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits + i * k;
      float* p = probs + i * k;
      float mx = row[0];
      for (int64_t j = 1; j < k; ++j) mx = std::max(mx, row[j]);
      double sum = 0;
      for (int64_t j = 0; j < k; ++j) {
        const float e = std::exp(row[j] - mx);
        p[j] = e;
        sum += e;
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < k; ++j) p[j] *= inv;
      // -log softmax[label] = log Σ exp(x - max) - (x[label] - max)
      const double l = std::log(sum) - (static_cast<double>(row[labels[i]]) - mx);
      losses[i] = static_cast<float>(l);
      total += l;
    }
    loss[0] = static_cast<float>(total / static_cast<double>(n));
  }

 private:
  std::string op_;
};

// Inputs (probs [N,K], labels int32 [N], dloss [1]); output dlogits [N,K] = dloss·(probs − onehot)/N.
class SoftmaxCrossEntropyBackward : public Kernel {
 public:
  explicit SoftmaxCrossEntropyBackward(std::string op) : op_(std::move(op)) {}
  void run(const KernelArgs& a) override {
    const float* probs = a.in[0].f32();
    const int32_t* labels = a.in[1].as<int32_t>();
    const float dloss = a.in[2].f32()[0];
    float* dlogits = a.out[0].f32();
    const int64_t n = a.in[0].dim(0), k = a.in[0].dim(1);
    checkLabels(op_, "probs", labels, n, k);
    const float scale = static_cast<float>(static_cast<double>(dloss) / static_cast<double>(n));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const float* p = probs + i * k;
      float* d = dlogits + i * k;
      const float atLabel = p[labels[i]];  // read first: dlogits may alias probs
      for (int64_t j = 0; j < k; ++j) d[j] = p[j] * scale;
      d[labels[i]] = (atLabel - 1.0f) * scale;
    }
  }

 private:
  std::string op_;
};

std::unique_ptr<Kernel> makeForward(const KernelContext& ctx) {
  ctx.expectArity(2, 3);
  expectLogitsAndLabels(ctx, "logits");
  const Shape& s = ctx.inputs[0].shape;
  const char* names[] = {"loss", "losses", "probs"};
  const Shape shapes[] = {{1}, {s[0]}, s};
  for (size_t i = 0; i < 3; ++i) {
    ctx.expectDtype(ctx.outputs[i], DType::F32, names[i]);
    ctx.expectShape(ctx.outputs[i], shapes[i], names[i]);
  }
  return std::make_unique<SoftmaxCrossEntropyForward>(ctx.op);
}

std::unique_ptr<Kernel> makeBackward(const KernelContext& ctx) {
  ctx.expectArity(3, 1);
  expectLogitsAndLabels(ctx, "probs");
  ctx.expectDtype(ctx.inputs[2], DType::F32, "dloss");
  ctx.expectShape(ctx.inputs[2], {1}, "dloss");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "dlogits");
  ctx.expectShape(ctx.outputs[0], ctx.inputs[0].shape, "dlogits");
  return std::make_unique<SoftmaxCrossEntropyBackward>(ctx.op);
}

RN_REGISTER_KERNEL("cpu", "softmax_cross_entropy_forward", makeForward);
RN_REGISTER_KERNEL("cpu", "softmax_cross_entropy_backward", makeBackward);

}  // namespace
}  // namespace rn::cpu
