// float16 / bfloat16 inputs of cross_entropy (class indices), nll_loss and
// kl_divergence. Oracles: the float32 path on the widened inputs (the
// documented contract: widen exactly, compute in float32, round the outputs
// once to nearest even), and a float64 softmax for the accuracy
// target (a bf16 cross-entropy gradient at p_y = 0.999 within 1% of
// float64).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/losses/classification.h"
#include "src/losses/elementwise.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

enum class Half { kBf16, kF16 };

DType dtype_of(Half h) {
  return h == Half::kBf16 ? DType::kBFloat16 : DType::kFloat16;
}
uint16_t narrow(Half h, float f) {
  return h == Half::kBf16 ? detail::f32_to_bf16(f) : detail::f32_to_f16(f);
}
float widen(Half h, uint16_t v) {
  return h == Half::kBf16 ? detail::bf16_to_f32(v) : detail::f16_to_f32(v);
}

struct HalfArray {
  std::vector<uint16_t> h;
  std::vector<float> f;  // the widened values
  Shape shape;
  View hv(Half d) const { return View{h.data(), dtype_of(d), shape, {}}; }
  View fv() const { return view<float>(f.data(), shape); }
};

HalfArray make(Half d, const Shape& shape, uint32_t seed, double lo,
               double hi) {
  HalfArray a;
  a.shape = shape;
  for (float v : testing::random_vector<float>(shape.numel(), seed, lo, hi)) {
    a.h.push_back(narrow(d, v));
    a.f.push_back(widen(d, a.h.back()));
  }
  return a;
}

class HalfClassTest : public ::testing::TestWithParam<Half> {};

using ClassCall = double (*)(View, View, View, Reduction, int64_t,
                             const LossOutputs&);

double ce_call(View x, View y, View w, Reduction r, int64_t ignore,
               const LossOutputs& o) {
  return cross_entropy(x, y,
                       {.weight = w,
                        .ignore_index = ignore,
                        .label_smoothing = 0.1,
                        .reduction = r},
                       o);
}
double nll_call(View x, View y, View w, Reduction r, int64_t ignore,
                const LossOutputs& o) {
  return nll_loss(x, y, {.weight = w, .ignore_index = ignore, .reduction = r},
                  o);
}

// The contract: bitwise the float32 result on the widened inputs (value,
// per-sample out and gradient, the latter two rounded once to the half
// dtype, or float32 on request), on every SIMD target.
TEST_P(HalfClassTest, CrossEntropyAndNllEqualFloat32OnWidenedInputs) {
  const Half h = GetParam();
  const int64_t N = 37, C = 515;  // C: a 16-lane tail of 3
  const HalfArray x = make(h, Shape{N, C}, 5, -6, 6);
  const HalfArray w = make(h, Shape{C}, 6, 0.1, 2.0);
  std::vector<int64_t> y(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) y[size_t(i)] = (i * 97) % C;
  y[3] = -100;  // ignored row
  const View yv = view<int64_t>(y.data(), Shape{N});
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget st(target);
    for (ClassCall call : {&ce_call, &nll_call}) {
      for (bool weighted : {false, true}) {
        for (Reduction r :
             {Reduction::kMean, Reduction::kSum, Reduction::kNone}) {
          std::vector<float> g32(static_cast<size_t>(N * C)),
              o32(static_cast<size_t>(N)), gf(static_cast<size_t>(N * C)),
              of(static_cast<size_t>(N));
          std::vector<uint16_t> gh(static_cast<size_t>(N * C)),
              oh(static_cast<size_t>(N));
          LossOutputs o32s{
              .out = mutable_view<float>(o32.data(), Shape{N}),
              .grad_out = mutable_view<float>(g32.data(), Shape{N, C})};
          const double v32 =
              call(x.fv(), yv, weighted ? w.fv() : View{}, r, -100, o32s);
          // Half in, half out.
          LossOutputs ohs{
              .out = MutableView{oh.data(), dtype_of(h), Shape{N}, {}},
              .grad_out = MutableView{gh.data(), dtype_of(h), Shape{N, C}, {}}};
          const double vh =
              call(x.hv(h), yv, weighted ? w.hv(h) : View{}, r, -100, ohs);
          // Half in, float32 out (grad_dtype="float32").
          LossOutputs ofs{
              .out = mutable_view<float>(of.data(), Shape{N}),
              .grad_out = mutable_view<float>(gf.data(), Shape{N, C})};
          const double vf =
              call(x.hv(h), yv, weighted ? w.hv(h) : View{}, r, -100, ofs);
          EXPECT_EQ(vh, v32) << target;
          EXPECT_EQ(vf, v32) << target;
          for (size_t i = 0; i < g32.size(); ++i) {
            ASSERT_EQ(gh[i], narrow(h, g32[i])) << target << " i=" << i;
            ASSERT_EQ(gf[i], g32[i]) << target << " i=" << i;
          }
          for (size_t i = 0; i < o32.size(); ++i) {
            ASSERT_EQ(oh[i], narrow(h, o32[i])) << target << " i=" << i;
            ASSERT_EQ(of[i], o32[i]) << target << " i=" << i;
          }
        }
      }
    }
  }
}

