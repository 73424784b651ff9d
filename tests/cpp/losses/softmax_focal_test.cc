// softmax_focal_loss against the written-out formula of Lin et al. (2017)
// in long double, central differences, cross_entropy (gamma = 0, bit for
// bit), the scalar twin on every SIMD target and thread-count determinism.
// PyTorch autograd of the same formula:
// tests/python/test_classification_soft.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/losses/classification.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;

std::string focal_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct FocalData {
  int64_t N, C;
  std::vector<double> z, alpha;
  std::vector<int64_t> y;
  FocalData(int64_t n, int64_t c, uint32_t seed) : N(n), C(c) {
    z = random_vector<double>(n * c, seed, -4.0, 4.0);
    alpha = random_vector<double>(c, seed + 1, 0.1, 1.0);
    std::mt19937 rng(seed + 2);
    y.resize(static_cast<size_t>(n));
    for (auto& v : y) v = int64_t(rng() % uint32_t(c));
    for (size_t i = 3; i < y.size(); i += 5) y[i] = -100;
  }
};

// Oracle: -a (1 - p_t)^gamma log p_t with p_t from a long double softmax.
std::vector<double> focal_reference(const FocalData& d, double gamma,
                                    const std::vector<double>* alpha,
                                    double alpha_all) {
  std::vector<double> per(static_cast<size_t>(d.N), 0.0);
  for (int64_t i = 0; i < d.N; ++i) {
    const int64_t t = d.y[size_t(i)];
    if (t < 0) continue;
    long double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < d.C; ++c)
      m = std::max<long double>(m, d.z[size_t(i * d.C + c)]);
    for (int64_t c = 0; c < d.C; ++c)
      s += std::exp((long double)d.z[size_t(i * d.C + c)] - m);
    const long double lp = d.z[size_t(i * d.C + t)] - m - std::log(s);
    const long double p = std::exp(lp);
    const long double a = alpha ? (*alpha)[size_t(t)] : alpha_all;
    per[size_t(i)] = double(-a * std::pow(1 - p, (long double)gamma) * lp);
  }
  return per;
}

TEST(SoftmaxFocal, MatchesFormulaForEveryOption) {
  for (auto [n, c] : {std::pair<int64_t, int64_t>{7, 2}, {13, 17}, {40, 33}}) {
    FocalData d(n, c, 5);
    for (double gamma : {0.0, 0.5, 2.0, 5.0}) {
      for (int am = 0; am < 3; ++am) {  // none, scalar 0.25, per class
        const std::vector<double> ref = focal_reference(
            d, gamma, am == 2 ? &d.alpha : nullptr, am == 1 ? 0.25 : 1.0);
        SoftmaxFocalOptions opt{.gamma = gamma};
        if (am == 1) opt.alpha = 0.25;
        if (am == 2) opt.alpha_per_class = view<double>(d.alpha.data(), {c});
        std::vector<double> out(static_cast<size_t>(n));
        opt.reduction = Reduction::kNone;
        softmax_focal_loss(view<double>(d.z.data(), {n, c}),
                           view<int64_t>(d.y.data(), {n}), opt,
                           {.out = mutable_view<double>(out.data(), {n})});
        double sum = 0;
        int64_t cnt = 0;
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_NEAR(out[size_t(i)], ref[size_t(i)],
                      1e-13 * (std::abs(ref[size_t(i)]) + 1e-3))
              << "gamma=" << gamma << " alpha mode " << am << " i=" << i;
          sum += ref[size_t(i)];
          cnt += d.y[size_t(i)] >= 0;
        }
        opt.reduction = Reduction::kMean;
        const double v =
            softmax_focal_loss(view<double>(d.z.data(), {n, c}),
                               view<int64_t>(d.y.data(), {n}), opt);
        EXPECT_NEAR(v, sum / double(cnt), 1e-13 * (std::abs(sum) + 1));
      }
    }
  }
}

