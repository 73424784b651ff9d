// Classification losses against closed-form math written here in long double
// (the oracle of each test is named in its comment), central differences,
// the scalar reference kernels and thread-count determinism. PyTorch
// comparisons live in tests/python/test_classification.py.
#include "losslab/losses/classification.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numbers>
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

// Oracle: softplus in long double.
long double softplus(long double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// ---------------------------------------------------------------------------
// Binary losses (elementwise).

// One binary loss under test and its textbook formula.
struct BinCase {
  std::string name;
  // call(x, y, w, reduction, outputs)
  std::function<double(View, View, View, Reduction, const LossOutputs&)> call;
  std::function<double(double x, double y, int64_t i)> formula;
  double x_lo, x_hi;
};

const std::vector<double> kPosW = {0.5, 3.0, 1.0};  // per class, C = 3

std::vector<BinCase> bin_cases() {
  std::vector<BinCase> c;
  c.push_back({"bce_logits",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return binary_cross_entropy_with_logits(
                     x, y, {.weight = w, .reduction = r}, o);
               },
               [](double x, double y, int64_t) {
                 // y log sigma(x) + (1 - y) log(1 - sigma(x)), negated.
                 return double(y * softplus(-x) + (1 - y) * softplus(x));
               },
               -8.0, 8.0});
  c.push_back({"bce_logits_pos_weight",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 // Inputs are laid out as (n/3, 3) when n % 3 == 0, else
                 // pos_weight (1,) = 2.5 applies to all.
                 const int64_t n = x.numel();
                 static const std::vector<double> one = {2.5};
                 static std::vector<float> kPosWf(kPosW.begin(), kPosW.end());
                 static std::vector<float> onef = {2.5f};
                 const bool f32 = x.dtype == DType::kFloat32;
                 View pw;
                 if (n % 3 == 0) {
                   x.shape = {n / 3, 3};
                   y.shape = x.shape;
                   if (w.present()) w.shape = x.shape;
                   pw = f32 ? view<float>(kPosWf.data(), {3})
                            : view<double>(kPosW.data(), {3});
                 } else {
                   pw = f32 ? view<float>(onef.data(), {1})
                            : view<double>(one.data(), {1});
                 }
                 LossOutputs o2 = o;
                 if (o2.out.present()) o2.out.shape = x.shape;
                 if (o2.grad_out.present()) o2.grad_out.shape = x.shape;
                 if (o2.hess_out.present()) o2.hess_out.shape = x.shape;
                 if (o2.grad_output_elementwise.present()) {
                   o2.grad_output_elementwise.shape = x.shape;
                 }
                 return binary_cross_entropy_with_logits(
                     x, y, {.weight = w, .pos_weight = pw, .reduction = r}, o2);
               },
               [](double x, double y, int64_t i) {
                 // PyTorch's documented form: -[p y log sigma(x) + (1-y) log(1
                 // - sigma(x))], p per class of the last dimension.
                 (void)i;
                 return 0.0;  // replaced per size in the tests below
               },
               -8.0, 8.0});
  c.push_back({"bce_probs",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return binary_cross_entropy(x, y,
                                             {.weight = w, .reduction = r}, o);
               },
               [](double x, double y, int64_t) {
                 return double(-(y * std::log((long double)x) +
                                 (1 - y) * std::log1p(-(long double)x)));
               },
               0.02, 0.98});
  return c;
}

// The oracle for pos_weight depends on the element's class.
double bin_formula(const BinCase& c, double x, double y, int64_t i, int64_t n) {
  if (c.name != "bce_logits_pos_weight") return c.formula(x, y, i);
  const double p = n % 3 == 0 ? kPosW[size_t(i % 3)] : 2.5;
  return double(p * y * softplus(-x) + (1 - y) * softplus(x));
}

class BinaryTest : public ::testing::TestWithParam<BinCase> {};

template <class T>
struct BinData {
  std::vector<T> x, y, w;
  BinData(const BinCase& c, int64_t n, uint32_t seed) {
    x = random_vector<T>(n, seed, c.x_lo, c.x_hi);
    y = random_vector<T>(n, seed + 1, 0.0, 1.0);  // soft targets
    w = random_vector<T>(n, seed + 2, 0.0, 2.0);
    for (size_t i = 0; i < y.size(); i += 4) y[i] = T(i % 8 == 0 ? 1 : 0);
  }
  View xv() const { return view<T>(x.data(), {int64_t(x.size())}); }
  View yv() const { return view<T>(y.data(), {int64_t(y.size())}); }
  View wv() const { return view<T>(w.data(), {int64_t(w.size())}); }
};

