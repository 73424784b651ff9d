// cross_entropy extras: probability (soft) targets, z_loss and
// logit_softcap. Oracles (named per test): PyTorch's formulas written out in
// long double, central differences in double, the scalar twin on every SIMD
// target and thread-count determinism. PyTorch comparisons:
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

using testing::error_of;
using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;

// Random rows of probabilities (Dirichlet-like), some exact one-hot rows and
// some exact zeros.
std::vector<double> soft_rows(int64_t n, int64_t c, uint32_t seed) {
  std::vector<double> q = random_vector<double>(n * c, seed, 0.0, 1.0);
  for (int64_t i = 0; i < n; ++i) {
    if (i % 4 == 1) {
      for (int64_t k = 0; k < c; ++k) q[size_t(i * c + k)] = k == i % c;
      continue;
    }
    if (c > 2) q[size_t(i * c + (i % c))] = 0.0;
    double s = 0;
    for (int64_t k = 0; k < c; ++k) s += q[size_t(i * c + k)];
    for (int64_t k = 0; k < c; ++k) q[size_t(i * c + k)] /= s;
  }
  return q;
}

// Oracle: PyTorch's cross_entropy_loss_prob_target (LossNLL.cpp) for (N, C)
// logits: l_i = -sum_c w_c q'_c log_softmax(z)_c, q' = (1 - eps) q + eps/C;
// plus lambda lse^2 per row, after z -> cap tanh(z / cap) when cap > 0.
// Mean divides by N. Returns per-row losses and the value.
struct SoftRef {
  std::vector<double> per;
  double value = 0;
};
SoftRef soft_reference(const std::vector<double>& z0,
                       const std::vector<double>& q, int64_t N, int64_t C,
                       const std::vector<double>* w, double eps, double zl,
                       double cap, Reduction r) {
  SoftRef o;
  long double sum = 0;
  for (int64_t i = 0; i < N; ++i) {
    std::vector<long double> z(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      const long double v = z0[size_t(i * C + c)];
      z[size_t(c)] = cap > 0 ? cap * std::tanh(v / cap) : v;
    }
    long double m = -INFINITY, s = 0;
    for (auto v : z) m = std::max(m, v);
    for (auto v : z) s += std::exp(v - m);
    const long double lse = m + std::log(s);
    long double l = 0;
    for (int64_t c = 0; c < C; ++c) {
      const long double qq = (1 - eps) * q[size_t(i * C + c)] + eps / C;
      const long double wc = w ? (*w)[size_t(c)] : 1.0;
      l += wc * qq * (lse - z[size_t(c)]);
    }
    l += zl * lse * lse;
    o.per.push_back(double(l));
    sum += l;
  }
  o.value = double(r == Reduction::kMean ? sum / N : sum);
  return o;
}

