// Binary classification loss kernels (elementwise): each SIMD functor sits
// beside its scalar twin. Both compute the per-element loss l, g = dl/dinput
// and, when asked, h = d2l/dinput2; the drivers in elementwise-inl.h apply
// weights, the reduction scale and the upstream gradient. Formulas, sources
// and the choices where libraries differ: docs/losses_classification.md.
//
// The twins perform the same IEEE operations in the same order as the SIMD
// functors (-ffp-contract=off); they differ only through exp/log, which are
// polynomials in hwy/contrib/math and std:: calls here (a few ULP).
// log1p(exp(-|x|)) (BCE with logits, pos_weight, sigmoid focal) is the one
// float32 polynomial of math-inl.h (log1p_unit / Log1pUnit) on both sides.

// ---------------------------------------------------------------------------
// Scalar twins: compiled once.
#ifndef LOSSLAB_SRC_LOSSES_CLASSIFICATION_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_CLASSIFICATION_INL_H_SCALAR_

#include <algorithm>
#include <cmath>
#include <limits>

#include "src/losses/elementwise.h"
#include "src/losses/math-inl.h"        // log1p_unit
#include "src/losses/regression-inl.h"  // ref::propagate_nan

namespace losslab::detail::ref {

// With e = exp(-|x|):  sigma(x) = 1/(1+e) for x >= 0, e/(1+e) for x < 0, and
// sigma(-x) the other one. Neither form overflows, and at x = 0 both give
// exactly 1/2 (e = 1), so the gradient there is exactly 0.5 - y.
template <class T>
inline void sigmoid_pair(T x, T e, T& s, T& sn) {
  const T inv = T(1) / (T(1) + e);
  const T ev = e * inv;
  s = x >= T(0) ? inv : ev;
  sn = x >= T(0) ? ev : inv;
}

// binary_cross_entropy_with_logits, no pos_weight (PyTorch's stable form):
//   l = max(x, 0) - x y + log1p(exp(-|x|))
//   g = sigma(x) - y
//   h = sigma(x) sigma(-x) = e / (1 + e)^2
template <class T>
struct BceLogits {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T e = std::exp(-std::abs(x));
    T s, sn;
    sigmoid_pair(x, e, s, sn);
    l = (std::max(x, T(0)) - x * y) + log1p_unit(e);
    g = s - y;
    if (want_h) h = s * sn;
  }
  // Soft targets are allowed, but only in [0, 1] (NaN is reported apart).
  bool target_bad(T y) const { return y < T(0) || y > T(1); }
};

// ... with pos_weight p (per class of the last dimension, through aux).
// PyTorch: l = (1 - y) x + (1 + (p - 1) y) softplus(-x). Using
// softplus(x) = x + softplus(-x) this is
//   l = (1 - y) softplus(x) + p y softplus(-x)
// whose two terms are >= 0 for y in [0, 1]: no cancellation of large terms
// (PyTorch's form loses every digit for x << 0, y = 0 in float32).
//   g = (1 - y) sigma(x) - p y sigma(-x)
//   h = ((1 - y) + p y) sigma(x) sigma(-x)
// p = 1 gives the plain loss.
template <class T>
struct BceLogitsPosW {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  static constexpr bool kHasAux = true;
  void operator()(T x, T y, T p, T& l, T& g, T& h, bool want_h) const {
    const T e = std::exp(-std::abs(x));
    T s, sn;
    sigmoid_pair(x, e, s, sn);
    const T lp = log1p_unit(e);
    const T sp_pos = std::max(x, T(0)) + lp;   // softplus(x)
    const T sp_neg = std::max(-x, T(0)) + lp;  // softplus(-x)
    const T omy = T(1) - y;
    const T py = p * y;
    l = omy * sp_pos + py * sp_neg;
    g = omy * s - py * sn;
    if (want_h) h = (omy + py) * (s * sn);
  }
  bool target_bad(T y) const { return y < T(0) || y > T(1); }
};

