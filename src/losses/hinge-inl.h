// multi_margin_loss row kernel: the scalar twin and the SIMD version over the
// class dimension, side by side. For one row x (C scores), label y, class
// weight w_y (1 without weights), margin m and p in {1, 2}:
//
//   t_k = (m - x_y) + x_k,   l = w_y / C * sum_{k != y, t_k > 0} t_k^p
//   dl/dx_k = w_y / C * p t_k^(p-1)   for k != y with t_k > 0, else 0
//   dl/dx_y = -sum_{k != y} dl/dx_k
//
// which is PyTorch's multi_margin_loss (ATen LossMultiMargin.cpp: the same
// (m - x_y) + x_k evaluation order, the strict t > 0 at the kink, the weight
// of the target class on every term, the division by C). The one difference:
// a NaN t_k propagates into the row's loss and gradient (PyTorch's `z > 0`
// test drops it silently), selected explicitly so every target agrees.

// ---------------------------------------------------------------------------
#ifndef LOSSLAB_SRC_LOSSES_HINGE_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_HINGE_INL_H_SCALAR_

#include <algorithm>
#include <cmath>

#include "src/losses/cross_entropy.h"  // kRowBlock
#include "src/losses/elementwise.h"
#include "src/losses/hinge.h"

namespace losslab::detail::ref {

template <class T>
T margin_row(const MarginRowCall<T>& c, int64_t r) {
  const int64_t C = c.classes;
  const T* z = c.x + r * C;
  T* g = c.grad ? c.grad + r * C : nullptr;
  const int64_t y = c.y[r];
  const T mxy = c.margin - z[y];
  const T wy = c.w ? c.w[y] : T(1);
  T acc[kVirtualLanes] = {};
  for (int64_t k = 0; k < C; ++k) {
    const T t = mxy + z[k];
    const T h = c.p == 1 ? t : t * t;
    const T v = (k != y && t > T(0)) ? h : (t != t ? t : T(0));
    acc[k % kVirtualLanes] += v;
  }
  const T l = (T(combine_lanes(acc)) * wy) / T(C);
  if (g) {
    const T scale = c.gout ? c.gout[r] : c.gscale;
    const T coef = (wy / T(C)) * scale;
    T gacc[kVirtualLanes] = {};
    for (int64_t k = 0; k < C; ++k) {
      const T t = mxy + z[k];
      const T a = c.p == 1 ? coef : (T(2) * t) * coef;
      const T gk = (k != y && t > T(0)) ? a : (t != t ? t : T(0));
      g[k] = gk;
      gacc[k % kVirtualLanes] += gk;
    }
    g[y] = -T(combine_lanes(gacc));
  }
  return l;
}

inline void margin_blocks(const auto& c, int64_t b0, int64_t b1,
                          double* partials) {
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t r0 = b * kRowBlock;
    const int64_t r1 = std::min(c.rows, r0 + kRowBlock);
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) {
      const auto l = margin_row(c, r);
      if (c.out) c.out[r] = l;
      acc += double(l);
    }
    partials[b] = acc;
  }
}

}  // namespace losslab::detail::ref

#endif  // LOSSLAB_SRC_LOSSES_HINGE_INL_H_SCALAR_

// ---------------------------------------------------------------------------
#if defined(LOSSLAB_SRC_LOSSES_HINGE_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_HINGE_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_HINGE_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_HINGE_INL_H_TARGET_
#endif

