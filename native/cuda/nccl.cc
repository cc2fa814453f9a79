// The "cuda" backend's NCCL groups. In process: one NCCL communicator per device, created on each device's own worker
// thread (ncclCommInitRankConfig with one shared ncclUniqueId, all ranks at once), non-blocking (blocking = 0) so
// that no NCCL call can hang a worker: every call is followed by polling ncclCommGetAsyncError (and, for an
// all-reduce, an event recorded after it) until it completes, fails or the group's timeout passes; a failure or a
// timeout aborts the rank's communicator (ncclCommAbort), marks the group failed, and the other ranks abort theirs
// as soon as they see it. Later calls on a failed group throw its first error at once. Across processes (one rank
// each): the same communicator and polling, the unique id shared through the rendezvous store of the group of
// processes (native/gloo/process_group.cc).
#include "nccl.h"

#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "../core/device.h"
#include "../core/errors.h"
#include "common.h"

namespace rn::cuda {
namespace {

using Clock = std::chrono::steady_clock;

std::string seconds(double s) {
  std::ostringstream out;
  out << s << " s";
  return out.str();
}

std::string ncclText(ncclResult_t status) {
  return std::string(ncclGetErrorString(status)) + " (ncclResult " + std::to_string(static_cast<int>(status)) + ")";
}

// What the ranks of one NCCL group share: names for errors, the timeout, how many all-reduces each rank has
// entered (to name the ranks that did not arrive), and the first failure.
class NcclGroupState {
 public:
  // crossProcess: one rank of a group of processes (devices[k] names rank k's device for this process's rank
  // only), so the other ranks' progress is not known here.
  NcclGroupState(int group, std::vector<std::string> devices, double timeoutSeconds, bool crossProcess = false)
      : group_(group), devices_(std::move(devices)), timeoutSeconds_(timeoutSeconds), crossProcess_(crossProcess),
        entered_(new std::atomic<uint64_t>[devices_.size()]) {
    for (size_t k = 0; k < devices_.size(); ++k) entered_[k] = 0;
  }

  int group() const { return group_; }
  int size() const { return static_cast<int>(devices_.size()); }
  const std::string& device(int rank) const { return devices_[rank]; }
  double timeoutSeconds() const { return timeoutSeconds_; }
  Clock::time_point deadline() const {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeoutSeconds_));
  }
  std::string rankName(int rank) const { return "rank " + std::to_string(rank) + " (" + devices_[rank] + ")"; }

  // This rank enters its next all-reduce; returns its number (1, 2, …).
  uint64_t enter(int rank) { return ++entered_[rank]; }
  // What a rank that timed out at all-reduce number `call` waited for.
  std::string waitedFor(uint64_t call) const {
    if (crossProcess_) {
      return "the other processes' ranks to complete the NCCL all-reduce (one of them died, hung or did not reach "
             "this step; their own logs say which)";
    }
    const std::string absent = missing(call);
    return absent.empty() ? "the NCCL all-reduce to complete; every rank arrived" : absent + ", which did not arrive";
  }

  // The ranks that have not yet entered all-reduce number `call`: "rank 1 (cuda:1)", "ranks 1 (cuda:1), 2 (cuda:2)".
  std::string missing(uint64_t call) const {
    std::string out;
    int count = 0;
    for (int k = 0; k < size(); ++k) {
      if (entered_[k].load() < call) {
        out += (out.empty() ? "" : ", ") + std::to_string(k) + " (" + devices_[k] + ")";
        ++count;
      }
    }
    return count == 0 ? "" : (count == 1 ? "rank " : "ranks ") + out;
  }

  bool failed() const { return failed_.load(); }
  // Records the first failure; returns the error to throw (the first one, whoever records later).
  Error fail(const char* errorCode, const std::string& op, const std::string& message) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failed_.load()) {
      failureCode_ = errorCode;
      failure_ = message;
      failed_.store(true);
    }
    return Error(failureCode_, op, failure_, __FILE__, __LINE__);
  }
  void throwIfFailed(const std::string& op) {
    if (!failed_.load()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    throw Error(failureCode_, op, failure_, __FILE__, __LINE__);
  }

 private:
  const int group_;
  const std::vector<std::string> devices_;
  const double timeoutSeconds_;
  const bool crossProcess_;
  std::unique_ptr<std::atomic<uint64_t>[]> entered_;
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::string failureCode_, failure_;
};

