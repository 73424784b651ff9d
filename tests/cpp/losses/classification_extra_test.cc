// hinge / squared hinge, kl_div, kl_divergence, sigmoid_focal_loss
// (elementwise) and multi_margin_loss (row kernel) against closed-form math
// written here in long double (each test names its oracle), central
// differences, the scalar twins on every SIMD target and thread-count
// determinism. PyTorch comparisons: tests/python/test_classification_extra.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/losses/classification.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;

using testing::error_of;

long double softplus(long double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// ---------------------------------------------------------------------------
// Elementwise losses.

enum class YKind { kLabels, kLabels01, kProb, kLogProb, kSoft };

struct ElemCase {
  std::string name;
  std::function<double(View, View, View, Reduction, const LossOutputs&)> call;
  std::function<long double(long double x, long double y)> formula;
  double x_lo, x_hi;
  YKind y;
  bool weights = true;  // the loss takes per-element weights
  bool hess = true;     // the loss returns a Hessian
};

std::vector<ElemCase> elem_cases() {
  std::vector<ElemCase> c;
  // Oracle: max(0, m - y x) with the {0, 1} labels mapped to -1.
  auto hinge = [](long double m, bool sq) {
    return [m, sq](long double x, long double y) {
      const long double s = y > 0 ? 1 : -1;
      const long double t = std::max<long double>(0, m - s * x);
      return sq ? t * t : t;
    };
  };
  c.push_back({"hinge",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return hinge_loss(x, y, {.weight = w, .reduction = r}, o);
               },
               hinge(1, false), -3, 3, YKind::kLabels});
  c.push_back({"hinge_margin_0_5_labels01",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return hinge_loss(
                     x, y, {.margin = 0.5, .weight = w, .reduction = r}, o);
               },
               hinge(0.5, false), -3, 3, YKind::kLabels01});
  c.push_back({"squared_hinge",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return squared_hinge_loss(
                     x, y, {.margin = 2.0, .weight = w, .reduction = r}, o);
               },
               hinge(2, true), -3, 3, YKind::kLabels});
  // Oracle: p log p - p x (0 at p = 0).
  c.push_back({"kl_div",
               [](View x, View y, View, Reduction r, const LossOutputs& o) {
                 return kl_div(x, y, {.reduction = r}, o);
               },
               [](long double x, long double y) {
                 return y > 0 ? y * std::log(y) - y * x : 0.0L;
               },
               -6, 0, YKind::kProb, false});
  c.push_back(
      {"kl_div_log_target",
       [](View x, View y, View, Reduction r, const LossOutputs& o) {
         return kl_div(x, y, {.log_target = true, .reduction = r}, o);
       },
       [](long double x, long double y) { return std::exp(y) * (y - x); }, -6,
       0, YKind::kLogProb, false});
  // Oracle: p log(p / q) per element; one distribution (1-D input).
  c.push_back({"kl_divergence",
               [](View q, View p, View, Reduction r, const LossOutputs& o) {
                 LossOutputs o2 = o;
                 if (r == Reduction::kNone) {
                   // Per-element values: the sum of a 1-element row each.
                   const int64_t n = q.numel();
                   View q2 = q, p2 = p;
                   q2.shape = {n, 1};
                   p2.shape = {n, 1};
                   o2.out.shape = {n};
                   if (o2.grad_out.present()) o2.grad_out.shape = {n, 1};
                   if (o2.hess_out.present()) o2.hess_out.shape = {n, 1};
                   return kl_divergence(p2, q2, {.reduction = r}, o2);
                 }
                 return kl_divergence(p, q, {.reduction = Reduction::kSum}, o);
               },
               [](long double q, long double p) {
                 return p > 0 ? p * std::log(p / q) : 0.0L;
               },
               0.01, 1, YKind::kProb, false});
  // Oracle: torchvision's formula in long double.
  auto focal = [](long double alpha, long double gamma) {
    return [alpha, gamma](long double x, long double y) {
      const long double p = 1 / (1 + std::exp(-x));
      const long double ce = y * softplus(-x) + (1 - y) * softplus(x);
      const long double pt = p * y + (1 - p) * (1 - y);
      long double l = ce * std::pow(1 - pt, gamma);
      if (alpha >= 0) l *= alpha * y + (1 - alpha) * (1 - y);
      return l;
    };
  };
  c.push_back({"sigmoid_focal",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return sigmoid_focal_loss(x, y, {.weight = w, .reduction = r},
                                           o);
               },
               focal(0.25, 2), -6, 6, YKind::kSoft, true, true});
  c.push_back(
      {"sigmoid_focal_no_alpha_gamma_0_5",
       [](View x, View y, View w, Reduction r, const LossOutputs& o) {
         return sigmoid_focal_loss(
             x, y,
             {.alpha = std::nullopt, .gamma = 0.5, .weight = w, .reduction = r},
             o);
       },
       focal(-1, 0.5), -6, 6, YKind::kSoft, true, true});
  c.push_back({"sigmoid_focal_alpha_0_7_gamma_1_5",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return sigmoid_focal_loss(
                     x, y,
                     {.alpha = 0.7, .gamma = 1.5, .weight = w, .reduction = r},
                     o);
               },
               focal(0.7, 1.5), -6, 6, YKind::kSoft, true, true});
  // Labels all 0 or 1: the SIMD functor's hard-label form (vectors whose
  // labels are all hard), against the same oracle.
  c.push_back({"sigmoid_focal_hard_labels",
               [](View x, View y, View w, Reduction r, const LossOutputs& o) {
                 return sigmoid_focal_loss(x, y, {.weight = w, .reduction = r},
                                           o);
               },
               focal(0.25, 2), -12, 12, YKind::kLabels01, true, true});
  c.push_back(
      {"sigmoid_focal_hard_labels_no_alpha_gamma_3",
       [](View x, View y, View w, Reduction r, const LossOutputs& o) {
         return sigmoid_focal_loss(
             x, y,
             {.alpha = std::nullopt, .gamma = 3.0, .weight = w, .reduction = r},
             o);
       },
       focal(-1, 3), -12, 12, YKind::kLabels01, true, true});
  return c;
}

