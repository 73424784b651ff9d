// Regression loss kernels: each SIMD functor sits beside its scalar twin.
//
// Both compute, for d = input - target (quantile: e = target - input), the
// per-element loss l, its derivative g = dl/dinput and, when asked, the
// second derivative h. The drivers in elementwise-inl.h apply weights, the
// reduction scale and the upstream gradient. Formulas, sources and the kink
// conventions are in docs/losses.md; the kernels only say why they are written
// the way they are.
//
// Rule for bitwise equality across targets: the scalar twin performs the same
// IEEE operations in the same order as the SIMD functor (no FMA: the library
// is built with -ffp-contract=off). Losses that call exp/log (log-cosh,
// Poisson) agree within 1e-6 (|v| + scale of the cancelling terms) instead:
// the vector exp/expm1/log1p are polynomials (a few ULP, fused multiply-adds
// on AVX2/AVX-512) and the twins call std::, and both formulas cancel.

// ---------------------------------------------------------------------------
// Scalar twins: compiled once.
#ifndef LOSSLAB_SRC_LOSSES_REGRESSION_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_REGRESSION_INL_H_SCALAR_

#include <cmath>
#include <limits>
#include <numbers>

#include "src/losses/elementwise.h"
#include "src/losses/math-inl.h"  // log1p_unit

namespace losslab::detail::ref {

// Where the loss is NaN (a NaN input), the gradient and Hessian are NaN too,
// as autograd gives; clamps and selects would otherwise hide it.
template <class T>
inline void propagate_nan(T d, T& g, T& h, bool want_h) {
  if (std::isnan(d)) {
    g = d;
    if (want_h) h = d;
  }
}

// sign(d) with sign(0) = 0: the subgradient PyTorch's l1_loss uses at 0.
template <class T>
inline T sign0(T d) {
  return d != T(0) ? std::copysign(T(1), d) : T(0);
}

template <class T>
struct Mse {
  static constexpr bool kHasDomain = false;
  // l = d^2, g = 2d, h = 2
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T d = x - y;
    l = d * d;
    g = T(2) * d;
    if (want_h) h = T(2);
    propagate_nan(d, g, h, want_h);
  }
};

template <class T>
struct L1 {
  static constexpr bool kHasDomain = false;
  // l = |d|, g = sign(d) (0 at d = 0), h = 0
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T d = x - y;
    l = std::abs(d);
    g = sign0(d);
    if (want_h) h = T(0);
    propagate_nan(d, g, h, want_h);
  }
};

template <class T>
struct Huber {
  static constexpr bool kHasDomain = false;
  T delta, half_delta;
  // |d| < delta: l = 0.5 d^2, g = d, h = 1
  // else:        l = delta (|d| - 0.5 delta), g = delta sign(d), h = 0
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T d = x - y;
    const T a = std::abs(d);
    const bool in = a < delta;
    l = in ? (T(0.5) * a) * a : delta * (a - half_delta);
    g = std::fmin(std::fmax(d, -delta), delta);
    if (want_h) h = in ? T(1) : T(0);
    propagate_nan(d, g, h, want_h);
  }
};

template <class T>
struct SmoothL1 {
  static constexpr bool kHasDomain = false;
  T beta, half_beta, inv_beta;
  // |d| < beta: l = 0.5 d^2 / beta, g = d / beta, h = 1 / beta
  // else:       l = |d| - 0.5 beta,  g = sign(d),  h = 0
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T d = x - y;
    const T a = std::abs(d);
    const bool in = a < beta;
    l = in ? ((T(0.5) * a) * a) / beta : a - half_beta;
    g = in ? d / beta : std::copysign(T(1), d);
    if (want_h) h = in ? inv_beta : T(0);
    propagate_nan(d, g, h, want_h);
  }
};

