// Softmax cross-entropy row kernel: the scalar twin and the SIMD version over
// the class dimension, side by side. For one row z (C logits), label y,
// class weights w (1 without weights), smoothing eps and W = sum_c w_c:
//
//   m   = max_c z_c,  s = sum_c exp(z_c - m),  -log p_c = (m - z_c) + log s
//   l   = (1 - eps) w_y (-log p_y) + (eps / C) sum_c w_c (-log p_c)
//   dl/dz_k = p_k A - B_k,   A = (1 - eps) w_y + (eps / C) W,
//                            B_k = (eps / C) w_k + [k = y] (1 - eps) w_y
//
// which is PyTorch's cross_entropy (LossNLL.cpp,
// cross_entropy_loss_label_smoothing) for one row. Probability targets q
// (CeRowCall::q) use PyTorch's cross_entropy_loss_prob_target: with
// t_c = w_c ((1 - eps) q_c + eps / C) and T = sum_c t_c,
//
//   l = sum_c t_c (-log p_c) = sum_c t_c (m - z_c) + T log s,
//   dl/dz_k = p_k T - t_k,
//
// where a class with t_c = 0 contributes 0 even at a -inf logit (PyTorch:
// 0 * -inf = NaN). The z-loss (PaLM, Chowdhery et al. 2022) adds
// lambda lse^2 with lse = m + log s, whose gradient 2 lambda lse p_k is folded
// into A (or T); with lambda = 0 the term is skipped, so the result is
// bitwise that of plain cross-entropy.
//
// Subtracting the row max makes the loss invariant to adding a constant to a
// row (without z-loss), and every term (m - z_c) and log s is >= 0, so
// nothing cancels. A -inf logit has p = 0 and gradient -B_k; with eps > 0 its
// smoothing term is +inf, as in PyTorch. A row holding NaN or +inf, or only
// -inf, gives NaN loss and gradient (the vector Exp maps NaN to 0, so such
// rows are detected explicitly).
//
// Two passes (max, then sum of exp) rather than an online max-and-sum: the
// online form needs two exp per element (rescaling), the two-pass form one,
// and the second read of the row comes from L1/L2. The gradient pass
// recomputes exp(z - m) instead of storing it, so no scratch is needed.

// ---------------------------------------------------------------------------
#ifndef LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_INL_H_SCALAR_

#include <algorithm>
#include <cmath>
#include <limits>

#include "src/losses/cross_entropy.h"
#include "src/losses/elementwise.h"

namespace losslab::detail::ref {

// w_c ((1 - eps) q_c + eps / C): the weight of -log p_c in a
// probability-target row.
template <class T>
T ce_soft_weight(const CeRowCall<T>& c, const T* q, int64_t k) {
  const T qk = (T(1) - c.eps) * q[k] + c.eps / T(c.classes);
  return c.w ? c.w[k] * qk : qk;
}

template <class T>
T ce_row(const CeRowCall<T>& c, int64_t r) {
  const int64_t C = c.classes;
  const T* z = c.x + r * C;
  const T* q = c.q ? c.q + r * C : nullptr;
  T* g = c.grad ? c.grad + r * C : nullptr;
  const int64_t y = q ? 0 : c.y[r];
  const T inf = std::numeric_limits<T>::infinity();
  if (y < 0) {  // ignored: no loss, no gradient
    if (g) std::fill(g, g + C, T(0));
    return T(0);
  }
  T m = -inf;
  bool nan = false;
  for (int64_t k = 0; k < C; ++k) {
    m = z[k] > m ? z[k] : m;
    nan = nan || z[k] != z[k];
  }
  if (nan || !(m < inf) || !(m > -inf)) {
    const T qn = std::numeric_limits<T>::quiet_NaN();
    if (g) std::fill(g, g + C, qn);
    return qn;
  }
  T acc[kVirtualLanes] = {};
  for (int64_t k = 0; k < C; ++k) acc[k % kVirtualLanes] += std::exp(z[k] - m);
  const T s = T(combine_lanes(acc));
  const T ls = std::log(s);
  const T wy = c.w ? c.w[y] : T(1);
  const T oy = (T(1) - c.eps) * wy;
  const T eps_c = c.eps / T(C);
  T l;
  T A;
  if (q) {
    T sacc[kVirtualLanes] = {}, tacc[kVirtualLanes] = {};
    for (int64_t k = 0; k < C; ++k) {
      const T t = ce_soft_weight(c, q, k);
      sacc[k % kVirtualLanes] += t != T(0) ? t * (m - z[k]) : T(0);
      tacc[k % kVirtualLanes] += t;
    }
    A = T(combine_lanes(tacc));
    l = T(combine_lanes(sacc)) + A * ls;
  } else {
    l = oy * ((m - z[y]) + ls);
    if (c.eps > T(0)) {
      T sacc[kVirtualLanes] = {};
      for (int64_t k = 0; k < C; ++k) {
        const T t = m - z[k];
        sacc[k % kVirtualLanes] += c.w ? c.w[k] * t : t;
      }
      const T sm = T(combine_lanes(sacc)) + c.wsum * ls;
      l = l + eps_c * sm;
    }
    A = oy + eps_c * c.wsum;
  }
  if (c.zl > T(0)) {  // z-loss: lambda lse^2, gradient 2 lambda lse p_k
    const T lse = m + ls;
    l = l + c.zl * (lse * lse);
    A = A + T(2) * c.zl * lse;
  }
  if (g) {
    const T scale = c.gout ? c.gout[r] : c.gscale;
    const T inv_s = T(1) / s;
    for (int64_t k = 0; k < C; ++k) {
      const T p = std::exp(z[k] - m) * inv_s;
      const T b = q ? ce_soft_weight(c, q, k) : c.w ? eps_c * c.w[k] : eps_c;
      g[k] = (p * A - b) * scale;
    }
    if (!q) {
      const T p = std::exp(z[y] - m) * inv_s;
      const T b = (c.w ? eps_c * c.w[y] : eps_c) + oy;
      g[y] = (p * A - b) * scale;
    }
  }
  return l;
}

inline void ce_blocks(const auto& c, int64_t b0, int64_t b1, double* partials) {
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t r0 = b * kRowBlock;
    const int64_t r1 = std::min(c.rows, r0 + kRowBlock);
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) {
      const auto l = ce_row(c, r);
      if (c.out) c.out[r] = l;
      acc += double(l);
    }
    partials[b] = acc;
  }
}

}  // namespace losslab::detail::ref

