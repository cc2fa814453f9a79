// 2-D convolution on the CPU (oneDNN): forward, backward data and backward weights; weights OIHW, activations
// NCHW or blocked (nChw16c, what CPU training programs keep them in: lib/graph/layout.ts).
//
// oneDNN's fast kernels want blocked activations. Given nchw ones, they are reordered in and out, and on
// small-channel layers those reorders cost a third of the time: then, when the batch allows, it is cut into
// chunks of a few images and each thread runs single-threaded primitives on its own chunks, so the blocked copies
// never leave that core's cache (see choosePlan). Given blocked ones, the whole batch runs on every thread.
#include <omp.h>

#include <algorithm>
#include <array>
#include <exception>
#include <optional>
#include <unordered_map>
#include <utility>

#include "../core/kernel.h"
#include "../core/settings.h"
#include "../ops/conv_geometry.h"
#include "backend.h"
#include "conv16.h"

namespace rn::cpu {
namespace {

using dnnl::memory;
using Dims = memory::dims;

// Shapes and attributes of one convolution, checked against each other (native/ops/conv_geometry.h), in oneDNN's
// terms.
struct ConvGeometry {
  Shape x, w, y;                   // x (N, C, H, W), w (K, C, kh, kw), y (N, K, OH, OW)
  Dims stride, padding, dilation;  // dilation in oneDNN's convention: 0 = dense
  // x / y are blocked with 16 channels, where nChw16c and nhwc are the same bytes: the primitive is asked for
  // nhwc, for which oneDNN 2.6 has faster kernels at 16 channels (brgconv forward, nxc backward weights).
  bool nhwcX = false, nhwcY = false;

  explicit ConvGeometry(const ops::ConvGeometry& g)
      : x(g.x),
        w(g.w),
        y(g.y),
        stride{g.stride[0], g.stride[1]},
        padding{g.padding[0], g.padding[1]},
        dilation{g.dilation[0] - 1, g.dilation[1] - 1} {}

