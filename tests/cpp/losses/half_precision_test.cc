// float16 / bfloat16 inputs of the elementwise losses. Oracles: the
// conversions against the compiler's own _Float16 (IEEE binary16, round to
// nearest even) and a written-out bfloat16 rounding; the losses against the
// float32 path on the widened inputs (the documented contract: widen, compute
// in float32, round the outputs) and against float64 formulas within the
// half format's rounding; scalar twin vs every SIMD target; 1 vs 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/losses/classification.h"
#include "losslab/losses/regression.h"
#include "src/losses/elementwise.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

using detail::bf16_to_f32;
using detail::f16_to_f32;
using detail::f32_to_bf16;
using detail::f32_to_f16;

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// ---------------------------------------------------------------------------
// Conversions.

TEST(HalfPrecisionConvert, F16WidenMatchesFloat16Exhaustive) {
  for (uint32_t h = 0; h < 65536; ++h) {
    _Float16 ref;
    const uint16_t b = uint16_t(h);
    std::memcpy(&ref, &b, 2);
    const float got = f16_to_f32(b);
    if (std::isnan(float(ref))) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      EXPECT_EQ(to_bits(got), to_bits(float(ref))) << h;
    }
  }
}

TEST(HalfPrecisionConvert, F16NarrowMatchesFloat16RoundToNearestEven) {
  // Every float16 value, the midpoints between neighbours (ties to even) and
  // points just beside them, plus random float32 values over the full range.
  std::vector<float> xs;
  for (uint32_t h = 0; h < 0x7C00; ++h) {
    const float a = f16_to_f32(uint16_t(h));
    const float b = f16_to_f32(uint16_t(h + 1));
    const float mid = float((double(a) + double(b)) / 2.0);
    for (float v :
         {a, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
      xs.push_back(v);
      xs.push_back(-v);
    }
  }
  const auto r = testing::random_vector<float>(20000, 7, -7e4, 7e4);
  xs.insert(xs.end(), r.begin(), r.end());
  for (float v : {65504.0f, 65519.0f, 65520.0f, 1e6f,
                  std::numeric_limits<float>::infinity(), 1e-8f, 3e-8f,
                  5.9604645e-8f, 2.98e-8f}) {
    xs.push_back(v);
    xs.push_back(-v);
  }
  for (float v : xs) {
    const _Float16 ref = static_cast<_Float16>(v);
    uint16_t rb;
    std::memcpy(&rb, &ref, 2);
    EXPECT_EQ(f32_to_f16(v), rb) << v;
  }
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::nanf("")))));
}

TEST(HalfPrecisionConvert, Bf16RoundTripAndTiesToEven) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(uint16_t(h));
    EXPECT_EQ(to_bits(f), h << 16);
    if (!std::isnan(f)) {
      EXPECT_EQ(f32_to_bf16(f), uint16_t(h)) << h;
    } else {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
    }
  }
  // 1 + 2^-8 is the midpoint of 1 and 1 + 2^-7: ties to even (1).
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(std::nextafter(1.0f + 0x1p-8f, 2.0f)), 0x3F81);
  // 1 + 3 * 2^-8: midpoint of 0x3F81 and 0x3F82 -> even 0x3F82.
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3F82);
  // Large values round to Inf like torch (max bf16 is 0x7F7F).
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7FFFFFu)), 0x7F80);
}

// ---------------------------------------------------------------------------
// Losses.

enum class Half { kBf16, kF16 };

DType dtype_of(Half h) {
  return h == Half::kBf16 ? DType::kBFloat16 : DType::kFloat16;
}
uint16_t narrow(Half h, float f) {
  return h == Half::kBf16 ? f32_to_bf16(f) : f32_to_f16(f);
}
float widen(Half h, uint16_t b) {
  return h == Half::kBf16 ? bf16_to_f32(b) : f16_to_f32(b);
}

using LossCall =
    std::function<double(View, View, View, Reduction, const LossOutputs&)>;

struct HalfCase {
  std::string name;
  LossCall call;
  double x_lo, x_hi;
  enum { kReal, kProb, kBinary, kSign } target;
};