template <class T>
struct ElemData {
  std::vector<T> x, y, w;
  ElemData(const ElemCase& c, int64_t n, uint32_t seed) {
    x = random_vector<T>(n, seed, c.x_lo, c.x_hi);
    w = random_vector<T>(n, seed + 2, 0.0, 2.0);
    std::mt19937 rng(seed + 1);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    y.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const double v = u(rng);
      switch (c.y) {
        case YKind::kLabels:
          y[size_t(i)] = v < 0.5 ? T(-1) : T(1);
          break;
        case YKind::kLabels01:
          y[size_t(i)] = v < 0.5 ? T(0) : T(1);
          break;
        case YKind::kProb:
          y[size_t(i)] = i % 7 == 0 ? T(0) : T(v);
          break;
        case YKind::kLogProb:
          y[size_t(i)] = T(std::log(0.01 + v));
          break;
        case YKind::kSoft:
          y[size_t(i)] = i % 3 == 0 ? T(v < 0.5) : T(v);
          break;
      }
    }
  }
  View xv() const { return view<T>(x.data(), {int64_t(x.size())}); }
  View yv() const { return view<T>(y.data(), {int64_t(y.size())}); }
  View wv() const { return view<T>(w.data(), {int64_t(w.size())}); }
};

class ElemTest : public ::testing::TestWithParam<ElemCase> {};

