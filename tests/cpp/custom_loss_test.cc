// losslab::elementwise_loss (losslab/custom.h): a user functor run through the
// library's block reduction.
//
// Oracles: the built-in huber_loss and log_cosh_loss (a custom functor doing
// the same IEEE operations must give the same bits: same lane layout, same
// block tree, same pairwise sum, same weight sum); central differences in
// double for a Cauchy loss's gradient and Hessian; a closed-form double sum;
// the same call at 1 and 2 threads (bitwise).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numbers>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/custom.h"
#include "losslab/losses/regression.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;
using testing::ScopedTarget;
using testing::ScopedThreads;

// Huber written as a user would, with the operations of the built-in kernel
// (docs/losses.md): |d| < delta: 0.5 d^2, else delta (|d| - delta / 2);
// g = clamp(d, -delta, delta); h = [|d| < delta].
struct UserHuber {
  double delta = 1.0;
  template <class T>
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T dl = T(delta), half = T(0.5 * delta);
    const T d = x - y;
    const T a = std::abs(d);
    const bool in = a < dl;
    l = in ? (T(0.5) * a) * a : dl * (a - half);
    g = std::fmin(std::fmax(d, -dl), dl);
    if (want_h) h = in ? T(1) : T(0);
  }
};

// log cosh d with the stable forms of the built-in scalar reference kernel in
// float64 (tanh a = -t / (2 + t), t = expm1(-2a); h = 4e / (1 + e)^2,
// e = exp(-2a)); the built-in float32 kernels use polynomials for |d| < 1,
// so float32 results are compared within a tolerance below.
struct UserLogCosh {
  template <class T>
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T d = x - y;
    const T a = std::abs(d);
    const T t = std::expm1(T(-2) * a);
    const T th = -t / (T(2) + t);
    const bool small = a < T(1);
    const T lg = std::log1p(small ? -(th * th) : T(1) + t);
    l = small ? T(-0.5) * lg : (a - std::numbers::ln2_v<T>)+lg;
    g = std::copysign(th, d);
    if (want_h) {
      const T e = std::exp(T(-2) * a);
      const T ope = T(1) + e;
      h = (T(4) * e) / (ope * ope);
    }
  }
};

// Cauchy (Lorentzian) loss, c = scale: l = c^2/2 log(1 + r^2), r = d / c;
// g = d / (1 + r^2); h = (1 - r^2) / (1 + r^2)^2.
struct Cauchy {
  double c = 1.0;
  template <class T>
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T d = x - y, r = d / T(c), q = T(1) + r * r;
    l = T(0.5 * c * c) * std::log1p(r * r);
    g = d / q;
    if (want_h) h = (T(1) - r * r) / (q * q);
  }
};

// A loss with a domain: l = x - y log x (Poisson rate), x > 0 required.
struct PositiveOnly {
  template <class T>
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    l = x - y * std::log(x);
    g = T(1) - y / x;
    if (want_h) h = y / (x * x);
  }
  template <class T>
  bool domain_bad(T x) const {
    return !(x > T(0));
  }
};

// Only a float operator(): float64 input is a TypeError.
struct FloatOnly {
  void operator()(float x, float y, float& l, float& g, float& h, bool) const {
    l = x - y;
    g = 1.0f;
    h = 0.0f;
  }
};

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class T>
struct Outs {
  std::vector<T> out, grad, hess;
  double value;
};

// Calls `call(options-like args, outputs)` with out/grad/hess buffers.
template <class T, class Call>
Outs<T> run_with_outputs(int64_t n, bool per_element_gout,
                         const std::vector<T>& gout, const Call& call) {
  Outs<T> r;
  r.out.assign(size_t(n), T(-7));
  r.grad.assign(size_t(n), T(-7));
  r.hess.assign(size_t(n), T(-7));
  LossOutputs o;
  o.out = mutable_view<T>(r.out.data(), {n});
  o.grad_out = mutable_view<T>(r.grad.data(), {n});
  o.hess_out = mutable_view<T>(r.hess.data(), {n});
  if (per_element_gout) {
    o.grad_output_elementwise = view<T>(gout.data(), {n});
  } else {
    o.grad_output = 0.75;
  }
  r.value = call(o);
  return r;
}