  ConvGeometry withBatch(int64_t n) const {
    ConvGeometry g = *this;
    g.x[0] = g.y[0] = n;
    return g;
  }
};

enum class Direction { Forward, BackwardData, BackwardWeights };

// How a kernel runs: the batch in chunks of `chunk` images, dealt round-robin to `lanes` threads that each run
// single-threaded primitives; with one lane, the chunks in order with primitives that use every thread.
struct Plan {
  int64_t chunk;
  int lanes;
  bool winograd;
};

int64_t bytesPerImage(const ConvGeometry& g) {
  return 4 * (numel(g.x) + numel(g.y)) / g.x[0];
}

// Winograd F(4x4, 3x3) does 2.25x fewer multiplies than direct 3x3 convolution, but its transformed weights
// are 36·C·K floats. On blocked activations (the whole batch on every thread, no reorders) it wins in every
// direction from 32 channels: measured here at batch 16, forward 1.55x at 14x14x256 and 1.2x at 7x7x512, and
// more at 28x28x128. On chunked plans (nchw activations, 1 thread per chunk) it wins for backward weights from
// 32 channels (1.2-1.9x) and for forward / backward data up to 128 channels (1.1-1.6x), and loses beyond (0.5x
// at 512). oneDNN implements it for 3x3, stride 1, no dilation, channels a multiple of 16; it loses below 32.
// Setting "cpu_conv" = "direct" (read when kernels are built) rules Winograd out: its float32 results are ~1e-4
// off per convolution, which deep networks' gradients amplify (the GPU check's CPU parity runs with it).
bool useWinograd(const ConvGeometry& g, Direction dir, bool chunked) {
  const std::string mode = getSetting("cpu_conv", "auto");
  RN_CHECK(mode == "auto" || mode == "direct", code::kInvalidArgument, "",
           "Expected auto or direct for setting cpu_conv but received '" + mode + "'");
  if (mode == "direct") return false;
  const int64_t c = g.x[1], k = g.y[1];
  const bool shape = g.w[2] == 3 && g.w[3] == 3 && g.stride == Dims{1, 1} && g.dilation == Dims{0, 0} &&
                     c % 16 == 0 && k % 16 == 0 && c >= 32 && k >= 32;
  if (!chunked && dir == Direction::BackwardWeights && g.w[2] == 3 && g.w[3] == 3 && g.stride == Dims{1, 1} &&
      g.dilation == Dims{0, 0} && c == 16 && k == 16) {
    return true;  // 16 channels, backward weights on the whole batch: 207-230 against 155-207 GFLOP/s direct
  }
  return shape && (!chunked || dir == Direction::BackwardWeights || c * k <= 128 * 128);
}

// Chunks whose blocked input and output copies fit in half a core's L2 (2 MB where measured). On one thread
// (CPU time, N128 C=K=16 32x32) 4-image chunks against the whole batch at once: forward 79 → 88, backward data
// 83 → 97, backward weights 73 → 109 GFLOP/s. With several threads a lane per thread also needs no barrier
// between the reorders and the convolution. A batch that does not split evenly over the threads runs whole.
Plan choosePlan(const ConvGeometry& g, Direction dir, int threads, bool reorders) {
  const int64_t n = g.x[0];
  // Without reorders the chunks buy nothing: measured on blocked activations, the whole batch on every thread
  // matched or beat them (within this machine's noise) on every ResNet shape, by up to 1.4x at 28x28x128.
  if (!reorders) return {n, 1, useWinograd(g, dir, false)};
  constexpr int64_t kChunkBytes = 1 << 20;
  int64_t chunk = 1;
  for (int64_t c = 1; c <= n; ++c) {
    if (n % c == 0 && c * bytesPerImage(g) <= kChunkBytes) chunk = c;
  }
  // Backward weights sums one weight gradient per chunk: keep that traffic small beside the activations'.
  if (dir == Direction::BackwardWeights) {
    const int64_t weightBytes = 4 * numel(g.w);
    while (chunk < n && 4 * weightBytes > chunk * bytesPerImage(g)) {
      int64_t next = chunk + 1;
      while (n % next) ++next;
      chunk = next;
    }
  }
  // Every chunk reads all the weights: past a megabyte they no longer stay in L2 from one chunk to the next,
  // and the whole batch on every thread (oneDNN splits output channels) reads them once.
  if (4 * numel(g.w) > kChunkBytes) chunk = n;
  const int64_t chunks = n / chunk;
  const bool balanced = chunks % threads == 0 || chunks >= 4 * threads;
  Plan plan{n, 1, useWinograd(g, dir, false)};
  if (chunks > 1 && balanced) plan = {chunk, static_cast<int>(std::min<int64_t>(threads, chunks)), useWinograd(g, dir, true)};
  return plan;
}

// Sets OpenMP's thread count for the scope: oneDNN sizes a primitive's work split when it is created.
class ThreadsScope {
 public:
  explicit ThreadsScope(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadsScope() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

memory::desc anyDesc(const Shape& shape);

// x's or y's descriptor for the primitive: nhwc where fixed (see ConvGeometry), else oneDNN's choice.
memory::desc activationDesc(const Shape& shape, bool nhwc) {
  if (!nhwc) return anyDesc(shape);
  return memory::desc(Dims(shape.begin(), shape.end()), memory::data_type::f32, memory::format_tag::nhwc);
}

memory::desc anyDesc(const Shape& shape) {
  return memory::desc(Dims(shape.begin(), shape.end()), memory::data_type::f32, memory::format_tag::any);
}

dnnl::algorithm algorithmOf(bool winograd) {
  return winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
}

dnnl::convolution_forward::primitive_desc forwardPd(const ConvGeometry& g, bool bias, bool winograd,
                                                     const dnnl::primitive_attr& attr) {
  auto prop = dnnl::prop_kind::forward_training;
  auto algo = algorithmOf(winograd);
  if (bias) {
    dnnl::convolution_forward::desc d(prop, algo, activationDesc(g.x, g.nhwcX), anyDesc(g.w), anyDesc({g.y[1]}), activationDesc(g.y, g.nhwcY),
                                      g.stride, g.dilation, g.padding, g.padding);
    return {d, attr, engine()};
  }
  dnnl::convolution_forward::desc d(prop, algo, activationDesc(g.x, g.nhwcX), anyDesc(g.w), activationDesc(g.y, g.nhwcY), g.stride, g.dilation,
                                    g.padding, g.padding);
  return {d, attr, engine()};
}

// The primitive descriptor of one direction for geometry g (batch = one chunk), scratchpad owned by the caller.
dnnl::primitive_desc directionPd(Direction dir, const ConvGeometry& g, bool bias, bool winograd) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  auto hint = forwardPd(g, dir == Direction::BackwardWeights && bias, winograd, dnnl::primitive_attr());
  auto algo = algorithmOf(winograd);
  switch (dir) {
    case Direction::Forward:
      return forwardPd(g, bias, winograd, attr);
    case Direction::BackwardData: {
      dnnl::convolution_backward_data::desc d(algo, activationDesc(g.x, g.nhwcX), anyDesc(g.w), activationDesc(g.y, g.nhwcY), g.stride, g.dilation,
                                              g.padding, g.padding);
      return dnnl::convolution_backward_data::primitive_desc(d, attr, engine(), hint);
    }
    case Direction::BackwardWeights: {
      if (bias) {
        dnnl::convolution_backward_weights::desc d(algo, activationDesc(g.x, g.nhwcX), anyDesc(g.w), anyDesc({g.y[1]}), activationDesc(g.y, g.nhwcY),
                                                   g.stride, g.dilation, g.padding, g.padding);
        return dnnl::convolution_backward_weights::primitive_desc(d, attr, engine(), hint);
      }
      dnnl::convolution_backward_weights::desc d(algo, activationDesc(g.x, g.nhwcX), anyDesc(g.w), activationDesc(g.y, g.nhwcY), g.stride, g.dilation,
                                                 g.padding, g.padding);
      return dnnl::convolution_backward_weights::primitive_desc(d, attr, engine(), hint);
    }
  }
  RN_THROW(code::kInternal, "", "unknown convolution direction");
}

// What an operand is to the batch loop.
enum class Role {
  BatchIn,    // x or dy: one slice per chunk, reordered in
  BatchOut,   // y or dx: one slice per chunk, reordered out
  SharedIn,   // w or b: reordered once per run, read by every lane
  SummedOut,  // dw or db: each lane sums its chunks, then the lanes are summed and reordered out
};

struct OperandSpec {
  int arg;     // DNNL_ARG_*
  Role role;
  int index;   // position in the kernel's inputs (…In) or outputs (…Out)
  Shape shape; // the whole tensor
  Layout layout = Layout::Plain;  // the user's: an activation may be blocked (nChw16c), so no reorder is needed
};

// A user buffer in its dense layout and the primitive's view of it; `reorder` copies between the two
// (user → inner for inputs, inner → user for outputs) and is absent when the layouts agree.
struct Binding {
  memory user;
  memory inner;
  std::optional<dnnl::reorder> reorder;