TEST_P(ElemTest, ValuesMatchClosedForm) {
  const ElemCase& c = GetParam();
  for (int64_t n : {1, 7, 16, 17, 2049, 5003}) {
    ElemData<double> d(c, n, 7);
    for (bool weighted : {false, true}) {
      if (weighted && !c.weights) continue;
      long double sum = 0, sabs = 0, sw = 0;
      std::vector<double> per(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const long double wi = weighted ? d.w[size_t(i)] : 1.0;
        const long double l = wi * c.formula(d.x[size_t(i)], d.y[size_t(i)]);
        per[size_t(i)] = double(l);
        sum += l;
        sabs += std::abs(l);
        sw += wi;
      }
      const View w = weighted ? d.wv() : View{};
      const double tol = 1e-12 * double(sabs) + 1e-300;
      EXPECT_NEAR(c.call(d.xv(), d.yv(), w, Reduction::kSum, {}), double(sum),
                  tol)
          << c.name << " n=" << n;
      if (c.name != "kl_divergence") {
        EXPECT_NEAR(c.call(d.xv(), d.yv(), w, Reduction::kMean, {}),
                    double(sum / sw), tol / double(sw))
            << c.name << " n=" << n;
      }
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

// Oracle: central differences of the value; every reduction, weights and an
// upstream gradient.
TEST_P(ElemTest, GradientMatchesCentralDifferences) {
  const ElemCase& c = GetParam();
  const int64_t n = 37;
  ElemData<double> d(c, n, 11);
  for (Reduction r : {Reduction::kMean, Reduction::kSum, Reduction::kNone}) {
    if (r == Reduction::kMean && c.name == "kl_divergence") continue;
    for (bool weighted : {false, true}) {
      if (weighted && !c.weights) continue;
      const View w = weighted ? d.wv() : View{};
      const std::vector<double> go = random_vector<double>(n, 5, 0.5, 1.5);
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
TEST_P(ElemTest, HessianMatchesCentralDifferencesOfGradient) {
  const ElemCase& c = GetParam();
  const int64_t n = 30;
  ElemData<double> d(c, n, 13);
  if (!c.hess) {  // documented: no Hessian, and asking for one is an error
    std::vector<double> hv(static_cast<size_t>(n));
    EXPECT_NE(error_of([&] {
                c.call(d.xv(), d.yv(), View{}, Reduction::kSum,
                       {.hess_out = mutable_view<double>(hv.data(), {n})});
              }).find("hess_out is not available"),
              std::string::npos)
        << c.name;
    return;
  }
  std::vector<double> grad(static_cast<size_t>(n)),
      hess(static_cast<size_t>(n)), num(static_cast<size_t>(n));
  c.call(d.xv(), d.yv(), View{}, Reduction::kSum,
         {.grad_out = mutable_view<double>(grad.data(), {n}),
          .hess_out = mutable_view<double>(hess.data(), {n})});
  for (int64_t i = 0; i < n; ++i) {
    auto gi = [&](double xi) {
      std::vector<double> x = d.x, g(static_cast<size_t>(n));
      x[size_t(i)] = xi;
      c.call(view<double>(x.data(), {n}), d.yv(), View{}, Reduction::kSum,
             {.grad_out = mutable_view<double>(g.data(), {n})});
      return g[size_t(i)];
    };
    num[size_t(i)] =
        (gi(d.x[size_t(i)] + 1e-6) - gi(d.x[size_t(i)] - 1e-6)) / 2e-6;
  }
  EXPECT_LT(rel_error(hess, num), 1e-6) << c.name;
}

// Oracle: the scalar twins; SIMD targets agree within a few ULP (bitwise for
// the hinge losses, which have no exp/log).
TEST_P(ElemTest, SimdTargetsMatchScalarTwin) {
  const ElemCase& c = GetParam();
  for (int64_t n : {1, 5, 15, 16, 17, 33, 2047, 2049, 9003}) {
    ElemData<float> f(c, n, 17);
    const View w = c.weights ? f.wv() : View{};
    auto run = [&](const std::string& target, std::vector<float>& out,
                   std::vector<float>& grad) {
      testing::ScopedTarget t(target);
      out.assign(static_cast<size_t>(n), 0.f);
      grad.assign(static_cast<size_t>(n), 0.f);
      c.call(f.xv(), f.yv(), w, Reduction::kNone,
             {.out = mutable_view<float>(out.data(), {n}),
              .grad_out = mutable_view<float>(grad.data(), {n})});
      return c.call(f.xv(), f.yv(), w, Reduction::kSum, {});
    };
    std::vector<float> o0, g0;
    const double v0 = run("scalar", o0, g0);
    for (const std::string& target : testing::all_targets()) {
      if (target == "scalar") continue;
      std::vector<float> o1, g1;
      const double v1 = run(target, o1, g1);
      const bool exact = c.name.find("hinge") != std::string::npos;
      for (size_t k = 0; k < size_t(n); ++k) {
        if (exact) {
          ASSERT_EQ(o1[k], o0[k]) << c.name << " " << target << " i=" << k;
          ASSERT_EQ(g1[k], g0[k]) << c.name << " " << target << " i=" << k;
        } else {
          // The KL terms p log p - p x cancel: the bound is a few ULP of the
          // O(|x| + 1) terms, not of the small result.
          ASSERT_NEAR(
              o1[k], o0[k],
              4e-6 * (std::abs(o0[k]) + 1e-3) + 2e-7 * (std::abs(f.x[k]) + 1.0))
              << c.name << " " << target << " i=" << k;
          ASSERT_NEAR(g1[k], g0[k], 2e-6 * (std::abs(g0[k]) + 1.0))
              << c.name << " " << target << " i=" << k;
        }
      }
      EXPECT_NEAR(v1, v0, 1e-5 * (std::abs(v0) + 1e-3)) << c.name << target;
    }
  }
}

TEST_P(ElemTest, DeterministicAcrossThreadCounts) {
  const ElemCase& c = GetParam();
  const int64_t n = 300000;
  ElemData<float> f(c, n, 23);
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> g1(static_cast<size_t>(n)), g2(static_cast<size_t>(n));
    double v1, v2;
    {
      testing::ScopedThreads th(1);
      v1 = c.call(f.xv(), f.yv(), View{}, Reduction::kSum,
                  {.grad_out = mutable_view<float>(g1.data(), {n})});
    }
    {
      testing::ScopedThreads th(2);
      v2 = c.call(f.xv(), f.yv(), View{}, Reduction::kSum,
                  {.grad_out = mutable_view<float>(g2.data(), {n})});
    }
    EXPECT_EQ(v1, v2) << c.name << " " << target;
    EXPECT_EQ(std::memcmp(g1.data(), g2.data(), g1.size() * 4), 0)
        << c.name << " " << target;
  }
}

INSTANTIATE_TEST_SUITE_P(AllLosses, ElemTest, ::testing::ValuesIn(elem_cases()),
                         [](const auto& info) { return info.param.name; });

// Pins the kink convention: gradient 0 where y x = margin; Hessian 0 there.
TEST(Hinge, KinkHasZeroSubgradientOnEveryTarget) {
  const std::vector<float> x = {1.f, -1.f, 0.5f, 3.f, 1.f};
  const std::vector<float> y = {1.f, -1.f, 1.f, 0.f, 0.f};
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> g(5), h(5);
    hinge_loss(view<float>(x.data(), {5}), view<float>(y.data(), {5}),
               {.reduction = Reduction::kSum},
               {.grad_out = mutable_view<float>(g.data(), {5}),
                .hess_out = mutable_view<float>(h.data(), {5})});
    EXPECT_EQ(g, (std::vector<float>{0, 0, -1, 1, 1})) << target;
    EXPECT_EQ(h, (std::vector<float>{0, 0, 0, 0, 0})) << target;
    squared_hinge_loss(view<float>(x.data(), {5}), view<float>(y.data(), {5}),
                       {.reduction = Reduction::kSum},
                       {.grad_out = mutable_view<float>(g.data(), {5}),
                        .hess_out = mutable_view<float>(h.data(), {5})});
    EXPECT_EQ(g, (std::vector<float>{0, 0, -1, 8, 4})) << target;
    EXPECT_EQ(h, (std::vector<float>{0, 0, 2, 2, 2})) << target;
  }
}

TEST(Hinge, BadLabelNamesIndexAndPoisonsOutputs) {
  std::vector<double> x(20, 0.0), y(20, 1.0), g(20, 0.0);
  y[13] = 0.5;
  const std::string msg = error_of([&] {
    hinge_loss(view<double>(x.data(), {20}), view<double>(y.data(), {20}), {},
               {.grad_out = mutable_view<double>(g.data(), {20})});
  });
  EXPECT_NE(msg.find("hinge_loss: target must hold labels in {-1, 1}"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("got 0.5 at index 13"), std::string::npos) << msg;
  for (double v : g) EXPECT_TRUE(std::isnan(v));
}

TEST(Hinge, ExtremeFiniteInputsGiveNoNaN) {
  const std::vector<float> x = {3e38f, -3e38f, 1e-30f, 0.f};
  const std::vector<float> y = {-1.f, 1.f, 1.f, 0.f};
  std::vector<float> out(4), g(4), h(4);
  squared_hinge_loss(view<float>(x.data(), {4}), view<float>(y.data(), {4}),
                     {.reduction = Reduction::kNone},
                     {.out = mutable_view<float>(out.data(), {4}),
                      .grad_out = mutable_view<float>(g.data(), {4}),
                      .hess_out = mutable_view<float>(h.data(), {4})});
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(std::isnan(out[i]) || std::isnan(g[i]) || std::isnan(h[i]));
  }
}

// Oracle: 0 log 0 = 0 in value and gradient, including input -inf.
TEST(KlDiv, ZeroTargetGivesZeroOnEveryTarget) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {-inf, -2.f, -0.5f};
  const std::vector<float> y = {0.f, 0.f, 1.f};
  const std::vector<float> ly = {-inf, -inf, 0.f};
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    for (bool log_target : {false, true}) {
      std::vector<float> out(3), g(3);
      kl_div(view<float>(x.data(), {3}),
             view<float>(log_target ? ly.data() : y.data(), {3}),
             {.log_target = log_target, .reduction = Reduction::kNone},
             {.out = mutable_view<float>(out.data(), {3}),
              .grad_out = mutable_view<float>(g.data(), {3})});
      EXPECT_EQ(out, (std::vector<float>{0, 0, 0.5f})) << target;
      EXPECT_EQ(g, (std::vector<float>{0, 0, -1})) << target;
    }
  }
}

// Oracle: batchmean = sum / dim 0; mean = sum / numel.
TEST(KlDiv, BatchmeanDividesByDimZero) {
  const std::vector<double> x = {-1, -2, -3, -0.5, -0.1, -4};
  const std::vector<double> y = {0.2, 0.3, 0.5, 0.1, 0.1, 0.8};
  const View xv = view<double>(x.data(), {2, 3}),
             yv = view<double>(y.data(), {2, 3});
  const double s = kl_div(xv, yv, {.reduction = Reduction::kSum});
  EXPECT_DOUBLE_EQ(kl_div(xv, yv), s / 2);
  EXPECT_DOUBLE_EQ(kl_div(xv, yv, {.reduction = Reduction::kMean}), s / 6);
  std::vector<double> g(6);
  kl_div(xv, yv, {}, {.grad_out = mutable_view<double>(g.data(), {2, 3})});
  for (int i = 0; i < 6; ++i) EXPECT_DOUBLE_EQ(g[size_t(i)], -y[size_t(i)] / 2);
}

// Oracle: sum_c p log(p/q) per row in long double; q = 0 < p gives +inf.
TEST(KlDivergence, RowsMatchDefinitionAndZeroQIsInfinite) {
  const int64_t n = 5, c = 4;
  std::vector<double> p = random_vector<double>(n * c, 3, 0.0, 1.0),
                      q = random_vector<double>(n * c, 4, 0.05, 1.0);
  p[1] = 0.0;
  std::vector<double> go = {1, 2, 0.5, 1, 3}, out(static_cast<size_t>(n)),
                      g(static_cast<size_t>(n * c));
  kl_divergence(view<double>(p.data(), {n, c}), view<double>(q.data(), {n, c}),
                {.reduction = Reduction::kNone},
                {.out = mutable_view<double>(out.data(), {n}),
                 .grad_out = mutable_view<double>(g.data(), {n, c}),
                 .grad_output_elementwise = view<double>(go.data(), {n})});
  for (int64_t i = 0; i < n; ++i) {
    long double s = 0;
    for (int64_t k = 0; k < c; ++k) {
      const long double pk = p[size_t(i * c + k)], qk = q[size_t(i * c + k)];
      if (pk > 0) s += pk * std::log(pk / qk);
      EXPECT_NEAR(g[size_t(i * c + k)], double(-go[size_t(i)] * pk / qk),
                  1e-15);
    }
    EXPECT_NEAR(out[size_t(i)], double(s), 1e-14);
  }
  q[2] = 0.0;
  const double v = kl_divergence(view<double>(p.data(), {n, c}),
                                 view<double>(q.data(), {n, c}));
  EXPECT_EQ(v, std::numeric_limits<double>::infinity());
  const std::string msg = error_of([&] {
    kl_divergence(view<double>(p.data(), {n, c}),
                  view<double>(q.data(), {n, c}),
                  {.reduction = Reduction::kBatchMean});
  });
  EXPECT_NE(msg.find("'mean' already divides by the number of distributions"),
            std::string::npos)
      << msg;
}

// gamma = 0 without alpha is binary_cross_entropy_with_logits bit for bit.
TEST(SigmoidFocal, GammaZeroIsBceExactlyOnEveryTarget) {
  const int64_t n = 101;
  const std::vector<float> x = random_vector<float>(n, 1, -20, 20);
  const std::vector<float> y = random_vector<float>(n, 2, 0, 1);
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n)),
        ga(static_cast<size_t>(n)), gb(static_cast<size_t>(n));
    sigmoid_focal_loss(
        view<float>(x.data(), {n}), view<float>(y.data(), {n}),
        {.alpha = std::nullopt, .gamma = 0.0, .reduction = Reduction::kNone},
        {.out = mutable_view<float>(a.data(), {n}),
         .grad_out = mutable_view<float>(ga.data(), {n})});
    binary_cross_entropy_with_logits(
        view<float>(x.data(), {n}), view<float>(y.data(), {n}),
        {.reduction = Reduction::kNone},
        {.out = mutable_view<float>(b.data(), {n}),
         .grad_out = mutable_view<float>(gb.data(), {n})});
    EXPECT_EQ(a, b) << target;
    EXPECT_EQ(ga, gb) << target;
  }
}