#endif  // LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_INL_H_SCALAR_

// ---------------------------------------------------------------------------
#if defined(LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_INL_H_TARGET_
#endif

#include <cstring>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "src/losses/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One row; the same operations as ref::ce_row, vectorized over classes.
template <class D>
HWY_INLINE hn::TFromD<D> CeRow(D d, const detail::CeRowCall<hn::TFromD<D>>& c,
                               int64_t r) {
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  using M = hn::Mask<D>;
  constexpr int64_t kL = detail::kVirtualLanes;
  const int64_t N = int64_t(hn::Lanes(d));
  const size_t nv = size_t(kL / N);
  const int64_t C = c.classes;
  const T* z = c.x + r * C;
  const T* q = c.q ? c.q + r * C : nullptr;
  T* g = c.grad ? c.grad + r * C : nullptr;
  const int64_t y = q ? 0 : c.y[r];
  const T inf = std::numeric_limits<T>::infinity();
  const V zero = hn::Zero(d);
  if (y < 0) {
    if (g) std::memset(g, 0, size_t(C) * sizeof(T));
    return T(0);
  }

  // Pass 1: row max and NaN detection.
  T m;
  const bool nan = RowMaxAndNaN(d, z, C, &m);
  if (nan || !(m < inf) || !(m > -inf)) {
    const T qn = std::numeric_limits<T>::quiet_NaN();
    if (g) std::fill(g, g + C, qn);
    return qn;
  }

  // Pass 2: sum of exp(z - m) (and of w_c (m - z_c) for smoothing, or of
  // t_c (m - z_c) and t_c for probability targets) in 16 virtual lanes; the
  // tail runs on a padded copy with the padding masked.
  const V vm = hn::Set(d, m);
  const bool smooth = c.eps > T(0);
  const T eps_c = c.eps / T(C);
  const V vkeep = hn::Set(d, T(1) - c.eps), veps = hn::Set(d, eps_c);
  // t_c = w_c ((1 - eps) q_c + eps / C), as ref::ce_soft_weight.
  auto soft_weight = [&](const T* qp, const T* wp) HWY_ATTR {
    const V qk = hn::Add(hn::Mul(vkeep, hn::LoadU(d, qp)), veps);
    return wp ? hn::Mul(hn::LoadU(d, wp), qk) : qk;
  };
  V acc[kL], sacc[kL], tacc[kL];
  for (size_t j = 0; j < nv; ++j) acc[j] = sacc[j] = tacc[j] = zero;
  auto add = [&](const T* zp, const T* wp, const T* qp, size_t j,
                 M mask) HWY_ATTR {
    const V v = hn::LoadU(d, zp);
    acc[j] =
        hn::Add(acc[j], hn::IfThenElseZero(mask, ExpSafe(d, hn::Sub(v, vm))));
    if (qp) {
      const V t = soft_weight(qp, wp);
      const M nz = hn::And(mask, hn::Ne(t, zero));
      sacc[j] =
          hn::Add(sacc[j], hn::IfThenElseZero(nz, hn::Mul(t, hn::Sub(vm, v))));
      tacc[j] = hn::Add(tacc[j], hn::IfThenElseZero(mask, t));
    } else if (smooth) {
      V t = hn::Sub(vm, v);
      if (wp) t = hn::Mul(hn::LoadU(d, wp), t);
      sacc[j] = hn::Add(sacc[j], hn::IfThenElseZero(mask, t));
    }
  };
  const M all = hn::FirstN(d, size_t(N));
  int64_t k = 0;
  for (; k + kL <= C; k += kL) {
    for (size_t j = 0; j < nv; ++j) {
      const int64_t o = k + int64_t(j) * N;
      add(z + o, c.w ? c.w + o : nullptr, q ? q + o : nullptr, j, all);
    }
  }
  alignas(64) T zb[kL], wb[kL], qb[kL];
  const int64_t rem = C - k;
  if (rem > 0) {
    for (int64_t i = 0; i < kL; ++i) {
      zb[i] = m;
      wb[i] = T(0);
      qb[i] = T(0);
    }
    std::memcpy(zb, z + k, size_t(rem) * sizeof(T));
    if (c.w) std::memcpy(wb, c.w + k, size_t(rem) * sizeof(T));
    if (q) std::memcpy(qb, q + k, size_t(rem) * sizeof(T));
    for (size_t j = 0; j < nv; ++j) {
      const int64_t off = int64_t(j) * N;
      const M mask = hn::FirstN(d, size_t(rem > off ? rem - off : 0));
      add(zb + off, c.w ? wb + off : nullptr, q ? qb + off : nullptr, j, mask);
    }
  }
  alignas(64) T lanes[kL];
  auto combine = [&](const V* a) HWY_ATTR {
    for (size_t j = 0; j < nv; ++j) hn::Store(a[j], d, lanes + j * size_t(N));
    return T(detail::combine_lanes(lanes));
  };
  const T s = combine(acc);
  const T ls = hn::GetLane(hn::Log(d, hn::Set(d, s)));
  const T wy = c.w ? c.w[y] : T(1);
  const T oy = (T(1) - c.eps) * wy;
  T l;
  T A;
  if (q) {
    A = combine(tacc);
    l = combine(sacc) + A * ls;
  } else {
    l = oy * ((m - z[y]) + ls);
    if (smooth) {
      const T sm = combine(sacc) + c.wsum * ls;
      l = l + eps_c * sm;
    }
    A = oy + eps_c * c.wsum;
  }
  if (c.zl > T(0)) {  // z-loss: lambda lse^2, gradient 2 lambda lse p_k
    const T lse = m + ls;
    l = l + c.zl * (lse * lse);
    A = A + T(2) * c.zl * lse;
  }

  // Pass 3: gradient p_k A - B_k (p_k T - t_k for probability targets), then
  // the label's entry.
  if (g) {
    const T scale = c.gout ? c.gout[r] : c.gscale;
    const T inv_s = T(1) / s;
    const V vinv = hn::Set(d, inv_s), vA = hn::Set(d, A),
            vscale = hn::Set(d, scale);
    auto grad = [&](const T* zp, const T* wp, const T* qp, T* gp) HWY_ATTR {
      const V p = hn::Mul(ExpSafe(d, hn::Sub(hn::LoadU(d, zp), vm)), vinv);
      const V b = qp   ? soft_weight(qp, wp)
                  : wp ? hn::Mul(veps, hn::LoadU(d, wp))
                       : veps;
      hn::StoreU(hn::Mul(hn::Sub(hn::Mul(p, vA), b), vscale), d, gp);
    };
    k = 0;
    for (; k + N <= C; k += N) {
      grad(z + k, c.w ? c.w + k : nullptr, q ? q + k : nullptr, g + k);
    }
    if (k < C) {
      alignas(64) T gb[kL];
      const int64_t t = C - k;
      for (int64_t i = 0; i < N; ++i) {
        zb[i] = m;
        wb[i] = T(0);
        qb[i] = T(0);
      }
      std::memcpy(zb, z + k, size_t(t) * sizeof(T));
      if (c.w) std::memcpy(wb, c.w + k, size_t(t) * sizeof(T));
      if (q) std::memcpy(qb, q + k, size_t(t) * sizeof(T));
      grad(zb, c.w ? wb : nullptr, q ? qb : nullptr, gb);
      std::memcpy(g + k, gb, size_t(t) * sizeof(T));
    }
    if (!q) {
      const T p = hn::GetLane(ExpSafe(d, hn::Set(d, z[y] - m))) * inv_s;
      const T b = (c.w ? eps_c * c.w[y] : eps_c) + oy;
      g[y] = (p * A - b) * scale;
    }
  }
  return l;
}

template <class T>
HWY_NOINLINE void CeBlocks(const detail::CeRowCall<T>& c, int64_t b0,
                           int64_t b1, double* partials) {
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t r0 = b * detail::kRowBlock;
    const int64_t r1 = HWY_MIN(c.rows, r0 + detail::kRowBlock);
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) {
      const T l = CeRow(d, c, r);
      if (c.out) c.out[r] = l;
      acc += double(l);
    }
    partials[b] = acc;
  }
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
