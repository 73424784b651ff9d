// losslab/losses/classification.h: classification losses.
//
// Names and semantics follow torch.nn.functional. Every function takes the
// `input` (logits, probabilities or log-probabilities), the `target`, an
// options struct written with designated initializers and optional
// caller-owned outputs:
//
//   std::vector<float> grad(n * c);
//   double loss = losslab::cross_entropy(
//       losslab::view<float>(logits.data(), {n, c}),
//       losslab::view<int64_t>(labels.data(), {n}),
//       {.label_smoothing = 0.1},
//       {.grad_out = losslab::mutable_view<float>(grad.data(), {n, c})});
//
// The return value is the reduced loss (for kNone: the sum of the losses
// written to `outputs.out`), rounded to the input dtype; the gradient is that
// of the reduced loss. A weighted mean divides by the sum of the weights that
// took part; when that sum is 0 (every target ignored or weighted 0) the loss
// is 0 with a zero gradient (PyTorch returns NaN there). Formulas, gradients,
// numerics and every choice where libraries differ:
// docs/losses_classification.md.
#ifndef LOSSLAB_LOSSES_CLASSIFICATION_H_
#define LOSSLAB_LOSSES_CLASSIFICATION_H_

#include <cstdint>

#include "losslab/core/reduction.h"
#include "losslab/core/view.h"
#include "losslab/losses/common.h"

namespace losslab {

// Binary cross-entropy on logits x with targets y in [0, 1] (soft targets
// allowed), same shape as the input:
//   l = max(x, 0) - x y + log1p(exp(-|x|)),  dl/dx = sigma(x) - y,
//   d2l/dx2 = sigma(x) (1 - sigma(x)).
// pos_weight p has shape (C,) for an input (..., C): it indexes the last
// dimension, which is PyTorch's documented meaning ("a weight of positive
// examples ... equal size along the class dimension"); (1,) applies one p to
// every element. With p: l = (1 - y) softplus(x) + p y softplus(-x).
// `weight` is per element (the input's shape). Elementwise: hess_out is
// supported. PyTorch: binary_cross_entropy_with_logits.
struct BceWithLogitsOptions {
  View weight = {};
  View pos_weight = {};
  Reduction reduction = Reduction::kMean;
  NanPolicy nan_policy = NanPolicy::kPropagate;
};
double binary_cross_entropy_with_logits(
    View input, View target, const BceWithLogitsOptions& options = {},
    const LossOutputs& outputs = {});

// Binary cross-entropy on probabilities x in [0, 1], PyTorch semantics: each
// log is clamped at -100, and dl/dx = (x - y) / max(x (1 - x), 1e-12).
// An input outside [0, 1] (or NaN) is an error: pass logits to
// binary_cross_entropy_with_logits instead. PyTorch: binary_cross_entropy.
struct BceOptions {
  View weight = {};
  Reduction reduction = Reduction::kMean;
};
double binary_cross_entropy(View input, View target,
                            const BceOptions& options = {},
                            const LossOutputs& outputs = {});

// Softmax cross-entropy on logits (N, C), (N, C, d1, ...) or (C,) with class
// indices (N,), (N, d1, ...) or () of dtype int64 or int32.
//   l_i = (1 - eps) w[y_i] (-log p_i,y_i) + (eps / C) sum_c w[c] (-log p_i,c)
// with p = softmax over the class dimension (dim 1, or dim 0 for (C,)).
// weight: (C,) class weights >= 0. Rows whose target equals ignore_index
// take no part. Mean divides by sum_i w[y_i] over rows not ignored.
// outputs.out (kNone) and grad_output_elementwise have the target's shape;
// grad_out has the input's shape; hess_out is not available.
// PyTorch: cross_entropy (with class-index targets).
struct CrossEntropyOptions {
  View weight = {};
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::kMean;
};
double cross_entropy(View input, View target,
                     const CrossEntropyOptions& options = {},
                     const LossOutputs& outputs = {});

// Negative log-likelihood on log-probabilities (N, C), (N, C, d1, ...) or
// (C,): l_i = -w[y_i] input[i, y_i]; same targets, weights, ignore_index
// and output shapes as cross_entropy. PyTorch: nll_loss.
struct NllOptions {
  View weight = {};
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::kMean;
};
double nll_loss(View input, View target, const NllOptions& options = {},
                const LossOutputs& outputs = {});

}  // namespace losslab

#endif  // LOSSLAB_LOSSES_CLASSIFICATION_H_
