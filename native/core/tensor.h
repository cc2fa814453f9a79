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

// How a rank-4 [N, C, H, W] float tensor lies in memory. Plain: row-major NCHW. Blocked16 (oneDNN's nChw16c):
// channels in blocks of 16, the block innermost — element (n, c, h, w) at ((n·C/16 + c/16)·H·W + h·W + w)·16 + c%16
// — so that one AVX-512 vector holds 16 channels of one pixel. Same size as plain; C must be a multiple of 16.
// CPU programs keep activations blocked between the ops that take it (lib/graph/layout.ts chooses).
enum class Layout : uint8_t { Plain, Blocked16 };
constexpr int64_t kBlockChannels = 16;  // channels per block of Blocked16
const char* layoutName(Layout layout);  // "nchw", "nChw16c"
Layout parseLayout(const std::string& name);  // throws RN_INVALID_ARGUMENT
// Whether `layout` can describe a tensor of this shape and dtype (plain always; blocked: rank 4, f32, C % 16 == 0).
bool layoutFits(Layout layout, const std::vector<int64_t>& shape, DType dtype);
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
  Layout layout = Layout::Plain;

  void* data() const { return static_cast<char*>(storage->data()) + offset; }
  size_t bytes() const { return static_cast<size_t>(numel(shape)) * dtypeSize(dtype); }
};

// What a kernel sees: a raw pointer plus the shape it was compiled for.
struct TensorRef {
  void* ptr = nullptr;
  const Shape* shape = nullptr;
  DType dtype = DType::F32;
  Layout layout = Layout::Plain;

  template <typename T>
  T* as() const { return static_cast<T*>(ptr); }
  float* f32() const { return static_cast<float*>(ptr); }
  int64_t numel() const { return rn::numel(*shape); }
  int64_t dim(size_t i) const { return (*shape)[i]; }
};

}  // namespace rn
