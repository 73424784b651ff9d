"""The loss catalog and the loss-spec language of the losslab command.

A loss spec names a loss and, optionally, its parameters::

    mse  mae  l1  huber  huber:1.5  huber:delta=1.5  quantile:0.9
    weighted_bce  weighted_bce:9.7  focal:2:0.95  ce:0.1  weighted_ce

``name[:v1[:v2]]`` gives the parameters in the order of the spec's table
below, ``name:key=value`` by name (both may be mixed; a full losslab name such
as ``huber_loss`` works too). Every value is a number. Parameters marked
"auto" are computed from the TRAINING labels of each fold:

* ``weighted_bce`` pos_weight = n_negative / n_positive;
* ``focal`` alpha = share of negatives (so the rare positives weigh more;
  torchvision's 0.25 is ``focal:2:0.25``);
* ``weighted_ce`` weight = losslab.class_weights(labels) (sklearn's
  "balanced": N / (C n_c)).

:func:`catalog` describes every loss losslab has, trainable or not; it feeds
``losslab list`` and ``losslab explain``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import CliError

__all__ = [
    "LossSpec",
    "LossInfo",
    "SpecInfo",
    "SPECS",
    "parse_loss_spec",
    "catalog",
    "lookup",
    "families",
    "default_losses",
    "resolve_options",
    "spec_names",
]


# --------------------------------------------------------------------------- catalog


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    meaning: str


@dataclass(frozen=True)
class LossInfo:
    name: str  # losslab function name
    family: str  # regression | classification | segmentation | embedding | generative | llm
    summary: str  # one line for `losslab list`
    formula: str
    parameters: tuple  # of Param
    use_when: str
    avoid_when: str
    gradient_behaviour: str
    torch_equivalent: str
    spec_example: str  # a `losslab` spec or eval command line
    aliases: tuple = ()
    arrays: tuple = ("input", "target")  # positional arrays of the function (for eval)
    int_arrays: tuple = ()  # arrays that hold class indices (cast to int64 by eval)
    trainable: bool = False  # usable by train / compare


def _p(name, default, meaning):
    return Param(name, default, meaning)


_RED = _p("reduction", "mean", '"mean", "sum" or "none"')

_CATALOG = [
    # ---------------------------------------------------------------- regression
    LossInfo(
        name="mse_loss",
        aliases=("mse", "l2"),
        family="regression",
        summary="mean squared error: the default regression loss",
        formula="l = (x - y)^2",
        parameters=(_RED,),
        use_when="the default for regression: errors are roughly Gaussian and you want the conditional mean; "
        "large errors should cost much more than small ones.",
        avoid_when="the target has outliers or heavy tails (a few huge residuals dominate the fit: use huber or mae); "
        "the target is on a large scale and not standardized (gradients explode: keep --standardize-target on).",
        gradient_behaviour="dl/dx = 2 (x - y): grows linearly with the error, so outliers get the largest pull; "
        "smooth everywhere, constant curvature 2.",
        torch_equivalent="torch.nn.functional.mse_loss",
        spec_example="mse",
        trainable=True,
    ),
    LossInfo(
        name="l1_loss",
        aliases=("mae", "l1"),
        family="regression",
        summary="mean absolute error: robust to outliers, predicts the median",
        formula="l = |x - y|",
        parameters=(_RED,),
        use_when="outliers or heavy-tailed noise in the target; you want the conditional median; the metric you "
        "report is MAE.",
        avoid_when="the data are clean and Gaussian (MSE converges faster and estimates the mean); you need smooth "
        "second derivatives (boosting with Hessians).",
        gradient_behaviour="dl/dx = sign(x - y): constant size 1 whatever the error, so outliers pull no harder "
        "than any point; not differentiable at 0 (subgradient 0) and zero curvature, so training near the optimum "
        "oscillates unless the learning rate decays.",
        torch_equivalent="torch.nn.functional.l1_loss",
        spec_example="mae",
        trainable=True,
    ),
    LossInfo(
        name="huber_loss",
        aliases=("huber",),
        family="regression",
        summary="quadratic near 0, linear beyond delta: MSE's speed with MAE's robustness",
        formula="l = 0.5 (x - y)^2 if |x - y| <= delta else delta (|x - y| - 0.5 delta)",
        parameters=(_p("delta", 1.0, "error size where the loss turns from quadratic to linear (target units)"), _RED),
        use_when="regression with some outliers: errors below delta are treated as Gaussian noise, larger ones "
        "as outliers. Set delta from the residual scale, e.g. 1.345 x the robust residual std (MAD / 0.6745) "
        "of a first fit; on a standardized target delta = 1 is a good start.",
        avoid_when="the data are clean (plain MSE is simpler); delta is on the wrong scale: with a raw target of "
        "100,000s and delta = 1 Huber is just MAE; with a tiny target and large delta it is MSE.",
        gradient_behaviour="dl/dx = (x - y) clipped to [-delta, delta]: linear for small errors, bounded by delta "
        "for outliers; continuous first derivative, curvature 1 inside and 0 outside the band.",
        torch_equivalent="torch.nn.functional.huber_loss",
        spec_example="huber:1.0",
        trainable=True,
    ),
    LossInfo(
        name="smooth_l1_loss",
        aliases=("smooth_l1",),
        family="regression",
        summary="Huber divided by beta (Fast R-CNN's box regression loss)",
        formula="l = 0.5 (x - y)^2 / beta if |x - y| < beta else |x - y| - 0.5 beta",
        parameters=(_p("beta", 1.0, "width of the quadratic zone; beta = 0 is L1"), _RED),
        use_when="the same situations as Huber when you want the linear part to have slope 1 (box regression in "
        "detection models); the loss scale stays that of L1.",
        avoid_when="as for Huber; note smooth_l1 = huber / beta, so the two differ only in gradient scale.",
        gradient_behaviour="dl/dx = (x - y) / beta inside the band, sign(x - y) outside: bounded by 1.",
        torch_equivalent="torch.nn.functional.smooth_l1_loss",
        spec_example="smooth_l1:1.0",
        trainable=True,
    ),
    LossInfo(
        name="pseudo_huber_loss",
        aliases=("pseudo_huber",),
        family="regression",
        summary="smooth Huber: delta^2 (sqrt(1 + (e/delta)^2) - 1)",
        formula="l = delta^2 (sqrt(1 + ((x - y) / delta)^2) - 1)",
        parameters=(_p("delta", 1.0, "scale beyond which the loss grows linearly"), _RED),
        use_when="you want Huber's robustness with derivatives of every order (second-order optimizers, "
        "gradient boosting with Hessians).",
        avoid_when="as for Huber; its gradient approaches delta only slowly, so outliers are down-weighted a bit less "
        "sharply.",
        gradient_behaviour="dl/dx = e / sqrt(1 + (e/delta)^2): about e for small errors, tends to delta sign(e); "
        "curvature (1 + (e/delta)^2)^(-3/2) > 0 everywhere.",
        torch_equivalent="none (optax.huber_loss is the non-smooth one); Charbonnier loss with eps = delta",
        spec_example="pseudo_huber:1.0",
        trainable=True,
    ),
    LossInfo(
        name="log_cosh_loss",
        aliases=("log_cosh", "logcosh"),
        family="regression",
        summary="log(cosh(error)): about e^2/2 for small errors, |e| - log 2 for large ones",
        formula="l = log(cosh(x - y))",
        parameters=(_RED,),
        use_when="a smooth robust loss with no parameter, on a standardized target (its turning point is at error ~1).",
        avoid_when="the target scale is large and not standardized (then it is just MAE).",
        gradient_behaviour="dl/dx = tanh(x - y): linear near 0, bounded by 1; curvature 1 - tanh^2 > 0.",
        torch_equivalent="none (Keras: tf.keras.losses.log_cosh)",
        spec_example="log_cosh",
        trainable=True,
    ),
    LossInfo(
        name="quantile_loss",
        aliases=("quantile", "pinball"),
        family="regression",
        summary="pinball loss: predicts the q-th conditional quantile",
        formula="l = max(q (y - x), (q - 1)(y - x))",
        parameters=(_p("quantile", 0.5, "q in (0, 1); 0.5 is MAE / 2 (the median)"), _RED),
        use_when="costs are asymmetric (under-predicting costs cost_under, over-predicting cost_over: use "
        "q = cost_under / (cost_under + cost_over)); prediction intervals (two models, e.g. q = 0.1 and 0.9).",
        avoid_when="you need the mean; q near 0 or 1 with little data (few points lie in the tail, the estimate is noisy).",
        gradient_behaviour="dl/dx = -q if x < y else 1 - q: constant, asymmetric, no curvature; like MAE it is "
        "robust to outliers and needs a decaying learning rate to settle.",
        torch_equivalent="none (torchmetrics / pytorch-forecasting QuantileLoss)",
        spec_example="quantile:0.9",
        trainable=True,
    ),
    LossInfo(
        name="poisson_nll_loss",
        aliases=("poisson",),
        family="regression",
        summary="Poisson negative log-likelihood for counts (model outputs the log-rate)",
        formula="l = exp(x) - y x  (log_input=True; x = log rate)",
        parameters=(
            _p("log_input", True, "input is the log of the rate"),
            _p("full", False, "add Stirling's term"),
            _p("eps", 1e-8, "guard of log(input) when log_input=False"),
            _RED,
        ),
        use_when="the target is a count or a non-negative rate whose variance grows with its mean (claims, visits).",
        avoid_when="the target can be negative; counts are over-dispersed far beyond Poisson (consider a "
        "negative-binomial model).",
        gradient_behaviour="dl/dx = exp(x) - y: smooth and convex; the exponential makes large log-rates steep, so "
        "start from small outputs.",
        torch_equivalent="torch.nn.functional.poisson_nll_loss",
        spec_example="poisson",
        trainable=True,
    ),
    LossInfo(
        name="gaussian_nll_loss",
        aliases=("gaussian_nll",),
        family="regression",
        summary="Gaussian negative log-likelihood with a predicted variance",
        formula="l = 0.5 (log v + (x - y)^2 / v), v = max(var, eps)",
        parameters=(_p("full", False, "add 0.5 log(2 pi)"), _p("eps", 1e-6, "variance floor"), _RED),
        use_when="the model predicts its own uncertainty (heteroscedastic regression).",
        avoid_when="the variance head is unconstrained early in training (it can collapse; use a softplus and eps).",
        gradient_behaviour="dl/dx = (x - y) / v; dl/dv = 0.5 (1/v - (x - y)^2 / v^2).",
        torch_equivalent="torch.nn.functional.gaussian_nll_loss",
        spec_example="losslab eval gaussian_nll_loss --input mu.npy --target y.npy --var var.npy",
        arrays=("input", "target", "var"),
    ),
    # ------------------------------------------------------------ classification
    LossInfo(
        name="binary_cross_entropy_with_logits",
        aliases=("bce", "bce_with_logits", "logistic"),
        family="classification",
        summary="binary cross-entropy on logits: the default binary loss",
        formula="l = -[w_p y log s(x) + (1 - y) log(1 - s(x))], s = sigmoid",
        parameters=(
            _p("pos_weight", None, "weight of the positive term (weighted_bce: n_neg / n_pos)"),
            _p("weight", None, "per-element weights"),
            _RED,
        ),
        use_when="binary classification with well-calibrated probabilities as the goal; the default. With class "
        "imbalance use pos_weight = n_negative / n_positive (spec weighted_bce) so the rare class is not ignored.",
        avoid_when="you feed probabilities instead of logits (use binary_cross_entropy, less stable); heavy "
        "imbalance with plain BCE and a 0.5 threshold (recall of the rare class collapses).",
        gradient_behaviour="dl/dx = s(x) - y (times pos_weight on positives): bounded in [-1, 1], vanishes as the "
        "prediction becomes right; computed from log-sigmoids, finite for any logit.",
        torch_equivalent="torch.nn.functional.binary_cross_entropy_with_logits",
        spec_example="bce   (weighted: weighted_bce or weighted_bce:9.7)",
        trainable=True,
    ),
    LossInfo(
        name="binary_cross_entropy",
        aliases=("bce_probs",),
        family="classification",
        summary="binary cross-entropy on probabilities",
        formula="l = -[y log p + (1 - y) log(1 - p)] (log clamped at -100 as torch)",
        parameters=(_p("weight", None, "per-element weights"), _RED),
        use_when="the model already outputs probabilities (after a sigmoid).",
        avoid_when="you have logits: the with-logits version is numerically stable and cheaper.",
        gradient_behaviour="dl/dp = (p - y) / (p (1 - p)): explodes as p approaches 0 or 1 on the wrong side.",
        torch_equivalent="torch.nn.functional.binary_cross_entropy",
        spec_example="losslab eval binary_cross_entropy --input p.npy --target y.npy",
    ),
    LossInfo(
        name="sigmoid_focal_loss",
        aliases=("focal",),
        family="classification",
        summary="focal loss: BCE that down-weights easy examples (binary / multilabel)",
        formula="l = alpha_t (1 - p_t)^gamma BCE(x, y)",
        parameters=(
            _p("gamma", 2.0, "focusing strength; 0 = BCE"),
            _p("alpha", "auto", "weight of positives in [0, 1] (CLI auto: share of negatives; torchvision 0.25)"),
            _RED,
        ),
        use_when="strong class imbalance with many easy negatives (dense detection, rare-event prediction): the "
        "(1 - p_t)^gamma factor stops the easy majority from dominating the gradient. Set alpha so the rare class "
        "weighs more (alpha ~ share of negatives).",
        avoid_when="label noise is high (focal up-weights hard = often mislabeled examples); you need calibrated "
        "probabilities (focal pushes them toward 0.5); alpha = 0.25 on a rare positive class down-weights it further.",
        gradient_behaviour="like BCE's s(x) - y scaled by alpha_t (1 - p_t)^gamma plus a focusing term: nearly 0 for "
        "confident correct predictions, so the gradient concentrates on hard examples; not convex.",
        torch_equivalent="torchvision.ops.sigmoid_focal_loss",
        spec_example="focal:2:0.95",
        trainable=True,
    ),
    LossInfo(
        name="cross_entropy",
        aliases=("ce", "categorical_cross_entropy", "softmax"),
        family="classification",
        summary="softmax cross-entropy on logits: the multiclass default",
        formula="l = -log softmax(x)_y  (label smoothing: (1 - e) (-log p_y) + e/C sum_c -log p_c)",
        parameters=(
            _p("label_smoothing", 0.0, "e in [0, 1): spreads e of the target mass over all classes"),
            _p("weight", None, "per-class weights (weighted_ce: losslab.class_weights)"),
            _p("ignore_index", -100, "target value that is skipped"),
            _RED,
        ),
        use_when="multiclass classification (one label per example); label smoothing 0.05-0.1 helps large "
        "over-confident networks; class weights (weighted_ce) for imbalanced classes.",
        avoid_when="examples can have several labels (use BCE per class); you want only the decision and no "
        "probabilities (multi_hinge).",
        gradient_behaviour="dl/dx = softmax(x) - onehot(y): bounded, vanishes as the right class dominates; "
        "computed with log-sum-exp, stable for any logits.",
        torch_equivalent="torch.nn.functional.cross_entropy",
        spec_example="ce   (ce:0.1 = label smoothing 0.1; weighted_ce)",
        int_arrays=("target",),
        trainable=True,
    ),
    LossInfo(
        name="nll_loss",
        aliases=("nll",),
        family="classification",
        summary="negative log-likelihood on log-probabilities",
        formula="l = -w[y] x[y]",
        parameters=(_p("weight", None, "per-class weights"), _p("ignore_index", -100, "skipped target"), _RED),
        use_when="the model ends in log_softmax.",
        avoid_when="you have raw logits (use cross_entropy, which fuses the log-softmax).",
        gradient_behaviour="dl/dx = -w[y] at the target entry, 0 elsewhere.",
        torch_equivalent="torch.nn.functional.nll_loss",
        spec_example="losslab eval nll_loss --input logp.npy --target labels.npy",
        int_arrays=("target",),
    ),
    LossInfo(
        name="softmax_focal_loss",
        aliases=("focal_multiclass",),
        family="classification",
        summary="multiclass focal loss on logits",
        formula="l = -alpha_y (1 - p_y)^gamma log p_y",
        parameters=(_p("gamma", 2.0, "focusing strength"), _p("alpha", None, "per-class weights"), _RED),
        use_when="imbalanced multiclass problems dominated by easy examples.",
        avoid_when="noisy labels; you need calibrated probabilities.",
        gradient_behaviour="cross-entropy's gradient damped by (1 - p_y)^gamma for confident examples.",
        torch_equivalent="none (kornia.losses.focal_loss)",
        spec_example="losslab eval softmax_focal_loss --input logits.npy --target labels.npy --gamma 2",
        int_arrays=("target",),
    ),
    LossInfo(
        name="hinge_loss",
        aliases=("hinge",),
        family="classification",
        summary="SVM hinge loss max(0, 1 - y x) on scores, labels in {-1, 1} or {0, 1}",
        formula="l = max(0, margin - y x)",
        parameters=(_p("margin", 1.0, "required margin"), _RED),
        use_when="only the decision matters (no probabilities needed): max-margin linear classifiers; robust to "
        "points far on the right side.",
        avoid_when="you need probabilities or a ranking score to threshold (hinge scores are not calibrated).",
        gradient_behaviour="dl/dx = -y inside the margin, 0 outside: correct confident points stop contributing; "
        "not differentiable at the kink.",
        torch_equivalent="torch.nn.functional.hinge_embedding_loss is different; sklearn.metrics.hinge_loss",
        spec_example="hinge",
        trainable=True,
    ),
    LossInfo(
        name="squared_hinge_loss",
        aliases=("squared_hinge",),
        family="classification",
        summary="squared hinge max(0, 1 - y x)^2 (L2-SVM)",
        formula="l = max(0, margin - y x)^2",
        parameters=(_p("margin", 1.0, "required margin"), _RED),
        use_when="as hinge, with a smooth gradient (LinearSVC's default loss).",
        avoid_when="outliers on the wrong side (the square makes them dominate); probabilities needed.",
        gradient_behaviour="dl/dx = -2 y max(0, margin - y x): continuous, grows with the violation.",
        torch_equivalent="none (sklearn LinearSVC loss='squared_hinge')",
        spec_example="squared_hinge",
        trainable=True,
    ),
    LossInfo(
        name="multi_margin_loss",
        aliases=("multi_hinge", "multiclass_hinge"),
        family="classification",
        summary="multiclass hinge (Crammer-Singer style, torch's MultiMarginLoss)",
        formula="l = 1/C sum_{k != y} max(0, margin - x_y + x_k)^p",
        parameters=(_p("margin", 1.0, "required margin"), _p("p", 1, "1 or 2"), _p("weight", None, "per-class"), _RED),
        use_when="multiclass where only the decision matters; a max-margin alternative to cross-entropy.",
        avoid_when="you need class probabilities or calibration.",
        gradient_behaviour="+1/C for each violating wrong class, -(violations)/C for the true class; 0 once every "
        "margin is met.",
        torch_equivalent="torch.nn.functional.multi_margin_loss",
        spec_example="multi_hinge",
        int_arrays=("target",),
        trainable=True,
    ),
    LossInfo(
        name="kl_div",
        aliases=(),
        family="classification",
        summary="KL divergence, torch's kl_div (input = log q, target = p)",
        formula="l = p (log p - input)",
        parameters=(_p("log_target", False, "target given as log p"), _p("reduction", "batchmean", "batchmean/mean/sum/none")),
        use_when="distillation and matching soft targets (teacher probabilities).",
        avoid_when="hard labels (use cross_entropy); note reduction 'mean' is not the KL divergence, 'batchmean' is.",
        gradient_behaviour="dl/dinput = -p: constant in the input; the softmax before it supplies the dynamics.",
        torch_equivalent="torch.nn.functional.kl_div",
        spec_example="losslab eval kl_div --input logq.npy --target p.npy",
    ),
    LossInfo(
        name="kl_divergence",
        aliases=("kl",),
        family="classification",
        summary="KL divergence D(p || q) between probability rows",
        formula="D = sum_c p_c log(p_c / q_c)",
        parameters=(_RED,),
        use_when="comparing two probability distributions directly.",
        avoid_when="q can be 0 where p > 0 (infinite); you have logits (use kl_div with log_softmax).",
        gradient_behaviour="dD/dp = log(p/q) + 1.",
        torch_equivalent="torch.distributions.kl_divergence (for Categorical)",
        spec_example="losslab eval kl_divergence --input p.npy --target q.npy",
        arrays=("p", "q"),
    ),
    # -------------------------------------------------------------- segmentation
    LossInfo(
        name="dice_loss",
        aliases=("dice",),
        family="segmentation",
        summary="soft Dice loss: overlap of predicted and true masks",
        formula="l = 1 - (2 sum p t + smooth) / (sum p + sum t + smooth), averaged over classes",
        parameters=(
            _p("mode", "multiclass", "binary / multiclass / multilabel"),
            _p("smooth", 1.0, "additive smoothing"),
            _p("from_logits", True, "apply sigmoid / softmax first"),
            _RED,
        ),
        use_when="segmentation with a small foreground (the loss is normalised by the mask size, so tiny "
        "structures count); usually combined with cross-entropy (dice_cross_entropy_loss).",
        avoid_when="alone on very small or empty masks (noisy gradient); when per-pixel calibration matters.",
        gradient_behaviour="global: each pixel's gradient depends on the sums over the whole mask; can be unstable "
        "early, hence Dice + CE.",
        torch_equivalent="segmentation_models_pytorch.losses.DiceLoss (monai.losses.DiceLoss)",
        spec_example="losslab eval dice_loss --input logits.npy --target mask.npy",
        int_arrays=("target",),
    ),
    LossInfo(
        name="jaccard_loss",
        aliases=("jaccard", "iou"),
        family="segmentation",
        summary="soft Jaccard (IoU) loss",
        formula="l = 1 - (sum p t + smooth) / (sum p + sum t - sum p t + smooth)",
        parameters=(_p("mode", "multiclass", "binary / multiclass / multilabel"), _p("smooth", 1.0, "smoothing"), _RED),
        use_when="the evaluation metric is IoU.",
        avoid_when="as Dice.",
        gradient_behaviour="as Dice, global over the mask.",
        torch_equivalent="segmentation_models_pytorch.losses.JaccardLoss",
        spec_example="losslab eval jaccard_loss --input logits.npy --target mask.npy",
        int_arrays=("target",),
    ),
    LossInfo(
        name="tversky_loss",
        aliases=("tversky", "focal_tversky"),
        family="segmentation",
        summary="Tversky loss: Dice with separate false-positive / false-negative weights",
        formula="l = (1 - TP / (TP + alpha FP + beta FN))^gamma",
        parameters=(
            _p("alpha", 0.5, "false-positive weight"),
            _p("beta", 0.5, "false-negative weight (raise it to favour recall)"),
            _p("gamma", 1.0, "focal Tversky exponent"),
            _RED,
        ),
        use_when="segmentation where missing foreground is worse than extra foreground (lesions): beta > alpha.",
        avoid_when="balanced masks (Dice is simpler).",
        gradient_behaviour="as Dice, reweighted toward the false negatives when beta > alpha.",
        torch_equivalent="segmentation_models_pytorch.losses.TverskyLoss",
        spec_example="losslab eval tversky_loss --input logits.npy --target mask.npy --beta 0.7 --alpha 0.3",
        int_arrays=("target",),
    ),
    LossInfo(
        name="dice_cross_entropy_loss",
        aliases=("dice_ce", "dice+ce"),
        family="segmentation",
        summary="Dice + cross-entropy: the standard segmentation loss (nnU-Net)",
        formula="l = dice_weight * dice + ce_weight * CE",
        parameters=(_p("dice_weight", 1.0, "weight of Dice"), _p("ce_weight", 1.0, "weight of CE"), _RED),
        use_when="semantic / medical segmentation: CE gives stable per-pixel gradients, Dice handles the "
        "foreground / background imbalance.",
        avoid_when="not a segmentation task.",
        gradient_behaviour="sum of the two: CE's local softmax - onehot plus Dice's global term.",
        torch_equivalent="monai.losses.DiceCELoss",
        spec_example="losslab compare --dataset brain_mri --losses bce,dice_ce  (arrays: losslab eval "
        "dice_cross_entropy_loss --input logits.npy --target mask.npy)",
        int_arrays=("target",),
    ),
    # ------------------------------------------------------------------ embedding
    LossInfo(
        name="triplet_margin_loss",
        aliases=("triplet",),
        family="embedding",
        summary="triplet margin loss on (anchor, positive, negative) embeddings",
        formula="l = max(margin + d(a, p) - d(a, n), 0)",
        parameters=(_p("margin", 1.0, "required distance gap"), _p("p", 2.0, "norm degree"), _p("swap", False, "distance swap"), _RED),
        use_when="metric learning with mined triplets (face / person re-identification).",
        avoid_when="triplets are random (most are easy: zero gradient); use batch_hard_triplet_loss.",
        gradient_behaviour="zero for triplets already separated by the margin; unit-length pulls otherwise.",
        torch_equivalent="torch.nn.functional.triplet_margin_loss",
        spec_example="losslab eval triplet_margin_loss --input a.npy --target p.npy --negative n.npy",
        arrays=("anchor", "positive", "negative"),
    ),
    LossInfo(
        name="contrastive_loss",
        aliases=("contrastive",),
        family="embedding",
        summary="pairwise contrastive loss (Hadsell et al. 2006)",
        formula="l = 0.5 [y d^2 + (1 - y) max(0, margin - d)^2]",
        parameters=(_p("margin", 1.0, "distance beyond which dissimilar pairs stop costing"), _RED),
        use_when="siamese networks trained on labelled similar / dissimilar pairs.",
        avoid_when="you have class labels for a whole batch (nt_xent / batch-hard triplet use more pairs).",
        gradient_behaviour="similar pairs pulled proportionally to d; dissimilar ones pushed until d >= margin.",
        torch_equivalent="none (pytorch-metric-learning ContrastiveLoss)",
        spec_example="losslab eval contrastive_loss --input x1.npy --x2 x2.npy --target y.npy",
        arrays=("x1", "x2", "target"),
    ),
    LossInfo(
        name="cosine_embedding_loss",
        aliases=("cosine_embedding",),
        family="embedding",
        summary="cosine embedding loss on pairs, target 1 / -1",
        formula="l = 1 - cos (y = 1), max(0, cos - margin) (y = -1)",
        parameters=(_p("margin", 0.0, "in [-1, 1]"), _RED),
        use_when="pair similarity where only the direction of embeddings matters.",
        avoid_when="magnitudes carry information.",
        gradient_behaviour="tangential to the embeddings (cos is scale invariant).",
        torch_equivalent="torch.nn.functional.cosine_embedding_loss",
        spec_example="losslab eval cosine_embedding_loss --input x1.npy --x2 x2.npy --target y.npy",
        arrays=("x1", "x2", "target"),
    ),
    LossInfo(
        name="batch_hard_triplet_loss",
        aliases=("batch_hard",),
        family="embedding",
        summary="batch-hard triplet loss: hardest positive and negative per anchor",
        formula="l_i = max(margin + max_p d(i, p) - min_n d(i, n), 0)",
        parameters=(_p("margin", 1.0, "gap"), _RED),
        use_when="metric learning from class labels with P x K batches (Hermans et al. 2017).",
        avoid_when="noisy labels (the hardest examples are often mislabeled).",
        gradient_behaviour="only the hardest pair of each anchor receives gradient.",
        torch_equivalent="none (pytorch-metric-learning TripletMarginLoss + BatchHardMiner)",
        spec_example="losslab eval batch_hard_triplet_loss --input emb.npy --target labels.npy",
        arrays=("embeddings", "labels"),
        int_arrays=("labels",),
    ),
    LossInfo(
        name="batch_all_triplet_loss",
        aliases=("batch_all",),
        family="embedding",
        summary="batch-all triplet loss: mean over the active triplets of a batch",
        formula="mean over (a, p, n) with l > 0 of max(margin + d(a, p) - d(a, n), 0)",
        parameters=(_p("margin", 1.0, "gap"), _RED),
        use_when="metric learning early in training, when batch-hard is too aggressive.",
        avoid_when="very large batches (cubic number of triplets).",
        gradient_behaviour="averaged over the violating triplets only.",
        torch_equivalent="none",
        spec_example="losslab eval batch_all_triplet_loss --input emb.npy --target labels.npy",
        arrays=("embeddings", "labels"),
        int_arrays=("labels",),
    ),
    LossInfo(
        name="nt_xent_loss",
        aliases=("nt_xent", "supcon", "infonce"),
        family="embedding",
        summary="NT-Xent / supervised contrastive loss (SimCLR, SupCon)",
        formula="l_i = logsumexp_{k != i} s_ik - mean_{p in P(i)} s_ip, s = cos / temperature",
        parameters=(_p("temperature", 0.07, "softmax temperature"), _RED),
        use_when="contrastive representation learning with augmented views or labels.",
        avoid_when="small batches (few negatives); temperature too low makes training unstable.",
        gradient_behaviour="softmax-weighted pulls toward positives and pushes from hard negatives; scaled by 1/temperature.",
        torch_equivalent="none (pytorch-metric-learning NTXentLoss / SupConLoss)",
        spec_example="losslab eval nt_xent_loss --input emb.npy --target labels.npy --temperature 0.1",
        arrays=("embeddings", "labels"),
        int_arrays=("labels",),
    ),
    # ----------------------------------------------------------------- generative
    LossInfo(
        name="gan_discriminator_loss",
        aliases=("gan_d",),
        family="generative",
        summary="GAN discriminator loss on real / fake logits (minimax, non-saturating, hinge, wasserstein, LS)",
        formula="non_saturating: softplus(-r) + softplus(f)",
        parameters=(_p("kind", "non_saturating", "minimax / non_saturating / hinge / wasserstein / least_squares"), _RED),
        use_when="training a GAN discriminator.",
        avoid_when="not a GAN.",
        gradient_behaviour="per kind; hinge and LS keep gradients for confident outputs bounded.",
        torch_equivalent="none",
        spec_example="losslab eval gan_discriminator_loss --input real.npy --target fake.npy",
        arrays=("real", "fake"),
    ),
    LossInfo(
        name="gan_generator_loss",
        aliases=("gan_g",),
        family="generative",
        summary="GAN generator loss on the discriminator's fake logits",
        formula="non_saturating: softplus(-f)",
        parameters=(_p("kind", "non_saturating", "as the discriminator's"), _RED),
        use_when="training a GAN generator; non_saturating avoids the vanishing gradient of minimax.",
        avoid_when="not a GAN.",
        gradient_behaviour="non_saturating: -sigmoid(-f), strong when the discriminator wins.",
        torch_equivalent="none",
        spec_example="losslab eval gan_generator_loss --input fake.npy",
        arrays=("fake",),
    ),
    LossInfo(
        name="reconstruction_loss",
        aliases=("reconstruction",),
        family="generative",
        summary="VAE reconstruction term (mse / bce / bce_with_logits summed per sample)",
        formula="mean over samples of sum over features of the pointwise loss",
        parameters=(_p("kind", "mse", "mse / bce / bce_with_logits"), _RED),
        use_when="autoencoders and VAEs.",
        avoid_when="-",
        gradient_behaviour="that of the pointwise loss, not divided by the feature count.",
        torch_equivalent="F.mse_loss(..., reduction='sum') / N",
        spec_example="losslab eval reconstruction_loss --input recon.npy --target x.npy",
        arrays=("recon", "x"),
    ),
    LossInfo(
        name="gaussian_kl_loss",
        aliases=("gaussian_kl",),
        family="generative",
        summary="KL(N(mu, exp(logvar)) || N(0, I)) of a VAE",
        formula="-0.5 sum (1 + logvar - mu^2 - exp(logvar))",
        parameters=(_RED,),
        use_when="the regulariser of a VAE.",
        avoid_when="-",
        gradient_behaviour="d/dmu = mu; d/dlogvar = 0.5 (exp(logvar) - 1).",
        torch_equivalent="none (closed form)",
        spec_example="losslab eval gaussian_kl_loss --input mu.npy --target logvar.npy",
        arrays=("mu", "logvar"),
    ),
    LossInfo(
        name="vae_loss",
        aliases=("vae",),
        family="generative",
        summary="VAE loss: reconstruction + beta KL",
        formula="reconstruction_loss(recon, x) + beta gaussian_kl_loss(mu, logvar)",
        parameters=(_p("recon_kind", "bce_with_logits", "reconstruction kind"), _p("beta", 1.0, "KL weight (beta-VAE)"), _RED),
        use_when="training a VAE.",
        avoid_when="-",
        gradient_behaviour="sum of the two terms' gradients.",
        torch_equivalent="none",
        spec_example="losslab eval vae_loss --input recon.npy --target x.npy --mu mu.npy --logvar lv.npy",
        arrays=("recon", "x", "mu", "logvar"),
    ),
    # ------------------------------------------------------------------------ llm
    LossInfo(
        name="linear_cross_entropy",
        aliases=("fused_linear_ce",),
        family="llm",
        summary="cross-entropy of a linear layer's logits without forming them (LLM heads)",
        formula="CE(hidden W^T + b, target), chunked",
        parameters=(_p("label_smoothing", 0.0, "as cross_entropy"), _p("z_loss", 0.0, "z-loss weight"), _RED),
        use_when="language-model heads with large vocabularies (memory).",
        avoid_when="small class counts (plain cross_entropy).",
        gradient_behaviour="as cross_entropy, w.r.t. hidden and weight.",
        torch_equivalent="none (Liger / Apple cut-cross-entropy)",
        spec_example="losslab eval linear_cross_entropy --input h.npy --weight W.npy --target t.npy",
        arrays=("hidden", "weight", "target"),
        int_arrays=("target",),
    ),
]

_BY_NAME = {info.name: info for info in _CATALOG}
_BY_ALIAS = {}
for _info in _CATALOG:
    _BY_ALIAS[_info.name] = _info
    for _a in _info.aliases:
        _BY_ALIAS[_a] = _info


def catalog() -> list:
    """Every loss losslab has, as :class:`LossInfo`, grouped by family."""
    return list(_CATALOG)


def families() -> list:
    return sorted({i.family for i in _CATALOG})


def lookup(name_or_alias: str) -> LossInfo:
    """The catalog entry of a loss name, alias or spec short name."""
    key = name_or_alias.strip().lower().split(":")[0]
    if key in _BY_ALIAS:
        return _BY_ALIAS[key]
    if key in SPECS:
        return _BY_NAME[SPECS[key].loss]
    raise CliError(
        f"unknown loss {name_or_alias!r}{_did_you_mean(key, list(_BY_ALIAS) + list(SPECS))}; "
        f"known: {', '.join(sorted(_BY_NAME))} (see `losslab list`)"
    )


def _did_you_mean(key: str, names) -> str:
    """' (did you mean 'huber'?)' for a name close to a known one, else ''."""
    import difflib

    m = difflib.get_close_matches(key, sorted(set(names)), n=1, cutoff=0.75)
    return f" (did you mean {m[0]!r}?)" if m else ""


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class SpecInfo:
    short: str
    loss: str  # losslab name given to fit
    params: tuple  # positional parameter names, in spec order
    defaults: dict  # default values ("auto" = computed from training labels)
    tasks: tuple  # tasks it trains on
    symbols: dict = field(default_factory=dict)  # display symbols of params
    extra: dict = field(default_factory=dict)  # fixed options


_REG = ("regression",)
_BIN = ("binary",)
_CLS = ("binary", "multiclass")

SPECS = {
    "mse": SpecInfo("mse", "mse_loss", (), {}, _REG),
    "mae": SpecInfo("mae", "l1_loss", (), {}, _REG),
    "huber": SpecInfo("huber", "huber_loss", ("delta",), {"delta": 1.0}, _REG, {"delta": "δ"}),
    "smooth_l1": SpecInfo("smooth_l1", "smooth_l1_loss", ("beta",), {"beta": 1.0}, _REG, {"beta": "β"}),
    "pseudo_huber": SpecInfo("pseudo_huber", "pseudo_huber_loss", ("delta",), {"delta": 1.0}, _REG, {"delta": "δ"}),
    "log_cosh": SpecInfo("log_cosh", "log_cosh_loss", (), {}, _REG),
    "quantile": SpecInfo("quantile", "quantile_loss", ("quantile",), {"quantile": 0.5}, _REG, {"quantile": "q"}),
    "poisson": SpecInfo("poisson", "poisson_nll_loss", (), {}, _REG),
    "bce": SpecInfo("bce", "binary_cross_entropy_with_logits", (), {}, _BIN),
    "weighted_bce": SpecInfo(
        "weighted_bce", "binary_cross_entropy_with_logits", ("pos_weight",), {"pos_weight": "auto"}, _BIN, {"pos_weight": "w"}
    ),
    "focal": SpecInfo(
        "focal", "sigmoid_focal_loss", ("gamma", "alpha"), {"gamma": 2.0, "alpha": "auto"}, _BIN, {"gamma": "γ", "alpha": "α"}
    ),
    "ce": SpecInfo("ce", "cross_entropy", ("label_smoothing",), {"label_smoothing": 0.0}, _CLS, {"label_smoothing": "ε"}),
    "weighted_ce": SpecInfo("weighted_ce", "cross_entropy", ("label_smoothing",), {"label_smoothing": 0.0, "weight": "auto"}, _CLS, {"label_smoothing": "ε"}),
    "hinge": SpecInfo("hinge", "hinge_loss", ("margin",), {"margin": 1.0}, _BIN, {"margin": "m"}),
    "squared_hinge": SpecInfo("squared_hinge", "squared_hinge_loss", ("margin",), {"margin": 1.0}, _BIN, {"margin": "m"}),
    "multi_hinge": SpecInfo("multi_hinge", "multi_margin_loss", ("margin", "p"), {"margin": 1.0, "p": 1}, _CLS, {"margin": "m"}),
    # Segmentation losses on per-pixel rows (binary: one logit per pixel);
    # the engine treats each mini-batch as one image, so the soft overlap
    # runs over the batch's pixels. Trainable when the engine lists them in
    # losslab.trainable_losses().
    "dice": SpecInfo("dice", "dice_loss", (), {}, _BIN),
    "jaccard": SpecInfo("jaccard", "jaccard_loss", (), {}, _BIN),
    "tversky": SpecInfo(
        "tversky", "tversky_loss", ("alpha", "beta", "gamma"), {"alpha": 0.5, "beta": 0.5, "gamma": 1.0}, _BIN,
        {"alpha": "α", "beta": "β", "gamma": "γ"},
    ),
    "dice_ce": SpecInfo(
        "dice_ce", "dice_cross_entropy_loss", ("dice_weight", "ce_weight"), {"dice_weight": 1.0, "ce_weight": 1.0}, _BIN,
        {"dice_weight": "w_dice", "ce_weight": "w_ce"},
    ),
}
_SPEC_ALIASES = {
    "l1": "mae",
    "l1_loss": "mae",
    "mse_loss": "mse",
    "l2": "mse",
    "huber_loss": "huber",
    "smooth_l1_loss": "smooth_l1",
    "pseudo_huber_loss": "pseudo_huber",
    "log_cosh_loss": "log_cosh",
    "logcosh": "log_cosh",
    "quantile_loss": "quantile",
    "pinball": "quantile",
    "poisson_nll_loss": "poisson",
    "binary_cross_entropy_with_logits": "bce",
    "bce_with_logits": "bce",
    "sigmoid_focal_loss": "focal",
    "cross_entropy": "ce",
    "categorical_cross_entropy": "ce",
    "hinge_loss": "hinge",
    "squared_hinge_loss": "squared_hinge",
    "multi_margin_loss": "multi_hinge",
    "multiclass_hinge": "multi_hinge",
    "dice_loss": "dice",
    "jaccard_loss": "jaccard",
    "iou": "jaccard",
    "tversky_loss": "tversky",
    "dice_cross_entropy_loss": "dice_ce",
    "dice+ce": "dice_ce",
}
# Options a spec accepts by name beyond its positional ones (the loss's own).
_KEYWORD_ONLY = {
    "poisson": {"log_input": True, "full": False, "eps": 1e-8},
    "multi_hinge": {},
    "dice": {"smooth": 1.0},
    "jaccard": {"smooth": 1.0},
    "tversky": {"smooth": 1.0},
    "dice_ce": {"smooth": 1.0},
}


def engine_trainable() -> set:
    """Loss names the installed engine can train (losslab.trainable_losses())."""
    try:
        import losslab

        return set(losslab.trainable_losses())
    except Exception:  # pragma: no cover - the extension is missing
        return set()


def spec_names() -> list:
    return sorted(SPECS) + sorted(_SPEC_ALIASES)


def default_losses(task: str, segmentation: bool = False) -> list:
    """Losses compare uses when --losses is not given (segmentation data:
    bce, dice_ce, dice when the engine trains Dice)."""
    if segmentation and task == "binary" and {"dice_loss", "dice_cross_entropy_loss"} <= engine_trainable():
        return ["bce", "dice_ce", "dice"]
    return {
        "regression": ["mse", "mae", "huber"],
        "binary": ["bce", "weighted_bce", "focal"],
        "multiclass": ["ce", "multi_hinge"],
    }[task]


@dataclass
class LossSpec:
    text: str  # as the user wrote it, e.g. "huber:1.0"
    name: str  # losslab loss name, e.g. "huber_loss"
    options: dict  # e.g. {"delta": 1.0}; "auto" values are filled per fold
    label: str  # short display label, e.g. "huber(δ=1)"
    short: str = ""  # spec short name, e.g. "huber"

    @property
    def has_auto(self) -> bool:
        return any(v == "auto" for v in self.options.values())


def _fmt(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _parse_value(text: str, key: str, spec: str):
    t = text.strip()
    low = t.lower()
    if low == "auto":
        return "auto"
    if low in ("true", "false"):
        return low == "true"
    try:
        v = float(t)
    except ValueError:
        raise CliError(f"loss spec {spec!r}: value {text!r} of {key} is not a number") from None
    if not math.isfinite(v):
        raise CliError(f"loss spec {spec!r}: {key} must be finite, got {text!r}")
    return v


def parse_loss_spec(text: str, ds=None, overrides: dict | None = None, *, require_trainable: bool = True) -> LossSpec:
    """Parses a loss spec (module docstring). ``ds`` (a Dataset) checks that
    the loss fits the task; ``overrides`` ({param: value}, e.g. from
    ``--delta 1``) replace spec values. Unknown names / options and values out
    of range are CliErrors listing what is accepted; so is a loss the
    installed engine cannot train, unless ``require_trainable=False``."""
    raw = (text or "").strip()
    if not raw:
        raise CliError("empty loss spec; give e.g. mse, huber:1 or quantile:0.9")
    parts = raw.split(":")
    key = parts[0].strip().lower()
    key = _SPEC_ALIASES.get(key, key)
    if key not in SPECS:
        if key in _BY_ALIAS:
            info = _BY_ALIAS[key]
            raise CliError(
                f"loss {parts[0]!r} ({info.name}) cannot be trained by train/compare; trainable specs: "
                f"{', '.join(sorted(SPECS))} (it works with `losslab eval`)"
            )
        raise CliError(
            f"unknown loss {parts[0]!r}{_did_you_mean(key, SPECS)}; known specs: {', '.join(sorted(SPECS))} "
            f"(see `losslab list` / `losslab explain NAME`)"
        )
    info = SPECS[key]
    if require_trainable and info.loss not in engine_trainable():
        raise CliError(
            f"loss {key!r} ({info.loss}) cannot be trained by this build of losslab (its engine trains: "
            f"{', '.join(sorted(engine_trainable()))}); use `losslab eval` for it, or update losslab"
        )
    options = dict(info.defaults)
    options.update(info.extra)
    allowed = set(info.params) | set(_KEYWORD_ONLY.get(key, {}))
    positional = 0
    for piece in parts[1:]:
        piece = piece.strip()
        if not piece:
            continue
        if "=" in piece:
            k, v = piece.split("=", 1)
            k = k.strip().replace("-", "_")
            if k not in allowed:
                raise CliError(
                    f"loss {key!r} has no option {k!r}; its options: {', '.join(sorted(allowed)) or 'none'}"
                )
            options[k] = _parse_value(v, k, raw)
        else:
            if positional >= len(info.params):
                if not info.params:
                    raise CliError(f"loss {key!r} takes no parameters, got {raw!r}; write just {key!r}")
                raise CliError(
                    f"loss {key!r} takes at most {len(info.params)} parameter(s) "
                    f"({':'.join(info.params)}), got {raw!r}"
                )
            k = info.params[positional]
            options[k] = _parse_value(piece, k, raw)
            positional += 1
    for k, v in (overrides or {}).items():
        if v is None:
            continue
        k = k.replace("-", "_")
        if k not in allowed:
            raise CliError(
                f"option --{k.replace('_', '-')} does not apply to loss {key!r}; its options: "
                f"{', '.join('--' + a.replace('_', '-') for a in sorted(allowed)) or 'none'}"
            )
        options[k] = v if v == "auto" else float(v)
    _check_ranges(key, options, raw)
    if key == "multi_hinge":
        options["p"] = int(options["p"])
    if key == "poisson":
        for k in ("log_input", "full"):
            if k in options:
                options[k] = bool(options[k])
    if ds is not None:
        check_task(key, ds.task, raw)
    label = key
    # Parameters at the value that makes the plain loss (label smoothing 0,
    # p = 1, equal Dice / CE weights, Tversky gamma 1) are not shown.
    quiet = {"label_smoothing", "p", "dice_weight", "ce_weight"} | ({"gamma"} if key == "tversky" else set())
    shown = [k for k in info.params if k in options and not (k in quiet and options[k] == info.defaults[k])]
    if shown:
        label += "(" + ", ".join(f"{info.symbols.get(k, k)}={_fmt(options[k])}" for k in shown) + ")"
    return LossSpec(text=raw, name=info.loss, options=options, label=label, short=key)


def check_task(short: str, task: str, text: str | None = None) -> None:
    info = SPECS[short]
    if task in info.tasks:
        return
    fits = [s for s, i in SPECS.items() if task in i.tasks]
    raise CliError(
        f"loss {text or short!r} is for {' / '.join(info.tasks)} tasks, but this is a {task} task; "
        f"use one of: {', '.join(fits)} (or set --task)"
    )


def _check_ranges(key, o, raw):
    def bad(msg):
        raise CliError(f"loss spec {raw!r}: {msg}")

    for k, v in o.items():
        if v == "auto" and SPECS[key].defaults.get(k) != "auto":
            bad(f"{k} cannot be auto; give a number")
        if isinstance(v, bool) and k not in ("log_input", "full"):
            bad(f"{k} must be a number, got {str(v).lower()}")
    if key in ("huber", "pseudo_huber") and not (isinstance(o["delta"], float) and o["delta"] > 0):
        bad(f"delta must be > 0, got {o['delta']}")
    if key == "smooth_l1" and not (o["beta"] >= 0):
        bad(f"beta must be >= 0, got {o['beta']}")
    if key == "quantile" and not (0 < o["quantile"] < 1):
        bad(f"quantile must be in (0, 1), got {o['quantile']}")
    if key == "weighted_bce" and o["pos_weight"] != "auto" and not (o["pos_weight"] > 0):
        bad(f"pos_weight must be > 0 or auto, got {o['pos_weight']}")
    if key == "focal":
        if o["gamma"] == "auto" or not (o["gamma"] >= 0):
            bad(f"gamma must be a number >= 0, got {o['gamma']}")
        if o["alpha"] != "auto" and not (0 <= o["alpha"] <= 1):
            bad(f"alpha must be in [0, 1] or auto, got {o['alpha']}")
    if key in ("ce", "weighted_ce") and not (0 <= o["label_smoothing"] < 1):
        bad(f"label_smoothing must be in [0, 1), got {o['label_smoothing']}")
    if key in ("hinge", "squared_hinge", "multi_hinge") and not (o["margin"] >= 0):
        bad(f"margin must be >= 0, got {o['margin']}")
    if key == "multi_hinge" and o["p"] not in (1.0, 2.0, 1, 2):
        bad(f"p must be 1 or 2, got {o['p']}")
    if key == "tversky":
        if not (o["alpha"] >= 0 and o["beta"] >= 0 and o["alpha"] + o["beta"] > 0):
            bad(f"alpha and beta must be >= 0 and not both 0, got {o['alpha']} and {o['beta']}")
        if not (o["gamma"] > 0):
            bad(f"gamma must be > 0, got {o['gamma']}")
    if key == "dice_ce" and not (o["dice_weight"] >= 0 and o["ce_weight"] >= 0):
        bad("dice_weight and ce_weight must be >= 0")
    if "smooth" in o and not (o["smooth"] >= 0):
        bad(f"smooth must be >= 0, got {o['smooth']}")


def resolve_options(spec: LossSpec, y_train: np.ndarray, n_classes) -> dict:
    """The options given to losslab.fit: "auto" values computed from the
    training labels (see the module docstring)."""
    opts = {}
    y = np.asarray(y_train)
    for k, v in spec.options.items():
        if v != "auto":
            opts[k] = v
            continue
        if k == "pos_weight":
            n_pos = int((y == 1).sum())
            n_neg = int((y == 0).sum())
            opts[k] = float(n_neg / n_pos) if n_pos > 0 else 1.0
        elif k == "alpha":
            opts[k] = float((y == 0).mean()) if y.size else 0.5
        elif k == "weight":
            import losslab

            opts[k] = [float(w) for w in losslab.class_weights(y.astype(np.int64), num_classes=int(n_classes), missing="zero")]
        else:  # pragma: no cover - every auto option is handled above
            raise CliError(f"cannot compute {k}=auto")
    return opts
