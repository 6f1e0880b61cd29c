#include "growing_task_queue.h"

namespace balancer::server {

GrowingTaskQueue::GrowingTaskQueue(std::size_t initial_threads, std::size_t max_threads,
                                   std::shared_ptr<std::atomic<std::size_t>> busy_gauge)
    : max_threads_(max_threads < 1 ? 1 : max_threads), busy_gauge_(std::move(busy_gauge)) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < initial_threads && i < max_threads_; ++i) {
    start_worker();
  }
}

GrowingTaskQueue::~GrowingTaskQueue() { shutdown(); }

void GrowingTaskQueue::start_worker() {
  ++idle_;
  workers_.emplace_back([this] { work(); });
}

void GrowingTaskQueue::enqueue(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) {
      return;
    }
    tasks_.push_back(std::move(fn));
    if (idle_ < tasks_.size() && workers_.size() < max_threads_) {
      start_worker();
    }
  }
  ready_.notify_one();
}

void GrowingTaskQueue::shutdown() {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
    workers.swap(workers_);
  }
  ready_.notify_all();
  for (auto& t : workers) {
    t.join();
  }
}

std::size_t GrowingTaskQueue::busy() const {
  std::lock_guard lock(mutex_);
  return busy_;
}

std::size_t GrowingTaskQueue::threads() const {
  std::lock_guard lock(mutex_);
  return workers_.size();
}

void GrowingTaskQueue::work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return shutting_down_ || !tasks_.empty(); });
      if (tasks_.empty()) {
        return;  // shutting down and drained
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
      --idle_;
      ++busy_;
      if (busy_gauge_) {
        busy_gauge_->store(busy_);
      }
    }
    task();
    std::lock_guard lock(mutex_);
    --busy_;
    ++idle_;
    if (busy_gauge_) {
      busy_gauge_->store(busy_);
    }
  }
}

}  // namespace balancer::server