template <class T>
struct Quantile {
  static constexpr bool kHasDomain = false;
  T tau, tau_m1;  // tau and tau - 1
  // e = target - input; l = max(tau e, (tau - 1) e)
  // g = -tau (e > 0), 1 - tau (e < 0), 0 (e = 0); h = 0
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T e = y - x;
    l = e >= T(0) ? tau * e : tau_m1 * e;
    g = e > T(0) ? -tau : (e < T(0) ? -tau_m1 : T(0));
    if (want_h) h = T(0);
    propagate_nan(e, g, h, want_h);
  }
};

// float32 log_cosh for a = |d| < 1, as polynomials in s = a^2 fitted to the
// relative error on [0, 1] (Chebyshev-weighted least squares, rounded to
// float32; both functions are even and analytic out to a = i pi/2, so
// degrees 6 and 7 reach float32 accuracy):
//   log cosh a = s P(s),  P(0) = 1/2   (0.73 ulp for P with FMA Horner)
//   tanh a     = a Q(s),  Q(0) = 1     (1.13 ulp for Q)
// Relative accuracy holds down to a = 0, where l ~ a^2 / 2 and the
// log1p(-tanh^2) and a - log 2 + log1p(exp(-2a)) forms lose digits.
inline constexpr float kLogCoshCoef[7] = {
    0x1.000000p-1f, -0x1.5554f6p-4f,  0x1.6bfe34p-6f,  -0x1.b7b7dap-8f,
    0x1.101056p-9f, -0x1.22da2cp-11f, 0x1.691032p-14f,
};
inline constexpr float kTanhCoef[8] = {
    0x1.000000p+0f, -0x1.55552ep-2f, 0x1.110aa4p-3f, -0x1.b9490ap-5f,
    0x1.5f89b8p-6f, -0x1.03076ep-7f, 0x1.29f53ap-9f, -0x1.6fd780p-12f,
};

template <class T>
struct LogCosh {
  static constexpr bool kHasDomain = false;
  // l = log cosh d, g = tanh d, h = sech^2 d, with a = |d|.
  // float32: a < 1 takes the polynomials above; a >= 1 (and NaN) takes,
  // with e = exp(-2a) <= 0.136,
  //   l = a - log 2 + log1p(e) (log1p_unit), g = (1 - e) / (1 + e);
  // h = 4 e / (1 + e)^2 for every a (its relative condition number in e is
  // (1 - e) / (1 + e) <= 1, where 1 - tanh^2 would amplify tanh's error
  // 2.8 times near a = 1). The same operations as LogCoshV (std::fma where
  // it fuses).
  // float64: with t = expm1(-2a), tanh a = -t / (2 + t);
  //   a < 1: l = -0.5 log1p(-tanh^2 a)     (no cancellation near 0)
  //   else:  l = a - log 2 + log1p(exp(-2a)) (the stable form)
  //   h = 4 e / (1 + e)^2 with e = exp(-2a), accurate for large a.
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T d = x - y;
    const T a = std::abs(d);
    if constexpr (sizeof(T) == 4) {
      const float e = std::exp(-2.0f * a);
      const float inv = 1.0f / (1.0f + e);
      if (a < T(1)) {
        const float sq = a * a;
        float p = kLogCoshCoef[6];
        for (int k = 5; k >= 0; --k) p = std::fma(p, sq, kLogCoshCoef[k]);
        float q = kTanhCoef[7];
        for (int k = 6; k >= 0; --k) q = std::fma(q, sq, kTanhCoef[k]);
        l = sq * p;
        g = std::copysign(a * q, d);
      } else {
        l = (a - std::numbers::ln2_v<float>)+log1p_unit(e);
        g = std::copysign((1.0f - e) * inv, d);
      }
      if (want_h) h = (4.0f * e) * (inv * inv);
    } else {
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
    propagate_nan(d, g, h, want_h);
  }
};

