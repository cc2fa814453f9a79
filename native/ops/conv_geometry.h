// Backend-independent part of the conv2d ops (forward, backward data, backward weights): attribute reading, shape
// and dtype checks, and the output geometry. native/cpu/conv2d.cc and native/cuda/conv2d.cu both validate through
// these and turn the checked geometry into their library's descriptors.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../core/kernel.h"

namespace rn::ops {

// Shapes and attributes of one convolution, checked against each other.
struct ConvGeometry {
  Shape x, w, y;                                   // x (N, C, H, W), w (K, C, kh, kw), y (N, K, OH, OW)
  std::vector<int64_t> stride, padding, dilation;  // [h, w] each; dilation 1 = dense
};

inline std::vector<int64_t> readConvPair(const KernelContext& ctx, const char* key, int64_t fallback, int64_t min) {
  std::vector<int64_t> v = ctx.attrs.getInts(ctx.op, key, {fallback, fallback});
  if (v.size() != 2 || v[0] < min || v[1] < min) {
    std::string got;
    for (size_t i = 0; i < v.size(); ++i) got += (i ? "," : "") + std::to_string(v[i]);
    ctx.fail(code::kInvalidArgument, "expected attribute '" + std::string(key) + "' to be two integers >= " +
                                         std::to_string(min) + " but received [" + got + "]");
  }
  return v;
}

// Reads stride/padding/dilation, checks x and w (float32, rank 4, positive sizes, channels, kernel fits the
// padded input) and returns the geometry with y computed: OH = (H + 2p - d(kh-1) - 1) / s + 1.
inline ConvGeometry readConvGeometry(const KernelContext& ctx, const ValueInfo& x, const std::string& xName,
                                     const ValueInfo& w, const std::string& wName) {
  for (const auto& v : ctx.inputs) ctx.expectDtype(v, DType::F32, "every input");
  for (const auto& v : ctx.outputs) ctx.expectDtype(v, DType::F32, "every output");
  for (const auto& [v, name] : {std::pair{&x, xName}, std::pair{&w, wName}}) {
    ctx.expectRank(*v, 4, name);
    for (int64_t d : v->shape) {
      if (d <= 0) {
        ctx.fail(code::kInvalidArgument, "expected positive sizes for " + name + " but received " + shapeString(v->shape));
      }
    }
  }
  std::vector<int64_t> stride = readConvPair(ctx, "stride", 1, 1);
  std::vector<int64_t> padding = readConvPair(ctx, "padding", 0, 0);
  std::vector<int64_t> dilation = readConvPair(ctx, "dilation", 1, 1);
  if (w.shape[1] != x.shape[1]) {
    ctx.fail(code::kShapeMismatch, "expected " + std::to_string(w.shape[1]) + " input channels (" + wName + " " +
                                       shapeString(w.shape) + ") for " + xName + " but received " +
                                       std::to_string(x.shape[1]) + " (" + xName + " " + shapeString(x.shape) + ")");
  }
  ConvGeometry g;
  g.x = x.shape;
  g.w = w.shape;
  g.y = {x.shape[0], w.shape[0], 0, 0};
  for (int i = 0; i < 2; ++i) {
    int64_t extent = dilation[i] * (w.shape[2 + i] - 1) + 1;
    int64_t padded = x.shape[2 + i] + 2 * padding[i];
    if (extent > padded) {
      ctx.fail(code::kShapeMismatch, "kernel " + shapeString(w.shape) + " (dilated extent " + std::to_string(extent) +
                                         ") is larger than the padded input " + xName + " " + shapeString(x.shape) +
                                         " with padding " + std::to_string(padding[i]));
    }
    g.y[2 + i] = (padded - extent) / stride[i] + 1;
  }
  g.stride = stride;
  g.padding = padding;
  g.dilation = dilation;
  return g;
}

// A checked convolution and whether it has a bias (forward: input b; backward weights: output db).
struct ConvSpec {
  ConvGeometry g;
  bool bias = false;
};

// conv2d_forward: inputs (x, w[, b]) → y.
inline ConvSpec checkConv2dForward(const KernelContext& ctx) {
  ctx.expectArity(2, 3, 1);
  ConvSpec s;
  s.g = readConvGeometry(ctx, ctx.inputs[0], "x", ctx.inputs[1], "w");
  s.bias = ctx.inputs.size() == 3;
  if (s.bias) ctx.expectShape(ctx.inputs[2], {s.g.w[0]}, "b");
  ctx.expectShape(ctx.outputs[0], s.g.y, "y");
  return s;
}

// conv2d_backward_data: inputs (dy, w) → dx; the geometry comes from dx's shape, and dy must match it.
inline ConvGeometry checkConv2dBackwardData(const KernelContext& ctx) {
  ctx.expectArity(2, 1);
  ConvGeometry g = readConvGeometry(ctx, ctx.outputs[0], "dx", ctx.inputs[1], "w");
  ctx.expectShape(ctx.inputs[0], g.y, "dy");
  return g;
}

// conv2d_backward_weights: inputs (x, dy) → dw[, db].
inline ConvSpec checkConv2dBackwardWeights(const KernelContext& ctx) {
  ctx.expectArity(2, ctx.outputs.size() == 2 ? 2 : 1);
  ConvSpec s;
  s.g = readConvGeometry(ctx, ctx.inputs[0], "x", ctx.outputs[0], "dw");
  ctx.expectShape(ctx.inputs[1], s.g.y, "dy");
  s.bias = ctx.outputs.size() == 2;
  if (s.bias) ctx.expectShape(ctx.outputs[1], {s.g.w[0]}, "db");
  return s;
}

}  // namespace rn::ops
