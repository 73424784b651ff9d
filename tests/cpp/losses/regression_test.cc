// Regression losses against closed-form math (independent double formulas
// written here), central differences, the scalar reference kernels, and
// thread-count determinism. PyTorch comparisons live in tests/python.
#include "losslab/losses/regression.h"

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

// One loss under test: how to call it, and its textbook formula.
struct Case {
  std::string name;
  std::function<double(View, View, View, Reduction, const LossOutputs&)> call;
  std::function<double(double x, double y)> formula;
  bool transcendental;  // uses exp/log: SIMD vs scalar within ULPs, not bits
  double x_lo = -3.0, x_hi = 3.0;
  double y_lo = -3.0, y_hi = 3.0;
  // Magnitude of the terms that cancel in the formula (for ULP-scale bounds).
  std::function<double(double x, double y)> term_scale = [](double, double) {
    return 1.0;
  };
};

std::vector<Case> cases() {
  std::vector<Case> c;
  c.push_back({"mse",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return mse_loss(x, y, {.weight = w, .reduction = r}, o);
               },
               [](double x, double y) { return (x - y) * (x - y); }, false});
  c.push_back({"l1",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return l1_loss(x, y, {.weight = w, .reduction = r}, o);
               },
               [](double x, double y) { return std::abs(x - y); }, false});
  c.push_back({"huber_d0_7",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return huber_loss(
                     x, y, {.delta = 0.7, .weight = w, .reduction = r}, o);
               },
               [](double x, double y) {
                 const double a = std::abs(x - y);
                 return a < 0.7 ? 0.5 * a * a : 0.7 * (a - 0.35);
               },
               false});
  c.push_back({"smooth_l1_b0_5",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return smooth_l1_loss(
                     x, y, {.beta = 0.5, .weight = w, .reduction = r}, o);
               },
               [](double x, double y) {
                 const double a = std::abs(x - y);
                 return a < 0.5 ? 0.5 * a * a / 0.5 : a - 0.25;
               },
               false});
  c.push_back({"smooth_l1_b0",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return smooth_l1_loss(
                     x, y, {.beta = 0.0, .weight = w, .reduction = r}, o);
               },
               [](double x, double y) { return std::abs(x - y); }, false});
  c.push_back({"quantile_q0_9",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return quantile_loss(
                     x, y, {.quantile = {0.9}, .weight = w, .reduction = r}, o);
               },
               [](double x, double y) {
                 const double e = y - x;
                 return e >= 0 ? 0.9 * e : (0.9 - 1.0) * e;
               },
               false});
  c.push_back({"log_cosh",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return log_cosh_loss(x, y, {.weight = w, .reduction = r}, o);
               },
               [](double x, double y) {
                 // long double: log(cosh(d)) cancels near d = 0 in double.
                 return double(std::log(std::cosh((long double)x - y)));
               },
               true});
  c.push_back({"pseudo_huber_d1_5",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return pseudo_huber_loss(
                     x, y, {.delta = 1.5, .weight = w, .reduction = r}, o);
               },
               [](double x, double y) {
                 const long double d = ((long double)x - y) / 1.5L;
                 return double(2.25L * (std::sqrt(1.0L + d * d) - 1.0L));
               },
               false});
  c.push_back(
      {"poisson_log",
       [](View x, View y, View w, Reduction r, const LossOutputs& o) {
         return poisson_nll_loss(x, y, {.weight = w, .reduction = r}, o);
       },
       [](double x, double y) { return std::exp(x) - y * x; }, true, -3.0, 3.0,
       0.0, 6.0,
       [](double x, double y) { return std::exp(x) + std::abs(y * x); }});
  c.push_back(
      {"poisson_rate_full",
       [](View x, View y, View w, Reduction r, const LossOutputs& o) {
         return poisson_nll_loss(
             x, y,
             {.log_input = false, .full = true, .weight = w, .reduction = r},
             o);
       },
       [](double x, double y) {
         double l = x - y * std::log(x + 1e-8);
         if (y > 1) {
           l += y * std::log(y) - y + 0.5 * std::log(2 * std::numbers::pi * y);
         }
         return l;
       },
       true, 0.05, 5.0, 0.0, 6.0,
       [](double x, double y) {
         return x + std::abs(y * std::log(x)) + y * std::log(y + 1) + y + 2;
       }});
  return c;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class RegressionTest : public ::testing::TestWithParam<Case> {};

