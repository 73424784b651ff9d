// Segmentation losses: closed-form values computed here in double (the
// oracle of each test is named in its comment), central-difference
// gradients, the scalar twins against every SIMD target, thread-count
// determinism and bad input. PyTorch-formula comparisons live in
// tests/python/test_segmentation.py.
#include "losslab/losses/segmentation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;

using testing::error_of;

enum class K { kDice, kJaccard, kTversky };

template <class T>
double run(K k, const std::vector<T>& x, Shape xs, View t, SegMode mode,
           T* grad = nullptr, int64_t ignore = -100, double gamma = 1.0) {
  const View xv = view<T>(x.data(), xs);
  const LossOutputs o{.grad_out =
                          grad ? mutable_view<T>(grad, xs) : MutableView{}};
  switch (k) {
    case K::kDice:
      return dice_loss(xv, t, {.mode = mode, .ignore_index = ignore}, o);
    case K::kJaccard:
      return jaccard_loss(xv, t, {.mode = mode, .ignore_index = ignore}, o);
    case K::kTversky:
      return tversky_loss(xv, t,
                          {.mode = mode,
                           .ignore_index = ignore,
                           .alpha = 0.3,
                           .beta = 0.7,
                           .gamma = gamma},
                          o);
  }
  return 0;
}

// Oracle: soft Dice written out in double for one class over the batch.
TEST(Segmentation, DiceClosedFormBinaryProbabilities) {
  const std::vector<double> p = {0.9, 0.2, 0.6, 0.0};
  const std::vector<int64_t> t = {1, 0, 1, 1};
  const double I = 0.9 + 0.6, P = 1.7, T = 3.0;
  const double want = 1.0 - (2 * I + 1.0) / (P + T + 1.0);
  const double got = dice_loss(
      view<double>(p.data(), {2, 1, 2}), view<int64_t>(t.data(), {2, 2}),
      {.mode = SegMode::kBinary, .from_logits = false});
  EXPECT_NEAR(got, want, 1e-15);
  const double jw = 1.0 - (I + 1.0) / (P + T - I + 1.0);
  EXPECT_NEAR(jaccard_loss(view<double>(p.data(), {2, 1, 2}),
                           view<int64_t>(t.data(), {2, 2}),
                           {.mode = SegMode::kBinary, .from_logits = false}),
              jw, 1e-15);
}

// Oracle: central differences of the loss itself.
TEST(Segmentation, GradientMatchesCentralDifferences) {
  for (K k : {K::kDice, K::kJaccard, K::kTversky}) {
    for (SegMode mode : {SegMode::kMulticlass, SegMode::kBinary}) {
      for (double gamma : {1.0, 0.75, 2.0}) {
        if (k != K::kTversky && gamma != 1.0) continue;
        const int64_t C = mode == SegMode::kBinary ? 1 : 3;
        const Shape xs{2, C, 3, 5};
        const auto x = random_vector<double>(2 * C * 15, 7);
        std::vector<int64_t> lab(30);
        for (size_t i = 0; i < lab.size(); ++i) {
          lab[i] = int64_t((i * 7) % (mode == SegMode::kBinary ? 2 : 3));
        }
        lab[4] = 99;  // ignored
        const View t = view<int64_t>(lab.data(), {2, 3, 5});
        std::vector<double> g(x.size());
        run(k, x, xs, t, mode, g.data(), 99, gamma);
        const auto num = numeric_gradient(
            [&](const std::vector<double>& v) {
              return run<double>(k, v, xs, t, mode, nullptr, 99, gamma);
            },
            x);
        EXPECT_LT(rel_error(g, num), 1e-7) << int(k) << " " << int(mode);
      }
    }
  }
}