// binary_cross_entropy on probabilities, PyTorch semantics:
//   l = -(y max(log x, -100) + (1 - y) max(log(1 - x), -100))
//   g = (x - y) / max(x (1 - x), 1e-12)           (PyTorch's backward)
//   h = (x^2 - 2 x y + y) / max(x (1 - x), 1e-12)^2
// (h is the derivative of the unclamped g, with the same clamp.) The clamp
// is PyTorch's `constexpr float EPSILON = 1e-12`, i.e. float(1e-12) =
// 9.99999996e-13 in both dtypes, so g(0, 1) = -1.000000004e12 as in PyTorch.
template <class T>
struct Bce {
  static constexpr bool kHasDomain = true;
  static constexpr bool kHasTargetDomain = true;
  static T clamped_log(T v) {
    return v > T(0) ? std::max(std::log(v), T(-100)) : T(-100);
  }
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T omx = T(1) - x;
    l = -(y * clamped_log(x) + (T(1) - y) * clamped_log(omx));
    const T den = std::max(omx * x, T(1e-12f));
    g = (x - y) / den;
    if (want_h) h = ((x * x - T(2) * x * y) + y) / (den * den);
  }
  bool domain_bad(T x) const { return !(x >= T(0) && x <= T(1)); }
  bool target_bad(T y) const { return y < T(0) || y > T(1); }
};

// hinge_loss with labels y in {-1, 1}; a 0 label is read as -1 (0 is not a
// valid {-1, 1} label, so {0, 1} data maps unambiguously). With s = +-1:
//   t = margin - s x,  l = max(0, t),  g = -s [t > 0],  h = 0
// At the kink t = 0 the subgradient is 0 (the strict inequality; what
// autograd gives for torch.relu(margin - s x)). A NaN input gives NaN l, g, h.
template <class T>
struct Hinge {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  T margin;
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T s = y > T(0) ? T(1) : T(-1);
    const T t = margin - s * x;
    l = t <= T(0) ? T(0) : t;
    g = t > T(0) ? -s : T(0);
    if (want_h) h = T(0);
    propagate_nan(t, g, h, want_h);
  }
  bool target_bad(T y) const { return !(y == T(1) || y == T(-1) || y == T(0)); }
};

// squared_hinge_loss: a = max(0, t),  l = a^2,  g = -2 s a,
// h = 2 [t > 0] (0 at the kink t = 0, where g is continuous and h jumps).
template <class T>
struct SquaredHinge {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  T margin;
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T s = y > T(0) ? T(1) : T(-1);
    const T t = margin - s * x;
    const T a = t <= T(0) ? T(0) : t;
    l = a * a;
    g = (T(-2) * s) * a;
    if (want_h) h = t > T(0) ? T(2) : T(0);
    propagate_nan(t, g, h, want_h);
  }
  bool target_bad(T y) const { return !(y == T(1) || y == T(-1) || y == T(0)); }
};

// kl_div on log-probabilities x with a probability target y >= 0, PyTorch's
// pointwise form xlogy(y, y) - y x:
//   l = y log y - y x,  g = -y,  h = 0,   and l = g = 0 where y = 0
// (0 log 0 = 0; also for x = -inf, where PyTorch gives 0 * inf = NaN).
template <class T>
struct KlDiv {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const bool pos = y > T(0);
    const T ly = std::log(pos ? y : T(1));
    l = pos ? y * ly - y * x : T(0);
    g = pos ? -y : T(0);
    if (want_h) h = T(0);
    if (std::isnan(x)) {
      l = x;
      g = x;
      if (want_h) h = x;
    }
  }
  bool target_bad(T y) const { return y < T(0); }
};

// kl_div(log_target=True): y = log p (-inf allowed: p = 0), e = exp(y):
//   l = e (y - x),  g = -e,  h = 0,   and l = 0 where e = 0 or y = x
// (so p = 0 gives 0 for any x, and exp overflow with y = x gives no NaN).
template <class T>
struct KlDivLogTarget {
  static constexpr bool kHasDomain = false;
  static constexpr bool kTargetNegInfOk = true;
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T e = std::exp(y);
    const T dd = y - x;
    l = (e == T(0) || dd == T(0)) ? T(0) : e * dd;
    g = -e;
    if (want_h) h = T(0);
    if (std::isnan(x)) {
      l = x;
      g = x;
      if (want_h) h = x;
    }
  }
};

