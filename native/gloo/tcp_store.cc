// The TCP rendezvous store. Wire format, both ways: [op u8][field count u32][field length u32, bytes]…;
// requests 'H' hello (magic, rank, world size), 'S' set (key, value), 'G' get (key), 'C' check (keys…);
// replies 'O' ok (fields), 'N' no such key, 'E' error (message).
#include "tcp_store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../core/errors.h"

namespace rn::gloo {
namespace {

constexpr const char* kMagic = "resnet-node-store-1";
constexpr uint32_t kMaxField = 64u << 20;  // a Gloo address list is a few hundred bytes per rank
using Clock = std::chrono::steady_clock;

std::string errnoText(int error) { return std::strerror(error); }

// Reads or writes exactly n bytes before the deadline (none: no deadline). false: the peer closed, or time ran out
// (`timedOut` says which).
bool transfer(int fd, char* data, size_t n, bool writing, Clock::time_point deadline, bool hasDeadline, bool* timedOut) {
  *timedOut = false;
  while (n > 0) {
    if (hasDeadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        *timedOut = true;
        return false;
      }
      pollfd p{fd, static_cast<short>(writing ? POLLOUT : POLLIN), 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
      if (ready < 0 && errno != EINTR) return false;
      if (ready <= 0) continue;
    }
    const ssize_t done = writing ? ::send(fd, data, n, MSG_NOSIGNAL) : ::recv(fd, data, n, 0);
    if (done < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (done <= 0) return false;
    data += done;
    n -= static_cast<size_t>(done);
  }
  return true;
}

std::vector<char> encode(char op, const std::vector<std::string>& fields) {
  std::vector<char> out(1 + 4);
  out[0] = op;
  const uint32_t count = htonl(static_cast<uint32_t>(fields.size()));
  std::memcpy(out.data() + 1, &count, 4);
  for (const auto& f : fields) {
    const uint32_t len = htonl(static_cast<uint32_t>(f.size()));
    const char* l = reinterpret_cast<const char*>(&len);
    out.insert(out.end(), l, l + 4);
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

// false: closed, timed out or malformed.
bool readFrame(int fd, char* op, std::vector<std::string>* fields, Clock::time_point deadline, bool hasDeadline, bool* timedOut) {
  char head[5];
  if (!transfer(fd, head, 5, false, deadline, hasDeadline, timedOut)) return false;
  *op = head[0];
  uint32_t count;
  std::memcpy(&count, head + 1, 4);
  count = ntohl(count);
  if (count > 1u << 20) return false;
  fields->clear();
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t len;
    if (!transfer(fd, reinterpret_cast<char*>(&len), 4, false, deadline, hasDeadline, timedOut)) return false;
    len = ntohl(len);
    if (len > kMaxField) return false;
    std::string field(len, '\0');
    if (len && !transfer(fd, field.data(), len, false, deadline, hasDeadline, timedOut)) return false;
    fields->push_back(std::move(field));
  }
  return true;
}

bool writeFrame(int fd, char op, const std::vector<std::string>& fields, Clock::time_point deadline, bool hasDeadline, bool* timedOut) {
  std::vector<char> frame = encode(op, fields);
  return transfer(fd, frame.data(), frame.size(), true, deadline, hasDeadline, timedOut);
}

std::string millis(std::chrono::milliseconds t) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", static_cast<double>(t.count()) / 1000.0);
  return text;
}

}  // namespace

TcpStoreServer::TcpStoreServer(int port, int worldSize) : port_(port), worldSize_(worldSize), joined_(worldSize, false) {
  listenFd_ = ::socket(AF_INET6, SOCK_STREAM, 0);
  bool v6 = listenFd_ >= 0;
  if (!v6) listenFd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  RN_CHECK(listenFd_ >= 0, code::kRendezvousFailed, "", "rank 0 cannot open a socket for the rendezvous store: " + errnoText(errno));
  const int one = 1, zero = 0;
  ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int bound;
  if (v6) {
    ::setsockopt(listenFd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // IPv4 clients too
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_any;
    address.sin6_port = htons(static_cast<uint16_t>(port));
    bound = ::bind(listenFd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
  } else {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    address.sin_port = htons(static_cast<uint16_t>(port));
    bound = ::bind(listenFd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
  }
  if (bound != 0 || ::listen(listenFd_, 128) != 0) {
    const int error = errno;
    ::close(listenFd_);
    RN_THROW(code::kRendezvousFailed, "",
             "rank 0 cannot listen on port " + std::to_string(port) + " for the rendezvous store (" + errnoText(error) +
                 (error == EADDRINUSE ? "): another program uses it; choose a free port with --master-port or MASTER_PORT" : ")"));
  }
  acceptThread_ = std::thread([this] { acceptLoop(); });
}

TcpStoreServer::~TcpStoreServer() {
  stopping_ = true;
  ::shutdown(listenFd_, SHUT_RDWR);
  ::close(listenFd_);
  acceptThread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : clientFds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(clientThreads_);
  }
  for (auto& t : threads) t.join();
  for (int fd : clientFds_) ::close(fd);
}

void TcpStoreServer::acceptLoop() {
  while (!stopping_) {
    const int fd = ::accept(listenFd_, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // closed by the destructor
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    clientFds_.push_back(fd);
    clientThreads_.emplace_back([this, fd] { serve(fd); });
  }
}

void TcpStoreServer::serve(int fd) {
  char op;
  std::vector<std::string> fields;
  bool timedOut;
  const auto never = Clock::time_point();
  int rank = -1;
  while (!stopping_ && readFrame(fd, &op, &fields, never, false, &timedOut)) {
    char status = 'O';
    std::vector<std::string> reply;
    std::unique_lock<std::mutex> lock(mutex_);
    if (op == 'H') {
      const int theirRank = fields.size() == 3 ? std::atoi(fields[1].c_str()) : -1;
      const int theirSize = fields.size() == 3 ? std::atoi(fields[2].c_str()) : -1;
      status = 'E';
      if (fields.size() != 3 || fields[0] != kMagic) {
        reply = {"port " + std::to_string(port_) + " is rank 0's rendezvous store of a different program or version"};
      } else if (theirSize != worldSize_) {
        reply = {"rank " + fields[1] + " has WORLD_SIZE " + fields[2] + " but rank 0 has " + std::to_string(worldSize_) +
                 ": every process of the group must be started with the same world size"};
      } else if (theirRank < 0 || theirRank >= worldSize_) {
        reply = {"rank " + fields[1] + " is outside 0…" + std::to_string(worldSize_ - 1)};
      } else if (joined_[theirRank]) {
        reply = {"two processes say they are rank " + fields[1] + ": every process needs its own RANK"};
      } else {
        joined_[theirRank] = true;
        rank = theirRank;
        status = 'O';
      }
    } else if (rank < 0) {
      status = 'E';
      reply = {"the client did not introduce itself"};
    } else if (op == 'S' && fields.size() == 2) {
      table_[fields[0]].assign(fields[1].begin(), fields[1].end());
    } else if (op == 'G' && fields.size() == 1) {
      auto found = table_.find(fields[0]);
      if (found == table_.end()) {
        status = 'N';
      } else {
        reply = {std::string(found->second.begin(), found->second.end())};
      }
    } else if (op == 'C') {
      for (const auto& key : fields) reply.push_back(table_.count(key) ? "1" : "0");
    } else {
      status = 'E';
      reply = {"unknown request"};
    }
    lock.unlock();
    if (!writeFrame(fd, status, reply, never, false, &timedOut)) break;
  }
  // The fd stays open (and listed) until the destructor, so its number is never reused under its shutdown().
}

TcpStoreClient::TcpStoreClient(const std::string& host, int port, int rank, int worldSize, std::chrono::milliseconds timeout)
    : host_(host), port_(port), timeout_(timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string lastError = "no address";
  while (fd_ < 0) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int resolved = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    RN_CHECK(resolved == 0, code::kRendezvousFailed, "",
             "cannot resolve MASTER_ADDR '" + host + "': " + ::gai_strerror(resolved));
    for (addrinfo* a = found; a && fd_ < 0; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        fd_ = fd;
      } else {
        lastError = errnoText(errno);
        ::close(fd);
      }
    }
    ::freeaddrinfo(found);
    if (fd_ >= 0) break;
    if (Clock::now() >= deadline) {
      RN_THROW(code::kRendezvousFailed, "",
               "rank " + std::to_string(rank) + " could not reach rank 0's rendezvous store at " + endpoint() + " within " +
                   millis(timeout) + " (" + lastError + "): is rank 0 running, and are MASTER_ADDR and MASTER_PORT the same everywhere?");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char status;
  std::vector<std::string> reply;
  try {
    reply = request('H', {kMagic, std::to_string(rank), std::to_string(worldSize)}, &status);
  } catch (...) {
    ::close(fd_);
    throw;
  }
  if (status != 'O') {
    ::close(fd_);
    RN_THROW(code::kRendezvousFailed, "", "rendezvous at " + endpoint() + ": " + (reply.empty() ? "refused" : reply[0]));
  }
}

TcpStoreClient::~TcpStoreClient() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<std::string> TcpStoreClient::request(char op, const std::vector<std::string>& fields, char* status) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto deadline = Clock::now() + timeout_;
  bool timedOut = false;
  std::vector<std::string> reply;
  if (!writeFrame(fd_, op, fields, deadline, true, &timedOut) || !readFrame(fd_, status, &reply, deadline, true, &timedOut)) {
    RN_THROW(code::kRankFailed, "",
             std::string("rank 0 (the rendezvous store at ") + endpoint() + ") " +
                 (timedOut ? "did not answer within " + millis(timeout_) + ": it hangs or its host is unreachable"
                           : "closed the connection: it stopped or its host is unreachable"));
  }
  return reply;
}

void TcpStoreClient::set(const std::string& key, const std::vector<char>& value) {
  char status;
  request('S', {key, std::string(value.begin(), value.end())}, &status);
}

std::vector<char> TcpStoreClient::get(const std::string& key) {
  wait({key}, timeout_);
  char status;
  auto reply = request('G', {key}, &status);
  RN_CHECK(status == 'O' && reply.size() == 1, code::kRendezvousFailed, "", "rendezvous store lost the key '" + key + "'");
  return std::vector<char>(reply[0].begin(), reply[0].end());
}

std::vector<bool> TcpStoreClient::check(const std::vector<std::string>& keys) {
  char status;
  auto reply = request('C', keys, &status);
  std::vector<bool> present;
  for (const auto& r : reply) present.push_back(r == "1");
  present.resize(keys.size(), false);
  return present;
}

void TcpStoreClient::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto pause = std::chrono::milliseconds(2);
  for (;;) {
    auto present = check(keys);
    std::string missing;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!present[i]) missing += (missing.empty() ? "'" : ", '") + keys[i] + "'";
    }
    if (missing.empty()) return;
    if (Clock::now() >= deadline) {
      RN_THROW(code::kRendezvousFailed, "", "rendezvous at " + endpoint() + ": waited " + millis(timeout) + " for " + missing);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace rn::gloo
