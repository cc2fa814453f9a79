// A collective group spanning processes (one rank each), formed through rank 0's TCP store: over Gloo's TCP
// transport for CPU devices, over the device backend's own collectives for others (cuda: NCCL, whose unique id
// travels through the store).
#pragma once
#include <string>

namespace rn::gloo {

struct ProcessGroupOptions {
  int rank = 0;
  int worldSize = 1;
  std::string masterAddr;  // where rank 0's store listens (MASTER_ADDR)
  int masterPort = 0;      // MASTER_PORT
  std::string device;      // this rank's device ("cpu:0", "cuda:1"): the one whose programs find this communicator
  double timeoutSeconds = 300;
  std::string iface;  // network interface for Gloo's pairs; empty: the one that reaches masterAddr
};

// Blocks until every rank has joined (or the timeout passes: RN_RENDEZVOUS_FAILED naming the missing ranks) and
// registers the group under a new id (collective.h), with this process's one rank on `device`.
// Collectives on it that fail throw RN_RANK_FAILED or RN_COLLECTIVE_TIMEOUT naming the rank that stopped.
int createProcessGroup(const ProcessGroupOptions& options);

}  // namespace rn::gloo
