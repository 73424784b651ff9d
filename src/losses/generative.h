// Internal: the elementwise kernels of the generative losses. They run on the
// shared elementwise block driver (elementwise-inl.h, read-only here) with
// their own functors (generative-inl.h) and their own dispatch point
// (generative_kernels.cc). The driver's `y` is unused by the one-input
// functors (the op layer passes y = x) and its data flags are ignored: these
// losses propagate NaN like PyTorch and validate their parameters up front.
#ifndef LOSSLAB_SRC_LOSSES_GENERATIVE_H_
#define LOSSLAB_SRC_LOSSES_GENERATIVE_H_

#include <cstdint>

#include "src/losses/elementwise.h"

namespace losslab::detail {

enum class GenFnId : int32_t {
  kSoftplus,  // l = m softplus(s x)            (p0 = s, p1 = m)
  kHinge,     // l = m max(1 + s x, 0)          (p0 = s, p1 = m)
  kLinear,    // l = s x                        (p0 = s)
  kHalfSq,    // l = (x - a)^2 / 2              (p0 = a)
  kKlLogvar,  // l = (expm1(x) - x) / 2
  // l = 0.5 (log v + (x - y)^2 / v) [+ 0.5 log 2 pi], v = max(aux, p0); the
  // var gradient 0.5 (1 - (x - y)^2 / v) / v goes to ElemCall::hess (scaled
  // like the gradient), which is why the op layer sets hess = grad_var.
  kGaussNll,  // (p0 = eps, kOptFull)
};

uint32_t gen_blocks_f32(GenFnId id, const ElemCall<float>& call, int64_t b0,
                        int64_t b1, double* partials);
uint32_t gen_blocks_f64(GenFnId id, const ElemCall<double>& call, int64_t b0,
                        int64_t b1, double* partials);

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_GENERATIVE_H_
