// Per-target compilation of the classification losses' elementwise kernels
// (BCE, hinge, KL, sigmoid focal), dispatched from elementwise_kernels.cc's
// elementwise_blocks_f32/f64. A translation unit apart from the regression
// kernels so that the two compile in parallel.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/losses/classification_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "src/losses/classification-inl.h"
#include "src/losses/elementwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class T>
HWY_INLINE uint32_t ClassificationBlocks(const detail::ElemCall<T>& c,
                                         int64_t b0, int64_t b1,
                                         double* partials) {
  // At most 16 lanes, so 16 is a multiple of the vector length everywhere.
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  using D = decltype(d);
  using detail::ElemLossId;
  switch (c.loss) {
    case ElemLossId::kBceLogits:
      return RunElementwise(d, BceLogitsV<D>{}, c, b0, b1, partials);
    case ElemLossId::kBceLogitsPosW:
      return RunElementwise(d, BceLogitsPosWV<D>{}, c, b0, b1, partials);
    case ElemLossId::kBce:
      return RunElementwise(d, BceV<D>{}, c, b0, b1, partials);
    case ElemLossId::kHinge:
      return RunElementwise(d, HingeV<D>(d, c.p0), c, b0, b1, partials);
    case ElemLossId::kSquaredHinge:
      return RunElementwise(d, SquaredHingeV<D>(d, c.p0), c, b0, b1, partials);
    case ElemLossId::kKlDiv:
      return RunElementwise(d, KlDivV<D>{}, c, b0, b1, partials);
    case ElemLossId::kKlDivLogTarget:
      return RunElementwise(d, KlDivLogTargetV<D>{}, c, b0, b1, partials);
    case ElemLossId::kKlProb:
      return RunElementwise(d, KlProbV<D>{}, c, b0, b1, partials);
    case ElemLossId::kSigmoidFocal:
      return RunElementwise(d, SigmoidFocalV<D>(c.p0, c.p1), c, b0, b1,
                            partials);
    default:
      // The regression losses: elementwise_kernels.cc.
      break;
  }
  return 0;
}

uint32_t ClassificationBlocksF32(const detail::ElemCall<float>& c, int64_t b0,
                                 int64_t b1, double* partials) {
  return ClassificationBlocks(c, b0, b1, partials);
}
uint32_t ClassificationBlocksF64(const detail::ElemCall<double>& c, int64_t b0,
                                 int64_t b1, double* partials) {
  return ClassificationBlocks(c, b0, b1, partials);
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace losslab::detail {

HWY_EXPORT(ClassificationBlocksF32);
HWY_EXPORT(ClassificationBlocksF64);

uint32_t classification_blocks_f32(const ElemCall<float>& c, int64_t b0,
                                   int64_t b1, double* partials) {
  return HWY_DYNAMIC_DISPATCH(ClassificationBlocksF32)(c, b0, b1, partials);
}

uint32_t classification_blocks_f64(const ElemCall<double>& c, int64_t b0,
                                   int64_t b1, double* partials) {
  return HWY_DYNAMIC_DISPATCH(ClassificationBlocksF64)(c, b0, b1, partials);
}

}  // namespace losslab::detail
#endif  // HWY_ONCE
