// Per-target compilation of the elementwise regression kernels and the one
// dispatch point that picks a target (or the scalar twins) at run time for
// every elementwise loss. The classification losses' kernels are compiled in
// classification_kernels.cc: one translation unit with every loss took
// 13 minutes alone under GCC's AddressSanitizer build, the long pole of CI.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/losses/elementwise_kernels.cc"
#include <cmath>

#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "src/losses/classification-inl.h"  // scalar twins
#include "src/losses/elementwise-inl.h"
#include "src/losses/regression-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class T>
HWY_INLINE uint32_t ElementwiseBlocks(const detail::ElemCall<T>& c, int64_t b0,
                                      int64_t b1, double* partials) {
  // At most 16 lanes, so 16 is a multiple of the vector length everywhere.
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  using D = decltype(d);
  using detail::ElemLossId;
  switch (c.loss) {
    case ElemLossId::kMse:
      return RunElementwise(d, MseV<D>{}, c, b0, b1, partials);
    case ElemLossId::kL1:
      return RunElementwise(d, L1V<D>{}, c, b0, b1, partials);
    case ElemLossId::kHuber:
      return RunElementwise(d, HuberV<D>(d, c.p0), c, b0, b1, partials);
    case ElemLossId::kSmoothL1:
      return RunElementwise(d, SmoothL1V<D>(d, c.p0), c, b0, b1, partials);
    case ElemLossId::kQuantile:
      return RunElementwise(d, QuantileV<D>(d, c.p0), c, b0, b1, partials);
    case ElemLossId::kLogCosh:
      return RunElementwise(d, LogCoshV<D>{}, c, b0, b1, partials);
    case ElemLossId::kPseudoHuber:
      return RunElementwise(d, PseudoHuberV<D>(d, c.p0), c, b0, b1, partials);
    case ElemLossId::kPoissonNll:
      return RunElementwise(
          d,
          PoissonNllV<D>(d, (c.opts & detail::kOptLogInput) != 0,
                         (c.opts & detail::kOptFull) != 0, c.p0),
          c, b0, b1, partials);
    default:
      // The classification losses: classification_kernels.cc.
      break;
  }
  return 0;
}

uint32_t ElementwiseBlocksF32(const detail::ElemCall<float>& c, int64_t b0,
                              int64_t b1, double* partials) {
  return ElementwiseBlocks(c, b0, b1, partials);
}
uint32_t ElementwiseBlocksF64(const detail::ElemCall<double>& c, int64_t b0,
                              int64_t b1, double* partials) {
  return ElementwiseBlocks(c, b0, b1, partials);
}

// float16/bfloat16 <-> float32 (see elementwise.h): the shared inline
// conversions in loops the compiler vectorizes for this target.
void HalfWidenBf16(const uint16_t* HWY_RESTRICT src, float* HWY_RESTRICT dst,
                   int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::bf16_to_f32(src[i]);
}
void HalfWidenF16(const uint16_t* HWY_RESTRICT src, float* HWY_RESTRICT dst,
                  int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::f16_to_f32(src[i]);
}
void HalfNarrowBf16(const float* HWY_RESTRICT src, uint16_t* HWY_RESTRICT dst,
                    int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::f32_to_bf16(src[i]);
}
void HalfNarrowF16(const float* HWY_RESTRICT src, uint16_t* HWY_RESTRICT dst,
                   int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::f32_to_f16(src[i]);
}

// out[i] = f(in[i]) with full vectors of d, then one lane at a time: the
// test hooks of the vector math (log1p_unit_f32, exp_nonpos_f32,
// exp_ieee_f32, reciprocal_1to2_f32).
template <class D, class Fn>
void MapF32(D d, const float* HWY_RESTRICT in, float* HWY_RESTRICT out,
            int64_t n, const Fn& f) {
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(f(d, hn::LoadU(d, in + i)), d, out + i);
  const hn::CappedTag<float, 1> d1;
  for (; i < n; ++i) hn::StoreU(f(d1, hn::LoadU(d1, in + i)), d1, out + i);
}

