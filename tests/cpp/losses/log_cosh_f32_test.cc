// float32 log_cosh_loss (regression-inl.h: polynomials in d^2 for |d| < 1,
// exp / log1p_unit beyond), value, gradient tanh d and Hessian sech^2 d per
// element. Oracle: closed forms in float64 (for |d| < 1: -0.5 log1p(-tanh^2)
// and 1 - tanh^2, which keep relative accuracy down to d = 0; beyond:
// |d| - log 2 + log1p(exp(-2|d|)) and 4 e / (1 + e)^2), on every SIMD
// target and the scalar reference, over every float32 d in [2^-20, 12] at a
// stride of 61, their negatives, and the edges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "losslab/losses/regression.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

struct Ref {
  double l, g, h;
};

Ref closed_form(double d) {
  const double a = std::abs(d), t = std::tanh(a);
  if (a < 1) return {-0.5 * std::log1p(-t * t), std::copysign(t, d), 1 - t * t};
  const double e = std::exp(-2 * a);
  return {a - std::numbers::ln2 + std::log1p(e), std::copysign(t, d),
          4 * e / ((1 + e) * (1 + e))};
}

// Error in float32 ulps of the reference; below the normal range, in units
// of the smallest subnormal (the spacing there).
double ulps(float got, double ref) {
  const double err = std::abs(double(got) - ref);
  if (std::abs(ref) < double(std::numeric_limits<float>::min())) {
    return err / 0x1.0p-149;
  }
  return err / testing::float_ulp_at(std::abs(ref));
}

// Value, gradient and Hessian of log_cosh_loss(d, 0) per element.
void per_element(const std::vector<float>& d, std::vector<float>& l,
                 std::vector<float>& g, std::vector<float>& h) {
  const int64_t n = int64_t(d.size());
  const std::vector<float> zero(d.size(), 0.0f);
  l.assign(d.size(), 0.0f);
  g.assign(d.size(), 0.0f);
  h.assign(d.size(), 0.0f);
  log_cosh_loss(view<float>(d.data(), {n}), view<float>(zero.data(), {n}),
                {.reduction = Reduction::kNone},
                {.out = mutable_view<float>(l.data(), {n}),
                 .grad_out = mutable_view<float>(g.data(), {n}),
                 .hess_out = mutable_view<float>(h.data(), {n})});
}

TEST(LogCoshF32, MaxUlpVsFloat64OnEveryTarget) {
  std::vector<float> d{
      0.0f,       -0.0f,        1.0f,  -1.0f, std::nextafter(1.0f, 0.0f),
      0x1.0p-30f, -0x1.0p-126f, 50.0f, -90.0f};
  const uint32_t lo = testing::bits_of_float(0x1.0p-20f);
  const uint32_t hi = testing::bits_of_float(12.0f);
  for (uint32_t u = lo; u <= hi; u += 61) {
    d.push_back(testing::float_of_bits(u));
    d.push_back(-testing::float_of_bits(u));
  }
  std::vector<float> l, g, h;
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    per_element(d, l, g, h);
    double el = 0, eg = 0, eh = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      const Ref r = closed_form(double(d[i]));
      el = std::max(el, r.l == 0 ? std::abs(double(l[i])) : ulps(l[i], r.l));
      eg = std::max(eg, r.g == 0 ? std::abs(double(g[i])) : ulps(g[i], r.g));
      eh = std::max(eh, ulps(h[i], r.h));
    }
    // Measured 2.03 (l), 2.00 (g) and 4.56 (h) ulp at most. l and g: the
    // polynomials' 0.73 and 1.13 ulp plus the roundings of d^2 and the last
    // multiply, or exp, the reciprocal and log1p_unit at an ulp each. h = 4e
    // (1 + e)^-2: exp's ulp, the reciprocal's twice, and three products.
    EXPECT_LT(el, 3.0) << target;
    EXPECT_LT(eg, 3.0) << target;
    EXPECT_LT(eh, 5.0) << target;
    RecordProperty("max_ulp_l_" + target, std::to_string(el));
    RecordProperty("max_ulp_g_" + target, std::to_string(eg));
    RecordProperty("max_ulp_h_" + target, std::to_string(eh));
  }
}

TEST(LogCoshF32, InfinitiesAndNan) {
  const float inf = std::numeric_limits<float>::infinity();
  // 17 values: a full vector of 16 and a tail lane.
  std::vector<float> d(17, 0.5f);
  d[0] = inf;
  d[1] = -inf;
  d[2] = std::numeric_limits<float>::quiet_NaN();
  d[16] = -inf;
  std::vector<float> l, g, h;
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    per_element(d, l, g, h);
    for (size_t i : {size_t(0), size_t(1), size_t(16)}) {
      EXPECT_EQ(l[i], inf) << target << " " << i;
      EXPECT_EQ(g[i], d[i] > 0 ? 1.0f : -1.0f) << target << " " << i;
      EXPECT_EQ(h[i], 0.0f) << target << " " << i;
    }
    EXPECT_TRUE(std::isnan(l[2]) && std::isnan(g[2]) && std::isnan(h[2]))
        << target;
  }
}

}  // namespace
}  // namespace losslab
