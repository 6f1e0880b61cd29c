// growing_task_queue.h — the worker pool of balancer-server's connection layer: one worker per
// request being served, grown on demand. A long SSE stream holds its worker for minutes, so a
// fixed small pool would serialise Claude Code sessions.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace balancer::server {

// Starts a new worker whenever a task arrives and no worker is idle, up to `max_threads`;
// beyond that tasks wait in FIFO order. A worker idle for `idle_retire` (zero: never) ends,
// down to `initial_threads`, so a burst leaves no threads behind. enqueue() is called by the
// ConnectionServer's poller; busy() from any thread. `busy_gauge` (optional) mirrors busy() for
// an owner that reads it without the queue's lock (the App's /metrics gauge).
class GrowingTaskQueue final : public httplib::TaskQueue {
 public:
  GrowingTaskQueue(std::size_t initial_threads, std::size_t max_threads,
                   std::shared_ptr<std::atomic<std::size_t>> busy_gauge = nullptr,
                   std::chrono::milliseconds idle_retire = std::chrono::milliseconds::zero());
  ~GrowingTaskQueue() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  // Tasks (connections) being served right now.
  std::size_t busy() const;
  // Tasks waiting for a worker.
  std::size_t queued() const;
  std::size_t threads() const;
  std::size_t max_threads() const { return max_threads_; }
  // Waits until `holds(busy(), threads())` or `timeout` passes; true if it holds (tests).
  bool wait_until(const std::function<bool(std::size_t busy, std::size_t threads)>& holds,
                  std::chrono::milliseconds timeout) const;

 private:
  void start_worker();  // requires mutex_ held
  void join_retired();  // requires mutex_ held; never called by a retired worker itself
  std::size_t alive() const { return workers_.size() - retired_.size(); }  // requires mutex_ held
  void work();

  const std::size_t min_threads_;
  const std::size_t max_threads_;
  const std::chrono::milliseconds idle_retire_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  mutable std::condition_variable changed_;  // busy_ or the worker count changed
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> workers_;
  std::vector<std::thread::id> retired_;  // workers that ended on their own, to be joined
  std::size_t idle_ = 0;
  std::size_t busy_ = 0;
  bool shutting_down_ = false;
  const std::shared_ptr<std::atomic<std::size_t>> busy_gauge_;
};

}  // namespace balancer::server