  Binding(const memory::desc& userDesc, const memory::desc& innerDesc) : user(userDesc, engine(), DNNL_MEMORY_NONE) {
    inner = innerDesc == userDesc ? user : memory(innerDesc, engine());
  }
  void makeReorder(bool in) {
    if (inner.get() == user.get()) return;  // the user's layout is the primitive's (a blocked activation)
    reorder = in ? dnnl::reorder(user, inner) : dnnl::reorder(inner, user);
  }
  void reorderIn(dnnl::stream& s) {
    if (reorder) reorder->execute(s, user, inner);
  }
  void reorderOut(dnnl::stream& s) {
    if (reorder) reorder->execute(s, inner, user);
  }
};

// One thread's share: its stream, scratchpad, chunk buffers and running sums.
struct Lane {
  dnnl::stream stream{engine()};
  memory scratchpad;
  std::vector<std::optional<Binding>> slices;  // by spec index: BatchIn/BatchOut chunk buffers
  std::vector<memory> sums;                    // by spec index: SummedOut, this lane's sum (lane 0: the kernel's)
  std::vector<memory> partial;                 // by spec index: SummedOut, one chunk's result before adding
};

void addInto(const memory& acc, const memory& add) {
  float* a = static_cast<float*>(acc.get_data_handle());
  const float* b = static_cast<const float*>(add.get_data_handle());
  const size_t n = acc.get_desc().get_size() / sizeof(float);
#pragma omp simd
  for (size_t i = 0; i < n; ++i) a[i] += b[i];
}

class Conv2d : public Kernel {
 public:
  Conv2d(std::string op, Direction dir, const ConvGeometry& g, bool bias, std::vector<OperandSpec> specs)
      : op_(std::move(op)), specs_(std::move(specs)) {
    bool reorders = false;
    for (const OperandSpec& spec : specs_) {
      if ((spec.role == Role::BatchIn || spec.role == Role::BatchOut) && spec.layout == Layout::Plain) reorders = true;
    }
    plan_ = choosePlan(g, dir, numThreads(), reorders);
    // nhwc only where both activations are 16-channel blocked: oneDNN 2.6 has no fast kernel for nhwc beside
    // another layout (a 3→16 stem or a 16→32 downsampling would run its reference loops).
    bool x16 = false, y16 = false;
    for (const OperandSpec& spec : specs_) {
      const bool sixteen = spec.layout == Layout::Blocked16 && spec.shape[1] == 16;
      if (spec.arg == DNNL_ARG_SRC || spec.arg == DNNL_ARG_DIFF_SRC) x16 = sixteen;
      if (spec.arg == DNNL_ARG_DST || spec.arg == DNNL_ARG_DIFF_DST) y16 = sixteen;
    }
    ConvGeometry fixed = g;
    fixed.nhwcX = fixed.nhwcY = x16 && y16 && !plan_.winograd;  // Winograd takes nChw16c only
    dnnlCall(op_, [&] { build(dir, fixed, bias); });
  }