TEST(CrossEntropySoft, MatchesTorchFormulaForEveryOption) {
  for (auto [n, c] :
       {std::pair<int64_t, int64_t>{1, 1}, {7, 3}, {13, 17}, {40, 33}}) {
    const std::vector<double> z = random_vector<double>(n * c, 3, -4, 4);
    const std::vector<double> q = soft_rows(n, c, 4);
    const std::vector<double> w = random_vector<double>(c, 5, 0.1, 2.0);
    for (bool weighted : {false, true}) {
      for (double eps : {0.0, 0.1}) {
        for (double zl : {0.0, 1e-2}) {
          for (double cap : {0.0, 2.5}) {
            for (Reduction r :
                 {Reduction::kMean, Reduction::kSum, Reduction::kNone}) {
              const SoftRef ref = soft_reference(
                  z, q, n, c, weighted ? &w : nullptr, eps, zl, cap, r);
              std::vector<double> out(static_cast<size_t>(n));
              LossOutputs o;
              if (r == Reduction::kNone) {
                o.out = mutable_view<double>(out.data(), {n});
              }
              CrossEntropyOptions opt{
                  .weight = weighted ? view<double>(w.data(), {c}) : View{},
                  .label_smoothing = eps,
                  .reduction = r,
                  .z_loss = zl};
              if (cap > 0) opt.logit_softcap = cap;
              const double v =
                  cross_entropy(view<double>(z.data(), {n, c}),
                                view<double>(q.data(), {n, c}), opt, o);
              const std::string tag =
                  "n=" + std::to_string(n) + " c=" + std::to_string(c) +
                  " w=" + std::to_string(weighted) +
                  " eps=" + std::to_string(eps) + " zl=" + std::to_string(zl) +
                  " cap=" + std::to_string(cap);
              if (r == Reduction::kNone) {
                for (int64_t i = 0; i < n; ++i) {
                  ASSERT_NEAR(out[size_t(i)], ref.per[size_t(i)],
                              1e-13 * (std::abs(ref.per[size_t(i)]) + 1))
                      << tag << " i=" << i;
                }
              } else {
                EXPECT_NEAR(v, ref.value, 1e-13 * (std::abs(ref.value) + 1))
                    << tag;
              }
            }
          }
        }
      }
    }
  }
}

// Oracle: central differences in double of the loss with every option on,
// with an upstream gradient (scalar for mean, per row for none), for
// probability targets and for class-index targets with ignored rows.
TEST(CrossEntropySoft, GradientMatchesCentralDifferences) {
  const int64_t n = 9, c = 21;
  const std::vector<double> z0 = random_vector<double>(n * c, 7, -3, 3);
  const std::vector<double> q = soft_rows(n, c, 8);
  const std::vector<double> w = random_vector<double>(c, 9, 0.2, 2.0);
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[size_t(i)] = i % 3 == 2 ? -100 : i % c;
  const std::vector<double> go = random_vector<double>(n, 4, 0.5, 1.5);
  for (bool soft : {true, false}) {
    for (Reduction r : {Reduction::kMean, Reduction::kNone}) {
      CrossEntropyOptions opt{.weight = view<double>(w.data(), {c}),
                              .label_smoothing = 0.2,
                              .reduction = r,
                              .z_loss = 0.05,
                              .logit_softcap = 2.0};
      const View tv =
          soft ? view<double>(q.data(), {n, c}) : view<int64_t>(y.data(), {n});
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
            cross_entropy(view<double>(z.data(), {n, c}), tv, opt, o);
        if (r != Reduction::kNone) return 1.5 * v;
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += go[size_t(i)] * per[size_t(i)];
        return s;
      };
      std::vector<double> grad(static_cast<size_t>(n * c));
      run(z0, grad.data());
      const auto f = [&](const std::vector<double>& z) {
        return run(z, nullptr);
      };
      EXPECT_LT(rel_error(grad, numeric_gradient(f, z0)), 1e-7)
          << "soft=" << soft << " " << reduction_name(r);
    }
  }
}

