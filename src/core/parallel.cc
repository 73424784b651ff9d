// A persistent pool of worker threads. Work is split into equal contiguous
// parts; which thread runs which part never changes a result, because every
// reduction combines fixed-size blocks in a fixed order.
#include "losslab/core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "losslab/core/error.h"

namespace losslab {
namespace {

int default_threads() {
  if (const char* env = std::getenv("LOSSLAB_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : int(hc);
}

std::atomic<int> g_threads{0};  // 0 = default

thread_local bool t_in_worker = false;

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // Runs parts [0, parts) of fn; part 0 on the calling thread. Returns false
  // (having run nothing) when another caller holds the pool.
  bool run(int parts, const std::function<void(int)>& part_fn) {
    std::unique_lock<std::mutex> call(call_mu_, std::try_to_lock);
    if (!call.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (int(workers_.size()) < parts - 1) {
        const int id = int(workers_.size()) + 1;
        workers_.emplace_back([this, id] { worker(id); });
      }
      job_ = &part_fn;
      parts_ = parts;
      pending_ = parts - 1;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    std::exception_ptr mine;
    try {
      part_fn(0);
    } catch (...) {
      mine = std::current_exception();
    }
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
    if (mine) std::rethrow_exception(mine);
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  void worker(int id) {
    t_in_worker = true;
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (id >= parts_) continue;
        job = job_;
      }
      std::exception_ptr err;
      try {
        (*job)(id);
      } catch (...) {
        err = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (err && !error_) error_ = err;
        if (--pending_ == 0) done_cv_.notify_all();
      }
    }
  }

  std::mutex call_mu_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  int parts_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool* p = new Pool();  // leaked: workers must outlive static dtors
  return *p;
}

}  // namespace

int get_num_threads() noexcept {
  const int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : default_threads();
}

void set_num_threads(int n) {
  if (n < 0) {
    throw_value_error("set_num_threads: n=" + std::to_string(n) +
                      " must be >= 1 (or 0 for the default)");
  }
  g_threads.store(n, std::memory_order_relaxed);
}

void parallel_for(int64_t count, int64_t min_per_thread,
                  const std::function<void(int64_t, int64_t)>& fn) {
  if (count <= 0) return;
  const int64_t grain = std::max<int64_t>(1, min_per_thread);
  const int parts =
      int(std::min<int64_t>(get_num_threads(), (count + grain - 1) / grain));
  if (parts <= 1 || t_in_worker) {
    fn(0, count);
    return;
  }
  const std::function<void(int)> part_fn = [&](int p) {
    const int64_t b = count * p / parts;
    const int64_t e = count * (p + 1) / parts;
    if (b < e) fn(b, e);
  };
  if (!pool().run(parts, part_fn)) fn(0, count);  // pool busy: run inline
}

double pairwise_sum(const double* v, int64_t n) noexcept {
  if (n <= 8) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += v[i];
    return s;
  }
  const int64_t h = n / 2;
  return pairwise_sum(v, h) + pairwise_sum(v + h, n - h);
}

}  // namespace losslab
