// A Program: values (external bindings or arena slices) and an op list, run on its device's worker.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "attrs.h"
#include "kernel.h"
#include "tensor.h"

namespace rn {

class Device;

struct ValueSpec {
  Shape shape;
  DType dtype = DType::F32;
  bool external = true;     // bound per run; otherwise a slice of the arena or a view of another value
  size_t arenaOffset = 0;   // bytes into the arena, or into `viewOf` for a view
  int viewOf = -1;          // a view shares the memory of an earlier value (flat parameters, reshapes)
  Layout layout = Layout::Plain;
};

struct OpSpec {
  std::string op;
  std::vector<int> inputs;   // value ids
  std::vector<int> outputs;  // value ids; an id that is also an input means "in place"
  Attrs attrs;
};

struct ProgramSpec {
  std::vector<ValueSpec> values;
  std::vector<OpSpec> ops;
  std::vector<int> externals;  // value ids in the order run() binds them
  size_t arenaBytes = 0;
};

class Program {
 public:
  // Checks ids, op names and arena bounds; kernels are built on the worker at the first run.
  Program(Device& device, ProgramSpec spec);

  // On the device's worker thread. Externals must match the spec's shapes and dtypes.
  void run(const std::vector<Tensor>& externals);

  Device& device() const { return device_; }

  // Per-op wall time of the runs made while profiling was on (process-wide switch, see setProfiling).
  struct OpTime {
    std::string op;
    int64_t calls = 0;
    double seconds = 0;
  };
  std::vector<OpTime> profile() const;
  const ProgramSpec& spec() const { return spec_; }

 private:
  void instantiate();
  Device& device_;
  ProgramSpec spec_;
  std::vector<std::unique_ptr<Kernel>> kernels_;
  std::shared_ptr<Storage> arena_;
  bool instantiated_ = false;
  std::vector<TensorRef> refs_;  // one per value, re-pointed at each run
  std::vector<double> opSeconds_;  // per op index, while profiling
  std::vector<int64_t> opCalls_;
  mutable std::mutex profileMutex_;
};

void setProfiling(bool on);
bool profiling();

}  // namespace rn