  void run(const KernelArgs& a) override {
    dnnlCall(op_, [&] {
      for (size_t s = 0; s < specs_.size(); ++s) {
        const OperandSpec& spec = specs_[s];
        if (spec.role == Role::SharedIn) whole_[s]->user.set_data_handle(a.in[spec.index].ptr);
        if (spec.role == Role::SummedOut) whole_[s]->user.set_data_handle(a.out[spec.index].ptr);
      }
      const int lanes = static_cast<int>(lanes_.size());
      if (lanes == 1) {
        reorderShared(stream());
        runLane(0, a);
        reorderSums(stream());
      } else {
        // One parallel region per run: waking the threads costs more than these single-threaded steps.
        // Every lane runs even when fewer threads are granted (or set since the plan was made).
        // Weights are reordered in and gradients out by multi-threaded primitives, before and after the lanes.
        reorderShared(stream());
#pragma omp parallel num_threads(std::min(lanes, numThreads()))
        {
          const int thread = omp_get_thread_num(), threads = omp_get_num_threads();
          for (int l = thread; l < lanes; l += threads) runLane(l, a);
#pragma omp barrier
          guarded([&] { sumLanes(thread, threads); });
        }
        if (!laneError_) reorderSums(stream());
      }
      if (laneError_) std::rethrow_exception(std::exchange(laneError_, nullptr));
    });
  }