// Oracle: the long-double formulas above, every reduction, with and without
// weights.
TEST_P(BinaryTest, ValuesMatchClosedForm) {
  const BinCase& c = GetParam();
  for (int64_t n : {1, 3, 7, 16, 17, 33, 2049, 6003}) {
    BinData<double> d(c, n, 7);
    for (bool weighted : {false, true}) {
      double sum = 0, sabs = 0, sw = 0;
      std::vector<double> per(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const double wi = weighted ? d.w[size_t(i)] : 1.0;
        per[size_t(i)] =
            wi * bin_formula(c, d.x[size_t(i)], d.y[size_t(i)], i, n);
        sum += per[size_t(i)];
        sabs += std::abs(per[size_t(i)]);
        sw += wi;
      }
      const View w = weighted ? d.wv() : View{};
      EXPECT_NEAR(c.call(d.xv(), d.yv(), w, Reduction::kSum, {}), sum,
                  1e-12 * sabs)
          << c.name << " n=" << n;
      EXPECT_NEAR(c.call(d.xv(), d.yv(), w, Reduction::kMean, {}), sum / sw,
                  1e-12 * sabs / sw)
          << c.name << " n=" << n;
      std::vector<double> out(static_cast<size_t>(n));
      c.call(d.xv(), d.yv(), w, Reduction::kNone,
             {.out = mutable_view<double>(out.data(), {n})});
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(out[size_t(i)], per[size_t(i)],
                    1e-12 * (std::abs(per[size_t(i)]) + 1e-3))
            << c.name << " i=" << i;
      }
    }
  }
}

// Oracle: central differences of the value, every reduction, weights and an
// upstream gradient.
TEST_P(BinaryTest, GradientMatchesCentralDifferences) {
  const BinCase& c = GetParam();
  const int64_t n = 39;
  BinData<double> d(c, n, 11);
  for (Reduction r : {Reduction::kMean, Reduction::kSum, Reduction::kNone}) {
    for (bool weighted : {false, true}) {
      const View w = weighted ? d.wv() : View{};
      std::vector<double> go = random_vector<double>(n, 5, 0.5, 1.5);
      std::vector<double> grad(static_cast<size_t>(n)),
          out(static_cast<size_t>(n));
      LossOutputs o{.grad_out = mutable_view<double>(grad.data(), {n})};
      if (r == Reduction::kNone) {
        o.out = mutable_view<double>(out.data(), {n});
        o.grad_output_elementwise = view<double>(go.data(), {n});
      } else {
        o.grad_output = 0.75;
      }
      c.call(d.xv(), d.yv(), w, r, o);
      auto f = [&](const std::vector<double>& x) {
        const View xv = view<double>(x.data(), {n});
        if (r != Reduction::kNone) return 0.75 * c.call(xv, d.yv(), w, r, {});
        std::vector<double> per(static_cast<size_t>(n));
        c.call(xv, d.yv(), w, r,
               {.out = mutable_view<double>(per.data(), {n})});
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += go[size_t(i)] * per[size_t(i)];
        return s;
      };
      EXPECT_LT(rel_error(grad, numeric_gradient(f, d.x)), 1e-7)
          << c.name << " " << reduction_name(r) << " weighted=" << weighted;
    }
  }
}

// Oracle: central differences of the analytic gradient.
TEST_P(BinaryTest, HessianMatchesCentralDifferencesOfGradient) {
  const BinCase& c = GetParam();
  const int64_t n = 30;
  BinData<double> d(c, n, 13);
  std::vector<double> grad(static_cast<size_t>(n)),
      hess(static_cast<size_t>(n)), num(static_cast<size_t>(n));
  c.call(d.xv(), d.yv(), d.wv(), Reduction::kMean,
         {.grad_out = mutable_view<double>(grad.data(), {n}),
          .hess_out = mutable_view<double>(hess.data(), {n})});
  for (int64_t i = 0; i < n; ++i) {
    auto gi = [&](double xi) {
      std::vector<double> x = d.x, g(static_cast<size_t>(n));
      x[size_t(i)] = xi;
      c.call(view<double>(x.data(), {n}), d.yv(), d.wv(), Reduction::kMean,
             {.grad_out = mutable_view<double>(g.data(), {n})});
      return g[size_t(i)];
    };
    const double h = 1e-6;
    num[size_t(i)] =
        (gi(d.x[size_t(i)] + h) - gi(d.x[size_t(i)] - h)) / (2 * h);
  }
  EXPECT_LT(rel_error(hess, num), 1e-6) << c.name;
}