// Short spins first (an all-reduce of a few kilobytes takes microseconds), then sleeps of 20 µs.
class Backoff {
 public:
  void pause() {
    if (++spins_ > 64) std::this_thread::sleep_for(std::chrono::microseconds(20));
  }

 private:
  int spins_ = 0;
};

class NcclRank final : public DeviceCommunicator {
 public:
  // keepAlive: what must outlive the communicator (a group of processes: the rendezvous store rank 0 serves).
  NcclRank(std::shared_ptr<NcclGroupState> shared, int rank, Device& device, ncclComm_t comm, cudaEvent_t done,
           std::shared_ptr<void> keepAlive = nullptr)
      : shared_(std::move(shared)), rank_(rank), device_(device), comm_(comm), done_(done),
        keepAlive_(std::move(keepAlive)) {}

  ~NcclRank() override {
    // Every all-reduce was waited for, so nothing of this communicator is in flight: aborting only frees it
    // (ncclCommDestroy of a non-blocking communicator could return before it is done).
    if (comm_) ncclCommAbort(comm_);
    if (done_) cudaEventDestroy(done_);
  }

  int rank() const override { return rank_; }
  int size() const override { return shared_->size(); }

  void allreduceSum(float* data, int64_t n) override {
    allreduceSumOnStream(data, n, cudaDevice(device_).stream(), "allreduce_mean");
  }

  // The other ranks' polling loops see the failed group and abort their communicators (not this thread's to do:
  // the communicator belongs to the rank's worker).
  void abort(const std::string& reason) override { (void)shared_->fail(code::kRankFailed, "allreduce_mean", reason); }

  void allreduceSumOnStream(float* data, int64_t n, cudaStream_t stream, const std::string& op) override {
    shared_->throwIfFailed(op);
    RN_CHECK(comm_, code::kInternal, op, "the NCCL communicator of " + where() + " was aborted");
    const uint64_t call = shared_->enter(rank_);
    const auto deadline = shared_->deadline();
    const ncclResult_t status =
        ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat, ncclSum, comm_, stream);
    if (status != ncclSuccess && status != ncclInProgress) failNccl(op, "ncclAllReduce", status);
    // Non-blocking: the call may still be queuing its work; then the queued work must finish.
    waitForComm(op, "ncclAllReduce", deadline, call);
    RN_CUDA(op, cudaEventRecord(done_, stream));
    Backoff backoff;
    for (;;) {
      const cudaError_t query = cudaEventQuery(done_);
      if (query == cudaSuccess) return;
      if (query != cudaErrorNotReady) {
        abort();
        throw shared_->fail(code::kBackend, op, where() + ": waiting for the NCCL all-reduce failed: " +
                                                    cudaGetErrorName(query) + ": " + cudaGetErrorString(query));
      }
      checkProgress(op, "ncclAllReduce", deadline, call);
      backoff.pause();
    }
  }

 private:
  std::string where() const {
    return "group " + std::to_string(shared_->group()) + ", " + shared_->rankName(rank_);
  }

  void abort() {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
  }

  [[noreturn]] void failNccl(const std::string& op, const char* call, ncclResult_t status) {
    const char* detail = comm_ ? ncclGetLastError(comm_) : nullptr;
    abort();
    throw shared_->fail(code::kBackend, op, where() + ": " + call + " failed: " + ncclText(status) +
                                                (detail && *detail ? std::string(": ") + detail : std::string()));
  }

  // One poll: the communicator's error state, the group's failure and the deadline.
  void checkProgress(const std::string& op, const char* call, Clock::time_point deadline, uint64_t number) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t got = ncclCommGetAsyncError(comm_, &state);
    if (got != ncclSuccess) failNccl(op, "ncclCommGetAsyncError", got);
    if (state != ncclSuccess && state != ncclInProgress) failNccl(op, call, state);
    if (shared_->failed()) {
      abort();
      shared_->throwIfFailed(op);
    }
    if (Clock::now() >= deadline) {
      const std::string waited = shared_->waitedFor(number);
      abort();
      throw shared_->fail(code::kCollectiveTimeout, op,
                          "allreduce on group " + std::to_string(shared_->group()) + ": " + shared_->rankName(rank_) +
                              " waited " + seconds(shared_->timeoutSeconds()) + " for " + waited);
    }
  }

  // Until the communicator leaves ncclInProgress (a non-blocking call still being issued).
  void waitForComm(const std::string& op, const char* call, Clock::time_point deadline, uint64_t number) {
    Backoff backoff;
    for (;;) {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t got = ncclCommGetAsyncError(comm_, &state);
      if (got != ncclSuccess) failNccl(op, "ncclCommGetAsyncError", got);
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) failNccl(op, call, state);
      checkProgress(op, call, deadline, number);
      backoff.pause();
    }
  }

  std::shared_ptr<NcclGroupState> shared_;
  const int rank_;
  Device& device_;
  ncclComm_t comm_;
  cudaEvent_t done_;
  std::shared_ptr<void> keepAlive_;
};

