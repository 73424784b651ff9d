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
#include <optional>

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

// Softmax cross-entropy on logits (N, C), (N, C, d1, ...) or (C,) with
// class indices (N,), (N, d1, ...) or () of dtype int64 or int32:
//   l_i = (1 - eps) w[y_i] (-log p_i,y_i) + (eps / C) sum_c w[c] (-log p_i,c)
// with p = softmax over the class dimension (dim 1, or dim 0 for (C,)).
// weight: (C,) class weights >= 0. Rows whose target equals ignore_index
// take no part. Mean divides by sum_i w[y_i] over rows not ignored.
// Probability (soft) targets: a float target of the input's shape and dtype,
// each row (along the class dimension) >= 0 and summing to 1 within 1e-3
// (float32) or 1e-6 (float64), otherwise a ValueError naming the row:
//   l_i = sum_c w[c] q'_c (-log p_i,c),  q' = (1 - eps) q + eps / C,
// PyTorch semantics: ignore_index does not apply and the mean divides by the
// number of rows (not by a weight sum).
// z_loss lambda >= 0 adds lambda logsumexp(z_i)^2 per row not ignored
// (gradient 2 lambda lse p); with lambda = 0 the result is bitwise plain
// cross-entropy. logit_softcap c > 0 replaces the logits by c tanh(z / c)
// before everything else (the gradient goes through the tanh). The mean
// keeps PyTorch's denominator in both cases.
// outputs.out (kNone) and grad_output_elementwise have the target's shape
// (the input's shape without the class dimension for probability targets);
// grad_out has the input's shape; hess_out is not available.
// PyTorch: cross_entropy.
struct CrossEntropyOptions {
  View weight = {};
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::kMean;
  double z_loss = 0.0;
  std::optional<double> logit_softcap = std::nullopt;
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

// Binary hinge loss on scores x with labels y in {-1, 1}; {0, 1} labels are
// also accepted, 0 read as -1 (0 is not a valid {-1, 1} label, so this is
// unambiguous); any other label is a ValueError naming its index.
//   hinge_loss:          l = max(0, margin - y x),    dl/dx = -y [margin > y x]
//   squared_hinge_loss:  l = max(0, margin - y x)^2,  dl/dx = -2 y max(0, .)
// At the kink (margin = y x) the gradient is 0 (hinge) and the Hessian 0
// (squared hinge: 2 on the active side). Elementwise: `weight` is per element,
// hess_out is supported. Source: Cortes & Vapnik (1995); sklearn hinge_loss.
struct HingeOptions {
  double margin = 1.0;
  View weight = {};
  Reduction reduction = Reduction::kMean;
  NanPolicy nan_policy = NanPolicy::kPropagate;
};
double hinge_loss(View input, View target, const HingeOptions& options = {},
                  const LossOutputs& outputs = {});
double squared_hinge_loss(View input, View target,
                          const HingeOptions& options = {},
                          const LossOutputs& outputs = {});

// Multi-class margin loss, PyTorch semantics, on scores (N, C) or (C,) with
// class indices (N,) or () (int64 or int32):
//   l_i = w[y_i] / C * sum_{k != y_i} max(0, margin - x[i, y_i] + x[i, k])^p
// p is 1 or 2; weight (C,) >= 0 is indexed by the target class. kMean
// divides by N (PyTorch's rule for this loss), not by sum_i w[y_i].
// outputs.out and grad_output_elementwise have the target's shape. A NaN
// score gives a NaN row (PyTorch silently skips it). PyTorch:
// multi_margin_loss.
struct MultiMarginOptions {
  int p = 1;
  double margin = 1.0;
  View weight = {};
  Reduction reduction = Reduction::kMean;
};
double multi_margin_loss(View input, View target,
                         const MultiMarginOptions& options = {},
                         const LossOutputs& outputs = {});

// Kullback-Leibler divergence, PyTorch's kl_div: input holds
// log-probabilities log q, target probabilities p (log p with log_target):
//   l = p (log p - log q) pointwise, with 0 log 0 = 0 (value and gradient);
//   dl/dinput = -p, d2l/dinput2 = 0.
// Reductions: kBatchMean (the default here; PyTorch's default is 'mean')
// divides the sum by the input's dim 0, the batch size, which gives the true
// KL divergence per sample; kMean averages every element (PyTorch's 'mean');
// kSum, kNone (one value per element). Elementwise: hess_out is supported.
// No per-element weight (PyTorch has none). PyTorch: kl_div.
struct KlDivOptions {
  bool log_target = false;
  Reduction reduction = Reduction::kBatchMean;
};
double kl_div(View input, View target, const KlDivOptions& options = {},
              const LossOutputs& outputs = {});

// KL divergence between distributions given as probabilities along the last
// dimension: D(p || q) = sum_c p_c log(p_c / q_c) per row, with 0 log 0 = 0,
// and q_c = 0 < p_c giving +inf (never NaN). p, q >= 0 of the same shape; rows
// are not required to sum to 1. kNone gives one value per row (the shape
// without the last dimension; outputs.out and grad_output_elementwise have it);
// kMean divides the sum by the number of rows (PyTorch's kl_div 'batchmean' on
// a (N, C) input); kSum. The gradient and the diagonal Hessian are w.r.t. q
// (the model's distribution): -p / q and p / q^2 (0 where p = 0); p is data.
struct KlDivergenceOptions {
  Reduction reduction = Reduction::kMean;
};
double kl_divergence(View p, View q, const KlDivergenceOptions& options = {},
                     const LossOutputs& outputs = {});

// Sigmoid focal loss (Lin et al. 2017), torchvision semantics, on logits x
// with targets y in [0, 1], same shape:
//   p = sigma(x), p_t = p y + (1 - p)(1 - y),
//   l = a_t BCE-with-logits(x, y) (1 - p_t)^gamma,
//   a_t = alpha y + (1 - alpha)(1 - y)   (alpha = nullopt: a_t = 1).
// (1 - p_t)^gamma is formed from log-sigmoids in log space, or by
// multiplication for integer gamma, so values and gradients are finite for
// every gamma >= 0 and any finite x; gamma = 0 is exactly
// binary_cross_entropy_with_logits (times a_t). Gradient:
//   g = a_t [(p - y) m^gamma + gamma ce m^(gamma-1) p (1 - p)(1 - 2y)],
// m = 1 - p_t, with p - y formed as p (1 - y) - (1 - p) y and, for labels 0
// or 1, as -(2y - 1) a_t q^gamma (q + gamma p_t ce) with q = sigma(-(2y-1)x):
// a relative error of a few ulps also where m is tiny (docs/
// losses_classification.md). Default reduction
// kMean (torchvision's default is 'none'). `weight` is per element.
// hess_out receives the analytic diagonal Hessian (negative in places: the
// loss is not convex; formula in src/losses/focal_hessian-inl.h).
// torchvision.ops.sigmoid_focal_loss.
struct SigmoidFocalOptions {
  std::optional<double> alpha = 0.25;
  double gamma = 2.0;
  View weight = {};
  Reduction reduction = Reduction::kMean;
  NanPolicy nan_policy = NanPolicy::kPropagate;
};
double sigmoid_focal_loss(View input, View target,
                          const SigmoidFocalOptions& options = {},
                          const LossOutputs& outputs = {});

// Softmax (multiclass) focal loss (Lin et al. 2017) on logits (N, C),
// (N, C, d1, ...) or (C,) with class indices (int64/int32) as cross_entropy:
//   l_i = -alpha_t (1 - p_t)^gamma log p_t,   p_t = softmax(z_i)[y_i],
//   dl/dz_k = G (p_k - [k = y]),
//   G = alpha_t (1 - p_t)^gamma (1 - gamma p_t log(p_t) / (1 - p_t)).
// alpha: nullopt (alpha_t = 1), a scalar applied to every class, or
// alpha_per_class (C,) >= 0 indexed by the label (not both). gamma >= 0;
// gamma = 0 with no alpha is cross_entropy bit for bit. (1 - p_t)^gamma is
// formed in log space from the sum of exp over the other classes, so the
// loss and gradient are finite for saturated logits and every gamma >= 0.
// Rows equal to ignore_index take no part; kMean divides by the number of
// rows not ignored (alpha is a per-sample factor, not a normalized class
// weight); 0 with a zero gradient when every row is ignored. Output shapes
// as cross_entropy; no Hessian. PyTorch has no such loss.
struct SoftmaxFocalOptions {
  std::optional<double> alpha = std::nullopt;
  View alpha_per_class = {};
  double gamma = 2.0;
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::kMean;
};
double softmax_focal_loss(View input, View target,
                          const SoftmaxFocalOptions& options = {},
                          const LossOutputs& outputs = {});

}  // namespace losslab

#endif  // LOSSLAB_LOSSES_CLASSIFICATION_H_
