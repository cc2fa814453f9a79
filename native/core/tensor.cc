// DType helpers and Storage allocation through the owning device.
#include "tensor.h"

#include "device.h"
#include "errors.h"

namespace rn {

size_t dtypeSize(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::U8: return 1;
    case DType::I32: return 4;
    case DType::I64: return 8;
  }
  return 0;
}

const char* dtypeName(DType dtype) {
  switch (dtype) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::U8: return "uint8";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
  }
  return "?";
}

DType parseDType(const std::string& name) {
  if (name == "float32") return DType::F32;
  if (name == "float16") return DType::F16;
  if (name == "bfloat16") return DType::BF16;
  if (name == "uint8") return DType::U8;
  if (name == "int32") return DType::I32;
  if (name == "int64") return DType::I64;
  RN_THROW(code::kInvalidArgument, "", "unknown dtype '" + name + "'");
}

const char* layoutName(Layout layout) { return layout == Layout::Blocked16 ? "nChw16c" : "nchw"; }

Layout parseLayout(const std::string& name) {
  if (name == "nchw") return Layout::Plain;
  if (name == "nChw16c") return Layout::Blocked16;
  RN_THROW(code::kInvalidArgument, "", "Expected nchw or nChw16c for layout but received '" + name + "'");
}

bool layoutFits(Layout layout, const std::vector<int64_t>& shape, DType dtype) {
  if (layout == Layout::Plain) return true;
  return shape.size() == 4 && dtype == DType::F32 && shape[1] % 16 == 0;
}

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string shapeString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Storage::Storage(Device* device, size_t bytes) : device_(device), bytes_(bytes) {
  data_ = device_->allocate(bytes == 0 ? 1 : bytes);
}

Storage::~Storage() {
  if (data_) device_->release(data_, bytes_ == 0 ? 1 : bytes_);
}

}  // namespace rn
