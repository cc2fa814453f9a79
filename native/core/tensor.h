// Tensor and Storage: device memory owned by native code, shared by views and running programs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rn {

class Device;

enum class DType : uint8_t { F32, F16, BF16, U8, I32, I64 };

size_t dtypeSize(DType dtype);
const char* dtypeName(DType dtype);
DType parseDType(const std::string& name);  // throws RN_INVALID_ARGUMENT

using Shape = std::vector<int64_t>;
int64_t numel(const Shape& shape);
std::string shapeString(const Shape& shape);  // "[2,3,4]"

// A block of device memory; freed through its device when the last reference goes.
class Storage {
 public:
  Storage(Device* device, size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Device* device() const { return device_; }
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  Device* device_;
  void* data_ = nullptr;
  size_t bytes_;
};

// A dense row-major view: storage + byte offset + shape + dtype.
struct Tensor {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;
  Shape shape;
  DType dtype = DType::F32;

  void* data() const { return static_cast<char*>(storage->data()) + offset; }
  size_t bytes() const { return static_cast<size_t>(numel(shape)) * dtypeSize(dtype); }
};

// What a kernel sees: a raw pointer plus the shape it was compiled for.
struct TensorRef {
  void* ptr = nullptr;
  const Shape* shape = nullptr;
  DType dtype = DType::F32;

  template <typename T>
  T* as() const { return static_cast<T*>(ptr); }
  float* f32() const { return static_cast<float*>(ptr); }
  int64_t numel() const { return rn::numel(*shape); }
  int64_t dim(size_t i) const { return (*shape)[i]; }
};

}  // namespace rn
