// Whether this library holds code a given GPU can run: a GPU outside CMAKE_CUDA_ARCHITECTURES (and newer
// than its PTX) would otherwise fail at the first kernel launch with "no kernel image".
#include <cuda_runtime.h>

#include <cctype>
#include <string>

#include "backend.h"

namespace rn::cuda {
namespace {
__global__ void imageProbe() {}
}  // namespace

const char* builtArchitectures() { return RN_CUDA_ARCHITECTURES; }

std::string architectureProblem(int major, int minor) {
  const std::string list = RN_CUDA_ARCHITECTURES;
  if (list == "all" || list == "all-major" || list == "native") return "";
  const int capability = major * 10 + minor;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string entry = list.substr(start, end - start);
    start = end + 1;
    if (entry.empty() || !std::isdigit(static_cast<unsigned char>(entry[0]))) continue;
    const int arch = std::stoi(entry);
    const size_t digits = entry.find_first_not_of("0123456789");
    const std::string suffix = digits == std::string::npos ? "" : entry.substr(digits);  // "-real", "a", "f-virtual" …
    const bool exact = !suffix.empty() && suffix[0] == 'a';  // 90a: that GPU only, no PTX
    const bool real = suffix.find("-virtual") == std::string::npos;
    const bool ptx = suffix.find("-real") == std::string::npos && !exact;
    // Machine code runs on the same major architecture at an equal or newer minor; PTX compiles for any newer GPU.
    if (real && (exact ? arch == capability : arch / 10 == major && arch <= capability)) return "";
    if (ptx && arch <= capability) return "";
  }
  return "the CUDA library was built for architectures " + list + ", which hold no code for this GPU (compute capability " +
         std::to_string(major) + "." + std::to_string(minor) + "). Rebuild it with RN_CUDA_ARCHITECTURES=" +
         std::to_string(capability) + " (or unset, for every major architecture): npm run build:native";
}

std::string kernelImageProblem(int index) {
  int previous = 0;
  cudaGetDevice(&previous);
  cudaError_t status = cudaSetDevice(index);
  cudaFuncAttributes attributes;
  if (status == cudaSuccess) status = cudaFuncGetAttributes(&attributes, imageProbe);
  cudaSetDevice(previous);
  if (status == cudaSuccess) return "";
  cudaGetLastError();
  cudaDeviceProp properties;
  std::string capability = "?", architecture = "<its compute capability, e.g. 90>";
  if (cudaGetDeviceProperties(&properties, index) == cudaSuccess) {
    capability = std::to_string(properties.major) + "." + std::to_string(properties.minor);
    architecture = std::to_string(properties.major * 10 + properties.minor);
  }
  cudaGetLastError();
  return "the CUDA library was built for architectures " + std::string(RN_CUDA_ARCHITECTURES) +
         ", which hold no code for this GPU (compute capability " + capability + "; " + cudaGetErrorString(status) +
         "). Rebuild it with RN_CUDA_ARCHITECTURES=" + architecture +
         " (or unset, for every major architecture): npm run build:native";
}

}  // namespace rn::cuda
