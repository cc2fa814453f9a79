// Element-wise ops on CUDA: ReLU forward and backward, add and accumulate. Each may run in place (the program
// binds an output to an input's buffer): every element is read and written by the same thread.
#include "../core/kernel.h"
#include "common.h"
#include "kernels.h"

namespace rn::cuda {
namespace {

// y = x > 0 ? x : 0 (NaN → 0, as on the CPU).
__global__ void reluForward(const float* x, float* y, int64_t n) {
  RN_GRID_STRIDE(i, n) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : 0.0f;
  }
}

// dx = y > 0 ? dy : 0, with y the forward output.
__global__ void reluBackward(const float* y, const float* dy, float* dx, int64_t n) {
  RN_GRID_STRIDE(i, n) { dx[i] = y[i] > 0.0f ? dy[i] : 0.0f; }
}

__global__ void addKernel(const float* a, const float* b, float* c, int64_t n) {
  RN_GRID_STRIDE(i, n) { c[i] = a[i] + b[i]; }
}

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
    reluForward<<<blocksFor(n), kThreads, 0, cudaDevice(a.device).stream()>>>(a.in[0].f32(), a.out[0].f32(), n);
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
    reluBackward<<<blocksFor(n), kThreads, 0, cudaDevice(a.device).stream()>>>(a.in[0].f32(), a.in[1].f32(),
                                                                               a.out[0].f32(), n);
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
    addKernel<<<blocksFor(n), kThreads, 0, cudaDevice(a.device).stream()>>>(a.in[0].f32(), a.in[1].f32(),
                                                                            a.out[0].f32(), n);
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
