// Per-target compilation of the segmentation kernels and the one dispatch
// point per kernel that picks a target (or the scalar twin) at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/losses/segmentation_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "src/losses/segmentation-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {

void SegForwardF32(const detail::SegFwdCall<float>& c, int64_t b0, int64_t b1) {
  SegForward(c, b0, b1);
}
void SegForwardF64(const detail::SegFwdCall<double>& c, int64_t b0,
                   int64_t b1) {
  SegForward(c, b0, b1);
}
void SegSumsF32(const detail::SegSumCall<float>& c, int64_t b0, int64_t b1) {
  SegSums(c, b0, b1);
}
void SegSumsF64(const detail::SegSumCall<double>& c, int64_t b0, int64_t b1) {
  SegSums(c, b0, b1);
}
void SegBackwardF32(const detail::SegBwdCall<float>& c, int64_t b0,
                    int64_t b1) {
  SegBackward(c, b0, b1);
}
void SegBackwardF64(const detail::SegBwdCall<double>& c, int64_t b0,
                    int64_t b1) {
  SegBackward(c, b0, b1);
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "losslab/core/dispatch.h"

namespace losslab::detail {

HWY_EXPORT(SegForwardF32);
HWY_EXPORT(SegForwardF64);
HWY_EXPORT(SegSumsF32);
HWY_EXPORT(SegSumsF64);
HWY_EXPORT(SegBackwardF32);
HWY_EXPORT(SegBackwardF64);

void seg_forward_f32(const SegFwdCall<float>& c, int64_t b0, int64_t b1) {
  if (use_scalar_reference()) return ref::seg_forward(c, b0, b1);
  HWY_DYNAMIC_DISPATCH(SegForwardF32)(c, b0, b1);
}
void seg_forward_f64(const SegFwdCall<double>& c, int64_t b0, int64_t b1) {
  if (use_scalar_reference()) return ref::seg_forward(c, b0, b1);
  HWY_DYNAMIC_DISPATCH(SegForwardF64)(c, b0, b1);
}
void seg_sums_f32(const SegSumCall<float>& c, int64_t b0, int64_t b1) {
  if (use_scalar_reference()) return ref::seg_sums(c, b0, b1);
  HWY_DYNAMIC_DISPATCH(SegSumsF32)(c, b0, b1);
}
void seg_sums_f64(const SegSumCall<double>& c, int64_t b0, int64_t b1) {
  if (use_scalar_reference()) return ref::seg_sums(c, b0, b1);
  HWY_DYNAMIC_DISPATCH(SegSumsF64)(c, b0, b1);
}
void seg_backward_f32(const SegBwdCall<float>& c, int64_t b0, int64_t b1) {
  if (use_scalar_reference()) return ref::seg_backward(c, b0, b1);
  HWY_DYNAMIC_DISPATCH(SegBackwardF32)(c, b0, b1);
}
void seg_backward_f64(const SegBwdCall<double>& c, int64_t b0, int64_t b1) {
  if (use_scalar_reference()) return ref::seg_backward(c, b0, b1);
  HWY_DYNAMIC_DISPATCH(SegBackwardF64)(c, b0, b1);
}

}  // namespace losslab::detail
#endif  // HWY_ONCE
