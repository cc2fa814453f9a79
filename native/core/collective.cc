// The group registry and the in-process all-reduce: barrier, each rank reduces its slice, barrier.
#include "collective.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>

#include "device.h"
#include "errors.h"

namespace rn {
namespace {

struct Registry {
  std::mutex mutex;
  int nextId = 1;
  std::map<int, CommunicatorsByDevice> groups;
  std::map<std::string, InProcessGroupFactory> factories;  // by backend
  std::map<std::string, ProcessRankFactory> processFactories;  // by backend
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: kernels may still run at exit
  return *r;
}

std::string seconds(double s) {
  std::ostringstream out;
  out << s << " s";
  return out.str();
}

std::string joinRanks(const std::vector<int>& ranks, const std::vector<std::string>& devices) {
  std::string out;
  for (int r : ranks) out += (out.empty() ? "" : ", ") + std::to_string(r) + " (" + devices[r] + ")";
  return out;
}

}  // namespace

InProcessExchange::InProcessExchange(std::vector<std::string> devices, double timeoutSeconds)
    : devices_(std::move(devices)),
      timeout_(std::chrono::duration<double>(timeoutSeconds)),
      buffers_(devices_.size(), nullptr),
      lengths_(devices_.size(), 0),
      arrived_(devices_.size(), false) {}

void InProcessExchange::publish(int rank, float* data, int64_t n) {
  std::unique_lock<std::mutex> lock(mutex_);
  throwIfFailed();
  buffers_[rank] = data;
  lengths_[rank] = n;
  waitForAll(lock, rank, "allreduce");
  for (int k = 0; k < size(); ++k) {
    if (lengths_[k] != lengths_[0]) {
      fail(code::kShapeMismatch, "allreduce on group " + std::to_string(group_) + ": rank 0 (" + devices_[0] + ") sums " +
                                      std::to_string(lengths_[0]) + " values but rank " + std::to_string(k) + " (" +
                                      devices_[k] + ") " + std::to_string(lengths_[k]));
    }
  }
}

void InProcessExchange::finish(int rank) {
  std::unique_lock<std::mutex> lock(mutex_);
  throwIfFailed();
  waitForAll(lock, rank, "allreduce (end)");
}

void InProcessExchange::waitForAll(std::unique_lock<std::mutex>& lock, int rank, const char* what) {
  const uint64_t generation = generation_;
  arrived_[rank] = true;
  if (++count_ == size()) {
    count_ = 0;
    std::fill(arrived_.begin(), arrived_.end(), false);
    ++generation_;
    wake_.notify_all();
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  const bool released = wake_.wait_until(lock, deadline, [&] { return generation_ != generation || failed_; });
  if (generation_ != generation) return;
  if (released) throwIfFailed();
  std::vector<int> missing;
  for (int k = 0; k < size(); ++k) {
    if (!arrived_[k]) missing.push_back(k);
  }
  fail(code::kCollectiveTimeout,
       std::string(what) + " on group " + std::to_string(group_) + ": rank " + std::to_string(rank) + " (" +
           devices_[rank] + ") waited " + seconds(timeout_.count()) + " for rank" +
           (missing.size() == 1 ? " " : "s ") + joinRanks(missing, devices_) + ", which did not arrive");
}

void InProcessExchange::fail(const char* errorCode, const std::string& message) {
  if (!failed_) {
    failed_ = true;
    failureCode_ = errorCode;
    failure_ = message;
    wake_.notify_all();
  }
  throw Error(failureCode_, "allreduce_mean", failure_, __FILE__, __LINE__);
}

void InProcessExchange::abort(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (failed_) return;
  failed_ = true;
  failureCode_ = code::kRankFailed;
  failure_ = reason;
  wake_.notify_all();
}

void InProcessExchange::throwIfFailed() const {
  if (failed_) throw Error(failureCode_, "allreduce_mean", failure_, __FILE__, __LINE__);
}

namespace {

class InProcessRank : public Communicator {
 public:
  InProcessRank(std::shared_ptr<InProcessExchange> shared, int rank) : shared_(std::move(shared)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return shared_->size(); }

  void allreduceSum(float* data, int64_t n) override {
    shared_->publish(rank_, data, n);
    const int ranks = size();
    const int64_t begin = n * rank_ / ranks, end = n * (rank_ + 1) / ranks;
    // Through a small block so the loops vectorise; ranks are summed in rank order, so every rank's
    // slice is reduced the same way and all replicas end with identical bits.
    constexpr int64_t kBlock = 2048;
    float sum[kBlock];
    for (int64_t start = begin; start < end; start += kBlock) {
      const int64_t len = std::min(kBlock, end - start);
      const float* first = shared_->buffer(0) + start;
      for (int64_t i = 0; i < len; ++i) sum[i] = first[i];
      for (int k = 1; k < ranks; ++k) {
        const float* other = shared_->buffer(k) + start;
        for (int64_t i = 0; i < len; ++i) sum[i] += other[i];
      }
      for (int k = 0; k < ranks; ++k) std::copy(sum, sum + len, shared_->buffer(k) + start);
    }
    shared_->finish(rank_);
  }

  void abort(const std::string& reason) override { shared_->abort(reason); }

 private:
  std::shared_ptr<InProcessExchange> shared_;
  int rank_;
};

}  // namespace

int addGroup(CommunicatorsByDevice ranks) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  const int id = registry().nextId++;
  registry().groups[id] = std::move(ranks);
  return id;
}

void removeGroup(int group) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().groups.erase(group);
}

