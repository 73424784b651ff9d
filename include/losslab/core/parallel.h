// losslab/core/parallel.h: a small persistent thread pool with deterministic
// work splitting.
//
// Determinism does not come from the pool: every reduction in losslab is
// computed over fixed-size blocks whose partial sums are combined in a fixed
// pairwise order. The pool only decides which thread computes which blocks,
// so results are bitwise identical for any thread count.
#ifndef LOSSLAB_CORE_PARALLEL_H_
#define LOSSLAB_CORE_PARALLEL_H_

#include <cstdint>
#include <functional>

namespace losslab {

// Number of threads losslab kernels use (>= 1). Defaults to the hardware
// concurrency, or LOSSLAB_NUM_THREADS when set.
int get_num_threads() noexcept;
// n >= 1; n == 0 restores the default. Throws losslab::Error for n < 0.
void set_num_threads(int n);

// Calls fn(begin, end) on disjoint contiguous sub-ranges covering
// [0, count). Runs inline when `count` is small, one thread is set, the call
// is nested in a pool worker, or another caller holds the pool (so concurrent
// callers never wait for each other; results are the same either way).
// The first exception thrown by fn is rethrown in the caller.
void parallel_for(int64_t count, int64_t min_per_thread,
                  const std::function<void(int64_t, int64_t)>& fn);

// Fixed-order pairwise sum of `n` doubles. The order depends only on `n`.
double pairwise_sum(const double* values, int64_t n) noexcept;

}  // namespace losslab

#endif  // LOSSLAB_CORE_PARALLEL_H_
