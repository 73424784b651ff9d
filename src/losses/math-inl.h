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
#if defined(LOSSLAB_SRC_LOSSES_MATH_INL_H_TARGET_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_MATH_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_MATH_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_MATH_INL_H_TARGET_
#endif

#include <cmath>
#include <cstdint>
#include <limits>

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
    nanm = hn::Or(nanm, hn::Ne(v, v));
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