 private:
  void build(Direction dir, const ConvGeometry& g, bool bias) {
    batch_ = g.x[0];
    const int64_t chunks = batch_ / plan_.chunk;
    std::optional<dnnl::primitive_desc> pd;
    {
      ThreadsScope threads(plan_.lanes > 1 ? 1 : numThreads());
      ConvGeometry chunkGeometry = g.withBatch(plan_.chunk);
      if (plan_.winograd) {
        try {
          pd = directionPd(dir, chunkGeometry, bias, true);
        } catch (const dnnl::error&) {
          plan_.winograd = false;  // not implemented for this shape: direct convolution instead
        }
      }
      if (!pd) pd = directionPd(dir, chunkGeometry, bias, false);
      // oneDNN falls back to its reference loops (two orders of magnitude slower) for layout pairs that no fast
      // kernel takes; let it choose the layouts instead (the user's are then reordered in and out).
      if (std::string(pd->impl_info_str()).rfind("ref", 0) == 0 && (chunkGeometry.nhwcX || chunkGeometry.nhwcY)) {
        chunkGeometry.nhwcX = chunkGeometry.nhwcY = false;
        pd = directionPd(dir, chunkGeometry, bias, false);
      }
      conv_ = dnnl::primitive(*pd);
      lanes_.resize(plan_.lanes);
      for (Lane& lane : lanes_) {
        lane.scratchpad = memory(pd->scratchpad_desc(), engine());
        lane.slices.resize(specs_.size());
        lane.sums.resize(specs_.size());
        lane.partial.resize(specs_.size());
        for (size_t s = 0; s < specs_.size(); ++s) {
          const OperandSpec& spec = specs_[s];
          const memory::desc inner = pd->query_md(dnnl::query::exec_arg_md, spec.arg);
          if (spec.role == Role::BatchIn || spec.role == Role::BatchOut) {
            Shape slice = spec.shape;
            slice[0] = plan_.chunk;
            const bool xSide = spec.arg == DNNL_ARG_SRC || spec.arg == DNNL_ARG_DIFF_SRC;
            const bool nhwc = xSide ? chunkGeometry.nhwcX : chunkGeometry.nhwcY;
            lane.slices[s].emplace(nhwc ? activationDesc(slice, true) : layoutDesc(slice, spec.layout), inner);
            lane.slices[s]->makeReorder(spec.role == Role::BatchIn);
          } else if (spec.role == Role::SummedOut) {
            if (&lane != &lanes_[0]) lane.sums[s] = memory(inner, engine());
            if (chunks > plan_.lanes) lane.partial[s] = memory(inner, engine());
          }
        }
      }
    }
    // Weights in and gradients out: whole tensors, reordered once per run by primitives that use every thread
    // (a 512x512x3x3 weight reorder takes 3.4 ms on one).
    whole_.resize(specs_.size());
    for (size_t s = 0; s < specs_.size(); ++s) {
      const OperandSpec& spec = specs_[s];
      if (spec.role != Role::SharedIn && spec.role != Role::SummedOut) continue;
      whole_[s].emplace(plainDesc(spec.shape), pd->query_md(dnnl::query::exec_arg_md, spec.arg));
      whole_[s]->makeReorder(spec.role == Role::SharedIn);
      if (spec.role == Role::SummedOut) lanes_[0].sums[s] = whole_[s]->inner;
    }
  }

