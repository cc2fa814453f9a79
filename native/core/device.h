// A device: memory, host transfers, its own worker thread and a registry of its backend's kernels.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "worker.h"

namespace rn {

class Device {
 public:
  Device(std::string name, std::string backend) : name_(std::move(name)), backend_(std::move(backend)) {}
  virtual ~Device() = default;

  const std::string& name() const { return name_; }        // "cpu", "cuda:0"
  const std::string& backend() const { return backend_; }  // "cpu", "cuda"

  virtual void* allocate(size_t bytes) = 0;  // throws RN_OUT_OF_MEMORY naming the bytes
  virtual void release(void* ptr, size_t bytes) = 0;
  // Transfers and fills run on the worker thread, in order with the device's other work.
  virtual void copyFromHost(void* dst, const void* src, size_t bytes) = 0;
  virtual void copyToHost(void* dst, const void* src, size_t bytes) = 0;
  virtual void copyOnDevice(void* dst, const void* src, size_t bytes) = 0;
  virtual void fillZero(void* dst, size_t bytes) = 0;
  // Waits until every kernel launched from the worker has finished (no-op on CPU).
  virtual void synchronize() {}
  // True where host code may touch device memory directly (CPU).
  virtual bool hostAccessible() const { return false; }

  Worker& worker() { return *worker_; }

 protected:
  std::unique_ptr<Worker> worker_;  // created by each backend with its thread set-up

 private:
  std::string name_;
  std::string backend_;
};

// Backends register a factory; devices are created on first use and live for the process. `slot` > 0 asks for a
// further replica on the same hardware (its own worker thread, stream and handles): "cuda:0/1" is the second one on
// GPU 0. A backend without slots refuses them.
using DeviceFactory = std::function<std::unique_ptr<Device>(int index, int slot)>;
void registerBackend(const std::string& backend, DeviceFactory factory);
bool hasBackend(const std::string& backend);
// "cpu", "cuda:0", "cuda:0/1" (a bare "cuda" means index 0; "/0" is the device itself). Throws
// RN_DEVICE_UNAVAILABLE when no backend serves it.
Device& getDevice(const std::string& spec);

}  // namespace rn
