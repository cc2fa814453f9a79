// Top-k accuracy counts on the CPU: for each k in the attribute `ks`, how many samples have their label among
// the k largest logits.
//
// Rule (ties included): rank = the number of logits strictly greater than the label's logit; the sample is
// correct at k when rank < k. So a label tied with others counts as soon as fewer than k logits beat it (ties
// are resolved in the label's favour), and k > K behaves as k = K: every sample counts (fb.resnet.torch #184).
// A NaN label logit is never correct; NaN elsewhere in the row is never "greater".
#include <cmath>

#include "../core/kernel.h"
#include "../ops/logits_labels.h"

namespace rn::cpu {
namespace {

// Inputs (logits [N,K], labels int32 [N]); output int32 [len(ks)].
class TopkCorrect : public Kernel {
 public:
  TopkCorrect(std::string op, std::vector<int64_t> ks) : op_(std::move(op)), ks_(std::move(ks)) {}
  void run(const KernelArgs& a) override {
    const float* logits = a.in[0].f32();
    const int32_t* labels = a.in[1].as<int32_t>();
    int32_t* out = a.out[0].as<int32_t>();
    const int64_t n = a.in[0].dim(0), k = a.in[0].dim(1);
    for (int64_t i = 0; i < n; ++i) {
      if (labels[i] < 0 || labels[i] >= k) {
        RN_THROW(code::kInvalidArgument, op_,
                 "label " + std::to_string(labels[i]) + " at index " + std::to_string(i) + " is outside [0, " +
                     std::to_string(k) + ") for logits of shape [" + std::to_string(n) + "," + std::to_string(k) + "]");
      }
    }
    ranks_.resize(static_cast<size_t>(n));
    int64_t* ranks = ranks_.data();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits + i * k;
      const float target = row[labels[i]];
      int64_t rank = 0;
      if (std::isnan(target)) {
        rank = k;
      } else {
        for (int64_t j = 0; j < k; ++j) rank += row[j] > target ? 1 : 0;
      }
      ranks[i] = rank;
    }
    for (size_t q = 0; q < ks_.size(); ++q) {
      int32_t count = 0;
      for (int64_t i = 0; i < n; ++i) count += ranks[i] < ks_[q] ? 1 : 0;
      out[q] = count;
    }
  }

 private:
  std::string op_;
  std::vector<int64_t> ks_;
  std::vector<int64_t> ranks_;
};

std::unique_ptr<Kernel> makeTopkCorrect(const KernelContext& ctx) {
  std::vector<int64_t> ks = ops::checkTopkCorrect(ctx);
  return std::make_unique<TopkCorrect>(ctx.op, std::move(ks));
}

RN_REGISTER_KERNEL("cpu", "topk_correct", makeTopkCorrect);

}  // namespace
}  // namespace rn::cpu
