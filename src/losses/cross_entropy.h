// Internal: the call record of the softmax cross-entropy row kernel and its
// reduction layout.
//
// Layout. Rows (one per sample, C logits each, contiguous) are cut into
// blocks of kRowBlock rows; a block's partial is the sum of its row losses,
// added in row order in double. Partials are combined by pairwise_sum, so the
// value is bitwise identical for any thread count. Inside a row, exp(z - max)
// and the label-smoothing terms are added into 16 virtual lanes (element k to
// lane k mod 16) combined by combine_lanes, so the scalar twin and every SIMD
// target add the same numbers in the same order.
#ifndef LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_H_
#define LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_H_

#include <cstdint>

namespace losslab::detail {

inline constexpr int64_t kRowBlock = 64;

template <class T>
struct CeRowCall {
  const T* x;        // (rows, C) logits, contiguous
  const int64_t* y;  // one label per row in [0, C); -1 = ignored row
  const T* q;        // (rows, C) probability targets, or null (then y)
  const T* w;        // (C,) class weights, or null
  const T* gout;     // per-row upstream gradient (reduction none), or null
  T* out;            // per-row (weighted) losses, or null
  T* grad;           // (rows, C) gradient of the reduced loss, or null; may
                     // be x itself (written in place)
  int64_t rows, classes;
  T gscale;  // 1/sum(w[y]) or 1/count (mean), times grad_output
  T eps;     // label_smoothing in [0, 1]
  T wsum;    // sum of the class weights (C without weights)
  T zl;      // z-loss coefficient lambda >= 0 (0: no z-loss term at all)
  // float16 / bfloat16 logits (float32 calls with class indices only):
  // half_in = kHalfBf16 or kHalfF16 (elementwise.h), x is null and xh holds
  // the (rows, C) logits. SIMD targets convert them in registers (exactly)
  // and keep exp(z - m) in one float32 row of scratch per thread; the scalar
  // twin widens each row into that scratch. Either way the arithmetic is the
  // float32 row kernel's, so the results are bitwise those of float32 logits
  // holding the widened values. The gradient goes to grad (float32) or, when
  // grad is null, is rounded to nearest even into gh (the input's format).
  const uint16_t* xh = nullptr;
  uint16_t* gh = nullptr;
  uint8_t half_in = 0;
};

// Runs row blocks [b0, b1) and writes partials[b]. Defined per SIMD target
// (cross_entropy_kernels.cc) and as the scalar twin (cross_entropy-inl.h).
void ce_blocks_f32(const CeRowCall<float>& call, int64_t b0, int64_t b1,
                   double* partials);
void ce_blocks_f64(const CeRowCall<double>& call, int64_t b0, int64_t b1,
                   double* partials);

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_CROSS_ENTROPY_H_
