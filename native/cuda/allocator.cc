// Size-bucketed free lists over cudaMalloc, with the byte counts `resnet-node doctor` and benchmarks report.
#include "allocator.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>

#include "../core/errors.h"

namespace rn::cuda {
namespace {

// cudaMalloc and cudaFree are "potentially unsafe" during a stream capture, and cuDNN captures CUDA graphs
// internally (global mode): made in the default mode, from the JS thread (tensors are created there) or another
// device's worker, they would be refused and invalidate that capture (error 901). In relaxed mode they are
// neither; the thread's own mode is restored after.
class RelaxedCaptureScope {
 public:
  RelaxedCaptureScope() { cudaThreadExchangeStreamCaptureMode(&mode_); }
  ~RelaxedCaptureScope() { cudaThreadExchangeStreamCaptureMode(&mode_); }
  RelaxedCaptureScope(const RelaxedCaptureScope&) = delete;
  RelaxedCaptureScope& operator=(const RelaxedCaptureScope&) = delete;

 private:
  cudaStreamCaptureMode mode_ = cudaStreamCaptureModeRelaxed;
};

std::string mib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

}  // namespace

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex_);
  freeCachedLocked();
}

size_t CachingAllocator::roundSize(size_t bytes) {
  constexpr size_t kSmallStep = 512;
  constexpr size_t kSmallLimit = size_t(1) << 20;
  if (bytes <= kSmallLimit) return std::max<size_t>(kSmallStep, (bytes + kSmallStep - 1) / kSmallStep * kSmallStep);
  // Eight size classes per power of two, but never coarser than 2 MiB: a planned arena is one block of
  // hundreds of MiB to GiB, and an eighth of its power of two wasted up to 12 % of it (ResNet-50 b128's
  // 10.4 GiB arena took 11 GiB; ResNet-110 b128's 1046 MiB, 1152 MiB). Blocks of one size recur every step, so
  // exact-size reuse of the cache still holds.
  constexpr size_t kLargeStep = size_t(2) << 20;
  size_t power = kSmallLimit;
  while (power * 2 < bytes) power *= 2;  // power < bytes ≤ 2·power
  const size_t step = std::min(power / 8, kLargeStep);
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t bytes, const std::string& what) {
  const size_t size = roundSize(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* ptr = nullptr;
  auto bucket = free_.find(size);
  if (bucket != free_.end() && !bucket->second.empty()) {
    ptr = bucket->second.back();
    bucket->second.pop_back();
  } else {
    // Tensors are created on the JS thread, which may have another device current.
    RelaxedCaptureScope relaxed;
    cudaSetDevice(device_);
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      freeCachedLocked();
      status = cudaMalloc(&ptr, size);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      size_t freeBytes = 0, totalBytes = 0;
      cudaMemGetInfo(&freeBytes, &totalBytes);
      std::string message = "out of memory on cuda:" + std::to_string(device_) + " allocating " + std::to_string(bytes) +
                            " bytes (" + mib(bytes) + ")" + (what.empty() ? "" : " for " + what) + ": " +
                            mib(stats_.allocatedBytes) + " in use by this process's tensors, " + mib(freeBytes) +
                            " free of " + mib(totalBytes) + " on the device (" + cudaGetErrorString(status) +
                            "). Use a smaller batch, or setting cudnn_workspace_limit for convolution workspaces";
      throw Error(code::kOutOfMemory, what, message, __FILE__, __LINE__);
    }
    stats_.reservedBytes += size;
    stats_.peakReservedBytes = std::max(stats_.peakReservedBytes, stats_.reservedBytes);
  }
  stats_.allocatedBytes += size;
  stats_.peakAllocatedBytes = std::max(stats_.peakAllocatedBytes, stats_.allocatedBytes);
  return ptr;
}

void CachingAllocator::release(void* ptr, size_t bytes) {
  if (!ptr) return;
  const size_t size = roundSize(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  free_[size].push_back(ptr);
  stats_.allocatedBytes -= size;
}

void CachingAllocator::releaseUncached(void* ptr, size_t bytes) {
  if (!ptr) return;
  const size_t size = roundSize(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  RelaxedCaptureScope relaxed;
  cudaSetDevice(device_);
  cudaDeviceSynchronize();  // queued kernels may still use it
  cudaFree(ptr);
  cudaGetLastError();
  stats_.allocatedBytes -= size;
  stats_.reservedBytes -= size;
}

void CachingAllocator::emptyCache() {
  std::lock_guard<std::mutex> lock(mutex_);
  freeCachedLocked();
}

void CachingAllocator::freeCachedLocked() {
  if (free_.empty()) return;
  RelaxedCaptureScope relaxed;
  cudaSetDevice(device_);
  // A cached block may still be in use by queued kernels (a released workspace): let them finish.
  cudaDeviceSynchronize();
  for (auto& [size, blocks] : free_) {
    for (void* block : blocks) {
      cudaFree(block);
      stats_.reservedBytes -= size;
    }
  }
  free_.clear();
  cudaGetLastError();
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace rn::cuda
