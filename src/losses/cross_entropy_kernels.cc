// Per-target compilation of the softmax cross-entropy row kernel and the one
// dispatch point that picks a target (or the scalar twin) at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/losses/cross_entropy_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "src/losses/cross_entropy-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {

void CeBlocksF32(const detail::CeRowCall<float>& c, int64_t b0, int64_t b1,
                 double* partials) {
  CeBlocks(c, b0, b1, partials);
}
void CeBlocksF64(const detail::CeRowCall<double>& c, int64_t b0, int64_t b1,
                 double* partials) {
  CeBlocks(c, b0, b1, partials);
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "losslab/core/dispatch.h"

namespace losslab::detail {

HWY_EXPORT(CeBlocksF32);
HWY_EXPORT(CeBlocksF64);

void ce_blocks_f32(const CeRowCall<float>& c, int64_t b0, int64_t b1,
                   double* partials) {
  if (use_scalar_reference()) return ref::ce_blocks(c, b0, b1, partials);
  HWY_DYNAMIC_DISPATCH(CeBlocksF32)(c, b0, b1, partials);
}

void ce_blocks_f64(const CeRowCall<double>& c, int64_t b0, int64_t b1,
                   double* partials) {
  if (use_scalar_reference()) return ref::ce_blocks(c, b0, b1, partials);
  HWY_DYNAMIC_DISPATCH(CeBlocksF64)(c, b0, b1, partials);
}

}  // namespace losslab::detail
#endif  // HWY_ONCE
