// A locked map: settings change rarely (CLI options) and are read when kernels are built.
#include "settings.h"

#include <map>
#include <mutex>

namespace rn {
namespace {
std::mutex gMutex;
std::map<std::string, std::string>& table() {
  static auto* t = new std::map<std::string, std::string>();
  return *t;
}
}  // namespace

void setSetting(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(gMutex);
  table()[key] = value;
}

std::string getSetting(const std::string& key, const std::string& fallback) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = table().find(key);
  return it == table().end() ? fallback : it->second;
}

}  // namespace rn