// What one rank's worker produced: its communicator and event, or why it failed.
struct RankStart {
  ncclComm_t comm = nullptr;
  cudaEvent_t done = nullptr;
  std::exception_ptr error;
  bool echo = false;  // stopped because another rank failed first
};

// On rank k's worker (its device current): a non-blocking communicator of the group, polled until ready.
void startRank(const std::string& op, NcclGroupState& shared, int rank, const ncclUniqueId& id,
               Clock::time_point deadline, RankStart& out) {
  const std::string who = "group " + std::to_string(shared.group()) + ", " + shared.rankName(rank);
  try {
    RN_CUDA(op, cudaEventCreateWithFlags(&out.done, cudaEventDisableTiming));
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t status = ncclCommInitRankConfig(&out.comm, shared.size(), id, rank, &config);
    if (status != ncclSuccess && status != ncclInProgress) {
      RN_THROW(code::kBackend, op, who + ": ncclCommInitRankConfig failed: " + ncclText(status));
    }
    Backoff backoff;
    for (;;) {
      ncclResult_t state = ncclSuccess;
      status = ncclCommGetAsyncError(out.comm, &state);
      if (status != ncclSuccess) RN_THROW(code::kBackend, op, who + ": ncclCommGetAsyncError failed: " + ncclText(status));
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) {
        const char* detail = ncclGetLastError(out.comm);
        RN_THROW(code::kBackend, op, who + ": creating the NCCL communicator failed: " + ncclText(state) +
                                         (detail && *detail ? std::string(": ") + detail : std::string()));
      }
      if (shared.failed()) {
        out.echo = true;
        RN_THROW(code::kBackend, op, who + ": stopped because another rank failed");
      }
      if (Clock::now() >= deadline) {
        RN_THROW(code::kCollectiveTimeout, op,
                 who + " waited " + seconds(shared.timeoutSeconds()) + " for the NCCL communicator to be created");
      }
      backoff.pause();
    }
  } catch (...) {
    out.error = std::current_exception();
    shared.fail(code::kBackend, op, who + ": NCCL set-up failed");  // wakes the other ranks' loops
  }
}

