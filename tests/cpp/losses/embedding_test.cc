// Embedding losses against closed-form formulas written here in long double
// (each test names its oracle), central differences in double, the scalar
// reference kernels on every SIMD target, thread-count determinism and every
// bad input. PyTorch comparisons live in tests/python/test_embedding.py.
#include "losslab/losses/embedding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using LD = long double;

using testing::error_of;

// Oracle: ||u - v + eps||_p in long double (torch.pairwise_distance).
LD pdist(const double* u, const double* v, int64_t d, LD eps, LD p) {
  LD s = 0;
  for (int64_t k = 0; k < d; ++k)
    s += std::pow(std::fabs(u[k] - v[k] + eps), p);
  return std::pow(s, 1 / p);
}

LD l2(const double* u, const double* v, int64_t d) {
  return pdist(u, v, d, 0, 2);
}

// ---------------------------------------------------------------------------
// triplet_margin_loss

struct TripletParam {
  double p;
  bool swap;
};

class TripletTest : public ::testing::TestWithParam<TripletParam> {};

// Oracle: max(margin + d(a,p) - min(d(a,n)[, d(p,n)]), 0) per row.
TEST_P(TripletTest, ValuesMatchClosedForm) {
  const auto [p, swap] = GetParam();
  const int64_t n = 7, d = 5;
  const auto a = random_vector<double>(n * d, 1),
             ps = random_vector<double>(n * d, 2),
             ng = random_vector<double>(n * d, 3);
  const auto w = random_vector<double>(n, 4, 0.0, 2.0);
  std::vector<double> out(n);
  for (Reduction r : {Reduction::kNone, Reduction::kMean, Reduction::kSum}) {
    for (bool weighted : {false, true}) {
      const double v = triplet_margin_loss(
          view<double>(a.data(), {n, d}), view<double>(ps.data(), {n, d}),
          view<double>(ng.data(), {n, d}),
          {.margin = 1.5,
           .p = p,
           .swap = swap,
           .weight = weighted ? view<double>(w.data(), {n}) : View{},
           .reduction = r},
          {.out = r == Reduction::kNone ? mutable_view<double>(out.data(), {n})
                                        : MutableView{}});
      LD sum = 0, wsum = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double* ai = &a[i * d];
        LD dn = pdist(ai, &ng[i * d], d, 1e-6L, p);
        if (swap) dn = std::min(dn, pdist(&ps[i * d], &ng[i * d], d, 1e-6L, p));
        const LD li =
            std::max<LD>(1.5L + pdist(ai, &ps[i * d], d, 1e-6L, p) - dn, 0);
        const LD wi = weighted ? w[i] : 1;
        if (r == Reduction::kNone) EXPECT_NEAR(out[i], double(wi * li), 1e-12);
        sum += wi * li;
        wsum += wi;
      }
      const LD want = r == Reduction::kMean ? sum / wsum : sum;
      EXPECT_NEAR(v, double(want), 1e-12 * (1 + std::fabs(double(want))));
    }
  }
}

