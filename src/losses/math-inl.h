// Vector exp/expm1 with IEEE behaviour at the edges, for every kernel.
//
// Highway 1.0.3's Exp and Expm1 convert x / ln 2 to int32 before their own
// range select. For NaN, or for |x| beyond about 2^31 ln 2, that conversion
// is undefined behaviour on targets that do it in scalar code (emu128, found
// by UBSan in the fuzzer) and yields garbage elsewhere; above 104 (float) /
// 706 (double) the result is unspecified. These wrappers keep the
// polynomial's argument in range and select the IEEE results explicitly:
//   exp:   0 below Highway's lower bound, +inf above log(max), NaN for NaN
//   expm1: -1 below the lower bound,     +inf above log(max), NaN for NaN
// For arguments inside the range they return exactly Highway's value.
// ---------------------------------------------------------------------------
// Scalar part (compiled once): the coefficients and the scalar twin of
// Log1pUnit below, so that the SIMD functors and their twins share them.
#ifndef LOSSLAB_SRC_LOSSES_MATH_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_MATH_INL_H_SCALAR_

#include <cmath>

namespace losslab::detail {

// log1p(e) for e in [0, 1] (e = exp(-|x|) in softplus, BCE with logits and
// sigmoid focal), float32: log1p(e) = e P(e), with P a degree-9 polynomial
// fitted to log1p(e) / e in relative error on [0, 1] (iteratively reweighted
// least squares on Chebyshev nodes, then rounded to float32). The form
// e P(e) keeps full relative accuracy for tiny e (P(0) = 1), where
// log1p(e) ~ e is the whole BCE loss of a confidently right logit. Evaluated
// by Horner with fused multiply-adds: max error 1.5 ulp (1.3e-7 relative) vs
// float64 log1p over [0, 1] (Log1pUnit.MaxUlpVsFloat64 pins it on every
// target). It replaces Highway's Log1p (a Log, a division and a correction:
// about 30 vector instructions) by 9 FMAs and a multiply.
inline constexpr float kLog1pUnitCoef[10] = {
    1.0f,
    -0.4999990165233612f,
    0.3332996070384979f,
    -0.2495412826538086f,
    0.19675908982753754f,
    -0.15305505692958832f,
    0.10603507608175278f,
    -0.05695807933807373f,
    0.01985068805515766f,
    -0.0032438531052321196f,
};

// Scalar twin of Log1pUnit: the same Horner steps with std::fma (the SIMD
// MulAdd is a fused multiply-add on every x86 target from AVX2 up; SSE
// targets without FMA round twice, within the twins' ULP tolerance). Double
// keeps std::log1p.
template <class T>
inline T log1p_unit(T e) {
  if constexpr (sizeof(T) == 4) {
    float p = kLog1pUnitCoef[9];
    for (int k = 8; k >= 0; --k) p = std::fma(p, e, kLog1pUnitCoef[k]);
    return e * p;
  } else {
    return std::log1p(e);
  }
}

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_MATH_INL_H_SCALAR_

// ---------------------------------------------------------------------------
#if defined(LOSSLAB_SRC_LOSSES_MATH_INL_H_TARGET_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_MATH_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_MATH_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_MATH_INL_H_TARGET_
#endif

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {

namespace math_detail {
namespace hn = hwy::HWY_NAMESPACE;

// Highway's own lower bound, below which its Exp returns 0.
template <class T>
constexpr T kExpLowerBound = sizeof(T) == 4 ? T(-104.0) : T(-1000.0);

template <class D, class V>
HWY_INLINE V ClampExpArg(D d, V x) {
  using T = hn::TFromD<D>;
  const V lo = hn::Set(d, kExpLowerBound<T>);
  const V hi = hn::Set(d, T(std::log(std::numeric_limits<T>::max())));
  return hn::IfThenZeroElse(hn::IsNaN(x), hn::Min(hn::Max(x, lo), hi));
}

template <class D, class V>
HWY_INLINE V SelectEdges(D d, V x, V y, V below) {
  using T = hn::TFromD<D>;
  const V lo = hn::Set(d, kExpLowerBound<T>);
  const V hi = hn::Set(d, T(std::log(std::numeric_limits<T>::max())));
  y = hn::IfThenElse(hn::Lt(x, lo), below, y);
  y = hn::IfThenElse(hn::Gt(x, hi),
                     hn::Set(d, std::numeric_limits<T>::infinity()), y);
  return hn::IfThenElse(hn::IsNaN(x), x, y);
}
}  // namespace math_detail

template <class D, class V>
HWY_INLINE V ExpSafe(D d, V x) {
  namespace hn = hwy::HWY_NAMESPACE;
  const V y = hn::Exp(d, math_detail::ClampExpArg(d, x));
  return math_detail::SelectEdges(d, x, y, hn::Zero(d));
}

namespace math_detail {
#if HWY_TARGET <= HWY_AVX3
// 2^(j/16), j = 0..15, rounded to float32.
alignas(64) inline constexpr float kExp2Sixteenths[16] = {
    0x1.000000p+0f, 0x1.0b5586p+0f, 0x1.172b84p+0f, 0x1.2387a6p+0f,
    0x1.306fe0p+0f, 0x1.3dea64p+0f, 0x1.4bfdaep+0f, 0x1.5ab07ep+0f,
    0x1.6a09e6p+0f, 0x1.7a1148p+0f, 0x1.8ace54p+0f, 0x1.9c4918p+0f,
    0x1.ae89fap+0f, 0x1.c199bep+0f, 0x1.d5818ep+0f, 0x1.ea4afap+0f,
};

// exp(x) for float32 x in [-104, 0] or NaN, on full AVX-512 vectors, with a
// 16-entry table (one VPERMPS) so that the polynomial is short:
//   q = round(16 x / ln 2),  r = x - (q/16) ln 2  (|r| <= ln 2 / 32; two
//     FMAs, ln 2 split into a 12-bit high part so that (q/16) hi is exact),
//   exp(x) = 2^floor(q/16) * T[q mod 16] * exp(r),
//   T exp(r) = T + (T r)(1 + r/2 + r^2/6)      (Taylor: r^4/24 < 1e-8),
// and 2^floor(q/16) applied by VSCALEFPS, which takes the floor itself,
// scales exactly and rounds once into the subnormal range. VPERMPS reads
// the low 4 bits of its index, q mod 16 here. Error: the table's rounding
// (0.5 ulp) and the last FMA's (0.5 ulp); ExpNonPos.MaxUlpVsFloat64OnEvery-
// Target measures it against float64 exp (bound 2 ulp; it records the max).
// 10 instructions, against 27 for Highway's Exp with the clamp and NaN
// selects. NaN needs no select: MAXPS returns its second operand when
// either is NaN, so Max(lo, x) keeps x's NaN, and every later step,
// VSCALEFPS included, propagates it.
// The same steps serve x in (0, 89] (ExpIeee, after a Min): |q/16| <= 129
// keeps (q/16) ln2_hi exact, and VSCALEFPS overflows to +inf above
// log(FLT_MAX) = 88.72.
HWY_INLINE hwy::HWY_NAMESPACE::Vec512<float> ExpNonPosAvx512(
    hwy::HWY_NAMESPACE::Vec512<float> x) {
  namespace hn = hwy::HWY_NAMESPACE;
  using V = hn::Vec512<float>;
  const hn::Full512<float> d;
  const hn::Full512<int32_t> di;
  const V xc = hn::Max(hn::Set(d, kExpLowerBound<float>), x);
  // q/16 = round(16 x / ln 2) / 16 by the shifter 1.5 * 2^19, whose ulp is
  // 1/16: the sum x/ln2 + shifter is rounded once, to nearest even, to a
  // multiple of 1/16 (|q/16| <= 150 < 2^18), so its low 4 mantissa bits are
  // q mod 16 (the table index) and q/16 itself is one subtraction, exact, on
  // the add pipes. (A shifter of 1.5 * 2^23 on 16 x / ln 2 gives the same q
  // but needs a multiply by 1/16 for VSCALEFPS.)
  const V shifter = hn::Set(d, 0x1.8p+19f);
  const V qs = hn::MulAdd(xc, hn::Set(d, 0x1.715476p+0f), shifter);  // 1/ln2
  const V q16 = hn::Sub(qs, shifter);
  V r = hn::MulAdd(q16, hn::Set(d, -0x1.62ep-1f), xc);   // ln 2, high part
  r = hn::MulAdd(q16, hn::Set(d, -0x1.0bfbe8p-15f), r);  // and the rest
  const V t{_mm512_permutexvar_ps(hn::BitCast(di, qs).raw,
                                  hn::Load(d, kExp2Sixteenths).raw)};
  const V u =
      hn::MulAdd(hn::MulAdd(r, hn::Set(d, 1.0f / 6.0f), hn::Set(d, 0.5f)), r,
                 hn::Set(d, 1.0f));
  const V y = hn::MulAdd(hn::Mul(t, r), u, t);
  return V{_mm512_scalef_ps(y.raw, q16.raw)};
}
#endif
}  // namespace math_detail

// exp(x) for x <= 0 or NaN (the exp(-|x|) of the sigmoid and softplus
// forms, and exp(z - max) of the softmax rows): ExpSafe's values with fewer
// selects, since there is no overflow to handle. Below Highway's lower bound
// the argument is clamped to it, where the polynomial already gives 0
// (exp(-104) is below half the smallest float32 subnormal); NaN is kept out
// of the polynomial and returned. Full float32 AVX-512 vectors take
// math_detail::ExpNonPosAvx512 (the kernels' hot loops); the exp_nonpos_f32
// test hook checks every target against float64 exp.
template <class D, class V>
HWY_INLINE V ExpNonPos(D d, V x) {
  namespace hn = hwy::HWY_NAMESPACE;
  using T = hn::TFromD<D>;
#if HWY_TARGET <= HWY_AVX3
  if constexpr (std::is_same_v<V, hn::Vec512<float>>) {
    return math_detail::ExpNonPosAvx512(x);
  }
#endif
  const auto nan = hn::IsNaN(x);
  const V lo = hn::Set(d, math_detail::kExpLowerBound<T>);
  const V y = hn::Exp(d, hn::IfThenZeroElse(nan, hn::Max(x, lo)));
  return hn::IfThenElse(nan, x, y);
}

// 1 / a for a in [1, 2] (a = 1 + exp(-|x|)). Full float32 AVX-512 vectors
// refine VRCP14PS (relative error < 2^-14) by one Newton step,
//   r' = r + r (1 - a r),  error ~ err^2 + rounding,
// within 1 ulp of the division (Reciprocal1To2.MaxUlpVsDivisionOnEveryTarget,
// through the reciprocal_1to2_f32 hook) and 3 instructions where VDIVPS on a
// 512-bit vector costs as many cycles as the rest of the BCE element
// together; other targets divide.
template <class D, class V>
HWY_INLINE V Reciprocal1To2(D d, V a) {
  namespace hn = hwy::HWY_NAMESPACE;
#if HWY_TARGET <= HWY_AVX3
  if constexpr (std::is_same_v<V, hn::Vec512<float>>) {
    const V r = hn::ApproximateReciprocal(a);
    return hn::MulAdd(r, hn::NegMulAdd(a, r, hn::Set(d, 1.0f)), r);
  }
#endif
  return hn::Div(hn::Set(d, 1), a);
}

// -|x|: one OR of the sign bit (Neg(Abs(x)) is an AND and an XOR).
template <class D, class V>
HWY_INLINE V NegAbs(D d, V x) {
  namespace hn = hwy::HWY_NAMESPACE;
  return hn::Or(x, hn::Set(d, hn::TFromD<D>(-0.0)));
}

// log1p(e) for e in [0, 1] (or NaN): detail::log1p_unit's polynomial in
// float32, Highway's Log1p in float64. See kLog1pUnitCoef.
template <class D, class V>
HWY_INLINE V Log1pUnit(D d, V e) {
  namespace hn = hwy::HWY_NAMESPACE;
  using T = hn::TFromD<D>;
  if constexpr (sizeof(T) == 4) {
    const float* c = detail::kLog1pUnitCoef;
    V p = hn::Set(d, c[9]);
    for (int k = 8; k >= 0; --k) p = hn::MulAdd(p, e, hn::Set(d, c[k]));
    return hn::Mul(e, p);
  } else {
    return hn::Log1p(d, e);
  }
}

template <class D, class V>
HWY_INLINE V Expm1Safe(D d, V x) {
  namespace hn = hwy::HWY_NAMESPACE;
  const V y = hn::Expm1(d, math_detail::ClampExpArg(d, x));
  return math_detail::SelectEdges(d, x, y, hn::Set(d, -1));
}

// Pass 1 of the softmax row kernels (cross_entropy, softmax_focal_loss): the
// maximum of z[0, C) into *max_out, and whether any entry is NaN.
template <class D>
HWY_INLINE bool RowMaxAndNaN(D d, const hwy::HWY_NAMESPACE::TFromD<D>* z,
                             int64_t C,
                             hwy::HWY_NAMESPACE::TFromD<D>* max_out) {
  namespace hn = hwy::HWY_NAMESPACE;
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  const int64_t N = int64_t(hn::Lanes(d));
  V vmax = hn::Set(d, -std::numeric_limits<T>::infinity());
  auto nanm = hn::FirstN(d, 0);
  int64_t k = 0;
  for (; k + N <= C; k += N) {
    const V v = hn::LoadU(d, z + k);
    vmax = hn::Max(vmax, v);
    nanm = hn::Or(nanm, hn::IsNaN(v));
  }
  T m = hn::GetLane(hn::MaxOfLanes(d, vmax));
  bool nan = !hn::AllFalse(d, nanm);
  for (; k < C; ++k) {
    m = z[k] > m ? z[k] : m;
    nan = nan || z[k] != z[k];
  }
  *max_out = m;
  return nan;
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
