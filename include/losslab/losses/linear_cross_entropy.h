// losslab/losses/linear_cross_entropy.h: cross-entropy of a linear layer's
// logits without materializing them: the LLM output layer over a huge
// vocabulary.
//
//   logits = hidden (T, H) @ weight (V, H)^T (+ bias (V,))
//   loss   = cross_entropy(logits, target (T,), weight_per_class,
//                          ignore_index, label_smoothing, reduction,
//                          z_loss, logit_softcap)
//
// The (T, V) logits (2 GiB at T = 4096, V = 128000 in float32) are never
// formed. Tokens are processed in chunks of Tc rows: one GEMM makes the
// chunk's logits, the cross-entropy row kernel turns them into the loss and
// dL/dlogits in one pass over the chunk, and two GEMMs accumulate
// grad_hidden = G @ weight and grad_weight += G^T @ hidden. That is exactly
// the three matrix products the loss needs, with extra memory of one Tc x V
// buffer (the chunk's logits, overwritten by their gradient). Semantics,
// options and the weighted mean are those of cross_entropy (PyTorch's
// cross_entropy on the unfused logits).
//
// dtypes: hidden and weight float32 or float64, or both float16 / bfloat16.
// Half inputs run the float32 path, which widens each block of hidden and
// weight to float32 (exactly) as its GEMM needs it, so GEMMs and the softmax
// accumulate in float32. The loss, grad_weight and grad_bias are bit for bit
// the float32 call's on the widened values; grad_hidden sums over V by
// vocabulary blocks of 512 rows (within float32 rounding of it). Outputs are
// in the input's dtype (rounded to nearest even from float32) or float32
// when the caller's array is float32; bias, weight_per_class and an
// elementwise grad_output may be the input's dtype or float32. The half
// path's extra memory beside the chunk buffer is the chunk's hidden rows in
// float32 (and their gradient, for a half grad_hidden) and, for a half
// grad_weight, the low 16 bits of its float32 accumulator (V x H 16-bit
// values; the token chunks add into it, and the high 16 bits are kept in the
// caller's array until the result is rounded into it).
#ifndef LOSSLAB_LOSSES_LINEAR_CROSS_ENTROPY_H_
#define LOSSLAB_LOSSES_LINEAR_CROSS_ENTROPY_H_

#include <cstdint>
#include <optional>

#include "losslab/core/reduction.h"
#include "losslab/core/view.h"

namespace losslab {

struct LinearCrossEntropyOptions {
  View bias = {};              // (V,), optional
  View weight_per_class = {};  // (V,) class weights >= 0, optional
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::kMean;
  // z-loss lambda >= 0: adds lambda logsumexp(logits_t)^2 per token not
  // ignored (PaLM); 0 leaves the loss bitwise unchanged.
  double z_loss = 0.0;
  // c > 0: logits -> c tanh(logits / c) before the softmax (Gemma 2).
  std::optional<double> logit_softcap = std::nullopt;
  // Tokens per chunk; 0 chooses so that the one chunk buffer (the logits,
  // overwritten by their gradient) stays at most 128 MiB and 10% of the
  // full logits.
  int64_t chunk_tokens = 0;
};

struct LinearCrossEntropyOutputs {
  MutableView out = {};          // (T,) per-token losses; required for kNone
  MutableView grad_hidden = {};  // (T, H)
  MutableView grad_weight = {};  // (V, H)
  MutableView grad_bias = {};    // (V,); needs options.bias
  double grad_output = 1.0;      // upstream gradient for kMean / kSum
  View grad_output_elementwise = {};  // (T,) upstream for kNone
};

// Returns the reduced loss (kNone: the sum of the per-token losses).
double linear_cross_entropy(View hidden, View weight, View target,
                            const LinearCrossEntropyOptions& options = {},
                            const LinearCrossEntropyOutputs& outputs = {});

}  // namespace losslab

#endif  // LOSSLAB_LOSSES_LINEAR_CROSS_ENTROPY_H_
