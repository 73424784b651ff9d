// Softmax (multiclass) focal loss row kernel (Lin et al. 2017, "Focal Loss
// for Dense Object Detection", eq. 5 with a softmax): the scalar twin and
// the SIMD version over the class dimension, side by side. For one row z
// (C logits), label y, p = softmax(z), p_t = p_y and a = alpha_y:
//
//   l = -a (1 - p_t)^gamma log p_t
//   dl/dz_k = G (p_k - [k = y]),   G = a (1 - p_t)^gamma
//                                      (1 - gamma p_t log(p_t) / (1 - p_t))
//
// (dl/dp_t = -a [u^gamma / p_t - gamma u^(gamma-1) log p_t] with u = 1 - p_t,
// and dp_t/dz_k = p_t ([k = y] - p_k)). G >= 0, and for gamma = 0 it is a:
// the cross-entropy gradient times a.
//
// Numerics. With m = max z, s = sum_c exp(z_c - m), e_y = exp(z_y - m) and
// s_o = sum_{c != y} exp(z_c - m) (summed on its own, never s - e_y, which
// cancels as p_t -> 1):
//   p_t >= 1/2 (e_y >= s_o): r = s_o / e_y, log p_t = -log1p(r),
//     log u = log r - log1p(r), log(p_t) / u = -log1p(r) (1 + r) / r
//     (-1 at r = 0);
//   p_t < 1/2: log p_t = (z_y - m) - log s (cross-entropy's form),
//     u = -expm1(log p_t) >= 1/2, log u = log1p(-p_t).
// u^gamma = exp(gamma log u): no pow of a rounded-to-zero u, no 0 * inf, and
// u = 0 (saturated logits) gives l = 0 and G = 0 for gamma > 0. gamma = 0
// skips all of it: l = a ((m - z_y) + log s) and G = a, the same operations
// as the cross-entropy row kernel, so alpha=None, gamma=0 equals
// cross_entropy bit for bit on every target. Only the sums over classes are
// vectorized; the per-row terms above are the same scalar code in both.
// Rows with NaN or +inf logits, or only -inf, give NaN (as cross-entropy).

// ---------------------------------------------------------------------------
#ifndef LOSSLAB_SRC_LOSSES_SOFTMAX_FOCAL_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_SOFTMAX_FOCAL_INL_H_SCALAR_

#include <algorithm>
#include <cmath>
#include <limits>

#include "src/losses/elementwise.h"
#include "src/losses/softmax_focal.h"

namespace losslab::detail {

// The per-row focal terms from the row sums: nll = (m - z_y) + log s,
// e_y = exp(z_y - m), s_o = sum_{c != y} exp(z_c - m). Writes the loss l and
// the gradient factor G (dl/dz_k = G (p_k - [k = y])).
template <class T>
void softmax_focal_terms(T nll, T ey, T so, T gamma, T a, T* l, T* G) {
  if (gamma == T(0)) {
    *l = a * nll;
    *G = a;
    return;
  }
  T lp, lu, ratio;  // log p_t, log(1 - p_t), log(p_t) / (1 - p_t)
  if (ey >= so) {
    const T r = so / ey;
    const T l1 = std::log1p(r);
    lp = -l1;
    lu = r > T(0) ? std::log(r) - l1 : -std::numeric_limits<T>::infinity();
    ratio = r > T(0) ? -(l1 / r) * (T(1) + r) : T(-1);
  } else {
    lp = -nll;
    const T u = -std::expm1(lp);
    lu = std::log1p(-std::exp(lp));
    ratio = lp / u;
  }
  const T f = std::exp(gamma * lu);  // (1 - p_t)^gamma
  const T p = std::exp(lp);
  const T pr = p > T(0) ? p * ratio : T(0);  // p log p -> 0 as p -> 0
  *l = a * f * (-lp);
  *G = a * f * (T(1) - gamma * pr);
}

namespace ref {

template <class T>
T softmax_focal_row(const SoftmaxFocalRowCall<T>& c, int64_t r) {
  const int64_t C = c.classes;
  const T* z = c.x + r * C;
  T* g = c.grad ? c.grad + r * C : nullptr;
  const int64_t y = c.y[r];
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
  const bool focal = c.gamma > T(0);
  T acc[kVirtualLanes] = {}, acco[kVirtualLanes] = {};
  for (int64_t k = 0; k < C; ++k) {
    const T e = std::exp(z[k] - m);
    acc[k % kVirtualLanes] += e;
    if (focal) acco[k % kVirtualLanes] += k == y ? T(0) : e;
  }
  const T s = T(combine_lanes(acc));
  const T ls = std::log(s);
  const T so = focal ? T(combine_lanes(acco)) : T(0);
  const T ey = focal ? std::exp(z[y] - m) : T(1);
  const T a = c.alpha ? c.alpha[y] : c.alpha_all;
  T l, G;
  softmax_focal_terms(T((m - z[y]) + ls), ey, so, c.gamma, a, &l, &G);
  if (g) {
    const T scale = c.gout ? c.gout[r] : c.gscale;
    const T inv_s = T(1) / s;
    for (int64_t k = 0; k < C; ++k) {
      // G scale p_k = e_k (G scale / s): one rounding, as the kernels and
      // cross_entropy's (so that gamma = 0 gives its bits).
      g[k] = std::exp(z[k] - m) * (inv_s * G * scale);
    }
    const T p = std::exp(z[y] - m) * inv_s;
    g[y] = (p * G - G) * scale;
  }
  return l;
}

inline void softmax_focal_blocks(const auto& c, int64_t b0, int64_t b1,
                                 double* partials) {
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t r0 = b * kRowBlock;
    const int64_t r1 = std::min(c.rows, r0 + kRowBlock);
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) {
      const auto l = softmax_focal_row(c, r);
      if (c.out) c.out[r] = l;
      acc += double(l);
    }
    partials[b] = acc;
  }
}

}  // namespace ref
}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_SOFTMAX_FOCAL_INL_H_SCALAR_

