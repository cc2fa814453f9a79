// The CUDA device: a worker thread owning one non-blocking stream and the cuDNN / cuBLAS handles bound to it,
// a caching allocator, pinned staging for host transfers and a growing workspace. Registers backend "cuda".
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "../core/settings.h"
#include "allocator.h"
#include "backend.h"
#include "common.h"

namespace rn::cuda {
namespace {

constexpr size_t kStagingChunk = size_t(32) << 20;  // bytes per pinned buffer; two alternate

class CudaDeviceImpl;

// memcpy of a large block with several threads: one core copies ~8-10 GB/s, so staging a ResNet-50 batch of 128
// (77 MB) into pinned memory alone would take ~8 ms per step while the GPU waits. Slices of at least 4 MiB.
void parallelCopy(void* dst, const void* src, size_t bytes) {
  constexpr size_t kSlice = size_t(4) << 20;
  static const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency() / 2, 1, 8);
  const size_t parts = std::min(threads, std::max<size_t>(1, bytes / kSlice));
  if (parts <= 1) {
    std::memcpy(dst, src, bytes);
    return;
  }
  const size_t step = (bytes + parts - 1) / parts;
  auto copyPart = [&](size_t k) {
    const size_t from = k * step;
    if (from < bytes) std::memcpy(static_cast<char*>(dst) + from, static_cast<const char*>(src) + from, std::min(step, bytes - from));
  };
  std::vector<std::thread> helpers;
  helpers.reserve(parts - 1);
  for (size_t k = 1; k < parts; ++k) helpers.emplace_back(copyPart, k);
  copyPart(0);
  for (auto& t : helpers) t.join();
}

struct OpenedTable {
  std::mutex mutex;
  std::vector<CudaDeviceImpl*> devices;
};
OpenedTable& opened() {
  static auto* table = new OpenedTable();
  return *table;
}

// Host-to-device and device-to-host copies go through two pinned buffers used in turn, so the host copy
// of one chunk overlaps the DMA of the other. Used on the worker thread only.
struct PinnedSlot {
  void* host = nullptr;
  size_t bytes = 0;
  cudaEvent_t done = nullptr;  // recorded after the DMA that last used `host`
};

class CudaDeviceImpl final : public CudaDevice {
 public:
  CudaDeviceImpl(int index, std::string name)
      : CudaDevice(std::move(name), "cuda"), index_(index), allocator_(index) {
    worker_ = std::make_unique<Worker>([this] { start(); });
  }