void Log1pUnitF32(const float* HWY_RESTRICT e, float* HWY_RESTRICT out,
                  int64_t n) {
  MapF32(hn::CappedTag<float, detail::kVirtualLanes>(), e, out, n,
         [](auto d, auto v) HWY_ATTR { return Log1pUnit(d, v); });
}

void ExpNonPosF32(const float* HWY_RESTRICT x, float* HWY_RESTRICT out,
                  int64_t n) {
  MapF32(hn::ScalableTag<float>(), x, out, n,
         [](auto d, auto v) HWY_ATTR { return ExpNonPos(d, v); });
}

void ExpIeeeF32(const float* HWY_RESTRICT x, float* HWY_RESTRICT out,
                int64_t n) {
  MapF32(hn::ScalableTag<float>(), x, out, n,
         [](auto d, auto v) HWY_ATTR { return ExpIeee(d, v); });
}

void Reciprocal1To2F32(const float* HWY_RESTRICT a, float* HWY_RESTRICT out,
                       int64_t n) {
  MapF32(hn::ScalableTag<float>(), a, out, n,
         [](auto d, auto v) HWY_ATTR { return Reciprocal1To2(d, v); });
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "losslab/core/dispatch.h"

namespace losslab::detail {

HWY_EXPORT(ElementwiseBlocksF32);
HWY_EXPORT(ElementwiseBlocksF64);
HWY_EXPORT(HalfWidenBf16);
HWY_EXPORT(HalfWidenF16);
HWY_EXPORT(HalfNarrowBf16);
HWY_EXPORT(HalfNarrowF16);
HWY_EXPORT(Log1pUnitF32);
HWY_EXPORT(ExpNonPosF32);
HWY_EXPORT(Reciprocal1To2F32);
HWY_EXPORT(ExpIeeeF32);

namespace {
// A vector-math test hook: the current SIMD target's map, or `scalar`
// element by element under the scalar reference.
template <class Simd, class Scalar>
void map_hook(const float* in, float* out, int64_t n, Simd simd,
              Scalar scalar) {
  if (use_scalar_reference()) {
    for (int64_t i = 0; i < n; ++i) out[i] = scalar(in[i]);
  } else {
    simd(in, out, n);
  }
}
}  // namespace

void log1p_unit_f32(const float* e, float* out, int64_t n) {
  map_hook(e, out, n, HWY_DYNAMIC_DISPATCH(Log1pUnitF32),
           [](float v) { return log1p_unit(v); });
}

void exp_ieee_f32(const float* x, float* out, int64_t n) {
  map_hook(x, out, n, HWY_DYNAMIC_DISPATCH(ExpIeeeF32),
           [](float v) { return std::exp(v); });
}

void reciprocal_1to2_f32(const float* a, float* out, int64_t n) {
  map_hook(a, out, n, HWY_DYNAMIC_DISPATCH(Reciprocal1To2F32),
           [](float v) { return 1.0f / v; });
}

void exp_nonpos_f32(const float* x, float* out, int64_t n) {
  map_hook(x, out, n, HWY_DYNAMIC_DISPATCH(ExpNonPosF32),
           [](float v) { return std::exp(v); });
}

void half_widen(bool bf16, const uint16_t* src, float* dst, int64_t n) {
  if (use_scalar_reference()) {
    for (int64_t i = 0; i < n; ++i) {
      dst[i] = bf16 ? bf16_to_f32(src[i]) : f16_to_f32(src[i]);
    }
  } else if (bf16) {
    HWY_DYNAMIC_DISPATCH(HalfWidenBf16)(src, dst, n);
  } else {
    HWY_DYNAMIC_DISPATCH(HalfWidenF16)(src, dst, n);
  }
}

void half_narrow(bool bf16, const float* src, uint16_t* dst, int64_t n) {
  if (use_scalar_reference()) {
    for (int64_t i = 0; i < n; ++i) {
      dst[i] = bf16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
    }
  } else if (bf16) {
    HWY_DYNAMIC_DISPATCH(HalfNarrowBf16)(src, dst, n);
  } else {
    HWY_DYNAMIC_DISPATCH(HalfNarrowF16)(src, dst, n);
  }
}

namespace {

template <class T>
uint32_t scalar_blocks(const ElemCall<T>& c, int64_t b0, int64_t b1,
                       double* partials) {
  switch (c.loss) {
    case ElemLossId::kMse:
      return ref::run_elementwise(ref::Mse<T>{}, c, b0, b1, partials);
    case ElemLossId::kL1:
      return ref::run_elementwise(ref::L1<T>{}, c, b0, b1, partials);
    case ElemLossId::kHuber:
      return ref::run_elementwise(ref::Huber<T>{T(c.p0), T(0.5 * c.p0)}, c, b0,
                                  b1, partials);
    case ElemLossId::kSmoothL1:
      return ref::run_elementwise(
          ref::SmoothL1<T>{T(c.p0), T(0.5 * c.p0), T(1) / T(c.p0)}, c, b0, b1,
          partials);
    case ElemLossId::kQuantile:
      return ref::run_elementwise(ref::Quantile<T>{T(c.p0), T(c.p0) - T(1)}, c,
                                  b0, b1, partials);
    case ElemLossId::kLogCosh:
      return ref::run_elementwise(ref::LogCosh<T>{}, c, b0, b1, partials);
    case ElemLossId::kPseudoHuber:
      return ref::run_elementwise(ref::PseudoHuber<T>{T(c.p0)}, c, b0, b1,
                                  partials);
    case ElemLossId::kPoissonNll:
      return ref::run_elementwise(
          ref::PoissonNll<T>{(c.opts & kOptLogInput) != 0,
                             (c.opts & kOptFull) != 0, T(c.p0)},
          c, b0, b1, partials);
    case ElemLossId::kBceLogits:
      return ref::run_elementwise(ref::BceLogits<T>{}, c, b0, b1, partials);
    case ElemLossId::kBceLogitsPosW:
      return ref::run_elementwise(ref::BceLogitsPosW<T>{}, c, b0, b1, partials);
    case ElemLossId::kBce:
      return ref::run_elementwise(ref::Bce<T>{}, c, b0, b1, partials);
    case ElemLossId::kHinge:
      return ref::run_elementwise(ref::Hinge<T>{T(c.p0)}, c, b0, b1, partials);
    case ElemLossId::kSquaredHinge:
      return ref::run_elementwise(ref::SquaredHinge<T>{T(c.p0)}, c, b0, b1,
                                  partials);
    case ElemLossId::kKlDiv:
      return ref::run_elementwise(ref::KlDiv<T>{}, c, b0, b1, partials);
    case ElemLossId::kKlDivLogTarget:
      return ref::run_elementwise(ref::KlDivLogTarget<T>{}, c, b0, b1,
                                  partials);
    case ElemLossId::kKlProb:
      return ref::run_elementwise(ref::KlProb<T>{}, c, b0, b1, partials);
    case ElemLossId::kSigmoidFocal:
      return ref::run_elementwise(ref::SigmoidFocal<T>{T(c.p0), T(c.p1)}, c, b0,
                                  b1, partials);
  }
  return 0;
}

}  // namespace

uint32_t elementwise_blocks_f32(const ElemCall<float>& c, int64_t b0,
                                int64_t b1, double* partials) {
  if (use_scalar_reference()) return scalar_blocks(c, b0, b1, partials);
  if (is_classification(c.loss)) {
    return classification_blocks_f32(c, b0, b1, partials);
  }
  return HWY_DYNAMIC_DISPATCH(ElementwiseBlocksF32)(c, b0, b1, partials);
}

uint32_t elementwise_blocks_f64(const ElemCall<double>& c, int64_t b0,
                                int64_t b1, double* partials) {
  if (use_scalar_reference()) return scalar_blocks(c, b0, b1, partials);
  if (is_classification(c.loss)) {
    return classification_blocks_f64(c, b0, b1, partials);
  }
  return HWY_DYNAMIC_DISPATCH(ElementwiseBlocksF64)(c, b0, b1, partials);
}

}  // namespace losslab::detail
#endif  // HWY_ONCE