// Oracle: the scalar twin; every SIMD target within 1e-5 (exp paths) and
// bitwise at 1 vs 2 threads. Spatial sizes cross vector tails and blocks.
TEST(Segmentation, SimdTargetsMatchScalarTwinAndThreads) {
  for (int64_t S : {1, 5, 16, 17, 2047, 2049, 5000}) {
    for (SegMode mode : {SegMode::kMulticlass, SegMode::kMultilabel}) {
      const int64_t C = 3, N = 2;
      const auto x = random_vector<float>(N * C * S, uint32_t(S));
      std::vector<float> mask(size_t(N * C * S));
      for (size_t i = 0; i < mask.size(); ++i)
        mask[i] = float((i * 5) % 3 == 0);
      const View t = view<float>(mask.data(), {N, C, S});
      std::vector<float> gref(x.size()), g(x.size());
      double ref;
      {
        testing::ScopedTarget st("scalar");
        ref = run(K::kDice, x, {N, C, S}, t, mode, gref.data());
      }
      for (const auto& target : testing::all_targets()) {
        testing::ScopedTarget st(target);
        const double v = run(K::kDice, x, {N, C, S}, t, mode, g.data());
        EXPECT_NEAR(v, ref, 1e-5 * (std::abs(ref) + 1e-3)) << target;
        for (size_t i = 0; i < g.size(); ++i) {
          ASSERT_NEAR(g[i], gref[i], 1e-5 * std::abs(gref[i]) + 1e-9)
              << target << " S=" << S << " i=" << i;
        }
        std::vector<float> g1(x.size()), g2(x.size());
        double v1, v2;
        {
          testing::ScopedThreads th(1);
          v1 = run(K::kJaccard, x, {N, C, S}, t, mode, g1.data());
        }
        {
          testing::ScopedThreads th(2);
          v2 = run(K::kJaccard, x, {N, C, S}, t, mode, g2.data());
        }
        EXPECT_EQ(v1, v2);
        EXPECT_EQ(g1, g2);
      }
    }
  }
}

// Oracle: smooth > 0 and an empty prediction on an empty target: score 1.
TEST(Segmentation, EmptyMasksGiveZeroAndFiniteGradient) {
  const std::vector<double> p(8, 0.0), t(8, 0.0);
  std::vector<double> g(8);
  const double v = tversky_loss(
      view<double>(p.data(), {2, 2, 2}), view<double>(t.data(), {2, 2, 2}),
      {.mode = SegMode::kMultilabel, .from_logits = false, .gamma = 0.5},
      {.grad_out = mutable_view<double>(g.data(), {2, 2, 2})});
  EXPECT_EQ(v, 0.0);
  for (double x : g) EXPECT_TRUE(std::isfinite(x));
}

TEST(Segmentation, BadInputErrors) {
  const std::vector<double> x(12, 0.1);
  const std::vector<int64_t> t = {0, 1, 2, 3};
  const View xv = view<double>(x.data(), {2, 3, 2});
  EXPECT_NE(error_of([&] {
              dice_loss(xv, view<int64_t>(t.data(), {2, 2}));
            }).find("class 3"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_seg_mode("foo", "dice_loss"); }).find("foo"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              dice_loss(xv, view<int64_t>(t.data(), {4}));
            }).find("target shape"),
            std::string::npos);
  const std::vector<double> w = {1, 1};
  EXPECT_NE(error_of([&] {
              dice_loss(xv, view<int64_t>(t.data(), {2, 2}),
                        {.class_weights = view<double>(w.data(), {2})});
            }).find("class_weights shape"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              dice_loss(xv, view<int64_t>(t.data(), {2, 2}), {.smooth = -1});
            }).find("smooth"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              tversky_loss(xv, view<int64_t>(t.data(), {2, 2}), {.gamma = 0});
            }).find("gamma"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              tversky_loss(xv, view<int64_t>(t.data(), {2, 2}), {.alpha = -1});
            }).find("alpha"),
            std::string::npos);
}

// Oracle: counts by hand; empty-vs-empty is 1.0.
TEST(Segmentation, OverlapScores) {
  const std::vector<int64_t> p = {0, 1, 1, 2}, t = {0, 1, 2, 2};
  std::vector<double> per(4);
  const double m =
      dice_score(view<int64_t>(p.data(), {4}), view<int64_t>(t.data(), {4}),
                 {.num_classes = 4}, mutable_view<double>(per.data(), {4}));
  EXPECT_DOUBLE_EQ(per[0], 1.0);
  EXPECT_DOUBLE_EQ(per[1], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(per[2], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(per[3], 1.0);
  EXPECT_DOUBLE_EQ(m, (2.0 + 4.0 / 3.0) / 4.0);
}

}  // namespace
}  // namespace losslab