// Oracle: central differences in double, with an upstream gradient.
TEST(SoftmaxFocal, GradientMatchesCentralDifferences) {
  const int64_t n = 9, c = 21;
  FocalData d(n, c, 9);
  // A confident row (p_t near 1) and a hopeless one (p_t near 0).
  d.y[0] = 0;
  d.z[0] = 9.0;
  d.y[1] = 1;
  d.z[size_t(c + 1)] = -9.0;
  const std::vector<double> go = random_vector<double>(n, 4, 0.5, 1.5);
  for (double gamma : {0.0, 0.5, 1.0, 2.0, 4.5}) {
    for (Reduction r : {Reduction::kMean, Reduction::kNone}) {
      const SoftmaxFocalOptions opt{
          .alpha_per_class = view<double>(d.alpha.data(), {c}),
          .gamma = gamma,
          .reduction = r};
      auto run = [&](const std::vector<double>& z, double* gptr) {
        std::vector<double> per(static_cast<size_t>(n));
        LossOutputs o;
        if (gptr) o.grad_out = mutable_view<double>(gptr, {n, c});
        if (r == Reduction::kNone) {
          o.out = mutable_view<double>(per.data(), {n});
          o.grad_output_elementwise = view<double>(go.data(), {n});
        } else {
          o.grad_output = 1.5;
        }
        const double v =
            softmax_focal_loss(view<double>(z.data(), {n, c}),
                               view<int64_t>(d.y.data(), {n}), opt, o);
        if (r != Reduction::kNone) return 1.5 * v;
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += go[size_t(i)] * per[size_t(i)];
        return s;
      };
      std::vector<double> grad(static_cast<size_t>(n * c));
      run(d.z, grad.data());
      const auto f = [&](const std::vector<double>& z) {
        return run(z, nullptr);
      };
      EXPECT_LT(rel_error(grad, numeric_gradient(f, d.z)), 1e-7)
          << "gamma=" << gamma << " " << reduction_name(r);
    }
  }
}

// Oracle: cross_entropy. gamma = 0 without alpha is the same computation,
// bit for bit, on every target, for value, per-row losses and gradient.
TEST(SoftmaxFocal, GammaZeroIsCrossEntropyExactlyOnEveryTarget) {
  for (int64_t c : {1, 3, 16, 17, 100}) {
    const int64_t n = 70;
    FocalData d(n, c, 13);
    std::vector<float> z(d.z.begin(), d.z.end());
    for (const std::string& target : testing::all_targets()) {
      testing::ScopedTarget t(target);
      for (Reduction r : {Reduction::kMean, Reduction::kNone}) {
        std::vector<float> o0(static_cast<size_t>(n)), o1(o0.size()),
            g0(static_cast<size_t>(n * c)), g1(g0.size());
        const double v0 =
            cross_entropy(view<float>(z.data(), {n, c}),
                          view<int64_t>(d.y.data(), {n}), {.reduction = r},
                          {.out = mutable_view<float>(o0.data(), {n}),
                           .grad_out = mutable_view<float>(g0.data(), {n, c})});
        const double v1 = softmax_focal_loss(
            view<float>(z.data(), {n, c}), view<int64_t>(d.y.data(), {n}),
            {.gamma = 0.0, .reduction = r},
            {.out = mutable_view<float>(o1.data(), {n}),
             .grad_out = mutable_view<float>(g1.data(), {n, c})});
        EXPECT_EQ(v0, v1) << target << " c=" << c;
        EXPECT_EQ(std::memcmp(o0.data(), o1.data(), o0.size() * 4), 0)
            << target << " c=" << c;
        EXPECT_EQ(std::memcmp(g0.data(), g1.data(), g0.size() * 4), 0)
            << target << " c=" << c;
      }
    }
  }
}

