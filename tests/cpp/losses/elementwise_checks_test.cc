// The SIMD elementwise driver's input checks (src/losses/elementwise-inl.h).
// Its main loop only sums y (and x under nan_policy="raise") and, for
// targets in [0, 1], keeps their minimum and maximum per block of 2048; a
// block whose sum is not finite or whose range leaves [0, 1] is rescanned
// with the exact checks. Oracle: the definition of each flag (std::isfinite,
// 0 <= y <= 1), with one bad value placed in the first block, at both sides
// of a block boundary, in a later block's main loop and in the padded tail,
// on every SIMD target; and finite values whose sum overflows, or that sit
// on the interval's ends, raise nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/losses/classification.h"
#include "losslab/losses/regression.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

using testing::error_of;

// Three full blocks and 37 elements: the last block's main loop ends at
// 6176 and its last 5 elements run through the padded tail.
constexpr int64_t kN = 3 * 2048 + 37;
constexpr int64_t kPositions[] = {0, 5, 2047, 2048, 4100, 6150, 6179};

TEST(ElementwiseChecks, BadValueAnywhereIsFoundOnEveryTarget) {
  const float inf = std::numeric_limits<float>::infinity();
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    for (int64_t p : kPositions) {
      const std::string at = " at index " + std::to_string(p);
      std::vector<float> x(size_t(kN), 0.5f), y(size_t(kN), 0.5f);
      const View xv = view<float>(x.data(), {kN}),
                 yv = view<float>(y.data(), {kN});
      auto bce = [&] {
        return error_of([&] { binary_cross_entropy_with_logits(xv, yv); });
      };
      y[size_t(p)] = std::nanf("");
      EXPECT_NE(bce().find("target contains nan" + at), std::string::npos)
          << target << " " << p << ": " << bce();
      y[size_t(p)] = inf;
      EXPECT_NE(bce().find("target contains inf" + at), std::string::npos)
          << target << " " << p << ": " << bce();
      y[size_t(p)] = 1.5f;
      EXPECT_NE(bce().find("got 1.5" + at), std::string::npos)
          << target << " " << p << ": " << bce();
      y[size_t(p)] = -0.25f;
      EXPECT_NE(bce().find("got -0.25" + at), std::string::npos)
          << target << " " << p << ": " << bce();
      y[size_t(p)] = 0.5f;
      EXPECT_EQ(bce(), "") << target << " " << p;

      // No target range: only finiteness.
      y[size_t(p)] = -inf;
      EXPECT_NE(
          error_of([&] { mse_loss(xv, yv); }).find("target contains -inf" + at),
          std::string::npos)
          << target << " " << p;
      y[size_t(p)] = 0.5f;
      // The input, under nan_policy="raise".
      x[size_t(p)] = inf;
      EXPECT_NE(error_of([&] {
                  mse_loss(xv, yv, {.nan_policy = NanPolicy::kRaise});
                }).find("input contains inf" + at),
                std::string::npos)
          << target << " " << p;
      EXPECT_EQ(error_of([&] { mse_loss(xv, yv); }), "") << target << " " << p;
    }
  }
}

TEST(ElementwiseChecks, OverflowingSumsAndIntervalEndsAreAccepted) {
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    // Sums of 3e38 overflow to inf in every block: the rescan finds no bad
    // element, so no error; the loss of x = y is 0.
    std::vector<float> big(size_t(kN), 3e38f);
    const View bv = view<float>(big.data(), {kN});
    double v = -1;
    EXPECT_EQ(error_of([&] {
                v = mse_loss(bv, bv, {.nan_policy = NanPolicy::kRaise});
              }),
              "")
        << target;
    EXPECT_EQ(v, 0.0) << target;
    // Targets exactly 0, -0 and 1 are inside [0, 1].
    std::vector<float> x(size_t(kN), 1.f), y(size_t(kN), 0.f);
    for (int64_t i = 0; i < kN; ++i) {
      y[size_t(i)] = i % 3 == 0 ? 0.f : (i % 3 == 1 ? -0.f : 1.f);
    }
    EXPECT_EQ(error_of([&] {
                binary_cross_entropy_with_logits(view<float>(x.data(), {kN}),
                                                 view<float>(y.data(), {kN}));
                sigmoid_focal_loss(view<float>(x.data(), {kN}),
                                   view<float>(y.data(), {kN}));
              }),
              "")
        << target;
  }
}

}  // namespace
}  // namespace losslab
