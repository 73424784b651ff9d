// The float32 log1p(e) polynomial on [0, 1] (math-inl.h: Log1pUnit and its
// scalar twin log1p_unit), used for log1p(exp(-|x|)) in BCE with logits,
// pos_weight and sigmoid focal. Oracle: float64 std::log1p (correctly
// rounded to far below a float32 ulp), on every SIMD target and the scalar
// reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "losslab/losses/classification.h"
#include "src/losses/elementwise.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

// Inputs: every float32 in [0.5, 1] at a stride of 5 (1.7M values), every
// binade below it down to the smallest subnormal at a stride of 2^10 + 1,
// and 0.
std::vector<float> unit_grid() {
  std::vector<float> v{0.0f, 1.0f};
  const uint32_t half = testing::bits_of_float(0.5f);
  const uint32_t one = testing::bits_of_float(1.0f);
  for (uint32_t u = half; u < one; u += 5)
    v.push_back(testing::float_of_bits(u));
  for (uint32_t u = 1; u < half; u += 1025)
    v.push_back(testing::float_of_bits(u));
  return v;
}

// Max error of the polynomial, in float32 ulps of the float64 result and
// relative: measured 1.47 ulp / 1.26e-7 with FMA (AVX2, AVX-512 and the
// scalar twin through std::fma); targets without FMA round each Horner step
// twice and stay below 2.5 ulp. Highway's Log1p documents 2 ulp.
TEST(Log1pUnit, MaxUlpVsFloat64OnEveryTarget) {
  const std::vector<float> e = unit_grid();
  const int64_t n = int64_t(e.size());
  std::vector<float> out(e.size());
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    detail::log1p_unit_f32(e.data(), out.data(), n);
    double max_ulp = 0, max_rel = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      const double ref = std::log1p(double(e[i]));
      if (ref == 0) {
        ASSERT_EQ(out[i], 0.0f) << target;
        continue;
      }
      max_ulp = std::max(
          max_ulp, std::abs(double(out[i]) - ref) / testing::float_ulp_at(ref));
      max_rel = std::max(max_rel, std::abs(double(out[i]) - ref) / ref);
    }
    EXPECT_LT(max_ulp, 2.5) << target;
    EXPECT_LT(max_rel, 2.5e-7) << target;
    RecordProperty("max_ulp_" + target, std::to_string(max_ulp));
  }
}

TEST(Log1pUnit, NanStaysNan) {
  const float e[3] = {std::nanf(""), 0.25f, 1.0f};
  float out[3];
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    detail::log1p_unit_f32(e, out, 3);
    EXPECT_TRUE(std::isnan(out[0])) << target;
    EXPECT_NEAR(out[2], std::log1p(1.0), 2e-7) << target;
  }
}

// Through the loss: BCE with logits at y = 1 is log1p(exp(-x)) for x >= 0,
// the case where the loss is tiny and only relative accuracy counts (at
// x = 80 it is 1.8e-35). Oracle: float64 log1p(exp(-x)) on the float32 x.
// The bound adds the vector exp's error (a few ulp of e, which log1p(e) ~ e
// passes on) to the polynomial's.
TEST(Log1pUnit, BceWithLogitsRelativeErrorVsFloat64) {
  const int64_t n = 4001;
  std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n), 1.f),
      out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[size_t(i)] = float(i) * 0.02f;  // [0, 80]
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    binary_cross_entropy_with_logits(
        view<float>(x.data(), {n}), view<float>(y.data(), {n}),
        {.reduction = Reduction::kNone},
        {.out = mutable_view<float>(out.data(), {n})});
    double max_rel = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double ref = std::log1p(std::exp(-double(x[size_t(i)])));
      max_rel = std::max(max_rel, std::abs(double(out[size_t(i)]) - ref) / ref);
    }
    EXPECT_LT(max_rel, 1e-6) << target;
  }
}

}  // namespace
}  // namespace losslab
