// Channel concatenation on the CPU: forward joins parts [N,Ci,…] along dim 1; backward splits dy back into them.
// Any rank ≥ 2 works (dims other than 1 must agree); ResNet uses [N,C,H,W].
#include <cstring>

#include "../core/kernel.h"

namespace rn::cpu {
namespace {

struct Layout {
  int64_t batch = 0;               // dim 0
  int64_t inner = 1;               // product of dims after 1
  std::vector<int64_t> channels;   // dim 1 of each part
  std::vector<int64_t> offsets;    // channel offset of each part in the whole
  int64_t total = 0;               // Σ channels
};

// Checks that `parts` agree with `whole` except along dim 1, whose sizes must add up.
Layout layoutOf(const KernelContext& ctx, const std::vector<ValueInfo>& parts, const ValueInfo& whole,
                const std::string& partName, const std::string& wholeName) {
  ctx.expectDtype(whole, DType::F32, wholeName);
  if (whole.shape.size() < 2) {
    ctx.fail(code::kShapeMismatch, "expected a tensor of rank >= 2 for " + wholeName + " but received " +
                                       shapeString(whole.shape));
  }
  Layout l;
  l.batch = whole.shape[0];
  for (size_t d = 2; d < whole.shape.size(); ++d) l.inner *= whole.shape[d];
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string what = partName + " " + std::to_string(i);
    ctx.expectDtype(parts[i], DType::F32, what);
    ctx.expectRank(parts[i], whole.shape.size(), what);
    Shape wanted = whole.shape;
    wanted[1] = parts[i].shape[1];
    ctx.expectShape(parts[i], wanted, what);
    l.offsets.push_back(l.total);
    l.channels.push_back(parts[i].shape[1]);
    l.total += parts[i].shape[1];
  }
  if (l.total != whole.shape[1]) {
    ctx.fail(code::kShapeMismatch, "expected the " + partName + " channels to add up to " +
                                       std::to_string(whole.shape[1]) + " but they add up to " + std::to_string(l.total));
  }
  return l;
}

// Copies between the whole [N,total,inner] and part p [N,channels[p],inner]; toWhole picks the direction.
void copyParts(const Layout& l, float* whole, const std::vector<float*>& parts, bool toWhole) {
  const int64_t nParts = static_cast<int64_t>(parts.size());
  const int64_t jobs = l.batch * nParts;
#pragma omp parallel for schedule(static) if (jobs > 1 && l.batch * l.total * l.inner > 16384)
  for (int64_t job = 0; job < jobs; ++job) {
    const int64_t n = job / nParts, p = job % nParts;
    const size_t count = static_cast<size_t>(l.channels[p] * l.inner);
    float* w = whole + (n * l.total + l.offsets[p]) * l.inner;
    float* part = parts[p] + n * l.channels[p] * l.inner;
    if (toWhole) {
      std::memcpy(w, part, count * sizeof(float));
    } else {
      std::memcpy(part, w, count * sizeof(float));
    }
  }
}

class ConcatForward : public Kernel {
 public:
  explicit ConcatForward(Layout l) : l_(std::move(l)) {}
  void run(const KernelArgs& a) override {
    parts_.clear();
    for (const auto& t : a.in) parts_.push_back(t.f32());
    copyParts(l_, a.out[0].f32(), parts_, true);
  }

 private:
  Layout l_;
  std::vector<float*> parts_;
};

class ConcatBackward : public Kernel {
 public:
  explicit ConcatBackward(Layout l) : l_(std::move(l)) {}
  void run(const KernelArgs& a) override {
    parts_.clear();
    for (const auto& t : a.out) parts_.push_back(t.f32());
    copyParts(l_, a.in[0].f32(), parts_, false);
  }

 private:
  Layout l_;
  std::vector<float*> parts_;
};

// Inputs (a, b, …) with at least one part; output y.
std::unique_ptr<Kernel> makeConcatForward(const KernelContext& ctx) {
  if (ctx.inputs.empty() || ctx.outputs.size() != 1) {
    ctx.fail(code::kInvalidArgument, "expected at least 1 input and 1 output");
  }
  return std::make_unique<ConcatForward>(layoutOf(ctx, ctx.inputs, ctx.outputs[0], "input", "output"));
}

// Input dy; outputs (da, db, …), one per part, with the parts' shapes.
std::unique_ptr<Kernel> makeConcatBackward(const KernelContext& ctx) {
  if (ctx.inputs.size() != 1 || ctx.outputs.empty()) {
    ctx.fail(code::kInvalidArgument, "expected 1 input and at least 1 output");
  }
  return std::make_unique<ConcatBackward>(layoutOf(ctx, ctx.outputs, ctx.inputs[0], "output", "dy"));
}

RN_REGISTER_KERNEL("cpu", "concat_forward", makeConcatForward);
RN_REGISTER_KERNEL("cpu", "concat_backward", makeConcatBackward);

}  // namespace
}  // namespace rn::cpu
