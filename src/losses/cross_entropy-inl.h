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
// The gradient may be written over the logits (CeRowCall::grad == x, as
// linear_cross_entropy does with its one chunk buffer): every pass reads
// z[k] before g[k] is written, and z[y] is read once, before pass 2.
//
// Two passes (max, then sum of exp) rather than an online max-and-sum: the
// online form needs two exp per element (rescaling), the two-pass form one,
// and the second read of the row comes from L1/L2. The SIMD kernel stores
// exp(z - m) into the gradient row in pass 2 and turns it into the gradient
// in pass 3 (no scratch, one exp per logit); the scalar twin recomputes it,
// which gives the same value.

// ---------------------------------------------------------------------------
#ifndef LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_INL_H_SCALAR_

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

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

// Row r of the call, with its logits at z and its gradient (or null) at g:
// the rows of c.x and c.grad, or a widened half row (ce_blocks).
template <class T>
T ce_row(const CeRowCall<T>& c, int64_t r, const T* z, T* g) {
  const int64_t C = c.classes;
  const T* q = c.q ? c.q + r * C : nullptr;
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
    const T zy = q ? T(0) : z[y];  // grad may alias x (in-place)
    const T c1 = inv_s * A * scale, nb = -(eps_c * scale);
    for (int64_t k = 0; k < C; ++k) {
      if (q) {
        const T p = std::exp(z[k] - m) * inv_s;
        g[k] = (p * A - ce_soft_weight(c, q, k)) * scale;
      } else {
        // e_k A scale / s - w_k eps/C scale in one rounding, as the kernels.
        g[k] = std::fma(std::exp(z[k] - m), c1, c.w ? c.w[k] * nb : nb);
      }
    }
    if (!q) {
      const T p = std::exp(zy - m) * inv_s;
      const T b = (c.w ? eps_c * c.w[y] : eps_c) + oy;
      g[y] = (p * A - b) * scale;
    }
  }
  return l;
}

// Half logits (c.half_in): row r widened into the float32 row scratch zs
// (exact), the gradient written over it and rounded into c.gh, or written to
// c.grad (float32) directly.
inline float* ce_half_row(const CeRowCall<float>& c, int64_t r, float* zs) {
  const int64_t C = c.classes;
  const uint16_t* h = c.xh + r * C;
  if (c.half_in == kHalfBf16) {
    for (int64_t k = 0; k < C; ++k) zs[k] = bf16_to_f32(h[k]);
  } else {
    for (int64_t k = 0; k < C; ++k) zs[k] = f16_to_f32(h[k]);
  }
  return c.grad ? c.grad + r * C : (c.gh ? zs : nullptr);
}
inline void ce_half_row_done(const CeRowCall<float>& c, int64_t r,
                             const float* zs) {
  if (!c.gh || c.grad) return;
  const int64_t C = c.classes;
  uint16_t* h = c.gh + r * C;
  if (c.half_in == kHalfBf16) {
    for (int64_t k = 0; k < C; ++k) h[k] = f32_to_bf16(zs[k]);
  } else {
    for (int64_t k = 0; k < C; ++k) h[k] = f32_to_f16(zs[k]);
  }
}

