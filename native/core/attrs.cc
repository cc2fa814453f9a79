// Typed attribute access with clear errors for a missing, mistyped or unknown key.
#include "attrs.h"

namespace rn {

const AttrValue* Attrs::find(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return nullptr;
  used_.insert(key);
  return &it->second;
}

int64_t Attrs::getInt(const std::string& op, const std::string& key) const {
  const AttrValue* v = find(key);
  RN_CHECK(v, code::kInvalidArgument, op, "missing attribute '" + key + "'");
  if (auto p = std::get_if<int64_t>(v)) return *p;
  if (auto p = std::get_if<double>(v)) return static_cast<int64_t>(*p);
  if (auto p = std::get_if<bool>(v)) return *p ? 1 : 0;
  RN_THROW(code::kInvalidArgument, op, "attribute '" + key + "' must be an integer");
}

int64_t Attrs::getInt(const std::string& op, const std::string& key, int64_t fallback) const {
  return has(key) ? getInt(op, key) : fallback;
}

double Attrs::getFloat(const std::string& op, const std::string& key) const {
  const AttrValue* v = find(key);
  RN_CHECK(v, code::kInvalidArgument, op, "missing attribute '" + key + "'");
  if (auto p = std::get_if<double>(v)) return *p;
  if (auto p = std::get_if<int64_t>(v)) return static_cast<double>(*p);
  RN_THROW(code::kInvalidArgument, op, "attribute '" + key + "' must be a number");
}

double Attrs::getFloat(const std::string& op, const std::string& key, double fallback) const {
  return has(key) ? getFloat(op, key) : fallback;
}

bool Attrs::getBool(const std::string& op, const std::string& key, bool fallback) const {
  const AttrValue* v = find(key);
  if (!v) return fallback;
  if (auto p = std::get_if<bool>(v)) return *p;
  if (auto p = std::get_if<int64_t>(v)) return *p != 0;
  RN_THROW(code::kInvalidArgument, op, "attribute '" + key + "' must be a boolean");
}

std::string Attrs::getString(const std::string& op, const std::string& key, const std::string& fallback) const {
  const AttrValue* v = find(key);
  if (!v) return fallback;
  if (auto p = std::get_if<std::string>(v)) return *p;
  RN_THROW(code::kInvalidArgument, op, "attribute '" + key + "' must be a string");
}

std::vector<int64_t> Attrs::getInts(const std::string& op, const std::string& key) const {
  const AttrValue* v = find(key);
  RN_CHECK(v, code::kInvalidArgument, op, "missing attribute '" + key + "'");
  if (auto p = std::get_if<std::vector<int64_t>>(v)) return *p;
  if (auto p = std::get_if<std::vector<double>>(v)) return std::vector<int64_t>(p->begin(), p->end());
  if (auto p = std::get_if<int64_t>(v)) return {*p};
  RN_THROW(code::kInvalidArgument, op, "attribute '" + key + "' must be a list of integers");
}

std::vector<int64_t> Attrs::getInts(const std::string& op, const std::string& key, std::vector<int64_t> fallback) const {
  return has(key) ? getInts(op, key) : fallback;
}

std::vector<double> Attrs::getFloats(const std::string& op, const std::string& key) const {
  const AttrValue* v = find(key);
  RN_CHECK(v, code::kInvalidArgument, op, "missing attribute '" + key + "'");
  if (auto p = std::get_if<std::vector<double>>(v)) return *p;
  if (auto p = std::get_if<std::vector<int64_t>>(v)) return std::vector<double>(p->begin(), p->end());
  if (auto p = std::get_if<double>(v)) return {*p};
  if (auto p = std::get_if<int64_t>(v)) return {static_cast<double>(*p)};
  RN_THROW(code::kInvalidArgument, op, "attribute '" + key + "' must be a list of numbers");
}

void Attrs::checkAllUsed(const std::string& op) const {
  for (const auto& kv : values_) {
    if (!used_.count(kv.first)) RN_THROW(code::kUnknownAttribute, op, "unknown attribute '" + kv.first + "'");
  }
}

}  // namespace rn