// Oracle: the scalar twins; every SIMD target agrees within a few ULP (exp,
// log1p and log are polynomials there).
TEST_P(BinaryTest, SimdTargetsMatchScalarTwin) {
  const BinCase& c = GetParam();
  for (int64_t n : {1, 5, 15, 16, 17, 33, 2047, 2049, 9003}) {
    BinData<float> f(c, n, 17);
    auto run = [&](const std::string& target, std::vector<float>& out,
                   std::vector<float>& grad, std::vector<float>& hess) {
      testing::ScopedTarget t(target);
      out.assign(static_cast<size_t>(n), 0.f);
      grad.assign(static_cast<size_t>(n), 0.f);
      hess.assign(static_cast<size_t>(n), 0.f);
      c.call(f.xv(), f.yv(), f.wv(), Reduction::kNone,
             {.out = mutable_view<float>(out.data(), {n}),
              .grad_out = mutable_view<float>(grad.data(), {n}),
              .hess_out = mutable_view<float>(hess.data(), {n})});
      return c.call(f.xv(), f.yv(), f.wv(), Reduction::kMean, {});
    };
    std::vector<float> o0, g0, h0;
    const double v0 = run("scalar", o0, g0, h0);
    for (const std::string& target : testing::all_targets()) {
      if (target == "scalar") continue;
      std::vector<float> o1, g1, h1;
      const double v1 = run(target, o1, g1, h1);
      for (size_t k = 0; k < size_t(n); ++k) {
        ASSERT_NEAR(o1[k], o0[k], 2e-6 * (std::abs(o0[k]) + 1e-3))
            << c.name << " " << target << " i=" << k;
        // g = sigma - y cancels: the bound is ULPs of the O(1) terms.
        ASSERT_NEAR(g1[k], g0[k], 1e-6 * (std::abs(g0[k]) + 1.0))
            << c.name << " " << target << " i=" << k;
        ASSERT_NEAR(h1[k], h0[k], 2e-6 * (std::abs(h0[k]) + 1e-3))
            << c.name << " " << target << " i=" << k;
      }
      EXPECT_NEAR(v1, v0, 1e-5 * (std::abs(v0) + 1e-3)) << c.name << target;
    }
  }
}

// Bitwise-identical value and gradient at 1 and 2 threads, on every target.
TEST_P(BinaryTest, DeterministicAcrossThreadCounts) {
  const BinCase& c = GetParam();
  const int64_t n = 300000;  // multiple of 3: the (N, 3) pos_weight layout
  BinData<float> f(c, n, 23);
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> g1(static_cast<size_t>(n)), g2(static_cast<size_t>(n));
    double v1, v2;
    {
      testing::ScopedThreads th(1);
      v1 = c.call(f.xv(), f.yv(), f.wv(), Reduction::kMean,
                  {.grad_out = mutable_view<float>(g1.data(), {n})});
    }
    {
      testing::ScopedThreads th(2);
      v2 = c.call(f.xv(), f.yv(), f.wv(), Reduction::kMean,
                  {.grad_out = mutable_view<float>(g2.data(), {n})});
    }
    EXPECT_EQ(v1, v2) << c.name << " " << target;
    EXPECT_EQ(std::memcmp(g1.data(), g2.data(), g1.size() * 4), 0)
        << c.name << " " << target;
  }
}

INSTANTIATE_TEST_SUITE_P(AllLosses, BinaryTest,
                         ::testing::ValuesIn(bin_cases()),
                         [](const auto& info) { return info.param.name; });

// Oracle: sigma(0) = 1/2 exactly, so the gradient is 0.5 - y bit for bit, on
// every target.
TEST(BceWithLogits, GradientAtZeroIsExact) {
  const std::vector<float> x(19, 0.f);
  std::vector<float> y = random_vector<float>(19, 3, 0.0, 1.0);
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> g(19);
    binary_cross_entropy_with_logits(
        view<float>(x.data(), {19}), view<float>(y.data(), {19}),
        {.reduction = Reduction::kSum},
        {.grad_out = mutable_view<float>(g.data(), {19})});
    for (size_t i = 0; i < 19; ++i) EXPECT_EQ(g[i], 0.5f - y[i]) << target;
  }
}

// Oracle: limits of the formula. Saturated logits give finite values, no NaN:
// l(x=+-100, y matching) ~ exp(-100), l(x=-100, y=1) = 100.
TEST(BceWithLogits, SaturatedLogitsStayFinite) {
  const std::vector<float> x = {100.f, -100.f, -100.f, 3e38f, -3e38f};
  const std::vector<float> y = {1.f, 0.f, 1.f, 0.f, 1.f};
  std::vector<float> out(5), g(5), h(5);
  binary_cross_entropy_with_logits(
      view<float>(x.data(), {5}), view<float>(y.data(), {5}),
      {.reduction = Reduction::kNone},
      {.out = mutable_view<float>(out.data(), {5}),
       .grad_out = mutable_view<float>(g.data(), {5}),
       .hess_out = mutable_view<float>(h.data(), {5})});
  // float32: exp(-100) is subnormal (spacing 1.4e-45).
  EXPECT_NEAR(out[0], std::exp(-100.0), 1.5e-45);
  EXPECT_NEAR(out[2], 100.0, 1e-5);
  EXPECT_EQ(out[3], 3e38f);
  EXPECT_EQ(g[2], -1.f);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(std::isfinite(out[i]) && std::isfinite(g[i]) &&
                std::isfinite(h[i]))
        << i;
  }
}