// kl_divergence term for probabilities: input q >= 0, target p >= 0,
//   l = p (log p - log q),  g = dl/dq = -p / q,  h = p / q^2,
// with l = g = h = 0 where p = 0 (0 log 0 = 0), and q = 0 < p giving
// l = +inf, g = -inf (the divergence is infinite, never NaN).
template <class T>
struct KlProb {
  static constexpr bool kHasDomain = true;
  static constexpr bool kHasTargetDomain = true;
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const bool pos = y > T(0);
    const T ly = std::log(pos ? y : T(1));
    const T lq = std::log(x);
    const T r = y / x;
    l = pos ? y * (ly - lq) : T(0);
    g = pos ? -r : T(0);
    if (want_h) h = pos ? r / x : T(0);
    if (std::isnan(x)) {
      l = x;
      g = x;
      if (want_h) h = x;
    }
  }
  bool domain_bad(T x) const { return x < T(0); }
  bool target_bad(T y) const { return y < T(0); }
};

// sigmoid_focal_loss: gamma as a small integer power (1..8), or 0 when
// gamma is not one (then the log-space form is used).
inline int focal_integer_gamma(double gamma) {
  if (gamma >= 1.0 && gamma <= 8.0 && gamma == double(int(gamma))) {
    return int(gamma);
  }
  return 0;
}

