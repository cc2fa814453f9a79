// allreduce_mean on the CPU: the value is replaced, in place, by its sum (or mean) over every rank of a group.
//
// Inputs (x[, weight [1]]), output x. Attributes: group (the id from createInProcessGroup), average (default true:
// divide by the group size). With a weight, this rank contributes weight·x; a weight of 0 contributes zeros even
// where x holds inf or NaN (a placeholder replica with no images in the batch).
#include <cstring>

#include "../core/collective.h"
#include "../core/device.h"
#include "../core/kernel.h"
#include "../ops/allreduce_params.h"

namespace rn::cpu {
namespace {

void scale(float* x, int64_t n, float factor) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

class AllreduceMean : public Kernel {
 public:
  AllreduceMean(std::shared_ptr<Communicator> communicator, bool average, bool weighted)
      : communicator_(std::move(communicator)), average_(average), weighted_(weighted) {}

  void run(const KernelArgs& a) override {
    float* x = a.out[0].f32();
    const int64_t n = a.out[0].numel();
    if (x != a.in[0].f32()) std::memcpy(x, a.in[0].f32(), static_cast<size_t>(n) * sizeof(float));
    if (weighted_) {
      const float weight = a.in[1].f32()[0];
      if (weight == 0) {
        std::memset(x, 0, static_cast<size_t>(n) * sizeof(float));
      } else if (weight != 1) {
        scale(x, n, weight);
      }
    }
    communicator_->allreduceSum(x, n);
    if (average_ && communicator_->size() > 1) scale(x, n, 1.0f / static_cast<float>(communicator_->size()));
  }

 private:
  std::shared_ptr<Communicator> communicator_;
  bool average_, weighted_;
};

std::unique_ptr<Kernel> makeAllreduceMean(const KernelContext& ctx) {
  const ops::AllreduceParams p = ops::checkAllreduceMean(ctx);
  auto communicator = findCommunicator(p.group, ctx.device.name(), ctx.op);
  return std::make_unique<AllreduceMean>(std::move(communicator), p.average, p.weighted);
}

RN_REGISTER_KERNEL("cpu", "allreduce_mean", makeAllreduceMean);

}  // namespace
}  // namespace rn::cpu