TEST(BceWithLogits, TargetOutsideUnitIntervalNamesTheIndex) {
  std::vector<double> x(40, 0.0), y(40, 0.5), g(40, 1.0);
  y[33] = 1.5;
  const std::string msg = error_of([&] {
    binary_cross_entropy_with_logits(
        view<double>(x.data(), {40}), view<double>(y.data(), {40}), {},
        {.grad_out = mutable_view<double>(g.data(), {40})});
  });
  EXPECT_NE(msg.find("binary_cross_entropy_with_logits: target must lie in "
                     "[0, 1]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("got 1.5 at index 33"), std::string::npos) << msg;
  for (double v : g) EXPECT_TRUE(std::isnan(v));
  y[33] = std::nan("");
  EXPECT_NE(error_of([&] {
              binary_cross_entropy_with_logits(view<double>(x.data(), {40}),
                                               view<double>(y.data(), {40}));
            }).find("target contains nan at index 33"),
            std::string::npos);
}

TEST(BceWithLogits, PosWeightShapeAndValueErrors) {
  std::vector<double> x(6, 0.0), y(6, 1.0), pw = {1.0, 2.0},
                                            bad = {1.0, -2.0, 1.0};
  std::string msg = error_of([&] {
    binary_cross_entropy_with_logits(
        view<double>(x.data(), {2, 3}), view<double>(y.data(), {2, 3}),
        {.pos_weight = view<double>(pw.data(), {2})});
  });
  EXPECT_NE(msg.find("pos_weight shape (2,) must be (3,)"), std::string::npos)
      << msg;
  msg = error_of([&] {
    binary_cross_entropy_with_logits(
        view<double>(x.data(), {2, 3}), view<double>(y.data(), {2, 3}),
        {.pos_weight = view<double>(bad.data(), {3})});
  });
  EXPECT_NE(msg.find("pos_weight must be finite and >= 0; got -2 at index 1"),
            std::string::npos)
      << msg;
}

// Oracle: PyTorch's clamp. log(0) is clamped to -100, so x = 0, y = 1 costs
// 100 and the gradient is (0 - 1) / float(1e-12).
TEST(Bce, LogsAreClampedAtMinus100) {
  const std::vector<double> x = {0.0, 1.0, 0.0, 1.0};
  const std::vector<double> y = {1.0, 0.0, 0.0, 1.0};
  std::vector<double> out(4), g(4);
  binary_cross_entropy(view<double>(x.data(), {4}), view<double>(y.data(), {4}),
                       {.reduction = Reduction::kNone},
                       {.out = mutable_view<double>(out.data(), {4}),
                        .grad_out = mutable_view<double>(g.data(), {4})});
  EXPECT_EQ(out[0], 100.0);
  EXPECT_EQ(out[1], 100.0);
  EXPECT_EQ(out[2], 0.0);
  EXPECT_EQ(out[3], 0.0);
  EXPECT_EQ(g[0], -1.0 / double(1e-12f));  // PyTorch's float EPSILON
  EXPECT_EQ(g[1], 1.0 / double(1e-12f));
  EXPECT_EQ(g[2], 0.0);
}

TEST(Bce, InputOutsideUnitIntervalSuggestsLogits) {
  std::vector<float> x(20, 0.5f), y(20, 1.f);
  x[4] = 2.5f;
  const std::string msg = error_of([&] {
    binary_cross_entropy(view<float>(x.data(), {20}),
                         view<float>(y.data(), {20}));
  });
  EXPECT_NE(msg.find("binary_cross_entropy: input must be probabilities in "
                     "[0, 1]; got 2.5 at index 4"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("binary_cross_entropy_with_logits"), std::string::npos);
}

// ---------------------------------------------------------------------------
// cross_entropy and nll_loss.

// Oracle: PyTorch's formula (LossNLL.cpp, cross_entropy_loss_label_smoothing)
// written out in long double for (N, C) logits.
struct CeRef {
  std::vector<double> per;   // per-row loss
  std::vector<double> grad;  // gradient of the reduced loss
  double value = 0;
};
CeRef ce_reference(const std::vector<double>& z, const std::vector<int64_t>& y,
                   int64_t N, int64_t C, const std::vector<double>* w,
                   int64_t ignore, double eps, Reduction r) {
  CeRef o;
  o.per.assign(static_cast<size_t>(N), 0.0);
  o.grad.assign(static_cast<size_t>(N * C), 0.0);
  long double den = 0, sum = 0, W = 0;
  for (int64_t c = 0; c < C; ++c) W += w ? (*w)[size_t(c)] : 1.0;
  std::vector<long double> gr(static_cast<size_t>(N * C), 0.0L);
  for (int64_t i = 0; i < N; ++i) {
    if (y[size_t(i)] == ignore) continue;
    const int64_t t = y[size_t(i)];
    long double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < C; ++c)
      m = std::max<long double>(m, z[size_t(i * C + c)]);
    for (int64_t c = 0; c < C; ++c)
      s += std::exp((long double)z[size_t(i * C + c)] - m);
    const long double lse = m + std::log(s);
    const long double wy = w ? (*w)[size_t(t)] : 1.0;
    long double l = (1 - eps) * wy * (lse - z[size_t(i * C + t)]);
    for (int64_t c = 0; c < C; ++c) {
      const long double wc = w ? (*w)[size_t(c)] : 1.0;
      l += eps / C * wc * (lse - z[size_t(i * C + c)]);
      const long double p = std::exp(z[size_t(i * C + c)] - lse);
      gr[size_t(i * C + c)] = p * ((1 - eps) * wy + eps / C * W) -
                              eps / C * wc - (c == t ? (1 - eps) * wy : 0.0L);
    }
    o.per[size_t(i)] = double(l);
    sum += l;
    den += wy;
  }
  const long double scale =
      r == Reduction::kMean ? (den == 0 ? 0.0L : 1.0L / den) : 1.0L;
  o.value = double(r == Reduction::kMean ? sum * scale : sum);
  for (size_t k = 0; k < gr.size(); ++k) o.grad[k] = double(gr[k] * scale);
  return o;
}

struct CeData {
  int64_t N, C;
  std::vector<double> z, w;
  std::vector<int64_t> y;
  CeData(int64_t n, int64_t c, uint32_t seed) : N(n), C(c) {
    z = random_vector<double>(n * c, seed, -4.0, 4.0);
    w = random_vector<double>(c, seed + 1, 0.1, 2.0);
    std::mt19937 rng(seed + 2);
    y.resize(static_cast<size_t>(n));
    for (auto& v : y) v = int64_t(rng() % uint32_t(c));
    for (size_t i = 3; i < y.size(); i += 5) y[i] = -100;  // ignored rows
  }
};

TEST(CrossEntropy, MatchesTorchFormulaForEveryOption) {
  for (auto [n, c] : {std::pair<int64_t, int64_t>{1, 1},
                      {7, 3},
                      {13, 17},
                      {200, 33},
                      {70, 100}}) {
    CeData d(n, c, 5);
    for (bool weighted : {false, true}) {
      for (double eps : {0.0, 0.1, 1.0}) {
        for (Reduction r :
             {Reduction::kMean, Reduction::kSum, Reduction::kNone}) {
          const CeRef ref = ce_reference(
              d.z, d.y, n, c, weighted ? &d.w : nullptr, -100, eps, r);
          std::vector<double> out(static_cast<size_t>(n)),
              grad(static_cast<size_t>(n * c));
          LossOutputs o{.grad_out = mutable_view<double>(grad.data(), {n, c})};
          if (r == Reduction::kNone)
            o.out = mutable_view<double>(out.data(), {n});
          const double v = cross_entropy(
              view<double>(d.z.data(), {n, c}), view<int64_t>(d.y.data(), {n}),
              {.weight = weighted ? view<double>(d.w.data(), {c}) : View{},
               .label_smoothing = eps,
               .reduction = r},
              o);
          const std::string tag =
              "n=" + std::to_string(n) + " c=" + std::to_string(c) +
              " w=" + std::to_string(weighted) + " eps=" + std::to_string(eps) +
              " " + std::string(reduction_name(r));
          double sum = 0;
          for (double p : ref.per) sum += std::abs(p);
          if (r != Reduction::kNone) {
            EXPECT_NEAR(v, ref.value, 1e-13 * (sum + 1)) << tag;
          } else {
            for (int64_t i = 0; i < n; ++i) {
              ASSERT_NEAR(out[size_t(i)], ref.per[size_t(i)],
                          1e-13 * (std::abs(ref.per[size_t(i)]) + 1))
                  << tag << " i=" << i;
            }
          }
          EXPECT_LT(rel_error(grad, ref.grad), 1e-13) << tag;
        }
      }
    }
  }
}

// Oracle: central differences in double, with an upstream gradient.
TEST(CrossEntropy, GradientMatchesCentralDifferences) {
  const int64_t n = 9, c = 21;
  CeData d(n, c, 9);
  for (Reduction r : {Reduction::kMean, Reduction::kNone}) {
    std::vector<double> grad(static_cast<size_t>(n * c)),
        out(static_cast<size_t>(n));
    std::vector<double> go = random_vector<double>(n, 4, 0.5, 1.5);
    LossOutputs o{.grad_out = mutable_view<double>(grad.data(), {n, c})};
    if (r == Reduction::kNone) {
      o.out = mutable_view<double>(out.data(), {n});
      o.grad_output_elementwise = view<double>(go.data(), {n});
    } else {
      o.grad_output = 1.5;
    }
    const CrossEntropyOptions opt{.weight = view<double>(d.w.data(), {c}),
                                  .label_smoothing = 0.2,
                                  .reduction = r};
    cross_entropy(view<double>(d.z.data(), {n, c}),
                  view<int64_t>(d.y.data(), {n}), opt, o);
    auto f = [&](const std::vector<double>& z) {
      if (r != Reduction::kNone) {
        return 1.5 * cross_entropy(view<double>(z.data(), {n, c}),
                                   view<int64_t>(d.y.data(), {n}), opt);
      }
      std::vector<double> per(static_cast<size_t>(n));
      cross_entropy(view<double>(z.data(), {n, c}),
                    view<int64_t>(d.y.data(), {n}), opt,
                    {.out = mutable_view<double>(per.data(), {n})});
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += go[size_t(i)] * per[size_t(i)];
      return s;
    };
    EXPECT_LT(rel_error(grad, numeric_gradient(f, d.z)), 1e-7)
        << reduction_name(r);
  }
}

// Oracle: hand values. [0, 0, -inf] with target 0 is ln 2; the -inf entry
// has probability 0 and gradient 0.
TEST(CrossEntropy, NegativeInfinityLogitsAreHandled) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> z = {0.0, 0.0, -inf};
  const std::vector<int64_t> y = {0};
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<double> g(3);
    const double v = cross_entropy(
        view<double>(z.data(), {1, 3}), view<int64_t>(y.data(), {1}), {},
        {.grad_out = mutable_view<double>(g.data(), {1, 3})});
    EXPECT_NEAR(v, std::numbers::ln2, 1e-15) << target;
    EXPECT_EQ(g[0], -0.5) << target;
    EXPECT_EQ(g[1], 0.5) << target;
    EXPECT_EQ(g[2], 0.0) << target;
  }
}