// Without a gradient (the kernel skips pass 3) and with a NaN logit (the
// row's loss and gradient are NaN, in the half format), every target.
TEST_P(HalfClassTest, CrossEntropyValueOnlyAndNanRow) {
  const Half h = GetParam();
  const int64_t N = 5, C = 37;
  HalfArray x = make(h, Shape{N, C}, 9, -3, 3);
  std::vector<int64_t> y{0, 5, 36, 2, 9};
  const View yv = view<int64_t>(y.data(), Shape{N});
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget st(target);
    EXPECT_EQ(cross_entropy(x.hv(h), yv), cross_entropy(x.fv(), yv)) << target;
  }
  x.h[size_t(2 * C + 4)] = narrow(h, std::nanf(""));
  x.f[size_t(2 * C + 4)] = std::nanf("");
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget st(target);
    std::vector<uint16_t> gh(static_cast<size_t>(N * C));
    std::vector<float> out(static_cast<size_t>(N));
    cross_entropy(
        x.hv(h), yv, {.reduction = Reduction::kNone},
        {.out = mutable_view<float>(out.data(), Shape{N}),
         .grad_out = MutableView{gh.data(), dtype_of(h), Shape{N, C}, {}}});
    EXPECT_TRUE(std::isnan(out[2])) << target;
    EXPECT_FALSE(std::isnan(out[1])) << target;
    // The same row in float32: the NaN sits inside a SIMD vector, not in the
    // scalar tail (RowMaxAndNaN once compared v != v, which the vector
    // ordered compare never reports).
    std::vector<float> out32(static_cast<size_t>(N));
    cross_entropy(x.fv(), yv, {.reduction = Reduction::kNone},
                  {.out = mutable_view<float>(out32.data(), Shape{N})});
    EXPECT_TRUE(std::isnan(out32[2])) << target;
    for (int64_t k = 0; k < C; ++k) {
      EXPECT_TRUE(std::isnan(widen(h, gh[size_t(2 * C + k)]))) << target;
      EXPECT_FALSE(std::isnan(widen(h, gh[size_t(C + k)]))) << target;
    }
  }
}

