// backendInfo("cuda"): the JSON `resnet-node doctor` shows — versions of the driver, runtime, cuDNN, cuBLAS and
// NCCL found at run time (and those built against), each GPU, or why CUDA cannot run here.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include <cstdio>
#include <string>

#include "../core/backend_registry.h"
#include "backend.h"

namespace rn::cuda {
namespace {

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// cuDNN 9 and NCCL ≥ 2.9 both encode versions as major·10000 + minor·100 + patch.
std::string tripleVersion(long version) {
  return std::to_string(version / 10000) + "." + std::to_string(version % 10000 / 100) + "." + std::to_string(version % 100);
}

std::string cublasVersion() {
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(MINOR_VERSION, &minor) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(PATCH_LEVEL, &patch) != CUBLAS_STATUS_SUCCESS) {
    return "null";
  }
  return quote(std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch));
}

std::string memoryJson(const MemoryStats& m) {
  return "{\"allocatedBytes\": " + std::to_string(m.allocatedBytes) +
         ", \"peakAllocatedBytes\": " + std::to_string(m.peakAllocatedBytes) +
         ", \"reservedBytes\": " + std::to_string(m.reservedBytes) +
         ", \"peakReservedBytes\": " + std::to_string(m.peakReservedBytes) + "}";
}

std::string devicesJson(int count) {
  const auto opened = openedDevices();
  std::string out = "[";
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    if (out.size() > 1) out += ", ";
    out += "{\"index\": " + std::to_string(i) + ", \"name\": " + quote(p.name) +
           ", \"computeCapability\": " + quote(std::to_string(p.major) + "." + std::to_string(p.minor)) +
           ", \"memoryBytes\": " + std::to_string(p.totalGlobalMem) +
           ", \"multiprocessors\": " + std::to_string(p.multiProcessorCount);
    const std::string imageProblem = architectureProblem(p.major, p.minor);
    if (!imageProblem.empty()) out += ", \"problem\": " + quote(imageProblem);
    // Replica slots of one GPU ("cuda:0", "cuda:0/1") each have their own allocator: their sum (peaks summed
    // too, an upper bound of the GPU's peak).
    MemoryStats memory;
    bool open = false;
    for (const auto& d : opened) {
      if (d.index != i) continue;
      open = true;
      memory.allocatedBytes += d.memory.allocatedBytes;
      memory.peakAllocatedBytes += d.memory.peakAllocatedBytes;
      memory.reservedBytes += d.memory.reservedBytes;
      memory.peakReservedBytes += d.memory.peakReservedBytes;
    }
    if (open) out += ", \"memory\": " + memoryJson(memory);
    out += "}";
  }
  return out + "]";
}

std::string info() {
  int count = 0;
  const std::string reason = unavailableReason(&count);
  int driver = 0, runtime = 0, nccl = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  const bool haveNccl = ncclGetVersion(&nccl) == ncclSuccess;
  const size_t cudnn = cudnnGetVersion();

  std::string warnings = "[";
  // An application built against cuDNN 9.z may fail on 9.y < z (NVIDIA's forward-compatibility rule).
  if (cudnn < CUDNN_VERSION) {
    warnings += quote("cuDNN " + tripleVersion(static_cast<long>(cudnn)) + " is older than the " +
                      tripleVersion(CUDNN_VERSION) + " this library was built against: rebuild with npm run build:native");
  }
  warnings += "]";

  std::string out = "{";
  out += "\"available\": " + std::string(reason.empty() ? "true" : "false");
  out += ", \"reason\": " + quote(reason);
  out += ", \"driver\": " + (driver > 0 ? quote(cudaVersionString(driver)) : std::string("null"));
  out += ", \"runtime\": " + quote(cudaVersionString(runtime));
  out += ", \"cudnn\": " + quote(tripleVersion(static_cast<long>(cudnn)));
  out += ", \"cublas\": " + cublasVersion();
  out += ", \"nccl\": " + (haveNccl ? quote(tripleVersion(nccl)) : std::string("null"));
  out += ", \"devices\": " + devicesJson(count);
  out += ", \"built\": {\"runtime\": " + quote(cudaVersionString(CUDART_VERSION)) +
         ", \"cudnn\": " + quote(tripleVersion(CUDNN_VERSION)) + ", \"nccl\": " + quote(tripleVersion(NCCL_VERSION_CODE)) +
         ", \"architectures\": " + quote(builtArchitectures()) + "}";
  out += ", \"warnings\": " + warnings;
  return out + "}";
}

const bool registered = (registerBackendInfo("cuda", info), true);

}  // namespace
}  // namespace rn::cuda