// Saturated logits (+-100, +-1e4, +-3e38) with every gamma: finite.
TEST(SigmoidFocal, SaturatedLogitsAreFiniteOnEveryTarget) {
  const std::vector<float> x = {100,  -100,  1e4f,  -1e4f,  100, -100,
                                1e4f, -1e4f, 3e38f, -3e38f, 0,   50};
  const std::vector<float> y = {1, 0, 1, 0, 0, 1, 0, 1, 0.5f, 0.3f, 1, 0.9f};
  const int64_t n = int64_t(x.size());
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    for (double gamma : {0.0, 0.25, 1.0, 2.0, 5.0}) {
      std::vector<float> out(static_cast<size_t>(n)), g(static_cast<size_t>(n));
      sigmoid_focal_loss(view<float>(x.data(), {n}), view<float>(y.data(), {n}),
                         {.gamma = gamma, .reduction = Reduction::kNone},
                         {.out = mutable_view<float>(out.data(), {n}),
                          .grad_out = mutable_view<float>(g.data(), {n})});
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_TRUE(std::isfinite(out[size_t(i)]) &&
                    std::isfinite(g[size_t(i)]))
            << target << " gamma=" << gamma << " i=" << i;
      }
      EXPECT_NEAR(out[4], 75.f, 1e-4f) << target;
      EXPECT_NEAR(g[4], 0.75f, 1e-6f) << target;
    }
  }
}

