// Kernels and their registry: one factory per op name per backend, one line to register.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attrs.h"
#include "errors.h"
#include "tensor.h"

namespace rn {

class Device;

struct ValueInfo {
  Shape shape;
  DType dtype = DType::F32;
  Layout layout = Layout::Plain;
};

// What a factory sees when a program is instantiated: shapes, dtypes and attributes.
struct KernelContext {
  std::string op;
  const Attrs& attrs;
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  Device& device;

  // Checks that throw RN_INVALID_ARGUMENT / RN_SHAPE_MISMATCH / RN_DTYPE_MISMATCH with the op's signature.
  void expectArity(size_t nInputs, size_t nOutputs) const;
  void expectArity(size_t minInputs, size_t maxInputs, size_t nOutputs) const;
  void expectDtype(const ValueInfo& value, DType dtype, const std::string& what) const;
  void expectRank(const ValueInfo& value, size_t rank, const std::string& what) const;
  void expectShape(const ValueInfo& value, const Shape& shape, const std::string& what) const;
  // The layout every listed (value, name) shares: a kernel that takes blocked operands walks them all with one
  // indexing, so a mix fails (RN_INVALID_ARGUMENT) naming the first value that differs from the first listed.
  Layout expectOneLayout(const std::vector<std::pair<const ValueInfo*, std::string>>& values) const;
  [[noreturn]] void fail(const char* code, const std::string& message) const;
  std::string signature() const;  // "inputs float32[2,3,8,8], float32[4,3,3,3] → outputs float32[2,4,8,8]"
};

struct KernelArgs {
  std::vector<TensorRef> in;
  std::vector<TensorRef> out;
  Device& device;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(const KernelArgs& args) = 0;
};

using KernelFactory = std::unique_ptr<Kernel> (*)(const KernelContext&);

class KernelRegistry {
 public:
  static KernelRegistry& of(const std::string& backend);
  // `anyLayout`: the kernel reads each operand's ValueInfo::layout and takes blocked ones; otherwise a program
  // that gives it a blocked operand is refused before the factory runs.
  void add(const std::string& op, KernelFactory factory, bool anyLayout = false);
  KernelFactory find(const std::string& op) const;
  bool takesAnyLayout(const std::string& op) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, KernelFactory> factories_;
  std::map<std::string, bool> anyLayout_;
};

}  // namespace rn

#define RN_CONCAT_INNER(a, b) a##b
#define RN_CONCAT(a, b) RN_CONCAT_INNER(a, b)
// RN_REGISTER_KERNEL("cpu", "relu_forward", makeReluForward);
#define RN_REGISTER_KERNEL(backend, op, factory) \
  static const bool RN_CONCAT(rnKernelRegistered_, __COUNTER__) = (::rn::KernelRegistry::of(backend).add(op, factory), true)
// A kernel that takes blocked (nChw16c) operands as well as plain ones.
#define RN_REGISTER_KERNEL_ANY_LAYOUT(backend, op, factory) \
  static const bool RN_CONCAT(rnKernelRegistered_, __COUNTER__) = \
      (::rn::KernelRegistry::of(backend).add(op, factory, true), true)
