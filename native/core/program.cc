// Program validation, kernel instantiation and the per-run op walk.
#include "program.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>

#include "device.h"
#include "errors.h"

namespace rn {

namespace {
std::atomic<bool> gProfiling{false};
}

void setProfiling(bool on) { gProfiling.store(on); }
bool profiling() { return gProfiling.load(); }

std::vector<Program::OpTime> Program::profile() const {
  std::lock_guard<std::mutex> lock(profileMutex_);
  std::map<std::string, OpTime> byOp;
  for (size_t k = 0; k < opSeconds_.size(); ++k) {
    // RN_PROFILE_EACH=1 reports every op of the list on its own ("conv2d_forward#12").
    static const bool each = std::getenv("RN_PROFILE_EACH") != nullptr;
    const std::string key = each ? spec_.ops[k].op + "#" + std::to_string(k) : spec_.ops[k].op;
    auto& t = byOp[key];
    t.op = key;
    t.calls += opCalls_[k];
    t.seconds += opSeconds_[k];
  }
  std::vector<OpTime> out;
  for (auto& kv : byOp) out.push_back(kv.second);
  return out;
}

Program::Program(Device& device, ProgramSpec spec) : device_(device), spec_(std::move(spec)) {
  const auto& registry = KernelRegistry::of(device_.backend());
  const int nValues = static_cast<int>(spec_.values.size());
  for (int id = 0; id < nValues; ++id) {
    const auto& value = spec_.values[id];
    for (auto d : value.shape) {
      RN_CHECK(d >= 0, code::kInvalidArgument, "", "negative dimension in value shape " + shapeString(value.shape));
    }
    RN_CHECK(layoutFits(value.layout, value.shape, value.dtype), code::kInvalidArgument, "",
             std::string("value ") + std::to_string(id) + " is " + dtypeName(value.dtype) + shapeString(value.shape) +
                 ": layout " + layoutName(value.layout) + " needs a float32 [N, C, H, W] with C a multiple of 16");
    const size_t bytes = static_cast<size_t>(numel(value.shape)) * dtypeSize(value.dtype);
    if (value.viewOf >= 0) {
      RN_CHECK(value.viewOf < id, code::kInvalidArgument, "",
               "value " + std::to_string(id) + " is a view of a later value " + std::to_string(value.viewOf));
      const auto& base = spec_.values[value.viewOf];
      const size_t baseBytes = static_cast<size_t>(numel(base.shape)) * dtypeSize(base.dtype);
      RN_CHECK(value.arenaOffset + bytes <= baseBytes, code::kInvalidArgument, "",
               "view " + std::to_string(id) + " " + shapeString(value.shape) + " at byte " +
                   std::to_string(value.arenaOffset) + " ends past its base value " + std::to_string(value.viewOf) +
                   " (" + std::to_string(baseBytes) + " bytes)");
    } else if (!value.external) {
      size_t end = value.arenaOffset + bytes;
      RN_CHECK(end <= spec_.arenaBytes, code::kInvalidArgument, "",
               "value of shape " + shapeString(value.shape) + " at arena offset " + std::to_string(value.arenaOffset) +
                   " ends past the arena (" + std::to_string(spec_.arenaBytes) + " bytes)");
    }
  }
  for (const auto& op : spec_.ops) {
    RN_CHECK(registry.find(op.op), code::kUnknownOp, op.op,
             "no kernel for this op on backend '" + device_.backend() + "'");
    for (int id : op.inputs) RN_CHECK(id >= 0 && id < nValues, code::kInvalidArgument, op.op, "input id out of range");
    for (int id : op.outputs) RN_CHECK(id >= 0 && id < nValues, code::kInvalidArgument, op.op, "output id out of range");
    if (registry.takesAnyLayout(op.op)) continue;
    for (const auto* ids : {&op.inputs, &op.outputs}) {
      for (int id : *ids) {
        RN_CHECK(spec_.values[id].layout == Layout::Plain, code::kInvalidArgument, op.op,
                 std::string("takes only nchw tensors on backend '") + device_.backend() + "' but value " +
                     std::to_string(id) + " " + shapeString(spec_.values[id].shape) + " is " +
                     layoutName(spec_.values[id].layout));
      }
    }
  }
  std::vector<bool> seen(nValues, false);
  for (int id : spec_.externals) {
    RN_CHECK(id >= 0 && id < nValues && spec_.values[id].external && spec_.values[id].viewOf < 0,
             code::kInvalidArgument, "",
             "external binding " + std::to_string(id) + " is not an external value");
    RN_CHECK(!seen[id], code::kInvalidArgument, "", "value " + std::to_string(id) + " is bound twice");
    seen[id] = true;
  }
  for (int id = 0; id < nValues; ++id) {
    RN_CHECK(!spec_.values[id].external || spec_.values[id].viewOf >= 0 || seen[id], code::kInvalidArgument, "",
             "external value " + std::to_string(id) + " has no binding");
  }
}

void Program::instantiate() {
  const auto& registry = KernelRegistry::of(device_.backend());
  refs_.resize(spec_.values.size());
  for (size_t i = 0; i < spec_.values.size(); ++i) {
    refs_[i].shape = &spec_.values[i].shape;
    refs_[i].dtype = spec_.values[i].dtype;
    refs_[i].layout = spec_.values[i].layout;
  }
  if (spec_.arenaBytes > 0) {
    arena_ = std::make_shared<Storage>(&device_, spec_.arenaBytes);
    for (size_t i = 0; i < spec_.values.size(); ++i) {
      const auto& v = spec_.values[i];
      if (!v.external && v.viewOf < 0) refs_[i].ptr = static_cast<char*>(arena_->data()) + v.arenaOffset;
    }
  }
  kernels_.clear();
  for (const auto& op : spec_.ops) {
    KernelContext ctx{op.op, op.attrs, {}, {}, device_};
    for (int id : op.inputs) ctx.inputs.push_back({spec_.values[id].shape, spec_.values[id].dtype, spec_.values[id].layout});
    for (int id : op.outputs) ctx.outputs.push_back({spec_.values[id].shape, spec_.values[id].dtype, spec_.values[id].layout});
    kernels_.push_back(registry.find(op.op)(ctx));
    op.attrs.checkAllUsed(op.op);
  }
  instantiated_ = true;
}

void Program::run(const std::vector<Tensor>& externals) {
  RN_CHECK(externals.size() == spec_.externals.size(), code::kInvalidArgument, "",
           "program expects " + std::to_string(spec_.externals.size()) + " bound tensors but received " +
               std::to_string(externals.size()));
  if (!instantiated_) instantiate();
  for (size_t i = 0; i < externals.size(); ++i) {
    const auto& value = spec_.values[spec_.externals[i]];
    const Tensor& t = externals[i];
    RN_CHECK(t.storage, code::kDisposed, "", "bound tensor " + std::to_string(i) + " has been disposed");
    RN_CHECK(t.storage->device() == &device_, code::kInvalidArgument, "",
             "bound tensor " + std::to_string(i) + " lives on " + t.storage->device()->name() + ", program on " +
                 device_.name());
    RN_CHECK(t.shape == value.shape && t.dtype == value.dtype, code::kShapeMismatch, "",
             "bound tensor " + std::to_string(i) + " is " + dtypeName(t.dtype) + shapeString(t.shape) +
                 " but the program expects " + dtypeName(value.dtype) + shapeString(value.shape));
    RN_CHECK(t.layout == value.layout, code::kInvalidArgument, "",
             "bound tensor " + std::to_string(i) + " " + shapeString(t.shape) + " is " + layoutName(t.layout) +
                 " but the program expects " + layoutName(value.layout));
    refs_[spec_.externals[i]].ptr = t.data();
  }
  // Views follow their bases, which come earlier in the value list.
  for (size_t i = 0; i < spec_.values.size(); ++i) {
    const auto& v = spec_.values[i];
    if (v.viewOf >= 0) refs_[i].ptr = static_cast<char*>(refs_[v.viewOf].ptr) + v.arenaOffset;
  }
  KernelArgs args{{}, {}, device_};
  const bool timed = profiling();
  if (timed && opSeconds_.size() != kernels_.size()) {
    std::lock_guard<std::mutex> lock(profileMutex_);
    opSeconds_.assign(kernels_.size(), 0);
    opCalls_.assign(kernels_.size(), 0);
  }
  for (size_t k = 0; k < kernels_.size(); ++k) {
    const auto& op = spec_.ops[k];
    args.in.clear();
    args.out.clear();
    for (int id : op.inputs) args.in.push_back(refs_[id]);
    for (int id : op.outputs) args.out.push_back(refs_[id]);
    if (!timed) {
      kernels_[k]->run(args);
      continue;
    }
    // Timing a kernel needs its work finished: synchronise around it (costly; profiling only).
    device_.synchronize();
    auto start = std::chrono::steady_clock::now();
    kernels_[k]->run(args);
    device_.synchronize();
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::lock_guard<std::mutex> lock(profileMutex_);
    opSeconds_[k] += took.count();
    opCalls_[k] += 1;
  }
  device_.synchronize();
}

}  // namespace rn