// Oracle: limits. Saturated logits (+-100, +-1e4, +-3e38) give finite
// values and gradients for every gamma, on every target; a certain correct
// prediction has loss 0 and gradient 0 for gamma > 0.
TEST(SoftmaxFocal, SaturatedLogitsAreFiniteOnEveryTarget) {
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    for (float big : {100.f, 1e4f, 3e38f}) {
      const std::vector<float> z = {big, 0.f, -big, 0.f, big, -big};
      const std::vector<int64_t> y = {0, 2};  // certain right, hopeless
      for (double gamma : {0.0, 0.25, 0.5, 1.0, 2.0, 5.0}) {
        std::vector<float> out(2), g(6);
        softmax_focal_loss(view<float>(z.data(), {2, 3}),
                           view<int64_t>(y.data(), {2}),
                           {.gamma = gamma, .reduction = Reduction::kNone},
                           {.out = mutable_view<float>(out.data(), {2}),
                            .grad_out = mutable_view<float>(g.data(), {2, 3})});
        for (float v : g) EXPECT_TRUE(std::isfinite(v)) << target << big;
        EXPECT_EQ(out[0], 0.f) << target;
        EXPECT_EQ(g[0], 0.f) << target;
        // Row 2: label at -big, max big: loss 2 big ((1 - p_t)^gamma = 1),
        // finite below float max, +inf (as cross_entropy) above it.
        if (big < 1e38f) {
          EXPECT_NEAR(out[1], 2.0 * big, 1e-6 * big) << target;
        }
        EXPECT_FALSE(std::isnan(out[1])) << target;
      }
    }
  }
}

// Oracle: the scalar twin; SIMD targets agree within a few ULP.
TEST(SoftmaxFocal, SimdTargetsMatchScalarTwin) {
  for (int64_t c : {1, 3, 4, 15, 16, 17, 33, 300}) {
    const int64_t n = 67;
    FocalData d(n, c, 21);
    std::vector<float> z(d.z.begin(), d.z.end()),
        a(d.alpha.begin(), d.alpha.end());
    for (double gamma : {0.5, 2.0}) {
      auto run = [&](const std::string& target, std::vector<float>& out,
                     std::vector<float>& grad) {
        testing::ScopedTarget t(target);
        out.assign(static_cast<size_t>(n), 0.f);
        grad.assign(static_cast<size_t>(n * c), 0.f);
        return softmax_focal_loss(
            view<float>(z.data(), {n, c}), view<int64_t>(d.y.data(), {n}),
            {.alpha_per_class = view<float>(a.data(), {c}),
             .gamma = gamma,
             .reduction = Reduction::kNone},
            {.out = mutable_view<float>(out.data(), {n}),
             .grad_out = mutable_view<float>(grad.data(), {n, c})});
      };
      std::vector<float> o0, g0;
      const double v0 = run("scalar", o0, g0);
      for (const std::string& target : testing::all_targets()) {
        if (target == "scalar") continue;
        std::vector<float> o1, g1;
        const double v1 = run(target, o1, g1);
        for (size_t k = 0; k < o0.size(); ++k) {
          ASSERT_NEAR(o1[k], o0[k], 1e-5 * (std::abs(o0[k]) + 1e-3))
              << target << " c=" << c << " row " << k;
        }
        for (size_t k = 0; k < g0.size(); ++k) {
          ASSERT_NEAR(g1[k], g0[k], 2e-6 * (std::abs(g0[k]) + 1.0))
              << target << " c=" << c << " k=" << k;
        }
        EXPECT_NEAR(v1, v0, 1e-5 * std::abs(v0)) << target;
      }
    }
  }
}

TEST(SoftmaxFocal, DeterministicAcrossThreadCountsAndSpatialDims) {
  const int64_t n = 4000, c = 7, S = 3;
  const std::vector<double> zd = random_vector<double>(n * c * S, 31);
  std::vector<float> z(zd.begin(), zd.end());
  std::vector<int64_t> y(static_cast<size_t>(n * S));
  for (size_t i = 0; i < y.size(); ++i) y[i] = i % 11 == 0 ? -100 : i % 7;
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> g1(static_cast<size_t>(n * c * S)), g2(g1.size());
    double v1, v2;
    {
      testing::ScopedThreads th(1);
      v1 = softmax_focal_loss(
          view<float>(z.data(), {n, c, S}), view<int64_t>(y.data(), {n, S}),
          {.alpha = 0.5},
          {.grad_out = mutable_view<float>(g1.data(), {n, c, S})});
    }
    {
      testing::ScopedThreads th(2);
      v2 = softmax_focal_loss(
          view<float>(z.data(), {n, c, S}), view<int64_t>(y.data(), {n, S}),
          {.alpha = 0.5},
          {.grad_out = mutable_view<float>(g2.data(), {n, c, S})});
    }
    EXPECT_EQ(v1, v2) << target;
    EXPECT_EQ(std::memcmp(g1.data(), g2.data(), g1.size() * 4), 0) << target;
  }
}

