// Per-target compilation of the sigmoid focal loss Hessian kernel and the
// one dispatch point that picks a target (or the scalar twin) at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/losses/focal_hessian_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "src/losses/focal_hessian-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {

void FocalHessF32(const detail::FocalHessCall<float>& c, int64_t i0,
                  int64_t i1) {
  FocalHess(c, i0, i1);
}
void FocalHessF64(const detail::FocalHessCall<double>& c, int64_t i0,
                  int64_t i1) {
  FocalHess(c, i0, i1);
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "losslab/core/dispatch.h"

namespace losslab::detail {

HWY_EXPORT(FocalHessF32);
HWY_EXPORT(FocalHessF64);

void focal_hess_f32(const FocalHessCall<float>& c, int64_t i0, int64_t i1) {
  if (use_scalar_reference()) return ref::focal_hess(c, i0, i1);
  HWY_DYNAMIC_DISPATCH(FocalHessF32)(c, i0, i1);
}

void focal_hess_f64(const FocalHessCall<double>& c, int64_t i0, int64_t i1) {
  if (use_scalar_reference()) return ref::focal_hess(c, i0, i1);
  HWY_DYNAMIC_DISPATCH(FocalHessF64)(c, i0, i1);
}

}  // namespace losslab::detail
#endif  // HWY_ONCE
