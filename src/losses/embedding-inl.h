// Embedding-loss row primitives: the scalar twins and the Highway SIMD
// versions, side by side. With x_k = a_k - b_k + eps over one row of D:
//
//   dot       sum_k a_k b_k
//   diff_sum  sum_k phi(x_k),   phi = |x| (p = 1), x^2 (p = 2), |x|^p
//   diff_grad ga_k += t_k, gb_k -= t_k,  t_k = scale * phi'(x_k) with
//             phi' = sign(x) (sign(0) = 0), x, sign(x) |x|^(p - 1) (0 at 0)
//   axpy      y_k += s x_k
//
// The op layer turns these sums into distances (root, per-row scale of the
// norm's gradient), so the kernels stay free of per-loss logic. Reductions
// use the 16-virtual-lane layout of elementwise.h: element k goes to lane
// k mod 16, lanes are combined by combine_lanes; the SIMD tail runs on
// zero-padded copies and leaves the padded lanes untouched (masked add), so
// the twin and every target add the same numbers in the same order. Products
// and sums are separate Mul and Add (never MulAdd), so dot, the p = 1 / p = 2
// sums, diff_grad (p = 1, 2) and axpy are bitwise identical on every target.
// The general-p power is std::pow in the twin and exp(p log|x|) (Highway's
// Exp/Log, 1-4 ulp, IEEE limits selected explicitly) in SIMD: within a few
// ulp, not bitwise.

// ---------------------------------------------------------------------------
#ifndef LOSSLAB_SRC_LOSSES_EMBEDDING_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_EMBEDDING_INL_H_SCALAR_

#include <cmath>
#include <cstdint>
#include <limits>

#include "src/losses/elementwise.h"
#include "src/losses/embedding.h"

namespace losslab::detail::ref {

template <class T>
T emb_phi(T x, T p, EmbNorm kind) {
  if (kind == EmbNorm::kL2) return x * x;
  if (kind == EmbNorm::kL1) return std::abs(x);
  const T a = std::abs(x);
  return a == T(0) ? T(0) : std::pow(a, p);
}

// phi'(x) (for p = 2 the derivative of x^2 / 2, i.e. x).
template <class T>
T emb_dphi(T x, T pm1, EmbNorm kind) {
  if (kind == EmbNorm::kL2) return x;
  if (x != x) return x;
  if (x == T(0)) return T(0);
  if (kind == EmbNorm::kL1) return x > T(0) ? T(1) : T(-1);
  return std::copysign(std::pow(std::abs(x), pm1), x);
}

template <class T>
T emb_dot(const T* a, const T* b, int64_t d) {
  T acc[kVirtualLanes] = {};
  for (int64_t k = 0; k < d; ++k) acc[k % kVirtualLanes] += a[k] * b[k];
  return T(combine_lanes(acc));
}

template <class T>
T emb_diff_sum(const T* a, const T* b, int64_t d, T eps, T p, EmbNorm kind) {
  T acc[kVirtualLanes] = {};
  for (int64_t k = 0; k < d; ++k) {
    acc[k % kVirtualLanes] += emb_phi((a[k] - b[k]) + eps, p, kind);
  }
  return T(combine_lanes(acc));
}

template <class T>
void emb_diff_grad(const T* a, const T* b, int64_t d, T eps, T p, EmbNorm kind,
                   T scale, T* ga, T* gb) {
  const T pm1 = p - T(1);
  for (int64_t k = 0; k < d; ++k) {
    const T t = scale * emb_dphi((a[k] - b[k]) + eps, pm1, kind);
    ga[k] = ga[k] + t;
    if (gb) gb[k] = gb[k] - t;
  }
}

template <class T>
void emb_axpy(T* y, T s, const T* x, int64_t d) {
  for (int64_t k = 0; k < d; ++k) y[k] = y[k] + s * x[k];
}

}  // namespace losslab::detail::ref

#endif  // LOSSLAB_SRC_LOSSES_EMBEDDING_INL_H_SCALAR_

