// Errors thrown by native code: a stable code, the op, a message with shapes, and where it was raised.
#pragma once
#include <stdexcept>
#include <string>

namespace rn {

// Stable codes; the binding copies them onto the JS Error as `code`.
namespace code {
inline constexpr const char* kInvalidArgument = "RN_INVALID_ARGUMENT";
inline constexpr const char* kShapeMismatch = "RN_SHAPE_MISMATCH";
inline constexpr const char* kDtypeMismatch = "RN_DTYPE_MISMATCH";
inline constexpr const char* kDisposed = "RN_DISPOSED";
inline constexpr const char* kUnknownOp = "RN_UNKNOWN_OP";
inline constexpr const char* kUnknownAttribute = "RN_UNKNOWN_ATTRIBUTE";
inline constexpr const char* kOutOfMemory = "RN_OUT_OF_MEMORY";
inline constexpr const char* kBackend = "RN_BACKEND_ERROR";
inline constexpr const char* kDeviceUnavailable = "RN_DEVICE_UNAVAILABLE";
inline constexpr const char* kInternal = "RN_INTERNAL";
inline constexpr const char* kCollectiveTimeout = "RN_COLLECTIVE_TIMEOUT";
// A rank of a process group died or became unreachable (the message names it).
inline constexpr const char* kRankFailed = "RN_RANK_FAILED";
// A process group could not form: store unreachable, port taken, world sizes differ, a rank missing.
inline constexpr const char* kRendezvousFailed = "RN_RENDEZVOUS_FAILED";
}  // namespace code

class Error : public std::runtime_error {
 public:
  Error(std::string code, std::string op, const std::string& message, const char* file, int line)
      : std::runtime_error(format(op, message, file, line)),
        code_(std::move(code)),
        op_(std::move(op)) {}

  const std::string& code() const { return code_; }
  const std::string& op() const { return op_; }

 private:
  static std::string format(const std::string& op, const std::string& message, const char* file, int line) {
    std::string where = file;
    auto slash = where.find("native/");
    if (slash != std::string::npos) where = where.substr(slash);
    return (op.empty() ? std::string() : op + ": ") + message + " (" + where + ":" + std::to_string(line) + ")";
  }
  std::string code_;
  std::string op_;
};

}  // namespace rn

#define RN_THROW(code_, op_, msg_) throw ::rn::Error((code_), (op_), (msg_), __FILE__, __LINE__)
#define RN_CHECK(cond_, code_, op_, msg_) \
  do {                                    \
    if (!(cond_)) RN_THROW(code_, op_, msg_); \
  } while (0)
