// losslab/losses/segmentation.h: soft region-overlap losses (Dice, Jaccard,
// Tversky / focal Tversky, Dice + cross-entropy) and hard overlap metrics.
//
// Input (N, C, d1, ...) logits (or probabilities with from_logits = false);
// target either a class-index map (N, d1, ...) of dtype int64/int32, or a
// mask of the input's shape and dtype with values in [0, 1]. The mode says
// how probabilities are formed:
//   kBinary      C = 1, p = sigmoid(x); an index map holds 0/1 labels
//   kMulticlass  p = softmax over C (dim 1); an index map is one-hot encoded
//   kMultilabel  p = sigmoid(x) per channel; the target must be a mask
// For each class c (over the whole batch, or per image with per_image) the
// soft sums are I = sum p t, P = sum p, T = sum t over the pixels that are
// not ignored, and the class loss l_c is 1 - score_c. Pixels whose index
// target equals ignore_index take no part: they change neither the loss nor
// the gradient. The loss is a weighted mean over classes (and images):
//   kMean  sum_g w_c l_g / sum_g w_c   (0 with a zero gradient if that is 0)
//   kSum   sum_g w_c l_g
//   kNone  outputs.out[g] = w_c l_g, shape (C,) or (N, C) with per_image
// where g runs over classes (or (image, class) pairs with per_image) and w is
// class_weights (1 without). The gradient is w.r.t. the input (through the
// sigmoid / softmax with from_logits). Formulas, numerics and every choice
// where libraries differ: docs/losses_segmentation.md.
//
//   double loss = losslab::dice_loss(
//       losslab::view<float>(logits, {n, c, h, w}),
//       losslab::view<int64_t>(labels, {n, h, w}),
//       {.mode = losslab::SegMode::kMulticlass, .ignore_index = 255},
//       {.grad_out = losslab::mutable_view<float>(grad, {n, c, h, w})});
#ifndef LOSSLAB_LOSSES_SEGMENTATION_H_
#define LOSSLAB_LOSSES_SEGMENTATION_H_

#include <cstdint>
#include <string_view>

#include "losslab/core/reduction.h"
#include "losslab/core/view.h"
#include "losslab/losses/common.h"

namespace losslab {

enum class SegMode : uint8_t { kBinary, kMulticlass, kMultilabel };

// Parses "binary" | "multiclass" | "multilabel"; throws losslab::Error naming
// `function` otherwise.
SegMode parse_seg_mode(std::string_view s, std::string_view function);

// Dice (Milletari et al. 2016, soft Dice as in segmentation_models_pytorch):
//   l_c = 1 - (2 I + smooth) / max(P + T + smooth, eps)
// smooth >= 0, eps >= 0, not both 0.
struct DiceOptions {
  SegMode mode = SegMode::kMulticlass;
  bool from_logits = true;
  View class_weights = {};  // (C,), the input's dtype, finite and >= 0
  int64_t ignore_index = -100;
  bool per_image = false;
  double smooth = 1.0;
  double eps = 1e-7;
  Reduction reduction = Reduction::kMean;
};
double dice_loss(View input, View target, const DiceOptions& options = {},
                 const LossOutputs& outputs = {});

// Soft Jaccard / IoU: l_c = 1 - (I + smooth) / max(P + T - I + smooth, eps).
struct JaccardOptions {
  SegMode mode = SegMode::kMulticlass;
  bool from_logits = true;
  View class_weights = {};
  int64_t ignore_index = -100;
  bool per_image = false;
  double smooth = 1.0;
  double eps = 1e-7;
  Reduction reduction = Reduction::kMean;
};
double jaccard_loss(View input, View target, const JaccardOptions& options = {},
                    const LossOutputs& outputs = {});

// Tversky (Salehi et al. 2017), focal when gamma != 1 (Abraham & Khan 2019):
//   TI_c = (I + smooth) / max(I + alpha (P - I) + beta (T - I) + smooth, eps)
//   l_c  = (1 - TI_c)^gamma
// alpha weighs false positives sum p (1 - t), beta false negatives
// sum (1 - p) t; alpha = beta = 0.5 is Dice with smooth doubled. The exponent
// is applied per class before averaging, as gamma itself (the authors' code,
// gamma = 0.75 there, which is the paper's 1/gamma with gamma = 4/3).
// alpha, beta >= 0, gamma > 0.
struct TverskyOptions {
  SegMode mode = SegMode::kMulticlass;
  bool from_logits = true;
  View class_weights = {};
  int64_t ignore_index = -100;
  bool per_image = false;
  double alpha = 0.5;
  double beta = 0.5;
  double gamma = 1.0;
  double smooth = 1.0;
  double eps = 1e-7;
  Reduction reduction = Reduction::kMean;
};
double tversky_loss(View input, View target, const TverskyOptions& options = {},
                    const LossOutputs& outputs = {});

// dice_weight * dice_loss + ce_weight * cross-entropy, gradients added.
// Multiclass: cross_entropy(input, target, weight = class_weights,
// ignore_index) and the target must be a class-index map; binary/multilabel:
// binary_cross_entropy_with_logits with ignored pixels weighted 0. Needs
// from_logits = true (the inputs are logits) and reduction kMean or kSum
// (both terms reduced that way).
struct DiceCrossEntropyOptions {
  SegMode mode = SegMode::kMulticlass;
  View class_weights = {};
  int64_t ignore_index = -100;
  bool per_image = false;
  double smooth = 1.0;
  double eps = 1e-7;
  double dice_weight = 1.0;
  double ce_weight = 1.0;
  Reduction reduction = Reduction::kMean;
};
double dice_cross_entropy_loss(View input, View target,
                               const DiceCrossEntropyOptions& options = {},
                               const LossOutputs& outputs = {});

// Hard overlap metrics. pred and target are either two masks of one shape
// (any float, integer or bool dtype; nonzero = foreground; one class), or,
// with num_classes > 0, two class-index maps of one shape (int64/int32)
// with labels in [0, num_classes); pixels whose target equals ignore_index
// are skipped. Per class: dice = 2|A n B| / (|A| + |B|), iou = |A n B| /
// |A u B|; a class that is empty in both pred and target scores 1.0 (a
// perfect prediction of absence). Returns the mean over classes; per_class,
// when present, receives the C scores (float64, shape (C,)).
struct OverlapScoreOptions {
  int64_t num_classes = 0;
  int64_t ignore_index = -100;
};
double dice_score(View pred, View target,
                  const OverlapScoreOptions& options = {},
                  MutableView per_class = {});
double iou_score(View pred, View target,
                 const OverlapScoreOptions& options = {},
                 MutableView per_class = {});

}  // namespace losslab

#endif  // LOSSLAB_LOSSES_SEGMENTATION_H_
