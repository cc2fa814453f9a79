// Fully connected layer on CUDA: y = x·wᵀ + b with x [N,in], w [out,in], b [out], and its two backwards.
// cuBLAS is column-major: a row-major [R,C] buffer is its column-major [C,R] transpose, so each product below
// is written for the transposes. The GEMMs compute in full float32 (CUBLAS_COMPUTE_32F, PyTorch's default for
// matmul), whatever math mode the device's handle has.
#include <algorithm>

#include "../core/kernel.h"
#include "../ops/linear_shapes.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

using Dims = ops::LinearDims;  // native/ops/linear_shapes.h

// y[i,o] = b[o] before the GEMM adds x·wᵀ (beta = 1), the CPU's order.
__global__ void broadcastBias(const float* b, float* y, int64_t n, int64_t out) {
  RN_GRID_STRIDE(e, n * out) { y[e] = b[e % out]; }
}

// db[o] = Σ_i dy[i,o] in double, one thread per column (coalesced across o).
__global__ void sumRows(const float* dy, float* db, int64_t n, int64_t out) {
  RN_GRID_STRIDE(o, out) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += dy[i * out + o];
    db[o] = static_cast<float>(s);
  }
}

// Column-major C[m,n] = op(A)·op(B) (+ beta·C), float32 in and out, float32 accumulation. Leading dimensions
// are at least 1 (cuBLAS's rule) so that empty operands pass.
void gemm(const std::string& op, cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
          int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  const float alpha = 1.0f;
  lda = std::max<int64_t>(lda, 1);
  ldb = std::max<int64_t>(ldb, 1);
  ldc = std::max<int64_t>(ldc, 1);
  RN_CUBLAS(op, cublasGemmEx(handle, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), &alpha, a,
                             CUDA_R_32F, static_cast<int>(lda), b, CUDA_R_32F, static_cast<int>(ldb), &beta, c,
                             CUDA_R_32F, static_cast<int>(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// Inputs (x [N,in], w [out,in], optional b [out]); output y [N,out].
class LinearForward : public Kernel {
 public:
  LinearForward(std::string op, Dims d, bool bias) : op_(std::move(op)), d_(d), bias_(bias) {}
  void run(const KernelArgs& a) override {
    CudaDevice& device = cudaDevice(a.device);
    const Dims d = d_;
    float* y = a.out[0].f32();
    if (d.n * d.out == 0) return;
    if (bias_) {
      broadcastBias<<<blocksFor(d.n * d.out), kThreads, 0, device.stream()>>>(a.in[2].f32(), y, d.n, d.out);
      RN_CUDA_LAUNCHED(op_);
    }
    // yᵀ [out,N] = w [out,in] · xᵀ [in,N]: w is column-major [in,out] (transposed), x column-major [in,N].
    gemm(op_, device.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, d.out, d.n, d.in, a.in[1].f32(), d.in, a.in[0].f32(), d.in,
         bias_ ? 1.0f : 0.0f, y, d.out);
  }

 private:
  std::string op_;
  Dims d_;
  bool bias_;
};

// Inputs (dy [N,out], w [out,in]); output dx [N,in] = dy · w.
class LinearBackwardData : public Kernel {
 public:
  LinearBackwardData(std::string op, Dims d) : op_(std::move(op)), d_(d) {}
  void run(const KernelArgs& a) override {
    const Dims d = d_;
    if (d.n * d.in == 0) return;
    // dxᵀ [in,N] = wᵀ [in,out] · dyᵀ [out,N]: w column-major is [in,out], dy column-major [out,N].
    gemm(op_, cudaDevice(a.device).cublas(), CUBLAS_OP_N, CUBLAS_OP_N, d.in, d.n, d.out, a.in[1].f32(), d.in,
         a.in[0].f32(), d.out, 0.0f, a.out[0].f32(), d.in);
  }

 private:
  std::string op_;
  Dims d_;
};

// Inputs (x [N,in], dy [N,out]); outputs dw [out,in] = dyᵀ · x and, when there are two, db [out] = Σ_N dy.
class LinearBackwardWeights : public Kernel {
 public:
  LinearBackwardWeights(std::string op, Dims d, bool bias) : op_(std::move(op)), d_(d), bias_(bias) {}
  void run(const KernelArgs& a) override {
    CudaDevice& device = cudaDevice(a.device);
    const Dims d = d_;
    const float* dy = a.in[1].f32();
    if (d.out * d.in > 0) {
      // dwᵀ [in,out] = xᵀ [in,N] · dy [N,out]: x column-major [in,N], dy column-major [out,N] (transposed).
      gemm(op_, device.cublas(), CUBLAS_OP_N, CUBLAS_OP_T, d.in, d.out, d.n, a.in[0].f32(), d.in, dy, d.out, 0.0f,
           a.out[0].f32(), d.in);
    }
    if (bias_ && d.out > 0) {
      sumRows<<<blocksFor(d.out), kThreads, 0, device.stream()>>>(dy, a.out[1].f32(), d.n, d.out);
      RN_CUDA_LAUNCHED(op_);
    }
  }

 private:
  std::string op_;
  Dims d_;
  bool bias_;
};

// cuBLAS takes int sizes and leading dimensions.
void expectIntDims(const KernelContext& ctx, const Dims& d) {
  constexpr int64_t kMax = 2147483647;
  if (d.n > kMax || d.in > kMax || d.out > kMax) {
    ctx.fail(code::kInvalidArgument, "matrix sizes above 2^31-1 are not supported by cuBLAS");
  }
}

std::unique_ptr<Kernel> makeLinearForward(const KernelContext& ctx) {
  const ops::LinearSpec spec = ops::checkLinearForward(ctx);
  expectIntDims(ctx, spec.d);
  return std::make_unique<LinearForward>(ctx.op, spec.d, spec.bias);
}

std::unique_ptr<Kernel> makeLinearBackwardData(const KernelContext& ctx) {
  const Dims d = ops::checkLinearBackwardData(ctx);
  expectIntDims(ctx, d);
  return std::make_unique<LinearBackwardData>(ctx.op, d);
}

std::unique_ptr<Kernel> makeLinearBackwardWeights(const KernelContext& ctx) {
  const ops::LinearSpec spec = ops::checkLinearBackwardWeights(ctx);
  expectIntDims(ctx, spec.d);
  return std::make_unique<LinearBackwardWeights>(ctx.op, spec.d, spec.bias);
}

RN_REGISTER_KERNEL("cuda", "linear_forward", makeLinearForward);
RN_REGISTER_KERNEL("cuda", "linear_backward_data", makeLinearBackwardData);
RN_REGISTER_KERNEL("cuda", "linear_backward_weights", makeLinearBackwardWeights);

}  // namespace
}  // namespace rn::cuda