// Oracle: shift invariance of softmax; a 1e6 offset changes nothing beyond
// rounding of the offset logits themselves.
TEST(CrossEntropy, InvariantToRowOffsetOf1e6) {
  const int64_t n = 5, c = 37;
  CeData d(n, c, 3);
  std::vector<double> shifted = d.z;
  for (double& v : shifted) v += 1e6;
  std::vector<double> g0(static_cast<size_t>(n * c)),
      g1(static_cast<size_t>(n * c));
  const CrossEntropyOptions opt{.label_smoothing = 0.1};
  const double v0 = cross_entropy(
      view<double>(d.z.data(), {n, c}), view<int64_t>(d.y.data(), {n}), opt,
      {.grad_out = mutable_view<double>(g0.data(), {n, c})});
  const double v1 = cross_entropy(
      view<double>(shifted.data(), {n, c}), view<int64_t>(d.y.data(), {n}), opt,
      {.grad_out = mutable_view<double>(g1.data(), {n, c})});
  EXPECT_NEAR(v1, v0, 1e-9 * v0);
  EXPECT_LT(rel_error(g0, g1), 1e-9);
}

// Documented difference from PyTorch (NaN there): an all-ignored mean is 0
// with a zero gradient.
TEST(CrossEntropy, AllIgnoredMeanIsZeroWithZeroGradient) {
  const std::vector<float> z = {1, 2, 3, 4, 5, 6};
  const std::vector<int64_t> y = {-100, -100};
  std::vector<float> g(6, 7.f);
  const double v =
      cross_entropy(view<float>(z.data(), {2, 3}), view<int64_t>(y.data(), {2}),
                    {}, {.grad_out = mutable_view<float>(g.data(), {2, 3})});
  EXPECT_EQ(v, 0.0);
  for (float gi : g) EXPECT_EQ(gi, 0.f);
}

