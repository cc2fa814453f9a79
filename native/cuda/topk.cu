// Top-k accuracy counts on CUDA: for each k in the attribute `ks`, how many samples have their label among the
// k largest logits. The CPU's rule: rank = the number of logits strictly greater than the label's logit, correct
// at k when rank < k (ties in the label's favour, k > K counts every sample); a NaN label logit is never
// correct, NaN elsewhere is never "greater". A label outside [0, K) is an RN_INVALID_ARGUMENT naming it.
#include <climits>

#include "../core/kernel.h"
#include "../ops/logits_labels.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

// One warp per row: ranks[i] = #{j : row[j] > row[label]} (K for a NaN label logit). A bad label leaves the
// rank at K and records the first such row in report word 0 (atomicMin over row indices).
__global__ void rankLabels(const float* logits, const int32_t* labels, int64_t* ranks, int64_t n, int64_t k,
                           unsigned long long* report) {
  const int lane = threadIdx.x % 32;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  for (int64_t i = warp; i < n; i += warps) {
    const int32_t label = labels[i];
    if (label < 0 || label >= k) {
      if (lane == 0) {
        atomicMin(&report[0], static_cast<unsigned long long>(i));
        ranks[i] = k;
      }
      continue;
    }
    const float* row = logits + i * k;
    const float target = row[label];
    int64_t rank = 0;
    if (isnan(target)) {
      rank = lane == 0 ? k : 0;
    } else {
      for (int64_t j = lane; j < k; j += 32) rank += row[j] > target ? 1 : 0;
    }
    for (int offset = 16; offset > 0; offset /= 2) rank += __shfl_down_sync(0xffffffffu, rank, offset);
    if (lane == 0) ranks[i] = rank;
  }
}

// One block: out[q] = #{i : ranks[i] < k}.
__global__ void countBelow(const int64_t* ranks, int64_t n, int64_t k, int32_t* out) {
  __shared__ int64_t partial[kThreads];
  int64_t count = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) count += ranks[i] < k ? 1 : 0;
  partial[threadIdx.x] = count;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = static_cast<int32_t>(partial[0]);
}

// Inputs (logits [N,K], labels int32 [N]); output int32 [len(ks)].
class TopkCorrect : public Kernel {
 public:
  TopkCorrect(std::string op, Device& device, std::vector<int64_t> ks)
      : op_(std::move(op)), ks_(std::move(ks)), report_(device, op_) {}
  void run(const KernelArgs& a) override {
    CudaDevice& device = cudaDevice(a.device);
    cudaStream_t stream = device.stream();
    const int32_t* labels = a.in[1].as<int32_t>();
    int32_t* out = a.out[0].as<int32_t>();
    const int64_t n = a.in[0].dim(0), k = a.in[0].dim(1);
    int64_t* ranks = nullptr;
    report_.reset(stream, 0xff);
    if (n > 0) {
      ranks = static_cast<int64_t*>(device.workspace(static_cast<size_t>(n) * sizeof(int64_t), op_));
      rankLabels<<<blocksFor(n * 32), kThreads, 0, stream>>>(a.in[0].f32(), labels, ranks, n, k, report_.words());
      RN_CUDA_LAUNCHED(op_);
    }
    for (size_t q = 0; q < ks_.size(); ++q) {
      countBelow<<<1, kThreads, 0, stream>>>(ranks, n, ks_[q], out + q);
      RN_CUDA_LAUNCHED(op_);
    }
    report_.wait(stream);
    const unsigned long long bad = report_.word(0);
    if (bad != ULLONG_MAX) {
      int32_t label = 0;
      RN_CUDA(op_, cudaMemcpy(&label, labels + bad, sizeof label, cudaMemcpyDeviceToHost));
      RN_THROW(code::kInvalidArgument, op_,
               "label " + std::to_string(label) + " at index " + std::to_string(bad) + " is outside [0, " +
                   std::to_string(k) + ") for logits of shape [" + std::to_string(n) + "," + std::to_string(k) + "]");
    }
  }

 private:
  std::string op_;
  std::vector<int64_t> ks_;
  DataReport report_;
};

std::unique_ptr<Kernel> makeTopkCorrect(const KernelContext& ctx) {
  std::vector<int64_t> ks = ops::checkTopkCorrect(ctx);
  return std::make_unique<TopkCorrect>(ctx.op, ctx.device, std::move(ks));
}

RN_REGISTER_KERNEL("cuda", "topk_correct", makeTopkCorrect);

}  // namespace
}  // namespace rn::cuda
