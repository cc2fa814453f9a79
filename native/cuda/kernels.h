// Helpers shared by the CUDA op files: grid-stride loops, launch sizes, cuDNN tensor descriptors, and the report
// through which a kernel flags bad data (a label outside its range, a bad learning rate) so that the op can
// throw as the CPU's does.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "common.h"

namespace rn::cuda {

constexpr int kThreads = 256;

// Element i of a grid-stride loop over [0, n): any n fits any grid, indices are 64-bit.
#define RN_GRID_STRIDE(i, n)                                                                   \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);       \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// A few 64-bit words in device memory that kernels write when they find bad data, copied to pinned host memory
// after the op's launches and read after a stream synchronisation, so that the op can throw as the CPU's does:
// a sync per run, paid only by the few ops whose CPU twin validates data (loss, top-k, max-pool backward,
// updates). Device memory rather than mapped host memory: atomics on host memory are not portable over PCIe.
class DataReport {
 public:
  static constexpr int kWords = 4;
  static constexpr size_t kBytes = kWords * sizeof(unsigned long long);

  DataReport(Device& device, const std::string& op) : device_(device), op_(op) {
    words_ = static_cast<unsigned long long*>(device_.allocate(kBytes));
    const cudaError_t status = cudaMallocHost(reinterpret_cast<void**>(&host_), kBytes);
    if (status != cudaSuccess) {
      device_.release(words_, kBytes);
      throwCuda(op_.c_str(), status, "cudaMallocHost", __FILE__, __LINE__);
    }
  }
  ~DataReport() {
    cudaFreeHost(host_);
    device_.release(words_, kBytes);
  }
  DataReport(const DataReport&) = delete;
  DataReport& operator=(const DataReport&) = delete;

  // Before the op's launches: every byte of every word set to `byte` (0x00: zeros; 0xff: ULLONG_MAX).
  void reset(cudaStream_t stream, unsigned char byte) { RN_CUDA(op_, cudaMemsetAsync(words_, byte, kBytes, stream)); }
  unsigned long long* words() const { return words_; }
  // After the op's launches: copies the words back and waits for the stream.
  void wait(cudaStream_t stream) {
    RN_CUDA(op_, cudaMemcpyAsync(host_, words_, kBytes, cudaMemcpyDeviceToHost, stream));
    RN_CUDA(op_, cudaStreamSynchronize(stream));
  }
  unsigned long long word(int i) const { return host_[i]; }

 private:
  Device& device_;
  std::string op_;
  unsigned long long* words_ = nullptr;  // device
  unsigned long long* host_ = nullptr;   // pinned
};

// cuDNN's legacy API takes int sizes and strides: a tensor it sees holds at most 2^31-1 elements.
inline void expectCudnnSized(const KernelContext& ctx, const ValueInfo& value, const std::string& what) {
  if (numel(value.shape) > 2147483647) {
    ctx.fail(code::kInvalidArgument, "cuDNN takes at most 2^31-1 elements per tensor, but " + what + " " +
                                         shapeString(value.shape) + " holds more");
  }
}

// A dense NCHW float32 tensor descriptor of a rank-4 shape, owned.
class TensorDescriptor {
 public:
  TensorDescriptor(const std::string& op, const Shape& nchw) {
    RN_CUDNN(op, cudnnCreateTensorDescriptor(&desc_));
    try {
      RN_CUDNN(op, cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(nchw[0]),
                                              static_cast<int>(nchw[1]), static_cast<int>(nchw[2]),
                                              static_cast<int>(nchw[3])));
    } catch (...) {
      cudnnDestroyTensorDescriptor(desc_);
      throw;
    }
  }
  ~TensorDescriptor() { cudnnDestroyTensorDescriptor(desc_); }
  TensorDescriptor(const TensorDescriptor&) = delete;
  TensorDescriptor& operator=(const TensorDescriptor&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

}  // namespace rn::cuda