TEST(SoftmaxFocal, AllIgnoredMeanIsZeroWithZeroGradient) {
  const std::vector<double> z = {1, 2, 3, 4, 5, 6};
  const std::vector<int64_t> y = {-100, -100};
  std::vector<double> g(6, 7.0);
  const double v = softmax_focal_loss(
      view<double>(z.data(), {2, 3}), view<int64_t>(y.data(), {2}), {},
      {.grad_out = mutable_view<double>(g.data(), {2, 3})});
  EXPECT_EQ(v, 0.0);
  for (double gi : g) EXPECT_EQ(gi, 0.0);
}

TEST(SoftmaxFocalErrors, ArgumentsAreChecked) {
  const std::vector<double> z(6, 0.0), a2 = {1, 1}, aneg = {1, -1, 1};
  const std::vector<int64_t> y = {0, 3};
  std::vector<double> g(6, 1.0);
  std::string msg = focal_error_of([&] {
    softmax_focal_loss(view<double>(z.data(), {2, 3}),
                       view<int64_t>(y.data(), {2}), {},
                       {.grad_out = mutable_view<double>(g.data(), {2, 3})});
  });
  EXPECT_NE(msg.find("softmax_focal_loss: target contains class 3 at index 1"),
            std::string::npos)
      << msg;
  for (double v : g) EXPECT_TRUE(std::isnan(v));
  const std::vector<int64_t> y2 = {0, 1};
  const View zv = view<double>(z.data(), {2, 3});
  const View yv = view<int64_t>(y2.data(), {2});
  msg = focal_error_of([&] { softmax_focal_loss(zv, yv, {.gamma = -1}); });
  EXPECT_NE(msg.find("gamma=-1 must be finite and >= 0"), std::string::npos);
  msg = focal_error_of([&] {
    softmax_focal_loss(
        zv, yv,
        {.alpha = 0.5, .alpha_per_class = view<double>(aneg.data(), {3})});
  });
  EXPECT_NE(msg.find("not both"), std::string::npos);
  msg = focal_error_of([&] {
    softmax_focal_loss(zv, yv,
                       {.alpha_per_class = view<double>(a2.data(), {2})});
  });
  EXPECT_NE(msg.find("alpha shape (2,) must be (3,)"), std::string::npos);
  msg = focal_error_of([&] {
    softmax_focal_loss(zv, yv,
                       {.alpha_per_class = view<double>(aneg.data(), {3})});
  });
  EXPECT_NE(msg.find("alpha must be finite and >= 0; got -1 at index 1"),
            std::string::npos)
      << msg;
  msg = focal_error_of([&] { softmax_focal_loss(zv, yv, {.alpha = -0.5}); });
  EXPECT_NE(msg.find("alpha=-0.5 must be finite and >= 0"), std::string::npos);
  msg = focal_error_of([&] {
    softmax_focal_loss(view<double>(z.data(), {2, 3}),
                       view<int64_t>(y2.data(), {1, 2}));
  });
  EXPECT_NE(msg.find("target shape (1, 2) does not match input shape (2, 3)"),
            std::string::npos);
  msg = focal_error_of([&] {
    softmax_focal_loss(view<double>(z.data(), {0, 3}),
                       view<int64_t>(y2.data(), {0}));
  });
  EXPECT_NE(msg.find("input is empty"), std::string::npos);
  msg = focal_error_of([&] {
    softmax_focal_loss(zv, yv, {.reduction = Reduction::kBatchMean});
  });
  EXPECT_NE(msg.find("batchmean"), std::string::npos);
  msg = focal_error_of(
      [&] { softmax_focal_loss(zv, view<double>(z.data(), {2})); });
  EXPECT_NE(msg.find("expected class indices of dtype int64 or int32"),
            std::string::npos);
}

}  // namespace
}  // namespace losslab
