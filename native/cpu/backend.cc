// CPU device: aligned host memory, a worker thread that owns the OpenMP pool, oneDNN engine and stream.
#include "backend.h"

#include <omp.h>

#include <atomic>
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

void applyThreads() {
  int n = numThreads();
  if (tAppliedThreads != n) {
    omp_set_num_threads(n);
    tAppliedThreads = n;
  }
}

class CpuDevice : public Device {
 public:
  CpuDevice() : Device("cpu", "cpu") { worker_ = std::make_unique<Worker>(applyThreads); }

  void* allocate(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) {
      RN_THROW(code::kOutOfMemory, "", "out of host memory allocating " + std::to_string(bytes) + " bytes");
    }
    return p;
  }
  void release(void* ptr, size_t) override { std::free(ptr); }
  void copyFromHost(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copyToHost(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copyOnDevice(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void fillZero(void* dst, size_t bytes) override { std::memset(dst, 0, bytes); }
  void synchronize() override { applyThreads(); }
  bool hostAccessible() const override { return true; }
};

const bool registered = (registerBackend("cpu", [](int index) -> std::unique_ptr<Device> {
                           if (index != 0) {
                             RN_THROW(code::kInvalidArgument, "", "the CPU backend has one device, 'cpu'");
                           }
                           return std::make_unique<CpuDevice>();
                         }),
                         true);

}  // namespace

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
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
