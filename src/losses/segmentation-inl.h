// Segmentation kernels: the scalar twins and the SIMD versions, side by side.
//
// Forward (per pixel, vectorized over pixels; the class dimension has stride
// S): probabilities p from the input x, multiplied by the pixel's valid flag
// v (1, or 0 where the target is ignored):
//   identity  p = x v                               (from_logits = false)
//   sigmoid   e = exp(-|x|), r = 1 / (1 + e), p = (x >= 0 ? r : e r) v
//             (never overflows; sigma(0) = 1/2 exactly)
//   softmax   m = max_k x_k, e_k = exp(x_k - m), p_k = e_k (1 / sum_k e_k) v
//             (invariant to adding a constant over the classes)
// Sums (per plane, 16 virtual lanes): I = sum p t, P = sum p, T = sum t.
// Backward (per pixel): with the loss's coefficients a, b of the pixel's
// (image, class), dL/dp_k = (a_k t_k + b_k) v, and
//   identity  dL/dx_k = dL/dp_k
//   sigmoid   dL/dx_k = dL/dp_k p_k (1 - p_k)
//   softmax   dL/dx_k = p_k (dL/dp_k - sum_j p_j dL/dp_j)
// The twin performs the same IEEE operations in the same order as the SIMD
// code; the sums and the identity path are therefore bitwise equal on every
// target, the exp paths agree within a few ULP (Highway's Exp is a
// polynomial; the twin calls std::exp). Inputs are finite (checked by the op
// layer), so x - m lies in [-max, 0], inside the vector Exp's range.

// ---------------------------------------------------------------------------
#ifndef LOSSLAB_SRC_LOSSES_SEGMENTATION_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_SEGMENTATION_INL_H_SCALAR_

#include <algorithm>
#include <cmath>

#include "src/losses/elementwise.h"
#include "src/losses/segmentation.h"

namespace losslab::detail::ref {

template <class T>
void seg_forward(const SegFwdCall<T>& c, int64_t b0, int64_t b1) {
  const int64_t C = c.c, S = c.s, nsb = (S + kBlock - 1) / kBlock;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t img = b / nsb, s0 = (b % nsb) * kBlock;
    const int64_t s1 = std::min(S, s0 + kBlock);
    const T* x = c.x + img * C * S;
    T* p = c.p + img * C * S;
    for (int64_t s = s0; s < s1; ++s) {
      const T v = c.valid ? c.valid[img * S + s] : T(1);
      if (c.act == SegAct::kIdentity) {
        for (int64_t k = 0; k < C; ++k) p[k * S + s] = x[k * S + s] * v;
      } else if (c.act == SegAct::kSigmoid) {
        for (int64_t k = 0; k < C; ++k) {
          const T z = x[k * S + s];
          const T e = std::exp(-std::abs(z));
          const T r = T(1) / (T(1) + e);
          p[k * S + s] = (z >= T(0) ? r : e * r) * v;
        }
      } else {
        T m = x[s];
        for (int64_t k = 1; k < C; ++k) m = std::max(m, x[k * S + s]);
        T sum = T(0);
        for (int64_t k = 0; k < C; ++k) {
          const T e = std::exp(x[k * S + s] - m);
          p[k * S + s] = e;
          sum = sum + e;
        }
        const T inv = T(1) / sum;
        for (int64_t k = 0; k < C; ++k) p[k * S + s] = p[k * S + s] * inv * v;
      }
    }
  }
}

template <class T>
void seg_sums(const SegSumCall<T>& c, int64_t b0, int64_t b1) {
  const int64_t S = c.s, nsb = (S + kBlock - 1) / kBlock;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t plane = b / nsb, s0 = (b % nsb) * kBlock;
    const int64_t s1 = std::min(S, s0 + kBlock);
    const T* p = c.p + plane * S;
    const T* t = c.t + plane * S;
    T ai[kVirtualLanes] = {}, ap[kVirtualLanes] = {}, at[kVirtualLanes] = {};
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t j = (s - s0) % kVirtualLanes;
      ai[j] = ai[j] + p[s] * t[s];
      ap[j] = ap[j] + p[s];
      at[j] = at[j] + t[s];
    }
    c.partials[3 * b] = combine_lanes(ai);
    c.partials[3 * b + 1] = combine_lanes(ap);
    c.partials[3 * b + 2] = combine_lanes(at);
  }
}

