// losslab/losses/common.h: what every loss call can write besides its value.
#ifndef LOSSLAB_LOSSES_COMMON_H_
#define LOSSLAB_LOSSES_COMMON_H_

#include "losslab/core/view.h"

namespace losslab {

// Caller-owned outputs of a loss call. Each present view must be contiguous,
// have the input's shape and dtype, and is written in full. For float16 or
// bfloat16 input (elementwise losses) an output may also be float32: it then
// receives the float32 result before rounding to the half dtype (this is how
// a C++ caller asks for a float32 gradient; Python: grad_dtype="float32"). Argument errors
// (shape, dtype, options) are raised before anything is written; a data error
// found by the kernel (NaN target, bad weight, ...) fills every present output
// with NaN: never left half-written.
struct LossOutputs {
  MutableView out = {};  // per-element (weighted) losses; required for kNone
  MutableView grad_out = {};  // gradient of the reduced loss w.r.t. input
  MutableView hess_out = {};  // diagonal of its Hessian (elementwise losses)
  // Upstream gradient dL_total/dloss: a scalar for kMean / kSum ...
  double grad_output = 1.0;
  // ... or one per element for kNone (shape of the input).
  View grad_output_elementwise = {};
};

}  // namespace losslab

#endif  // LOSSLAB_LOSSES_COMMON_H_
