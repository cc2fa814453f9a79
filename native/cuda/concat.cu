// Channel concatenation on CUDA: forward joins parts [N,Ci,…] along dim 1; backward splits dy back into them.
// Any rank ≥ 2 works (dims other than 1 must agree). Each part is one strided 2-D copy on the stream: N rows of
// Ci·inner floats, at pitch Ci·inner in the part and total·inner in the whole.
#include "../core/kernel.h"
#include "common.h"

namespace rn::cuda {
namespace {

struct Layout {
  int64_t batch = 0;              // dim 0
  int64_t inner = 1;              // product of dims after 1
  std::vector<int64_t> channels;  // dim 1 of each part
  std::vector<int64_t> offsets;   // channel offset of each part in the whole
  int64_t total = 0;              // Σ channels
};

// Checks that `parts` agree with `whole` except along dim 1, whose sizes must add up.
Layout layoutOf(const KernelContext& ctx, const std::vector<ValueInfo>& parts, const ValueInfo& whole,
                const std::string& partName, const std::string& wholeName) {
  ctx.expectDtype(whole, DType::F32, wholeName);
  if (whole.shape.size() < 2) {
    ctx.fail(code::kShapeMismatch, "expected a tensor of rank >= 2 for " + wholeName + " but received " +
                                       shapeString(whole.shape));
  }
  Layout l;
  l.batch = whole.shape[0];
  for (size_t d = 2; d < whole.shape.size(); ++d) l.inner *= whole.shape[d];
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string what = partName + " " + std::to_string(i);
    ctx.expectDtype(parts[i], DType::F32, what);
    ctx.expectRank(parts[i], whole.shape.size(), what);
    Shape wanted = whole.shape;
    wanted[1] = parts[i].shape[1];
    ctx.expectShape(parts[i], wanted, what);
    l.offsets.push_back(l.total);
    l.channels.push_back(parts[i].shape[1]);
    l.total += parts[i].shape[1];
  }
  if (l.total != whole.shape[1]) {
    ctx.fail(code::kShapeMismatch, "expected the " + partName + " channels to add up to " +
                                       std::to_string(whole.shape[1]) + " but they add up to " + std::to_string(l.total));
  }
  return l;
}

// Copies between the whole [N,total,inner] and every part p [N,channels[p],inner]; toWhole picks the direction.
void copyParts(const std::string& op, const Layout& l, float* whole, const std::vector<TensorRef>& parts, bool toWhole,
               cudaStream_t stream) {
  const size_t wholePitch = static_cast<size_t>(l.total * l.inner) * sizeof(float);
  for (size_t p = 0; p < parts.size(); ++p) {
    const size_t width = static_cast<size_t>(l.channels[p] * l.inner) * sizeof(float);
    if (width == 0 || l.batch == 0) continue;
    float* slot = whole + l.offsets[p] * l.inner;
    float* part = parts[p].f32();
    if (toWhole) {
      RN_CUDA(op, cudaMemcpy2DAsync(slot, wholePitch, part, width, width, static_cast<size_t>(l.batch),
                                    cudaMemcpyDeviceToDevice, stream));
    } else {
      RN_CUDA(op, cudaMemcpy2DAsync(part, width, slot, wholePitch, width, static_cast<size_t>(l.batch),
                                    cudaMemcpyDeviceToDevice, stream));
    }
  }
}

class Concat : public Kernel {
 public:
  Concat(std::string op, Layout l, bool forward) : op_(std::move(op)), l_(std::move(l)), forward_(forward) {}
  void run(const KernelArgs& a) override {
    cudaStream_t stream = cudaDevice(a.device).stream();
    if (forward_) {
      copyParts(op_, l_, a.out[0].f32(), a.in, true, stream);
    } else {
      copyParts(op_, l_, a.in[0].f32(), a.out, false, stream);
    }
  }

 private:
  std::string op_;
  Layout l_;
  bool forward_;
};

// Inputs (a, b, …) with at least one part; output y.
std::unique_ptr<Kernel> makeConcatForward(const KernelContext& ctx) {
  if (ctx.inputs.empty() || ctx.outputs.size() != 1) {
    ctx.fail(code::kInvalidArgument, "expected at least 1 input and 1 output");
  }
  return std::make_unique<Concat>(ctx.op, layoutOf(ctx, ctx.inputs, ctx.outputs[0], "input", "output"), true);
}

// Input dy; outputs (da, db, …), one per part, with the parts' shapes.
std::unique_ptr<Kernel> makeConcatBackward(const KernelContext& ctx) {
  if (ctx.inputs.size() != 1 || ctx.outputs.empty()) {
    ctx.fail(code::kInvalidArgument, "expected 1 input and at least 1 output");
  }
  return std::make_unique<Concat>(ctx.op, layoutOf(ctx, ctx.outputs, ctx.inputs[0], "output", "dy"), false);
}

RN_REGISTER_KERNEL("cuda", "concat_forward", makeConcatForward);
RN_REGISTER_KERNEL("cuda", "concat_backward", makeConcatBackward);

}  // namespace
}  // namespace rn::cuda