template <class T>
void seg_backward(const SegBwdCall<T>& c, int64_t b0, int64_t b1) {
  const int64_t C = c.c, S = c.s, nsb = (S + kBlock - 1) / kBlock;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t img = b / nsb, s0 = (b % nsb) * kBlock;
    const int64_t s1 = std::min(S, s0 + kBlock);
    const T* p = c.p + img * C * S;
    const T* t = c.t + img * C * S;
    const T* a = c.a + img * C;
    const T* bb = c.b + img * C;
    T* g = c.grad + img * C * S;
    for (int64_t s = s0; s < s1; ++s) {
      const T v = c.valid ? c.valid[img * S + s] : T(1);
      if (c.act == SegAct::kSoftmax) {
        T dot = T(0);
        for (int64_t k = 0; k < C; ++k) {
          const T gp = (a[k] * t[k * S + s] + bb[k]) * v;
          g[k * S + s] = gp;
          dot = dot + p[k * S + s] * gp;
        }
        for (int64_t k = 0; k < C; ++k) {
          g[k * S + s] = p[k * S + s] * (g[k * S + s] - dot);
        }
      } else {
        for (int64_t k = 0; k < C; ++k) {
          const T gp = (a[k] * t[k * S + s] + bb[k]) * v;
          const T q = p[k * S + s];
          g[k * S + s] = c.act == SegAct::kSigmoid ? gp * (q * (T(1) - q)) : gp;
        }
      }
    }
  }
}

}  // namespace losslab::detail::ref

#endif  // LOSSLAB_SRC_LOSSES_SEGMENTATION_INL_H_SCALAR_

// ---------------------------------------------------------------------------
#if defined(LOSSLAB_SRC_LOSSES_SEGMENTATION_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_SEGMENTATION_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_SEGMENTATION_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_SEGMENTATION_INL_H_TARGET_
#endif

#include <cstring>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "src/losses/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Forward for the Lanes(d) pixels starting at s of one image (x, p, v point
// at the image); the tail runs the same code with a one-lane tag.
template <class D>
HWY_INLINE void SegFwdPixels(D d, detail::SegAct act, const hn::TFromD<D>* x,
                             hn::TFromD<D>* p, const hn::TFromD<D>* vp,
                             int64_t C, int64_t S, int64_t s) {
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  const V one = hn::Set(d, T(1));
  const V v = vp ? hn::LoadU(d, vp + s) : one;
  if (act == detail::SegAct::kIdentity) {
    for (int64_t k = 0; k < C; ++k) {
      hn::StoreU(hn::Mul(hn::LoadU(d, x + k * S + s), v), d, p + k * S + s);
    }
  } else if (act == detail::SegAct::kSigmoid) {
    const V zero = hn::Zero(d);
    for (int64_t k = 0; k < C; ++k) {
      const V z = hn::LoadU(d, x + k * S + s);
      const V e = ExpSafe(d, hn::Neg(hn::Abs(z)));
      const V r = hn::Div(one, hn::Add(one, e));
      const V q = hn::IfThenElse(hn::Ge(z, zero), r, hn::Mul(e, r));
      hn::StoreU(hn::Mul(q, v), d, p + k * S + s);
    }
  } else {
    V m = hn::LoadU(d, x + s);
    for (int64_t k = 1; k < C; ++k) m = hn::Max(m, hn::LoadU(d, x + k * S + s));
    V sum = hn::Zero(d);
    for (int64_t k = 0; k < C; ++k) {
      const V e = ExpSafe(d, hn::Sub(hn::LoadU(d, x + k * S + s), m));
      hn::StoreU(e, d, p + k * S + s);
      sum = hn::Add(sum, e);
    }
    const V inv = hn::Div(one, sum);
    for (int64_t k = 0; k < C; ++k) {
      hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, p + k * S + s), inv), v), d,
                 p + k * S + s);
    }
  }
}

template <class T>
HWY_NOINLINE void SegForward(const detail::SegFwdCall<T>& c, int64_t b0,
                             int64_t b1) {
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  const hn::CappedTag<T, 1> d1;
  const int64_t N = int64_t(hn::Lanes(d));
  const int64_t C = c.c, S = c.s,
                nsb = (S + detail::kBlock - 1) / detail::kBlock;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t img = b / nsb, s0 = (b % nsb) * detail::kBlock;
    const int64_t s1 = HWY_MIN(S, s0 + detail::kBlock);
    const T* x = c.x + img * C * S;
    T* p = c.p + img * C * S;
    const T* v = c.valid ? c.valid + img * S : nullptr;
    int64_t s = s0;
    for (; s + N <= s1; s += N) SegFwdPixels(d, c.act, x, p, v, C, S, s);
    for (; s < s1; ++s) SegFwdPixels(d1, c.act, x, p, v, C, S, s);
  }
}

