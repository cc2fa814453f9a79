// Optional backends: libraries loaded at run time (dlopen) that register devices and kernels, plus
// each backend's self-description for `resnet-node doctor`.
#pragma once
#include <functional>
#include <string>

namespace rn {

// Loads a backend library once; returns "" on success, else the loader's reason (dlerror text).
std::string loadBackendLibrary(const std::string& backend, const std::string& path);

// A backend describes itself (versions, devices, why it cannot run) as a JSON object.
void registerBackendInfo(const std::string& backend, std::function<std::string()> info);
// "" when no such backend is loaded.
std::string backendInfo(const std::string& backend);

}  // namespace rn
