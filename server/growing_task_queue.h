// growing_task_queue.h — the cpp-httplib TaskQueue of balancer-server: one worker per
// connection, grown on demand. The .so's default pool has 8 threads, and a long SSE stream
// holds its worker for minutes, so a fixed small pool would serialise Claude Code sessions.
#pragma once

#include <atomic>
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
// beyond that tasks wait in FIFO order. Workers live until shutdown (the peak is bounded by
// max_threads). enqueue() is called by httplib's accept thread; busy() from any thread.
// `busy_gauge` (optional) mirrors busy() for an owner that outlives the queue: httplib deletes
// the queue when it stops listening, and the gauge stays readable after that.
class GrowingTaskQueue final : public httplib::TaskQueue {
 public:
  GrowingTaskQueue(std::size_t initial_threads, std::size_t max_threads,
                   std::shared_ptr<std::atomic<std::size_t>> busy_gauge = nullptr);
  ~GrowingTaskQueue() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  // Tasks (connections) being served right now.
  std::size_t busy() const;
  std::size_t threads() const;

 private:
  void start_worker();  // requires mutex_ held
  void work();

  const std::size_t max_threads_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> workers_;
  std::size_t idle_ = 0;
  std::size_t busy_ = 0;
  bool shutting_down_ = false;
  const std::shared_ptr<std::atomic<std::size_t>> busy_gauge_;
};

}  // namespace balancer::server