// sigmoid_focal_loss (torchvision): with p = sigma(x), target y in [0, 1],
//   ce = BCE-with-logits(x, y) (the BceLogits form above)
//   m  = 1 - p_t = p (1 - y) + (1 - p) y,   l = a_t ce m^gamma
//   a_t = alpha y + (1 - alpha)(1 - y)  (1 when alpha < 0: alpha=None)
//   g  = a_t [ (p - y) m^gamma + gamma ce m^gamma r (1 - 2 y) ],
//        r = p (1 - p) / m  (dm/dx = p (1 - p)(1 - 2y); 0 <= r <= 1)
// m^gamma and r are formed in log space from log-sigmoids, which stay
// finite for every finite x:
//   log m = logaddexp(-softplus(-x) + log(1 - y), -softplus(x) + log y)
//   m^gamma = exp(gamma log m),  r = exp(-softplus(x) - softplus(-x) - log m)
// so saturated logits (+-1e4) give 0 * finite, never 0^0 or inf * 0.
// gamma = 0 skips the focal factor: l and g are then bit for bit
// binary_cross_entropy_with_logits (times a_t).
// Integer gamma (1..8; 2 is torchvision's default) takes a faster path with
// the same values: m directly as p (1 - y) + (1 - p) y from the sigmoid pair
// (a sum of non-negative terms: no cancellation, relative error a few ulps),
// m^gamma by multiplication and gamma ce m^gamma r = gamma ce m^(gamma-1)
// p (1 - p): no division by m, and every factor is finite for finite x, so
// saturated logits still give 0 * finite. It saves four exp/log per element
// (sigmoid_focal_loss ran at 5% of a triad with the log-space form, see
// docs/performance.md).
// Hard labels (y in {0, 1}) with integer gamma take a third form, in
// t = (2y - 1) x (see operator() below): half the multiplies again, and no
// cancellation in the gradient where 1 - p_t is tiny.
template <class T>
struct SigmoidFocal {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  T alpha;  // < 0: no alpha weighting
  T gamma;
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T e = std::exp(-std::abs(x));
    const T inv = T(1) / (T(1) + e);  // sigma(|x|)
    const T ev = e * inv;             // sigma(-|x|)
    const T lp = log1p_unit(e);
    const int n = focal_integer_gamma(double(gamma));
    if (want_h) h = T(0);
    if (n > 0 && (y == T(0) || y == T(1))) {
      // Hard labels with integer gamma (the common case). With
      // t = (2y - 1) x, p_t = sigma(t) and q = 1 - p_t = sigma(-t):
      //   ce = softplus(-t) = max(-t, 0) + log1p(exp(-|x|)),
      //   l  = a_t q^n ce,
      //   dl/dt = -a_t q^n (q + n p_t ce)   (dq/dt = -p_t q),
      //   g  = (2y - 1) dl/dt.
      // q and p_t are the sigmoid pair itself (exact selections, no 1 - p),
      // so g keeps full relative accuracy where q is tiny; the soft-label
      // form's s - y would cancel at y = 1 and large x. Same values as the
      // form below up to rounding, in about half the multiplies (the SIMD
      // functor takes this path for vectors whose labels are all 0 or 1).
      const bool y1 = y == T(1);
      const bool u = (x >= T(0)) != y1;  // t < 0
      const T q = u ? inv : ev;
      const T p = u ? ev : inv;
      const T ce = (u ? std::abs(x) : T(0)) + lp;
      T w = q;
      for (int k = 1; k < n; ++k) w = w * q;
      if (alpha >= T(0)) w = w * (y1 ? alpha : T(1) - alpha);
      l = w * ce;
      const T gm = w * std::fma(p * ce, T(n), q);
      g = y1 ? -gm : gm;
    } else {
      const T s = x >= T(0) ? inv : ev;
      const T sn = x >= T(0) ? ev : inv;
      const T ce = (std::max(x, T(0)) - x * y) + lp;
      l = ce;
      // With a focal factor, s - y as s (1 - y) - sn y: at y = 1 it is -sn
      // exactly, where s - 1 would keep only the absolute error of s (a
      // relative error of 2^-25 / sn, 7e-4 at x = 10) and the factor m^gamma
      // makes the gradient that small. gamma = 0 keeps s - y: BCE bit for
      // bit.
      g = gamma != T(0) ? std::fma(s, T(1) - y, -(sn * y)) : s - y;
      if (n > 0) {
        // Integer gamma with soft labels: with m = 1 - p_t =
        // s (1 - y) + (1 - s) y (a sum of non-negative terms, so no
        // cancellation) and dm/dx = s (1 - s) (1 - 2 y):
        //   l = ce m^n,  dl/dx = (s - y) m^n + n ce m^(n-1) s (1 - s) (1 - 2y).
        // Same value as the log-space form below, with no exp/log beyond
        // ce's. Fused as the SIMD functor: m = fma(s, 1 - y, sn y), the
        // factor gamma (1 - 2y) = fma(y, -2 gamma, gamma), one fma for g.
        const T m = std::fma(s, T(1) - y, sn * y);
        T pw = n > 1 ? m : T(1);
        for (int k = 2; k < n; ++k) pw = pw * m;
        const T mg = n > 1 ? pw * m : m;
        l = ce * mg;
        const T kg = std::fma(y, T(-2) * gamma, gamma);
        g = std::fma(g, mg, ((ce * (s * sn)) * kg) * pw);
      } else if (gamma != T(0)) {
        const T sp_pos = std::max(x, T(0)) + lp;   // -log sigma(-x)
        const T sp_neg = std::max(-x, T(0)) + lp;  // -log sigma(x)
        const T a = std::log(T(1) - y) - sp_neg;
        const T b = std::log(y) - sp_pos;
        const T hi = std::max(a, b), lo = std::min(a, b);
        const T logm = hi + log1p_unit(std::exp(lo - hi));
        const T mg = std::exp(gamma * logm);
        const T r = std::exp((-sp_neg - sp_pos) - logm);
        l = ce * mg;
        g = g * mg + ((ce * (r * (T(1) - T(2) * y))) * mg) * gamma;
      }
      if (alpha >= T(0)) {
        // alpha y + (1 - alpha)(1 - y) = (1 - alpha) + (2 alpha - 1) y.
        const T at = std::fma(y, T(2) * alpha - T(1), T(1) - alpha);
        l = l * at;
        g = g * at;
      }
    }
    if (std::isnan(x)) {
      l = x;
      g = x;
      if (want_h) h = x;
    }
  }
  bool target_bad(T y) const { return y < T(0) || y > T(1); }
};

}  // namespace losslab::detail::ref

