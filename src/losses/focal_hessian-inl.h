// Diagonal Hessian of the sigmoid focal loss (torchvision semantics, Lin et
// al. 2017): the scalar twin and the SIMD version side by side. With
// p = sigma(x), s = p (1 - p), ce = softplus(x) - x y, k = 1 - 2y,
// m = 1 - p_t = p (1 - y) + (1 - p) y (dm/dx = s k, d2m/dx2 = s (1 - 2p) k)
// and r = s / m (0 <= r <= 1):
//
//   l   = a_t ce m^gamma
//   l'  = a_t m^gamma [(p - y) + gamma ce r k]
//   l'' = a_t m^gamma [s + 2 gamma (p - y) r k
//                      + gamma ce ((gamma - 1) r^2 k^2 + r (1 - 2p) k)]
//
// (product rule on ce m^gamma: ce'' = s, (m^gamma)' = gamma m^gamma r k,
// (m^gamma)'' = gamma m^gamma ((gamma - 1) r^2 k^2 + r (1 - 2p) k)). m^gamma
// and r come from log-sigmoids in log space, as the loss's functor does:
//   log m = logaddexp(log(1 - y) - softplus(-x), log y - softplus(x)),
//   r = exp(-softplus(x) - softplus(-x) - log m),
// so every term is finite for finite x and any gamma >= 0; gamma = 0 gives
// the BCE Hessian s exactly. The Hessian is negative in places (the focal
// loss is not convex); boosting objectives floor it (python/losslab/
// _boosting.py). NaN x gives NaN.

// ---------------------------------------------------------------------------
#ifndef LOSSLAB_SRC_LOSSES_FOCAL_HESSIAN_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_FOCAL_HESSIAN_INL_H_SCALAR_

#include <algorithm>
#include <cmath>
#include <limits>

#include "src/losses/focal_hessian.h"

namespace losslab::detail::ref {

template <class T>
T focal_hess_one(T x, T y, T alpha, T gamma) {
  const T e = std::exp(-std::abs(x));
  const T lp = std::log1p(e);
  const T sp_pos = std::max(x, T(0)) + lp;   // softplus(x) = -log sigma(-x)
  const T sp_neg = std::max(-x, T(0)) + lp;  // softplus(-x) = -log sigma(x)
  const T p = std::exp(-sp_neg), q = std::exp(-sp_pos);  // sigma(x), sigma(-x)
  const T s = p * q;
  T h = s;
  if (gamma != T(0)) {
    const T ninf = -std::numeric_limits<T>::infinity();
    const T a = (y < T(1) ? std::log(T(1) - y) : ninf) - sp_neg;
    const T b = (y > T(0) ? std::log(y) : ninf) - sp_pos;
    const T hi = std::max(a, b), lo = std::min(a, b);
    const T logm = hi + std::log1p(std::exp(lo - hi));
    const T mg = std::exp(gamma * logm);
    const T r = std::exp((-sp_neg - sp_pos) - logm);
    const T k = T(1) - T(2) * y;
    const T ce = (std::max(x, T(0)) - x * y) + lp;
    const T rk = r * k;
    const T inner = (gamma - T(1)) * (rk * rk) + rk * (T(1) - T(2) * p);
    h = mg * ((s + T(2) * gamma * ((p - y) * rk)) + gamma * (ce * inner));
  }
  if (alpha >= T(0)) h = h * (alpha * y + (T(1) - alpha) * (T(1) - y));
  return x != x ? x : h;
}

template <class T>
void focal_hess(const FocalHessCall<T>& c, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) {
    T h = focal_hess_one(c.x[i], c.y[i], c.alpha, c.gamma);
    if (c.w) h = h * c.w[i];
    c.hess[i] = h * (c.gout ? c.gout[i] : c.scale);
  }
}

}  // namespace losslab::detail::ref

#endif  // LOSSLAB_SRC_LOSSES_FOCAL_HESSIAN_INL_H_SCALAR_

