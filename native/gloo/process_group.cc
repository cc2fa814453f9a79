// The Gloo communicator: one rank per process, Gloo's ring all-reduce over TCP pairs, and the fault diagnosis
// that turns "a collective failed" into "rank k stopped".
//
// Fault diagnosis: when a collective throws (a peer closed its connection, or nothing arrived within the
// timeout), this rank leaves a note in the store, closes its own connections so that ranks waiting on it fail
// too, and waits a short window for the other ranks' notes. Ranks without a note died, hung or were stopped;
// the error names them. A store that cannot be reached means rank 0, which serves it, is the one gone.
#include "process_group.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <gloo/allreduce.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>
#include <thread>

#include "../core/collective.h"
#include "../core/device.h"
#include "../core/errors.h"
#include "tcp_store.h"

namespace rn::gloo {
namespace {

using std::chrono::milliseconds;

std::string seconds(milliseconds t) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", static_cast<double>(t.count()) / 1000.0);
  return text;
}

std::string joinRanks(const std::vector<int>& ranks) {
  std::string out = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) out += (i ? ", " : "") + std::to_string(ranks[i]);
  return out;
}

// Gloo's view of our store, its keys under "gloo/". Gloo's keys are rank numbers, each rank's pair addresses, so
// a key that never appears is a rank that never joined.
class GlooStore : public ::gloo::rendezvous::Store {
 public:
  explicit GlooStore(std::shared_ptr<TcpStoreClient> client) : client_(std::move(client)) {}
  void set(const std::string& key, const std::vector<char>& data) override { client_->set("gloo/" + key, data); }
  std::vector<char> get(const std::string& key) override {
    wait({key});
    return client_->get("gloo/" + key);
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, client_->timeout()); }
  void wait(const std::vector<std::string>& keys, const milliseconds& timeout) override {
    std::vector<std::string> prefixed;
    for (const auto& k : keys) prefixed.push_back("gloo/" + k);
    try {
      client_->wait(prefixed, timeout);
    } catch (const Error& e) {
      if (e.code() != code::kRendezvousFailed) throw;
      std::vector<int> missing;
      auto present = client_->check(prefixed);
      for (size_t i = 0; i < keys.size(); ++i) {
        if (!present[i]) missing.push_back(std::atoi(keys[i].c_str()));
      }
      RN_THROW(code::kRendezvousFailed, "",
               joinRanks(missing) + " did not join the process group at " + client_->endpoint() + " within " + seconds(timeout) +
                   ": are all WORLD_SIZE processes started, with the same MASTER_ADDR and MASTER_PORT?");
    }
  }

 private:
  std::shared_ptr<TcpStoreClient> client_;
};

// The address of this host's interface that reaches `host` (no packet is sent: a UDP connect only picks a route).
std::string localAddressTowards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return "";
  std::string out;
  for (addrinfo* a = found; a && out.empty(); a = a->ai_next) {
    const int fd = ::socket(a->ai_family, SOCK_DGRAM, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
      char text[INET6_ADDRSTRLEN] = {0};
      const void* where = local.ss_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr)
                                                     : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
      if (::inet_ntop(local.ss_family, where, text, sizeof text)) out = text;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return out;
}

class GlooRank : public Communicator {
 public:
  GlooRank(std::unique_ptr<TcpStoreServer> server, std::shared_ptr<TcpStoreClient> store, std::shared_ptr<::gloo::rendezvous::Context> context,
           std::shared_ptr<::gloo::transport::Device> device, milliseconds timeout)
      : server_(std::move(server)), store_(std::move(store)), device_(std::move(device)), context_(std::move(context)), timeout_(timeout) {}

  ~GlooRank() override {
    context_.reset();  // pairs before the device they use
    device_.reset();
  }

  int rank() const override { return context_->rank; }
  int size() const override { return context_->size; }