#endif  // LOSSLAB_SRC_LOSSES_CLASSIFICATION_INL_H_SCALAR_

// ---------------------------------------------------------------------------
// SIMD functors: compiled once per target.
#if defined(LOSSLAB_SRC_LOSSES_CLASSIFICATION_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_CLASSIFICATION_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_CLASSIFICATION_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_CLASSIFICATION_INL_H_TARGET_
#endif

#include <type_traits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "src/losses/math-inl.h"
#include "src/losses/regression-inl.h"  // PropagateNaN, ExpIeee, LogIeee

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// As ref::sigmoid_pair.
template <class D, class V>
HWY_INLINE void SigmoidPair(D d, V x, V e, V& s, V& sn) {
  const V inv = Reciprocal1To2(d, hn::Add(hn::Set(d, 1), e));
  const V ev = hn::Mul(e, inv);
  const auto pos = hn::Ge(x, hn::Zero(d));
  s = hn::IfThenElse(pos, inv, ev);
  sn = hn::IfThenElse(pos, ev, inv);
}

template <class D, class V>
HWY_INLINE hn::Mask<D> OutsideUnit(D d, V y) {
  return hn::Or(hn::Lt(y, hn::Zero(d)), hn::Gt(y, hn::Set(d, 1)));
}

template <class D>
struct BceLogitsV {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  using V = hn::Vec<D>;
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V e = ExpNonPos(d, NegAbs(d, x));
    V s, sn;
    SigmoidPair(d, x, e, s, sn);
    l = hn::Add(hn::Sub(hn::Max(x, hn::Zero(d)), hn::Mul(x, y)),
                Log1pUnit(d, e));
    g = hn::Sub(s, y);
    if (want_h) h = hn::Mul(s, sn);
  }
  static constexpr bool kTargetUnitInterval = true;  // TargetBad below
  HWY_INLINE hn::Mask<D> TargetBad(D d, V y) const { return OutsideUnit(d, y); }
};

template <class D>
struct BceLogitsPosWV {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  static constexpr bool kHasAux = true;
  using V = hn::Vec<D>;
  HWY_INLINE void operator()(D d, V x, V y, V p, V& l, V& g, V& h,
                             bool want_h) const {
    const V zero = hn::Zero(d);
    const V e = ExpNonPos(d, NegAbs(d, x));
    V s, sn;
    SigmoidPair(d, x, e, s, sn);
    const V lp = Log1pUnit(d, e);
    const V sp_pos = hn::Add(hn::Max(x, zero), lp);
    const V sp_neg = hn::Add(hn::Max(hn::Neg(x), zero), lp);
    const V omy = hn::Sub(hn::Set(d, 1), y);
    const V py = hn::Mul(p, y);
    l = hn::Add(hn::Mul(omy, sp_pos), hn::Mul(py, sp_neg));
    g = hn::Sub(hn::Mul(omy, s), hn::Mul(py, sn));
    if (want_h) h = hn::Mul(hn::Add(omy, py), hn::Mul(s, sn));
  }
  static constexpr bool kTargetUnitInterval = true;  // TargetBad below
  HWY_INLINE hn::Mask<D> TargetBad(D d, V y) const { return OutsideUnit(d, y); }
};

template <class D>
struct BceV {
  static constexpr bool kHasDomain = true;
  static constexpr bool kHasTargetDomain = true;
  using V = hn::Vec<D>;
  using T = hn::TFromD<D>;
  // max(log v, -100), and -100 for v <= 0 (Log's domain is v > 0).
  static HWY_INLINE V ClampedLog(D d, V v) {
    const V lo = hn::Set(d, T(-100));
    const V vs = hn::IfThenElse(hn::Gt(v, hn::Zero(d)), v, hn::Set(d, 1));
    return hn::IfThenElse(hn::Gt(v, hn::Zero(d)), hn::Max(hn::Log(d, vs), lo),
                          lo);
  }
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V one = hn::Set(d, 1);
    const V omx = hn::Sub(one, x);
    l = hn::Neg(hn::Add(hn::Mul(y, ClampedLog(d, x)),
                        hn::Mul(hn::Sub(one, y), ClampedLog(d, omx))));
    const V den = hn::Max(hn::Mul(omx, x), hn::Set(d, T(1e-12f)));
    g = hn::Div(hn::Sub(x, y), den);
    if (want_h) {
      const V num = hn::Add(
          hn::Sub(hn::Mul(x, x), hn::Mul(hn::Mul(hn::Set(d, 2), x), y)), y);
      h = hn::Div(num, hn::Mul(den, den));
    }
  }
  HWY_INLINE hn::Mask<D> DomainBad(D d, V x) const {
    // Not (0 <= x <= 1): also catches NaN.
    return hn::Not(hn::And(hn::Ge(x, hn::Zero(d)), hn::Le(x, hn::Set(d, 1))));
  }
  static constexpr bool kTargetUnitInterval = true;  // TargetBad below
  HWY_INLINE hn::Mask<D> TargetBad(D d, V y) const { return OutsideUnit(d, y); }
};