TEST_P(TripletTest, GradientMatchesCentralDifferences) {
  const auto [p, swap] = GetParam();
  const int64_t n = 6, d = 4;
  // Three stacked inputs in one vector for numeric_gradient.
  std::vector<double> x = random_vector<double>(3 * n * d, 11);
  auto f = [&](const std::vector<double>& v) {
    return triplet_margin_loss(
        view<double>(v.data(), {n, d}), view<double>(v.data() + n * d, {n, d}),
        view<double>(v.data() + 2 * n * d, {n, d}),
        {.margin = 2.0, .p = p, .swap = swap}, {.grad_output = 0.7});
  };
  std::vector<double> g(3 * n * d);
  f(x);
  triplet_margin_loss(
      view<double>(x.data(), {n, d}), view<double>(x.data() + n * d, {n, d}),
      view<double>(x.data() + 2 * n * d, {n, d}),
      {.margin = 2.0, .p = p, .swap = swap},
      {.grad_anchor = mutable_view<double>(g.data(), {n, d}),
       .grad_positive = mutable_view<double>(g.data() + n * d, {n, d}),
       .grad_negative = mutable_view<double>(g.data() + 2 * n * d, {n, d}),
       .grad_output = 0.7});
  // The value ignores grad_output; the gradient is scaled by it.
  std::vector<double> want = numeric_gradient(f, x);
  for (double& v : want) v *= 0.7;
  EXPECT_LT(rel_error(g, want), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(
    Norms, TripletTest,
    ::testing::Values(TripletParam{2.0, false}, TripletParam{2.0, true},
                      TripletParam{1.0, false}, TripletParam{3.0, true},
                      TripletParam{1.5, false}, TripletParam{0.5, false}));

// Identical embeddings: d = ||eps||_p > 0 and every gradient is finite; with
// a == p == n the anchor's gradient cancels exactly (torch gives the same).
TEST(TripletMargin, IdenticalEmbeddingsGiveFiniteGradients) {
  for (double p : {0.5, 1.0, 1.5, 2.0, 3.0}) {
    for (double eps : {0.0, 1e-6}) {
      const std::vector<float> a(8, 0.25f);
      std::vector<float> ga(8), gp(8), gn(8);
      const double v = triplet_margin_loss(
          view<float>(a.data(), {2, 4}), view<float>(a.data(), {2, 4}),
          view<float>(a.data(), {2, 4}), {.p = p, .eps = eps, .swap = true},
          {.grad_anchor = mutable_view<float>(ga.data(), {2, 4}),
           .grad_positive = mutable_view<float>(gp.data(), {2, 4}),
           .grad_negative = mutable_view<float>(gn.data(), {2, 4})});
      EXPECT_FLOAT_EQ(v, 1.0f) << p;
      for (int k = 0; k < 8; ++k) {
        EXPECT_TRUE(std::isfinite(ga[k]) && std::isfinite(gp[k]) &&
                    std::isfinite(gn[k]))
            << "p=" << p << " eps=" << eps;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// contrastive_loss and cosine_embedding_loss

// Oracle: 0.5 [y d^2 + (1 - y) max(0, m - d)^2] (Hadsell et al. 2006).
TEST(Contrastive, ValuesAndGradientMatchFormula) {
  const int64_t n = 9, d = 3;
  auto x = random_vector<double>(2 * n * d, 21, -1, 1);
  const std::vector<int64_t> y = {1, 0, 0, 1, 0, 1, 0, 0, 1};
  auto f = [&](const std::vector<double>& v) {
    return contrastive_loss(view<double>(v.data(), {n, d}),
                            view<double>(v.data() + n * d, {n, d}),
                            view<int64_t>(y.data(), {n}), {.margin = 1.2});
  };
  LD want = 0;
  for (int64_t i = 0; i < n; ++i) {
    const LD dist = l2(&x[i * d], &x[(n + i) * d], d);
    const LD h = std::max<LD>(1.2L - dist, 0);
    want += 0.5L * (y[i] ? dist * dist : h * h);
  }
  EXPECT_NEAR(f(x), double(want / n), 1e-14);
  std::vector<double> g(2 * n * d);
  contrastive_loss(view<double>(x.data(), {n, d}),
                   view<double>(x.data() + n * d, {n, d}),
                   view<int64_t>(y.data(), {n}), {.margin = 1.2},
                   {.grad_x1 = mutable_view<double>(g.data(), {n, d}),
                    .grad_x2 = mutable_view<double>(g.data() + n * d, {n, d})});
  EXPECT_LT(rel_error(g, numeric_gradient(f, x)), 1e-7);
}

// d = 0: the similar term's gradient is 0, the dissimilar term uses the
// documented subgradient 0; the loss is 0.5 m^2 for a dissimilar pair.
TEST(Contrastive, ZeroDistanceIsFinite) {
  const std::vector<float> a = {1, 2, 3, 1, 2, 3};
  const std::vector<float> yv = {1.0f, 0.0f};
  std::vector<float> out(2), g1(6, 9.f), g2(6, 9.f);
  contrastive_loss(view<float>(a.data(), {2, 3}), view<float>(a.data(), {2, 3}),
                   view<float>(yv.data(), {2}),
                   {.margin = 2.0, .reduction = Reduction::kNone},
                   {.out = mutable_view<float>(out.data(), {2}),
                    .grad_x1 = mutable_view<float>(g1.data(), {2, 3}),
                    .grad_x2 = mutable_view<float>(g2.data(), {2, 3})});
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 2.0f);
  for (int k = 0; k < 6; ++k) EXPECT_EQ(g1[k], 0.0f);
  for (int k = 0; k < 6; ++k) EXPECT_EQ(g2[k], 0.0f);
}

// Oracle: torch's formula, cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 +
// 1e-12)).
TEST(CosineEmbedding, ValuesAndGradientMatchFormula) {
  const int64_t n = 8, d = 5;
  auto x = random_vector<double>(2 * n * d, 31);
  const std::vector<int32_t> y = {1, -1, -1, 1, -1, 1, -1, -1};
  auto f = [&](const std::vector<double>& v) {
    return cosine_embedding_loss(
        view<double>(v.data(), {n, d}), view<double>(v.data() + n * d, {n, d}),
        view<int32_t>(y.data(), {n}),
        {.margin = -0.2, .reduction = Reduction::kSum});
  };
  LD want = 0;
  for (int64_t i = 0; i < n; ++i) {
    LD s = 0, m1 = 1e-12L, m2 = 1e-12L;
    for (int64_t k = 0; k < d; ++k) {
      s += LD(x[i * d + k]) * x[(n + i) * d + k];
      m1 += LD(x[i * d + k]) * x[i * d + k];
      m2 += LD(x[(n + i) * d + k]) * x[(n + i) * d + k];
    }
    const LD c = s / std::sqrt(m1 * m2);
    want += y[i] == 1 ? 1 - c : std::max<LD>(c + 0.2L, 0);
  }
  EXPECT_NEAR(f(x), double(want), 1e-13);
  std::vector<double> g(2 * n * d);
  cosine_embedding_loss(
      view<double>(x.data(), {n, d}), view<double>(x.data() + n * d, {n, d}),
      view<int32_t>(y.data(), {n}),
      {.margin = -0.2, .reduction = Reduction::kSum},
      {.grad_x1 = mutable_view<double>(g.data(), {n, d}),
       .grad_x2 = mutable_view<double>(g.data() + n * d, {n, d})});
  EXPECT_LT(rel_error(g, numeric_gradient(f, x)), 1e-7);
}

// An all-zero x1: cos = 0, the 1e-12 keeps the denominator > 0.
TEST(CosineEmbedding, ZeroVectorStaysFinite) {
  const std::vector<float> z(4, 0.f), v = {1, 2, 3, 4};
  const std::vector<int64_t> y = {1};
  std::vector<float> g1(4), g2(4);
  const double l = cosine_embedding_loss(
      view<float>(z.data(), {1, 4}), view<float>(v.data(), {1, 4}),
      view<int64_t>(y.data(), {1}), {},
      {.grad_x1 = mutable_view<float>(g1.data(), {1, 4}),
       .grad_x2 = mutable_view<float>(g2.data(), {1, 4})});
  EXPECT_EQ(l, 1.0);
  for (int k = 0; k < 4; ++k) EXPECT_TRUE(std::isfinite(g1[k]) && g2[k] == 0.f);
}

// ---------------------------------------------------------------------------
// Batch losses

// Oracle: brute-force mining over all pairs / triplets in long double.
struct BatchOracle {
  LD hard_mean = 0, all_mean = 0, all_sum = 0;
};
BatchOracle batch_oracle(const std::vector<double>& x,
                         const std::vector<int64_t>& y, int64_t d, LD m) {
  const int64_t n = int64_t(y.size());
  BatchOracle o;
  LD hard = 0;
  int64_t valid = 0, active = 0;
  for (int64_t a = 0; a < n; ++a) {
    LD dp = -1, dn = std::numeric_limits<LD>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      if (j == a) continue;
      const LD dj = l2(&x[a * d], &x[j * d], d);
      if (y[j] == y[a])
        dp = std::max(dp, dj);
      else
        dn = std::min(dn, dj);
    }
    if (dp >= 0 && std::isfinite(double(dn))) {
      ++valid;
      hard += std::max<LD>(m + dp - dn, 0);
    }
    for (int64_t p = 0; p < n; ++p) {
      if (p == a || y[p] != y[a]) continue;
      for (int64_t q = 0; q < n; ++q) {
        if (y[q] == y[a]) continue;
        const LD t =
            m + l2(&x[a * d], &x[p * d], d) - l2(&x[a * d], &x[q * d], d);
        if (t > 0) {
          o.all_sum += t;
          ++active;
        }
      }
    }
  }
  o.hard_mean = valid ? hard / valid : 0;
  o.all_mean = active ? o.all_sum / active : 0;
  return o;
}

TEST(BatchTriplet, ValuesMatchBruteForceAndGradientsMatchDifferences) {
  const int64_t n = 10, d = 3;
  const std::vector<int64_t> y = {0, 1, 2, 0, 1, 2, 0, 1, 3, 0};
  auto x = random_vector<double>(n * d, 41, -1, 1);
  const BatchOracle o = batch_oracle(x, y, d, 0.8L);
  auto hard = [&](const std::vector<double>& v) {
    return batch_hard_triplet_loss(view<double>(v.data(), {n, d}),
                                   view<int64_t>(y.data(), {n}),
                                   {.margin = 0.8});
  };
  auto all = [&](const std::vector<double>& v) {
    return batch_all_triplet_loss(view<double>(v.data(), {n, d}),
                                  view<int64_t>(y.data(), {n}),
                                  {.margin = 0.8});
  };
  EXPECT_NEAR(hard(x), double(o.hard_mean), 1e-14);
  EXPECT_NEAR(all(x), double(o.all_mean), 1e-14);
  EXPECT_NEAR(batch_all_triplet_loss(
                  view<double>(x.data(), {n, d}), view<int64_t>(y.data(), {n}),
                  {.margin = 0.8, .reduction = Reduction::kSum}),
              double(o.all_sum), 1e-13);
  std::vector<double> g(n * d);
  batch_hard_triplet_loss(view<double>(x.data(), {n, d}),
                          view<int64_t>(y.data(), {n}), {.margin = 0.8},
                          {.grad_out = mutable_view<double>(g.data(), {n, d})});
  EXPECT_LT(rel_error(g, numeric_gradient(hard, x)), 1e-7);
  // Batch-all: the active count is held fixed (piecewise constant); the
  // central difference sees the same set for a step of 1e-6.
  batch_all_triplet_loss(view<double>(x.data(), {n, d}),
                         view<int64_t>(y.data(), {n}), {.margin = 0.8},
                         {.grad_out = mutable_view<double>(g.data(), {n, d})});
  EXPECT_LT(rel_error(g, numeric_gradient(all, x)), 1e-7);
}

// No anchor has both a positive and a negative: 0 loss, zero gradient.
TEST(BatchTriplet, NoValidTripletGivesZeroAndZeroGradient) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  for (const std::vector<int64_t>& y :
       {std::vector<int64_t>{0, 1, 2}, std::vector<int64_t>{5, 5, 5}}) {
    std::vector<float> g(6, 7.f);
    for (auto* fn : {&batch_hard_triplet_loss, &batch_all_triplet_loss}) {
      std::fill(g.begin(), g.end(), 7.f);
      const double l =
          (*fn)(view<float>(x.data(), {3, 2}), view<int64_t>(y.data(), {3}), {},
                {.grad_out = mutable_view<float>(g.data(), {3, 2})});
      EXPECT_EQ(l, 0.0);
      for (float v : g) EXPECT_EQ(v, 0.f);
    }
  }
}

// Duplicate embeddings (d = 0) use the subgradient 0 and stay finite.
TEST(BatchTriplet, DuplicateEmbeddingsStayFinite) {
  const std::vector<float> x = {1, 1, 1, 1, 1, 1, 2, 2};
  const std::vector<int64_t> y = {0, 0, 1, 1};
  std::vector<float> g(8);
  for (auto* fn : {&batch_hard_triplet_loss, &batch_all_triplet_loss}) {
    const double l = (*fn)(view<float>(x.data(), {4, 2}),
                           view<int64_t>(y.data(), {4}), {.margin = 1.0},
                           {.grad_out = mutable_view<float>(g.data(), {4, 2})});
    EXPECT_TRUE(std::isfinite(l));
    for (float v : g) EXPECT_TRUE(std::isfinite(v));
  }
}

// Oracle: SupCon L_out in long double.
LD nt_xent_oracle(const std::vector<double>& x, const std::vector<int64_t>& y,
                  int64_t d, LD tau) {
  const int64_t n = int64_t(y.size());
  std::vector<LD> z(x.size());
  for (int64_t i = 0; i < n; ++i) {
    LD s = 0;
    for (int64_t k = 0; k < d; ++k) s += LD(x[i * d + k]) * x[i * d + k];
    const LD nr = std::max<LD>(std::sqrt(s), 1e-12L);
    for (int64_t k = 0; k < d; ++k) z[i * d + k] = x[i * d + k] / nr;
  }
  LD tot = 0;
  int64_t valid = 0;
  for (int64_t i = 0; i < n; ++i) {
    LD se = 0, ps = 0;
    int64_t np = 0;
    for (int64_t k = 0; k < n; ++k) {
      if (k == i) continue;
      LD s = 0;
      for (int64_t t = 0; t < d; ++t) s += z[i * d + t] * z[k * d + t];
      se += std::exp(s / tau);
      if (y[k] == y[i]) {
        ps += s / tau;
        ++np;
      }
    }
    if (!np) continue;
    ++valid;
    tot += std::log(se) - ps / np;
  }
  return valid ? tot / valid : 0;
}

TEST(NtXent, ValuesAndGradientMatchSupConFormula) {
  const int64_t n = 8, d = 6;
  const std::vector<int64_t> y = {0, 0, 1, 1, 2, 2, 2, 3};  // 3 has none
  auto x = random_vector<double>(n * d, 51);
  auto f = [&](const std::vector<double>& v) {
    return nt_xent_loss(view<double>(v.data(), {n, d}),
                        view<int64_t>(y.data(), {n}), {.temperature = 0.5});
  };
  EXPECT_NEAR(f(x), double(nt_xent_oracle(x, y, d, 0.5L)), 1e-13);
  std::vector<double> g(n * d);
  nt_xent_loss(view<double>(x.data(), {n, d}), view<int64_t>(y.data(), {n}),
               {.temperature = 0.5},
               {.grad_out = mutable_view<double>(g.data(), {n, d})});
  EXPECT_LT(rel_error(g, numeric_gradient(f, x)), 1e-7);
  for (int64_t k = 0; k < d; ++k) {
    // Row 7 has no positive but is still a negative of the others.
    EXPECT_NE(g[7 * d + k], 0.0);
  }
}

TEST(NtXent, AllZeroEmbeddingStaysFinite) {
  std::vector<float> x = {0, 0, 0, 1, 2, 3, 0, 0, 0, -1, 0.5f, 2};
  const std::vector<int64_t> y = {0, 0, 1, 1};
  std::vector<float> g(12);
  const double l =
      nt_xent_loss(view<float>(x.data(), {4, 3}), view<int64_t>(y.data(), {4}),
                   {}, {.grad_out = mutable_view<float>(g.data(), {4, 3})});
  EXPECT_TRUE(std::isfinite(l));
  for (float v : g) EXPECT_TRUE(std::isfinite(v));
}

// ---------------------------------------------------------------------------
// Every loss on every target and at 1 vs 2 threads.

struct AnyCall {
  std::string name;
  bool bitwise;  // false: general-p power (exp/log) differs by a few ulp
  // Runs the loss on float data; writes value + gradients into res.
  std::function<void(std::vector<float>& res)> run;
};

std::vector<AnyCall> any_calls(int64_t n, int64_t d) {
  static std::vector<float> a, p, q, w;
  static std::vector<int64_t> lab, bin, pm;
  a = random_vector<float>(n * d, 61);
  p = random_vector<float>(n * d, 62);
  q = random_vector<float>(n * d, 63);
  w = random_vector<float>(n, 64, 0, 1);
  lab.resize(n);
  bin.resize(n);
  pm.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    lab[i] = i % 7;
    bin[i] = i % 3 == 0;
    pm[i] = i % 2 ? 1 : -1;
  }
  std::vector<AnyCall> c;
  for (double pn : {2.0, 1.0, 3.0}) {
    c.push_back(
        {"triplet_p" + std::to_string(int(pn)), pn != 3.0,
         [=](std::vector<float>& r) {
           r.assign(3 * n * d + n + 1, 0.f);
           float* g = r.data();
           r.back() = float(triplet_margin_loss(
               view<float>(a.data(), {n, d}), view<float>(p.data(), {n, d}),
               view<float>(q.data(), {n, d}),
               {.margin = 3.0,
                .p = pn,
                .swap = true,
                .weight = view<float>(w.data(), {n}),
                .reduction = Reduction::kNone},
               {.out = mutable_view<float>(g + 3 * n * d, {n}),
                .grad_anchor = mutable_view<float>(g, {n, d}),
                .grad_positive = mutable_view<float>(g + n * d, {n, d}),
                .grad_negative = mutable_view<float>(g + 2 * n * d, {n, d})}));
         }});
  }
  c.push_back(
      {"contrastive", true, [=](std::vector<float>& r) {
         r.assign(2 * n * d + 1, 0.f);
         r.back() = float(contrastive_loss(
             view<float>(a.data(), {n, d}), view<float>(p.data(), {n, d}),
             view<int64_t>(bin.data(), {n}), {.margin = 8.0},
             {.grad_x1 = mutable_view<float>(r.data(), {n, d}),
              .grad_x2 = mutable_view<float>(r.data() + n * d, {n, d})}));
       }});
  c.push_back(
      {"cosine", true, [=](std::vector<float>& r) {
         r.assign(2 * n * d + 1, 0.f);
         r.back() = float(cosine_embedding_loss(
             view<float>(a.data(), {n, d}), view<float>(p.data(), {n, d}),
             view<int64_t>(pm.data(), {n}), {.margin = -0.5},
             {.grad_x1 = mutable_view<float>(r.data(), {n, d}),
              .grad_x2 = mutable_view<float>(r.data() + n * d, {n, d})}));
       }});
  using BatchFn =
      double (*)(View, View, const BatchTripletOptions&, const LossOutputs&);
  for (auto [name, fn] :
       {std::pair<std::string, BatchFn>{"hard", &batch_hard_triplet_loss},
        std::pair<std::string, BatchFn>{"all", &batch_all_triplet_loss}}) {
    c.push_back({"batch_" + name, true, [=](std::vector<float>& r) {
                   r.assign(n * d + 1, 0.f);
                   r.back() = float(
                       fn(view<float>(a.data(), {n, d}),
                          view<int64_t>(lab.data(), {n}), {.margin = 2.0},
                          {.grad_out = mutable_view<float>(r.data(), {n, d})}));
                 }});
  }
  c.push_back({"nt_xent", true, [=](std::vector<float>& r) {
                 r.assign(n * d + 1, 0.f);
                 r.back() = float(nt_xent_loss(
                     view<float>(a.data(), {n, d}),
                     view<int64_t>(lab.data(), {n}), {.temperature = 0.2},
                     {.grad_out = mutable_view<float>(r.data(), {n, d})}));
               }});
  return c;
}

TEST(EmbeddingKernels, SimdTargetsMatchScalarTwin) {
  for (int64_t d : {1, 3, 8, 17, 33}) {
    for (const AnyCall& c : any_calls(40, d)) {
      std::vector<float> ref, got;
      {
        testing::ScopedTarget t("scalar");
        c.run(ref);
      }
      for (const std::string& target : testing::all_targets()) {
        testing::ScopedTarget t(target);
        c.run(got);
        ASSERT_EQ(got.size(), ref.size());
        if (c.bitwise) {
          EXPECT_EQ(0, std::memcmp(got.data(), ref.data(), ref.size() * 4))
              << c.name << " d=" << d << " on " << target;
        } else {
          for (size_t i = 0; i < ref.size(); ++i) {
            EXPECT_NEAR(got[i], ref[i], 2e-5 * (std::fabs(ref[i]) + 1))
                << c.name << " d=" << d << " on " << target << " at " << i;
          }
        }
      }
    }
  }
}

TEST(EmbeddingKernels, DeterministicAcrossThreadCounts) {
  for (const std::string& target : testing::all_targets()) {
    testing::ScopedTarget t(target);
    for (const AnyCall& c : any_calls(700, 24)) {
      std::vector<float> one, two;
      {
        testing::ScopedThreads s(1);
        c.run(one);
      }
      {
        testing::ScopedThreads s(2);
        c.run(two);
      }
      EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * 4))
          << c.name << " on " << target;
    }
  }
}