template <class T>
struct Data {
  std::vector<T> x, y, w;
  Data(const Case& c, int64_t n, uint32_t seed) {
    x = random_vector<T>(n, seed, c.x_lo, c.x_hi);
    y = random_vector<T>(n, seed + 1, c.y_lo, c.y_hi);
    w = random_vector<T>(n, seed + 2, 0.0, 2.0);
  }
  View xv() const { return view<T>(x.data(), {int64_t(x.size())}); }
  View yv() const { return view<T>(y.data(), {int64_t(y.size())}); }
  View wv() const { return view<T>(w.data(), {int64_t(w.size())}); }
};

// Value of every reduction, with and without weights, against the formula.
TEST_P(RegressionTest, ValuesMatchClosedForm) {
  const Case& c = GetParam();
  for (int64_t n : testing::sweep_sizes()) {
    Data<double> d(c, n, 7);
    Data<float> f(c, n, 7);
    for (bool weighted : {false, true}) {
      double sum = 0.0, sum_abs = 0.0, sw = 0.0;
      std::vector<double> per(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const double wi = weighted ? d.w[size_t(i)] : 1.0;
        per[size_t(i)] = wi * c.formula(d.x[size_t(i)], d.y[size_t(i)]);
        sum += per[size_t(i)];
        sum_abs += std::abs(per[size_t(i)]);
        sw += wi;
      }
      const View w64 = weighted ? d.wv() : View{};
      EXPECT_NEAR(c.call(d.xv(), d.yv(), w64, Reduction::kSum, {}), sum,
                  1e-12 * sum_abs + 1e-300)
          << c.name << " n=" << n;
      EXPECT_NEAR(c.call(d.xv(), d.yv(), w64, Reduction::kMean, {}), sum / sw,
                  1e-12 * sum_abs / sw)
          << c.name << " n=" << n;
      std::vector<double> out(static_cast<size_t>(n));
      c.call(d.xv(), d.yv(), w64, Reduction::kNone,
             {.out = mutable_view<double>(out.data(), {n})});
      for (int64_t i = 0; i < n; ++i) {
        // Relative 1e-12, with a floor for results that cancel (Poisson).
        ASSERT_NEAR(out[size_t(i)], per[size_t(i)],
                    1e-12 * (std::abs(per[size_t(i)]) + 0.01))
            << c.name << " i=" << i;
      }
      // float32: the same data rounded to float, against the double formula
      // evaluated at the rounded inputs.
      double fsum = 0.0, fabs_sum = 0.0, fsw = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const double wi = weighted ? double(f.w[size_t(i)]) : 1.0;
        const double l = wi * c.formula(f.x[size_t(i)], f.y[size_t(i)]);
        fsum += l;
        fabs_sum += std::abs(l);
        fsw += wi;
      }
      const View w32 = weighted ? f.wv() : View{};
      EXPECT_NEAR(c.call(f.xv(), f.yv(), w32, Reduction::kMean, {}), fsum / fsw,
                  2e-6 * fabs_sum / fsw)
          << c.name << " float32 n=" << n;
    }
  }
}

// Gradient of every reduction against central differences of the value, in
// double, with weights and an upstream gradient.
TEST_P(RegressionTest, GradientMatchesCentralDifferences) {
  const Case& c = GetParam();
  const int64_t n = 37;
  Data<double> d(c, n, 11);
  for (Reduction r : {Reduction::kMean, Reduction::kSum, Reduction::kNone}) {
    for (bool weighted : {false, true}) {
      const View w = weighted ? d.wv() : View{};
      std::vector<double> go = random_vector<double>(n, 5, 0.5, 1.5);
      std::vector<double> out(static_cast<size_t>(n)),
          grad(static_cast<size_t>(n));
      LossOutputs o{.out = mutable_view<double>(out.data(), {n}),
                    .grad_out = mutable_view<double>(grad.data(), {n})};
      if (r == Reduction::kNone) {
        o.grad_output_elementwise = view<double>(go.data(), {n});
      } else {
        o.grad_output = 0.75;
        o.out = {};
      }
      c.call(d.xv(), d.yv(), w, r, o);
      // The scalar objective: sum(grad_output * loss) for none.
      auto f = [&](const std::vector<double>& x) {
        const View xv = view<double>(x.data(), {n});
        if (r != Reduction::kNone) return 0.75 * c.call(xv, d.yv(), w, r, {});
        std::vector<double> per(static_cast<size_t>(n));
        c.call(xv, d.yv(), w, r,
               {.out = mutable_view<double>(per.data(), {n})});
        double s = 0.0;
        for (int64_t i = 0; i < n; ++i) s += go[size_t(i)] * per[size_t(i)];
        return s;
      };
      const std::vector<double> num = numeric_gradient(f, d.x);
      EXPECT_LT(rel_error(grad, num), 1e-7)
          << c.name << " reduction=" << reduction_name(r)
          << " weighted=" << weighted;
    }
  }
}