// As ref::Hinge.
template <class D>
struct HingeV {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  using V = hn::Vec<D>;
  using T = hn::TFromD<D>;
  V margin;
  HingeV(D d, double m) : margin(hn::Set(d, T(m))) {}
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V zero = hn::Zero(d), one = hn::Set(d, 1);
    const V s = hn::IfThenElse(hn::Gt(y, zero), one, hn::Neg(one));
    const V t = hn::Sub(margin, hn::Mul(s, x));
    l = hn::IfThenElse(hn::Le(t, zero), zero, t);
    g = hn::IfThenElseZero(hn::Gt(t, zero), hn::Neg(s));
    if (want_h) h = zero;
    PropagateNaN(t, g, h, want_h);
  }
  HWY_INLINE hn::Mask<D> TargetBad(D d, V y) const { return NotLabel(d, y); }
  static HWY_INLINE hn::Mask<D> NotLabel(D d, V y) {
    const V one = hn::Set(d, 1);
    return hn::Not(hn::Or(hn::Or(hn::Eq(y, one), hn::Eq(y, hn::Neg(one))),
                          hn::Eq(y, hn::Zero(d))));
  }
};

// As ref::SquaredHinge.
template <class D>
struct SquaredHingeV {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  using V = hn::Vec<D>;
  using T = hn::TFromD<D>;
  V margin;
  SquaredHingeV(D d, double m) : margin(hn::Set(d, T(m))) {}
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V zero = hn::Zero(d), one = hn::Set(d, 1);
    const V s = hn::IfThenElse(hn::Gt(y, zero), one, hn::Neg(one));
    const V t = hn::Sub(margin, hn::Mul(s, x));
    const V a = hn::IfThenElse(hn::Le(t, zero), zero, t);
    l = hn::Mul(a, a);
    g = hn::Mul(hn::Mul(hn::Set(d, -2), s), a);
    if (want_h) h = hn::IfThenElseZero(hn::Gt(t, zero), hn::Set(d, 2));
    PropagateNaN(t, g, h, want_h);
  }
  HWY_INLINE hn::Mask<D> TargetBad(D d, V y) const {
    return HingeV<D>::NotLabel(d, y);
  }
};

// Lanes where x is NaN get x in l, g and h.
template <class V>
HWY_INLINE void PropagateNaNInput(V x, V& l, V& g, V& h, bool want_h) {
  const auto nan = hn::IsNaN(x);
  l = hn::IfThenElse(nan, x, l);
  g = hn::IfThenElse(nan, x, g);
  if (want_h) h = hn::IfThenElse(nan, x, h);
}

// As ref::KlDiv.
template <class D>
struct KlDivV {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  using V = hn::Vec<D>;
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V zero = hn::Zero(d);
    const auto pos = hn::Gt(y, zero);
    const V ly = hn::Log(d, hn::IfThenElse(pos, y, hn::Set(d, 1)));
    l = hn::IfThenElseZero(pos, hn::Sub(hn::Mul(y, ly), hn::Mul(y, x)));
    g = hn::IfThenElseZero(pos, hn::Neg(y));
    if (want_h) h = zero;
    PropagateNaNInput(x, l, g, h, want_h);
  }
  HWY_INLINE hn::Mask<D> TargetBad(D d, V y) const {
    return hn::Lt(y, hn::Zero(d));
  }
};