std::vector<HalfCase> half_cases() {
  std::vector<HalfCase> c;
  c.push_back({"mse",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return mse_loss(x, y, {.weight = w, .reduction = r}, o);
               },
               -3, 3, HalfCase::kReal});
  c.push_back({"l1",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return l1_loss(x, y, {.weight = w, .reduction = r}, o);
               },
               -3, 3, HalfCase::kReal});
  c.push_back({"huber",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return huber_loss(
                     x, y, {.delta = 0.7, .weight = w, .reduction = r}, o);
               },
               -3, 3, HalfCase::kReal});
  c.push_back({"smooth_l1",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return smooth_l1_loss(
                     x, y, {.beta = 0.5, .weight = w, .reduction = r}, o);
               },
               -3, 3, HalfCase::kReal});
  c.push_back({"quantile",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return quantile_loss(
                     x, y, {.quantile = {0.8}, .weight = w, .reduction = r}, o);
               },
               -3, 3, HalfCase::kReal});
  c.push_back({"log_cosh",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return log_cosh_loss(x, y, {.weight = w, .reduction = r}, o);
               },
               -3, 3, HalfCase::kReal});
  c.push_back({"pseudo_huber",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return pseudo_huber_loss(
                     x, y, {.delta = 1.5, .weight = w, .reduction = r}, o);
               },
               -3, 3, HalfCase::kReal});
  c.push_back({"poisson_nll",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return poisson_nll_loss(x, y, {.weight = w, .reduction = r},
                                         o);
               },
               -3, 3, HalfCase::kReal});
  c.push_back({"bce_with_logits",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return binary_cross_entropy_with_logits(
                     x, y, {.weight = w, .reduction = r}, o);
               },
               -8, 8, HalfCase::kProb});
  c.push_back({"bce",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return binary_cross_entropy(x, y,
                                             {.weight = w, .reduction = r}, o);
               },
               0.01, 0.99, HalfCase::kProb});
  c.push_back({"hinge",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return hinge_loss(x, y, {.weight = w, .reduction = r}, o);
               },
               -3, 3, HalfCase::kSign});
  c.push_back({"sigmoid_focal",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return sigmoid_focal_loss(x, y, {.weight = w, .reduction = r},
                                           o);
               },
               -8, 8, HalfCase::kBinary});
  return c;
}

// Inputs of one case in a half format, and their widened float32 copies.
struct HalfData {
  std::vector<uint16_t> x, y, w;
  std::vector<float> xf, yf, wf;
};

HalfData make_data(const HalfCase& c, Half h, int64_t n, uint32_t seed) {
  HalfData d;
  const auto xs = testing::random_vector<float>(n, seed, c.x_lo, c.x_hi);
  auto ys = testing::random_vector<float>(n, seed + 1, -3, 3);
  const auto ws = testing::random_vector<float>(n, seed + 2, 0.0, 2.0);
  for (int64_t i = 0; i < n; ++i) {
    float y = ys[size_t(i)];
    if (c.target == HalfCase::kProb) y = (y + 3.0f) / 6.0f;
    if (c.target == HalfCase::kBinary) y = y > 0 ? 1.0f : 0.0f;
    if (c.target == HalfCase::kSign) y = y > 0 ? 1.0f : -1.0f;
    d.x.push_back(narrow(h, xs[size_t(i)]));
    d.y.push_back(narrow(h, y));
    d.w.push_back(narrow(h, ws[size_t(i)]));
    d.xf.push_back(widen(h, d.x.back()));
    d.yf.push_back(widen(h, d.y.back()));
    d.wf.push_back(widen(h, d.w.back()));
  }
  return d;
}

View hview(const std::vector<uint16_t>& v, Half h) {
  return View{v.data(), dtype_of(h), Shape{int64_t(v.size())}, {}};
}
MutableView hmut(std::vector<uint16_t>& v, Half h) {
  return MutableView{v.data(), dtype_of(h), Shape{int64_t(v.size())}, {}};
}

// Half results of one call: value, per-element out ("none"), the gradient in
// the half dtype and in float32.
struct HalfResult {
  double value;
  std::vector<uint16_t> grad_h;
  std::vector<float> grad_f;
};

HalfResult run_half(const HalfCase& c, const HalfData& d, Half h, bool weighted,
                    Reduction r) {
  const int64_t n = int64_t(d.x.size());
  HalfResult res;
  res.grad_h.assign(size_t(n), 0);
  res.grad_f.assign(size_t(n), 0.0f);
  std::vector<uint16_t> out(static_cast<size_t>(n));
  const View w = weighted ? hview(d.w, h) : View{};
  LossOutputs o;
  o.grad_out = hmut(res.grad_h, h);
  if (r == Reduction::kNone) o.out = hmut(out, h);
  res.value = c.call(hview(d.x, h), hview(d.y, h), w, r, o);
  LossOutputs of;
  of.grad_out = mutable_view<float>(res.grad_f.data(), Shape{n});
  std::vector<float> outf(static_cast<size_t>(n));
  if (r == Reduction::kNone) {
    of.out = mutable_view<float>(outf.data(), Shape{n});
  }
  const double v2 = c.call(hview(d.x, h), hview(d.y, h), w, r, of);
  EXPECT_EQ(res.value, v2) << c.name;
  if (r == Reduction::kNone) {
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(out[size_t(i)], narrow(h, outf[size_t(i)])) << c.name << i;
    }
  }
  return res;
}

