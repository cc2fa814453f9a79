// The rendezvous store of a process group: rank 0 serves a key-value table over TCP at MASTER_ADDR:MASTER_PORT;
// every rank (rank 0 too) is a client. Gloo exchanges its pair addresses through it, and after a failure the
// surviving ranks leave notes in it to find out which rank stopped.
#pragma once
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rn::gloo {

// Rank 0's side: accepts clients, checks that each says the same world size and a rank of its own, and answers
// set / get / check requests at once (waiting is the client's loop, so no server thread ever blocks on a key).
class TcpStoreServer {
 public:
  // Listens on every interface at `port`; throws RN_RENDEZVOUS_FAILED when the port is taken.
  TcpStoreServer(int port, int worldSize);
  ~TcpStoreServer();
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

 private:
  void acceptLoop();
  void serve(int fd);

  const int port_, worldSize_;
  int listenFd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptThread_;
  std::mutex mutex_;  // guards everything below
  std::map<std::string, std::vector<char>> table_;
  std::vector<bool> joined_;
  std::vector<int> clientFds_;
  std::vector<std::thread> clientThreads_;
};

// One rank's connection. Calls are serialised; every wait is bounded by the store's timeout.
class TcpStoreClient {
 public:
  // Connects (retrying while rank 0 is not up yet) and introduces itself; throws RN_RENDEZVOUS_FAILED naming
  // what is wrong (unreachable within the timeout, world size differs from rank 0's, rank taken).
  TcpStoreClient(const std::string& host, int port, int rank, int worldSize, std::chrono::milliseconds timeout);
  ~TcpStoreClient();
  TcpStoreClient(const TcpStoreClient&) = delete;
  TcpStoreClient& operator=(const TcpStoreClient&) = delete;

  void set(const std::string& key, const std::vector<char>& value);
  // Waits up to the timeout for the key; throws RN_RENDEZVOUS_FAILED naming it.
  std::vector<char> get(const std::string& key);
  // Waits until every key exists, polling; past the timeout throws RN_RENDEZVOUS_FAILED naming the missing keys.
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout);
  // Which of `keys` exist now (no waiting).
  std::vector<bool> check(const std::vector<std::string>& keys);

  std::string endpoint() const { return host_ + ":" + std::to_string(port_); }
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  std::vector<std::string> request(char op, const std::vector<std::string>& fields, char* status);

  const std::string host_;
  const int port_;
  const std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::mutex mutex_;
};

}  // namespace rn::gloo
