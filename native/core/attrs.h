// Op attributes: a typed map that remembers which keys a kernel read, so unknown ones are an error.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "errors.h"

namespace rn {

using AttrValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>, std::vector<double>>;

class Attrs {
 public:
  void set(const std::string& key, AttrValue value) { values_[key] = std::move(value); }
  bool has(const std::string& key) const { return values_.count(key) != 0; }

  int64_t getInt(const std::string& op, const std::string& key) const;
  int64_t getInt(const std::string& op, const std::string& key, int64_t fallback) const;
  double getFloat(const std::string& op, const std::string& key) const;
  double getFloat(const std::string& op, const std::string& key, double fallback) const;
  bool getBool(const std::string& op, const std::string& key, bool fallback) const;
  std::string getString(const std::string& op, const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> getInts(const std::string& op, const std::string& key) const;
  std::vector<int64_t> getInts(const std::string& op, const std::string& key, std::vector<int64_t> fallback) const;
  // A list of numbers (integers are accepted: the binding sends integral lists as integers).
  std::vector<double> getFloats(const std::string& op, const std::string& key) const;

  // Throws RN_UNKNOWN_ATTRIBUTE naming the first key no getter asked for.
  void checkAllUsed(const std::string& op) const;

 private:
  const AttrValue* find(const std::string& key) const;
  std::map<std::string, AttrValue> values_;
  mutable std::set<std::string> used_;
};

}  // namespace rn
