// Binary classification loss kernels (elementwise): each SIMD functor sits
// beside its scalar twin. Both compute the per-element loss l, g = dl/dinput
// and, when asked, h = d2l/dinput2; the drivers in elementwise-inl.h apply
// weights, the reduction scale and the upstream gradient. Formulas, sources
// and the choices where libraries differ: docs/losses_classification.md.
//
// The twins perform the same IEEE operations in the same order as the SIMD
// functors (-ffp-contract=off); they differ only through exp/log, which are
// polynomials in hwy/contrib/math and std:: calls here (a few ULP).

// ---------------------------------------------------------------------------
// Scalar twins: compiled once.
#ifndef LOSSLAB_SRC_LOSSES_CLASSIFICATION_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_CLASSIFICATION_INL_H_SCALAR_

#include <algorithm>
#include <cmath>

#include "src/losses/elementwise.h"

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
    l = (std::max(x, T(0)) - x * y) + std::log1p(e);
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
    const T lp = std::log1p(e);
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

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// As ref::sigmoid_pair.
template <class D, class V>
HWY_INLINE void SigmoidPair(D d, V x, V e, V& s, V& sn) {
  const V inv = hn::Div(hn::Set(d, 1), hn::Add(hn::Set(d, 1), e));
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
    const V e = hn::Exp(d, hn::Neg(hn::Abs(x)));
    V s, sn;
    SigmoidPair(d, x, e, s, sn);
    l = hn::Add(hn::Sub(hn::Max(x, hn::Zero(d)), hn::Mul(x, y)),
                hn::Log1p(d, e));
    g = hn::Sub(s, y);
    if (want_h) h = hn::Mul(s, sn);
  }
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
    const V e = hn::Exp(d, hn::Neg(hn::Abs(x)));
    V s, sn;
    SigmoidPair(d, x, e, s, sn);
    const V lp = hn::Log1p(d, e);
    const V sp_pos = hn::Add(hn::Max(x, zero), lp);
    const V sp_neg = hn::Add(hn::Max(hn::Neg(x), zero), lp);
    const V omy = hn::Sub(hn::Set(d, 1), y);
    const V py = hn::Mul(p, y);
    l = hn::Add(hn::Mul(omy, sp_pos), hn::Mul(py, sp_neg));
    g = hn::Sub(hn::Mul(omy, s), hn::Mul(py, sn));
    if (want_h) h = hn::Mul(hn::Add(omy, py), hn::Mul(s, sn));
  }
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
  HWY_INLINE hn::Mask<D> TargetBad(D d, V y) const { return OutsideUnit(d, y); }
};

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
