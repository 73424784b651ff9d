// Per-target compilation of the generative loss functors on the shared
// elementwise block driver, and their one dispatch point.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/losses/generative_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "src/losses/elementwise-inl.h"
#include "src/losses/generative-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {

template <class T>
HWY_INLINE uint32_t GenBlocks(detail::GenFnId id, const detail::ElemCall<T>& c,
                              int64_t b0, int64_t b1, double* partials) {
  const hn::CappedTag<T, detail::kVirtualLanes> d;
  using D = decltype(d);
  using detail::GenFnId;
  const T p0 = T(c.p0), p1 = T(c.p1);
  switch (id) {
    case GenFnId::kSoftplus:
      return RunElementwise(d, GenSoftplusV<D>{p0, p1}, c, b0, b1, partials);
    case GenFnId::kHinge:
      return RunElementwise(d, GenHingeV<D>{p0, p1}, c, b0, b1, partials);
    case GenFnId::kLinear:
      return RunElementwise(d, GenLinearV<D>{p0}, c, b0, b1, partials);
    case GenFnId::kHalfSq:
      return RunElementwise(d, GenHalfSqV<D>{p0}, c, b0, b1, partials);
    case GenFnId::kKlLogvar:
      return RunElementwise(d, GenKlLogvarV<D>{}, c, b0, b1, partials);
    case GenFnId::kGaussNll:
      return RunElementwise(d, GenGaussNllV<D>{p0, p1}, c, b0, b1, partials);
  }
  return 0;
}

uint32_t GenBlocksF32(detail::GenFnId id, const detail::ElemCall<float>& c,
                      int64_t b0, int64_t b1, double* partials) {
  return GenBlocks(id, c, b0, b1, partials);
}
uint32_t GenBlocksF64(detail::GenFnId id, const detail::ElemCall<double>& c,
                      int64_t b0, int64_t b1, double* partials) {
  return GenBlocks(id, c, b0, b1, partials);
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "losslab/core/dispatch.h"

namespace losslab::detail {

HWY_EXPORT(GenBlocksF32);
HWY_EXPORT(GenBlocksF64);

namespace {
template <class T>
uint32_t scalar_blocks(GenFnId id, const ElemCall<T>& c, int64_t b0, int64_t b1,
                       double* partials) {
  const T p0 = T(c.p0), p1 = T(c.p1);
  switch (id) {
    case GenFnId::kSoftplus:
      return ref::run_elementwise(ref::GenSoftplus<T>{p0, p1}, c, b0, b1,
                                  partials);
    case GenFnId::kHinge:
      return ref::run_elementwise(ref::GenHinge<T>{p0, p1}, c, b0, b1,
                                  partials);
    case GenFnId::kLinear:
      return ref::run_elementwise(ref::GenLinear<T>{p0}, c, b0, b1, partials);
    case GenFnId::kHalfSq:
      return ref::run_elementwise(ref::GenHalfSq<T>{p0}, c, b0, b1, partials);
    case GenFnId::kKlLogvar:
      return ref::run_elementwise(ref::GenKlLogvar<T>{}, c, b0, b1, partials);
    case GenFnId::kGaussNll:
      return ref::run_elementwise(ref::GenGaussNll<T>{p0, p1}, c, b0, b1,
                                  partials);
  }
  return 0;
}
}  // namespace

uint32_t gen_blocks_f32(GenFnId id, const ElemCall<float>& c, int64_t b0,
                        int64_t b1, double* partials) {
  if (use_scalar_reference()) return scalar_blocks(id, c, b0, b1, partials);
  return HWY_DYNAMIC_DISPATCH(GenBlocksF32)(id, c, b0, b1, partials);
}
uint32_t gen_blocks_f64(GenFnId id, const ElemCall<double>& c, int64_t b0,
                        int64_t b1, double* partials) {
  if (use_scalar_reference()) return scalar_blocks(id, c, b0, b1, partials);
  return HWY_DYNAMIC_DISPATCH(GenBlocksF64)(id, c, b0, b1, partials);
}

}  // namespace losslab::detail
#endif  // HWY_ONCE