// Oracle: torchvision's formula and its derivative, in long double,
//   l = a_t ce m^gamma,  g = a_t [(p - y) m^gamma
//                                 + gamma ce m^(gamma-1) p (1 - p)(1 - 2y)],
// m = 1 - p_t. The float32 kernels keep a relative error of a few ulps in
// both, also where m is tiny (large |x| on the right side). The gradient's
// term p - y at y = 1 is the case that needs care: formed as s - 1 in
// float32 it keeps only the absolute error of s, a relative error of
// 2^-25 / (1 - s) (7e-4 at x = 10). Labels all hard (the SIMD
// hard-label form) and hard labels in vectors with one soft label (the
// general form) are both checked, on every target.
TEST(SigmoidFocal, RelativeErrorOfFewUlpsOnEveryTarget) {
  const int64_t n = 2048;
  std::vector<float> x(static_cast<size_t>(n));
  std::vector<float> y_hard(static_cast<size_t>(n)), y_mixed;
  for (int64_t i = 0; i < n; ++i) {
    // x from -15 to 15; labels alternate in runs of 3 (so both signs of
    // t = (2y - 1) x occur for every |x|).
    x[size_t(i)] = float(-15.0 + 30.0 * double(i) / double(n - 1));
    y_hard[size_t(i)] = (i / 3) % 2 == 0 ? 1.f : 0.f;
  }
  y_mixed = y_hard;
  for (int64_t i = 0; i < n; i += 16) y_mixed[size_t(i)] = 0.5f;
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    for (const auto* yv : {&y_hard, &y_mixed}) {
      const std::vector<float>& y = *yv;
      for (const auto& [alpha, gamma] :
           std::vector<std::pair<double, double>>{{0.25, 2.0}, {-1.0, 3.0}}) {
        std::vector<float> out(static_cast<size_t>(n)),
            g(static_cast<size_t>(n));
        SigmoidFocalOptions opt{.gamma = gamma, .reduction = Reduction::kNone};
        if (alpha < 0) opt.alpha = std::nullopt;
        if (alpha >= 0) opt.alpha = alpha;
        sigmoid_focal_loss(view<float>(x.data(), {n}),
                           view<float>(y.data(), {n}), opt,
                           {.out = mutable_view<float>(out.data(), {n}),
                            .grad_out = mutable_view<float>(g.data(), {n})});
        double worst_l = 0, worst_g = 0;
        for (int64_t i = 0; i < n; ++i) {
          const long double xi = x[size_t(i)], yi = y[size_t(i)];
          const long double p = 1 / (1 + std::exp(-xi));
          const long double ce = yi * softplus(-xi) + (1 - yi) * softplus(xi);
          // 1 - p_t without cancellation: p (1 - y) + (1 - p) y.
          const long double m = p * (1 - yi) + (1 / (1 + std::exp(xi))) * yi;
          const long double at =
              alpha >= 0 ? alpha * yi + (1 - alpha) * (1 - yi) : 1.0L;
          const long double pm = p * (1 - yi) - (1 / (1 + std::exp(xi))) * yi;
          const long double l = at * ce * std::pow(m, gamma);
          const long double gr =
              at * (pm * std::pow(m, gamma) +
                    gamma * ce * std::pow(m, gamma - 1) * p *
                        (1 / (1 + std::exp(xi))) * (1 - 2 * yi));
          if (y[size_t(i)] == 0.5f) continue;  // only the hard labels here
          worst_l = std::max(worst_l, std::abs(double(out[size_t(i)] - l)) /
                                          testing::float_ulp_at(double(l)));
          worst_g = std::max(worst_g, std::abs(double(g[size_t(i)] - gr)) /
                                          testing::float_ulp_at(double(gr)));
        }
        const char* which = yv == &y_hard ? "hard" : "mixed";
        // q = 1 - p_t carries about 2.5 ulp (exp, reciprocal, product) and
        // enters as q^gamma; ce and the products add about 4.
        const double bound = 4.0 + 3.0 * gamma;
        EXPECT_LE(worst_l, bound) << target << " " << which << " " << gamma;
        EXPECT_LE(worst_g, bound) << target << " " << which << " " << gamma;
        std::printf(
            "[ sigmoid_focal %s %s gamma=%g: max %.2f ulp (l), %.2f "
            "ulp (g) ]\n",
            target.c_str(), which, gamma, worst_l, worst_g);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// multi_margin_loss.

// Oracle: PyTorch's definition (LossMultiMargin.cpp) in long double.
struct MmRef {
  std::vector<double> per, grad;
  double value = 0;
};
MmRef mm_reference(const std::vector<double>& x, const std::vector<int64_t>& y,
                   int64_t N, int64_t C, int p, double m,
                   const std::vector<double>* w, Reduction r) {
  MmRef o;
  o.per.assign(static_cast<size_t>(N), 0.0);
  o.grad.assign(static_cast<size_t>(N * C), 0.0);
  const long double scale = r == Reduction::kMean ? 1.0L / N : 1.0L;
  long double sum = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = y[size_t(i)];
    const long double wy = w ? (*w)[size_t(t)] : 1.0;
    long double l = 0, gy = 0;
    for (int64_t k = 0; k < C; ++k) {
      if (k == t) continue;
      const long double z = m - x[size_t(i * C + t)] + x[size_t(i * C + k)];
      if (z > 0) {
        l += p == 1 ? z : z * z;
        const long double gk = wy / C * (p == 1 ? 1 : 2 * z);
        o.grad[size_t(i * C + k)] = double(gk * scale);
        gy -= gk;
      }
    }
    o.grad[size_t(i * C + t)] = double(gy * scale);
    o.per[size_t(i)] = double(wy * l / C);
    sum += wy * l / C;
  }
  o.value = double(sum * scale);
  return o;
}

TEST(MultiMargin, MatchesTorchDefinitionForEveryOption) {
  for (auto [n, c] : {std::pair<int64_t, int64_t>{1, 1},
                      {7, 3},
                      {13, 17},
                      {70, 33},
                      {9, 100}}) {
    const std::vector<double> x = random_vector<double>(n * c, 5, -2, 2);
    const std::vector<double> w = random_vector<double>(c, 6, 0.1, 2);
    std::vector<int64_t> y(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) y[size_t(i)] = (i * 7 + 3) % c;
    for (int p : {1, 2}) {
      for (bool weighted : {false, true}) {
        for (Reduction r :
             {Reduction::kMean, Reduction::kSum, Reduction::kNone}) {
          const MmRef ref =
              mm_reference(x, y, n, c, p, 0.7, weighted ? &w : nullptr, r);
          std::vector<double> out(static_cast<size_t>(n)),
              g(static_cast<size_t>(n * c));
          LossOutputs o{.grad_out = mutable_view<double>(g.data(), {n, c})};
          if (r == Reduction::kNone) {
            o.out = mutable_view<double>(out.data(), {n});
          }
          const double v = multi_margin_loss(
              view<double>(x.data(), {n, c}), view<int64_t>(y.data(), {n}),
              {.p = p,
               .margin = 0.7,
               .weight = weighted ? view<double>(w.data(), {c}) : View{},
               .reduction = r},
              o);
          const std::string tag = "n=" + std::to_string(n) +
                                  " c=" + std::to_string(c) +
                                  " p=" + std::to_string(p);
          if (r == Reduction::kNone) {
            for (int64_t i = 0; i < n; ++i) {
              EXPECT_NEAR(out[size_t(i)], ref.per[size_t(i)], 1e-13) << tag;
            }
          } else {
            EXPECT_NEAR(v, ref.value, 1e-13 * (std::abs(ref.value) + 1)) << tag;
          }
          EXPECT_LT(rel_error(g, ref.grad), 1e-13) << tag;
        }
      }
    }
  }
}

// Oracle: central differences, with an upstream gradient per sample.
TEST(MultiMargin, GradientMatchesCentralDifferences) {
  const int64_t n = 8, c = 21;
  const std::vector<double> x = random_vector<double>(n * c, 9, -2, 2);
  const std::vector<double> w = random_vector<double>(c, 10, 0.1, 2);
  const std::vector<double> go = random_vector<double>(n, 11, 0.5, 1.5);
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[size_t(i)] = (i * 5) % c;
  for (int p : {1, 2}) {
    const MultiMarginOptions opt{.p = p,
                                 .weight = view<double>(w.data(), {c}),
                                 .reduction = Reduction::kNone};
    std::vector<double> g(static_cast<size_t>(n * c)),
        out(static_cast<size_t>(n));
    multi_margin_loss(
        view<double>(x.data(), {n, c}), view<int64_t>(y.data(), {n}), opt,
        {.out = mutable_view<double>(out.data(), {n}),
         .grad_out = mutable_view<double>(g.data(), {n, c}),
         .grad_output_elementwise = view<double>(go.data(), {n})});
    auto f = [&](const std::vector<double>& z) {
      std::vector<double> per(static_cast<size_t>(n));
      multi_margin_loss(view<double>(z.data(), {n, c}),
                        view<int64_t>(y.data(), {n}), opt,
                        {.out = mutable_view<double>(per.data(), {n})});
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += go[size_t(i)] * per[size_t(i)];
      return s;
    };
    EXPECT_LT(rel_error(g, numeric_gradient(f, x)), 1e-7) << "p=" << p;
  }
}

// Oracle: the scalar twin; the SIMD targets add in the same 16-lane order and
// do no exp/log, so they agree bit for bit.
TEST(MultiMargin, SimdTargetsMatchScalarTwinBitwise) {
  for (int64_t c : {1, 2, 3, 4, 5, 8, 15, 16, 17, 31, 33, 100}) {
    const int64_t n = 67;
    const std::vector<float> x = random_vector<float>(n * c, 21, -2, 2);
    const std::vector<float> w = random_vector<float>(c, 22, 0.1, 2);
    std::vector<int32_t> y(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) y[size_t(i)] = int32_t((i * 13 + 1) % c);
    for (int p : {1, 2}) {
      auto run = [&](const std::string& target, std::vector<float>& out,
                     std::vector<float>& g) {
        testing::ScopedTarget t(target);
        out.assign(static_cast<size_t>(n), 0.f);
        g.assign(static_cast<size_t>(n * c), 0.f);
        return multi_margin_loss(
            view<float>(x.data(), {n, c}),
            View{y.data(), DType::kInt32, {n}, {}},
            {.p = p,
             .weight = view<float>(w.data(), {c}),
             .reduction = Reduction::kNone},
            {.out = mutable_view<float>(out.data(), {n}),
             .grad_out = mutable_view<float>(g.data(), {n, c})});
      };
      std::vector<float> o0, g0;
      const double v0 = run("scalar", o0, g0);
      for (const std::string& target : testing::all_targets()) {
        std::vector<float> o1, g1;
        const double v1 = run(target, o1, g1);
        EXPECT_EQ(v1, v0) << target << " c=" << c;
        EXPECT_EQ(o1, o0) << target << " c=" << c;
        EXPECT_EQ(g1, g0) << target << " c=" << c;
      }
    }
  }
}

TEST(MultiMargin, DeterministicAcrossThreadCounts) {
  const int64_t n = 20000, c = 19;
  const std::vector<float> x = random_vector<float>(n * c, 31, -2, 2);
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[size_t(i)] = (i * 7) % c;
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> g1(static_cast<size_t>(n * c)),
        g2(static_cast<size_t>(n * c));
    double v1, v2;
    {
      testing::ScopedThreads th(1);
      v1 = multi_margin_loss(
          view<float>(x.data(), {n, c}), view<int64_t>(y.data(), {n}), {.p = 2},
          {.grad_out = mutable_view<float>(g1.data(), {n, c})});
    }
    {
      testing::ScopedThreads th(2);
      v2 = multi_margin_loss(
          view<float>(x.data(), {n, c}), view<int64_t>(y.data(), {n}), {.p = 2},
          {.grad_out = mutable_view<float>(g2.data(), {n, c})});
    }
    EXPECT_EQ(v1, v2) << target;
    EXPECT_EQ(std::memcmp(g1.data(), g2.data(), g1.size() * 4), 0) << target;
  }
}

TEST(MultiMargin, NanScoreGivesNanRowOnEveryTarget) {
  std::vector<float> x(2 * 20, 0.5f);
  x[3] = std::nanf("");
  const std::vector<int64_t> y = {0, 7};
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> out(2), g(40);
    multi_margin_loss(view<float>(x.data(), {2, 20}),
                      view<int64_t>(y.data(), {2}),
                      {.reduction = Reduction::kNone},
                      {.out = mutable_view<float>(out.data(), {2}),
                       .grad_out = mutable_view<float>(g.data(), {2, 20})});
    EXPECT_TRUE(std::isnan(out[0])) << target;
    EXPECT_TRUE(std::isnan(g[0])) << target;
    EXPECT_FLOAT_EQ(out[1], 19.f / 20.f) << target;
  }
}