// As ref::KlDivLogTarget. exp(-inf) is outside the vector Exp's range: the
// argument is clamped at the lowest finite value (exp of it is 0).
template <class D>
struct KlDivLogTargetV {
  static constexpr bool kHasDomain = false;
  static constexpr bool kTargetNegInfOk = true;
  using V = hn::Vec<D>;
  using T = hn::TFromD<D>;
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V zero = hn::Zero(d);
    const V e = ExpIeee(d, hn::Max(y, hn::Set(d, hwy::LowestValue<T>())));
    const V dd = hn::Sub(y, x);
    l = hn::IfThenElse(hn::Or(hn::Eq(e, zero), hn::Eq(dd, zero)), zero,
                       hn::Mul(e, dd));
    g = hn::Neg(e);
    if (want_h) h = zero;
    PropagateNaNInput(x, l, g, h, want_h);
  }
};

// As ref::KlProb.
template <class D>
struct KlProbV {
  static constexpr bool kHasDomain = true;
  static constexpr bool kHasTargetDomain = true;
  using V = hn::Vec<D>;
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const auto pos = hn::Gt(y, hn::Zero(d));
    const V ly = hn::Log(d, hn::IfThenElse(pos, y, hn::Set(d, 1)));
    const V lq = LogIeee(d, x);
    const V r = hn::Div(y, x);
    l = hn::IfThenElseZero(pos, hn::Mul(y, hn::Sub(ly, lq)));
    g = hn::IfThenElseZero(pos, hn::Neg(r));
    if (want_h) h = hn::IfThenElseZero(pos, hn::Div(r, x));
    PropagateNaNInput(x, l, g, h, want_h);
  }
  HWY_INLINE hn::Mask<D> DomainBad(D d, V x) const {
    return hn::Lt(x, hn::Zero(d));
  }
  HWY_INLINE hn::Mask<D> TargetBad(D d, V y) const {
    return hn::Lt(y, hn::Zero(d));
  }
};

