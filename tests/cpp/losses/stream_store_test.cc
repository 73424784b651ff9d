// Streaming (non-temporal) stores of the elementwise outputs (stream-inl.h:
// StreamWriter), which the kernels use for outputs larger than the L3
// (detail::stream_store_threshold). Oracle: the same call with normal stores
// (threshold above the size), which must give the same bits, at every
// misalignment of the output arrays, for sizes around the vector and block
// lengths, on 1 and 2 threads, on every target. Canaries on both sides of
// each output check that no byte outside the array is written.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "losslab/core/dispatch.h"
#include "losslab/losses/classification.h"
#include "losslab/losses/regression.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

class ScopedStreamThreshold {
 public:
  explicit ScopedStreamThreshold(int64_t bytes)
      : saved_(detail::stream_store_threshold()) {
    detail::set_stream_store_threshold(bytes);
  }
  ~ScopedStreamThreshold() { detail::set_stream_store_threshold(saved_); }

 private:
  int64_t saved_;
};

// An output array of n elements at `offset` elements past a 64-byte aligned
// address, with kGuard canary elements on each side.
template <class T>
struct Guarded {
  static constexpr int64_t kGuard = 32;
  std::vector<T> buf;
  int64_t offset;
  int64_t n;
  Guarded(int64_t n_, int64_t offset_) : offset(offset_), n(n_) {
    buf.assign(size_t(n + 2 * kGuard + 16 + 64), canary());
  }
  static T canary() { return T(-12345.5); }
  T* base() {
    const uintptr_t a = reinterpret_cast<uintptr_t>(buf.data() + kGuard);
    const uintptr_t aligned = (a + 63) & ~uintptr_t(63);
    return reinterpret_cast<T*>(aligned) + offset;
  }
  bool guards_intact() {
    T* p = base();
    T* lo = buf.data();
    T* hi = buf.data() + buf.size();
    for (T* q = lo; q < p; ++q) {
      if (*q != canary()) return false;
    }
    for (T* q = p + n; q < hi; ++q) {
      if (*q != canary()) return false;
    }
    return true;
  }
};

template <class T>
void check_huber(int64_t n, int64_t offset, int threads,
                 const std::string& target) {
  std::vector<T> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    x[size_t(i)] = T(std::sin(0.37 * double(i)) * 3);
    y[size_t(i)] = T(std::cos(0.11 * double(i)));
  }
  auto run = [&](int64_t threshold, Guarded<T>& out, Guarded<T>& grad,
                 Guarded<T>& hess) {
    ScopedStreamThreshold st(threshold);
    return huber_loss(view<T>(x.data(), {n}), view<T>(y.data(), {n}),
                      {.delta = 1.0, .reduction = Reduction::kNone},
                      {.out = mutable_view<T>(out.base(), {n}),
                       .grad_out = mutable_view<T>(grad.base(), {n}),
                       .hess_out = mutable_view<T>(hess.base(), {n})});
  };
  Guarded<T> o0(n, offset), g0(n, offset), h0(n, offset);
  Guarded<T> o1(n, offset), g1(n, (offset + 3) % 16), h1(n, offset);
  testing::ScopedThreads th(threads);
  run(std::numeric_limits<int64_t>::max(), o0, g0, h0);
  run(0, o1, g1, h1);
  const std::string where = target + " n=" + std::to_string(n) +
                            " offset=" + std::to_string(offset) +
                            " threads=" + std::to_string(threads);
  ASSERT_EQ(std::memcmp(o0.base(), o1.base(), size_t(n) * sizeof(T)), 0)
      << where;
  ASSERT_EQ(std::memcmp(g0.base(), g1.base(), size_t(n) * sizeof(T)), 0)
      << where;
  ASSERT_EQ(std::memcmp(h0.base(), h1.base(), size_t(n) * sizeof(T)), 0)
      << where;
  ASSERT_TRUE(o1.guards_intact() && g1.guards_intact() && h1.guards_intact())
      << where;
}

TEST(StreamStores, SameBitsAtEveryAlignmentFloat32) {
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    for (int64_t n : {1, 15, 16, 17, 33, 2048, 2048 * 3 + 5, 2048 * 5 + 16}) {
      for (int64_t offset = 0; offset < 16; ++offset) {
        for (int threads : {1, 2})
          check_huber<float>(n, offset, threads, target);
      }
    }
  }
}

TEST(StreamStores, SameBitsAtEveryAlignmentFloat64) {
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    for (int64_t n : {1, 7, 8, 9, 2048 * 2 + 3}) {
      for (int64_t offset = 0; offset < 8; ++offset) {
        for (int threads : {1, 2}) {
          check_huber<double>(n, offset, threads, target);
        }
      }
    }
  }
}

// BCE with logits, weighted, mean reduction: the gradient streams, the
// value is the reduced sum (unchanged by how the gradient is stored).
TEST(StreamStores, BceWithLogitsWeightedMeanSameBits) {
  const int64_t n = 2048 * 4 + 7;
  std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n)),
      w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    x[size_t(i)] = float(std::sin(0.7 * double(i)) * 20);
    y[size_t(i)] = float(i % 3 == 0);
    w[size_t(i)] = float(1 + i % 5);
  }
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    for (int64_t offset : {0, 1, 4, 15}) {
      Guarded<float> g0(n, offset), g1(n, offset);
      double v0, v1;
      {
        ScopedStreamThreshold st(std::numeric_limits<int64_t>::max());
        v0 = binary_cross_entropy_with_logits(
            view<float>(x.data(), {n}), view<float>(y.data(), {n}),
            {.weight = view<float>(w.data(), {n})},
            {.grad_out = mutable_view<float>(g0.base(), {n})});
      }
      {
        ScopedStreamThreshold st(0);
        v1 = binary_cross_entropy_with_logits(
            view<float>(x.data(), {n}), view<float>(y.data(), {n}),
            {.weight = view<float>(w.data(), {n})},
            {.grad_out = mutable_view<float>(g1.base(), {n})});
      }
      EXPECT_EQ(v0, v1) << target;
      EXPECT_EQ(std::memcmp(g0.base(), g1.base(), size_t(n) * sizeof(float)), 0)
          << target << " offset " << offset;
      EXPECT_TRUE(g1.guards_intact()) << target;
    }
  }
}

}  // namespace
}  // namespace losslab
