// A NaN inside a full SIMD vector (not only in the zero-padded scalar tail)
// must propagate through the embedding distance kernels and the sigmoid focal
// Hessian kernel on every target. Regression test: these kernels tested NaN
// with hn::Ne(x, x), an ordered compare that is false for NaN on x86, so on
// AVX2/AVX-512 the NaN lane became 0 (|x|^p) or +-1 (sign(x)) or a finite
// Hessian. Oracle: IEEE semantics (NaN in, NaN out), the scalar reference.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "src/losses/embedding.h"
#include "src/losses/focal_hessian.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

constexpr int64_t kRow = 64;   // several full vectors on every target
constexpr int64_t kNanAt = 3;  // inside the first vector, far from the tail

template <class T>
std::vector<T> row_with_nan(uint32_t seed) {
  std::vector<T> v = testing::random_vector<T>(kRow, seed);
  v[kNanAt] = std::numeric_limits<T>::quiet_NaN();
  return v;
}

template <class T>
void check_embedding(const std::string& target) {
  const std::vector<T> a = row_with_nan<T>(11);
  const std::vector<T> b = testing::random_vector<T>(kRow, 12);
  for (auto [kind, p] : {std::pair{detail::EmbNorm::kGeneral, T(3)},
                         std::pair{detail::EmbNorm::kGeneral, T(1.5)},
                         std::pair{detail::EmbNorm::kL1, T(1)},
                         std::pair{detail::EmbNorm::kL2, T(2)}}) {
    const std::string what = target + " kind=" + std::to_string(int(kind)) +
                             " p=" + std::to_string(double(p));
    // sum_k phi(a_k - b_k + eps): a NaN term makes the sum NaN.
    EXPECT_TRUE(std::isnan(
        detail::emb_diff_sum(a.data(), b.data(), kRow, T(1e-6), p, kind)))
        << what;
    // d/da_k phi = phi'(x_k): NaN at k = kNanAt only.
    std::vector<T> ga(kRow, T(0)), gb(kRow, T(0));
    detail::emb_diff_grad(a.data(), b.data(), kRow, T(1e-6), p, kind, T(0.5),
                          ga.data(), gb.data());
    for (int64_t k = 0; k < kRow; ++k) {
      EXPECT_EQ(std::isnan(ga[k]), k == kNanAt) << what << " ga at " << k;
      EXPECT_EQ(std::isnan(gb[k]), k == kNanAt) << what << " gb at " << k;
    }
  }
}

TEST(NanSimd, EmbeddingKernelsPropagateNanInsideVector) {
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    check_embedding<float>(target);
    check_embedding<double>(target);
  }
}

template <class T>
void check_focal(const std::string& target,
                 void (*fn)(const detail::FocalHessCall<T>&, int64_t,
                            int64_t)) {
  const std::vector<T> x = row_with_nan<T>(21);
  const std::vector<T> y = testing::random_vector<T>(kRow, 22, 0, 1);
  for (T gamma : {T(0), T(2), T(0.5)}) {
    for (T alpha : {T(-1), T(0.25)}) {
      std::vector<T> h(kRow, T(0));
      fn({.x = x.data(),
          .y = y.data(),
          .w = nullptr,
          .gout = nullptr,
          .hess = h.data(),
          .scale = T(1),
          .alpha = alpha,
          .gamma = gamma},
         0, kRow);
      for (int64_t k = 0; k < kRow; ++k) {
        EXPECT_EQ(std::isnan(h[k]), k == kNanAt)
            << target << " gamma=" << gamma << " alpha=" << alpha << " at "
            << k;
      }
    }
  }
}

TEST(NanSimd, FocalHessianPropagatesNanInsideVector) {
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    check_focal<float>(target, &detail::focal_hess_f32);
    check_focal<double>(target, &detail::focal_hess_f64);
  }
}

}  // namespace
}  // namespace losslab
