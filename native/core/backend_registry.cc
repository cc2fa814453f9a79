// dlopen of backend libraries and their info callbacks.
#include "backend_registry.h"

#include <dlfcn.h>

#include <map>
#include <mutex>

namespace rn {
namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, void*> handles;  // kept open for the life of the process
  std::map<std::string, std::function<std::string()>> infos;
};

Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

}  // namespace

std::string loadBackendLibrary(const std::string& backend, const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    if (registry().handles.count(backend)) return "";
  }
  // RTLD_NOW: a missing symbol or library is reported here, not at some later call.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    return why ? why : "dlopen failed";
  }
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().handles[backend] = handle;
  return "";
}

void registerBackendInfo(const std::string& backend, std::function<std::string()> info) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().infos[backend] = std::move(info);
}

std::string backendInfo(const std::string& backend) {
  std::function<std::string()> info;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    auto it = registry().infos.find(backend);
    if (it == registry().infos.end()) return "";
    info = it->second;
  }
  return info();
}

}  // namespace rn