class HalfLossTest : public ::testing::TestWithParam<Half> {};

// The contract: a half input gives exactly the float32 result on its widened
// values (value rounded to float32, gradient rounded to the half dtype), on
// every target, at every size that hits a tail or block edge.
TEST_P(HalfLossTest, EqualsFloat32OnWidenedInputsOnEveryTarget) {
  const Half h = GetParam();
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget st(target);
    for (const HalfCase& c : half_cases()) {
      for (int64_t n : {1, 7, 16, 17, 2047, 2049, 5000}) {
        const HalfData d = make_data(c, h, n, uint32_t(n) * 3u);
        for (bool weighted : {false, true}) {
          for (Reduction r :
               {Reduction::kMean, Reduction::kSum, Reduction::kNone}) {
            const HalfResult hr = run_half(c, d, h, weighted, r);
            std::vector<float> g32(static_cast<size_t>(n));
            LossOutputs o;
            o.grad_out = mutable_view<float>(g32.data(), Shape{n});
            std::vector<float> out32(static_cast<size_t>(n));
            if (r == Reduction::kNone) {
              o.out = mutable_view<float>(out32.data(), Shape{n});
            }
            const View w =
                weighted ? view<float>(d.wf.data(), Shape{n}) : View{};
            const double v32 =
                c.call(view<float>(d.xf.data(), Shape{n}),
                       view<float>(d.yf.data(), Shape{n}), w, r, o);
            if (r != Reduction::kNone) {
              ASSERT_EQ(hr.value, v32) << c.name << " " << target << " n=" << n;
            }
            for (int64_t i = 0; i < n; ++i) {
              ASSERT_EQ(to_bits(hr.grad_f[size_t(i)]), to_bits(g32[size_t(i)]))
                  << c.name << " " << target << " n=" << n << " i=" << i;
              ASSERT_EQ(hr.grad_h[size_t(i)], narrow(h, g32[size_t(i)]))
                  << c.name << " " << target << " n=" << n << " i=" << i;
            }
          }
        }
      }
    }
  }
}

// Scalar twin vs each SIMD target on half input: exact for the piecewise
// polynomial losses; the transcendental ones (vector exp/log vs std::) within
// a few float32 ULPs, which the half rounding of the gradient absorbs except
// at rounding boundaries (one half ULP).
TEST_P(HalfLossTest, ScalarTwinVsSimdTargets) {
  const Half h = GetParam();
  const double half_ulp = h == Half::kBf16 ? 0x1p-7 : 0x1p-10;
  const double sub = h == Half::kBf16 ? 0.0 : 0x1p-24;  // fp16 subnormal step
  const auto targets = testing::all_targets();
  for (const HalfCase& c : half_cases()) {
    const int64_t n = 4099;
    const HalfData d = make_data(c, h, n, 11);
    HalfResult ref;
    {
      testing::ScopedTarget st("scalar");
      ref = run_half(c, d, h, true, Reduction::kMean);
    }
    // Terms that cancel (poisson: exp(x) - y) make the error relative to the
    // largest gradient, not to each element.
    double gmax = 0.0;
    for (float v : ref.grad_f) gmax = std::max(gmax, double(std::abs(v)));
    for (const std::string& target : targets) {
      testing::ScopedTarget st(target);
      const HalfResult got = run_half(c, d, h, true, Reduction::kMean);
      EXPECT_NEAR(got.value, ref.value, 1e-5 * std::abs(ref.value) + 1e-30)
          << c.name << " " << target;
      for (int64_t i = 0; i < n; ++i) {
        const double a = got.grad_f[size_t(i)], b = ref.grad_f[size_t(i)];
        ASSERT_NEAR(a, b, 1e-5 * std::abs(b) + 1e-6 * gmax)
            << c.name << " " << target << " i=" << i;
        const double ah = widen(h, got.grad_h[size_t(i)]);
        const double bh = widen(h, ref.grad_h[size_t(i)]);
        ASSERT_NEAR(ah, bh, half_ulp * std::abs(bh) + sub + 1e-6 * gmax)
            << c.name << " " << target << " i=" << i;
      }
    }
  }
}