template <class T>
struct PseudoHuber {
  static constexpr bool kHasDomain = false;
  T delta;
  // r = d / delta, l = delta^2 (sqrt(1 + r^2) - 1), g = d / sqrt(1 + r^2),
  // h = (1 + r^2)^(-3/2). With a = |r| and m = min(a, 1/a), q = 1 + m^2,
  // s = sqrt(q), every form stays finite and free of cancellation, and
  // delta^2 (which over- or underflows for extreme delta) is never formed:
  //   a <= 1: l = d^2 / (1 + s),          g = d / s,          h = 1 / (q s)
  //   a > 1:  l = delta (|d| s - delta),  g = delta sign / s, h = m^3 / (q s)
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T d = x - y;
    const T ad = std::abs(d);
    const T a = ad / delta;
    const bool small = a <= T(1);
    const T m = small ? a : T(1) / a;
    const T q = T(1) + m * m;
    const T s = std::sqrt(q);
    l = small ? (d * d) / (T(1) + s) : delta * (ad * s - delta);
    g = small ? d / s : std::copysign(delta / s, d);
    if (want_h) h = (small ? T(1) : (m * m) * m) / (q * s);
    propagate_nan(d, g, h, want_h);
  }
};

template <class T>
struct PoissonNll {
  static constexpr bool kHasDomain = true;
  bool log_input, full;
  T eps;
  // log_input: l = exp(x) - y x,          g = exp(x) - y,     h = exp(x)
  // else:      l = x - y log(x + eps),    g = 1 - y/(x+eps),  h = y/(x+eps)^2
  // full adds Stirling's y log y - y + 0.5 log(2 pi y) where y > 1.
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    if (log_input) {
      const T ex = std::exp(x);
      // exp(x) - y x -> +inf as x -> inf for any finite y; where exp
      // overflows, say so instead of inf - inf = NaN.
      l = std::isinf(ex) ? ex : ex - y * x;
      g = ex - y;
      if (want_h) h = ex;
    } else {
      const T xe = x + eps;
      l = x - y * std::log(xe);
      g = T(1) - y / xe;
      if (want_h) h = y / (xe * xe);
    }
    if (full) {
      // Same operations as the SIMD functor: add 0 where y <= 1.
      const bool big = y > T(1);
      const T ys = big ? y : T(1);
      const T st = (ys * std::log(ys) - ys) +
                   T(0.5) * std::log(T(2) * std::numbers::pi_v<T> * ys);
      l = l + (big ? st : T(0));
    }
  }
  bool domain_bad(T x) const { return !log_input && x < T(0); }
};

}  // namespace losslab::detail::ref

#endif  // LOSSLAB_SRC_LOSSES_REGRESSION_INL_H_SCALAR_

// ---------------------------------------------------------------------------
// SIMD functors: compiled once per target.
#if defined(LOSSLAB_SRC_LOSSES_REGRESSION_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_REGRESSION_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_REGRESSION_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_REGRESSION_INL_H_TARGET_
#endif

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "src/losses/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// As ref::propagate_nan: NaN lanes of d make g and h NaN.
template <class V>
HWY_INLINE void PropagateNaN(V d, V& g, V& h, bool want_h) {
  const auto nan = hn::IsNaN(d);
  g = hn::IfThenElse(nan, d, g);
  if (want_h) h = hn::IfThenElse(nan, d, h);
}