// Oracle: the definitions. z_loss = 0 and no cap give bitwise the plain
// loss; a one-hot probability target equals the class index; the z-loss is
// lambda lse^2 on rows not ignored only, the mean keeping PyTorch's
// denominator (sum of w[y] over rows not ignored).
TEST(CrossEntropySoft, OneHotEqualsIndexAndZLossSkipsIgnoredRows) {
  const int64_t n = 6, c = 5;
  const std::vector<double> z = random_vector<double>(n * c, 11, -2, 2);
  const std::vector<int64_t> y = {0, 4, -100, 2, 3, 1};
  std::vector<double> onehot(static_cast<size_t>(n * c), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    onehot[size_t(i * c + (y[size_t(i)] < 0 ? 0 : y[size_t(i)]))] = 1.0;
  }
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<double> g0(static_cast<size_t>(n * c)), g1(g0.size());
    const double v0 = cross_entropy(
        view<double>(z.data(), {n, c}), view<int64_t>(y.data(), {n}), {},
        {.grad_out = mutable_view<double>(g0.data(), {n, c})});
    const double v1 = cross_entropy(
        view<double>(z.data(), {n, c}), view<int64_t>(y.data(), {n}),
        {.z_loss = 0.0}, {.grad_out = mutable_view<double>(g1.data(), {n, c})});
    EXPECT_EQ(v0, v1) << target;
    EXPECT_EQ(std::memcmp(g0.data(), g1.data(), g0.size() * 8), 0) << target;
    // One-hot rows equal class indices (all rows taking part: sum / N).
    const std::vector<int64_t> yall = {0, 4, 0, 2, 3, 1};
    const double vi = cross_entropy(view<double>(z.data(), {n, c}),
                                    view<int64_t>(yall.data(), {n}), {});
    const double vs = cross_entropy(view<double>(z.data(), {n, c}),
                                    view<double>(onehot.data(), {n, c}), {});
    EXPECT_NEAR(vs, vi, 1e-15 * vi) << target;
    // z-loss: only the 5 rows not ignored, mean over 5.
    const double zl = 0.01;
    const double vz =
        cross_entropy(view<double>(z.data(), {n, c}),
                      view<int64_t>(y.data(), {n}), {.z_loss = zl});
    long double extra = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (y[size_t(i)] < 0) continue;
      long double s = 0;
      for (int64_t k = 0; k < c; ++k) s += std::exp((long double)z[i * c + k]);
      extra += zl * std::log(s) * std::log(s);
    }
    EXPECT_NEAR(vz, v0 + double(extra / 5), 1e-14) << target;
  }
}

// Oracle: hand values. A class with probability 0 contributes 0 even at a
// -inf logit (PyTorch: 0 * -inf = NaN); [0, 0, -inf] with q = (0.5, 0.5, 0)
// is ln 2 with gradient (0, 0, 0).
TEST(CrossEntropySoft, ZeroProbabilityAtMinusInfinityIsZero) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> z = {0.0, 0.0, -inf}, q = {0.5, 0.5, 0.0};
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<double> g(3, 9.0);
    const double v = cross_entropy(
        view<double>(z.data(), {1, 3}), view<double>(q.data(), {1, 3}), {},
        {.grad_out = mutable_view<double>(g.data(), {1, 3})});
    EXPECT_NEAR(v, std::log(2.0), 1e-15) << target;
    for (double gi : g) EXPECT_EQ(gi, 0.0) << target;
  }
}

// Oracle: saturation. With a soft cap every logit lies in (-cap, cap), so
// logits of +-1e30 give finite values and gradients (0 at saturation).
TEST(CrossEntropySoft, SoftcapBoundsLogits) {
  const std::vector<float> z = {1e30f, -1e30f, 0.f, 3.f};
  const std::vector<int64_t> y = {1};
  std::vector<float> g(4);
  const double v =
      cross_entropy(view<float>(z.data(), {1, 4}), view<int64_t>(y.data(), {1}),
                    {.logit_softcap = 5.0},
                    {.grad_out = mutable_view<float>(g.data(), {1, 4})});
  const double zc[4] = {5.0, -5.0, 0.0, 5.0 * std::tanh(0.6)};
  double s = 0;
  for (double v2 : zc) s += std::exp(v2);
  EXPECT_NEAR(v, std::log(s) + 5.0, 1e-5);
  for (float gi : g) EXPECT_TRUE(std::isfinite(gi));
  EXPECT_EQ(g[0], 0.f);
  EXPECT_EQ(g[1], 0.f);
}