TEST_P(HalfLossTest, BitwiseIdenticalAtOneAndTwoThreads) {
  const Half h = GetParam();
  for (const HalfCase& c : half_cases()) {
    const HalfData d = make_data(c, h, 100003, 5);
    HalfResult r1, r2;
    {
      testing::ScopedThreads t(1);
      r1 = run_half(c, d, h, true, Reduction::kMean);
    }
    {
      testing::ScopedThreads t(2);
      r2 = run_half(c, d, h, true, Reduction::kMean);
    }
    EXPECT_EQ(r1.value, r2.value) << c.name;
    EXPECT_EQ(r1.grad_h, r2.grad_h) << c.name;
    EXPECT_EQ(0, std::memcmp(r1.grad_f.data(), r2.grad_f.data(),
                             r1.grad_f.size() * 4))
        << c.name;
  }
}

// Against float64 formulas on the half inputs: MSE value and gradient within
// float32 accumulation error; the half gradient within one half rounding.
TEST_P(HalfLossTest, MseAgainstFloat64Formula) {
  const Half h = GetParam();
  const HalfCase c = half_cases()[0];
  const int64_t n = 3001;
  const HalfData d = make_data(c, h, n, 21);
  const HalfResult r = run_half(c, d, h, false, Reduction::kMean);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = double(d.xf[size_t(i)]) - double(d.yf[size_t(i)]);
    sum += e * e;
    const double g = 2.0 * e / double(n);
    EXPECT_NEAR(r.grad_f[size_t(i)], g, 1e-6 * std::abs(g) + 1e-12);
    const double gh = widen(h, r.grad_h[size_t(i)]);
    // One rounding: half a unit in the last place (fp16: half the subnormal
    // step 2^-24 below 2^-14).
    EXPECT_NEAR(gh, g,
                (h == Half::kBf16 ? 0x1p-8 : 0x1p-11) * std::abs(g) +
                    (h == Half::kBf16 ? 0.0 : 0x1p-25) + 1e-7 / double(n));
  }
  EXPECT_NEAR(r.value, sum / double(n), 1e-6 * sum / double(n));
}

INSTANTIATE_TEST_SUITE_P(Formats, HalfLossTest,
                         ::testing::Values(Half::kBf16, Half::kF16),
                         [](const auto& info) {
                           return info.param == Half::kBf16
                                      ? std::string("bf16")
                                      : std::string("f16");
                         });

// Acceptance (issue 5): a bf16 gradient of BCE with logits at p = 0.999 is
// within 1% of float64 (computed on the same bf16 logit).
TEST(HalfPrecisionAcceptance, Bf16BceWithLogitsGradientAtP0999) {
  const double logit = std::log(0.999 / 0.001);
  for (float y : {1.0f, 0.0f}) {
    std::vector<uint16_t> x{f32_to_bf16(float(logit))};
    std::vector<uint16_t> t{f32_to_bf16(y)};
    std::vector<uint16_t> g(1);
    LossOutputs o;
    o.grad_out = hmut(g, Half::kBf16);
    binary_cross_entropy_with_logits(hview(x, Half::kBf16),
                                     hview(t, Half::kBf16), {}, o);
    const double xb = bf16_to_f32(x[0]);
    const double ref = 1.0 / (1.0 + std::exp(-xb)) - double(y);
    EXPECT_NEAR(bf16_to_f32(g[0]), ref, 0.01 * std::abs(ref)) << y;
  }
}