#include <cstring>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One row; the same operations as ref::margin_row, vectorized over classes.
// Vectors start at multiples of N; the label's lane is masked out by position
// (FirstN), the tail runs on a zero-padded copy with the padding masked.
template <class D>
HWY_INLINE hn::TFromD<D> MarginRow(
    D d, const detail::MarginRowCall<hn::TFromD<D>>& c, int64_t r) {
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  using M = hn::Mask<D>;
  constexpr int64_t kL = detail::kVirtualLanes;
  const int64_t N = int64_t(hn::Lanes(d));
  const size_t nv = size_t(kL / N);
  const int64_t C = c.classes;
  const T* z = c.x + r * C;
  T* g = c.grad ? c.grad + r * C : nullptr;
  const int64_t y = c.y[r];
  const T mxy = c.margin - z[y];
  const T wy = c.w ? c.w[y] : T(1);
  const V zero = hn::Zero(d);
  const V vmxy = hn::Set(d, mxy);
  const bool p1 = c.p == 1;

  // Lanes of the vector starting at k that are real classes other than y.
  auto live = [&](int64_t k) HWY_ATTR {
    const int64_t valid = C - k < N ? C - k : N;
    M m = hn::FirstN(d, size_t(valid));
    const int64_t j = y - k;
    if (j >= 0 && j < N) {
      m = hn::AndNot(
          hn::AndNot(hn::FirstN(d, size_t(j)), hn::FirstN(d, size_t(j + 1))),
          m);
    }
    return m;
  };
  // Padded copy of the tail [k0, C) (zeros beyond C).
  alignas(64) T zb[kL];
  const int64_t k0 = (C / kL) * kL;
  if (k0 < C) {
    for (int64_t i = 0; i < kL; ++i) zb[i] = T(0);
    std::memcpy(zb, z + k0, size_t(C - k0) * sizeof(T));
  }
  auto load = [&](int64_t k) HWY_ATTR {
    return k < k0 ? hn::LoadU(d, z + k) : hn::LoadU(d, zb + (k - k0));
  };

  V acc[kL];
  for (size_t j = 0; j < nv; ++j) acc[j] = zero;
  for (int64_t k = 0; k < C; k += kL) {
    for (size_t j = 0; j < nv; ++j) {
      const int64_t o = k + int64_t(j) * N;
      if (o >= C) break;
      const V t = hn::Add(vmxy, load(o));
      const V h = p1 ? t : hn::Mul(t, t);
      const M act = hn::And(live(o), hn::Gt(t, zero));
      const M nan = hn::And(hn::FirstN(d, size_t(C - o)), hn::IsNaN(t));
      acc[j] =
          hn::Add(acc[j], hn::IfThenElse(act, h, hn::IfThenElseZero(nan, t)));
    }
  }
  alignas(64) T lanes[kL];
  for (size_t j = 0; j < nv; ++j) hn::Store(acc[j], d, lanes + j * size_t(N));
  const T l = (T(detail::combine_lanes(lanes)) * wy) / T(C);

  if (g) {
    const T scale = c.gout ? c.gout[r] : c.gscale;
    const T coef = (wy / T(C)) * scale;
    const V vcoef = hn::Set(d, coef), two = hn::Set(d, 2);
    alignas(64) T gb[kL];
    for (size_t j = 0; j < nv; ++j) acc[j] = zero;
    for (int64_t k = 0; k < C; k += kL) {
      for (size_t j = 0; j < nv; ++j) {
        const int64_t o = k + int64_t(j) * N;
        if (o >= C) break;
        const V t = hn::Add(vmxy, load(o));
        const V a = p1 ? vcoef : hn::Mul(hn::Mul(two, t), vcoef);
        const M act = hn::And(live(o), hn::Gt(t, zero));
        const M nan = hn::And(hn::FirstN(d, size_t(C - o)), hn::IsNaN(t));
        const V gk = hn::IfThenElse(act, a, hn::IfThenElseZero(nan, t));
        acc[j] = hn::Add(acc[j], gk);
        if (o + N <= C) {
          hn::StoreU(gk, d, g + o);
        } else {
          hn::StoreU(gk, d, gb);
          std::memcpy(g + o, gb, size_t(C - o) * sizeof(T));
        }
      }
    }
    for (size_t j = 0; j < nv; ++j) {
      hn::Store(acc[j], d, lanes + j * size_t(N));
    }
    g[y] = -T(detail::combine_lanes(lanes));
  }
  return l;
}

template <class T>
HWY_NOINLINE void MarginBlocks(const detail::MarginRowCall<T>& c, int64_t b0,
                               int64_t b1, double* partials) {
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t r0 = b * detail::kRowBlock;
    const int64_t r1 = HWY_MIN(c.rows, r0 + detail::kRowBlock);
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) {
      const T l = MarginRow(d, c, r);
      if (c.out) c.out[r] = l;
      acc += double(l);
    }
    partials[b] = acc;
  }
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