// ---------------------------------------------------------------------------
// Errors

TEST(EmbeddingErrors, ShapesLabelsTargetsAndOptions) {
  const std::vector<float> a(12, 1.f), b(12, 2.f), w(3, 1.f);
  const std::vector<double> ad(12, 1.0);
  const std::vector<int64_t> y3 = {0, 1, 0}, y4 = {0, 1, 0, 1},
                             bad01 = {0, 2, 1}, badpm = {1, 0, -1};
  const std::vector<float> yf = {0.f, 1.f, 0.f};
  const View A = view<float>(a.data(), {3, 4}),
             B = view<float>(b.data(), {3, 4});
  ErrorKind kind{};
  auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
  };
  std::string m;

  m = error_of([&] {
    triplet_margin_loss(A, view<float>(b.data(), {4, 3}), A);
  });
  EXPECT_TRUE(has(m, "triplet_margin_loss") && has(m, "(4, 3)")) << m;
  m = error_of(
      [&] {
        triplet_margin_loss(A, view<double>(ad.data(), {3, 4}), A);
      },
      &kind);
  EXPECT_EQ(kind, ErrorKind::kType);
  EXPECT_TRUE(has(m, "positive dtype float64")) << m;
  m = error_of([&] { triplet_margin_loss(A, B, A, {.p = 0.0}); });
  EXPECT_TRUE(has(m, "p=0")) << m;
  m = error_of([&] { triplet_margin_loss(A, B, A, {.margin = -1.0}); });
  EXPECT_TRUE(has(m, "margin=-1")) << m;
  m = error_of([&] {
    triplet_margin_loss(view<float>(a.data(), {0, 4}),
                        view<float>(a.data(), {0, 4}),
                        view<float>(a.data(), {0, 4}));
  });
  EXPECT_TRUE(has(m, "empty")) << m;
  m = error_of(
      [&] { triplet_margin_loss(A, B, A, {.reduction = Reduction::kNone}); });
  EXPECT_TRUE(has(m, "reduction='none'")) << m;
  m = error_of([&] {
    triplet_margin_loss(A, B, A, {.weight = view<float>(w.data(), {1, 3})});
  });
  EXPECT_TRUE(has(m, "weight shape (1, 3)")) << m;

  m = error_of(
      [&] { contrastive_loss(A, B, view<int64_t>(bad01.data(), {3})); });
  EXPECT_TRUE(has(m, "{0, 1}") && has(m, "got 2 at index 1")) << m;
  m = error_of([&] { contrastive_loss(A, B, view<int64_t>(y4.data(), {4})); });
  EXPECT_TRUE(has(m, "target shape (4,)")) << m;
  m = error_of([&] {
    contrastive_loss(A, B, view<int64_t>(y3.data(), {3}), {.margin = -0.5});
  });
  EXPECT_TRUE(has(m, "margin")) << m;
  EXPECT_EQ(
      error_of([&] { contrastive_loss(A, B, view<float>(yf.data(), {3})); }),
      "");

  m = error_of(
      [&] { cosine_embedding_loss(A, B, view<int64_t>(badpm.data(), {3})); });
  EXPECT_TRUE(has(m, "{1, -1}") && has(m, "got 0 at index 1")) << m;
  m = error_of([&] {
    cosine_embedding_loss(A, B, view<int64_t>(y3.data(), {3}), {.margin = 2.0});
  });
  EXPECT_TRUE(has(m, "[-1, 1]")) << m;

  m = error_of(
      [&] { batch_hard_triplet_loss(A, view<int64_t>(y4.data(), {4})); });
  EXPECT_TRUE(has(m, "labels shape (4,)") && has(m, "(3,)")) << m;
  m = error_of([&] { batch_all_triplet_loss(A, view<float>(yf.data(), {3})); },
               &kind);
  EXPECT_EQ(kind, ErrorKind::kType);
  EXPECT_TRUE(has(m, "labels dtype float32")) << m;
  m = error_of([&] {
    batch_all_triplet_loss(view<float>(a.data(), {3, 2, 2}),
                           view<int64_t>(y3.data(), {3}));
  });
  EXPECT_TRUE(has(m, "(N, D)")) << m;
  m = error_of([&] {
    nt_xent_loss(A, view<int64_t>(y3.data(), {3}), {.temperature = 0.0});
  });
  EXPECT_TRUE(has(m, "temperature=0")) << m;
  m = error_of([&] {
    nt_xent_loss(A, view<int64_t>(y3.data(), {3}), {},
                 {.hess_out = mutable_view<float>(nullptr, {3, 4})});
  });
  EXPECT_TRUE(has(m, "hess_out")) << m;
}

}  // namespace
}  // namespace losslab
