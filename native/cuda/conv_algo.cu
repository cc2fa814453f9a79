// cuDNN convolution algorithm choice: descriptors, the process-wide cache and the three searches (conv_algo.h).
#include "conv_algo.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace rn::cuda {
namespace {

// The cuDNN entry points of one direction, so that the searches are written once.
struct ForwardApi {
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  using Algo = cudnnConvolutionFwdAlgo_t;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static cudnnStatus_t maxCount(cudnnHandle_t h, int* n) { return cudnnGetConvolutionForwardAlgorithmMaxCount(h, n); }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvDescriptors& d, int requested, int* returned, Perf* p) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x(), d.w(), d.conv(), d.y(), requested, returned, p);
  }
  static cudnnStatus_t benchmark(cudnnHandle_t h, const ConvDescriptors& d, const ConvBuffers& b, int requested,
                                 int* returned, Perf* p, void* workspace, size_t bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, d.x(), b.x, d.w(), b.w, d.conv(), d.y(), b.y, requested,
                                                  returned, p, workspace, bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d, int algo, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, d.x(), d.w(), d.conv(), d.y(), static_cast<Algo>(algo), bytes);
  }
};

struct BackwardDataApi {
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static cudnnStatus_t maxCount(cudnnHandle_t h, int* n) {
    return cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, n);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvDescriptors& d, int requested, int* returned, Perf* p) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w(), d.y(), d.conv(), d.x(), requested, returned, p);
  }
  static cudnnStatus_t benchmark(cudnnHandle_t h, const ConvDescriptors& d, const ConvBuffers& b, int requested,
                                 int* returned, Perf* p, void* workspace, size_t bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w(), b.w, d.y(), b.y, d.conv(), d.x(), b.x, requested,
                                                       returned, p, workspace, bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d, int algo, size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w(), d.y(), d.conv(), d.x(), static_cast<Algo>(algo),
                                                        bytes);
  }
};

struct BackwardFilterApi {
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  static constexpr int kAlgoCount = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  static cudnnStatus_t maxCount(cudnnHandle_t h, int* n) {
    return cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, n);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvDescriptors& d, int requested, int* returned, Perf* p) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x(), d.y(), d.conv(), d.w(), requested, returned, p);
  }
  static cudnnStatus_t benchmark(cudnnHandle_t h, const ConvDescriptors& d, const ConvBuffers& b, int requested,
                                 int* returned, Perf* p, void* workspace, size_t bytes) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x(), b.x, d.y(), b.y, d.conv(), d.w(), b.w, requested,
                                                         returned, p, workspace, bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d, int algo, size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x(), d.y(), d.conv(), d.w(), static_cast<Algo>(algo),
                                                          bytes);
  }
};