TEST(MultiMarginErrors, LabelsShapesAndOptions) {
  const std::vector<double> x(12, 0.0);
  std::vector<int64_t> y = {0, 1, 3, 2};
  std::vector<double> g(12, 1.0);
  std::string msg = error_of([&] {
    multi_margin_loss(view<double>(x.data(), {4, 3}),
                      view<int64_t>(y.data(), {4}), {},
                      {.grad_out = mutable_view<double>(g.data(), {4, 3})});
  });
  EXPECT_NE(msg.find("multi_margin_loss: target contains class 3 at index 2"),
            std::string::npos)
      << msg;
  for (double v : g) EXPECT_TRUE(std::isnan(v));
  y[2] = 0;
  msg = error_of([&] {
    multi_margin_loss(view<double>(x.data(), {4, 3}),
                      view<int64_t>(y.data(), {4}), {.p = 3});
  });
  EXPECT_NE(msg.find("p must be 1 or 2; got 3"), std::string::npos) << msg;
  msg = error_of([&] {
    multi_margin_loss(view<double>(x.data(), {4, 3}),
                      view<int64_t>(y.data(), {2, 2}));
  });
  EXPECT_NE(msg.find("expected (4,)"), std::string::npos) << msg;
  msg = error_of([&] {
    multi_margin_loss(view<double>(x.data(), {0, 3}),
                      view<int64_t>(y.data(), {0}));
  });
  EXPECT_NE(msg.find("input is empty"), std::string::npos) << msg;
  msg = error_of([&] {
    multi_margin_loss(view<double>(x.data(), {4, 3}),
                      view<int64_t>(y.data(), {4}),
                      {.reduction = Reduction::kBatchMean});
  });
  EXPECT_NE(msg.find("batchmean"), std::string::npos) << msg;
}

}  // namespace
}  // namespace losslab