// Diagonal Hessian against central differences of the analytic gradient.
TEST_P(RegressionTest, HessianMatchesCentralDifferencesOfGradient) {
  const Case& c = GetParam();
  const int64_t n = 29;
  Data<double> d(c, n, 13);
  std::vector<double> grad(static_cast<size_t>(n)),
      hess(static_cast<size_t>(n));
  c.call(d.xv(), d.yv(), d.wv(), Reduction::kMean,
         {.grad_out = mutable_view<double>(grad.data(), {n}),
          .hess_out = mutable_view<double>(hess.data(), {n})});
  std::vector<double> num(static_cast<size_t>(n));
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

// Every SIMD target against the scalar reference kernels: bitwise for the
// losses without exp/log, within 4 ULP per element for the others.
TEST_P(RegressionTest, SimdTargetsMatchScalarTwin) {
  const Case& c = GetParam();
  for (int64_t n : testing::sweep_sizes()) {
    Data<float> f(c, n, 17);
    auto run = [&](const std::string& target, std::vector<float>& out,
                   std::vector<float>& grad, std::vector<float>& hess) {
      testing::ScopedTarget t(target);
      out.assign(size_t(n), 0.f);
      grad.assign(size_t(n), 0.f);
      hess.assign(size_t(n), 0.f);
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
      if (!c.transcendental) {
        EXPECT_EQ(std::memcmp(o0.data(), o1.data(), o0.size() * 4), 0)
            << c.name << " " << target << " n=" << n;
        EXPECT_EQ(std::memcmp(g0.data(), g1.data(), g0.size() * 4), 0)
            << c.name << " " << target << " n=" << n;
        EXPECT_EQ(std::memcmp(h0.data(), h1.data(), h0.size() * 4), 0)
            << c.name << " " << target << " n=" << n;
        EXPECT_EQ(v0, v1) << c.name << " " << target << " n=" << n;
      } else {
        // Vector exp/log1p are polynomials (a few ULP); log-cosh and Poisson
        // compose them with cancelling terms, so the bound is 1e-6 (|v| + 1).
        for (int64_t i = 0; i < n; ++i) {
          const size_t k = size_t(i);
          const double s = c.term_scale(f.x[k], f.y[k]);
          ASSERT_NEAR(o1[k], o0[k], 1e-6 * (std::abs(o0[k]) + s))
              << c.name << " " << target << " i=" << i;
          ASSERT_NEAR(g1[k], g0[k], 1e-6 * (std::abs(g0[k]) + s))
              << c.name << " " << target << " i=" << i;
          ASSERT_NEAR(h1[k], h0[k], 1e-6 * (std::abs(h0[k]) + s))
              << c.name << " " << target << " i=" << i;
        }
        EXPECT_NEAR(v1, v0, 1e-5 * (std::abs(v0) + 1e-3)) << c.name;
      }
    }
  }
}

// Bitwise-identical value and gradient at 1 and 2 threads, on every target.
TEST_P(RegressionTest, DeterministicAcrossThreadCounts) {
  const Case& c = GetParam();
  const int64_t n = 300001;
  Data<float> f(c, n, 23);
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

// Finite inputs, however extreme, never give NaN in value or gradient.
TEST_P(RegressionTest, ExtremeFiniteInputsGiveNoNaN) {
  const Case& c = GetParam();
  const bool rate = c.x_lo >= 0.0;  // poisson with log_input=False
  std::vector<float> x = {1e30f, rate ? 0.f : -1e30f,   3e38f, 1e-30f,
                          0.f,   rate ? 1e-45f : -3e38f};
  std::vector<float> y = {-1e30f, 1e30f, 0.f, 0.f, 1e30f, 3e38f};
  if (c.y_lo >= 0.0) y = {0.f, 1e30f, 0.f, 0.f, 1e30f, 3e38f};
  const int64_t n = int64_t(x.size());
  std::vector<float> out(static_cast<size_t>(n)), grad(static_cast<size_t>(n)),
      hess(static_cast<size_t>(n));
  c.call(view<float>(x.data(), {n}), view<float>(y.data(), {n}), {},
         Reduction::kNone,
         {.out = mutable_view<float>(out.data(), {n}),
          .grad_out = mutable_view<float>(grad.data(), {n}),
          .hess_out = mutable_view<float>(hess.data(), {n})});
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_FALSE(std::isnan(out[size_t(i)])) << c.name << " i=" << i;
    EXPECT_FALSE(std::isnan(grad[size_t(i)])) << c.name << " i=" << i;
    EXPECT_FALSE(std::isnan(hess[size_t(i)])) << c.name << " i=" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllLosses, RegressionTest,
                         ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Conventions and identities.

TEST(Regression, SubgradientAtKinksIsZero) {
  // Documented in docs/losses.md: l1 and quantile use 0 at e = 0 (PyTorch's
  // sign(0) = 0 for l1_loss).
  const std::vector<double> x = {1.0, -2.0}, y = {1.0, -2.0};
  std::vector<double> g(2, 99.0);
  l1_loss(view<double>(x.data(), {2}), view<double>(y.data(), {2}), {},
          {.grad_out = mutable_view<double>(g.data(), {2})});
  EXPECT_EQ(g[0], 0.0);
  EXPECT_EQ(g[1], 0.0);
  g = {99.0, 99.0};
  quantile_loss(view<double>(x.data(), {2}), view<double>(y.data(), {2}),
                {.quantile = {0.9}},
                {.grad_out = mutable_view<double>(g.data(), {2})});
  EXPECT_EQ(g[0], 0.0);
  EXPECT_EQ(g[1], 0.0);
}

TEST(Regression, HuberEqualsDeltaTimesSmoothL1) {
  const int64_t n = 1001;
  auto x = random_vector<double>(n, 1, -5, 5), y = random_vector<double>(n, 2);
  for (double delta : {0.1, 1.0, 2.5}) {
    const double h = huber_loss(view<double>(x.data(), {n}),
                                view<double>(y.data(), {n}), {.delta = delta});
    const double s =
        smooth_l1_loss(view<double>(x.data(), {n}), view<double>(y.data(), {n}),
                       {.beta = delta});
    EXPECT_NEAR(h, delta * s, 1e-12 * std::abs(h));
  }
}

TEST(Regression, QuantileUnderPredictionCostsMoreAboveMedian) {
  // tau = 0.9: predicting 1 below the target costs 0.9, above costs 0.1.
  const std::vector<double> y = {0.0};
  const std::vector<double> under = {-1.0}, over = {1.0};
  const double lu =
      quantile_loss(view<double>(under.data(), {1}),
                    view<double>(y.data(), {1}), {.quantile = {0.9}});
  const double lo =
      quantile_loss(view<double>(over.data(), {1}), view<double>(y.data(), {1}),
                    {.quantile = {0.9}});
  EXPECT_DOUBLE_EQ(lu, 0.9);
  EXPECT_DOUBLE_EQ(lo, 0.1 + 0.0 * lo);
  EXPECT_NEAR(lo, 0.1, 1e-15);
}

TEST(Regression, MultiQuantileColumnsUseTheirOwnTau) {
  // input (N=2, Q=3), target (2,) shared per row.
  const std::vector<double> x = {0, 0, 0, 2, 2, 2};
  const std::vector<double> y = {1, 1};
  const std::vector<double> taus = {0.1, 0.5, 0.9};
  std::vector<double> out(6), grad(6);
  quantile_loss(view<double>(x.data(), {2, 3}), view<double>(y.data(), {2}),
                {.quantile = taus, .reduction = Reduction::kNone},
                {.out = mutable_view<double>(out.data(), {2, 3}),
                 .grad_out = mutable_view<double>(grad.data(), {2, 3})});
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(out[size_t(j)], taus[size_t(j)] * 1.0, 1e-15);      // e = 1
    EXPECT_NEAR(out[size_t(3 + j)], (1 - taus[size_t(j)]), 1e-15);  // e = -1
    EXPECT_NEAR(grad[size_t(j)], -taus[size_t(j)], 1e-15);
    EXPECT_NEAR(grad[size_t(3 + j)], 1 - taus[size_t(j)], 1e-15);
  }
  // The same with a full (N, Q) target.
  const std::vector<double> y2 = {1, 1, 1, 1, 1, 1};
  const double m =
      quantile_loss(view<double>(x.data(), {2, 3}),
                    view<double>(y2.data(), {2, 3}), {.quantile = taus});
  EXPECT_NEAR(m, (0.1 + 0.5 + 0.9 + 0.9 + 0.5 + 0.1) / 6.0, 1e-15);
}

TEST(Regression, AllZeroWeightsGiveZeroMeanAndZeroGradient) {
  const std::vector<float> x = {1, 2, 3}, y = {0, 0, 0}, w = {0, 0, 0};
  std::vector<float> g(3, 7.f);
  const double v =
      mse_loss(view<float>(x.data(), {3}), view<float>(y.data(), {3}),
               {.weight = view<float>(w.data(), {3})},
               {.grad_out = mutable_view<float>(g.data(), {3})});
  EXPECT_EQ(v, 0.0);
  for (float gi : g) EXPECT_EQ(gi, 0.f);
}

TEST(Regression, Float32MeanOf16MValuesIsAccurate) {
  // Issue acceptance: within 1e-6 relative of a float64 reference.
  const int64_t n = int64_t(1) << 24;
  std::vector<float> x = random_vector<float>(n, 3, 0.0, 2.0);
  std::vector<float> y(size_t(n), 0.f);
  double ref = 0.0;
  for (float v : x) ref += double(v) * double(v);
  ref /= double(n);
  const double got =
      mse_loss(view<float>(x.data(), {n}), view<float>(y.data(), {n}));
  EXPECT_NEAR(got, ref, 1e-6 * ref);
}

// ---------------------------------------------------------------------------
// Bad input: each gets an Error that names the function and the argument.

using testing::error_of;

TEST(RegressionErrors, ShapeMismatchNeverBroadcasts) {
  std::vector<float> a(32), b(32);
  ErrorKind k;
  const std::string msg = error_of(
      [&] {
        huber_loss(view<float>(a.data(), {32, 1}), view<float>(b.data(), {32}));
      },
      &k);
  EXPECT_EQ(k, ErrorKind::kValue);
  EXPECT_EQ(msg,
            "huber_loss: input shape (32, 1) does not match target shape "
            "(32,); pass arrays of the same shape (losslab never broadcasts "
            "implicitly)");
}

TEST(RegressionErrors, NanTargetNamesTheIndexAndPoisonsOutputs) {
  std::vector<float> x(100, 1.f), y(100, 0.f), g(100, 5.f);
  y[57] = std::nanf("");
  const std::string msg = error_of([&] {
    mse_loss(view<float>(x.data(), {100}), view<float>(y.data(), {100}), {},
             {.grad_out = mutable_view<float>(g.data(), {100})});
  });
  EXPECT_NE(msg.find("mse_loss: target contains nan at index 57"),
            std::string::npos)
      << msg;
  for (float gi : g) EXPECT_TRUE(std::isnan(gi));  // never half-written
}

TEST(RegressionErrors, BadWeights) {
  std::vector<double> x(5, 1.0), y(5, 0.0), w(5, 1.0);
  w[3] = -1.0;
  std::string msg = error_of([&] {
    mse_loss(view<double>(x.data(), {5}), view<double>(y.data(), {5}),
             {.weight = view<double>(w.data(), {5})});
  });
  EXPECT_NE(msg.find("weight must be finite and >= 0; got -1 at index 3"),
            std::string::npos)
      << msg;
  w[3] = std::numeric_limits<double>::infinity();
  msg = error_of([&] {
    mse_loss(
        view<double>(x.data(), {5}), view<double>(y.data(), {5}),
        {.weight = view<double>(w.data(), {5}), .reduction = Reduction::kSum});
  });
  EXPECT_NE(msg.find("got inf at index 3"), std::string::npos) << msg;
  std::vector<double> w4(4, 1.0);
  msg = error_of([&] {
    mse_loss(view<double>(x.data(), {5}), view<double>(y.data(), {5}),
             {.weight = view<double>(w4.data(), {4})});
  });
  EXPECT_NE(msg.find("weight shape (4,)"), std::string::npos) << msg;
}

TEST(RegressionErrors, WrongDtypes) {
  std::vector<int64_t> xi(4, 1);
  std::vector<float> xf(4, 1.f);
  std::vector<double> yd(4, 1.0);
  ErrorKind k;
  std::string msg = error_of(
      [&] {
        mse_loss(view<int64_t>(xi.data(), {4}), view<int64_t>(xi.data(), {4}));
      },
      &k);
  EXPECT_EQ(k, ErrorKind::kType);
  EXPECT_NE(msg.find("mse_loss: input dtype int64 is not supported"),
            std::string::npos);
  msg = error_of(
      [&] {
        mse_loss(view<float>(xf.data(), {4}), view<double>(yd.data(), {4}));
      },
      &k);
  EXPECT_EQ(k, ErrorKind::kType);
  EXPECT_NE(msg.find("target dtype float64 does not match input dtype float32"),
            std::string::npos);
}

TEST(RegressionErrors, EmptyBatch) {
  std::vector<float> x;
  const std::string msg = error_of(
      [&] { l1_loss(view<float>(x.data(), {0}), view<float>(x.data(), {0})); });
  EXPECT_NE(msg.find("l1_loss: input is empty (shape (0,))"), std::string::npos)
      << msg;
}

TEST(RegressionErrors, InvalidOptions) {
  std::vector<float> x(4, 1.f);
  const View v = view<float>(x.data(), {4});
  EXPECT_NE(error_of([&] {
              huber_loss(v, v, {.delta = 0.0});
            }).find("huber_loss: delta=0 must be finite and > 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              smooth_l1_loss(v, v, {.beta = -1.0});
            }).find("smooth_l1_loss: beta=-1 must be finite and >= 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              pseudo_huber_loss(v, v, {.delta = -2.0});
            }).find("delta=-2"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              quantile_loss(v, v, {.quantile = {1.5}});
            }).find("quantile=1.5 must lie strictly between 0 and 1"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              mse_loss(v, v, {.reduction = Reduction::kBatchMean});
            }).find("batchmean"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              mse_loss(v, v, {.reduction = Reduction::kNone});
            }).find("needs outputs.out"),
            std::string::npos);
}