// Oracle: the (N, C) loss on the transposed layout. (N, C, d1, d2) with
// targets (N, d1, d2) equals (N*d1*d2, C) with the matching rows.
TEST(CrossEntropy, SpatialDimsMatchFlattenedRows) {
  const int64_t n = 3, c = 5, s1 = 2, s2 = 3, S = s1 * s2;
  const std::vector<double> x = random_vector<double>(n * c * S, 8);
  std::vector<int64_t> y(static_cast<size_t>(n * S));
  for (size_t i = 0; i < y.size(); ++i) y[i] = int64_t(i % 5);
  y[4] = -100;
  std::vector<double> flat(static_cast<size_t>(n * S * c));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t s = 0; s < S; ++s)
        flat[size_t((i * S + s) * c + k)] = x[size_t((i * c + k) * S + s)];
  const std::vector<double> w = {1, 2, 0.5, 1, 3};
  const CrossEntropyOptions opt{.weight = view<double>(w.data(), {c}),
                                .label_smoothing = 0.05};
  std::vector<double> g(x.size()), gf(x.size());
  const double v = cross_entropy(
      view<double>(x.data(), {n, c, s1, s2}),
      view<int64_t>(y.data(), {n, s1, s2}), opt,
      {.grad_out = mutable_view<double>(g.data(), {n, c, s1, s2})});
  const double vf = cross_entropy(
      view<double>(flat.data(), {n * S, c}), view<int64_t>(y.data(), {n * S}),
      opt, {.grad_out = mutable_view<double>(gf.data(), {n * S, c})});
  EXPECT_NEAR(v, vf, 1e-15 * vf);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t s = 0; s < S; ++s)
        EXPECT_EQ(g[size_t((i * c + k) * S + s)],
                  gf[size_t((i * S + s) * c + k)]);
}