std::shared_ptr<Communicator> findCommunicator(int group, const std::string& device, const std::string& op) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  auto found = registry().groups.find(group);
  RN_CHECK(found != registry().groups.end(), code::kInvalidArgument, op,
           "no collective group " + std::to_string(group) + " (create one first; it may have been destroyed)");
  auto rank = found->second.find(device);
  if (rank == found->second.end()) {
    std::string members;
    for (const auto& kv : found->second) members += (members.empty() ? "" : ", ") + kv.first;
    RN_THROW(code::kInvalidArgument, op,
             "collective group " + std::to_string(group) + " has no rank on device '" + device + "' (its devices: " + members + ")");
  }
  return rank->second;
}

void abortGroup(int group, const std::string& reason) {
  CommunicatorsByDevice ranks;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    auto found = registry().groups.find(group);
    if (found == registry().groups.end()) return;
    ranks = found->second;
  }
  for (auto& kv : ranks) kv.second->abort(reason);
}

void registerInProcessGroupFactory(const std::string& backend, InProcessGroupFactory factory) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().factories[backend] = std::move(factory);
}

void registerProcessRankFactory(const std::string& backend, ProcessRankFactory factory) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().processFactories[backend] = std::move(factory);
}

ProcessRankFactory processRankFactory(const std::string& backend) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  auto found = registry().processFactories.find(backend);
  return found == registry().processFactories.end() ? ProcessRankFactory() : found->second;
}

int reserveGroupId() {
  std::lock_guard<std::mutex> lock(registry().mutex);
  return registry().nextId++;
}

void addGroupWithId(int id, CommunicatorsByDevice ranks) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().groups[id] = std::move(ranks);
}

int createInProcessGroup(const std::vector<std::string>& devices, double timeoutSeconds) {
  RN_CHECK(!devices.empty(), code::kInvalidArgument, "", "an in-process group needs at least one device");
  RN_CHECK(timeoutSeconds > 0, code::kInvalidArgument, "",
           "Expected a timeout > 0 seconds but received " + std::to_string(timeoutSeconds));
  // Canonical names ("cpu" and "cpu:0" are one device); each rank needs its own device and worker thread,
  // since a rank blocks its worker until the others arrive.
  std::vector<std::string> names;
  std::string backend;
  for (const auto& spec : devices) {
    Device& device = getDevice(spec);
    names.push_back(device.name());
    for (size_t k = 0; k + 1 < names.size(); ++k) {
      RN_CHECK(names[k] != names.back(), code::kInvalidArgument, "",
               "device '" + names.back() + "' appears twice in the group: each replica needs its own device");
    }
    if (backend.empty()) backend = device.backend();
    RN_CHECK(device.backend() == backend, code::kInvalidArgument, "",
             "an in-process group's devices must all belong to one backend, but '" + names.front() + "' is " + backend +
                 " and '" + names.back() + "' is " + device.backend());
  }
  InProcessGroupFactory factory;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    auto found = registry().factories.find(backend);
    if (found != registry().factories.end()) factory = found->second;
  }
  if (factory) {
    const int id = reserveGroupId();  // the factory's communicators name it in their errors
    addGroupWithId(id, factory(id, names, timeoutSeconds));
    return id;
  }
  auto shared = std::make_shared<InProcessExchange>(names, timeoutSeconds);
  CommunicatorsByDevice ranks;
  for (size_t k = 0; k < names.size(); ++k) ranks[names[k]] = std::make_shared<InProcessRank>(shared, static_cast<int>(k));
  const int id = addGroup(std::move(ranks));
  shared->setGroup(id);
  return id;
}

}  // namespace rn