TEST(RegressionErrors, NanPolicyRaiseNamesFirstBadInput) {
  std::vector<float> x(10, 1.f), y(10, 0.f);
  x[4] = std::numeric_limits<float>::infinity();
  x[6] = std::nanf("");
  // Default: IEEE propagation.
  EXPECT_TRUE(std::isinf(mse_loss(view<float>(x.data(), {10}),
                                  view<float>(y.data(), {10}))) ||
              std::isnan(mse_loss(view<float>(x.data(), {10}),
                                  view<float>(y.data(), {10}))));
  const std::string msg = error_of([&] {
    mse_loss(view<float>(x.data(), {2, 5}), view<float>(y.data(), {2, 5}),
             {.nan_policy = NanPolicy::kRaise});
  });
  EXPECT_NE(msg.find("input contains inf at index (0, 4)"), std::string::npos)
      << msg;
}

TEST(Regression, NanInputGivesNanGradientOnEveryTarget) {
  // As autograd: a NaN prediction makes the loss, gradient and Hessian NaN
  // (clamps and selects in the kernels must not hide it).
  std::vector<float> x = {std::nanf(""), 1.f}, y = {0.f, 0.f};
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    for (const Case& c : cases()) {
      std::vector<float> out(2), g(2), h(2);
      c.call(view<float>(x.data(), {2}), view<float>(y.data(), {2}), {},
             Reduction::kNone,
             {.out = mutable_view<float>(out.data(), {2}),
              .grad_out = mutable_view<float>(g.data(), {2}),
              .hess_out = mutable_view<float>(h.data(), {2})});
      EXPECT_TRUE(std::isnan(out[0])) << c.name << " " << target;
      EXPECT_TRUE(std::isnan(g[0])) << c.name << " " << target;
      EXPECT_TRUE(std::isnan(h[0])) << c.name << " " << target;
      EXPECT_FALSE(std::isnan(g[1])) << c.name << " " << target;
    }
  }
}

