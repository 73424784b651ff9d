// losslab/losses/embedding.h: embedding (metric-learning) losses.
//
// Pair/triplet losses take rows of embeddings (..., D) (the last dimension is
// the embedding, every leading dimension is a sample); batch-mining losses and
// nt_xent_loss take one (N, D) batch with integer labels (N,). Every function
// takes an options struct written with designated initializers and optional
// caller-owned outputs:
//
//   std::vector<float> ga(n * d), gp(n * d), gn(n * d);
//   double loss = losslab::triplet_margin_loss(
//       losslab::view<float>(a.data(), {n, d}),
//       losslab::view<float>(p.data(), {n, d}),
//       losslab::view<float>(neg.data(), {n, d}), {.margin = 0.5},
//       {.grad_anchor = losslab::mutable_view<float>(ga.data(), {n, d}),
//        .grad_positive = losslab::mutable_view<float>(gp.data(), {n, d}),
//        .grad_negative = losslab::mutable_view<float>(gn.data(), {n, d})});
//
// The return value is the reduced loss (kNone: the sum of the losses written
// to `out`), rounded to the input dtype; gradients are those of the reduced
// loss. A weighted mean divides by the sum of the weights; a mean over nothing
// (all weights 0, no valid anchor, no active triplet) is 0 with a zero
// gradient. Formulas, gradients, numerics and every choice where libraries
// differ: docs/losses_embedding.md.
#ifndef LOSSLAB_LOSSES_EMBEDDING_H_
#define LOSSLAB_LOSSES_EMBEDDING_H_

#include "losslab/core/reduction.h"
#include "losslab/core/view.h"
#include "losslab/losses/common.h"

namespace losslab {

// Outputs of a loss with two or three differentiable embedding inputs. `out`
// and `grad_output_elementwise` have the per-sample shape (the input's shape
// without its last dimension); each grad_* has the input's shape and dtype.
struct TripletOutputs {
  MutableView out = {};               // per-sample (weighted) losses; kNone
  MutableView grad_anchor = {};       // d(reduced loss)/d anchor
  MutableView grad_positive = {};     // ... / d positive
  MutableView grad_negative = {};     // ... / d negative
  double grad_output = 1.0;           // upstream gradient for kMean / kSum
  View grad_output_elementwise = {};  // ... per sample for kNone
};
struct PairOutputs {
  MutableView out = {};
  MutableView grad_x1 = {};
  MutableView grad_x2 = {};
  double grad_output = 1.0;
  View grad_output_elementwise = {};
};

// PyTorch's triplet_margin_loss: with d(u, v) = || u - v + eps ||_p over the
// last dimension (torch.pairwise_distance adds eps to the difference),
//   l = max(margin + d(a, p) - d(a, n), 0),
// and with swap, d(a, n) is replaced by min(d(a, n), d(p, n)). p is finite and
// > 0, margin >= 0, eps >= 0. weight: optional per-sample weights (>= 0).
struct TripletMarginOptions {
  double margin = 1.0;
  double p = 2.0;
  double eps = 1e-6;
  bool swap = false;
  View weight = {};
  Reduction reduction = Reduction::kMean;
};
double triplet_margin_loss(View anchor, View positive, View negative,
                           const TripletMarginOptions& options = {},
                           const TripletOutputs& outputs = {});

// Hadsell, Chopra & LeCun (2006): with d = ||x1 - x2||_2 and target y in
// {0, 1} (1 = similar pair),
//   l = 0.5 [y d^2 + (1 - y) max(0, margin - d)^2].
// target: int32/int64/bool or the input's float dtype, per-sample shape.
struct ContrastiveOptions {
  double margin = 1.0;
  View weight = {};
  Reduction reduction = Reduction::kMean;
};
double contrastive_loss(View x1, View x2, View target,
                        const ContrastiveOptions& options = {},
                        const PairOutputs& outputs = {});

// PyTorch's cosine_embedding_loss: cos = x1.x2 / sqrt((|x1|^2 + 1e-12)
// (|x2|^2 + 1e-12)); l = 1 - cos for y = 1, max(0, cos - margin) for y = -1.
// Inputs (N, D) with target (N,), or (D,) with target (). margin in [-1, 1].
struct CosineEmbeddingOptions {
  double margin = 0.0;
  View weight = {};
  Reduction reduction = Reduction::kMean;
};
double cosine_embedding_loss(View x1, View x2, View target,
                             const CosineEmbeddingOptions& options = {},
                             const PairOutputs& outputs = {});

// Batch-mining triplet losses on embeddings (N, D) with integer labels (N,)
// (int32/int64), Euclidean distances d_ij = ||x_i - x_j||_2 computed directly
// (no Gram-matrix cancellation); the subgradient of d at 0 is 0.
//
// batch_hard_triplet_loss (Hermans, Beyer & Leibe 2017): for each anchor the
// farthest positive and the nearest negative, l_i = max(margin + d_ip -
// d_in, 0); the mean is over anchors that have a positive and a negative.
// kNone writes one loss per anchor (0 for anchors without a triplet).
//
// batch_all_triplet_loss: every triplet (a, p, n) with y_p = y_a, p != a,
// y_n != y_a, l = max(margin + d_ap - d_an, 0); the mean is over the
// triplets with l > 0 ("batch all, non-zero" of Hermans et al.); kSum sums
// every triplet; kNone writes per-anchor sums of its triplet losses.
//
// Gradients go to outputs.grad_out (N, D); hess_out is not available.
struct BatchTripletOptions {
  double margin = 1.0;
  Reduction reduction = Reduction::kMean;
};
double batch_hard_triplet_loss(View embeddings, View labels,
                               const BatchTripletOptions& options = {},
                               const LossOutputs& outputs = {});
double batch_all_triplet_loss(View embeddings, View labels,
                              const BatchTripletOptions& options = {},
                              const LossOutputs& outputs = {});

// NT-Xent / supervised contrastive loss (Chen et al. 2020; Khosla et al.
// 2020, L_out): z_i = x_i / max(||x_i||, eps) (torch.nn.functional.normalize),
// s_ik = z_i.z_k / temperature, positives P(i) = {k != i : y_k = y_i},
//   l_i = log sum_{k != i} exp(s_ik) - (1 / |P(i)|) sum_{p in P(i)} s_ip.
// With exactly one positive per row this is SimCLR's NT-Xent. Anchors without
// a positive take no part (0 in kNone); the mean is over anchors that have one.
struct NtXentOptions {
  double temperature = 0.07;
  double eps = 1e-12;
  Reduction reduction = Reduction::kMean;
};
double nt_xent_loss(View embeddings, View labels,
                    const NtXentOptions& options = {},
                    const LossOutputs& outputs = {});

}  // namespace losslab

#endif  // LOSSLAB_LOSSES_EMBEDDING_H_
