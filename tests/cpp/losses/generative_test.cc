// Generative losses: closed-form values in double (oracle named per test),
// central-difference gradients, scalar twins vs every SIMD target, thread
// determinism and bad input. PyTorch comparisons live in
// tests/python/test_generative.py.
#include "losslab/losses/generative.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;

double softplus(double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// Oracle: the table in generative.h written out in double.
TEST(Generative, GanClosedForms) {
  const std::vector<double> r = {0.3, -2.0}, f = {1.5};
  const auto D = [&](GanKind k) {
    return gan_discriminator_loss(view<double>(r.data(), {2}),
                                  view<double>(f.data(), {1}), {.kind = k});
  };
  EXPECT_NEAR(D(GanKind::kMinimax),
              (softplus(-0.3) + softplus(2.0)) / 2 + softplus(1.5), 1e-15);
  EXPECT_NEAR(D(GanKind::kHinge), (0.7 + 3.0) / 2 + 2.5, 1e-15);
  EXPECT_NEAR(D(GanKind::kWasserstein), -(0.3 - 2.0) / 2 + 1.5, 1e-15);
  EXPECT_NEAR(D(GanKind::kLeastSquares),
              (0.5 * 0.49 + 0.5 * 9.0) / 2 + 0.5 * 2.25, 1e-15);
  const auto G = [&](GanKind k) {
    return gan_generator_loss(view<double>(f.data(), {1}), {.kind = k});
  };
  EXPECT_NEAR(G(GanKind::kMinimax), -softplus(1.5), 1e-15);
  EXPECT_NEAR(G(GanKind::kNonSaturating), softplus(-1.5), 1e-15);
  EXPECT_NEAR(G(GanKind::kLeastSquares), 0.125, 1e-15);
}

// Oracle: central differences, for every kind and the KL / NLL terms.
TEST(Generative, GradientsMatchCentralDifferences) {
  const auto x = random_vector<double>(9, 3);
  for (GanKind k : {GanKind::kMinimax, GanKind::kNonSaturating, GanKind::kHinge,
                    GanKind::kWasserstein, GanKind::kLeastSquares}) {
    std::vector<double> g(9);
    gan_generator_loss(view<double>(x.data(), {9}), {.kind = k},
                       {.grad_out = mutable_view<double>(g.data(), {9})});
    const auto num = numeric_gradient(
        [&](const std::vector<double>& v) {
          return gan_generator_loss(view<double>(v.data(), {9}), {.kind = k});
        },
        x);
    EXPECT_LT(rel_error(g, num), 1e-7) << int(k);
  }
  const auto mu = random_vector<double>(6, 4), lv = random_vector<double>(6, 5);
  std::vector<double> gm(6), gl(6);
  gaussian_kl_loss(view<double>(mu.data(), {2, 3}),
                   view<double>(lv.data(), {2, 3}), {},
                   {.grad_mu = mutable_view<double>(gm.data(), {2, 3}),
                    .grad_logvar = mutable_view<double>(gl.data(), {2, 3})});
  const auto nl = numeric_gradient(
      [&](const std::vector<double>& v) {
        return gaussian_kl_loss(view<double>(mu.data(), {2, 3}),
                                view<double>(v.data(), {2, 3}));
      },
      lv);
  EXPECT_LT(rel_error(gl, nl), 1e-7);
  std::vector<double> var = {0.5, 2.0}, gv(2), gx(6);
  gaussian_nll_loss(view<double>(mu.data(), {2, 3}),
                    view<double>(lv.data(), {2, 3}),
                    view<double>(var.data(), {2}), {},
                    {.grad_input = mutable_view<double>(gx.data(), {2, 3}),
                     .grad_var = mutable_view<double>(gv.data(), {2})});
  const auto nv = numeric_gradient(
      [&](const std::vector<double>& v) {
        return gaussian_nll_loss(view<double>(mu.data(), {2, 3}),
                                 view<double>(lv.data(), {2, 3}),
                                 view<double>(v.data(), {2}));
      },
      var);
  EXPECT_LT(rel_error(gv, nv), 1e-7);
}

// Oracle: the scalar twins; bitwise at 1 vs 2 threads on every target.
TEST(Generative, SimdTargetsMatchScalarTwinAndThreads) {
  for (int64_t n : testing::sweep_sizes()) {
    const auto x = random_vector<float>(n, uint32_t(n), -20.0, 20.0);
    const auto v = random_vector<float>(n, uint32_t(n + 1), 0.0, 3.0);
    auto eval = [&](std::vector<float>& g1, std::vector<float>& g2) {
      double s = gan_discriminator_loss(
          view<float>(x.data(), {n}), view<float>(v.data(), {n}),
          {.kind = GanKind::kMinimax},
          {.grad_real = mutable_view<float>(g1.data(), {n})});
      s += gaussian_kl_loss(
          view<float>(v.data(), {n, 1}), view<float>(x.data(), {n, 1}), {},
          {.grad_logvar = mutable_view<float>(g2.data(), {n, 1})});
      s += gaussian_nll_loss(view<float>(x.data(), {n}),
                             view<float>(v.data(), {n}),
                             view<float>(v.data(), {n}));
      return s;
    };
    const size_t un = static_cast<size_t>(n);
    std::vector<float> r1(un), r2(un), a1(un), a2(un);
    double ref;
    {
      testing::ScopedTarget st("scalar");
      ref = eval(r1, r2);
    }
    for (const auto& t : testing::all_targets()) {
      testing::ScopedTarget st(t);
      const double got = eval(a1, a2);
      EXPECT_NEAR(got, ref, 1e-5 * (std::abs(ref) + 1.0)) << t << " n=" << n;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(a1[size_t(i)], r1[size_t(i)],
                    1e-6 * std::abs(r1[size_t(i)]) + 1e-10);
        ASSERT_NEAR(a2[size_t(i)], r2[size_t(i)],
                    1e-5 * std::abs(r2[size_t(i)]) + 1e-10);
      }
      std::vector<float> b1(un), b2(un);
      double p1, p2;
      {
        testing::ScopedThreads th(1);
        p1 = eval(a1, a2);
      }
      {
        testing::ScopedThreads th(2);
        p2 = eval(b1, b2);
      }
      EXPECT_EQ(p1, p2);
      EXPECT_EQ(a1, b1);
      EXPECT_EQ(a2, b2);
    }
  }
}

TEST(Generative, BadInputErrors) {
  const std::vector<double> x(6, 0.5);
  auto err = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(
      err([] { parse_gan_kind("wgan", "gan_generator_loss"); }).find("wgan"),
      std::string::npos);
  EXPECT_NE(err([&] {
              gaussian_nll_loss(view<double>(x.data(), {2, 3}),
                                view<double>(x.data(), {2, 3}),
                                view<double>(x.data(), {3, 2}));
            }).find("var shape"),
            std::string::npos);
  EXPECT_NE(err([&] {
              gaussian_kl_loss(view<double>(x.data(), {2, 3}),
                               view<double>(x.data(), {3, 2}));
            }).find("does not match"),
            std::string::npos);
}

}  // namespace
}  // namespace losslab
