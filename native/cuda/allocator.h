// A caching device allocator: freed blocks go to per-size free lists and are handed out again, so a training
// loop that allocates the same sizes every step calls cudaMalloc only in its first steps.
#pragma once
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend.h"

namespace rn::cuda {

class CachingAllocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Thread-safe (tensors are created on the JS thread, arenas and workspaces on the worker). A cudaMalloc
  // failure frees the cache and retries once, then throws RN_OUT_OF_MEMORY naming `what` and the bytes.
  void* allocate(size_t bytes, const std::string& what);
  // The block becomes reusable at once: all work on a device runs on its one stream, in order, so any
  // later user of the block is queued after the work that still reads or writes it.
  void release(void* ptr, size_t bytes);
  // Returns the block to CUDA at once, after the device's queued work has finished, rather than caching it: for
  // one-off blocks (algorithm-search scratch, an outgrown workspace) whose size would never be asked again and
  // would only swell the reserved memory.
  void releaseUncached(void* ptr, size_t bytes);
  // Returns every cached block to CUDA (after the device's queued work has finished).
  void emptyCache();
  MemoryStats stats() const;

  // The size class a request is served from: 512-byte steps up to 1 MiB, then 8 steps per power of two
  // (at most 12.5 % over).
  static size_t roundSize(size_t bytes);

 private:
  void freeCachedLocked();
  int device_;
  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // size class → blocks
  MemoryStats stats_;
};

}  // namespace rn::cuda
