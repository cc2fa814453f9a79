// NCCL communicators for CUDA devices: an in-process group over several cuda devices (one ncclComm_t per device),
// registered as the "cuda" backend's in-process group factory (native/core/collective.h).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../core/collective.h"

namespace rn::cuda {

// A rank whose buffers are in its CUDA device's memory. Both calls run on the rank's device worker.
class DeviceCommunicator : public Communicator {
 public:
  // data[0..n) (device memory) ← the sum over every rank, queued on `stream` (the device's stream, so it is ordered
  // with the kernels before and after it); returns once the reduction has completed. Throws RN_COLLECTIVE_TIMEOUT
  // naming the ranks that did not arrive within the group's timeout, or RN_BACKEND_ERROR with NCCL's reason;
  // either way the communicator is aborted and the group stays failed. `op` names the op in errors.
  virtual void allreduceSumOnStream(float* data, int64_t n, cudaStream_t stream, const std::string& op) = 0;
};

// The ranks of an in-process group whose devices are replica slots of one GPU ("cuda:0", "cuda:0/1"): copy-based
// reduction by a kernel instead of NCCL (native/cuda/shared_gpu.cu). Devices named canonically, in rank order.
CommunicatorsByDevice createSharedGpuGroup(int group, const std::vector<std::string>& devices, double timeoutSeconds);

}  // namespace rn::cuda