// ---------------------------------------------------------------------------
#if defined(LOSSLAB_SRC_LOSSES_FOCAL_HESSIAN_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_FOCAL_HESSIAN_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_FOCAL_HESSIAN_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_FOCAL_HESSIAN_INL_H_TARGET_
#endif

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "src/losses/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// As ref::focal_hess_one. The vector Exp is only specified down to about
// -max (float: -104), so its arguments are clamped at the lowest finite
// value (exp of that is 0); Log(0) is taken as -inf explicitly.
template <class D>
HWY_INLINE hn::Vec<D> FocalHessOne(D d, hn::Vec<D> x, hn::Vec<D> y,
                                   hn::TFromD<D> alpha, hn::TFromD<D> gamma) {
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  const V zero = hn::Zero(d), one = hn::Set(d, T(1)), two = hn::Set(d, T(2));
  const V lowest = hn::Set(d, hwy::LowestValue<T>());
  const V ninf = hn::Set(d, -std::numeric_limits<T>::infinity());
  auto exp_ = [&](V v) HWY_ATTR { return ExpSafe(d, hn::Max(v, lowest)); };
  auto log_ = [&](V v) HWY_ATTR {
    return hn::IfThenElse(hn::Gt(v, zero), hn::Log(d, v), ninf);
  };
  const V e = exp_(hn::Neg(hn::Abs(x)));
  const V lp = hn::Log1p(d, e);
  const V sp_pos = hn::Add(hn::Max(x, zero), lp);
  const V sp_neg = hn::Add(hn::Max(hn::Neg(x), zero), lp);
  const V p = exp_(hn::Neg(sp_neg)), q = exp_(hn::Neg(sp_pos));
  const V s = hn::Mul(p, q);
  V h = s;
  if (gamma != T(0)) {
    const V vg = hn::Set(d, gamma);
    const V a = hn::Sub(log_(hn::Sub(one, y)), sp_neg);
    const V b = hn::Sub(log_(y), sp_pos);
    const V hi = hn::Max(a, b), lo = hn::Min(a, b);
    const V logm = hn::Add(hi, hn::Log1p(d, exp_(hn::Sub(lo, hi))));
    const V mg = exp_(hn::Mul(vg, logm));
    const V r = exp_(hn::Sub(hn::Sub(hn::Neg(sp_neg), sp_pos), logm));
    const V k = hn::Sub(one, hn::Mul(two, y));
    const V ce = hn::Add(hn::Sub(hn::Max(x, zero), hn::Mul(x, y)), lp);
    const V rk = hn::Mul(r, k);
    const V inner = hn::Add(hn::Mul(hn::Sub(vg, one), hn::Mul(rk, rk)),
                            hn::Mul(rk, hn::Sub(one, hn::Mul(two, p))));
    h = hn::Mul(mg, hn::Add(hn::Add(s, hn::Mul(hn::Mul(two, vg),
                                               hn::Mul(hn::Sub(p, y), rk))),
                            hn::Mul(vg, hn::Mul(ce, inner))));
  }
  if (alpha >= T(0)) {
    const V va = hn::Set(d, alpha);
    h = hn::Mul(
        h, hn::Add(hn::Mul(va, y), hn::Mul(hn::Sub(one, va), hn::Sub(one, y))));
  }
  // IsNaN, not Ne(x, x): Highway's Ne is an ordered compare on x86 (false
  // for NaN), which would turn a NaN lane into a finite value.
  return hn::IfThenElse(hn::IsNaN(x), x, h);
}

template <class T>
HWY_NOINLINE void FocalHess(const detail::FocalHessCall<T>& c, int64_t i0,
                            int64_t i1) {
  const hn::CappedTag<T, 16> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t N = int64_t(hn::Lanes(d));
  const V vscale = hn::Set(d, c.scale);
  auto block = [&](const T* x, const T* y, const T* w, const T* go,
                   T* out) HWY_ATTR {
    V h = FocalHessOne(d, hn::LoadU(d, x), hn::LoadU(d, y), c.alpha, c.gamma);
    if (w) h = hn::Mul(h, hn::LoadU(d, w));
    h = hn::Mul(h, go ? hn::LoadU(d, go) : vscale);
    hn::StoreU(h, d, out);
  };
  int64_t i = i0;
  for (; i + N <= i1; i += N) {
    block(c.x + i, c.y + i, c.w ? c.w + i : nullptr,
          c.gout ? c.gout + i : nullptr, c.hess + i);
  }
  if (i < i1) {  // the tail on zero-padded copies
    alignas(64) T xb[16] = {}, yb[16] = {}, wb[16] = {}, gb[16] = {},
                  hb[16] = {};
    const int64_t n = i1 - i;
    for (int64_t k = 0; k < n; ++k) {
      xb[k] = c.x[i + k];
      yb[k] = c.y[i + k];
      if (c.w) wb[k] = c.w[i + k];
      if (c.gout) gb[k] = c.gout[i + k];
    }
    block(xb, yb, c.w ? wb : nullptr, c.gout ? gb : nullptr, hb);
    for (int64_t k = 0; k < n; ++k) c.hess[i + k] = hb[k];
  }
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