TEST(Regression, PoissonOverflowIsInfiniteOnEveryTarget) {
  // torch: exp(1000) - 2 * 1000 = inf. Highway's vector Exp is only
  // specified up to 104 (float), so the kernel must select the IEEE limit.
  std::vector<float> x = {1000.f, 200.f, 88.f, -1000.f},
                     y = {2.f, 2.f, 2.f, 2.f};
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> out(4), g(4);
    poisson_nll_loss(view<float>(x.data(), {4}), view<float>(y.data(), {4}),
                     {.reduction = Reduction::kNone},
                     {.out = mutable_view<float>(out.data(), {4}),
                      .grad_out = mutable_view<float>(g.data(), {4})});
    EXPECT_TRUE(std::isinf(out[0]) && out[0] > 0) << target << " " << out[0];
    EXPECT_TRUE(std::isinf(g[0]) && g[0] > 0) << target;
    EXPECT_TRUE(std::isinf(out[1]) && out[1] > 0) << target << " " << out[1];
    EXPECT_NEAR(out[2], std::exp(88.0) - 176.0, 1e-6 * std::exp(88.0))
        << target;
    EXPECT_NEAR(out[3], 2000.0, 1e-3) << target;  // exp(-1000) = 0
    // log_input=False at the domain edge: x = 0, eps = 0 gives -y log 0 = inf.
    std::vector<float> z = {0.f}, one = {1.f}, lz(1);
    poisson_nll_loss(
        view<float>(z.data(), {1}), view<float>(one.data(), {1}),
        {.log_input = false, .eps = 0.0, .reduction = Reduction::kNone},
        {.out = mutable_view<float>(lz.data(), {1})});
    EXPECT_TRUE(std::isinf(lz[0]) && lz[0] > 0) << target << " " << lz[0];
  }
}