// Highway's vector Exp and Log are specified on [-max, 104] (float; 706 for
// double) and (0, max]. Outside, they return garbage, not IEEE limits, so the
// edges are selected explicitly: exp overflows to +inf above log(max), and
// log(0) = -inf, log(inf) = inf.
template <class D, class V>
HWY_INLINE V ExpIeee(D d, V x) {
  using T = hn::TFromD<D>;
#if HWY_TARGET <= HWY_AVX3
  // Full float32 AVX-512 vectors: the table exp of ExpNonPos on x clamped to
  // 89, where it overflows to +inf. MINPS returns its second operand when
  // either is NaN, so Min(89, x) keeps x's NaN.
  if constexpr (std::is_same_v<V, hn::Vec512<float>>) {
    return math_detail::ExpNonPosAvx512(hn::Min(hn::Set(d, 89.0f), x));
  }
#endif
  const V max_log = hn::Set(d, T(std::log(std::numeric_limits<T>::max())));
  return hn::IfThenElse(hn::Gt(x, max_log),
                        hn::Set(d, std::numeric_limits<T>::infinity()),
                        ExpSafe(d, hn::Min(x, max_log)));
}
template <class D, class V>
HWY_INLINE V LogIeee(D d, V x) {
  using T = hn::TFromD<D>;
  const V inf = hn::Set(d, std::numeric_limits<T>::infinity());
  const V zero = hn::Zero(d);
  // Lanes outside (0, inf) get a harmless 1 before the polynomial.
  const auto ok = hn::And(hn::Gt(x, zero), hn::Lt(x, inf));
  const V lg = hn::Log(d, hn::IfThenElse(ok, x, hn::Set(d, 1)));
  return hn::IfThenElse(
      ok, lg,
      hn::IfThenElse(
          hn::Eq(x, zero), hn::Neg(inf),
          hn::IfThenElse(hn::Eq(x, inf), inf,
                         hn::Set(d, std::numeric_limits<T>::quiet_NaN()))));
}

// sign(d) with sign(0) = 0, as ref::sign0.
template <class D, class V>
HWY_INLINE V Sign0(D d, V v) {
  return hn::IfThenElseZero(hn::Ne(v, hn::Zero(d)),
                            hn::CopySign(hn::Set(d, 1), v));
}

template <class D>
struct MseV {
  static constexpr bool kHasDomain = false;
  using V = hn::Vec<D>;
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V dv = hn::Sub(x, y);
    l = hn::Mul(dv, dv);
    g = hn::Mul(hn::Set(d, 2), dv);
    if (want_h) h = hn::Set(d, 2);
    PropagateNaN(dv, g, h, want_h);
  }
};

template <class D>
struct L1V {
  static constexpr bool kHasDomain = false;
  using V = hn::Vec<D>;
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V dv = hn::Sub(x, y);
    l = hn::Abs(dv);
    g = Sign0(d, dv);
    if (want_h) h = hn::Zero(d);
    PropagateNaN(dv, g, h, want_h);
  }
};

template <class D>
struct HuberV {
  static constexpr bool kHasDomain = false;
  using V = hn::Vec<D>;
  V delta, neg_delta, half_delta;
  HuberV(D d, double dl)
      : delta(hn::Set(d, hn::TFromD<D>(dl))),
        neg_delta(hn::Neg(delta)),
        half_delta(hn::Set(d, hn::TFromD<D>(0.5 * dl))) {}
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V dv = hn::Sub(x, y);
    const V a = hn::Abs(dv);
    const auto in = hn::Lt(a, delta);
    l = hn::IfThenElse(in, hn::Mul(hn::Mul(hn::Set(d, 0.5), a), a),
                       hn::Mul(delta, hn::Sub(a, half_delta)));
    g = hn::Min(hn::Max(dv, neg_delta), delta);
    if (want_h) h = hn::IfThenElseZero(in, hn::Set(d, 1));
    PropagateNaN(dv, g, h, want_h);
  }
};

template <class D>
struct SmoothL1V {
  static constexpr bool kHasDomain = false;
  using V = hn::Vec<D>;
  V beta, half_beta, inv_beta;
  SmoothL1V(D d, double b)
      : beta(hn::Set(d, hn::TFromD<D>(b))),
        half_beta(hn::Set(d, hn::TFromD<D>(0.5 * b))),
        inv_beta(hn::Set(d, hn::TFromD<D>(1) / hn::TFromD<D>(b))) {}
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V dv = hn::Sub(x, y);
    const V a = hn::Abs(dv);
    const auto in = hn::Lt(a, beta);
    l = hn::IfThenElse(in,
                       hn::Div(hn::Mul(hn::Mul(hn::Set(d, 0.5), a), a), beta),
                       hn::Sub(a, half_beta));
    g = hn::IfThenElse(in, hn::Div(dv, beta), hn::CopySign(hn::Set(d, 1), dv));
    if (want_h) h = hn::IfThenElseZero(in, inv_beta);
    PropagateNaN(dv, g, h, want_h);
  }
};

