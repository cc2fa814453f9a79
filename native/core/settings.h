// Process-wide string settings read by backends (e.g. "cudnn" = fastest|default|deterministic).
#pragma once
#include <string>

namespace rn {
void setSetting(const std::string& key, const std::string& value);
std::string getSetting(const std::string& key, const std::string& fallback);
}  // namespace rn
