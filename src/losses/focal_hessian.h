// Internal: the diagonal Hessian of the sigmoid focal loss (a separate
// elementwise kernel next to the loss's own functor, which computes l and
// g). Every element is independent, so the result does not depend on the
// thread count.
#ifndef LOSSLAB_SRC_LOSSES_FOCAL_HESSIAN_H_
#define LOSSLAB_SRC_LOSSES_FOCAL_HESSIAN_H_

#include <cstdint>

namespace losslab::detail {

template <class T>
struct FocalHessCall {
  const T* x;     // logits
  const T* y;     // targets in [0, 1]
  const T* w;     // per-element weights, or null
  const T* gout;  // per-element upstream gradient (reduction none), or null
  T* hess;        // output
  T scale;        // reduction scale times grad_output (when gout is null)
  T alpha;        // < 0: no alpha weighting
  T gamma;        // >= 0
};

// Elements [i0, i1). Per SIMD target (focal_hessian_kernels.cc) and the
// scalar twin (focal_hessian-inl.h).
void focal_hess_f32(const FocalHessCall<float>& c, int64_t i0, int64_t i1);
void focal_hess_f64(const FocalHessCall<double>& c, int64_t i0, int64_t i1);

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_FOCAL_HESSIAN_H_
