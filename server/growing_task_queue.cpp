#include "growing_task_queue.h"

#include <algorithm>

namespace balancer::server {

GrowingTaskQueue::GrowingTaskQueue(std::size_t initial_threads, std::size_t max_threads,
                                   std::shared_ptr<std::atomic<std::size_t>> busy_gauge,
                                   std::chrono::milliseconds idle_retire)
    : min_threads_(std::min(initial_threads, max_threads < 1 ? std::size_t{1} : max_threads)),
      max_threads_(max_threads < 1 ? 1 : max_threads),
      idle_retire_(idle_retire),
      busy_gauge_(std::move(busy_gauge)) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < min_threads_; ++i) {
    start_worker();
  }
}

GrowingTaskQueue::~GrowingTaskQueue() { shutdown(); }

void GrowingTaskQueue::start_worker() {
  join_retired();
  ++idle_;
  workers_.emplace_back([this] { work(); });
}

void GrowingTaskQueue::join_retired() {
  for (const std::thread::id id : retired_) {
    const auto it =
        std::find_if(workers_.begin(), workers_.end(), [id](const std::thread& t) { return t.get_id() == id; });
    if (it != workers_.end()) {
      it->join();  // it has left work() or is about to: it holds no lock and takes none
      workers_.erase(it);
    }
  }
  retired_.clear();
}

void GrowingTaskQueue::enqueue(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) {
      return;
    }
    tasks_.push_back(std::move(fn));
    if (idle_ < tasks_.size() && alive() < max_threads_) {
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
    retired_.clear();
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

std::size_t GrowingTaskQueue::queued() const {
  std::lock_guard lock(mutex_);
  return tasks_.size();
}

std::size_t GrowingTaskQueue::threads() const {
  std::lock_guard lock(mutex_);
  return alive();
}

bool GrowingTaskQueue::wait_until(const std::function<bool(std::size_t busy, std::size_t threads)>& holds,
                                  std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return holds(busy_, alive()); });
}

void GrowingTaskQueue::work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      join_retired();  // peers that ended are joined here, so their stacks do not linger
      const auto has_work = [this] { return shutting_down_ || !tasks_.empty(); };
      if (idle_retire_.count() > 0) {
        if (!ready_.wait_for(lock, idle_retire_, has_work) && alive() > min_threads_) {
          --idle_;
          retired_.push_back(std::this_thread::get_id());
          changed_.notify_all();
          return;
        }
        if (!has_work()) {
          continue;
        }
      } else {
        ready_.wait(lock, has_work);
      }
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
      changed_.notify_all();
    }
    task();
    std::lock_guard lock(mutex_);
    --busy_;
    ++idle_;
    if (busy_gauge_) {
      busy_gauge_->store(busy_);
    }
    changed_.notify_all();
  }
}

}  // namespace balancer::server
