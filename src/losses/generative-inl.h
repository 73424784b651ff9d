// Generative loss functors: each SIMD functor beside its scalar twin, in the
// interface of the elementwise block driver (l, g = dl/dx, h). Formulas and
// sources: include/losslab/losses/generative.h, docs/losses_generative.md.
// The twins perform the same IEEE operations in the same order; the exp/log
// paths differ from std:: by a few ULP (Highway's polynomials), the others
// are bitwise equal on every target.

// ---------------------------------------------------------------------------
#ifndef LOSSLAB_SRC_LOSSES_GENERATIVE_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_GENERATIVE_INL_H_SCALAR_

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "src/losses/generative.h"

namespace losslab::detail::ref {

// l = m softplus(z), z = s x, softplus(z) = max(z, 0) + log1p(exp(-|z|))
// (no overflow for any finite z); g = m s sigmoid(z) with sigmoid from the
// same e = exp(-|z|): 1/(1+e) for z >= 0, e/(1+e) otherwise.
template <class T>
struct GenSoftplus {
  static constexpr bool kHasDomain = false;
  T s, m;
  void operator()(T x, T, T& l, T& g, T& h, bool) const {
    const T z = s * x;
    const T e = std::exp(-std::abs(z));
    l = m * (std::max(z, T(0)) + std::log1p(e));
    const T r = T(1) / (T(1) + e);
    g = (m * s) * (z >= T(0) ? r : e * r);
    h = T(0);
  }
};

// l = m max(u, 0), u = 1 + s x; g = m s for u > 0, else 0 (relu'(0) = 0, as
// autograd).
template <class T>
struct GenHinge {
  static constexpr bool kHasDomain = false;
  T s, m;
  void operator()(T x, T, T& l, T& g, T& h, bool) const {
    const T u = T(1) + s * x;
    l = m * std::max(u, T(0));
    g = u > T(0) ? m * s : T(0);
    h = T(0);
    if (std::isnan(u)) l = g = u;  // a NaN logit propagates, as autograd
  }
};

// l = s x, g = s.
template <class T>
struct GenLinear {
  static constexpr bool kHasDomain = false;
  T s;
  void operator()(T x, T, T& l, T& g, T& h, bool) const {
    l = s * x;
    g = s;
    h = T(0);
  }
};

// l = (x - a)^2 / 2, g = x - a.
template <class T>
struct GenHalfSq {
  static constexpr bool kHasDomain = false;
  T a;
  void operator()(T x, T, T& l, T& g, T& h, bool) const {
    const T d = x - a;
    l = T(0.5) * (d * d);
    g = d;
    h = T(0);
  }
};

// KL term of one log-variance x: (exp(x) - 1 - x) / 2 = (expm1(x) - x) / 2
// (expm1 keeps the small-x values accurate); g = expm1(x) / 2. exp overflow
// gives +inf, never NaN.
template <class T>
struct GenKlLogvar {
  static constexpr bool kHasDomain = false;
  void operator()(T x, T, T& l, T& g, T& h, bool) const {
    const T em = std::expm1(x);
    l = T(0.5) * (em - x);
    g = T(0.5) * em;
    h = T(0);
  }
};

// Gaussian NLL with the variance as the driver's per-element parameter a:
// v = max(a, eps), q = (x - y)^2 / v, l = 0.5 (log v + q) [+ 0.5 log 2 pi],
// g = (x - y) / v, h (= dl/dvar, see generative.h) = 0.5 (1 - q) / v.
template <class T>
struct GenGaussNll {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasAux = true;
  T eps, c;  // c = 0.5 log(2 pi) with full, else 0
  void operator()(T x, T y, T a, T& l, T& g, T& h, bool want_h) const {
    const T v = std::max(a, eps);
    const T d = x - y;
    const T q = (d * d) / v;
    l = T(0.5) * (std::log(v) + q) + c;
    g = d / v;
    h = want_h ? (T(0.5) * (T(1) - q)) / v : T(0);
  }
};

}  // namespace losslab::detail::ref

#endif  // LOSSLAB_SRC_LOSSES_GENERATIVE_INL_H_SCALAR_