// ---------------------------------------------------------------------------
#if defined(LOSSLAB_SRC_LOSSES_EMBEDDING_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_EMBEDDING_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_EMBEDDING_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_EMBEDDING_INL_H_TARGET_
#endif

#include <cstring>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "src/losses/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// |x|^q = exp(q log|x|) for |x| > 0 (0 at 0, NaN kept). Highway's Log is
// specified on (0, max] and Exp on [-max, 104] (float): other lanes get a
// harmless 1 before the polynomial and their IEEE result is selected after.
template <class D, class V>
HWY_INLINE V EmbAbsPow(D d, V x, V q) {
  using T = hn::TFromD<D>;
  const V inf = hn::Set(d, std::numeric_limits<T>::infinity());
  const V zero = hn::Zero(d);
  const V a = hn::Abs(x);
  const auto ok = hn::And(hn::Gt(a, zero), hn::Lt(a, inf));
  const V e = hn::Mul(q, hn::Log(d, hn::IfThenElse(ok, a, hn::Set(d, 1))));
  const V max_log = hn::Set(d, T(std::log(std::numeric_limits<T>::max())));
  const V min_log = hn::Set(d, T(std::log(std::numeric_limits<T>::min())) -
                                   T(30));  // well into the denormals
  V r = ExpSafe(d, hn::Min(hn::Max(e, min_log), max_log));
  r = hn::IfThenElse(hn::Gt(e, max_log), inf, r);
  r = hn::IfThenZeroElse(hn::Lt(e, min_log), r);
  // |x| = 0 -> 0; |x| = inf -> inf (q > 0) or 0 (q < 0); NaN -> NaN.
  const V at_inf = hn::IfThenElse(hn::Gt(q, zero), inf, zero);
  r = hn::IfThenElse(ok, r, hn::IfThenElse(hn::Eq(a, inf), at_inf, zero));
  // IsNaN, not Ne(x, x): Highway's Ne is an ordered compare on x86 (false
  // for NaN), which would turn a NaN lane into a finite value.
  return hn::IfThenElse(hn::IsNaN(x), x, r);
}

template <class D, class V>
HWY_INLINE V EmbPhi(D d, V x, V p, detail::EmbNorm kind) {
  if (kind == detail::EmbNorm::kL2) return hn::Mul(x, x);
  if (kind == detail::EmbNorm::kL1) return hn::Abs(x);
  return EmbAbsPow(d, x, p);
}

template <class D, class V>
HWY_INLINE V EmbDphi(D d, V x, V pm1, detail::EmbNorm kind) {
  if (kind == detail::EmbNorm::kL2) return x;
  const V zero = hn::Zero(d);
  V mag = kind == detail::EmbNorm::kL1 ? hn::Set(d, 1) : EmbAbsPow(d, x, pm1);
  V r = hn::IfThenZeroElse(hn::Eq(x, zero), hn::CopySign(mag, x));
  // IsNaN, not Ne(x, x): Highway's Ne is an ordered compare on x86 (false
  // for NaN), which would turn a NaN lane into a finite value.
  return hn::IfThenElse(hn::IsNaN(x), x, r);
}

