#include "losslab/core/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include "losslab/core/error.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

TEST(ParallelFor, CoversEveryIndexOnce) {
  testing::ScopedThreads threads(2);
  for (int64_t n : {1, 2, 3, 100, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    });
    for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  }
}

TEST(ParallelFor, PropagatesExceptions) {
  testing::ScopedThreads threads(2);
  EXPECT_THROW(parallel_for(100, 1,
                            [](int64_t b, int64_t) {
                              if (b > 0) throw std::runtime_error("boom");
                            }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int64_t> sum{0};
  parallel_for(100, 1, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum.load(), 100);
}

TEST(ParallelFor, ConcurrentCallersAreSafe) {
  testing::ScopedThreads threads(2);
  std::vector<std::thread> callers;
  std::atomic<int64_t> total{0};
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep) {
        parallel_for(64, 1, [&](int64_t b, int64_t e) { total += e - b; });
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(total.load(), 8 * 50 * 64);
}

TEST(SetNumThreads, RejectsNegative) {
  EXPECT_THROW(set_num_threads(-1), Error);
}

TEST(PairwiseSum, MatchesExactSumOfIntegers) {
  std::vector<double> v(1000);
  std::iota(v.begin(), v.end(), 1.0);
  EXPECT_EQ(pairwise_sum(v.data(), int64_t(v.size())), 500500.0);
  EXPECT_EQ(pairwise_sum(v.data(), 0), 0.0);
}

}  // namespace
}  // namespace losslab