template <class D>
struct QuantileV {
  static constexpr bool kHasDomain = false;
  using V = hn::Vec<D>;
  V tau, tau_m1, neg_tau, neg_tau_m1;
  QuantileV(D d, double t)
      : tau(hn::Set(d, hn::TFromD<D>(t))),
        tau_m1(hn::Set(d, hn::TFromD<D>(t) - hn::TFromD<D>(1))),
        neg_tau(hn::Neg(tau)),
        neg_tau_m1(hn::Neg(tau_m1)) {}
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V e = hn::Sub(y, x);
    const V zero = hn::Zero(d);
    l = hn::IfThenElse(hn::Ge(e, zero), hn::Mul(tau, e), hn::Mul(tau_m1, e));
    g = hn::IfThenElse(hn::Gt(e, zero), neg_tau,
                       hn::IfThenElseZero(hn::Lt(e, zero), neg_tau_m1));
    if (want_h) h = zero;
    PropagateNaN(e, g, h, want_h);
  }
};

// As ref::LogCosh: float32 by the polynomials (a < 1) and exp / log1p_unit
// (a >= 1, and the Hessian), each side computed only when some lane of the
// vector needs it; float64 by Highway's expm1 and log1p.
template <class D>
struct LogCoshV {
  static constexpr bool kHasDomain = false;
  using V = hn::Vec<D>;
  using T = hn::TFromD<D>;
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V one = hn::Set(d, 1);
    const V dv = hn::Sub(x, y);
    const V a = hn::Abs(dv);
    const auto small = hn::Lt(a, one);
    if constexpr (sizeof(T) == 4) {
      V ls = hn::Zero(d), ts = ls, ll = ls, tl = ls;
      if (!hn::AllFalse(d, small)) {
        const V sq = hn::Mul(a, a);
        V p = hn::Set(d, detail::ref::kLogCoshCoef[6]);
        for (int k = 5; k >= 0; --k) {
          p = hn::MulAdd(p, sq, hn::Set(d, detail::ref::kLogCoshCoef[k]));
        }
        V q = hn::Set(d, detail::ref::kTanhCoef[7]);
        for (int k = 6; k >= 0; --k) {
          q = hn::MulAdd(q, sq, hn::Set(d, detail::ref::kTanhCoef[k]));
        }
        ls = hn::Mul(sq, p);
        ts = hn::Mul(a, q);
      }
      if (want_h || !hn::AllTrue(d, small)) {
        const V e = ExpNonPos(d, hn::Mul(hn::Set(d, -2), a));
        const V inv = Reciprocal1To2(d, hn::Add(one, e));
        ll = hn::Add(hn::Sub(a, hn::Set(d, std::numbers::ln2_v<float>)),
                     Log1pUnit(d, e));
        tl = hn::Mul(hn::Sub(one, e), inv);
        if (want_h) h = hn::Mul(hn::Mul(hn::Set(d, 4), e), hn::Mul(inv, inv));
      }
      l = hn::IfThenElse(small, ls, ll);
      g = hn::CopySign(hn::IfThenElse(small, ts, tl), dv);
    } else {
      const V m2a = hn::Mul(hn::Set(d, -2), a);
      const V t = Expm1Safe(d, m2a);
      const V th = hn::Div(hn::Neg(t), hn::Add(hn::Set(d, 2), t));
      // The small branch evaluates Log1p on (-0.58, 0]. Highway documents
      // [0, max], but its log(1 + x) with the rounding correction is
      // accurate for x > -1; SimdTargetsMatchScalarTwin pins it against
      // std::log1p.
      const V lg = hn::Log1p(
          d, hn::IfThenElse(small, hn::Neg(hn::Mul(th, th)), hn::Add(one, t)));
      l = hn::IfThenElse(
          small, hn::Mul(hn::Set(d, -0.5), lg),
          hn::Add(hn::Sub(a, hn::Set(d, std::numbers::ln2_v<T>)), lg));
      g = hn::CopySign(th, dv);
      if (want_h) {
        const V e = ExpSafe(d, m2a);
        const V ope = hn::Add(one, e);
        h = hn::Div(hn::Mul(hn::Set(d, 4), e), hn::Mul(ope, ope));
      }
    }
    PropagateNaN(dv, g, h, want_h);
  }
};