template <class T>
void expect_matches_builtin_huber(int64_t n, Reduction red, bool weighted) {
  const auto x = random_vector<T>(n, 11, -4, 4);
  const auto y = random_vector<T>(n, 12, -4, 4);
  auto w = random_vector<T>(n, 13, 0, 2);
  const auto go = random_vector<T>(n, 14, -1, 1);
  const View xv = view<T>(x.data(), {n}), yv = view<T>(y.data(), {n});
  const View wv = weighted ? view<T>(w.data(), {n}) : View{};
  const bool per_el = red == Reduction::kNone;
  const auto ours = run_with_outputs<T>(n, per_el, go, [&](LossOutputs& o) {
    return elementwise_loss(
        UserHuber{.delta = 1.5}, xv, yv,
        {.name = "user_huber", .weight = wv, .reduction = red}, o);
  });
  const auto ref = run_with_outputs<T>(n, per_el, go, [&](LossOutputs& o) {
    return huber_loss(xv, yv, {.delta = 1.5, .weight = wv, .reduction = red},
                      o);
  });
  EXPECT_EQ(std::memcmp(&ours.value, &ref.value, sizeof(double)), 0)
      << ours.value << " vs " << ref.value << " n=" << n;
  EXPECT_TRUE(same_bits(ours.out, ref.out)) << "n=" << n;
  EXPECT_TRUE(same_bits(ours.grad, ref.grad)) << "n=" << n;
  EXPECT_TRUE(same_bits(ours.hess, ref.hess)) << "n=" << n;
}

// Bitwise: Huber's built-in SIMD kernel performs the same IEEE operations as
// its scalar twin (no transcendental function, no FMA), so the user functor
// must equal it on every target.
TEST(CustomLoss, HuberFunctorEqualsBuiltinBitwise) {
  for (const std::string& target : testing::all_targets()) {
    ScopedTarget t(target);
    for (int64_t n : {int64_t(1), int64_t(17), int64_t(2049), int64_t(20011)}) {
      for (Reduction red :
           {Reduction::kNone, Reduction::kMean, Reduction::kSum}) {
        for (bool weighted : {false, true}) {
          expect_matches_builtin_huber<float>(n, red, weighted);
          expect_matches_builtin_huber<double>(n, red, weighted);
        }
      }
    }
  }
}

// log-cosh: the user functor calls std::expm1, std::log1p and std::exp.
// float64: bitwise against the scalar reference kernel, which calls the same.
// float32: the built-in kernels (scalar reference and SIMD alike) evaluate
// |d| < 1 by polynomials in d^2 and the rest by exp / log1p polynomials (a
// few ULP, FMA on AVX2/AVX-512), so per-element values agree to 1e-6
// relative and the sums to the same bound.
template <class T>
void check_log_cosh(int64_t n) {
  const auto x = random_vector<T>(n, 21, -5, 5);
  const auto y = random_vector<T>(n, 22, -5, 5);
  const View xv = view<T>(x.data(), {n}), yv = view<T>(y.data(), {n});
  const std::vector<T> go;
  auto ours_fn = [&](LossOutputs& o) {
    return elementwise_loss(UserLogCosh{}, xv, yv,
                            {.reduction = Reduction::kSum}, o);
  };
  auto ref_fn = [&](LossOutputs& o) {
    return log_cosh_loss(xv, yv, {.reduction = Reduction::kSum}, o);
  };
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  auto expect_close = [&](const auto& ours, const auto& ref) {
    EXPECT_NEAR(ours.value, ref.value, tol * std::abs(ref.value) * 4);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(ours.out[i], ref.out[i], tol * (1 + std::abs(ref.out[i])));
      ASSERT_NEAR(ours.grad[i], ref.grad[i], tol);
      ASSERT_NEAR(ours.hess[i], ref.hess[i], tol);
    }
  };
  {
    ScopedTarget t("scalar");
    const auto ours = run_with_outputs<T>(n, false, go, ours_fn);
    const auto ref = run_with_outputs<T>(n, false, go, ref_fn);
    if constexpr (std::is_same_v<T, double>) {
      EXPECT_EQ(ours.value, ref.value);
      EXPECT_TRUE(same_bits(ours.out, ref.out));
      EXPECT_TRUE(same_bits(ours.grad, ref.grad));
      EXPECT_TRUE(same_bits(ours.hess, ref.hess));
    } else {
      expect_close(ours, ref);
    }
  }
  expect_close(run_with_outputs<T>(n, false, go, ours_fn),
               run_with_outputs<T>(n, false, go, ref_fn));
}