TEST(HalfPrecisionErrors, DtypeShapeAndDataErrors) {
  std::vector<uint16_t> x(4, f32_to_bf16(0.5f)), y(4, f32_to_bf16(0.25f));
  std::vector<float> yf(4, 0.25f);
  std::vector<double> g64(4);
  // Mixed dtypes: TypeError naming the argument.
  try {
    mse_loss(hview(x, Half::kBf16), view<float>(yf.data(), Shape{4}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kType);
    EXPECT_NE(std::string(e.what()).find("target dtype float32"),
              std::string::npos)
        << e.what();
  }
  // bf16 input with a float16 target.
  std::vector<uint16_t> yh(4, f32_to_f16(0.25f));
  EXPECT_THROW(mse_loss(hview(x, Half::kBf16), hview(yh, Half::kF16)), Error);
  // A float64 grad_out for a bf16 input: TypeError (float32 or bf16 only).
  LossOutputs o;
  o.grad_out = mutable_view<double>(g64.data(), Shape{4});
  try {
    mse_loss(hview(x, Half::kBf16), hview(y, Half::kBf16), {}, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kType);
  }
  // Empty input.
  std::vector<uint16_t> e0;
  EXPECT_THROW(mse_loss(hview(e0, Half::kBf16), hview(e0, Half::kBf16)), Error);
  // NaN target: ValueError naming the index; outputs poisoned with NaN.
  y[2] = f32_to_bf16(std::nanf(""));
  std::vector<uint16_t> g(4, 0);
  LossOutputs og;
  og.grad_out = hmut(g, Half::kBf16);
  try {
    mse_loss(hview(x, Half::kBf16), hview(y, Half::kBf16), {}, og);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    EXPECT_NE(std::string(e.what()).find("index 2"), std::string::npos)
        << e.what();
  }
  for (uint16_t v : g) EXPECT_TRUE(std::isnan(bf16_to_f32(v)));
  // All weights zero: mean 0, zero gradient.
  y[2] = f32_to_bf16(0.25f);
  std::vector<uint16_t> w(4, 0);
  g.assign(4, f32_to_bf16(9.0f));
  EXPECT_EQ(mse_loss(hview(x, Half::kBf16), hview(y, Half::kBf16),
                     {.weight = hview(w, Half::kBf16)}, og),
            0.0);
  for (uint16_t v : g) EXPECT_EQ(bf16_to_f32(v), 0.0f);
}

// pos_weight with a period that does not divide the block size, and several
// quantiles (the widened path): equal to float32 on the widened values.
TEST(HalfPrecisionLoss, PosWeightAndMultiQuantileEqualFloat32) {
  const int64_t rows = 1500, C = 7;
  const int64_t n = rows * C;
  const auto xs = testing::random_vector<float>(n, 3, -4, 4);
  const auto ys = testing::random_vector<float>(n, 4, 0, 1);
  const auto ps = testing::random_vector<float>(C, 5, 0.5, 3);
  std::vector<uint16_t> x, y, p;
  std::vector<float> xf, yf, pf;
  for (int64_t i = 0; i < n; ++i) {
    x.push_back(f32_to_bf16(xs[size_t(i)]));
    y.push_back(f32_to_bf16(ys[size_t(i)]));
    xf.push_back(bf16_to_f32(x.back()));
    yf.push_back(bf16_to_f32(y.back()));
  }
  for (int64_t k = 0; k < C; ++k) {
    p.push_back(f32_to_bf16(ps[size_t(k)]));
    pf.push_back(bf16_to_f32(p.back()));
  }
  const Shape shape{rows, C};
  const View xv{x.data(), DType::kBFloat16, shape, {}};
  const View yv{y.data(), DType::kBFloat16, shape, {}};
  const View pv{p.data(), DType::kBFloat16, Shape{C}, {}};
  std::vector<float> g(static_cast<size_t>(n)), g32(static_cast<size_t>(n));
  LossOutputs o, o32;
  o.grad_out = mutable_view<float>(g.data(), shape);
  o32.grad_out = mutable_view<float>(g32.data(), shape);
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget st(target);
    const double v =
        binary_cross_entropy_with_logits(xv, yv, {.pos_weight = pv}, o);
    const double v32 = binary_cross_entropy_with_logits(
        view<float>(xf.data(), shape), view<float>(yf.data(), shape),
        {.pos_weight = view<float>(pf.data(), Shape{C})}, o32);
    EXPECT_EQ(v, v32) << target;
    EXPECT_EQ(0, std::memcmp(g.data(), g32.data(), g.size() * 4)) << target;

    const std::vector<double> qs{0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.6};
    std::vector<uint16_t> yrow(x.begin(), x.begin() + rows);
    std::vector<float> yrowf(xf.begin(), xf.begin() + rows);
    const double q =
        quantile_loss(xv, View{yrow.data(), DType::kBFloat16, Shape{rows}, {}},
                      {.quantile = qs}, o);
    const double q32 = quantile_loss(view<float>(xf.data(), shape),
                                     view<float>(yrowf.data(), Shape{rows}),
                                     {.quantile = qs}, o32);
    EXPECT_EQ(q, q32) << target;
    EXPECT_EQ(0, std::memcmp(g.data(), g32.data(), g.size() * 4)) << target;
  }
}

}  // namespace
}  // namespace losslab