template <class T>
HWY_NOINLINE void SegSums(const detail::SegSumCall<T>& c, int64_t b0,
                          int64_t b1) {
  using D = hn::CappedTag<T, detail::kVirtualLanes>;
  using V = hn::Vec<D>;
  const D d;
  constexpr int64_t kL = detail::kVirtualLanes;
  const size_t N = hn::Lanes(d), nv = kL / N;
  const int64_t S = c.s, nsb = (S + detail::kBlock - 1) / detail::kBlock;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t plane = b / nsb, s0 = (b % nsb) * detail::kBlock;
    const int64_t s1 = HWY_MIN(S, s0 + detail::kBlock);
    const T* p = c.p + plane * S;
    const T* t = c.t + plane * S;
    V ai[kL], ap[kL], at[kL];
    for (size_t j = 0; j < nv; ++j) ai[j] = ap[j] = at[j] = hn::Zero(d);
    auto add = [&](const T* pp, const T* tp, size_t j) HWY_ATTR {
      const V pv = hn::LoadU(d, pp), tv = hn::LoadU(d, tp);
      ai[j] = hn::Add(ai[j], hn::Mul(pv, tv));
      ap[j] = hn::Add(ap[j], pv);
      at[j] = hn::Add(at[j], tv);
    };
    int64_t s = s0;
    for (; s + kL <= s1; s += kL) {
      for (size_t j = 0; j < nv; ++j) add(p + s + j * N, t + s + j * N, j);
    }
    if (s < s1) {
      // Zero padding adds exactly nothing to any lane.
      alignas(64) T pb[kL] = {}, tb[kL] = {};
      std::memcpy(pb, p + s, size_t(s1 - s) * sizeof(T));
      std::memcpy(tb, t + s, size_t(s1 - s) * sizeof(T));
      for (size_t j = 0; j < nv; ++j) add(pb + j * N, tb + j * N, j);
    }
    alignas(64) T lanes[kL];
    for (size_t j = 0; j < nv; ++j) hn::Store(ai[j], d, lanes + j * N);
    c.partials[3 * b] = detail::combine_lanes(lanes);
    for (size_t j = 0; j < nv; ++j) hn::Store(ap[j], d, lanes + j * N);
    c.partials[3 * b + 1] = detail::combine_lanes(lanes);
    for (size_t j = 0; j < nv; ++j) hn::Store(at[j], d, lanes + j * N);
    c.partials[3 * b + 2] = detail::combine_lanes(lanes);
  }
}

template <class D>
HWY_INLINE void SegBwdPixels(D d, const detail::SegBwdCall<hn::TFromD<D>>& c,
                             const hn::TFromD<D>* p, const hn::TFromD<D>* t,
                             const hn::TFromD<D>* vp, const hn::TFromD<D>* a,
                             const hn::TFromD<D>* bb, hn::TFromD<D>* g,
                             int64_t s) {
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  const int64_t C = c.c, S = c.s;
  const V one = hn::Set(d, T(1));
  const V v = vp ? hn::LoadU(d, vp + s) : one;
  auto gp_of = [&](int64_t k) HWY_ATTR {
    return hn::Mul(
        hn::Add(hn::Mul(hn::Set(d, a[k]), hn::LoadU(d, t + k * S + s)),
                hn::Set(d, bb[k])),
        v);
  };
  if (c.act == detail::SegAct::kSoftmax) {
    V dot = hn::Zero(d);
    for (int64_t k = 0; k < C; ++k) {
      const V gp = gp_of(k);
      hn::StoreU(gp, d, g + k * S + s);
      dot = hn::Add(dot, hn::Mul(hn::LoadU(d, p + k * S + s), gp));
    }
    for (int64_t k = 0; k < C; ++k) {
      const V gp = hn::LoadU(d, g + k * S + s);
      hn::StoreU(hn::Mul(hn::LoadU(d, p + k * S + s), hn::Sub(gp, dot)), d,
                 g + k * S + s);
    }
  } else {
    const bool sig = c.act == detail::SegAct::kSigmoid;
    for (int64_t k = 0; k < C; ++k) {
      V gp = gp_of(k);
      if (sig) {
        const V q = hn::LoadU(d, p + k * S + s);
        gp = hn::Mul(gp, hn::Mul(q, hn::Sub(one, q)));
      }
      hn::StoreU(gp, d, g + k * S + s);
    }
  }
}

template <class T>
HWY_NOINLINE void SegBackward(const detail::SegBwdCall<T>& c, int64_t b0,
                              int64_t b1) {
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  const hn::CappedTag<T, 1> d1;
  const int64_t N = int64_t(hn::Lanes(d));
  const int64_t C = c.c, S = c.s,
                nsb = (S + detail::kBlock - 1) / detail::kBlock;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t img = b / nsb, s0 = (b % nsb) * detail::kBlock;
    const int64_t s1 = HWY_MIN(S, s0 + detail::kBlock);
    const T* p = c.p + img * C * S;
    const T* t = c.t + img * C * S;
    const T* v = c.valid ? c.valid + img * S : nullptr;
    const T* a = c.a + img * C;
    const T* bb = c.b + img * C;
    T* g = c.grad + img * C * S;
    int64_t s = s0;
    for (; s + N <= s1; s += N) SegBwdPixels(d, c, p, t, v, a, bb, g, s);
    for (; s < s1; ++s) SegBwdPixels(d1, c, p, t, v, a, bb, g, s);
  }
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