TEST(CustomLoss, LogCoshFunctorEqualsBuiltin) {
  check_log_cosh<float>(5003);
  check_log_cosh<double>(5003);
}

// Gradient and Hessian of the Cauchy loss against central differences of
// the value (and of the gradient) in double, with weights and kMean.
TEST(CustomLoss, CauchyGradientAndHessianMatchCentralDifferences) {
  const int64_t n = 37;
  const auto x0 = random_vector<double>(n, 31, -4, 4);
  const auto y = random_vector<double>(n, 32, -4, 4);
  const auto w = random_vector<double>(n, 33, 0.1, 2);
  const Cauchy fn{.c = 1.7};
  const ElementwiseLossOptions opt{.name = "cauchy",
                                   .weight = view<double>(w.data(), {n})};
  auto value = [&](const std::vector<double>& x) {
    return elementwise_loss(fn, view<double>(x.data(), {n}),
                            view<double>(y.data(), {n}), opt);
  };
  std::vector<double> grad(static_cast<size_t>(n)),
      hess(static_cast<size_t>(n));
  const double v = elementwise_loss(
      fn, view<double>(x0.data(), {n}), view<double>(y.data(), {n}), opt,
      {.grad_out = mutable_view<double>(grad.data(), {n}),
       .hess_out = mutable_view<double>(hess.data(), {n})});
  // Closed form: sum w c^2/2 log(1 + (d/c)^2) / sum w.
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double r = (x0[i] - y[i]) / 1.7;
    num += w[i] * 0.5 * 1.7 * 1.7 * std::log1p(r * r);
    den += w[i];
  }
  EXPECT_NEAR(v, num / den, 1e-14);
  EXPECT_LT(rel_error(grad, numeric_gradient(value, x0)), 1e-8);
  // Diagonal Hessian: d grad_i / d x_i by central differences.
  std::vector<double> hnum(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto gi = [&](double xi) {
      std::vector<double> x = x0, g(static_cast<size_t>(n));
      x[i] = xi;
      elementwise_loss(fn, view<double>(x.data(), {n}),
                       view<double>(y.data(), {n}), opt,
                       {.grad_out = mutable_view<double>(g.data(), {n})});
      return g[i];
    };
    hnum[i] = (gi(x0[i] + 1e-6) - gi(x0[i] - 1e-6)) / 2e-6;
  }
  EXPECT_LT(rel_error(hess, hnum), 1e-7);
}

// The same call at 1 and 2 threads: bitwise identical value and outputs.
TEST(CustomLoss, DeterministicAcrossThreadCounts) {
  const int64_t n = 300007;  // 147 blocks, a ragged last one
  const auto x = random_vector<float>(n, 41, -10, 10);
  const auto y = random_vector<float>(n, 42, -10, 10);
  const auto w = random_vector<float>(n, 43, 0, 3);
  auto call = [&](int threads) {
    ScopedThreads t(threads);
    Outs<float> r;
    r.grad.resize(static_cast<size_t>(n));
    r.value = elementwise_loss(
        Cauchy{.c = 2.0}, view<float>(x.data(), {n}),
        view<float>(y.data(), {n}), {.weight = view<float>(w.data(), {n})},
        {.grad_out = mutable_view<float>(r.grad.data(), {n})});
    return r;
  };
  const auto one = call(1), two = call(2);
  EXPECT_EQ(std::memcmp(&one.value, &two.value, sizeof(double)), 0);
  EXPECT_TRUE(same_bits(one.grad, two.grad));
}

