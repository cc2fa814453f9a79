// cuDNN convolution algorithm choice, in one place: the descriptors of a convolution, a plain key, a process-wide
// cache, and the three searches of the "cudnn" setting (fb.resnet.torch's -cudnn):
//   fastest        benchmark every algorithm once per key (cudnnFind…AlgorithmEx on the op's own tensors, with
//                  a scratch workspace up to workspaceLimit()) and keep the quickest;
//   default        cuDNN's heuristics (cudnnGet…Algorithm_v7), the first that fits the workspace limit;
//   deterministic  the heuristics' first deterministic algorithm: the same choice, and bit-identical results,
//                  on every run (a benchmark's winner may change from one process to the next).
// TF32 tensor-op math is allowed (CUDNN_DEFAULT_MATH on the descriptor while searching, then each result's own
// math type), as in PyTorch with torch.backends.cudnn.allow_tf32 = True.
#pragma once
#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>

#include "common.h"

namespace rn::cuda {

enum class ConvDirection : int { Forward = 0, BackwardData = 1, BackwardFilter = 2 };
enum class ConvSearch : int { Fastest = 0, Heuristic = 1, Deterministic = 2 };

// convolutionMode()'s value as a search; any other value is an RN_INVALID_ARGUMENT naming `op`.
ConvSearch convSearchFromMode(const std::string& op, const std::string& mode);

// Everything a choice depends on, as plain integers.
struct ConvKey {
  int device = 0;
  size_t workspaceLimit = 0;  // bytes an algorithm may use (the device's workspaceLimit() when the kernel is built)
  int n = 0, c = 0, h = 0, w = 0;  // x (N, C, H, W)
  int k = 0, r = 0, s = 0;         // w (K, C, R, S)
  int padH = 0, padW = 0, strideH = 1, strideW = 1, dilationH = 1, dilationW = 1;
  ConvDirection direction = ConvDirection::Forward;
  ConvSearch search = ConvSearch::Fastest;
  // Byte alignment (up to 16) of the x, w and y buffers: some algorithms need aligned data (a flat parameter
  // buffer can hold a filter at any float offset), so a choice holds only for the alignment it was made for.
  int alignX = 16, alignW = 16, alignY = 16;

  auto tie() const {
    return std::tie(device, workspaceLimit, n, c, h, w, k, r, s, padH, padW, strideH, strideW, dilationH, dilationW,
                    direction, search, alignX, alignW, alignY);
  }
  bool operator<(const ConvKey& o) const { return tie() < o.tie(); }
};

// What a kernel runs: a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t value per its direction, the math type
// (already set on the descriptor by chooseConvAlgo) and the workspace the algorithm needs.
struct ConvAlgo {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspaceBytes = 0;
  float milliseconds = -1;  // measured by the "fastest" search; -1 when chosen by heuristics
};

// The descriptors of one float32 NCHW cross-correlation: x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q), and the
// convolution. Created once per kernel, destroyed with it.
class ConvDescriptors {
 public:
  ConvDescriptors(const std::string& op, const ConvKey& key, int outH, int outW);
  ~ConvDescriptors();
  ConvDescriptors(const ConvDescriptors&) = delete;
  ConvDescriptors& operator=(const ConvDescriptors&) = delete;

  cudnnTensorDescriptor_t x() const { return x_; }
  cudnnFilterDescriptor_t w() const { return w_; }
  cudnnTensorDescriptor_t y() const { return y_; }
  cudnnConvolutionDescriptor_t conv() const { return conv_; }

 private:
  void destroy();
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
};

// The tensors a "fastest" search runs the candidates on, by their role in the forward convolution (x the image,
// w the filter, y the output): the direction's output is overwritten, its inputs only read.
struct ConvBuffers {
  void* x = nullptr;
  void* w = nullptr;
  void* y = nullptr;
};

// The largest power of two up to 16 that divides the buffer's address.
inline int alignmentOf(const void* ptr) {
  const auto address = reinterpret_cast<uintptr_t>(ptr);
  int align = 16;
  while (align > 1 && address % static_cast<uintptr_t>(align) != 0) align /= 2;
  return align;
}

// The algorithm for `key`: from the cache, or searched now on the device's stream and cached. Sets the chosen
// math type on d.conv(). Throws RN_BACKEND_ERROR naming `op` when no algorithm fits key.workspaceLimit.
ConvAlgo chooseConvAlgo(const std::string& op, CudaDevice& device, const ConvKey& key, ConvDescriptors& d,
                        const ConvBuffers& buffers);

}  // namespace rn::cuda