// Device memory for a benchmark's workspace, freed (not cached) when the search ends: its size is a one-off, and
// cached it would only swell the reserved memory (a kernel's own runs use device.workspace(), sized for the
// chosen algorithm only).
class Scratch {
 public:
  // Halves `bytes` on out-of-memory, down to 1 MiB and then none: a smaller workspace only rules out the
  // algorithms that need more.
  Scratch(CudaDevice& device, size_t bytes) : device_(device) {
    constexpr size_t kSmallest = size_t{1} << 20;
    while (bytes > 0) {
      try {
        ptr_ = device_.allocate(bytes);
        bytes_ = bytes;
        return;
      } catch (const Error& e) {
        if (e.code() != code::kOutOfMemory) throw;
        bytes = bytes >= 2 * kSmallest ? bytes / 2 : 0;
      }
    }
  }
  ~Scratch() {
    if (ptr_) device_.releaseUncached(ptr_, bytes_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* ptr() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  CudaDevice& device_;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

const char* directionName(ConvDirection direction) {
  switch (direction) {
    case ConvDirection::Forward:
      return "forward";
    case ConvDirection::BackwardData:
      return "backward data";
    case ConvDirection::BackwardFilter:
      return "backward filter";
  }
  return "?";
}

// The workspace a convolution may use: the setting's limit, and no more than 4x the bytes of its three tensors
// (at least 64 MiB). Without the second bound, FFT algorithms on small images (CIFAR's 32x32 at batch 128) size
// the search's scratch to hundreds of MiB beside a few MiB of data, which set the peak memory of a whole CIFAR
// ResNet-110 step (1337 MiB against PyTorch's 1270 on an H200); the algorithms cuDNN picks for ImageNet shapes
// need well under the bound (ResNet-50 at batch 128 on an H200: at most 1.25x its tensors, RN_CUDNN_LOG).
size_t searchLimit(const ConvKey& key) {
  auto out = [](int in, int kernel, int pad, int stride, int dilation) {
    return std::max(0, (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1);
  };
  const size_t p = static_cast<size_t>(out(key.h, key.r, key.padH, key.strideH, key.dilationH));
  const size_t q = static_cast<size_t>(out(key.w, key.s, key.padW, key.strideW, key.dilationW));
  const size_t n = static_cast<size_t>(key.n), c = static_cast<size_t>(key.c), k = static_cast<size_t>(key.k);
  const size_t tensors = sizeof(float) * (n * c * static_cast<size_t>(key.h) * static_cast<size_t>(key.w) +
                                          k * c * static_cast<size_t>(key.r) * static_cast<size_t>(key.s) + n * k * p * q);
  return std::min(key.workspaceLimit, std::max(size_t{64} << 20, 4 * tensors));
}

template <class Api>
ConvAlgo search(const std::string& op, CudaDevice& device, const ConvKey& key, ConvDescriptors& d,
                const ConvBuffers& buffers) {
  cudnnHandle_t handle = device.cudnn();
  const size_t limit = searchLimit(key);
  RN_CUDNN(op, cudnnSetConvolutionMathType(d.conv(), CUDNN_DEFAULT_MATH));
  int requested = 0;
  RN_CUDNN(op, Api::maxCount(handle, &requested));
  requested = std::max(requested, Api::kAlgoCount);
  std::vector<typename Api::Perf> perf(static_cast<size_t>(requested));
  int returned = 0;
  size_t allowed = limit;
  if (key.search == ConvSearch::Fastest) {
    // A workspace as large as the hungriest algorithm within the limit, so that every candidate can run.
    size_t wanted = 0;
    for (int algo = 0; algo < Api::kAlgoCount; ++algo) {
      size_t bytes = 0;
      if (Api::workspace(handle, d, algo, &bytes) == CUDNN_STATUS_SUCCESS && bytes <= limit) {
        wanted = std::max(wanted, bytes);
      }
    }
    Scratch scratch(device, wanted);
    allowed = scratch.bytes();
    RN_CUDNN(op, Api::benchmark(handle, d, buffers, requested, &returned, perf.data(), scratch.ptr(), allowed));
  } else {
    RN_CUDNN(op, Api::heuristics(handle, d, requested, &returned, perf.data()));
  }
  // Results come best first (measured, or by the heuristics' estimate). The workspace is asked again with the
  // result's math type set, rather than trusting the perf record's, which the heuristics may leave unset.
  for (int i = 0; i < returned; ++i) {
    const auto& p = perf[static_cast<size_t>(i)];
    if (p.status != CUDNN_STATUS_SUCCESS) continue;
    if (key.search == ConvSearch::Deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
    ConvAlgo chosen;
    chosen.algo = static_cast<int>(p.algo);
    chosen.math = p.mathType;
    chosen.milliseconds = key.search == ConvSearch::Fastest ? p.time : -1;
    RN_CUDNN(op, cudnnSetConvolutionMathType(d.conv(), chosen.math));
    if (Api::workspace(handle, d, chosen.algo, &chosen.workspaceBytes) != CUDNN_STATUS_SUCCESS ||
        chosen.workspaceBytes > allowed) {
      continue;
    }
    return chosen;
  }
  RN_THROW(code::kBackend, op,
           std::string("cuDNN offers no ") + (key.search == ConvSearch::Deterministic ? "deterministic " : "") +
               directionName(key.direction) + " convolution algorithm within the workspace limit of " +
               std::to_string(limit) + " bytes");
}

std::mutex& cacheMutex() {
  static std::mutex mutex;
  return mutex;
}

std::map<ConvKey, ConvAlgo>& cache() {
  static auto* chosen = new std::map<ConvKey, ConvAlgo>();
  return *chosen;
}

}  // namespace

ConvSearch convSearchFromMode(const std::string& op, const std::string& mode) {
  if (mode == "fastest") return ConvSearch::Fastest;
  if (mode == "default") return ConvSearch::Heuristic;
  if (mode == "deterministic") return ConvSearch::Deterministic;
  RN_THROW(code::kInvalidArgument, op,
           "setting 'cudnn' must be fastest, default or deterministic but is '" + mode + "'");
}

ConvDescriptors::ConvDescriptors(const std::string& op, const ConvKey& key, int outH, int outW) {
  try {
    RN_CUDNN(op, cudnnCreateTensorDescriptor(&x_));
    RN_CUDNN(op, cudnnCreateTensorDescriptor(&y_));
    RN_CUDNN(op, cudnnCreateFilterDescriptor(&w_));
    RN_CUDNN(op, cudnnCreateConvolutionDescriptor(&conv_));
    RN_CUDNN(op, cudnnSetTensor4dDescriptor(x_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, key.n, key.c, key.h, key.w));
    RN_CUDNN(op, cudnnSetFilter4dDescriptor(w_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, key.k, key.c, key.r, key.s));
    RN_CUDNN(op, cudnnSetConvolution2dDescriptor(conv_, key.padH, key.padW, key.strideH, key.strideW, key.dilationH,
                                                 key.dilationW, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    RN_CUDNN(op, cudnnSetConvolutionMathType(conv_, CUDNN_DEFAULT_MATH));
    int n = 0, k = 0, p = 0, q = 0;
    RN_CUDNN(op, cudnnGetConvolution2dForwardOutputDim(conv_, x_, w_, &n, &k, &p, &q));
    RN_CHECK(n == key.n && k == key.k && p == outH && q == outW, code::kInternal, op,
             "cuDNN computes the output as [" + std::to_string(n) + "," + std::to_string(k) + "," + std::to_string(p) +
                 "," + std::to_string(q) + "] but the op's is [" + std::to_string(key.n) + "," + std::to_string(key.k) +
                 "," + std::to_string(outH) + "," + std::to_string(outW) + "]");
    RN_CUDNN(op, cudnnSetTensor4dDescriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, k, p, q));
  } catch (...) {
    destroy();
    throw;
  }
}

ConvDescriptors::~ConvDescriptors() { destroy(); }

void ConvDescriptors::destroy() {
  if (conv_) cudnnDestroyConvolutionDescriptor(conv_);
  if (w_) cudnnDestroyFilterDescriptor(w_);
  if (y_) cudnnDestroyTensorDescriptor(y_);
  if (x_) cudnnDestroyTensorDescriptor(x_);
  conv_ = nullptr;
  w_ = nullptr;
  x_ = y_ = nullptr;
}

ConvAlgo chooseConvAlgo(const std::string& op, CudaDevice& device, const ConvKey& key, ConvDescriptors& d,
                        const ConvBuffers& buffers) {
  {
    std::lock_guard<std::mutex> lock(cacheMutex());
    auto it = cache().find(key);
    if (it != cache().end()) {
      RN_CUDNN(op, cudnnSetConvolutionMathType(d.conv(), it->second.math));
      return it->second;
    }
  }
  // Searched outside the lock: a benchmark takes milliseconds, and other devices' workers may be choosing too.
  // A key names its device, whose one worker thread builds its kernels, so no key is searched twice at once.
  ConvAlgo chosen;
  switch (key.direction) {
    case ConvDirection::Forward:
      chosen = search<ForwardApi>(op, device, key, d, buffers);
      break;
    case ConvDirection::BackwardData:
      chosen = search<BackwardDataApi>(op, device, key, d, buffers);
      break;
    case ConvDirection::BackwardFilter:
      chosen = search<BackwardFilterApi>(op, device, key, d, buffers);
      break;
  }
  // RN_CUDNN_LOG=1: one line per shape searched, to see which algorithms (and math) a network runs.
  static const bool log = std::getenv("RN_CUDNN_LOG") != nullptr;
  if (log) {
    std::fprintf(stderr,
                 "cudnn %s n%d c%d h%d w%d k%d r%d s%d stride%d pad%d: algo %d math %d workspace %zu B, %.3f ms\n",
                 directionName(key.direction), key.n, key.c, key.h, key.w, key.k, key.r, key.s, key.strideH, key.padH,
                 chosen.algo, static_cast<int>(chosen.math), chosen.workspaceBytes, chosen.milliseconds);
  }
  std::lock_guard<std::mutex> lock(cacheMutex());
  cache().emplace(key, chosen);
  return chosen;
}

}  // namespace rn::cuda