CommunicatorsByDevice createNcclGroup(int group, const std::vector<std::string>& devices, double timeoutSeconds) {
  const std::string op = "createInProcessGroup";
  std::vector<Device*> members;
  for (const auto& name : devices) members.push_back(&getDevice(name));
  // Replica slots of one GPU ("cuda:0", "cuda:0/1"): the copy-based group, since NCCL refuses two ranks per GPU
  // before 2.30. Mixing shared and separate GPUs in one group is not supported.
  std::vector<int> gpus;
  for (Device* d : members) gpus.push_back(cudaDevice(*d).index());
  const bool sharing = std::any_of(gpus.begin(), gpus.end(), [&](int g) { return std::count(gpus.begin(), gpus.end(), g) > 1; });
  if (sharing) {
    const bool oneGpu = std::all_of(gpus.begin(), gpus.end(), [&](int g) { return g == gpus.front(); });
    std::string listed;
    for (const auto& name : devices) listed += (listed.empty() ? "" : ", ") + name;
    RN_CHECK(oneGpu, code::kInvalidArgument, op,
             "replicas that share a GPU must all be on that one GPU, but the group has " + listed +
                 ": use one replica per GPU (cuda:0, cuda:1, …) or slots of one GPU (cuda:0, cuda:0/1, …)");
    return createSharedGpuGroup(group, devices, timeoutSeconds);
  }
  auto shared = std::make_shared<NcclGroupState>(group, devices, timeoutSeconds);
  ncclUniqueId id;
  {
    const ncclResult_t status = ncclGetUniqueId(&id);
    RN_CHECK(status == ncclSuccess, code::kBackend, op,
             "group " + std::to_string(group) + ": ncclGetUniqueId failed: " + ncclText(status));
  }
  // Every rank at once, each on its own worker: NCCL's set-up is collective.
  const auto deadline = shared->deadline();
  std::vector<RankStart> starts(devices.size());
  std::vector<std::future<void>> done;
  for (size_t k = 0; k < devices.size(); ++k) {
    auto finished = std::make_shared<std::promise<void>>();
    done.push_back(finished->get_future());
    members[k]->worker().submit([&, k, finished] {
      startRank(op, *shared, static_cast<int>(k), id, deadline, starts[k]);
      finished->set_value();
    });
  }
  for (auto& f : done) f.wait();
  // The first rank's own error, not the others' "another rank failed".
  std::exception_ptr first;
  for (auto& s : starts) {
    if (s.error && (!first || !s.echo)) first = s.error;
    if (s.error && !s.echo) break;
  }
  if (first) {
    for (auto& s : starts) {
      if (s.comm) ncclCommAbort(s.comm);
      if (s.done) cudaEventDestroy(s.done);
    }
    std::rethrow_exception(first);
  }
  CommunicatorsByDevice ranks;
  for (size_t k = 0; k < devices.size(); ++k) {
    ranks[devices[k]] = std::make_shared<NcclRank>(shared, static_cast<int>(k), *members[k], starts[k].comm, starts[k].done);
  }
  return ranks;
}

// This process's rank of a group of processes, on its device's worker (the thread this runs on): rank 0 makes the
// unique id and shares it through the rendezvous store, then every rank creates its communicator (collective:
// it completes once all ranks have joined, or fails at the timeout). NCCL before 2.30 refuses two ranks on one GPU
// ("Duplicate GPU detected"); 2.30 allows it with NCCL_MULTI_RANK_GPU_ENABLE=1.
std::shared_ptr<Communicator> createNcclProcessRank(const ProcessRankSpec& spec) {
  const std::string op = "createProcessGroup";
  std::vector<std::string> names(spec.worldSize, "another process");
  names[spec.rank] = spec.device;
  auto shared = std::make_shared<NcclGroupState>(spec.group, names, spec.timeoutSeconds, true);
  const std::vector<char> bytes = spec.shareFromRank0([&] {
    ncclUniqueId id;
    const ncclResult_t status = ncclGetUniqueId(&id);
    RN_CHECK(status == ncclSuccess, code::kBackend, op, "rank 0: ncclGetUniqueId failed: " + ncclText(status));
    return std::vector<char>(id.internal, id.internal + sizeof(id.internal));
  });
  RN_CHECK(bytes.size() == sizeof(ncclUniqueId::internal), code::kRendezvousFailed, op,
           "rank " + std::to_string(spec.rank) + ": rank 0's NCCL unique id has " + std::to_string(bytes.size()) +
               " bytes, not " + std::to_string(sizeof(ncclUniqueId::internal)) +
               " (do all ranks run the same NCCL version?)");
  ncclUniqueId id;
  std::copy(bytes.begin(), bytes.end(), id.internal);
  RankStart start;
  startRank(op, *shared, spec.rank, id, shared->deadline(), start);
  if (start.error) {
    if (start.comm) ncclCommAbort(start.comm);
    if (start.done) cudaEventDestroy(start.done);
    std::rethrow_exception(start.error);
  }
  return std::make_shared<NcclRank>(shared, spec.rank, getDevice(spec.device), start.comm, start.done, spec.keepAlive);
}

const bool registered = (registerInProcessGroupFactory("cuda", createNcclGroup),
                         registerProcessRankFactory("cuda", createNcclProcessRank), true);

}  // namespace
}  // namespace rn::cuda
