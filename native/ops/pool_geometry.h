// Backend-independent part of the pooling ops (maxpool2d, avgpool2d, global_avgpool): attribute reading, shape and
// dtype checks, and window geometry. native/cpu/pool.cc and native/cuda/pool.cu both validate through these.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../core/kernel.h"

namespace rn::ops {

// Window geometry of one pooling op, read from its attributes and checked against the input's H and W.
struct PoolGeometry {
  int64_t planes = 0;  // N·C
  int64_t inH = 0, inW = 0, outH = 0, outW = 0;
  int64_t kernelH = 0, kernelW = 0, strideH = 0, strideW = 0, padH = 0, padW = 0;
};

// PyTorch's rule: floor or ceil of (in + 2·pad - kernel)/stride, plus one; in ceil mode the last window must
// start inside the input or the left padding.
inline int64_t pooledSize(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceilMode) {
  const int64_t span = in + 2 * pad - kernel;
  int64_t out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceilMode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// An attribute of two integers ≥ min, as [h, w].
inline std::vector<int64_t> checkPoolPair(const KernelContext& ctx, const std::string& key, std::vector<int64_t> pair,
                                          int64_t min) {
  if (pair.size() != 2 || pair[0] < min || pair[1] < min) {
    ctx.fail(code::kInvalidArgument, "attribute '" + key + "' must be two integers ≥ " + std::to_string(min));
  }
  return pair;
}

// Reads kernel/stride/padding/ceil_mode for an input of `image` shape (N, C, H, W) and checks the windows fit.
inline PoolGeometry readPoolGeometry(const KernelContext& ctx, const Shape& image) {
  const auto kernel = checkPoolPair(ctx, "kernel", ctx.attrs.getInts(ctx.op, "kernel"), 1);
  const auto stride = checkPoolPair(ctx, "stride", ctx.attrs.getInts(ctx.op, "stride", kernel), 1);
  const auto padding = checkPoolPair(ctx, "padding", ctx.attrs.getInts(ctx.op, "padding", {0, 0}), 0);
  const bool ceilMode = ctx.attrs.getBool(ctx.op, "ceil_mode", false);
  if (2 * padding[0] > kernel[0] || 2 * padding[1] > kernel[1]) {
    ctx.fail(code::kInvalidArgument, "padding must be at most half the kernel");
  }
  if (image[2] + 2 * padding[0] < kernel[0] || image[3] + 2 * padding[1] < kernel[1]) {
    ctx.fail(code::kShapeMismatch, "the kernel is larger than the padded input");
  }
  PoolGeometry g;
  g.planes = image[0] * image[1];
  g.inH = image[2];
  g.inW = image[3];
  g.kernelH = kernel[0];
  g.kernelW = kernel[1];
  g.strideH = stride[0];
  g.strideW = stride[1];
  g.padH = padding[0];
  g.padW = padding[1];
  g.outH = pooledSize(g.inH, g.kernelH, g.strideH, g.padH, ceilMode);
  g.outW = pooledSize(g.inW, g.kernelW, g.strideW, g.padW, ceilMode);
  return g;
}

inline Shape pooledShape(const Shape& image, const PoolGeometry& g) { return {image[0], image[1], g.outH, g.outW}; }

inline void expectPoolImage(const KernelContext& ctx, const ValueInfo& value, const std::string& what) {
  ctx.expectDtype(value, DType::F32, what);
  ctx.expectRank(value, 4, what);
}

inline void expectInt32Indexable(const KernelContext& ctx, const Shape& image) {
  if (image[2] * image[3] > std::numeric_limits<int32_t>::max()) {
    ctx.fail(code::kInvalidArgument, "the input plane is too large for int32 indices");
  }
}

// maxpool2d_forward: x (N, C, H, W) f32 → y f32 and indices i32, both (N, C, OH, OW).
inline PoolGeometry checkMaxPoolForward(const KernelContext& ctx) {
  ctx.expectArity(1, 2);
  const Shape& image = ctx.inputs[0].shape;
  expectPoolImage(ctx, ctx.inputs[0], "x");
  expectInt32Indexable(ctx, image);
  const PoolGeometry g = readPoolGeometry(ctx, image);
  ctx.expectDtype(ctx.outputs[0], DType::F32, "y");
  ctx.expectShape(ctx.outputs[0], pooledShape(image, g), "y");
  ctx.expectDtype(ctx.outputs[1], DType::I32, "indices");
  ctx.expectShape(ctx.outputs[1], pooledShape(image, g), "indices");
  return g;
}

// Sizes of a maxpool2d_backward: N·C planes, the pooled plane's and the image plane's element counts.
struct MaxPoolBackwardSizes {
  int64_t planes = 0, pooled = 0, image = 0;
};

// The pooled plane size comes from dy and the image size from dx, so this op takes no attributes.
inline MaxPoolBackwardSizes checkMaxPoolBackward(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  const ValueInfo& dy = ctx.inputs[0];
  expectPoolImage(ctx, dy, "dy");
  ctx.expectDtype(ctx.inputs[1], DType::I32, "indices");
  ctx.expectShape(ctx.inputs[1], dy.shape, "indices");
  const ValueInfo& dx = ctx.outputs[0];
  expectPoolImage(ctx, dx, "dx");
  if (dx.shape[0] != dy.shape[0] || dx.shape[1] != dy.shape[1]) {
    ctx.fail(code::kShapeMismatch, "dx and dy must have the same batch and channel sizes");
  }
  expectInt32Indexable(ctx, dx.shape);
  return {dy.shape[0] * dy.shape[1], dy.shape[2] * dy.shape[3], dx.shape[2] * dx.shape[3]};
}

// An avgpool2d's geometry and its count_include_pad attribute.
struct AvgPoolSpec {
  PoolGeometry g;
  bool countIncludePad = true;
};

inline AvgPoolSpec checkAvgPoolForward(const KernelContext& ctx) {
  ctx.expectArity(1, 1);
  const Shape& image = ctx.inputs[0].shape;
  expectPoolImage(ctx, ctx.inputs[0], "x");
  AvgPoolSpec spec;
  spec.g = readPoolGeometry(ctx, image);
  spec.countIncludePad = ctx.attrs.getBool(ctx.op, "count_include_pad", true);
  ctx.expectDtype(ctx.outputs[0], DType::F32, "y");
  ctx.expectShape(ctx.outputs[0], pooledShape(image, spec.g), "y");
  return spec;
}

inline AvgPoolSpec checkAvgPoolBackward(const KernelContext& ctx) {
  ctx.expectArity(1, 1);
  const Shape& image = ctx.outputs[0].shape;
  expectPoolImage(ctx, ctx.outputs[0], "dx");
  AvgPoolSpec spec;
  spec.g = readPoolGeometry(ctx, image);
  spec.countIncludePad = ctx.attrs.getBool(ctx.op, "count_include_pad", true);
  ctx.expectDtype(ctx.inputs[0], DType::F32, "dy");
  ctx.expectShape(ctx.inputs[0], pooledShape(image, spec.g), "dy");
  return spec;
}

// Sizes of a global_avgpool: N·C planes of H·W elements each.
struct GlobalPoolSizes {
  int64_t planes = 0, image = 0;
};

inline GlobalPoolSizes checkGlobalAvgPoolForward(const KernelContext& ctx) {
  ctx.expectArity(1, 1);
  const Shape& image = ctx.inputs[0].shape;
  expectPoolImage(ctx, ctx.inputs[0], "x");
  ctx.expectDtype(ctx.outputs[0], DType::F32, "y");
  ctx.expectShape(ctx.outputs[0], {image[0], image[1]}, "y");
  return {image[0] * image[1], image[2] * image[3]};
}

inline GlobalPoolSizes checkGlobalAvgPoolBackward(const KernelContext& ctx) {
  ctx.expectArity(1, 1);
  const Shape& image = ctx.outputs[0].shape;
  expectPoolImage(ctx, ctx.outputs[0], "dx");
  ctx.expectDtype(ctx.inputs[0], DType::F32, "dy");
  ctx.expectShape(ctx.inputs[0], {image[0], image[1]}, "dy");
  return {image[0] * image[1], image[2] * image[3]};
}

}  // namespace rn::ops