  // Lane l runs chunks l, l + lanes, … of the batch.
  void runLane(int l, const KernelArgs& a) {
    Lane& lane = lanes_[l];
    const int64_t chunks = batch_ / plan_.chunk;
    guarded([&] {
      for (int64_t c = l; c < chunks; c += static_cast<int64_t>(lanes_.size())) {
        const bool first = c == l;
        std::unordered_map<int, memory> args{{DNNL_ARG_SCRATCHPAD, lane.scratchpad}};
        for (size_t s = 0; s < specs_.size(); ++s) {
          const OperandSpec& spec = specs_[s];
          if (spec.role == Role::SharedIn) {
            args[spec.arg] = whole_[s]->inner;
          } else if (spec.role == Role::SummedOut) {
            args[spec.arg] = first ? lane.sums[s] : lane.partial[s];
          } else {
            Binding& slice = *lane.slices[s];
            const TensorRef& t = spec.role == Role::BatchIn ? a.in[spec.index] : a.out[spec.index];
            slice.user.set_data_handle(t.f32() + c * (t.numel() / chunks));
            if (spec.role == Role::BatchIn) slice.reorderIn(lane.stream);
            args[spec.arg] = slice.inner;
          }
        }
        conv_.execute(lane.stream, args);
        for (size_t s = 0; s < specs_.size(); ++s) {
          if (specs_[s].role == Role::BatchOut) lane.slices[s]->reorderOut(lane.stream);
          if (specs_[s].role == Role::SummedOut && !first) addInto(lane.sums[s], lane.partial[s]);
        }
      }
      lane.stream.wait();
    });
  }

  void reorderShared(dnnl::stream& s) {
    for (size_t i = 0; i < specs_.size(); ++i) {
      if (specs_[i].role == Role::SharedIn) whole_[i]->reorderIn(s);
    }
    s.wait();
  }

  // Adds the other lanes' sums into lane 0's, this thread's share of the elements.
  void sumLanes(int thread, int threads) {
    for (size_t i = 0; i < specs_.size(); ++i) {
      if (specs_[i].role != Role::SummedOut) continue;
      float* acc = static_cast<float*>(lanes_[0].sums[i].get_data_handle());
      const int64_t n = static_cast<int64_t>(lanes_[0].sums[i].get_desc().get_size() / sizeof(float));
      const int64_t begin = n * thread / threads, end = n * (thread + 1) / threads;
      for (size_t l = 1; l < lanes_.size(); ++l) {
        const float* add = static_cast<const float*>(lanes_[l].sums[i].get_data_handle());
#pragma omp simd
        for (int64_t e = begin; e < end; ++e) acc[e] += add[e];
      }
    }
  }

  void reorderSums(dnnl::stream& s) {
    for (size_t i = 0; i < specs_.size(); ++i) {
      if (specs_[i].role == Role::SummedOut) whole_[i]->reorderOut(s);
    }
    s.wait();
  }

  // Runs f, keeping the first exception for run() to rethrow: none may leave an OpenMP region.
  template <typename F>
  void guarded(F&& f) {
    try {
      f();
    } catch (...) {
#pragma omp critical(rn_conv2d_error)
      if (!laneError_) laneError_ = std::current_exception();
    }
  }