  void allreduceSum(float* data, int64_t n) override {
    RN_CHECK(failure_.empty(), failureCode_, "allreduce_mean", failure_);
    if (size() == 1 || n == 0) return;
    try {
      ::gloo::AllreduceOptions options(context_);
      options.setOutput(data, static_cast<size_t>(n));
      options.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&::gloo::sum<float>));
      options.setTag(0);  // one collective at a time per group: the worker thread runs them in order
      ::gloo::allreduce(options);
      ++completed_;
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      diagnose(e.what());
    }
  }

 private:
  [[noreturn]] void diagnose(const std::string& glooMessage) {
    const bool timedOut = glooMessage.find("imed out") != std::string::npos;
    const std::string me = "rank " + std::to_string(rank()) + " of " + std::to_string(size());
    const std::string noteKey = "rn/fault/";
    std::vector<int> silent;
    bool storeGone = false;
    std::string storeError;
    try {
      store_->set(noteKey + std::to_string(rank()), std::vector<char>{'1'});
    } catch (const Error& e) {
      storeGone = true;
      storeError = e.what();
    }
    context_->closeConnections();  // ranks blocked on this one fail now instead of at their timeout
    // Long enough for live ranks to see their own failure and report; short beside the timeout.
    const milliseconds window = std::clamp(timeout_ / 4, milliseconds(1000), milliseconds(15000));
    if (!storeGone) {
      std::vector<std::string> keys;
      for (int k = 0; k < size(); ++k) keys.push_back(noteKey + std::to_string(k));
      const auto deadline = std::chrono::steady_clock::now() + window;
      for (;;) {
        try {
          auto present = store_->check(keys);
          silent.clear();
          for (int k = 0; k < size(); ++k) {
            if (!present[k]) silent.push_back(k);
          }
        } catch (const Error&) {
          // Rank 0 has gone while we waited: the last answer stands (or, with none, rank 0 is the one missing).
          if (silent.empty()) storeGone = true;
          break;
        }
        if (silent.empty() || std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
    std::string message;
    if (storeGone) {
      failureCode_ = code::kRankFailed;
      message = me + ": rank 0 stopped responding: the collective failed and rank 0's rendezvous store at " + store_->endpoint() +
                " cannot be reached, so rank 0 died, hung or its host is unreachable";
    } else if (!silent.empty()) {
      failureCode_ = timedOut ? code::kCollectiveTimeout : code::kRankFailed;
      const bool one = silent.size() == 1;
      message = me + ": " + joinRanks(silent) + " stopped responding: " +
                (timedOut ? "nothing arrived within the " + seconds(timeout_) + " timeout" : "a connection closed") + " and " +
                (one ? "it" : "they") + " did not report within " + seconds(window) + ", so " + (one ? "it" : "they") +
                " died, hung or " + (one ? "was" : "were") + " stopped";
    } else {
      failureCode_ = timedOut ? code::kCollectiveTimeout : code::kRankFailed;
      message = me + ": every rank saw the collective fail (a network failure?)";
    }
    failure_ = message + " [after " + std::to_string(completed_) + " all-reduces; Gloo: " + glooMessage + "]";
    RN_THROW(failureCode_, "allreduce_mean", failure_);
  }

  std::unique_ptr<TcpStoreServer> server_;  // rank 0 only: serves the store while the group lives
  std::shared_ptr<TcpStoreClient> store_;
  std::shared_ptr<::gloo::transport::Device> device_;
  std::shared_ptr<::gloo::rendezvous::Context> context_;
  const milliseconds timeout_;
  uint64_t completed_ = 0;
  std::string failureCode_, failure_;  // once failed, every later call throws this at once
};

}  // namespace

int createProcessGroup(const ProcessGroupOptions& o) {
  RN_CHECK(o.worldSize >= 1 && o.rank >= 0 && o.rank < o.worldSize, code::kInvalidArgument, "",
           "Expected 0 ≤ rank < world size but received rank " + std::to_string(o.rank) + " of " + std::to_string(o.worldSize));
  RN_CHECK(o.masterPort > 0 && o.masterPort < 65536, code::kInvalidArgument, "",
           "Expected a port in 1…65535 for MASTER_PORT but received " + std::to_string(o.masterPort));
  RN_CHECK(o.timeoutSeconds > 0, code::kInvalidArgument, "", "Expected a timeout > 0 seconds but received " + std::to_string(o.timeoutSeconds));
  const std::string device = getDevice(o.device).name();
  const auto timeout = milliseconds(static_cast<int64_t>(o.timeoutSeconds * 1000));

  std::unique_ptr<TcpStoreServer> server;
  if (o.rank == 0) server = std::make_unique<TcpStoreServer>(o.masterPort, o.worldSize);
  auto store = std::make_shared<TcpStoreClient>(o.masterAddr, o.masterPort, o.rank, o.worldSize, timeout);

  // A device of a backend with its own collectives (cuda: NCCL): the store only carries what that backend shares
  // from rank 0 (NCCL's unique id), and stays up, rank 0 serving it, for as long as the rank lives.
  const std::string backend = getDevice(o.device).backend();
  if (backend != "cpu") {
    ProcessRankFactory factory = processRankFactory(backend);
    RN_CHECK(static_cast<bool>(factory), code::kDeviceUnavailable, "",
             "'" + device + "' cannot join a group of processes: the " + backend + " backend has no collectives across processes");
    ProcessRankSpec spec;
    spec.group = reserveGroupId();
    spec.rank = o.rank;
    spec.worldSize = o.worldSize;
    spec.device = device;
    spec.timeoutSeconds = o.timeoutSeconds;
    const std::string key = backend + "/unique-id";
    spec.shareFromRank0 = [&](const std::function<std::vector<char>()>& make) {
      if (o.rank != 0) return store->get(key);
      std::vector<char> bytes = make();
      store->set(key, bytes);
      return bytes;
    };
    spec.keepAlive = std::make_shared<std::pair<std::shared_ptr<TcpStoreServer>, std::shared_ptr<TcpStoreClient>>>(
        std::shared_ptr<TcpStoreServer>(std::move(server)), store);
    CommunicatorsByDevice ranks;
    ranks[device] = factory(spec);
    addGroupWithId(spec.group, std::move(ranks));
    return spec.group;
  }

  ::gloo::transport::tcp::attr attr;
  if (!o.iface.empty()) {
    attr.iface = o.iface;
  } else {
    attr.hostname = localAddressTowards(o.masterAddr, o.masterPort);
    RN_CHECK(!attr.hostname.empty(), code::kRendezvousFailed, "",
             "no network interface of this host reaches MASTER_ADDR '" + o.masterAddr + "' (name one with RN_GLOO_IFACE)");
  }
  std::shared_ptr<::gloo::transport::Device> transport;
  try {
    transport = ::gloo::transport::tcp::CreateDevice(attr);
  } catch (const std::exception& e) {
    RN_THROW(code::kRendezvousFailed, "", std::string("Gloo cannot use the network interface for ") +
                                              (o.iface.empty() ? "address " + attr.hostname : "'" + o.iface + "'") + ": " + e.what());
  }
  auto context = std::make_shared<::gloo::rendezvous::Context>(o.rank, o.worldSize);
  context->setTimeout(timeout);
  GlooStore glooStore(store);
  try {
    context->connectFullMesh(glooStore, transport);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    RN_THROW(code::kRendezvousFailed, "", "rank " + std::to_string(o.rank) + " could not connect to the other ranks: " + e.what());
  }
  CommunicatorsByDevice ranks;
  ranks[device] = std::make_shared<GlooRank>(std::move(server), std::move(store), std::move(context), std::move(transport), timeout);
  return addGroup(std::move(ranks));
}

}  // namespace rn::gloo
