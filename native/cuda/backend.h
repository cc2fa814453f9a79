// The CUDA backend's own pieces shared by device.cc and info.cc (kernels use common.h, not this).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <vector>

namespace rn::cuda {

// Why CUDA devices cannot be used here ("" when at least one can), and how many there are. Uses
// cudaGetDeviceCount: error 35 (no driver, or one too old), 100 (no GPU) and others, each with its fix.
std::string unavailableReason(int* deviceCount);

// "" when this library holds code the GPU `index` can run, else why not and how to rebuild (probe.cu). Creates
// the GPU's context: for the device being opened only.
std::string kernelImageProblem(int index);
// The same question answered from the compiled architecture list alone, without touching the GPU (for doctor).
std::string architectureProblem(int major, int minor);

// The architectures this library was compiled for (CMAKE_CUDA_ARCHITECTURES, comma-separated: "90", "80,90-real",
// "all-major").
const char* builtArchitectures();

// Byte counts of a device's caching allocator.
struct MemoryStats {
  size_t allocatedBytes = 0;      // handed out to tensors, arenas and workspaces (rounded sizes)
  size_t peakAllocatedBytes = 0;
  size_t reservedBytes = 0;       // obtained with cudaMalloc: allocated + cached
  size_t peakReservedBytes = 0;
};

// The memory of every CUDA device this process has opened, by GPU index (a GPU's replica slots appear each).
struct OpenedDevice {
  int index;
  MemoryStats memory;
};
std::vector<OpenedDevice> openedDevices();

// "13.0" from 13000 (cudaDriverGetVersion / cudaRuntimeGetVersion).
std::string cudaVersionString(int version);

}  // namespace rn::cuda
