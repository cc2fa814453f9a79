// Process-wide device table, keyed by "backend:index".
#include "device.h"

#include <map>
#include <mutex>

#include "errors.h"

namespace rn {
namespace {

struct DeviceTable {
  std::mutex mutex;
  std::map<std::string, DeviceFactory> factories;
  std::map<std::string, Device*> devices;  // never destroyed: kernels may still run at exit
};

DeviceTable& table() {
  static DeviceTable* t = new DeviceTable();
  return *t;
}

}  // namespace

void registerBackend(const std::string& backend, DeviceFactory factory) {
  std::lock_guard<std::mutex> lock(table().mutex);
  table().factories[backend] = std::move(factory);
}

bool hasBackend(const std::string& backend) {
  std::lock_guard<std::mutex> lock(table().mutex);
  return table().factories.count(backend) != 0;
}

namespace {

// A non-negative decimal integer filling `text` entirely.
int wholeNumber(const std::string& text, const std::string& spec) {
  try {
    size_t used = 0;
    const int value = std::stoi(text, &used);
    if (used != text.size() || value < 0 || text.empty() || text[0] == '-' || text[0] == '+') throw std::invalid_argument(spec);
    return value;
  } catch (const std::exception&) {
    RN_THROW(code::kInvalidArgument, "", "Expected a device like 'cpu', 'cuda:0' or 'cuda:0/1' but received '" + spec + "'");
  }
}

}  // namespace

Device& getDevice(const std::string& spec) {
  std::string backend = spec;
  int index = 0, slot = 0;
  auto colon = spec.find(':');
  if (colon != std::string::npos) {
    backend = spec.substr(0, colon);
    const std::string rest = spec.substr(colon + 1);
    const auto slash = rest.find('/');
    index = wholeNumber(rest.substr(0, slash), spec);
    if (slash != std::string::npos) slot = wholeNumber(rest.substr(slash + 1), spec);
  }
  std::string key = backend + ":" + std::to_string(index) + (slot > 0 ? "/" + std::to_string(slot) : "");
  std::lock_guard<std::mutex> lock(table().mutex);
  auto found = table().devices.find(key);
  if (found != table().devices.end()) return *found->second;
  auto factory = table().factories.find(backend);
  RN_CHECK(factory != table().factories.end(), code::kDeviceUnavailable, "",
           "no backend '" + backend + "' is loaded for device '" + spec + "'");
  Device* device = factory->second(index, slot).release();
  table().devices[key] = device;
  return *device;
}

}  // namespace rn