// Oracle: the scalar twin; SIMD targets agree within a few ULP (vector exp).
TEST(CrossEntropy, SimdTargetsMatchScalarTwin) {
  for (int64_t c : {1, 3, 4, 15, 16, 17, 33, 1000}) {
    const int64_t n = 67;
    CeData d(n, c, 21);
    std::vector<float> z(d.z.begin(), d.z.end()), w(d.w.begin(), d.w.end());
    auto run = [&](const std::string& target, std::vector<float>& out,
                   std::vector<float>& grad, double eps) {
      testing::ScopedTarget t(target);
      out.assign(static_cast<size_t>(n), 0.f);
      grad.assign(static_cast<size_t>(n * c), 0.f);
      return cross_entropy(
          view<float>(z.data(), {n, c}), view<int64_t>(d.y.data(), {n}),
          {.weight = view<float>(w.data(), {c}),
           .label_smoothing = eps,
           .reduction = Reduction::kNone},
          {.out = mutable_view<float>(out.data(), {n}),
           .grad_out = mutable_view<float>(grad.data(), {n, c})});
    };
    for (double eps : {0.0, 0.3}) {
      std::vector<float> o0, g0;
      const double v0 = run("scalar", o0, g0, eps);
      for (const std::string& target : testing::all_targets()) {
        if (target == "scalar") continue;
        std::vector<float> o1, g1;
        const double v1 = run(target, o1, g1, eps);
        for (size_t k = 0; k < o0.size(); ++k) {
          ASSERT_NEAR(o1[k], o0[k], 4e-6 * (std::abs(o0[k]) + 1e-3))
              << target << " c=" << c << " row " << k;
        }
        for (size_t k = 0; k < g0.size(); ++k) {
          // p A - B cancels: the bound is ULPs of the O(1) terms.
          ASSERT_NEAR(g1[k], g0[k], 1e-6 * (std::abs(g0[k]) + 1.0))
              << target << " c=" << c << " k=" << k;
        }
        EXPECT_NEAR(v1, v0, 4e-6 * std::abs(v0)) << target;
      }
    }
  }
}

TEST(CrossEntropy, DeterministicAcrossThreadCounts) {
  const int64_t n = 20000, c = 19;
  CeData d(n, c, 31);
  std::vector<float> z(d.z.begin(), d.z.end()), w(d.w.begin(), d.w.end());
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> g1(static_cast<size_t>(n * c)),
        g2(static_cast<size_t>(n * c));
    double v1, v2;
    const CrossEntropyOptions opt{.weight = view<float>(w.data(), {c}),
                                  .label_smoothing = 0.1};
    {
      testing::ScopedThreads th(1);
      v1 = cross_entropy(view<float>(z.data(), {n, c}),
                         view<int64_t>(d.y.data(), {n}), opt,
                         {.grad_out = mutable_view<float>(g1.data(), {n, c})});
    }
    {
      testing::ScopedThreads th(2);
      v2 = cross_entropy(view<float>(z.data(), {n, c}),
                         view<int64_t>(d.y.data(), {n}), opt,
                         {.grad_out = mutable_view<float>(g2.data(), {n, c})});
    }
    EXPECT_EQ(v1, v2) << target;
    EXPECT_EQ(std::memcmp(g1.data(), g2.data(), g1.size() * 4), 0) << target;
  }
}

TEST(CrossEntropy, NanLogitGivesNanRow) {
  std::vector<float> z = {1.f, std::nanf(""), 0.f, 1.f, 2.f, 3.f};
  const std::vector<int64_t> y = {0, 2};
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> out(2), g(6);
    cross_entropy(view<float>(z.data(), {2, 3}), view<int64_t>(y.data(), {2}),
                  {.reduction = Reduction::kNone},
                  {.out = mutable_view<float>(out.data(), {2}),
                   .grad_out = mutable_view<float>(g.data(), {2, 3})});
    EXPECT_TRUE(std::isnan(out[0])) << target;
    EXPECT_TRUE(std::isfinite(out[1])) << target;
    EXPECT_TRUE(std::isnan(g[0])) << target;
    EXPECT_TRUE(std::isfinite(g[3])) << target;
  }
}