// Row sum of term(a + k, b + k) in the 16-virtual-lane layout.
template <class D, class Term>
HWY_INLINE hn::TFromD<D> LaneSum(D d, const hn::TFromD<D>* a,
                                 const hn::TFromD<D>* b, int64_t n,
                                 const Term& term) {
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  constexpr int64_t kL = detail::kVirtualLanes;
  const int64_t N = int64_t(hn::Lanes(d));
  const size_t nv = size_t(kL / N);
  V acc[kL];
  for (size_t j = 0; j < nv; ++j) acc[j] = hn::Zero(d);
  int64_t k = 0;
  for (; k + kL <= n; k += kL) {
    for (size_t j = 0; j < nv; ++j) {
      const int64_t o = k + int64_t(j) * N;
      acc[j] = hn::Add(acc[j], term(a + o, b + o));
    }
  }
  const int64_t rem = n - k;
  if (rem > 0) {
    alignas(64) T ab[kL] = {}, bb[kL] = {};
    std::memcpy(ab, a + k, size_t(rem) * sizeof(T));
    std::memcpy(bb, b + k, size_t(rem) * sizeof(T));
    for (size_t j = 0; j < nv; ++j) {
      const int64_t off = int64_t(j) * N;
      const auto mask = hn::FirstN(d, size_t(rem > off ? rem - off : 0));
      acc[j] = hn::IfThenElse(mask, hn::Add(acc[j], term(ab + off, bb + off)),
                              acc[j]);
    }
  }
  alignas(64) T lanes[kL];
  for (size_t j = 0; j < nv; ++j) hn::Store(acc[j], d, lanes + j * size_t(N));
  return T(detail::combine_lanes(lanes));
}

template <class T>
HWY_NOINLINE T EmbDot(const T* a, const T* b, int64_t n) {
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  return LaneSum(d, a, b, n, [&](const T* pa, const T* pb) HWY_ATTR {
    return hn::Mul(hn::LoadU(d, pa), hn::LoadU(d, pb));
  });
}

template <class T>
HWY_NOINLINE T EmbDiffSum(const T* a, const T* b, int64_t n, T eps, T p,
                          detail::EmbNorm kind) {
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  const auto veps = hn::Set(d, eps), vp = hn::Set(d, p);
  return LaneSum(d, a, b, n, [&](const T* pa, const T* pb) HWY_ATTR {
    const auto x = hn::Add(hn::Sub(hn::LoadU(d, pa), hn::LoadU(d, pb)), veps);
    return EmbPhi(d, x, vp, kind);
  });
}

template <class T>
HWY_NOINLINE void EmbDiffGrad(const T* a, const T* b, int64_t n, T eps, T p,
                              detail::EmbNorm kind, T scale, T* ga, T* gb) {
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto veps = hn::Set(d, eps), vpm1 = hn::Set(d, p - T(1)),
             vs = hn::Set(d, scale);
  auto step = [&](const T* pa, const T* pb, T* pga, T* pgb) HWY_ATTR {
    const auto x = hn::Add(hn::Sub(hn::LoadU(d, pa), hn::LoadU(d, pb)), veps);
    const auto t = hn::Mul(vs, EmbDphi(d, x, vpm1, kind));
    hn::StoreU(hn::Add(hn::LoadU(d, pga), t), d, pga);
    if (pgb) hn::StoreU(hn::Sub(hn::LoadU(d, pgb), t), d, pgb);
  };
  int64_t k = 0;
  for (; k + N <= n; k += N) step(a + k, b + k, ga + k, gb ? gb + k : nullptr);
  const int64_t rem = n - k;
  if (rem > 0) {
    alignas(64) T ab[detail::kVirtualLanes] = {},
                  bb[detail::kVirtualLanes] = {},
                  gab[detail::kVirtualLanes] = {},
                  gbb[detail::kVirtualLanes] = {};
    const size_t bytes = size_t(rem) * sizeof(T);
    std::memcpy(ab, a + k, bytes);
    std::memcpy(bb, b + k, bytes);
    std::memcpy(gab, ga + k, bytes);
    if (gb) std::memcpy(gbb, gb + k, bytes);
    step(ab, bb, gab, gb ? gbb : nullptr);
    std::memcpy(ga + k, gab, bytes);
    if (gb) std::memcpy(gb + k, gbb, bytes);
  }
}

template <class T>
HWY_NOINLINE void EmbAxpy(T* y, T s, const T* x, int64_t n) {
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto vs = hn::Set(d, s);
  int64_t k = 0;
  for (; k + N <= n; k += N) {
    hn::StoreU(hn::Add(hn::LoadU(d, y + k), hn::Mul(vs, hn::LoadU(d, x + k))),
               d, y + k);
  }
  for (; k < n; ++k) y[k] = y[k] + s * x[k];  // same operations, one lane
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
