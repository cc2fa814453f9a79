// The in-process group of CUDA replicas that share one GPU ("cuda:0", "cuda:0/1", …: each its own worker, stream
// and handles). NCCL before 2.30 refuses two ranks on one GPU, and every buffer lies in that GPU's memory anyway,
// so this is the copy-based reduction of the CPU's in-process group done by the GPU: between the two barriers of
// an InProcessExchange, each rank sums its 1/N slice of every rank's buffer with one kernel (ranks in rank order,
// so every replica ends with the same bits) and writes the sum into every buffer. Each rank first waits for its
// own stream, so that every buffer is complete before any rank reads it, and again after its kernel, so that no
// rank leaves the second barrier while a slice is still being written.
#include <memory>
#include <string>
#include <vector>

#include "../core/collective.h"
#include "../core/device.h"
#include "../core/errors.h"
#include "common.h"
#include "kernels.h"
#include "nccl.h"

namespace rn::cuda {
namespace {

constexpr int kMaxSharing = 16;

struct RankBuffers {
  float* data[kMaxSharing];
};

__global__ void sliceSumKernel(RankBuffers buffers, int ranks, int64_t begin, int64_t end) {
  for (int64_t i = begin + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < end;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float sum = buffers.data[0][i];
    for (int k = 1; k < ranks; ++k) sum += buffers.data[k][i];
    for (int k = 0; k < ranks; ++k) buffers.data[k][i] = sum;
  }
}

class SharedGpuRank final : public DeviceCommunicator {
 public:
  SharedGpuRank(std::shared_ptr<InProcessExchange> exchange, int rank, Device& device)
      : exchange_(std::move(exchange)), rank_(rank), device_(device) {}

  int rank() const override { return rank_; }
  int size() const override { return exchange_->size(); }

  void allreduceSum(float* data, int64_t n) override {
    allreduceSumOnStream(data, n, cudaDevice(device_).stream(), "allreduce_mean");
  }

  void allreduceSumOnStream(float* data, int64_t n, cudaStream_t stream, const std::string& op) override {
    RN_CUDA(op, cudaStreamSynchronize(stream));
    exchange_->publish(rank_, data, n);
    const int ranks = size();
    const int64_t begin = n * rank_ / ranks, end = n * (rank_ + 1) / ranks;
    if (end > begin) {
      RankBuffers buffers{};
      for (int k = 0; k < ranks; ++k) buffers.data[k] = exchange_->buffer(k);
      sliceSumKernel<<<blocksFor(end - begin), kThreads, 0, stream>>>(buffers, ranks, begin, end);
      RN_CUDA_LAUNCHED(op);
    }
    RN_CUDA(op, cudaStreamSynchronize(stream));
    exchange_->finish(rank_);
  }

  void abort(const std::string& reason) override { exchange_->abort(reason); }

 private:
  std::shared_ptr<InProcessExchange> exchange_;
  const int rank_;
  Device& device_;
};

}  // namespace

CommunicatorsByDevice createSharedGpuGroup(int group, const std::vector<std::string>& devices, double timeoutSeconds) {
  RN_CHECK(devices.size() <= static_cast<size_t>(kMaxSharing), code::kInvalidArgument, "createInProcessGroup",
           std::to_string(devices.size()) + " replicas share one GPU; at most " + std::to_string(kMaxSharing) + " can");
  auto exchange = std::make_shared<InProcessExchange>(devices, timeoutSeconds);
  exchange->setGroup(group);
  CommunicatorsByDevice ranks;
  for (size_t k = 0; k < devices.size(); ++k) {
    ranks[devices[k]] = std::make_shared<SharedGpuRank>(exchange, static_cast<int>(k), getDevice(devices[k]));
  }
  return ranks;
}

}  // namespace rn::cuda
