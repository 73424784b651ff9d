// The block drivers for elementwise losses: one per SIMD target and its scalar
// twin. A driver walks blocks of ElemCall, asks the loss functor for l, g, h,
// applies weights, the reduction scale and the upstream gradient, writes the
// requested outputs and accumulates the block sum in the fixed 16-lane layout
// described in elementwise.h. It also collects the data checks (NaN target,
// bad weight, non-finite input, domain) in the same pass.

// ---------------------------------------------------------------------------
#ifndef LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_SCALAR_

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "src/losses/elementwise.h"

namespace losslab::detail::ref {

// `fn_at(i)` returns the functor for element i and `y_at(i)` the index of its
// target; the plain form below uses one functor and y[i].
template <class T, class FnAt, class YAt>
uint32_t run_elementwise_indexed(const FnAt& fn_at, const YAt& y_at,
                                 const ElemCall<T>& c, int64_t b0, int64_t b1,
                                 double* partials) {
  using Fn = std::decay_t<decltype(fn_at(int64_t(0)))>;
  const bool want_g = c.grad != nullptr;
  const bool want_h = c.hess != nullptr;
  const bool check_x = (c.opts & kOptCheckInput) != 0;
  const T vmax = std::numeric_limits<T>::max();
  uint32_t flags = 0;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t i0 = b * kBlock;
    const int64_t i1 = std::min(c.n, i0 + kBlock);
    T acc[kVirtualLanes] = {};
    for (int64_t i = i0; i < i1; ++i) {
      const T x = c.x[i];
      const T y = c.y[y_at(i)];
      const Fn& fn = fn_at(i);
      T l, g = 0, h = 0;
      if constexpr (has_aux<Fn>()) {
        fn(x, y, c.aux[i % c.aux_period], l, g, h, want_h);
      } else {
        fn(x, y, l, g, h, want_h);
      }
      if (!std::isfinite(y)) {
        if (!(target_neg_inf_ok<Fn>() &&
              y == -std::numeric_limits<T>::infinity())) {
          flags |= kFlagBadTarget;
        }
      }
      if constexpr (has_target_domain<Fn>()) {
        if (fn.target_bad(y)) flags |= kFlagTargetDomain;
      }
      if (check_x && !std::isfinite(x)) flags |= kFlagBadInput;
      if constexpr (Fn::kHasDomain) {
        if (fn.domain_bad(x)) flags |= kFlagDomain;
      }
      if (c.w) {
        const T w = c.w[i];
        if (!(w >= T(0) && w <= vmax)) flags |= kFlagBadWeight;
        l = l * w;
        g = g * w;
        h = h * w;
      }
      acc[(i - i0) % kVirtualLanes] += l;
      if (c.out) c.out[i] = l;
      if (want_g) {
        g = g * c.gscale;
        if (c.gout) g = g * c.gout[i];
        c.grad[i] = g;
      }
      if (want_h) {
        h = h * c.gscale;
        if (c.gout) h = h * c.gout[i];
        c.hess[i] = h;
      }
    }
    partials[b] = combine_lanes(acc);
  }
  return flags;
}

template <class T, class Fn>
uint32_t run_elementwise(const Fn& fn, const ElemCall<T>& c, int64_t b0,
                         int64_t b1, double* partials) {
  return run_elementwise_indexed([&fn](int64_t) -> const Fn& { return fn; },
                                 [](int64_t i) { return i; }, c, b0, b1,
                                 partials);
}

}  // namespace losslab::detail::ref

#endif  // LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_SCALAR_

// ---------------------------------------------------------------------------
#if defined(LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_TARGET_
#endif

