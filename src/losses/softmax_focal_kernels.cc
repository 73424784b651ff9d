// Per-target compilation of the softmax focal loss row kernel and the one
// dispatch point that picks a target (or the scalar twin) at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/losses/softmax_focal_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "src/losses/softmax_focal-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {

void SoftmaxFocalBlocksF32(const detail::SoftmaxFocalRowCall<float>& c,
                           int64_t b0, int64_t b1, double* partials) {
  SoftmaxFocalBlocks(c, b0, b1, partials);
}
void SoftmaxFocalBlocksF64(const detail::SoftmaxFocalRowCall<double>& c,
                           int64_t b0, int64_t b1, double* partials) {
  SoftmaxFocalBlocks(c, b0, b1, partials);
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "losslab/core/dispatch.h"

namespace losslab::detail {

HWY_EXPORT(SoftmaxFocalBlocksF32);
HWY_EXPORT(SoftmaxFocalBlocksF64);

void softmax_focal_blocks_f32(const SoftmaxFocalRowCall<float>& c, int64_t b0,
                              int64_t b1, double* partials) {
  if (use_scalar_reference()) {
    return ref::softmax_focal_blocks(c, b0, b1, partials);
  }
  HWY_DYNAMIC_DISPATCH(SoftmaxFocalBlocksF32)(c, b0, b1, partials);
}

void softmax_focal_blocks_f64(const SoftmaxFocalRowCall<double>& c, int64_t b0,
                              int64_t b1, double* partials) {
  if (use_scalar_reference()) {
    return ref::softmax_focal_blocks(c, b0, b1, partials);
  }
  HWY_DYNAMIC_DISPATCH(SoftmaxFocalBlocksF64)(c, b0, b1, partials);
}

}  // namespace losslab::detail
#endif  // HWY_ONCE
