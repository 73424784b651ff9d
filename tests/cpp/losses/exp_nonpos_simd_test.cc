// The float32 vector exp of x <= 0 (math-inl.h: ExpNonPos), used for
// exp(-|x|) in BCE with logits and sigmoid focal and for exp(z - max) in the
// softmax rows; on AVX-512 it applies 2^q with VSCALEFPS. Oracle: float64
// std::exp of the float32 input (correctly rounded far below a float32 ulp),
// on every SIMD target and the scalar reference (std::exp in float32).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "src/losses/elementwise.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

// Every float32 in [-104, 0] at a stride of 97 bits (about 11M values), plus
// the edges: 0, -0, the largest arguments whose result is a normal float, the
// subnormal range and the arguments that round to 0.
std::vector<float> nonpos_grid() {
  std::vector<float> v{0.0f,    -0.0f,       -87.3f,    -87.33654f, -88.0f,
                       -100.0f, -103.27893f, -103.972f, -104.0f};
  const uint32_t stop = testing::bits_of_float(-104.0f);
  for (uint32_t u = 0x80000000u; u <= stop; u += 97) {
    v.push_back(testing::float_of_bits(u));
  }
  return v;
}

// Max error of out[i] against float64 exp(x[i]): in float32 ulps of the
// result where it is normal, and in units of the smallest subnormal (2^-149)
// below. Results beyond the largest float must be +inf.
struct ExpError {
  double ulp = 0, sub = 0;
};
ExpError exp_error(const std::vector<float>& x, const std::vector<float>& out,
                   const std::string& target) {
  ExpError e;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = std::exp(double(x[i]));
    if (ref > double(std::numeric_limits<float>::max())) {
      EXPECT_EQ(out[i], std::numeric_limits<float>::infinity())
          << target << " x=" << x[i];
      continue;
    }
    const double err = std::abs(double(out[i]) - ref);
    if (ref >= double(std::numeric_limits<float>::min())) {
      e.ulp = std::max(e.ulp, err / testing::float_ulp_at(ref));
    } else {
      e.sub = std::max(e.sub, err / 0x1.0p-149);
    }
  }
  return e;
}

// Highway documents 1 ulp for its Exp, whose reduction and polynomial
// ExpNonPos shares on the other targets.
TEST(ExpNonPos, MaxUlpVsFloat64OnEveryTarget) {
  const std::vector<float> x = nonpos_grid();
  std::vector<float> out(x.size());
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    detail::exp_nonpos_f32(x.data(), out.data(), int64_t(x.size()));
    const ExpError e = exp_error(x, out, target);
    EXPECT_LT(e.ulp, 2.0) << target;
    // Below the normal range the result is rounded once to a subnormal
    // (VSCALEFPS) or through Highway's two multiplies: within one unit.
    EXPECT_LE(e.sub, 1.0) << target;
    RecordProperty("max_ulp_" + target, std::to_string(e.ulp));
  }
}

TEST(ExpNonPos, EdgesNanAndMinusInfinity) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // 17 values, so that a full vector of 16 and the scalar tail both see NaN.
  std::vector<float> x(17, -1.0f);
  x[0] = nan;
  x[3] = -inf;
  x[5] = 0.0f;
  x[7] = -1e30f;
  x[16] = nan;
  std::vector<float> out(x.size());
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    detail::exp_nonpos_f32(x.data(), out.data(), int64_t(x.size()));
    EXPECT_TRUE(std::isnan(out[0])) << target;
    EXPECT_TRUE(std::isnan(out[16])) << target;
    EXPECT_EQ(out[3], 0.0f) << target;
    EXPECT_EQ(out[5], 1.0f) << target;
    EXPECT_EQ(out[7], 0.0f) << target;
    EXPECT_NEAR(out[1], std::exp(-1.0), 1e-7) << target;
  }
}

// ExpIeee (Poisson NLL with log_input, KL with log_target): exp of every
// float32, through the same table exp on AVX-512 for x <= 89. Oracle: float64
// std::exp; above log(FLT_MAX) the result is +inf and -inf gives 0. (A NaN
// lane's value is left to the callers, which select NaN themselves.) Every
// float32 in [-104, 89] at a stride of 97 bits.
TEST(ExpIeee, MaxUlpVsFloat64AndEdgesOnEveryTarget) {
  std::vector<float> x = nonpos_grid();
  const uint32_t top = testing::bits_of_float(89.0f);
  for (uint32_t u = 0; u <= top; u += 97) {
    x.push_back(testing::float_of_bits(u));
  }
  const float inf = std::numeric_limits<float>::infinity();
  x.insert(x.end(), {88.72283f, 88.7229f, 89.0f, 100.0f, 1e30f, inf, -inf,
                     -1e30f, 88.7f, -0.0f, 1e-30f});
  std::vector<float> out(x.size());
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    detail::exp_ieee_f32(x.data(), out.data(), int64_t(x.size()));
    const ExpError e = exp_error(x, out, target);
    EXPECT_LT(e.ulp, 2.0) << target;
    EXPECT_LE(e.sub, 1.0) << target;
    RecordProperty("max_ulp_" + target, std::to_string(e.ulp));
  }
}

}  // namespace
}  // namespace losslab
