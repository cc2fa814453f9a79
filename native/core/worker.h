// A device's own thread: jobs run on it in submission order, so a device's work is serialised.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace rn {

class Worker {
 public:
  explicit Worker(std::function<void()> onStart = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void submit(std::function<void()> job);
  // Runs job on the worker and waits for it; rethrows what it threw.
  void runSync(const std::function<void()>& job);

 private:
  void loop();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::function<void()> onStart_;
  std::thread thread_;
};

}  // namespace rn
