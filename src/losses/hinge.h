// Internal: the call record of the multi-class margin (multi_margin_loss) row
// kernel. Layout as cross_entropy.h: rows (one per sample, C scores each,
// contiguous) in blocks of kRowBlock rows, a block's partial is the sum of its
// row losses in row order in double, partials combined by pairwise_sum; inside
// a row the per-class terms go to 16 virtual lanes (class k to lane k mod 16)
// combined by combine_lanes, so the scalar twin and every SIMD target add the
// same numbers in the same order.
#ifndef LOSSLAB_SRC_LOSSES_HINGE_H_
#define LOSSLAB_SRC_LOSSES_HINGE_H_

#include <cstdint>

namespace losslab::detail {

template <class T>
struct MarginRowCall {
  const T* x;        // (rows, C) scores, contiguous
  const int64_t* y;  // one label per row in [0, C)
  const T* w;        // (C,) class weights, or null
  const T* gout;     // per-row upstream gradient (reduction none), or null
  T* out;            // per-row losses, or null
  T* grad;           // (rows, C) gradient of the reduced loss, or null
  int64_t rows, classes;
  T gscale;  // 1/N (mean) or 1, times grad_output
  T margin;
  int p;  // 1 or 2
};

// Runs row blocks [b0, b1) and writes partials[b]. Defined per SIMD target
// (hinge_kernels.cc) and as the scalar twin (hinge-inl.h).
void margin_blocks_f32(const MarginRowCall<float>& call, int64_t b0, int64_t b1,
                       double* partials);
void margin_blocks_f64(const MarginRowCall<double>& call, int64_t b0,
                       int64_t b1, double* partials);

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_HINGE_H_
