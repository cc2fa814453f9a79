// Collectives behind one interface: a Communicator per rank, groups of them by integer id, and the
// in-process group that sums the buffers of several replicas living in this process.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace rn {

// One rank's view of a group. Collective calls run on the rank's device worker thread and block it until
// every rank has taken part; a rank that does not arrive within the group's timeout makes the call throw
// RN_COLLECTIVE_TIMEOUT naming it, and the group stays failed (later calls throw at once).
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // data[0..n) ← the element-wise sum of every rank's data[0..n); every rank ends with the same bits. data is in
  // the memory of the rank's device: host memory for CPU devices, device memory for CUDA ones (whose
  // communicators also offer a stream-ordered call, native/cuda/nccl.h).
  virtual void allreduceSum(float* data, int64_t n) = 0;
  // Fails the group this rank belongs to, in this process, with RN_RANK_FAILED and `reason`: ranks waiting at a
  // collective stop now instead of at the timeout, and later calls throw at once. For a replica whose own work
  // failed, so that the others do not wait for it. A rank of a group of processes has nothing to do here.
  virtual void abort(const std::string& reason) { (void)reason; }
};

// A group: one communicator per device taking part, keyed by device name ("cpu:1", "cuda:0"). The device
// names the rank, so a program compiled for one replica finds its communicator from its own device.
using CommunicatorsByDevice = std::map<std::string, std::shared_ptr<Communicator>>;

int addGroup(CommunicatorsByDevice ranks);  // → the group's id (ids are never reused)
void removeGroup(int group);               // programs already built keep their communicators
// Throws RN_INVALID_ARGUMENT when the group does not exist or has no rank on this device.
std::shared_ptr<Communicator> findCommunicator(int group, const std::string& device, const std::string& op = "");
// Communicator::abort on every rank of the group in this process (no-op for a group that no longer exists).
void abortGroup(int group, const std::string& reason);

// Where the ranks of one in-process group meet: each publishes its buffer and waits for every other rank's
// (barrier 1, bounded by the group's timeout), reduces its own slice of all of them, and waits again (barrier 2)
// before reusing its buffer. Once failed (a timeout names the ranks that did not arrive; lengths that differ),
// every later call throws the first failure. The CPU's in-process ranks use it, and so do CUDA replicas that
// share one GPU (native/cuda/nccl.cc), whose buffers are device memory of that GPU.
class InProcessExchange {
 public:
  InProcessExchange(std::vector<std::string> devices, double timeoutSeconds);
  int size() const { return static_cast<int>(devices_.size()); }
  // Set once, right after registration and before any rank can be reached (it only names the group in errors).
  void setGroup(int group) { group_ = group; }
  void publish(int rank, float* data, int64_t n);  // barrier 1
  void finish(int rank);                           // barrier 2
  float* buffer(int rank) const { return buffers_[rank]; }
  // Fails the exchange (RN_RANK_FAILED, `reason`) unless it already failed; wakes every rank waiting at a barrier.
  void abort(const std::string& reason);

 private:
  void waitForAll(std::unique_lock<std::mutex>& lock, int rank, const char* what);
  [[noreturn]] void fail(const char* errorCode, const std::string& message);
  void throwIfFailed() const;

  int group_ = 0;
  const std::vector<std::string> devices_;
  const std::chrono::duration<double> timeout_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<float*> buffers_;
  std::vector<int64_t> lengths_;
  std::vector<bool> arrived_;  // this generation
  int count_ = 0;
  uint64_t generation_ = 0;
  bool failed_ = false;
  std::string failureCode_, failure_;
};

// N replicas in this process, rank k on devices[k]. CPU devices: each rank sums its 1/N slice of the buffer across
// all replicas' buffers and writes the result into every replica's slice, between two barriers. Devices of a
// backend that registered an in-process group factory (cuda: NCCL) get that backend's communicators; a group's
// devices all belong to one backend.
int createInProcessGroup(const std::vector<std::string>& devices, double timeoutSeconds);

// Builds the ranks of an in-process group over devices of one backend: (group id, canonical device names in rank
// order, timeout) → one communicator per device. Registered by a backend library when it loads.
using InProcessGroupFactory =
    std::function<CommunicatorsByDevice(int group, const std::vector<std::string>& devices, double timeoutSeconds)>;
void registerInProcessGroupFactory(const std::string& backend, InProcessGroupFactory factory);

// This process's rank of a group spanning processes (one rank each) on a device of a backend with its own
// collectives (cuda: NCCL). The caller (native/gloo/process_group.cc) has formed the rendezvous; the backend
// creates its communicator on the device's worker thread, which is the thread it is called on.
struct ProcessRankSpec {
  int group = 0;  // the id the rank will be registered under (named in errors)
  int rank = 0;
  int worldSize = 1;
  std::string device;  // canonical name ("cuda:0")
  double timeoutSeconds = 300;
  // Rank 0: calls make() and publishes its bytes through the rendezvous store; every other rank waits for them.
  // Returns the bytes on every rank; throws RN_RENDEZVOUS_FAILED when rank 0's never come.
  std::function<std::vector<char>(const std::function<std::vector<char>()>& make)> shareFromRank0;
  std::shared_ptr<void> keepAlive;  // the rendezvous store (rank 0 serves it): kept for the rank's lifetime
};
using ProcessRankFactory = std::function<std::shared_ptr<Communicator>(const ProcessRankSpec& spec)>;
void registerProcessRankFactory(const std::string& backend, ProcessRankFactory factory);
// The backend's factory, or an empty function when it has none (its devices cannot join groups of processes).
ProcessRankFactory processRankFactory(const std::string& backend);
// Reserves a group id, for a communicator that names it in its errors before addGroup-like registration.
int reserveGroupId();
void addGroupWithId(int id, CommunicatorsByDevice ranks);

}  // namespace rn
