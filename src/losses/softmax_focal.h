// Internal: the call record of the softmax focal loss row kernel. Same
// layout as the cross-entropy row kernel (cross_entropy.h): rows of C
// contiguous logits in blocks of kRowBlock rows, one double partial per
// block combined by pairwise_sum; inside a row exp(z - max) is added into 16
// virtual lanes, so the scalar twin and every SIMD target add the same
// numbers in the same order.
#ifndef LOSSLAB_SRC_LOSSES_SOFTMAX_FOCAL_H_
#define LOSSLAB_SRC_LOSSES_SOFTMAX_FOCAL_H_

#include <cstdint>

#include "src/losses/cross_entropy.h"

namespace losslab::detail {

template <class T>
struct SoftmaxFocalRowCall {
  const T* x;        // (rows, C) logits, contiguous
  const int64_t* y;  // one label per row in [0, C); -1 = ignored row
  const T* alpha;    // (C,) per-class alpha, or null (then alpha_all)
  const T* gout;     // per-row upstream gradient (reduction none), or null
  T* out;            // per-row losses, or null
  T* grad;           // (rows, C) gradient of the reduced loss, or null
  int64_t rows, classes;
  T alpha_all;  // alpha of every class when alpha is null (1: no alpha)
  T gscale;     // 1/count (mean) or 1, times grad_output
  T gamma;      // focusing parameter >= 0
};

// Runs row blocks [b0, b1) and writes partials[b]. Defined per SIMD target
// (softmax_focal_kernels.cc) and as the scalar twin (softmax_focal-inl.h).
void softmax_focal_blocks_f32(const SoftmaxFocalRowCall<float>& call,
                              int64_t b0, int64_t b1, double* partials);
void softmax_focal_blocks_f64(const SoftmaxFocalRowCall<double>& call,
                              int64_t b0, int64_t b1, double* partials);

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_SOFTMAX_FOCAL_H_