  std::string op_;
  std::vector<OperandSpec> specs_;
  Plan plan_{};
  int64_t batch_ = 0;
  dnnl::primitive conv_;
  std::vector<Lane> lanes_;
  std::vector<std::optional<Binding>> whole_;  // by spec index: SharedIn and SummedOut, whole tensors
  std::exception_ptr laneError_;
};

// 16 → 16 channels, 3x3, stride 1, padding 1, both activations blocked: the hand-written kernel (conv16.cc) for
// forward and backward data (forward's computation on dy with the weights flipped and transposed). Backward
// weights stays with oneDNN: a hand-written version (accumulators over 16 input channels × 16 output channels
// per tap, in registers across L1-sized pieces of rows) measured 0.85-0.9x oneDNN's jit kernel here.
// Measured against oneDNN's primitives on the same nhwc buffers (brgconv forward, jit backward data), medians of
// interleaved runs on one thread of this (shared, noisy) 2-core machine, GFLOP/s:
//   [128, 16, 32, 32]  forward 81 → 91, 68 → 70, 101 → 108;  backward data 75 → 90, 63 → 72, 78 → 108
//   [128, 16, 16, 16]  forward 115 → 127, 106 → 125, 87 → 107;  backward data 138 → 129, 135 → 123, 102 → 109
// Through the ops (output allocation included), one thread: 1.13x forward, 1.15x backward data at 32x32, 1.18x
// forward and par backward data at 16x16. Both threads, with another process busy on the cores: 1.5x at 32x32,
// 2x at 16x16 (this kernel hands rows out as threads come free). The machine's own peak measured 120-125
// GFLOP/s per thread then, so the >200 on two threads that a quiet machine might allow could not be checked.
// Since then the direct kernel reaches ~190-240 GFLOP/s on two threads, the cores' FMA limit (as does PyTorch), so
// unless setting cpu_conv = "direct" rules Winograd out, Winograd F(2x2, 3x3) (wino16.cc: 2.25x fewer multiplies,
// results within ~5e-7 relative of direct's) runs instead. Medians of 7 interleaved runs through the ops on
// blocked tensors, two threads, effective GFLOP/s (direct convolution's flop count), direct → Winograd:
//   [128, 16, 32, 32]  forward 237 → 308, backward data 240 → 307
//   [128, 16, 16, 16]  forward 193 → 268, backward data 211 → 261
// and `bench ops --only 128x16x32x32` (against PyTorch, which had matched the direct kernel at 0.97-1.09x):
// forward 1.49x and 1.37x, backward data 1.59x and 1.31x in two runs. The multiply runs at the FMA limit; the
// transforms and the round trips through the block buffer add about 60% to it, so the gain is ~1.3x, not 2.25x.
class Conv16 : public Kernel {
 public:
  Conv16(Direction dir, const Shape& x, bool bias)
      : backwardData_(dir == Direction::BackwardData), bias_(bias), winograd_(winograd16()), x_(x) {}

  void run(const KernelArgs& a) override {
    conv16PackWeights(a.in[1].f32(), backwardData_, packed_.data());
    const float* bias = bias_ ? a.in[2].f32() : nullptr;
    if (winograd_) {
      wino16TransformWeights(packed_.data(), transformed_.data());
      wino16Run(a.in[0].f32(), transformed_.data(), bias, a.out[0].f32(), x_[0], x_[2], x_[3]);
    } else {
      conv16Run(a.in[0].f32(), packed_.data(), bias, a.out[0].f32(), x_[0], x_[2], x_[3]);
    }
  }

 private:
  // Winograd F(2x2, 3x3) unless setting cpu_conv = "direct" (which promises no Winograd).
  static bool winograd16() {
    const std::string mode = getSetting("cpu_conv", "auto");
    RN_CHECK(mode == "auto" || mode == "direct", code::kInvalidArgument, "",
             "Expected auto or direct for setting cpu_conv but received '" + mode + "'");
    return mode != "direct";
  }