#include <cstring>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class Fn, bool kGrad>
HWY_NOINLINE uint32_t RunElementwise(D d, const Fn& fn,
                                     const detail::ElemCall<hn::TFromD<D>>& c,
                                     int64_t b0, int64_t b1, double* partials) {
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  using M = hn::Mask<D>;
  constexpr int64_t kL = detail::kVirtualLanes;
  const size_t N = hn::Lanes(d);
  const size_t nv = kL / N;
  const bool want_h = c.hess != nullptr;
  const bool check_x = (c.opts & detail::kOptCheckInput) != 0;
  const V zero = hn::Zero(d);
  const V vmax = hn::Set(d, hwy::HighestValue<T>());
  const V gscale = hn::Set(d, c.gscale);
  M bad_y = hn::FirstN(d, 0), bad_w = bad_y, bad_x = bad_y, bad_dom = bad_y,
    bad_ty = bad_y;

  // One vector of elements at offset j of the given arrays; returns the
  // (weighted) loss for the accumulator. `ap` points at this vector's
  // per-element parameters (losses with kHasAux only).
  auto step = [&](size_t j, const T* xp, const T* yp, const T* wp, const T* gop,
                  T* op, T* gp, T* hp, const T* ap) HWY_ATTR {
    const V x = hn::LoadU(d, xp + j);
    const V y = hn::LoadU(d, yp + j);
    V l, g = zero, h = zero;
    if constexpr (detail::has_aux<Fn>()) {
      fn(d, x, y, hn::LoadU(d, ap), l, g, h, want_h);
    } else {
      fn(d, x, y, l, g, h, want_h);
    }
    if constexpr (detail::target_neg_inf_ok<Fn>()) {
      bad_y = hn::Or(bad_y, hn::AndNot(hn::Eq(y, hn::Neg(hn::Inf(d))),
                                       hn::Not(hn::IsFinite(y))));
    } else {
      bad_y = hn::Or(bad_y, hn::Not(hn::IsFinite(y)));
    }
    if constexpr (detail::has_target_domain<Fn>()) {
      bad_ty = hn::Or(bad_ty, fn.TargetBad(d, y));
    }
    if (check_x) bad_x = hn::Or(bad_x, hn::Not(hn::IsFinite(x)));
    if constexpr (Fn::kHasDomain) bad_dom = hn::Or(bad_dom, fn.DomainBad(d, x));
    if (wp) {
      const V w = hn::LoadU(d, wp + j);
      bad_w = hn::Or(bad_w, hn::Not(hn::And(hn::Ge(w, zero), hn::Le(w, vmax))));
      l = hn::Mul(l, w);
      if constexpr (kGrad) g = hn::Mul(g, w);
      if (want_h) h = hn::Mul(h, w);
    }
    if (op) hn::StoreU(l, d, op + j);
    if constexpr (kGrad) {
      g = hn::Mul(g, gscale);
      if (gop) g = hn::Mul(g, hn::LoadU(d, gop + j));
      hn::StoreU(g, d, gp + j);
    }
    if (want_h) {
      h = hn::Mul(h, gscale);
      if (gop) h = hn::Mul(h, hn::LoadU(d, gop + j));
      hn::StoreU(h, d, hp + j);
    }
    return l;
  };

  for (int64_t b = b0; b < b1; ++b) {
    const int64_t i0 = b * detail::kBlock;
    const int64_t i1 = HWY_MIN(c.n, i0 + detail::kBlock);
    V acc[kL];
    for (size_t k = 0; k < nv; ++k) acc[k] = zero;
    int64_t i = i0;
    for (; i + kL <= i1; i += kL) {
      for (size_t k = 0; k < nv; ++k) {
        const size_t j = size_t(i) + k * N;
        const T* ap = nullptr;
        if constexpr (detail::has_aux<Fn>()) {
          ap = c.aux + int64_t(j) % c.aux_period;
        }
        acc[k] = hn::Add(
            acc[k], step(j, c.x, c.y, c.w, c.gout, c.out, c.grad, c.hess, ap));
      }
    }
    if (i < i1) {
      // Tail: run the same vectors on padded copies, mask the padding out of
      // the sums and copy back only the real elements. Padding (x = y = w =
      // 1) is valid for every loss, so it never raises a flag.
      const size_t r = size_t(i1 - i);
      alignas(64) T xb[kL], yb[kL], wb[kL], gob[kL], ob[kL], gb[kL], hb[kL],
          ab[kL];
      for (int64_t k = 0; k < kL; ++k) {
        xb[k] = yb[k] = wb[k] = gob[k] = ab[k] = T(1);
      }
      if constexpr (detail::has_aux<Fn>()) {
        for (size_t k = 0; k < r; ++k) {
          ab[k] = c.aux[(i + int64_t(k)) % c.aux_period];
        }
      }
      std::memcpy(xb, c.x + i, r * sizeof(T));
      std::memcpy(yb, c.y + i, r * sizeof(T));
      if (c.w) std::memcpy(wb, c.w + i, r * sizeof(T));
      if (c.gout) std::memcpy(gob, c.gout + i, r * sizeof(T));
      for (size_t k = 0; k < nv; ++k) {
        const size_t off = k * N;
        const M m = hn::FirstN(d, r > off ? r - off : 0);
        const V l = step(off, xb, yb, c.w ? wb : nullptr,
                         c.gout ? gob : nullptr, c.out ? ob : nullptr,
                         kGrad ? gb : nullptr, c.hess ? hb : nullptr, ab + off);
        acc[k] = hn::Add(acc[k], hn::IfThenElseZero(m, l));
      }
      if (c.out) std::memcpy(c.out + i, ob, r * sizeof(T));
      if (kGrad) std::memcpy(c.grad + i, gb, r * sizeof(T));
      if (c.hess) std::memcpy(c.hess + i, hb, r * sizeof(T));
    }
    alignas(64) T lanes[kL];
    for (size_t k = 0; k < nv; ++k) hn::Store(acc[k], d, lanes + k * N);
    partials[b] = detail::combine_lanes(lanes);
  }
  uint32_t flags = 0;
  if (!hn::AllFalse(d, bad_y)) flags |= detail::kFlagBadTarget;
  if (!hn::AllFalse(d, bad_w)) flags |= detail::kFlagBadWeight;
  if (!hn::AllFalse(d, bad_x)) flags |= detail::kFlagBadInput;
  if (!hn::AllFalse(d, bad_dom)) flags |= detail::kFlagDomain;
  if (!hn::AllFalse(d, bad_ty)) flags |= detail::kFlagTargetDomain;
  return flags;
}

template <class D, class Fn>
HWY_INLINE uint32_t RunElementwise(D d, const Fn& fn,
                                   const detail::ElemCall<hn::TFromD<D>>& c,
                                   int64_t b0, int64_t b1, double* partials) {
  return c.grad ? RunElementwise<D, Fn, true>(d, fn, c, b0, b1, partials)
                : RunElementwise<D, Fn, false>(d, fn, c, b0, b1, partials);
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
