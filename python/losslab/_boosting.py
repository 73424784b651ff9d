"""Custom objectives for gradient-boosting libraries, on losslab's kernels.

A booster asks its objective, for each sample, for the first and second
derivatives of the loss with respect to the raw margin. losslab computes both
in one fused pass (``reduction="none"``, ``return_hess=True``); this module
only adapts the calling convention (labels and sample weights from the
library's dataset object) and applies the documented Hessian floor.

Objectives (``name``, options):

==================  ==========================================================
``squared_error``   ½ (p − y)²: g = p − y, h = 1 (XGBoost's reg:squarederror)
``huber``           huber_loss(delta): h = 1 inside |d| < delta, 0 outside
``pseudo_huber``    pseudo_huber_loss(delta)
``log_cosh``        log_cosh_loss
``quantile``        quantile_loss(quantile): g from the pinball loss; the true
                    Hessian is 0 almost everywhere, so a constant h = 1 is
                    used (the smoothed Hessian LightGBM also uses); a leaf
                    then moves at most max(tau, 1 - tau) per round (times
                    the learning rate): standardize the target
``poisson``         poisson_nll_loss(log_input=True): g = e^p − y, h = e^p
``logistic``        binary_cross_entropy_with_logits: g = σ(p) − y,
                    h = σ(p)(1 − σ(p)) (XGBoost's binary:logistic)
``focal``           sigmoid_focal_loss(alpha=0.25, gamma=2): g and the
                    analytic diagonal Hessian (return_hess). The focal loss
                    is not convex: h < 0 where the focusing term dominates
                    (e.g. well-classified samples at gamma >= 1), and the
                    floor below raises those to hess_floor
``softmax``         multiclass cross_entropy on (N, C) margins:
                    g = softmax − onehot, h = p (1 − p), the exact diagonal
                    of the Hessian (XGBoost's multi:softprob uses the bound
                    2 p (1 − p))
==================  ==========================================================

Hessian floor: every Hessian is raised to at least ``hess_floor`` (default
1e-6) so that leaves with only flat-region samples (Huber outside delta,
saturated logits) still get a finite Newton step −Σg / (Σh + λ) and trees
keep splitting; pass ``hess_floor=0`` to disable. Sample weights multiply g
and h, as the libraries expect of a custom objective.
"""

from __future__ import annotations

import numpy as np

import losslab as _ll

OBJECTIVES = ("squared_error", "huber", "pseudo_huber", "log_cosh", "quantile",
              "poisson", "logistic", "focal", "softmax")


def _elementwise(loss, **options):
    def derivatives(pred, label):
        _, g, h = loss(pred, label, reduction="none", return_hess=True, **options)
        return g, h
    return derivatives


def _squared_error(pred, label):
    # mse_loss gives 2(p − y) and 2; XGBoost's convention is ½(p − y)².
    _, g, h = _ll.mse_loss(pred, label, reduction="none", return_hess=True)
    return 0.5 * g, 0.5 * h


def _quantile(quantile):
    def derivatives(pred, label):
        _, g = _ll.quantile_loss(pred, label, quantile=quantile, reduction="none",
                                 return_grad=True)
        return g, np.ones_like(g)
    return derivatives


def _softmax(pred, label):
    labels = label.astype(np.int64)
    _, g = _ll.cross_entropy(pred, labels, reduction="sum", return_grad=True)
    p = g.copy()
    p[np.arange(len(labels)), labels] += 1.0  # softmax = grad + onehot
    return g, p * (1.0 - p)


def derivatives_for(name: str, **options):
    """The (pred, label) -> (grad, hess) function of objective `name`."""
    if name == "squared_error":
        return _squared_error
    if name == "huber":
        return _elementwise(_ll.huber_loss, delta=options.get("delta", 1.0))
    if name == "pseudo_huber":
        return _elementwise(_ll.pseudo_huber_loss, delta=options.get("delta", 1.0))
    if name == "log_cosh":
        return _elementwise(_ll.log_cosh_loss)
    if name == "quantile":
        return _quantile(options.get("quantile", 0.5))
    if name == "poisson":
        return _elementwise(_ll.poisson_nll_loss, log_input=True)
    if name == "logistic":
        return _elementwise(_ll.binary_cross_entropy_with_logits)
    if name == "focal":
        if not hasattr(_ll, "sigmoid_focal_loss"):
            raise ValueError("objective 'focal' needs losslab.sigmoid_focal_loss, "
                             "which this build does not have")
        return _elementwise(_ll.sigmoid_focal_loss, alpha=options.get("alpha", 0.25),
                            gamma=options.get("gamma", 2.0))
    if name == "softmax":
        return _softmax
    raise ValueError(f"unknown objective '{name}'; choose one of {', '.join(OBJECTIVES)}")


def make_objective(name: str, labels_weights, **options):
    """Builds obj(pred, data) -> (grad, hess) for a library whose dataset
    object yields (labels, weights) through `labels_weights(data)`."""
    floor = float(options.pop("hess_floor", 1e-6))
    if not floor >= 0.0:
        raise ValueError(f"hess_floor={floor} must be >= 0")
    derivatives = derivatives_for(name, **options)

    def objective(pred, data):
        label, weight = labels_weights(data)
        pred = np.asarray(pred, dtype=np.float64)
        label = np.asarray(label, dtype=np.float64)
        if name != "softmax" and pred.shape != label.shape:
            pred = pred.reshape(label.shape)
        g, h = derivatives(np.ascontiguousarray(pred), label)
        h = np.maximum(h, floor)
        if weight is not None and len(weight):
            w = np.asarray(weight, dtype=np.float64)
            w = w[:, None] if g.ndim == 2 else w
            g, h = g * w, h * w
        return g, h

    objective.__name__ = f"losslab_{name}"
    return objective