template <class D>
struct PseudoHuberV {
  static constexpr bool kHasDomain = false;
  using V = hn::Vec<D>;
  V delta;
  PseudoHuberV(D d, double dl) : delta(hn::Set(d, hn::TFromD<D>(dl))) {}
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V one = hn::Set(d, 1);
    const V dv = hn::Sub(x, y);
    const V ad = hn::Abs(dv);
    const V a = hn::Div(ad, delta);
    const auto small = hn::Le(a, one);
    const V m = hn::IfThenElse(small, a, hn::Div(one, a));
    const V m2 = hn::Mul(m, m);
    const V q = hn::Add(one, m2);
    const V s = hn::Sqrt(q);
    l = hn::IfThenElse(small, hn::Div(hn::Mul(dv, dv), hn::Add(one, s)),
                       hn::Mul(delta, hn::Sub(hn::Mul(ad, s), delta)));
    g = hn::IfThenElse(small, hn::Div(dv, s),
                       hn::CopySign(hn::Div(delta, s), dv));
    if (want_h) {
      h = hn::Div(hn::IfThenElse(small, one, hn::Mul(m2, m)), hn::Mul(q, s));
    }
    PropagateNaN(dv, g, h, want_h);
  }
};

template <class D>
struct PoissonNllV {
  static constexpr bool kHasDomain = true;
  using V = hn::Vec<D>;
  using T = hn::TFromD<D>;
  bool log_input, full;
  V eps;
  PoissonNllV(D d, bool li, bool fu, double e)
      : log_input(li), full(fu), eps(hn::Set(d, T(e))) {}
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V one = hn::Set(d, 1);
    if (log_input) {
      // Exp of a NaN lane is not specified: select NaN explicitly.
      const auto nan = hn::IsNaN(x);
      const V ex = hn::IfThenElse(nan, x, ExpIeee(d, x));
      l = hn::IfThenElse(hn::IsInf(ex), ex, hn::Sub(ex, hn::Mul(y, x)));
      g = hn::Sub(ex, y);
      if (want_h) h = ex;
    } else {
      const V xe = hn::Add(x, eps);
      l = hn::Sub(x, hn::Mul(y, LogIeee(d, xe)));  // LogIeee keeps NaN
      g = hn::Sub(one, hn::Div(y, xe));
      if (want_h) h = hn::Div(y, hn::Mul(xe, xe));
    }
    if (full) {
      const auto big = hn::Gt(y, one);
      // log() of y <= 1 lanes is discarded; feed 1 so no NaN is computed.
      const V ys = hn::IfThenElse(big, y, one);
      const V st = hn::Add(
          hn::Sub(hn::Mul(ys, hn::Log(d, ys)), ys),
          hn::Mul(hn::Set(d, 0.5),
                  hn::Log(d, hn::Mul(hn::Set(d, T(2) * std::numbers::pi_v<T>),
                                     ys))));
      l = hn::Add(l, hn::IfThenElseZero(big, st));
    }
  }
  HWY_INLINE hn::Mask<D> DomainBad(D d, V x) const {
    if (log_input) return hn::FirstN(d, 0);
    return hn::Lt(x, hn::Zero(d));
  }
};

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
