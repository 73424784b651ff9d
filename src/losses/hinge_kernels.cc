// Per-target compilation of the multi_margin_loss row kernel and the one
// dispatch point that picks a target (or the scalar twin) at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/losses/hinge_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "src/losses/hinge-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {

void MarginBlocksF32(const detail::MarginRowCall<float>& c, int64_t b0,
                     int64_t b1, double* partials) {
  MarginBlocks(c, b0, b1, partials);
}
void MarginBlocksF64(const detail::MarginRowCall<double>& c, int64_t b0,
                     int64_t b1, double* partials) {
  MarginBlocks(c, b0, b1, partials);
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "losslab/core/dispatch.h"

namespace losslab::detail {

HWY_EXPORT(MarginBlocksF32);
HWY_EXPORT(MarginBlocksF64);

void margin_blocks_f32(const MarginRowCall<float>& c, int64_t b0, int64_t b1,
                       double* partials) {
  if (use_scalar_reference()) return ref::margin_blocks(c, b0, b1, partials);
  HWY_DYNAMIC_DISPATCH(MarginBlocksF32)(c, b0, b1, partials);
}

void margin_blocks_f64(const MarginRowCall<double>& c, int64_t b0, int64_t b1,
                       double* partials) {
  if (use_scalar_reference()) return ref::margin_blocks(c, b0, b1, partials);
  HWY_DYNAMIC_DISPATCH(MarginBlocksF64)(c, b0, b1, partials);
}

}  // namespace losslab::detail
#endif  // HWY_ONCE