TEST(CustomLoss, BFloat16InputRunsTheFloat32Functor) {
  // bfloat16 values (top halves of float32) whose float32 results are the
  // oracle: the loss of a bf16 input is the float32 loss of its values.
  const int64_t n = 100;
  const auto xf = random_vector<float>(n, 51, -3, 3);
  const auto yf = random_vector<float>(n, 52, -3, 3);
  std::vector<uint16_t> xb(static_cast<size_t>(n)), yb(static_cast<size_t>(n));
  std::vector<float> xr(static_cast<size_t>(n)), yr(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &xf[i], 4);
    xb[i] = uint16_t(u >> 16);
    u = uint32_t(xb[i]) << 16;
    std::memcpy(&xr[i], &u, 4);
    std::memcpy(&u, &yf[i], 4);
    yb[i] = uint16_t(u >> 16);
    u = uint32_t(yb[i]) << 16;
    std::memcpy(&yr[i], &u, 4);
  }
  const View xv{xb.data(), DType::kBFloat16, {n}, {}};
  const View yv{yb.data(), DType::kBFloat16, {n}, {}};
  std::vector<float> g32(static_cast<size_t>(n)), gref(static_cast<size_t>(n));
  const double v = elementwise_loss(
      Cauchy{}, xv, yv, {}, {.grad_out = mutable_view<float>(g32.data(), {n})});
  const double vref = elementwise_loss(
      Cauchy{}, view<float>(xr.data(), {n}), view<float>(yr.data(), {n}), {},
      {.grad_out = mutable_view<float>(gref.data(), {n})});
  EXPECT_EQ(v, vref);
  EXPECT_TRUE(same_bits(g32, gref));
}

TEST(CustomLoss, ChecksAndErrorsNameTheArgument) {
  std::vector<double> x = {1.0, 2.0, -0.5}, y = {1.0, 1.0, 1.0};
  std::vector<double> grad(3, 0.0);
  const View xv = view<double>(x.data(), {3}), yv = view<double>(y.data(), {3});
  try {
    elementwise_loss(PositiveOnly{}, xv, yv, {.name = "rate_loss"},
                     {.grad_out = mutable_view<double>(grad.data(), {3})});
    FAIL() << "expected a domain error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rate_loss: input -0.5 at index 2"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(std::isnan(grad[0]));  // outputs poisoned, not half-written
  std::vector<double> ybad = {1.0, std::nan(""), 1.0};
  EXPECT_THROW(elementwise_loss(Cauchy{}, xv, view<double>(ybad.data(), {3})),
               Error);
  std::vector<double> wneg = {1.0, -1.0, 1.0};
  EXPECT_THROW(elementwise_loss(Cauchy{}, xv, yv,
                                {.weight = view<double>(wneg.data(), {3})}),
               Error);
  std::vector<double> y2 = {1.0, 1.0};
  EXPECT_THROW(elementwise_loss(Cauchy{}, xv, view<double>(y2.data(), {2})),
               Error);
  try {
    elementwise_loss(FloatOnly{}, xv, yv);
    FAIL() << "expected a type error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kType);
  }
  EXPECT_THROW(
      elementwise_loss(Cauchy{}, xv, yv, {.reduction = Reduction::kNone}),
      Error);
  // All-zero weights: mean 0 with a zero gradient (the library convention).
  std::vector<double> w0(3, 0.0);
  EXPECT_EQ(elementwise_loss(
                Cauchy{}, xv, yv, {.weight = view<double>(w0.data(), {3})},
                {.grad_out = mutable_view<double>(grad.data(), {3})}),
            0.0);
  EXPECT_EQ(grad[2], 0.0);
}

}  // namespace
}  // namespace losslab
