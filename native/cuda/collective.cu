// allreduce_mean on CUDA: the value is replaced, in place, by its sum (or mean) over every rank of a group whose
// communicators are NCCL ones (createInProcessGroup over cuda devices, native/cuda/nccl.cc).
//
// Inputs (x[, weight [1]]), output x; attributes group and average (default true: divide by the group size), as on
// the CPU (native/cpu/collective.cc). With a weight, this rank contributes weight·x; a weight of 0 contributes zeros
// even where x holds inf or NaN. The weight is read on the device, in the kernel that applies it: no host sync.
#include <memory>

#include "../core/collective.h"
#include "../core/kernel.h"
#include "../ops/allreduce_params.h"
#include "common.h"
#include "kernels.h"
#include "nccl.h"

namespace rn::cuda {
namespace {

// x = weight == 0 ? 0 : (weight == 1 ? x : x·weight), with weight = *weightPtr on the device.
__global__ void applyWeightKernel(float* x, const float* weightPtr, int64_t n) {
  const float weight = *weightPtr;
  if (weight == 1.0f) return;
  RN_GRID_STRIDE(i, n) { x[i] = weight == 0.0f ? 0.0f : x[i] * weight; }
}

__global__ void scaleKernel(float* x, float factor, int64_t n) {
  RN_GRID_STRIDE(i, n) { x[i] *= factor; }
}

class AllreduceMean : public Kernel {
 public:
  AllreduceMean(std::string op, std::shared_ptr<DeviceCommunicator> communicator, bool average, bool weighted)
      : op_(std::move(op)), communicator_(std::move(communicator)), average_(average), weighted_(weighted) {}

  void run(const KernelArgs& a) override {
    cudaStream_t stream = cudaDevice(a.device).stream();
    float* x = a.out[0].f32();
    const int64_t n = a.out[0].numel();
    if (x != a.in[0].f32() && n > 0) {
      RN_CUDA(op_, cudaMemcpyAsync(x, a.in[0].f32(), static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToDevice,
                                   stream));
    }
    if (weighted_ && n > 0) {
      applyWeightKernel<<<blocksFor(n), kThreads, 0, stream>>>(x, a.in[1].f32(), n);
      RN_CUDA_LAUNCHED(op_);
    }
    // Every rank takes part, also with n = 0, as on the CPU.
    communicator_->allreduceSumOnStream(x, n, stream, op_);
    if (average_ && communicator_->size() > 1 && n > 0) {
      scaleKernel<<<blocksFor(n), kThreads, 0, stream>>>(x, 1.0f / static_cast<float>(communicator_->size()), n);
      RN_CUDA_LAUNCHED(op_);
    }
  }

 private:
  std::string op_;
  std::shared_ptr<DeviceCommunicator> communicator_;
  bool average_, weighted_;
};

std::unique_ptr<Kernel> makeAllreduceMean(const KernelContext& ctx) {
  const ops::AllreduceParams p = ops::checkAllreduceMean(ctx);
  const int group = p.group;
  auto communicator = std::dynamic_pointer_cast<DeviceCommunicator>(findCommunicator(group, ctx.device.name(), ctx.op));
  if (!communicator) {
    ctx.fail(code::kInvalidArgument, "collective group " + std::to_string(group) + "'s rank on '" + ctx.device.name() +
                                         "' cannot reduce device memory (create the group over cuda devices, which "
                                         "gives it NCCL communicators)");
  }
  return std::make_unique<AllreduceMean>(ctx.op, std::move(communicator), p.average, p.weighted);
}

RN_REGISTER_KERNEL("cuda", "allreduce_mean", makeAllreduceMean);

}  // namespace
}  // namespace rn::cuda