// Oracle: the scalar twin; SIMD targets agree within a few ULP.
TEST(CrossEntropySoft, SimdTargetsMatchScalarTwin) {
  for (int64_t c : {1, 3, 4, 15, 16, 17, 33, 200}) {
    const int64_t n = 67;
    const std::vector<double> zd = random_vector<double>(n * c, 21, -4, 4);
    const std::vector<double> qd = soft_rows(n, c, 22);
    const std::vector<double> wd = random_vector<double>(c, 23, 0.1, 2.0);
    std::vector<float> z(zd.begin(), zd.end()), q(qd.begin(), qd.end()),
        w(wd.begin(), wd.end());
    for (double eps : {0.0, 0.3}) {
      auto run = [&](const std::string& target, std::vector<float>& out,
                     std::vector<float>& grad) {
        testing::ScopedTarget t(target);
        out.assign(static_cast<size_t>(n), 0.f);
        grad.assign(static_cast<size_t>(n * c), 0.f);
        return cross_entropy(
            view<float>(z.data(), {n, c}), view<float>(q.data(), {n, c}),
            {.weight = view<float>(w.data(), {c}),
             .label_smoothing = eps,
             .reduction = Reduction::kNone,
             .z_loss = 1e-3},
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
          ASSERT_NEAR(o1[k], o0[k], 4e-6 * (std::abs(o0[k]) + 1e-3))
              << target << " c=" << c << " row " << k;
        }
        for (size_t k = 0; k < g0.size(); ++k) {
          ASSERT_NEAR(g1[k], g0[k], 1e-6 * (std::abs(g0[k]) + 1.0))
              << target << " c=" << c << " k=" << k;
        }
        EXPECT_NEAR(v1, v0, 4e-6 * std::abs(v0)) << target;
      }
    }
  }
}

TEST(CrossEntropySoft, DeterministicAcrossThreadCounts) {
  const int64_t n = 8000, c = 19;
  const std::vector<double> zd = random_vector<double>(n * c, 31, -4, 4);
  const std::vector<double> qd = soft_rows(n, c, 32);
  std::vector<float> z(zd.begin(), zd.end()), q(qd.begin(), qd.end());
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    std::vector<float> g1(static_cast<size_t>(n * c)), g2(g1.size());
    const CrossEntropyOptions opt{
        .label_smoothing = 0.1, .z_loss = 1e-4, .logit_softcap = 3.0};
    double v1, v2;
    {
      testing::ScopedThreads th(1);
      v1 = cross_entropy(view<float>(z.data(), {n, c}),
                         view<float>(q.data(), {n, c}), opt,
                         {.grad_out = mutable_view<float>(g1.data(), {n, c})});
    }
    {
      testing::ScopedThreads th(2);
      v2 = cross_entropy(view<float>(z.data(), {n, c}),
                         view<float>(q.data(), {n, c}), opt,
                         {.grad_out = mutable_view<float>(g2.data(), {n, c})});
    }
    EXPECT_EQ(v1, v2) << target;
    EXPECT_EQ(std::memcmp(g1.data(), g2.data(), g1.size() * 4), 0) << target;
  }
}

// Oracle: the transposed layout. (N, C, d) probability targets equal
// (N*d, C) rows.
TEST(CrossEntropySoft, SpatialDimsMatchFlattenedRows) {
  const int64_t n = 3, c = 4, S = 5;
  const std::vector<double> x = random_vector<double>(n * c * S, 41);
  const std::vector<double> qf = soft_rows(n * S, c, 42);
  std::vector<double> xf(x.size()), q(x.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t s = 0; s < S; ++s) {
        xf[size_t((i * S + s) * c + k)] = x[size_t((i * c + k) * S + s)];
        q[size_t((i * c + k) * S + s)] = qf[size_t((i * S + s) * c + k)];
      }
  std::vector<double> g(x.size()), gf(x.size()), out(size_t(n * S));
  const double v = cross_entropy(
      view<double>(x.data(), {n, c, S}), view<double>(q.data(), {n, c, S}),
      {.z_loss = 0.1, .logit_softcap = 1.5},
      {.grad_out = mutable_view<double>(g.data(), {n, c, S})});
  const double vf = cross_entropy(
      view<double>(xf.data(), {n * S, c}), view<double>(qf.data(), {n * S, c}),
      {.z_loss = 0.1, .logit_softcap = 1.5},
      {.grad_out = mutable_view<double>(gf.data(), {n * S, c})});
  EXPECT_NEAR(v, vf, 1e-15 * vf);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t s = 0; s < S; ++s)
        EXPECT_EQ(g[size_t((i * c + k) * S + s)],
                  gf[size_t((i * S + s) * c + k)]);
  // reduction='none' gives the (N, d) shape.
  cross_entropy(view<double>(x.data(), {n, c, S}),
                view<double>(q.data(), {n, c, S}),
                {.reduction = Reduction::kNone},
                {.out = mutable_view<double>(out.data(), {n, S})});
  EXPECT_GT(out[0], 0.0);
}