TEST(CrossEntropyErrors, BadLabelNamesTheIndexAndPoisonsOutputs) {
  const std::vector<double> z(12, 0.0);
  std::vector<int32_t> y = {0, 1, 3, 2};
  std::vector<double> g(12, 1.0);
  std::string msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {4, 3}),
                  View{y.data(), DType::kInt32, {4}, {}}, {},
                  {.grad_out = mutable_view<double>(g.data(), {4, 3})});
  });
  EXPECT_NE(msg.find("cross_entropy: target contains class 3 at index 2; class "
                     "indices must lie in [0, 3)"),
            std::string::npos)
      << msg;
  for (double v : g) EXPECT_TRUE(std::isnan(v));
  y[2] = -1;
  msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {4, 3}),
                  View{y.data(), DType::kInt32, {4}, {}});
  });
  EXPECT_NE(msg.find("target contains class -1 at index 2"), std::string::npos)
      << msg;
}

TEST(CrossEntropyErrors, ShapesDtypesAndOptions) {
  const std::vector<double> z(12, 0.0), w = {1, 1};
  const std::vector<int64_t> y = {0, 1, 2, 0};
  const std::vector<double> yf = {0, 1, 2, 0};
  const std::vector<int16_t> y16 = {0, 1, 2, 0};
  ErrorKind k{};
  std::string msg = error_of(
      [&] {
        cross_entropy(view<double>(z.data(), {4, 3}),
                      View{y16.data(), DType::kInt16, {4}, {}});
      },
      &k);
  EXPECT_EQ(k, ErrorKind::kType);
  EXPECT_NE(msg.find("cast the class indices to int64"), std::string::npos)
      << msg;
  // A float target is read as class probabilities: it needs the input's
  // shape (classification_soft_test.cc covers that path).
  msg = error_of(
      [&] {
        cross_entropy(view<double>(z.data(), {4, 3}),
                      view<double>(yf.data(), {4}));
      },
      &k);
  EXPECT_EQ(k, ErrorKind::kValue);
  EXPECT_NE(msg.find("probability target shape (4,) does not match input "
                     "shape (4, 3)"),
            std::string::npos)
      << msg;
  msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {4, 3}),
                  view<int64_t>(y.data(), {2, 2}));
  });
  EXPECT_NE(msg.find("target shape (2, 2) does not match input shape (4, 3); "
                     "expected (4,)"),
            std::string::npos)
      << msg;
  msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {4, 3}), view<int64_t>(y.data(), {4}),
                  {.weight = view<double>(w.data(), {2})});
  });
  EXPECT_NE(msg.find("weight shape (2,) must be (3,)"), std::string::npos);
  msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {4, 3}), view<int64_t>(y.data(), {4}),
                  {.label_smoothing = 1.5});
  });
  EXPECT_NE(msg.find("label_smoothing=1.5 must lie in [0, 1]"),
            std::string::npos);
  msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {0, 3}), view<int64_t>(y.data(), {0}));
  });
  EXPECT_NE(msg.find("input is empty"), std::string::npos);
  msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {4, 3}), view<int64_t>(y.data(), {4}),
                  {.reduction = Reduction::kNone});
  });
  EXPECT_NE(msg.find("reduction='none' needs outputs.out"), std::string::npos);
}

// Oracle: the definition -w[y] input[y]; mean divides by sum of w[y].
TEST(NllLoss, MatchesDefinitionAndCrossEntropyOfLogSoftmax) {
  const int64_t n = 11, c = 6;
  CeData d(n, c, 41);
  std::vector<double> logp(static_cast<size_t>(n * c));
  for (int64_t i = 0; i < n; ++i) {
    long double m = -INFINITY, s = 0;
    for (int64_t k = 0; k < c; ++k)
      m = std::max<long double>(m, d.z[size_t(i * c + k)]);
    for (int64_t k = 0; k < c; ++k) s += std::exp(d.z[size_t(i * c + k)] - m);
    for (int64_t k = 0; k < c; ++k)
      logp[size_t(i * c + k)] =
          double(d.z[size_t(i * c + k)] - m - std::log(s));
  }
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (d.y[size_t(i)] < 0) continue;
    num += -d.w[size_t(d.y[size_t(i)])] * logp[size_t(i * c + d.y[size_t(i)])];
    den += d.w[size_t(d.y[size_t(i)])];
  }
  std::vector<double> g(static_cast<size_t>(n * c)),
      gce(static_cast<size_t>(n * c));
  const double v = nll_loss(
      view<double>(logp.data(), {n, c}), view<int64_t>(d.y.data(), {n}),
      {.weight = view<double>(d.w.data(), {c})},
      {.grad_out = mutable_view<double>(g.data(), {n, c})});
  EXPECT_NEAR(v, num / den, 1e-14 * std::abs(num / den));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < c; ++k) {
      const double e = (d.y[size_t(i)] == k) ? -d.w[size_t(k)] / den : 0.0;
      EXPECT_NEAR(g[size_t(i * c + k)], e, 1e-15);
    }
  }
  const double vce = cross_entropy(view<double>(d.z.data(), {n, c}),
                                   view<int64_t>(d.y.data(), {n}),
                                   {.weight = view<double>(d.w.data(), {c})});
  EXPECT_NEAR(v, vce, 1e-13 * vce);
}

}  // namespace
}  // namespace losslab
