// Internal: call records of the segmentation kernels and their reduction
// layout.
//
// Layout. The input (N, C, S) is walked in pixel blocks of kBlock (2048)
// pixels: work item b is image b / nsb, pixels [kBlock (b % nsb), ...) with
// nsb = ceil(S / kBlock). The forward pass (probabilities) and the backward
// pass (gradient) are per pixel, so they only need disjoint work items. The
// soft sums run per plane (image, class): item b is plane b / nsb, block
// b % nsb; inside a block pixel i goes to virtual lane (i mod 16) in the
// input dtype, the lanes are combined by combine_lanes and widened to double,
// and the blocks of a class (or of an (image, class) pair) are combined by
// pairwise_sum in (image, block) order. Threads only choose who computes a
// block, so results are bitwise identical for any thread count.
#ifndef LOSSLAB_SRC_LOSSES_SEGMENTATION_H_
#define LOSSLAB_SRC_LOSSES_SEGMENTATION_H_

#include <cstdint>

namespace losslab::detail {

// How probabilities are formed from the input.
enum class SegAct : int32_t { kIdentity, kSigmoid, kSoftmax };

template <class T>
struct SegFwdCall {
  const T* x;      // (N, C, S) input
  const T* valid;  // (N, S): 1 = pixel takes part, 0 = ignored; or null
  T* p;            // (N, C, S) probabilities, written as 0 at ignored pixels
  int64_t n, c, s;
  SegAct act;
};

template <class T>
struct SegSumCall {
  const T* p;  // (N, C, S) probabilities (0 at ignored pixels)
  const T* t;  // (N, C, S) targets (0 at ignored pixels)
  int64_t n, c, s;
  double* partials;  // 3 per item: sum p t, sum p, sum t
};

template <class T>
struct SegBwdCall {
  const T* p;      // (N, C, S) probabilities from the forward pass
  const T* t;      // (N, C, S) targets
  const T* valid;  // (N, S) or null
  const T* a;      // (N, C): dL/dp = valid (a t + b) for image n, class c
  const T* b;      // (N, C)
  T* grad;         // (N, C, S) gradient w.r.t. the input
  int64_t n, c, s;
  SegAct act;
};

void seg_forward_f32(const SegFwdCall<float>& c, int64_t b0, int64_t b1);
void seg_forward_f64(const SegFwdCall<double>& c, int64_t b0, int64_t b1);
void seg_sums_f32(const SegSumCall<float>& c, int64_t b0, int64_t b1);
void seg_sums_f64(const SegSumCall<double>& c, int64_t b0, int64_t b1);
void seg_backward_f32(const SegBwdCall<float>& c, int64_t b0, int64_t b1);
void seg_backward_f64(const SegBwdCall<double>& c, int64_t b0, int64_t b1);

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_SEGMENTATION_H_