  ~CudaDeviceImpl() override {
    worker_.reset();  // joins the thread; nothing runs on the stream from here on
    if (stream_) cudaStreamSynchronize(stream_);
    if (workspace_) allocator_.release(workspace_, workspaceBytes_);
    for (auto& slot : staging_) {
      if (slot.done) cudaEventDestroy(slot.done);
      if (slot.host) cudaFreeHost(slot.host);
    }
    if (cublas_) cublasDestroy(cublas_);
    if (cudnn_) cudnnDestroy(cudnn_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  // Rethrows what went wrong while the worker set the device up (on the worker).
  void checkStarted() const {
    if (startError_) std::rethrow_exception(startError_);
  }

  int index() const override { return index_; }
  cudaStream_t stream() const override { return stream_; }
  cudnnHandle_t cudnn() override { return cudnn_; }
  cublasHandle_t cublas() override { return cublas_; }
  MemoryStats memory() const { return allocator_.stats(); }

  void* allocate(size_t bytes) override { return allocator_.allocate(bytes, ""); }
  void release(void* ptr, size_t bytes) override { allocator_.release(ptr, bytes); }
  void releaseUncached(void* ptr, size_t bytes) override { allocator_.releaseUncached(ptr, bytes); }

  void copyFromHost(void* dst, const void* src, size_t bytes) override {
    const char* from = static_cast<const char*>(src);
    char* to = static_cast<char*>(dst);
    for (size_t done = 0, k = 0; done < bytes; ++k) {
      const size_t n = std::min(kStagingChunk, bytes - done);
      PinnedSlot& slot = pinned(k % 2, n, "copyFromHost");
      RN_CUDA("copyFromHost", cudaEventSynchronize(slot.done));
      parallelCopy(slot.host, from + done, n);
      RN_CUDA("copyFromHost", cudaMemcpyAsync(to + done, slot.host, n, cudaMemcpyHostToDevice, stream_));
      RN_CUDA("copyFromHost", cudaEventRecord(slot.done, stream_));
      done += n;
    }
    // No wait: `src` has been copied to pinned memory, and later work on the stream comes after the DMA.
  }

  void copyToHost(void* dst, const void* src, size_t bytes) override {
    const char* from = static_cast<const char*>(src);
    char* to = static_cast<char*>(dst);
    const size_t chunks = (bytes + kStagingChunk - 1) / kStagingChunk;
    auto chunkBytes = [&](size_t k) { return std::min(kStagingChunk, bytes - k * kStagingChunk); };
    auto issue = [&](size_t k) {
      PinnedSlot& slot = pinned(k % 2, chunkBytes(k), "copyToHost");
      RN_CUDA("copyToHost", cudaMemcpyAsync(slot.host, from + k * kStagingChunk, chunkBytes(k), cudaMemcpyDeviceToHost, stream_));
      RN_CUDA("copyToHost", cudaEventRecord(slot.done, stream_));
    };
    if (chunks > 0) issue(0);
    for (size_t k = 0; k < chunks; ++k) {
      if (k + 1 < chunks) issue(k + 1);  // its slot's previous chunk (k-1) has been copied out already
      PinnedSlot& slot = staging_[k % 2];
      RN_CUDA("copyToHost", cudaEventSynchronize(slot.done));
      parallelCopy(to + k * kStagingChunk, slot.host, chunkBytes(k));
    }
  }

  void copyOnDevice(void* dst, const void* src, size_t bytes) override {
    RN_CUDA("copyOnDevice", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  }

  void fillZero(void* dst, size_t bytes) override { RN_CUDA("fillZero", cudaMemsetAsync(dst, 0, bytes, stream_)); }

  // Kernel errors that surfaced after their launch are reported here (Program::run ends with it).
  void synchronize() override { RN_CUDA("synchronize", cudaStreamSynchronize(stream_)); }

  void* workspace(size_t bytes, const std::string& op) override {
    if (bytes <= workspaceBytes_) return workspace_;
    // Outgrown (warm-up steps only): freed, not cached, as its size will not be asked for again.
    if (workspace_) allocator_.releaseUncached(workspace_, workspaceBytes_);
    workspace_ = nullptr;
    workspaceBytes_ = 0;
    workspace_ = allocator_.allocate(bytes, op + " workspace");
    workspaceBytes_ = bytes;
    return workspace_;
  }

  size_t workspaceLimit() const override {
    const std::string text = getSetting("cudnn_workspace_limit", "");
    if (text.empty()) return size_t(1) << 30;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    const std::string unit = end ? std::string(end) : std::string();
    double scale = 0;
    if (unit.empty() || unit == "B") scale = 1;
    else if (unit == "K" || unit == "KiB") scale = 1 << 10;
    else if (unit == "M" || unit == "MiB") scale = 1 << 20;
    else if (unit == "G" || unit == "GiB") scale = double(1 << 30);
    RN_CHECK(scale > 0 && end != text.c_str() && value >= 0, code::kInvalidArgument, "",
             "Expected bytes such as 1073741824, 512MiB or 2GiB for setting cudnn_workspace_limit but received '" + text +
                 "'");
    return static_cast<size_t>(value * scale);
  }

 private:
  // On the worker thread: the device, its stream and the library handles all belong to this thread.
  void start() {
    try {
      RN_CUDA("cuda device start", cudaSetDevice(index_));
      // cuDNN may capture CUDA graphs internally (in global capture mode), and then a potentially unsafe call
      // (cudaMalloc, cudaHostAlloc, a synchronisation) from any other thread of the process is refused and
      // invalidates that capture (cudaErrorStreamCaptureInvalidated, seen with two replica slots of one GPU). This
      // worker's own calls are therefore made in relaxed mode, which neither refuses them nor breaks another
      // worker's capture; the allocator does the same around cudaMalloc/cudaFree on any thread (the JS thread's
      // tensors).
      cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
      RN_CUDA("cuda device start", cudaThreadExchangeStreamCaptureMode(&mode));
      RN_CUDA("cuda device start", cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      RN_CUDNN("cuda device start", cudnnCreate(&cudnn_));
      RN_CUDNN("cuda device start", cudnnSetStream(cudnn_, stream_));
      RN_CUBLAS("cuda device start", cublasCreate(&cublas_));
      RN_CUBLAS("cuda device start", cublasSetStream(cublas_, stream_));
      for (auto& slot : staging_) RN_CUDA("cuda device start", cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming));
    } catch (...) {
      startError_ = std::current_exception();
    }
  }

  PinnedSlot& pinned(size_t which, size_t bytes, const char* op) {
    PinnedSlot& slot = staging_[which];
    if (slot.bytes >= bytes) return slot;
    RN_CUDA(op, cudaEventSynchronize(slot.done));
    if (slot.host) RN_CUDA(op, cudaFreeHost(slot.host));
    slot.host = nullptr;
    slot.bytes = 0;
    size_t size = 1 << 16;
    while (size < bytes) size *= 2;
    size = std::min(size, kStagingChunk);
    RN_CUDA(op, cudaHostAlloc(&slot.host, size, cudaHostAllocDefault));
    slot.bytes = size;
    return slot;
  }

  int index_;
  CachingAllocator allocator_;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  PinnedSlot staging_[2];
  void* workspace_ = nullptr;
  size_t workspaceBytes_ = 0;
  std::exception_ptr startError_;
};

// Slot s > 0 ("cuda:0/1"): a further replica on GPU `index` with its own worker, stream, cuDNN/cuBLAS handles
// and caching allocator, so two replicas can train on one GPU (in-process groups reduce them by copies).
std::unique_ptr<Device> makeCudaDevice(int index, int slot) {
  const std::string name = "cuda:" + std::to_string(index) + (slot > 0 ? "/" + std::to_string(slot) : "");
  int count = 0;
  const std::string reason = unavailableReason(&count);
  RN_CHECK(reason.empty(), code::kDeviceUnavailable, "", "device '" + name + "' is unavailable: " + reason);
  if (index >= count) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    RN_THROW(code::kDeviceUnavailable, "",
             "device '" + name + "' does not exist: this machine shows " + std::to_string(count) + " CUDA device" +
                 (count == 1 ? " (cuda:0)" : "s (cuda:0 … cuda:" + std::to_string(count - 1) + ")") +
                 (visible ? std::string(" with CUDA_VISIBLE_DEVICES=") + visible : std::string()));
  }
  const std::string imageProblem = kernelImageProblem(index);
  RN_CHECK(imageProblem.empty(), code::kDeviceUnavailable, "", "device '" + name + "' is unavailable: " + imageProblem);
  auto device = std::make_unique<CudaDeviceImpl>(index, name);
  device->worker().runSync([&] { device->checkStarted(); });
  std::lock_guard<std::mutex> lock(opened().mutex);
  opened().devices.push_back(device.get());
  return device;
}

const bool registered = (registerBackend("cuda", makeCudaDevice), true);

std::string statusText(cudaError_t status) {
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status) + " (error " +
         std::to_string(static_cast<int>(status)) + ")";
}

}  // namespace

std::string cudaVersionString(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

std::string unavailableReason(int* deviceCount) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (deviceCount) *deviceCount = status == cudaSuccess ? count : 0;
  if (status == cudaSuccess && count > 0) return "";
  cudaGetLastError();
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  const std::string needs = "CUDA " + cudaVersionString(runtime);
  if (status == cudaErrorInsufficientDriver) {
    const std::string found = driver == 0 ? "no NVIDIA driver is installed"
                                          : "the NVIDIA driver supports CUDA " + cudaVersionString(driver) + " only";
    return found + ", and this CUDA library needs a driver for " + needs + " (cudaGetDeviceCount: " + statusText(status) +
           "). Fix: on a machine with an NVIDIA GPU, install or update its driver (CUDA 13 needs driver 580 or newer) "
           "and check that `nvidia-smi` lists the GPU; elsewhere use device 'cpu'";
  }
  if (status == cudaErrorNoDevice || (status == cudaSuccess && count == 0)) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    return std::string("no CUDA GPU is visible (cudaGetDeviceCount: ") +
           (status == cudaSuccess ? std::string("0 devices") : statusText(status)) +
           "). Fix: check that `nvidia-smi` lists a GPU" +
           (visible ? std::string(" and CUDA_VISIBLE_DEVICES (now '") + visible + "')" : std::string()) +
           "; elsewhere use device 'cpu'";
  }
  return "cudaGetDeviceCount failed: " + statusText(status) +
         ". Fix: check the NVIDIA driver with `nvidia-smi`; elsewhere use device 'cpu'";
}

