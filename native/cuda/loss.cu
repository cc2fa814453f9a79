// Softmax cross-entropy on CUDA: forward (mean loss, per-sample losses, saved probabilities) and backward.
// Labels are int32 class indices; one outside [0, K) is an RN_INVALID_ARGUMENT naming the label and its index,
// as on the CPU: the kernels record the first bad row in a DataReport, and the op checks it after a stream
// synchronisation (the loss is read back every step anyway). The mean is a fixed-order sum in double.
#include <climits>

#include "../core/kernel.h"
#include "../ops/logits_labels.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

__device__ __forceinline__ bool badLabel(int32_t label, int64_t k) { return label < 0 || label >= k; }

// One warp per row i of logits [N,K]: probs = softmax(row); rowLoss[i] = log Σ exp(x - max) - (x[label] - max)
// in double; losses[i] = float(rowLoss[i]). A bad label gives NaN losses and records the row (report word 0).
__global__ void softmaxCrossEntropyRows(const float* logits, const int32_t* labels, float* losses, float* probs,
                                        double* rowLoss, int64_t n, int64_t k, unsigned long long* report) {
  const int lane = threadIdx.x % 32;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  for (int64_t i = warp; i < n; i += warps) {
    const float* row = logits + i * k;
    float* p = probs + i * k;
    float mx = -INFINITY;
    for (int64_t j = lane; j < k; j += 32) mx = fmaxf(mx, row[j]);
    for (int offset = 16; offset > 0; offset /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, offset));
    double sum = 0;
    for (int64_t j = lane; j < k; j += 32) sum += expf(row[j] - mx);
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = lane; j < k; j += 32) p[j] = expf(row[j] - mx) * inv;
    if (lane == 0) {
      const int32_t label = labels[i];
      double l;
      if (badLabel(label, k)) {
        atomicMin(&report[0], static_cast<unsigned long long>(i));
        l = NAN;
      } else {
        l = log(sum) - (static_cast<double>(row[label]) - mx);
      }
      rowLoss[i] = l;
      losses[i] = static_cast<float>(l);
    }
  }
}

// One block: loss[0] = float(Σ rowLoss / n), summed in a fixed order.
__global__ void meanLoss(const double* rowLoss, int64_t n, float* loss) {
  __shared__ double partial[kThreads];
  double sum = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += rowLoss[i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = static_cast<float>(partial[0] / static_cast<double>(n));
}

// dlogits = dloss·(probs − onehot(label))/N, element by element (dlogits may alias probs). dloss is read on the
// device. A bad label leaves its row without the one-hot term and records the row (report word 0).
__global__ void softmaxCrossEntropyBackward(const float* probs, const int32_t* labels, const float* dloss,
                                            float* dlogits, int64_t n, int64_t k, unsigned long long* report) {
  const float scale = static_cast<float>(static_cast<double>(*dloss) / static_cast<double>(n));
  RN_GRID_STRIDE(e, n * k) {
    const int64_t i = e / k, j = e % k;
    const int32_t label = labels[i];
    if (j == 0 && badLabel(label, k)) atomicMin(&report[0], static_cast<unsigned long long>(i));
    const float p = probs[e];
    dlogits[e] = j == label ? (p - 1.0f) * scale : p * scale;
  }
}

// Throws the CPU's message for the first bad row recorded in `report`, if any (after report.wait()).
void checkLabels(const std::string& op, const char* rowsName, const DataReport& report, const int32_t* labels,
                 int64_t n, int64_t k) {
  const unsigned long long bad = report.word(0);
  if (bad == ULLONG_MAX) return;
  int32_t label = 0;
  RN_CUDA(op, cudaMemcpy(&label, labels + bad, sizeof label, cudaMemcpyDeviceToHost));
  RN_THROW(code::kInvalidArgument, op,
           ops::labelOutsideMessage(label, static_cast<int64_t>(bad), k, rowsName, n));
}

using ops::expectLogitsAndLabels;

// Inputs (logits [N,K], labels int32 [N]); outputs (loss [1], losses [N], probs [N,K]).
class SoftmaxCrossEntropyForward : public Kernel {
 public:
  SoftmaxCrossEntropyForward(std::string op, Device& device) : op_(std::move(op)), report_(device, op_) {}
  void run(const KernelArgs& a) override {
    CudaDevice& device = cudaDevice(a.device);
    cudaStream_t stream = device.stream();
    const int32_t* labels = a.in[1].as<int32_t>();
    const int64_t n = a.in[0].dim(0), k = a.in[0].dim(1);
    double* rowLoss = nullptr;
    report_.reset(stream, 0xff);
    if (n > 0) {
      rowLoss = static_cast<double*>(device.workspace(static_cast<size_t>(n) * sizeof(double), op_));
      softmaxCrossEntropyRows<<<blocksFor(n * 32), kThreads, 0, stream>>>(
          a.in[0].f32(), labels, a.out[1].f32(), a.out[2].f32(), rowLoss, n, k, report_.words());
      RN_CUDA_LAUNCHED(op_);
    }
    meanLoss<<<1, kThreads, 0, stream>>>(rowLoss, n, a.out[0].f32());
    RN_CUDA_LAUNCHED(op_);
    report_.wait(stream);
    checkLabels(op_, "logits", report_, labels, n, k);
  }

 private:
  std::string op_;
  DataReport report_;
};

// Inputs (probs [N,K], labels int32 [N], dloss [1]); output dlogits [N,K].
class SoftmaxCrossEntropyBackward : public Kernel {
 public:
  SoftmaxCrossEntropyBackward(std::string op, Device& device) : op_(std::move(op)), report_(device, op_) {}
  void run(const KernelArgs& a) override {
    cudaStream_t stream = cudaDevice(a.device).stream();
    const int32_t* labels = a.in[1].as<int32_t>();
    const int64_t n = a.in[0].dim(0), k = a.in[0].dim(1);
    if (n * k == 0) return;
    report_.reset(stream, 0xff);
    softmaxCrossEntropyBackward<<<blocksFor(n * k), kThreads, 0, stream>>>(
        a.in[0].f32(), labels, a.in[2].f32(), a.out[0].f32(), n, k, report_.words());
    RN_CUDA_LAUNCHED(op_);
    report_.wait(stream);
    checkLabels(op_, "probs", report_, labels, n, k);
  }

 private:
  std::string op_;
  DataReport report_;
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
  return std::make_unique<SoftmaxCrossEntropyForward>(ctx.op, ctx.device);
}

std::unique_ptr<Kernel> makeBackward(const KernelContext& ctx) {
  ctx.expectArity(3, 1);
  expectLogitsAndLabels(ctx, "probs");
  ctx.expectDtype(ctx.inputs[2], DType::F32, "dloss");
  ctx.expectShape(ctx.inputs[2], {1}, "dloss");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "dlogits");
  ctx.expectShape(ctx.outputs[0], ctx.inputs[0].shape, "dlogits");
  return std::make_unique<SoftmaxCrossEntropyBackward>(ctx.op, ctx.device);
}

RN_REGISTER_KERNEL("cuda", "softmax_cross_entropy_forward", makeForward);
RN_REGISTER_KERNEL("cuda", "softmax_cross_entropy_backward", makeBackward);

}  // namespace
}  // namespace rn::cuda