template <class T>
void ce_blocks(const CeRowCall<T>& c, int64_t b0, int64_t b1,
               double* partials) {
  std::vector<T> zs;
  if constexpr (sizeof(T) == 4) {
    if (c.half_in) zs.resize(size_t(c.classes));
  }
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t r0 = b * kRowBlock;
    const int64_t r1 = std::min(c.rows, r0 + kRowBlock);
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) {
      T l;
      if constexpr (sizeof(T) == 4) {
        if (c.half_in) {
          float* g = ce_half_row(c, r, zs.data());
          l = ce_row(c, r, zs.data(), g);
          ce_half_row_done(c, r, zs.data());
        } else {
          l = ce_row(c, r, c.x + r * c.classes,
                     c.grad ? c.grad + r * c.classes : nullptr);
        }
      } else {
        l = ce_row(c, r, c.x + r * c.classes,
                   c.grad ? c.grad + r * c.classes : nullptr);
      }
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
#include "src/losses/elementwise-inl.h"  // LoadHalfAsF32, StoreF32AsHalf
#include "src/losses/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One row; the same operations as ref::ce_row, vectorized over classes.
// kHalf = 0: z holds T logits. kHalf = detail::kHalfBf16 / kHalfF16 (float32
// only): z holds the row in that format, converted in registers (exact);
// g is then a float32 row of scratch or the float32 gradient row, and when
// gh is not null the gradient is rounded into gh (nearest even) instead of
// being left in g. The arithmetic is the float32 path's, so the results are
// bitwise those of the widened row.
template <int kHalf = 0, class D>
HWY_INLINE hn::TFromD<D> CeRow(D d, const detail::CeRowCall<hn::TFromD<D>>& c,
                               int64_t r, const void* zraw, hn::TFromD<D>* g,
                               uint16_t* gh = nullptr,
                               const void* next_z = nullptr) {
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  using M = hn::Mask<D>;
  static_assert(kHalf == 0 || sizeof(T) == 4);
  constexpr int64_t kL = detail::kVirtualLanes;
  const int64_t N = int64_t(hn::Lanes(d));
  const size_t nv = size_t(kL / N);
  const int64_t C = c.classes;
  const T* q = c.q ? c.q + r * C : nullptr;
  const int64_t y = q ? 0 : c.y[r];
  const T inf = std::numeric_limits<T>::infinity();
  const V zero = hn::Zero(d);
  const T* z = static_cast<const T*>(zraw);
  const uint16_t* zh = static_cast<const uint16_t*>(zraw);
  // Logit k (scalar) and the vector of logits at k.
  auto zat = [&](int64_t k) -> T {
    if constexpr (kHalf == detail::kHalfBf16) {
      return detail::bf16_to_f32(zh[k]);
    } else if constexpr (kHalf == detail::kHalfF16) {
      return detail::f16_to_f32(zh[k]);
    } else {
      return z[k];
    }
  };
  auto zload = [&](int64_t k) HWY_ATTR -> V {
    if constexpr (kHalf == 0) {
      return hn::LoadU(d, z + k);
    } else {
      return LoadHalfAsF32<kHalf>(d, zh + k);
    }
  };
  auto fill = [&](T v) {
    if (gh) {
      const uint16_t hv = kHalf == detail::kHalfBf16 ? detail::f32_to_bf16(v)
                                                     : detail::f32_to_f16(v);
      std::fill(gh, gh + C, hv);
    } else if (g) {
      std::fill(g, g + C, v);
    }
  };
  if (y < 0) {
    fill(T(0));
    return T(0);
  }

  // Pass 1: row max and NaN detection.
  T m;
  bool nan;
  if constexpr (kHalf == 0) {
    nan = RowMaxAndNaN(d, z, C, &m);
  } else {
    V vmax = hn::Set(d, -inf);
    auto nanm = hn::FirstN(d, 0);
    int64_t k = 0;
    for (; k + N <= C; k += N) {
      const V v = zload(k);
      vmax = hn::Max(vmax, v);
      nanm = hn::Or(nanm, hn::IsNaN(v));
    }
    m = hn::GetLane(hn::MaxOfLanes(d, vmax));
    nan = !hn::AllFalse(d, nanm);
    for (; k < C; ++k) {
      const T v = zat(k);
      m = v > m ? v : m;
      nan = nan || v != v;
    }
  }
  if (nan || !(m < inf) || !(m > -inf)) {
    fill(std::numeric_limits<T>::quiet_NaN());
    return std::numeric_limits<T>::quiet_NaN();
  }

  // Pass 2: sum of exp(z - m) (and of w_c (m - z_c) for smoothing, or of
  // t_c (m - z_c) and t_c for probability targets) in 16 virtual lanes; the
  // tail runs on a padded copy with the padding masked. When the gradient is
  // wanted, exp(z - m) is also stored into it, and pass 3 reads it back
  // instead of evaluating exp again (one exp per logit instead of two; the
  // row is in L1/L2). z_y is read first, since g may alias z. (Streaming
  // stores of the gradient from pass 3, through a scratch row, measured 12%
  // slower at 2048 x 32768: they come in a burst that the write-combining
  // buffers drain at memory speed; see docs/performance.md.)
  const T zy = q ? T(0) : zat(y);
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
  // z - m <= 0 (or -inf) here: the row holds no NaN or +inf, so ExpNonPos
  // applies (within 1 ulp of ExpSafe; softmax_focal_loss uses it too, so
  // that gamma = 0 gives cross_entropy's bits).
  auto exp_shifted = [&](V v) HWY_ATTR { return ExpNonPos(d, hn::Sub(v, vm)); };
  auto add = [&](V v, const T* wp, const T* qp, T* ep, size_t j,
                 M mask) HWY_ATTR {
    const V e = exp_shifted(v);
    if (ep) hn::StoreU(e, d, ep);
    acc[j] = hn::Add(acc[j], hn::IfThenElseZero(mask, e));
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
  // Pass 1 of a row reads it from memory while the core waits, and passes 2
  // and 3 compute from L2 while memory idles. Prefetching the next row's
  // line for each vector here overlaps the two (the row is C lines' worth of
  // vectors, one line each in float32), so that its pass 1 finds it in the
  // cache: 12% less time at 2048 x 32768 on 1 thread.
  const char* pf = static_cast<const char*>(next_z);
  constexpr int64_t kZBytes = kHalf == 0 ? int64_t(sizeof(T)) : 2;
  int64_t k = 0;
  for (; k + kL <= C; k += kL) {
    if (pf) hwy::Prefetch(pf + k * kZBytes);
    for (size_t j = 0; j < nv; ++j) {
      const int64_t o = k + int64_t(j) * N;
      add(zload(o), c.w ? c.w + o : nullptr, q ? q + o : nullptr,
          g ? g + o : nullptr, j, all);
    }
  }
  alignas(64) T zb[kL], wb[kL], qb[kL], eb[kL];
  const int64_t rem = C - k;
  if (rem > 0) {
    for (int64_t i = 0; i < kL; ++i) {
      zb[i] = m;
      wb[i] = T(0);
      qb[i] = T(0);
    }
    for (int64_t i = 0; i < rem; ++i) zb[i] = zat(k + i);
    if (c.w) std::memcpy(wb, c.w + k, size_t(rem) * sizeof(T));
    if (q) std::memcpy(qb, q + k, size_t(rem) * sizeof(T));
    for (size_t j = 0; j < nv; ++j) {
      const int64_t off = int64_t(j) * N;
      const M mask = hn::FirstN(d, size_t(rem > off ? rem - off : 0));
      add(hn::LoadU(d, zb + off), c.w ? wb + off : nullptr,
          q ? qb + off : nullptr, eb + off, j, mask);
    }
    if (g) std::memcpy(g + k, eb, size_t(rem) * sizeof(T));
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
    l = oy * ((m - zy) + ls);
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
  // the label's entry; g holds exp(z - m) from pass 2.
  if (g) {
    const T scale = c.gout ? c.gout[r] : c.gscale;
    const T inv_s = T(1) / s;
    const V vinv = hn::Set(d, inv_s), vA = hn::Set(d, A),
            vscale = hn::Set(d, scale);
    // Class-index targets: g_k = e_k c1 + nb_k with c1 = A scale / s and
    // nb_k = -w_k eps/C scale, one fused multiply-add per logit (as
    // ref::ce_row, with std::fma).
    const V vc1 = hn::Set(d, inv_s * A * scale),
            vnb = hn::Set(d, -(eps_c * scale));
    auto gvec = [&](const T* ep, const T* wp, const T* qp) HWY_ATTR {
      if (!qp) {
        const V nb = wp ? hn::Mul(hn::LoadU(d, wp), vnb) : vnb;
        return hn::MulAdd(hn::LoadU(d, ep), vc1, nb);
      }
      const V p = hn::Mul(hn::LoadU(d, ep), vinv);
      return hn::Mul(hn::Sub(hn::Mul(p, vA), soft_weight(qp, wp)), vscale);
    };
    auto grad = [&](const T* ep, const T* wp, const T* qp, T* gp)
                    HWY_ATTR { hn::StoreU(gvec(ep, wp, qp), d, gp); };
    auto to_half = [&](T v) -> uint16_t {
      return kHalf == detail::kHalfBf16 ? detail::f32_to_bf16(v)
                                        : detail::f32_to_f16(v);
    };
    // The label's entry (p_y A - B_y) scale, as ref::ce_row, with p_y from
    // pass 2's exp(z_y - m), read before pass 3 overwrites it.
    T gy = T(0);
    if (!q) {
      const T b = (c.w ? eps_c * c.w[y] : eps_c) + oy;
      gy = (g[y] * inv_s * A - b) * scale;
    }
    k = 0;
    if constexpr (kHalf != 0) {
      if (gh) {
        for (; k + N <= C; k += N) {
          StoreF32AsHalf<kHalf>(
              d, gvec(g + k, c.w ? c.w + k : nullptr, q ? q + k : nullptr),
              gh + k);
        }
      }
    }
    for (; k + N <= C; k += N) {
      grad(g + k, c.w ? c.w + k : nullptr, q ? q + k : nullptr, g + k);
    }
    if (k < C) {
      alignas(64) T gb[kL];
      const int64_t t = C - k;
      for (int64_t i = 0; i < N; ++i) {
        eb[i] = T(1);
        wb[i] = T(0);
        qb[i] = T(0);
      }
      std::memcpy(eb, g + k, size_t(t) * sizeof(T));
      if (c.w) std::memcpy(wb, c.w + k, size_t(t) * sizeof(T));
      if (q) std::memcpy(qb, q + k, size_t(t) * sizeof(T));
      grad(eb, c.w ? wb : nullptr, q ? qb : nullptr, gb);
      if (gh) {
        for (int64_t i = 0; i < t; ++i) gh[k + i] = to_half(gb[i]);
      } else {
        std::memcpy(g + k, gb, size_t(t) * sizeof(T));
      }
    }
    if (!q) {
      if (gh) {
        gh[y] = to_half(gy);
      } else {
        g[y] = gy;
      }
    }
  }
  return l;
}

template <class T>
HWY_NOINLINE void CeBlocks(const detail::CeRowCall<T>& c, int64_t b0,
                           int64_t b1, double* partials) {
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  const int64_t C = c.classes;
  // Half logits: converted in registers (CeRow<kHalf>); one float32 row of
  // scratch per call holds exp(z - m) between passes 2 and 3 when the
  // gradient is rounded to the half format (or not wanted).
  std::vector<T> zs;
  if constexpr (sizeof(T) == 4) {
    if (c.half_in) zs.resize(size_t(C));
  }
  // The last row this call runs: the rows of blocks [b0, b1) are
  // consecutive, so each row prefetches the next one up to there.
  const int64_t r_end = HWY_MIN(c.rows, b1 * detail::kRowBlock);
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t r0 = b * detail::kRowBlock;
    const int64_t r1 = HWY_MIN(c.rows, r0 + detail::kRowBlock);
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) {
      T l;
      if constexpr (sizeof(T) == 4) {
        if (c.half_in) {
          // Gradient: float32 row of c.grad, else the scratch row, rounded
          // into c.gh; without a gradient pass 3 does not run.
          float* g = c.grad ? c.grad + r * C : (c.gh ? zs.data() : nullptr);
          uint16_t* gh = c.grad || !c.gh ? nullptr : c.gh + r * C;
          const uint16_t* zr = c.xh + r * C;
          const uint16_t* zn = r + 1 < r_end ? zr + C : nullptr;
          l = c.half_in == detail::kHalfBf16
                  ? CeRow<detail::kHalfBf16>(d, c, r, zr, g, gh, zn)
                  : CeRow<detail::kHalfF16>(d, c, r, zr, g, gh, zn);
        } else {
          l = CeRow(d, c, r, c.x + r * C, c.grad ? c.grad + r * C : nullptr,
                    nullptr, r + 1 < r_end ? c.x + (r + 1) * C : nullptr);
        }
      } else {
        l = CeRow(d, c, r, c.x + r * C, c.grad ? c.grad + r * C : nullptr,
                  nullptr, r + 1 < r_end ? c.x + (r + 1) * C : nullptr);
      }
      if (c.out) c.out[r] = l;
      acc += double(l);
    }
    partials[b] = acc;
  }
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