// ---------------------------------------------------------------------------
#if defined(LOSSLAB_SRC_LOSSES_GENERATIVE_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_GENERATIVE_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_GENERATIVE_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_GENERATIVE_INL_H_TARGET_
#endif

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "src/losses/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D>
struct GenSoftplusV {
  static constexpr bool kHasDomain = false;
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  T s, m;
  HWY_INLINE void operator()(D d, V x, V, V& l, V& g, V& h, bool) const {
    const V zero = hn::Zero(d), one = hn::Set(d, T(1));
    const V z = hn::Mul(hn::Set(d, s), x);
    const V e = ExpSafe(d, hn::Neg(hn::Abs(z)));
    l = hn::Mul(hn::Set(d, m), hn::Add(hn::Max(z, zero), hn::Log1p(d, e)));
    const V r = hn::Div(one, hn::Add(one, e));
    g = hn::Mul(hn::Set(d, m * s),
                hn::IfThenElse(hn::Ge(z, zero), r, hn::Mul(e, r)));
    h = zero;
  }
};

template <class D>
struct GenHingeV {
  static constexpr bool kHasDomain = false;
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  T s, m;
  HWY_INLINE void operator()(D d, V x, V, V& l, V& g, V& h, bool) const {
    const V zero = hn::Zero(d);
    const V u = hn::Add(hn::Set(d, T(1)), hn::Mul(hn::Set(d, s), x));
    l = hn::Mul(hn::Set(d, m), hn::Max(u, zero));
    g = hn::IfThenElseZero(hn::Gt(u, zero), hn::Set(d, m * s));
    h = zero;
    // Max and the compare drop a NaN logit; propagate it as the twin does.
    const auto nan = hn::IsNaN(u);
    l = hn::IfThenElse(nan, u, l);
    g = hn::IfThenElse(nan, u, g);
  }
};

template <class D>
struct GenLinearV {
  static constexpr bool kHasDomain = false;
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  T s;
  HWY_INLINE void operator()(D d, V x, V, V& l, V& g, V& h, bool) const {
    l = hn::Mul(hn::Set(d, s), x);
    g = hn::Set(d, s);
    h = hn::Zero(d);
  }
};

template <class D>
struct GenHalfSqV {
  static constexpr bool kHasDomain = false;
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  T a;
  HWY_INLINE void operator()(D d, V x, V, V& l, V& g, V& h, bool) const {
    const V dd = hn::Sub(x, hn::Set(d, a));
    l = hn::Mul(hn::Set(d, T(0.5)), hn::Mul(dd, dd));
    g = dd;
    h = hn::Zero(d);
  }
};

template <class D>
struct GenKlLogvarV {
  static constexpr bool kHasDomain = false;
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  HWY_INLINE void operator()(D d, V x, V, V& l, V& g, V& h, bool) const {
    // Highway's Expm1 is specified up to 104 (float); past log(max) the
    // result is +inf, and NaN stays NaN.
    const V max_log = hn::Set(d, T(std::log(std::numeric_limits<T>::max())));
    V em = hn::IfThenElse(hn::Gt(x, max_log),
                          hn::Set(d, std::numeric_limits<T>::infinity()),
                          Expm1Safe(d, hn::Min(x, max_log)));
    em = hn::IfThenElse(hn::IsNaN(x), x, em);
    const V half = hn::Set(d, T(0.5));
    l = hn::Mul(half, hn::Sub(em, x));
    g = hn::Mul(half, em);
    h = hn::Zero(d);
  }
};

template <class D>
struct GenGaussNllV {
  static constexpr bool kHasDomain = false;
  static constexpr bool kHasAux = true;
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  T eps, c;
  HWY_INLINE void operator()(D d, V x, V y, V a, V& l, V& g, V& h,
                             bool want_h) const {
    const V half = hn::Set(d, T(0.5)), one = hn::Set(d, T(1));
    const V v = hn::Max(a, hn::Set(d, eps));
    const V dd = hn::Sub(x, y);
    const V q = hn::Div(hn::Mul(dd, dd), v);
    l = hn::Add(hn::Mul(half, hn::Add(hn::Log(d, v), q)), hn::Set(d, c));
    g = hn::Div(dd, v);
    h = want_h ? hn::Div(hn::Mul(half, hn::Sub(one, q)), v) : hn::Zero(d);
  }
};

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
