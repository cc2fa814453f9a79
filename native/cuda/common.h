// The CUDA backend's shared pieces: its device (stream, library handles, workspace, allocator) and the
// status checks that turn every CUDA / cuDNN / cuBLAS / NCCL failure into an rn::Error naming the op.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "../core/device.h"
#include "../core/errors.h"
#include "../core/kernel.h"

namespace rn::cuda {

class CudaDevice : public Device {
 public:
  using Device::Device;
  // Everything below is used from the device's worker thread only (one stream per device).
  virtual int index() const = 0;  // the GPU (replica slots "cuda:N/S" of one GPU share it)
  virtual cudaStream_t stream() const = 0;
  virtual cudnnHandle_t cudnn() = 0;    // bound to stream()
  virtual cublasHandle_t cublas() = 0;  // bound to stream()
  // A block freed at once rather than cached (CachingAllocator::releaseUncached): one-off sizes.
  virtual void releaseUncached(void* ptr, size_t bytes) = 0;
  // A scratch buffer of at least `bytes`, valid until the next call (work on one stream is ordered).
  // Throws RN_OUT_OF_MEMORY naming `op` and the bytes asked for.
  virtual void* workspace(size_t bytes, const std::string& op) = 0;
  // Bytes a convolution may use as workspace (setting "cudnn_workspace_limit", default 1 GiB).
  virtual size_t workspaceLimit() const = 0;
};

// The CudaDevice behind a kernel's Device (throws RN_INTERNAL if it is not a CUDA device).
CudaDevice& cudaDevice(Device& device);

// "fastest" | "default" | "deterministic": setting "cudnn" (fb.resnet.torch's -cudnn), read when kernels are built.
std::string convolutionMode();

[[noreturn]] void throwCuda(const char* op, cudaError_t status, const char* expr, const char* file, int line);
[[noreturn]] void throwCudnn(const char* op, cudnnStatus_t status, const char* expr, const char* file, int line);
[[noreturn]] void throwCublas(const char* op, cublasStatus_t status, const char* expr, const char* file, int line);

inline int blocksFor(int64_t n, int threads = 256) {
  int64_t blocks = (n + threads - 1) / threads;
  return static_cast<int>(blocks < 65535 * 32 ? blocks : 65535 * 32);
}

}  // namespace rn::cuda

// RN_CUDA(op, cudaMemcpyAsync(...)); op is the rn op name (a std::string or const char*).
#define RN_CUDA(op_, expr_)                                                                           \
  do {                                                                                                \
    cudaError_t rnStatus_ = (expr_);                                                                  \
    if (rnStatus_ != cudaSuccess) ::rn::cuda::throwCuda(std::string(op_).c_str(), rnStatus_, #expr_, __FILE__, __LINE__); \
  } while (0)
#define RN_CUDNN(op_, expr_)                                                                            \
  do {                                                                                                  \
    cudnnStatus_t rnStatus_ = (expr_);                                                                  \
    if (rnStatus_ != CUDNN_STATUS_SUCCESS) ::rn::cuda::throwCudnn(std::string(op_).c_str(), rnStatus_, #expr_, __FILE__, __LINE__); \
  } while (0)
#define RN_CUBLAS(op_, expr_)                                                                             \
  do {                                                                                                    \
    cublasStatus_t rnStatus_ = (expr_);                                                                   \
    if (rnStatus_ != CUBLAS_STATUS_SUCCESS) ::rn::cuda::throwCublas(std::string(op_).c_str(), rnStatus_, #expr_, __FILE__, __LINE__); \
  } while (0)
// After a kernel launch: launch errors (bad configuration) surface at once, naming the op.
#define RN_CUDA_LAUNCHED(op_) RN_CUDA(op_, cudaGetLastError())
