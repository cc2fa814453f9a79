// Kernel registry and the shape/dtype checks every factory uses.
#include "kernel.h"

namespace rn {

KernelRegistry& KernelRegistry::of(const std::string& backend) {
  static auto* registries = new std::map<std::string, KernelRegistry>();
  return (*registries)[backend];
}

void KernelRegistry::add(const std::string& op, KernelFactory factory, bool anyLayout) {
  factories_[op] = factory;
  anyLayout_[op] = anyLayout;
}

bool KernelRegistry::takesAnyLayout(const std::string& op) const {
  auto it = anyLayout_.find(op);
  return it != anyLayout_.end() && it->second;
}

KernelFactory KernelRegistry::find(const std::string& op) const {
  auto it = factories_.find(op);
  return it == factories_.end() ? nullptr : it->second;
}

std::vector<std::string> KernelRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& kv : factories_) out.push_back(kv.first);
  return out;
}

static std::string describeValues(const std::vector<ValueInfo>& values) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) s += ", ";
    s += std::string(dtypeName(values[i].dtype)) + shapeString(values[i].shape);
    if (values[i].layout != Layout::Plain) s += std::string(" ") + layoutName(values[i].layout);
  }
  return s.empty() ? "none" : s;
}

std::string KernelContext::signature() const {
  return "inputs " + describeValues(inputs) + " -> outputs " + describeValues(outputs);
}

void KernelContext::fail(const char* code, const std::string& message) const {
  throw Error(code, op, message + " (" + signature() + ")", __FILE__, __LINE__);
}

void KernelContext::expectArity(size_t nInputs, size_t nOutputs) const { expectArity(nInputs, nInputs, nOutputs); }

void KernelContext::expectArity(size_t minInputs, size_t maxInputs, size_t nOutputs) const {
  if (inputs.size() < minInputs || inputs.size() > maxInputs || outputs.size() != nOutputs) {
    fail(code::kInvalidArgument, "expected " + std::to_string(minInputs) +
                                     (maxInputs != minInputs ? "-" + std::to_string(maxInputs) : "") + " inputs and " +
                                     std::to_string(nOutputs) + " outputs");
  }
}

void KernelContext::expectDtype(const ValueInfo& value, DType dtype, const std::string& what) const {
  if (value.dtype != dtype) {
    fail(code::kDtypeMismatch,
         "expected " + std::string(dtypeName(dtype)) + " for " + what + " but received " + dtypeName(value.dtype));
  }
}

void KernelContext::expectRank(const ValueInfo& value, size_t rank, const std::string& what) const {
  if (value.shape.size() != rank) {
    fail(code::kShapeMismatch,
         "expected a rank-" + std::to_string(rank) + " tensor for " + what + " but received " + shapeString(value.shape));
  }
}

void KernelContext::expectShape(const ValueInfo& value, const Shape& shape, const std::string& what) const {
  if (value.shape != shape) {
    fail(code::kShapeMismatch,
         "expected shape " + shapeString(shape) + " for " + what + " but received " + shapeString(value.shape));
  }
}

Layout KernelContext::expectOneLayout(const std::vector<std::pair<const ValueInfo*, std::string>>& values) const {
  const Layout layout = values.at(0).first->layout;
  for (const auto& [value, what] : values) {
    if (value->layout != layout) {
      fail(code::kInvalidArgument, "expected " + what + " in the layout of " + values[0].second + " (" +
                                       layoutName(layout) + ") but received " + layoutName(value->layout));
    }
  }
  return layout;
}

}  // namespace rn