namespace losslab {
namespace {

// Oracle: the scalar twin of the focal Hessian kernel on every target; the
// mean scales it like the gradient (weight / sum(weight)); saturated logits
// give finite Hessians for every gamma. (Central differences of the gradient:
// AllLosses/ElemTest.HessianMatchesCentralDifferencesOfGradient/sigmoid_focal*.)
TEST(SigmoidFocalHessian, SimdMatchesTwinScalesAndStaysFinite) {
  const int64_t n = 2049;
  std::vector<float> x = testing::random_vector<float>(n, 3, -8.0, 8.0);
  std::vector<float> y = testing::random_vector<float>(n, 4, 0.0, 1.0);
  const std::vector<float> w = testing::random_vector<float>(n, 5, 0.1, 2.0);
  for (int64_t i = 0; i < n; i += 3) y[size_t(i)] = float(i % 2);
  for (double gamma : {0.0, 0.5, 2.0, 3.0}) {
    const SigmoidFocalOptions opt{.gamma = gamma,
                                  .reduction = Reduction::kNone};
    auto run = [&](const std::string& target) {
      testing::ScopedTarget t(target);
      std::vector<float> out(static_cast<size_t>(n)), h(out.size());
      sigmoid_focal_loss(view<float>(x.data(), {n}), view<float>(y.data(), {n}),
                         opt,
                         {.out = mutable_view<float>(out.data(), {n}),
                          .hess_out = mutable_view<float>(h.data(), {n})});
      return h;
    };
    const std::vector<float> h0 = run("scalar");
    for (const std::string& target : testing::all_targets()) {
      if (target == "scalar") continue;
      const std::vector<float> h1 = run(target);
      for (size_t k = 0; k < h0.size(); ++k) {
        ASSERT_NEAR(h1[k], h0[k], 2e-6 * (std::abs(h0[k]) + 1.0))
            << target << " gamma=" << gamma << " i=" << k;
      }
    }
    // Weighted mean: h_i w_i / sum(w).
    std::vector<float> hm(static_cast<size_t>(n));
    SigmoidFocalOptions mopt = opt;
    mopt.reduction = Reduction::kMean;
    mopt.weight = view<float>(w.data(), {n});
    sigmoid_focal_loss(view<float>(x.data(), {n}), view<float>(y.data(), {n}),
                       mopt, {.hess_out = mutable_view<float>(hm.data(), {n})});
    double sw = 0;
    for (float v : w) sw += v;
    for (size_t k = 0; k < hm.size(); ++k) {
      ASSERT_NEAR(hm[k], h0[k] * w[k] / sw,
                  1e-5 * std::abs(h0[k] * w[k] / sw) + 1e-12)
          << k;
    }
  }
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    const std::vector<float> xs = {100, -100, 1e4f, -1e4f, 3e38f, -3e38f};
    const std::vector<float> ys = {1, 1, 0, 0, 0.5f, 0.25f};
    for (double gamma : {0.0, 0.25, 0.5, 1.0, 2.0, 5.0}) {
      std::vector<float> h(6);
      sigmoid_focal_loss(view<float>(xs.data(), {6}),
                         view<float>(ys.data(), {6}),
                         {.gamma = gamma, .reduction = Reduction::kSum},
                         {.hess_out = mutable_view<float>(h.data(), {6})});
      for (float v : h) EXPECT_TRUE(std::isfinite(v)) << target << " " << gamma;
    }
  }
}

}  // namespace
}  // namespace losslab
