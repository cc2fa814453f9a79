// Element-wise ops on CUDA: ReLU forward and backward, add and accumulate. Each may run in place (the program
// binds an output to an input's buffer): every element is read and written by the same thread.
#include <cstdint>
#include <initializer_list>

#include "../core/kernel.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

// Each op has a float4 kernel, used when every operand is 16-byte aligned and the count a multiple of 4 (arena
// slices are), and a scalar one otherwise: 128-bit loads take these bandwidth-bound passes from about half of the
// memory bandwidth to most of it.
__device__ __forceinline__ float relu(float v) { return v > 0.0f ? v : 0.0f; }  // NaN → 0, as on the CPU

// y = max(x, 0).
__global__ void reluForward(const float* x, float* y, int64_t n) {
  RN_GRID_STRIDE(i, n) { y[i] = relu(x[i]); }
}
__global__ void reluForward4(const float4* x, float4* y, int64_t n4) {
  RN_GRID_STRIDE(i, n4) {
    const float4 v = x[i];
    y[i] = make_float4(relu(v.x), relu(v.y), relu(v.z), relu(v.w));
  }
}

// dx = y > 0 ? dy : 0, with y the forward output.
__global__ void reluBackward(const float* y, const float* dy, float* dx, int64_t n) {
  RN_GRID_STRIDE(i, n) { dx[i] = y[i] > 0.0f ? dy[i] : 0.0f; }
}
__global__ void reluBackward4(const float4* y, const float4* dy, float4* dx, int64_t n4) {
  RN_GRID_STRIDE(i, n4) {
    const float4 v = y[i], g = dy[i];
    dx[i] = make_float4(v.x > 0.0f ? g.x : 0.0f, v.y > 0.0f ? g.y : 0.0f, v.z > 0.0f ? g.z : 0.0f,
                        v.w > 0.0f ? g.w : 0.0f);
  }
}

__global__ void addKernel(const float* a, const float* b, float* c, int64_t n) {
  RN_GRID_STRIDE(i, n) { c[i] = a[i] + b[i]; }
}
__global__ void addKernel4(const float4* a, const float4* b, float4* c, int64_t n4) {
  RN_GRID_STRIDE(i, n4) {
    const float4 u = a[i], v = b[i];
    c[i] = make_float4(u.x + v.x, u.y + v.y, u.z + v.z, u.w + v.w);
  }
}

// True when n is a multiple of 4 and every pointer 16-byte aligned: the float4 kernels apply.
bool vectorizable(int64_t n, std::initializer_list<const void*> pointers) {
  if (n % 4 != 0) return false;
  for (const void* p : pointers) {
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  }
  return true;
}

// Blocks for a grid-stride pass over n float4s: enough to fill the GPU several times over, no more.
int vectorBlocks(int64_t n4) { return blocksFor(n4, kThreads) < 4096 ? blocksFor(n4, kThreads) : 4096; }

// Every operand float32 with input 0's shape.
void expectSameFloatShapes(const KernelContext& ctx) {
  const Shape& shape = ctx.inputs.at(0).shape;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    ctx.expectDtype(ctx.inputs[i], DType::F32, "input " + std::to_string(i));
    ctx.expectShape(ctx.inputs[i], shape, "input " + std::to_string(i));
  }
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    ctx.expectDtype(ctx.outputs[i], DType::F32, "output " + std::to_string(i));
    ctx.expectShape(ctx.outputs[i], shape, "output " + std::to_string(i));
  }
}

class ReluForward : public Kernel {
 public:
  explicit ReluForward(std::string op) : op_(std::move(op)) {}
  void run(const KernelArgs& a) override {
    const int64_t n = a.in[0].numel();
    if (n == 0) return;
    cudaStream_t stream = cudaDevice(a.device).stream();
    const float* x = a.in[0].f32();
    float* y = a.out[0].f32();
    if (vectorizable(n, {x, y})) {
      reluForward4<<<vectorBlocks(n / 4), kThreads, 0, stream>>>(reinterpret_cast<const float4*>(x),
                                                                  reinterpret_cast<float4*>(y), n / 4);
    } else {
      reluForward<<<blocksFor(n), kThreads, 0, stream>>>(x, y, n);
    }
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
};

class ReluBackward : public Kernel {
 public:
  explicit ReluBackward(std::string op) : op_(std::move(op)) {}
  void run(const KernelArgs& a) override {
    const int64_t n = a.in[0].numel();
    if (n == 0) return;
    cudaStream_t stream = cudaDevice(a.device).stream();
    const float *y = a.in[0].f32(), *dy = a.in[1].f32();
    float* dx = a.out[0].f32();
    if (vectorizable(n, {y, dy, dx})) {
      reluBackward4<<<vectorBlocks(n / 4), kThreads, 0, stream>>>(reinterpret_cast<const float4*>(y),
                                                                   reinterpret_cast<const float4*>(dy),
                                                                   reinterpret_cast<float4*>(dx), n / 4);
    } else {
      reluBackward<<<blocksFor(n), kThreads, 0, stream>>>(y, dy, dx, n);
    }
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
};

// add: c = a + b. accumulate: inputs (dst, src), output dst (bound to input 0's buffer): dst = dst + src.
class Add : public Kernel {
 public:
  explicit Add(std::string op) : op_(std::move(op)) {}
  void run(const KernelArgs& a) override {
    const int64_t n = a.in[0].numel();
    if (n == 0) return;
    cudaStream_t stream = cudaDevice(a.device).stream();
    const float *u = a.in[0].f32(), *v = a.in[1].f32();
    float* c = a.out[0].f32();
    if (vectorizable(n, {u, v, c})) {
      addKernel4<<<vectorBlocks(n / 4), kThreads, 0, stream>>>(reinterpret_cast<const float4*>(u),
                                                                reinterpret_cast<const float4*>(v),
                                                                reinterpret_cast<float4*>(c), n / 4);
    } else {
      addKernel<<<blocksFor(n), kThreads, 0, stream>>>(u, v, c, n);
    }
    RN_CUDA_LAUNCHED(op_);
  }

 private:
  std::string op_;
};

std::unique_ptr<Kernel> makeReluForward(const KernelContext& ctx) {
  ctx.expectArity(1, 1);
  expectSameFloatShapes(ctx);
  return std::make_unique<ReluForward>(ctx.op);
}

std::unique_ptr<Kernel> makeReluBackward(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  expectSameFloatShapes(ctx);
  return std::make_unique<ReluBackward>(ctx.op);
}

std::unique_ptr<Kernel> makeAdd(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  expectSameFloatShapes(ctx);
  return std::make_unique<Add>(ctx.op);
}

std::unique_ptr<Kernel> makeAccumulate(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  expectSameFloatShapes(ctx);
  return std::make_unique<Add>(ctx.op);
}

RN_REGISTER_KERNEL("cuda", "relu_forward", makeReluForward);
RN_REGISTER_KERNEL("cuda", "relu_backward", makeReluBackward);
RN_REGISTER_KERNEL("cuda", "add", makeAdd);
RN_REGISTER_KERNEL("cuda", "accumulate", makeAccumulate);

}  // namespace
}  // namespace rn::cuda