  bool backwardData_, bias_, winograd_;
  Shape x_;  // x's and y's shape (dx's and dy's): [N, 16, H, W]
  // Whole cache lines per weight vector (64-byte aligned).
  alignas(64) std::array<float, 16 * 16 * 9> packed_{};
  alignas(64) std::array<float, 16 * 16 * 16> transformed_{};
};

// `a` and `b`: the layouts of the direction's two activations (x and y, or dy and dx).
bool fitsConv16(const ConvGeometry& g, Layout a, Layout b) {
  return conv16Available() && a == Layout::Blocked16 && b == Layout::Blocked16 && g.x[1] == 16 && g.y[1] == 16 &&
         g.w[2] == 3 && g.w[3] == 3 && g.stride == Dims{1, 1} && g.padding == Dims{1, 1} && g.dilation == Dims{0, 0};
}

// Activations (x, y, dx, dy) may each be plain or blocked; weights, bias and their gradients are plain.
void expectPlainWeights(const KernelContext& ctx, const std::vector<const ValueInfo*>& weights) {
  for (const ValueInfo* w : weights) {
    if (w->layout != Layout::Plain) {
      ctx.fail(code::kInvalidArgument, "expected weights, bias and their gradients in layout nchw");
    }
  }
}

// Inputs (x, w[, b]) → y.
std::unique_ptr<Kernel> makeConv2dForward(const KernelContext& ctx) {
  const ops::ConvSpec spec = ops::checkConv2dForward(ctx);
  const ConvGeometry g(spec.g);
  const bool bias = spec.bias;
  expectPlainWeights(ctx, bias ? std::vector{&ctx.inputs[1], &ctx.inputs[2]} : std::vector{&ctx.inputs[1]});
  std::vector<OperandSpec> specs{{DNNL_ARG_SRC, Role::BatchIn, 0, g.x, ctx.inputs[0].layout},
                                 {DNNL_ARG_WEIGHTS, Role::SharedIn, 1, g.w},
                                 {DNNL_ARG_DST, Role::BatchOut, 0, g.y, ctx.outputs[0].layout}};
  if (bias) specs.push_back({DNNL_ARG_BIAS, Role::SharedIn, 2, {g.w[0]}});
  if (fitsConv16(g, ctx.inputs[0].layout, ctx.outputs[0].layout)) {
    return std::make_unique<Conv16>(Direction::Forward, g.x, bias);
  }
  return std::make_unique<Conv2d>(ctx.op, Direction::Forward, g, bias, std::move(specs));
}

// Inputs (dy, w) → dx; the geometry comes from dx's shape, and dy must match it.
std::unique_ptr<Kernel> makeConv2dBackwardData(const KernelContext& ctx) {
  const ConvGeometry g(ops::checkConv2dBackwardData(ctx));
  expectPlainWeights(ctx, {&ctx.inputs[1]});
  std::vector<OperandSpec> specs{{DNNL_ARG_DIFF_DST, Role::BatchIn, 0, g.y, ctx.inputs[0].layout},
                                 {DNNL_ARG_WEIGHTS, Role::SharedIn, 1, g.w},
                                 {DNNL_ARG_DIFF_SRC, Role::BatchOut, 0, g.x, ctx.outputs[0].layout}};
  if (fitsConv16(g, ctx.inputs[0].layout, ctx.outputs[0].layout)) {
    return std::make_unique<Conv16>(Direction::BackwardData, g.x, false);
  }
  return std::make_unique<Conv2d>(ctx.op, Direction::BackwardData, g, false, std::move(specs));
}

// Inputs (x, dy) → dw[, db].
std::unique_ptr<Kernel> makeConv2dBackwardWeights(const KernelContext& ctx) {
  const ops::ConvSpec spec = ops::checkConv2dBackwardWeights(ctx);
  const ConvGeometry g(spec.g);
  const bool bias = spec.bias;
  std::vector<const ValueInfo*> weights;
  for (const ValueInfo& out : ctx.outputs) weights.push_back(&out);
  expectPlainWeights(ctx, weights);
  std::vector<OperandSpec> specs{{DNNL_ARG_SRC, Role::BatchIn, 0, g.x, ctx.inputs[0].layout},
                                 {DNNL_ARG_DIFF_DST, Role::BatchIn, 1, g.y, ctx.inputs[1].layout},
                                 {DNNL_ARG_DIFF_WEIGHTS, Role::SummedOut, 0, g.w}};
  if (bias) specs.push_back({DNNL_ARG_DIFF_BIAS, Role::SummedOut, 1, {g.w[0]}});
  return std::make_unique<Conv2d>(ctx.op, Direction::BackwardWeights, g, bias, std::move(specs));
}

RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "conv2d_forward", makeConv2dForward);
RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "conv2d_backward_data", makeConv2dBackwardData);
RN_REGISTER_KERNEL_ANY_LAYOUT("cpu", "conv2d_backward_weights", makeConv2dBackwardWeights);

}  // namespace
}  // namespace rn::cpu