TEST(CrossEntropySoftErrors, RowsMustBeDistributions) {
  std::vector<double> z(6, 0.0), q = {0.2, 0.3, 0.5, 0.2, 0.3, 0.4};
  std::vector<double> g(6, 1.0);
  ErrorKind k{};
  std::string msg = error_of(
      [&] {
        cross_entropy(view<double>(z.data(), {2, 3}),
                      view<double>(q.data(), {2, 3}), {},
                      {.grad_out = mutable_view<double>(g.data(), {2, 3})});
      },
      &k);
  EXPECT_EQ(k, ErrorKind::kValue);
  EXPECT_NE(msg.find("cross_entropy: probability target row 1 sums to 0.9"),
            std::string::npos)
      << msg;
  for (double v : g) EXPECT_TRUE(std::isnan(v));
  // float32 tolerance 1e-3: 1.0005 passes, 1.002 fails.
  std::vector<float> zf(3, 0.f), qf = {0.5f, 0.5005f, 0.f};
  EXPECT_NO_THROW(
      cross_entropy(view<float>(zf.data(), {3}), view<float>(qf.data(), {3})));
  qf[1] = 0.502f;
  msg = error_of([&] {
    cross_entropy(view<float>(zf.data(), {3}), view<float>(qf.data(), {3}));
  });
  EXPECT_NE(msg.find("probability target row () sums to"), std::string::npos)
      << msg;
  q = {0.2, 0.3, 0.5, -0.1, 0.6, 0.5};
  msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {2, 3}),
                  view<double>(q.data(), {2, 3}));
  });
  EXPECT_NE(msg.find("probability target -0.1 at index (1, 0) is outside "
                     "[0, 1]"),
            std::string::npos)
      << msg;
  q[3] = std::nan("");
  msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {2, 3}),
                  view<double>(q.data(), {2, 3}));
  });
  EXPECT_NE(msg.find("probability target nan at index (1, 0)"),
            std::string::npos)
      << msg;
  msg = error_of(
      [&] {
        cross_entropy(view<double>(z.data(), {2, 3}),
                      view<float>(qf.data(), {1, 3}));
      },
      &k);
  EXPECT_EQ(k, ErrorKind::kType);
  msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {2, 3}),
                  view<double>(q.data(), {3, 2}));
  });
  EXPECT_NE(msg.find("probability target shape (3, 2) does not match input "
                     "shape (2, 3)"),
            std::string::npos)
      << msg;
  const std::vector<int64_t> y = {0, 1};
  msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {2, 3}), view<int64_t>(y.data(), {2}),
                  {.z_loss = -1.0});
  });
  EXPECT_NE(msg.find("z_loss=-1 must be finite and >= 0"), std::string::npos)
      << msg;
  msg = error_of([&] {
    cross_entropy(view<double>(z.data(), {2, 3}), view<int64_t>(y.data(), {2}),
                  {.logit_softcap = 0.0});
  });
  EXPECT_NE(msg.find("logit_softcap=0 must be finite and > 0"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace losslab