std::vector<OpenedDevice> openedDevices() {
  std::lock_guard<std::mutex> lock(opened().mutex);
  std::vector<OpenedDevice> out;
  for (auto* device : opened().devices) out.push_back({device->index(), device->memory()});
  return out;
}

CudaDevice& cudaDevice(Device& device) {
  auto* cuda = dynamic_cast<CudaDevice*>(&device);
  RN_CHECK(cuda, code::kInternal, "", "device '" + device.name() + "' is not a CUDA device");
  return *cuda;
}

std::string convolutionMode() {
  const std::string mode = getSetting("cudnn", "fastest");
  RN_CHECK(mode == "fastest" || mode == "default" || mode == "deterministic", code::kInvalidArgument, "",
           "Expected fastest, default or deterministic for setting cudnn but received '" + mode + "'");
  return mode;
}

namespace {
// Errors after which the CUDA context is unusable: every later call fails too.
bool sticky(cudaError_t status) {
  switch (status) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
      return true;
    default:
      return false;
  }
}
}  // namespace

void throwCuda(const char* op, cudaError_t status, const char* expr, const char* file, int line) {
  std::string message = "CUDA " + statusText(status) + " in " + expr;
  if (sticky(status)) message += "; the CUDA context is now unusable: restart the process";
  if (status == cudaErrorNoKernelImageForDevice) message += "; rebuild with RN_CUDA_ARCHITECTURES set to this GPU's";
  const char* errorCode = status == cudaErrorMemoryAllocation ? code::kOutOfMemory : code::kBackend;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  throw Error(errorCode, op, message, file, line);
}

void throwCudnn(const char* op, cudnnStatus_t status, const char* expr, const char* file, int line) {
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof detail);
  std::string message = std::string("cuDNN ") + cudnnGetErrorString(status) + " (" + std::to_string(status) + ") in " + expr;
  if (detail[0]) message += ": " + std::string(detail);
  const bool memory = status == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
                      status == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
  throw Error(memory ? code::kOutOfMemory : code::kBackend, op, message, file, line);
}

void throwCublas(const char* op, cublasStatus_t status, const char* expr, const char* file, int line) {
  std::string message = std::string("cuBLAS ") + cublasGetStatusName(status) + ": " + cublasGetStatusString(status) +
                        " in " + expr;
  throw Error(status == CUBLAS_STATUS_ALLOC_FAILED ? code::kOutOfMemory : code::kBackend, op, message, file, line);
}

}  // namespace rn::cuda