TEST_P(HalfClassTest, KlDivergenceEqualsFloat32OnWidenedInputs) {
  const Half h = GetParam();
  const int64_t N = 9, C = 301;
  const HalfArray p = make(h, Shape{N, C}, 7, 0.0, 1.0);
  const HalfArray q = make(h, Shape{N, C}, 8, 0.01, 1.0);
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget st(target);
    std::vector<float> g32(static_cast<size_t>(N * C)),
        o32(static_cast<size_t>(N));
    std::vector<uint16_t> gh(static_cast<size_t>(N * C)),
        oh(static_cast<size_t>(N));
    const double v32 = kl_divergence(
        p.fv(), q.fv(), {.reduction = Reduction::kNone},
        {.out = mutable_view<float>(o32.data(), Shape{N}),
         .grad_out = mutable_view<float>(g32.data(), Shape{N, C})});
    const double vh = kl_divergence(
        p.hv(h), q.hv(h), {.reduction = Reduction::kNone},
        {.out = MutableView{oh.data(), dtype_of(h), Shape{N}, {}},
         .grad_out = MutableView{gh.data(), dtype_of(h), Shape{N, C}, {}}});
    EXPECT_EQ(vh, v32);
    for (size_t i = 0; i < g32.size(); ++i) {
      ASSERT_EQ(gh[i], narrow(h, g32[i])) << target << " i=" << i;
    }
    for (size_t i = 0; i < o32.size(); ++i) {
      ASSERT_EQ(oh[i], narrow(h, o32[i])) << target << " i=" << i;
    }
    const double m32 = kl_divergence(p.fv(), q.fv());
    const double mh = kl_divergence(p.hv(h), q.hv(h));
    EXPECT_EQ(mh, m32);
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, HalfClassTest,
                         ::testing::Values(Half::kBf16, Half::kF16),
                         [](const auto& info) {
                           return info.param == Half::kBf16
                                      ? std::string("bf16")
                                      : std::string("f16");
                         });

// The accuracy target: at p_y = 0.999 the label's gradient
// p_y - 1 = -0.001 is a small difference of O(1) numbers; float32
// accumulation keeps it within 1% of float64 (bf16 rounding of the result
// adds at most 2^-9 = 0.2%). Oracle: a float64 softmax on the same bf16
// logits. Every entry of the row is checked, on every target.
TEST(HalfClassAcceptance, Bf16CrossEntropyGradientAtP0999Within1Pct) {
  const int64_t C = 1000;
  // z_y = log(0.999 (C - 1) / 0.001), the others 0: p_y = 0.999.
  const float zy = float(std::log(0.999 * double(C - 1) / 0.001));
  std::vector<uint16_t> x(size_t(C), detail::f32_to_bf16(0.0f));
  const int64_t y = 417;
  x[size_t(y)] = detail::f32_to_bf16(zy);
  // float64 oracle on the bf16-rounded logits.
  double s = 0;
  for (uint16_t v : x) s += std::exp(double(detail::bf16_to_f32(v)));
  const double py = std::exp(double(detail::bf16_to_f32(x[size_t(y)]))) / s;
  ASSERT_NEAR(py, 0.999, 2e-4);  // bf16 rounding of z_y moves p_y slightly
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget st(target);
    std::vector<uint16_t> g(static_cast<size_t>(C));
    cross_entropy(
        View{x.data(), DType::kBFloat16, Shape{1, C}, {}},
        view<int64_t>(&y, Shape{1}), {},
        {.grad_out = MutableView{g.data(), DType::kBFloat16, Shape{1, C}, {}}});
    for (int64_t k = 0; k < C; ++k) {
      const double pk = std::exp(double(detail::bf16_to_f32(x[size_t(k)]))) / s;
      const double ref = pk - (k == y ? 1.0 : 0.0);
      const double got = double(detail::bf16_to_f32(g[size_t(k)]));
      EXPECT_LT(std::abs(got - ref), 0.01 * std::abs(ref))
          << target << " k=" << k << " got " << got << " ref " << ref;
    }
  }
}

TEST(HalfClassErrors, ProbabilityTargetsAndOutputDtypes) {
  const int64_t N = 2, C = 3;
  std::vector<uint16_t> x(size_t(N * C), detail::f32_to_bf16(0.5f));
  const View xv{x.data(), DType::kBFloat16, Shape{N, C}, {}};
  // Probability targets in bf16: a TypeError that names the fix.
  try {
    cross_entropy(xv, xv);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("probability targets are not "
                                         "supported for bfloat16"),
              std::string::npos)
        << e.what();
  }
  // A float64 grad buffer for bf16 input is a dtype error.
  std::vector<double> g(static_cast<size_t>(N * C));
  const std::vector<int64_t> y{0, 1};
  try {
    cross_entropy(xv, view<int64_t>(y.data(), Shape{N}), {},
                  {.grad_out = mutable_view<double>(g.data(), Shape{N, C})});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("grad_out"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace losslab