TEST(RegressionErrors, PoissonRateMustBeNonNegative) {
  std::vector<double> x = {1.0, -0.5}, y = {1.0, 1.0};
  const std::string msg = error_of([&] {
    poisson_nll_loss(view<double>(x.data(), {2}), view<double>(y.data(), {2}),
                     {.log_input = false});
  });
  EXPECT_NE(msg.find("input must be >= 0 when log_input=False"),
            std::string::npos)
      << msg;
}

TEST(RegressionErrors, OutputsMustMatch) {
  std::vector<float> x(4, 1.f), g(3);
  std::vector<double> gd(4);
  const View v = view<float>(x.data(), {4});
  EXPECT_NE(error_of([&] {
              mse_loss(v, v, {},
                       {.grad_out = mutable_view<float>(g.data(), {3})});
            }).find("grad_out shape (3,) must be (4,)"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              mse_loss(v, v, {},
                       {.grad_out = mutable_view<double>(gd.data(), {4})});
            }).find("grad_out dtype float64 must be float32"),
            std::string::npos);
}

TEST(Regression, StridedInputsAreHandled) {
  // A (3, 2) Fortran-ordered view equals the same values packed in C order.
  const std::vector<double> f_order = {1, 2, 3, 4, 5, 6};  // columns
  const std::vector<double> c_order = {1, 4, 2, 5, 3, 6};
  const std::vector<double> zeros(6, 0.0);
  View strided{f_order.data(), DType::kFloat64, Shape{3, 2}, Shape{1, 3}};
  std::vector<double> out(6);
  mse_loss(strided, view<double>(zeros.data(), {3, 2}),
           {.reduction = Reduction::kNone},
           {.out = mutable_view<double>(out.data(), {3, 2})});
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(out[size_t(i)], c_order[size_t(i)] * c_order[size_t(i)]);
}

}  // namespace
}  // namespace losslab
