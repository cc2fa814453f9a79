// Channel concatenation on the CPU: forward joins parts [N,Ci,…] along dim 1; backward splits dy back into them.
// Any rank ≥ 2 works (dims other than 1 must agree); ResNet uses [N,C,H,W].
#include <cstring>

#include "../core/kernel.h"
#include "../ops/concat_shapes.h"

namespace rn::cpu {
namespace {

using Layout = ops::ConcatLayout;  // native/ops/concat_shapes.h

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
std::unique_ptr<Kernel> makeConcatForward(const KernelContext& ctx) { return std::make_unique<ConcatForward>(ops::checkConcatForward(ctx)); }

// Input dy; outputs (da, db, …), one per part, with the parts' shapes.
std::unique_ptr<Kernel> makeConcatBackward(const KernelContext& ctx) { return std::make_unique<ConcatBackward>(ops::checkConcatBackward(ctx)); }

RN_REGISTER_KERNEL("cpu", "concat_forward", makeConcatForward);
RN_REGISTER_KERNEL("cpu", "concat_backward", makeConcatBackward);

}  // namespace
}  // namespace rn::cpu
