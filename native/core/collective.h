// Collectives behind one interface: a Communicator per rank, groups of them by integer id, and the
// in-process group that sums the buffers of several replicas living in this process.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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
};

// A group: one communicator per device taking part, keyed by device name ("cpu:1", "cuda:0"). The device
// names the rank, so a program compiled for one replica finds its communicator from its own device.
using CommunicatorsByDevice = std::map<std::string, std::shared_ptr<Communicator>>;

int addGroup(CommunicatorsByDevice ranks);  // → the group's id (ids are never reused)
void removeGroup(int group);               // programs already built keep their communicators
// Throws RN_INVALID_ARGUMENT when the group does not exist or has no rank on this device.
std::shared_ptr<Communicator> findCommunicator(int group, const std::string& device, const std::string& op = "");

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

}  // namespace rn