// As ref::SigmoidFocal.
template <class D>
struct SigmoidFocalV {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasTargetDomain = true;
  using V = hn::Vec<D>;
  using T = hn::TFromD<D>;
  T alpha, gamma;
  int n;  // integer gamma (1..8) or 0; see ref::SigmoidFocal
  // The affine maps of y below, as vectors built once: the per-vector code
  // would otherwise rebuild them (scalar math and broadcasts) every vector.
  V kg1, kg0;  // gamma (1 - 2y) = kg1 y + kg0
  V at1, at0;  // a_t = at1 y + at0 (at0 is also a_t at y = 0)
  V va1;       // a_t at y = 1
  V vn;        // n, the integer gamma
  SigmoidFocalV(double a, double gm)
      : alpha(T(a)),
        gamma(T(gm)),
        n(detail::ref::focal_integer_gamma(gm)),
        kg1(hn::Set(D(), T(-2) * T(gm))),
        kg0(hn::Set(D(), T(gm))),
        at1(hn::Set(D(), T(2) * T(a) - T(1))),
        at0(hn::Set(D(), T(1) - T(a))),
        va1(hn::Set(D(), T(a))),
        vn(hn::Set(D(), T(n))) {}
  HWY_INLINE void operator()(D d, V x, V y, V& l, V& g, V& h,
                             bool want_h) const {
    const V zero = hn::Zero(d), one = hn::Set(d, 1);
    const V e = ExpNonPos(d, NegAbs(d, x));
    const V inv = Reciprocal1To2(d, hn::Add(one, e));  // sigma(|x|)
    const V ev = hn::Mul(e, inv);                      // sigma(-|x|)
    const auto pos = hn::Ge(x, zero);
    const V lp = Log1pUnit(d, e);
    if (want_h) h = zero;
    if (n > 0) {
      const auto y1 = hn::Eq(y, one);
      if (hn::AllTrue(d, hn::Or(y1, hn::Eq(y, zero)))) {
        // Hard labels, the common case: ref::SigmoidFocal's form in t.
        const auto u = hn::Xor(pos, y1);  // t = (2y - 1) x < 0
        const V q = hn::IfThenElse(u, inv, ev);
        const V p = hn::IfThenElse(u, ev, inv);
        const V ce = hn::Add(hn::IfThenElseZero(u, hn::Abs(x)), lp);
        V w = q;
        for (int k = 1; k < n; ++k) w = hn::Mul(w, q);
        if (alpha >= T(0)) w = hn::Mul(w, hn::IfThenElse(y1, va1, at0));
        l = hn::Mul(w, ce);
        const V gm = hn::Mul(w, hn::MulAdd(hn::Mul(p, ce), vn, q));
        g = hn::IfThenElse(y1, hn::Neg(gm), gm);
        // A NaN logit reaches l and g through every step above (exp, the
        // reciprocal and the polynomial keep it), so only h needs the
        // selects; skipping them made this path 10% faster in cache.
        if (want_h) PropagateNaNInput(x, l, g, h, want_h);
        return;
      }
    }
    const V s = hn::IfThenElse(pos, inv, ev);
    const V sn = hn::IfThenElse(pos, ev, inv);
    const V ce = hn::Add(hn::Sub(hn::Max(x, zero), hn::Mul(x, y)), lp);
    l = ce;
    // s - y; as s (1 - y) - sn y when gamma != 0: exact -sn at y = 1 (see
    // ref), where the focal factor leaves nothing but p's rounding error.
    g = gamma != T(0) ? hn::MulSub(s, hn::Sub(one, y), hn::Mul(sn, y))
                      : hn::Sub(s, y);
    if (n > 0) {
      // Integer gamma: m = s (1 - y) + sn y; see ref::SigmoidFocal.
      const V m = hn::MulAdd(s, hn::Sub(one, y), hn::Mul(sn, y));
      V pw = n > 1 ? m : one;
      for (int k = 2; k < n; ++k) pw = hn::Mul(pw, m);
      const V mg = n > 1 ? hn::Mul(pw, m) : m;
      l = hn::Mul(ce, mg);
      const V kg = hn::MulAdd(y, kg1, kg0);
      g = hn::MulAdd(g, mg,
                     hn::Mul(hn::Mul(hn::Mul(ce, hn::Mul(s, sn)), kg), pw));
    } else if (gamma != T(0)) {
      const V lowest = hn::Set(d, hwy::LowestValue<T>());
      const V sp_pos = hn::Add(hn::Max(x, zero), lp);
      const V sp_neg = hn::Add(hn::Max(hn::Neg(x), zero), lp);
      const V a = hn::Sub(LogIeee(d, hn::Sub(one, y)), sp_neg);
      const V b = hn::Sub(LogIeee(d, y), sp_pos);
      const V hi = hn::Max(a, b), lo = hn::Min(a, b);
      const V logm = hn::Add(
          hi, Log1pUnit(d, ExpNonPos(d, hn::Max(hn::Sub(lo, hi), lowest))));
      const V vg = hn::Set(d, gamma);
      const V mg = ExpSafe(d, hn::Max(hn::Mul(vg, logm), lowest));
      const V r = ExpSafe(
          d, hn::Max(hn::Sub(hn::Sub(hn::Neg(sp_neg), sp_pos), logm), lowest));
      l = hn::Mul(ce, mg);
      const V k = hn::Sub(one, hn::Mul(hn::Set(d, 2), y));
      g = hn::Add(hn::Mul(g, mg),
                  hn::Mul(hn::Mul(hn::Mul(ce, hn::Mul(r, k)), mg), vg));
    }
    if (alpha >= T(0)) {
      const V at = hn::MulAdd(y, at1, at0);
      l = hn::Mul(l, at);
      g = hn::Mul(g, at);
    }
    PropagateNaNInput(x, l, g, h, want_h);
  }
  static constexpr bool kTargetUnitInterval = true;  // TargetBad below
  HWY_INLINE hn::Mask<D> TargetBad(D d, V y) const { return OutsideUnit(d, y); }
};

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