// ---------------------------------------------------------------------------
#if defined(LOSSLAB_SRC_LOSSES_SOFTMAX_FOCAL_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_SOFTMAX_FOCAL_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_SOFTMAX_FOCAL_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_SOFTMAX_FOCAL_INL_H_TARGET_
#endif

#include <cstring>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "src/losses/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One row; the same operations as ref::softmax_focal_row, vectorized over
// classes (the exp sums; the per-row terms are softmax_focal_terms).
template <class D>
HWY_INLINE hn::TFromD<D> SoftmaxFocalRow(
    D d, const detail::SoftmaxFocalRowCall<hn::TFromD<D>>& c, int64_t r) {
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

  // Pass 2: sum of exp(z - m) over all classes and over the classes other
  // than y, in 16 virtual lanes; the tail runs on a padded copy.
  const V vm = hn::Set(d, m);
  const bool focal = c.gamma > T(0);
  const M all = hn::FirstN(d, size_t(N));
  V acc[kL], acco[kL];
  for (size_t j = 0; j < nv; ++j) acc[j] = acco[j] = zero;
  // Lanes of the vector at class offset o other than the label's.
  auto not_y = [&](int64_t o) HWY_ATTR {
    if (y < o || y >= o + N) return all;
    return hn::Or(hn::FirstN(d, size_t(y - o)),
                  hn::Not(hn::FirstN(d, size_t(y - o + 1))));
  };
  auto add = [&](const T* zp, int64_t o, size_t j, M mask) HWY_ATTR {
    const V e =
        hn::IfThenElseZero(mask, ExpNonPos(d, hn::Sub(hn::LoadU(d, zp), vm)));
    acc[j] = hn::Add(acc[j], e);
    if (focal) acco[j] = hn::Add(acco[j], hn::IfThenElseZero(not_y(o), e));
  };
  int64_t k = 0;
  for (; k + kL <= C; k += kL) {
    for (size_t j = 0; j < nv; ++j) {
      const int64_t o = k + int64_t(j) * N;
      add(z + o, o, j, all);
    }
  }
  alignas(64) T zb[kL];
  const int64_t rem = C - k;
  if (rem > 0) {
    for (int64_t i = 0; i < kL; ++i) zb[i] = m;
    std::memcpy(zb, z + k, size_t(rem) * sizeof(T));
    for (size_t j = 0; j < nv; ++j) {
      const int64_t off = int64_t(j) * N;
      const M mask = hn::FirstN(d, size_t(rem > off ? rem - off : 0));
      add(zb + off, k + off, j, mask);
    }
  }
  alignas(64) T lanes[kL];
  for (size_t j = 0; j < nv; ++j) hn::Store(acc[j], d, lanes + j * size_t(N));
  const T s = T(detail::combine_lanes(lanes));
  const T ls = hn::GetLane(hn::Log(d, hn::Set(d, s)));
  T so = T(0), ey = T(1);
  if (focal) {
    for (size_t j = 0; j < nv; ++j) {
      hn::Store(acco[j], d, lanes + j * size_t(N));
    }
    so = T(detail::combine_lanes(lanes));
    ey = hn::GetLane(ExpNonPos(d, hn::Set(d, z[y] - m)));
  }
  const T a = c.alpha ? c.alpha[y] : c.alpha_all;
  T l, G;
  detail::softmax_focal_terms(T((m - z[y]) + ls), ey, so, c.gamma, a, &l, &G);

  // Pass 3: gradient G p_k, then the label's entry G (p_y - 1).
  if (g) {
    const T scale = c.gout ? c.gout[r] : c.gscale;
    const T inv_s = T(1) / s;
    // G scale p_k = e_k (G scale / s), as cross_entropy's e_k c1 + 0.
    const V vc1 = hn::Set(d, inv_s * G * scale);
    auto grad = [&](const T* zp, T* gp) HWY_ATTR {
      hn::StoreU(hn::Mul(ExpNonPos(d, hn::Sub(hn::LoadU(d, zp), vm)), vc1), d,
                 gp);
    };
    k = 0;
    for (; k + N <= C; k += N) grad(z + k, g + k);
    if (k < C) {
      alignas(64) T gb[kL];
      const int64_t t = C - k;
      for (int64_t i = 0; i < N; ++i) zb[i] = m;
      std::memcpy(zb, z + k, size_t(t) * sizeof(T));
      grad(zb, gb);
      std::memcpy(g + k, gb, size_t(t) * sizeof(T));
    }
    const T p = hn::GetLane(ExpNonPos(d, hn::Set(d, z[y] - m))) * inv_s;
    g[y] = (p * G - G) * scale;
  }
  return l;
}

template <class T>
HWY_NOINLINE void SoftmaxFocalBlocks(const detail::SoftmaxFocalRowCall<T>& c,
                                     int64_t b0, int64_t b1, double* partials) {
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t r0 = b * detail::kRowBlock;
    const int64_t r1 = HWY_MIN(c.rows, r0 + detail::kRowBlock);
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) {
      const T l = SoftmaxFocalRow(d, c, r);
      if (c.out) c.out[r] = l;
      acc += double(l);
    }
    partials[b] = acc;
  }
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
