// CPU devices: aligned host memory, a worker thread per device that owns its OpenMP pool, oneDNN engine and streams.
#include "backend.h"

#include <omp.h>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "../core/errors.h"

namespace rn::cpu {
namespace {

std::atomic<int> gThreads{0};
thread_local int tAppliedThreads = -1;

int defaultThreads() {
  if (const char* env = std::getenv("RN_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

// OpenMP's thread count is per calling thread: each device's worker applies its own.
void applyThreads(int deviceThreads) {
  int n = deviceThreads > 0 ? deviceThreads : numThreads();
  if (tAppliedThreads != n) {
    omp_set_num_threads(n);
    tAppliedThreads = n;
  }
}

// Large blocks are kept for reuse: fresh pages fault on first write (2,048 faults for an 8 MB eager
// output), which cost a third of a small convolution's time. Blocks of 1 MiB and up are cached by
// rounded size, up to a cap; smaller ones go straight to malloc, whose own free lists serve them well.
class BlockCache {
 public:
  void* allocate(size_t bytes) {
    const size_t rounded = roundUp(bytes);
    if (rounded >= kMinCached) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(rounded);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cachedBytes_ -= rounded;
        return p;
      }
    }
    void* p = std::aligned_alloc(64, rounded);
    if (!p) {
      trim();
      p = std::aligned_alloc(64, rounded);
    }
    if (!p) RN_THROW(code::kOutOfMemory, "", "out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }

  void release(void* p, size_t bytes) {
    const size_t rounded = roundUp(bytes);
    if (rounded >= kMinCached) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cachedBytes_ + rounded <= kMaxCachedBytes) {
        free_[rounded].push_back(p);
        cachedBytes_ += rounded;
        return;
      }
    }
    std::free(p);
  }

 private:
  static constexpr size_t kMinCached = size_t(1) << 20;
  static constexpr size_t kMaxCachedBytes = size_t(1) << 30;
  // 64-byte multiples below 1 MiB; above, multiples of 1/8 of the next power of two, so near sizes share a bucket.
  static size_t roundUp(size_t bytes) {
    if (bytes < kMinCached) return (bytes + 63) / 64 * 64;
    size_t power = kMinCached;
    while (power < bytes) power <<= 1;
    const size_t step = power / 8;
    return (bytes + step - 1) / step * step;
  }
  void trim() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& kv : free_) {
      for (void* p : kv.second) std::free(p);
    }
    free_.clear();
    cachedBytes_ = 0;
  }
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;
  size_t cachedBytes_ = 0;
};

BlockCache& cache() {
  static BlockCache* c = new BlockCache();  // never destroyed: storages may be freed during exit
  return *c;
}

// 'cpu' (index 0) and 'cpu:N': replicas of a data-parallel run, each with its own worker and thread count.
class CpuDevice : public Device {
 public:
  explicit CpuDevice(int index) : Device(index == 0 ? "cpu" : "cpu:" + std::to_string(index), "cpu") {
    worker_ = std::make_unique<Worker>([this] { applyThreads(threads_.load()); });
  }

  // 0: the process-wide count. Applied by a job queued behind the device's pending work.
  void setThreads(int n) {
    threads_.store(n > 0 ? n : 0);
    worker_->submit([this] { applyThreads(threads_.load()); });
  }
  int threads() const {
    int n = threads_.load();
    return n > 0 ? n : numThreads();
  }

  void* allocate(size_t bytes) override { return cache().allocate(bytes); }
  void release(void* ptr, size_t bytes) override { cache().release(ptr, bytes); }
  void copyFromHost(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copyToHost(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copyOnDevice(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void fillZero(void* dst, size_t bytes) override { std::memset(dst, 0, bytes); }
  void synchronize() override { applyThreads(threads_.load()); }
  bool hostAccessible() const override { return true; }

 private:
  std::atomic<int> threads_{0};
};

const bool registered = (registerBackend("cpu", [](int index, int slot) -> std::unique_ptr<Device> {
                           RN_CHECK(slot == 0, code::kInvalidArgument, "",
                                    "cpu devices have no replica slots ('cpu:" + std::to_string(index) + "/" +
                                        std::to_string(slot) + "'): each 'cpu:N' already is a replica with its own worker");
                           return std::make_unique<CpuDevice>(index);
                         }),
                         true);

}  // namespace

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// One stream per worker thread: CPU devices run their kernels concurrently.
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

int numThreads() {
  int n = gThreads.load();
  if (n <= 0) {
    n = defaultThreads();
    gThreads.store(n);
  }
  return n;
}

void setNumThreads(int n) { gThreads.store(n > 0 ? n : defaultThreads()); }

int setDeviceThreads(Device& device, int n) {
  auto* cpuDevice = dynamic_cast<CpuDevice*>(&device);
  RN_CHECK(cpuDevice, code::kInvalidArgument, "", "'" + device.name() + "' is not a CPU device");
  cpuDevice->setThreads(n);
  return cpuDevice->threads();
}

dnnl::memory::desc layoutDesc(const Shape& shape, Layout layout) {
  if (layout == Layout::Plain) return plainDesc(shape);
  return {dnnl::memory::dims(shape.begin(), shape.end()), dnnl::memory::data_type::f32,
          dnnl::memory::format_tag::nChw16c};
}

dnnl::memory::desc plainDesc(const Shape& shape, dnnl::memory::data_type type) {
  using tag = dnnl::memory::format_tag;
  dnnl::memory::dims dims(shape.begin(), shape.end());
  switch (shape.size()) {
    case 1: return {dims, type, tag::a};
    case 2: return {dims, type, tag::ab};
    case 3: return {dims, type, tag::abc};
    case 4: return {dims, type, tag::abcd};
    case 5: return {dims, type, tag::abcde};
    default: break;
  }
  RN_THROW(code::kInvalidArgument, "", "no plain oneDNN layout for rank " + std::to_string(shape.size()));
}

}  // namespace rn::cpu
