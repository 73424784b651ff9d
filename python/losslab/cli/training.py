"""Training and evaluation for ``losslab train`` / ``compare`` on the losslab engine.

``fit_model`` standardizes the features (fitted on the training rows only),
standardizes a regression target when asked, builds a ``losslab.nn.MLP``
(ReLU, He init) and trains it with ``losslab.fit``; ``predict_outputs``
turns the raw outputs back into predictions in the data's units.

Model outputs: regression 1 (the prediction; for poisson the log-rate);
binary 1 logit for bce / weighted_bce / focal / hinge / squared_hinge, 2
logits for ce / weighted_ce / multi_hinge; multiclass K logits.

"Epochs to converge" is the first epoch whose monitored loss (validation
loss when a validation set is given, else training loss) is within 1 % of
the best value of the run: ``loss_e - best <= 0.01 * |best|``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .data import Standardizer
from .errors import CliError
from .losses import LossSpec, resolve_options

__all__ = [
    "parse_model_spec",
    "TrainResult",
    "fit_model",
    "predict_outputs",
    "evaluate",
    "metric_names",
    "quantile_levels",
    "metric_target",
    "higher_is_better",
    "HIGHER_IS_BETTER",
    "converged_epoch",
    "OPTIMIZERS",
]

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")

HIGHER_IS_BETTER = {
    "rmse": False,
    "mae": False,
    "r2": True,
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "pr_auc": True,
    "roc_auc": True,
    "macro_f1": True,
}


def metric_names(task: str, quantiles=()) -> list:
    """The metrics reported for a task, in table order. Regression with
    quantile levels (from quantile losses among those run) adds, for each q,
    the pinball loss at q and the coverage (share of targets at or below the
    prediction, whose ideal is q)."""
    names = {
        "regression": ["rmse", "mae", "r2"],
        "binary": ["accuracy", "precision", "recall", "f1", "pr_auc", "roc_auc"],
        "multiclass": ["accuracy", "macro_f1"],
    }[task]
    if task == "regression":
        for q in quantiles:
            names = names + [f"pinball@{q:g}", f"coverage@{q:g}"]
    return names


def quantile_levels(specs) -> list:
    """The distinct quantile levels of the quantile losses among specs, in
    increasing order."""
    return sorted({float(s.options["quantile"]) for s in specs if s.name == "quantile_loss"})


def metric_target(name: str):
    """The ideal value of a metric that is best when closest to a target
    (coverage@q: q), else None."""
    return float(name.split("@", 1)[1]) if name.startswith("coverage@") else None


def higher_is_better(name: str):
    """True / False, or None for a metric judged by its distance to
    metric_target(name)."""
    if name.startswith("pinball@"):
        return False
    if name.startswith("coverage@"):
        return None
    return HIGHER_IS_BETTER[name]


def parse_model_spec(text: str) -> list:
    """"mlp:64,32" -> [64, 32] hidden units; "linear" (or "mlp:") -> []."""
    t = (text or "").strip().lower()
    if t in ("linear", "mlp:", "mlp:0"):
        return []
    if t == "mlp":
        return [64]
    if t.startswith("mlp:"):
        try:
            hidden = [int(h) for h in t[4:].replace("x", ",").split(",") if h.strip()]
        except ValueError:
            hidden = None
        if hidden and all(0 < h <= 65536 for h in hidden):
            return hidden
    raise CliError(f"--model {text!r} is not understood; use linear, mlp:64 or mlp:64,32 (hidden layer widths)")


def _outputs(spec: LossSpec, task: str, n_classes) -> int:
    if task == "regression":
        return 1
    if spec.name in ("cross_entropy", "multi_margin_loss"):
        return int(n_classes)
    return 1


def _fit_target(spec: LossSpec, task: str, y):
    if task == "regression":
        return np.asarray(y, dtype=np.float32)
    if spec.name in ("cross_entropy", "multi_margin_loss"):
        return np.asarray(y, dtype=np.int64)
    return np.asarray(y, dtype=np.float32)


@dataclass
class TrainResult:
    model: object  # losslab.nn.Sequential
    history: list  # one dict per epoch (epoch, lr, train_loss, val_loss, ...)
    epochs_run: int
    converged_epoch: int
    time_s: float
    x_scaler: Standardizer = None
    y_scaler: Standardizer | None = None
    options: dict = field(default_factory=dict)  # the options given to losslab.fit
    optimizer: object = None
    interrupted: bool = False

    def predict(self, X) -> np.ndarray:
        """Raw model outputs (n, out) for unstandardized features X."""
        return self.model.predict(self.x_scaler.transform(X))


def converged_epoch(history: list) -> int:
    """1-based epoch where the monitored loss first comes within 1 % of its best."""
    if not history:
        return 0
    key = "val_loss" if all(np.isfinite(h.get("val_loss", np.nan)) for h in history) else "train_loss"
    losses = np.asarray([h[key] for h in history], dtype=np.float64)
    finite = np.isfinite(losses)
    if not finite.any():
        return len(history)
    best = losses[finite].min()
    ok = np.flatnonzero(finite & (losses - best <= 0.01 * abs(best)))
    return int(history[ok[0]]["epoch"]) if "epoch" in history[ok[0]] else int(ok[0]) + 1


def _make_optimizer(name: str, model, lr: float):
    import losslab.optim as optim

    name = name.lower()
    if name == "adam":
        return optim.Adam(model, lr=lr)
    if name == "adamw":
        return optim.AdamW(model, lr=lr)
    if name == "sgd":
        return optim.SGD(model, lr=lr, momentum=0.9)
    if name == "rmsprop":
        return optim.RMSprop(model, lr=lr)
    raise CliError(f"--optimizer {name!r} is not known; use one of: {', '.join(OPTIMIZERS)}")


def fit_model(
    X_train,
    y_train,
    spec: LossSpec,
    task: str,
    n_classes,
    *,
    hidden,
    optimizer: str = "adam",
    lr: float = 1e-3,
    epochs: int = 50,
    batch_size: int = 64,
    warmup: int = 0,
    clip_norm=None,
    seed: int = 0,
    validation=None,
    progress=None,
    standardize_target: bool = True,
) -> TrainResult:
    """Trains an MLP with ``spec`` on (X_train, y_train) in the data's units.

    validation: optional (X_val, y_val), also in the data's units (the loss
    curves' val_loss). progress: a :class:`~losslab.cli.output.Progress`
    updated once per epoch with the loss and a metric. A Ctrl-C during
    training stops it after the current epoch (``interrupted`` is set)."""
    import losslab

    if epochs < 1:
        raise CliError(f"--epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        raise CliError(f"--batch-size must be >= 1, got {batch_size}")
    if not (lr > 0):
        raise CliError(f"--lr must be > 0, got {lr}")
    if clip_norm is not None and not (clip_norm > 0):
        raise CliError(f"--clip-norm must be > 0, got {clip_norm}")
    if warmup < 0:
        raise CliError(f"--warmup must be >= 0 steps, got {warmup}")
    X_train = np.asarray(X_train)
    xs = Standardizer().fit(X_train)
    Xt = xs.transform(X_train)
    ys = None
    y_fit = _fit_target(spec, task, y_train)
    if task == "regression":
        if spec.name == "poisson_nll_loss":
            if np.any(np.asarray(y_train) < 0):
                raise CliError("poisson needs a non-negative (count) target; use mse / huber for this target")
        elif standardize_target:
            ys = Standardizer().fit(np.asarray(y_train, dtype=np.float64))
            y_fit = ys.transform(np.asarray(y_train, dtype=np.float64))
    val = None
    if validation is not None:
        Xv, yv = validation
        yv_fit = _fit_target(spec, task, yv)
        if ys is not None:
            yv_fit = ys.transform(np.asarray(yv, dtype=np.float64))
        val = (xs.transform(Xv), yv_fit)
    options = resolve_options(spec, y_train, n_classes)
    sample_weight = None
    if spec.name == "binary_cross_entropy_with_logits" and "pos_weight" in options:
        # Weighted BCE is trained through sample weights: w_i = pos_weight
        # for positives, 1 for negatives. For 0/1 labels the per-sample loss
        # equals BCE with pos_weight; the mean divides by sum(w) instead of
        # n, a constant factor per run (so the learning rate means the same
        # thing whatever the imbalance).
        pw = float(options.pop("pos_weight"))
        sample_weight = np.where(np.asarray(y_train) == 1, pw, 1.0).astype(np.float32)
        if val is not None:
            vw = np.where(np.asarray(validation[1]) == 1, pw, 1.0).astype(np.float32)
            val = (val[0], val[1], vw)
        options_shown = dict(options, pos_weight=pw)
    elif spec.name in ("cross_entropy", "multi_margin_loss") and "weight" in options:
        # Same engine limitation for class weights: per-sample weights
        # w[y_i] give torch's class-weighted mean exactly (both divide by
        # sum_i w[y_i]).
        cw = np.asarray(options.pop("weight"), dtype=np.float64)
        sample_weight = cw[np.asarray(y_train, dtype=np.int64)].astype(np.float32)
        if val is not None:
            vw = cw[np.asarray(validation[1], dtype=np.int64)].astype(np.float32)
            val = (val[0], val[1], vw)
        options_shown = dict(options, weight=cw.tolist())
    else:
        options_shown = dict(options)
    out = _outputs(spec, task, n_classes)
    model = losslab.nn.MLP(Xt.shape[1], list(hidden), out, activation="relu", seed=int(seed))
    opt = _make_optimizer(optimizer, model, float(lr))
    sched = losslab.optim.schedule("constant", warmup_steps=int(warmup)) if warmup else None
    metric = "mae" if task == "regression" else "accuracy"
    state = {"interrupted": False}
    seen = []

    def callback(log):
        seen.append(dict(log))
        try:
            if progress is not None:
                shown = {"loss": log.get("train_loss")}
                m = log.get(f"val_{metric}", log.get(f"train_{metric}"))
                if m is not None:
                    shown[metric if task != "regression" or ys is None else metric + "(z)"] = m
                progress.update(1, **shown)
            return True
        except KeyboardInterrupt:
            state["interrupted"] = True
            return False

    t0 = time.perf_counter()
    try:
        history = losslab.fit(
            model,
            Xt,
            y_fit,
            loss=spec.name,
            loss_options=options,
            optimizer=opt,
            epochs=int(epochs),
            batch_size=int(batch_size),
            validation=val,
            metrics=[metric],
            sample_weight=sample_weight,
            clip_grad_norm=clip_norm,
            schedule=sched,
            seed=int(seed),
            callback=callback,
        )
        logs = [dict(e) for e in history.epochs]
    except KeyboardInterrupt:
        # Ctrl-C raised as the callback was entered: the engine stopped after
        # the epoch it had finished; keep the weights and the logs seen so far.
        state["interrupted"] = True
        logs = seen
    elapsed = time.perf_counter() - t0
    return TrainResult(
        model=model,
        history=logs,
        epochs_run=len(logs),
        converged_epoch=converged_epoch(logs),
        time_s=elapsed,
        x_scaler=xs,
        y_scaler=ys,
        options=options_shown,
        optimizer=opt,
        interrupted=state["interrupted"],
    )


def _sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _softmax(z):
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def predict_outputs(result: TrainResult, X, task: str, spec: LossSpec) -> dict:
    """{"y_pred": predictions (regression: original units; classification:
    labels), "proba": probabilities (binary: P(label 1), (n,); multiclass:
    (n, K)) or None for margin losses, "score": a ranking score for the
    positive class (binary) or None}."""
    raw = np.asarray(result.predict(X), dtype=np.float64)
    if task == "regression":
        z = raw[:, 0]
        if spec.name == "poisson_nll_loss" and spec.options.get("log_input", True):
            y = np.exp(np.minimum(z, 700.0))
        elif result.y_scaler is not None:
            y = result.y_scaler.inverse_transform(z)
        else:
            y = z
        return {"y_pred": y, "proba": None, "score": None}
    margin = spec.name in ("hinge_loss", "squared_hinge_loss", "multi_margin_loss")
    if raw.shape[1] == 1:
        z = raw[:, 0]
        proba = None if margin else _sigmoid(z)
        return {"y_pred": (z > 0).astype(np.int64), "proba": proba, "score": z}
    labels = raw.argmax(axis=1).astype(np.int64)
    proba = None if margin else _softmax(raw)
    if task == "binary":
        score = raw[:, 1] - raw[:, 0]
        return {"y_pred": labels, "proba": None if proba is None else proba[:, 1], "score": score}
    return {"y_pred": labels, "proba": proba, "score": None}


def evaluate(task: str, y_true, out: dict, quantiles=()) -> dict:
    """Test metrics with losslab.metrics: regression rmse, mae, r2 (and
    pinball@q, coverage@q for each quantile level q: losslab.quantile_loss
    and the share of y <= prediction); binary accuracy, precision, recall,
    f1 (threshold: label 1 when the logit > 0, i.e. p > 0.5), pr_auc
    (average precision) and roc_auc of the score; multiclass accuracy and
    macro_f1. An undefined value is NaN."""
    import losslab

    y_true = np.asarray(y_true)
    pred = np.asarray(out["y_pred"])
    res = {}
    if task == "regression":
        yt = y_true.astype(np.float64)
        yp = np.asarray(pred, dtype=np.float64)
        if not np.all(np.isfinite(yp)):
            return {m: float("nan") for m in metric_names(task, quantiles)}
        res["rmse"] = float(losslab.rmse(yp, yt))
        res["mae"] = float(losslab.mae(yp, yt))
        res["r2"] = float(losslab.r2_score(yp, yt)) if yt.size > 1 else float("nan")
        for q in quantiles:
            res[f"pinball@{q:g}"] = float(losslab.quantile_loss(yp, yt, quantile=q))
            res[f"coverage@{q:g}"] = float(np.mean(yt <= yp))
        return res
    yt = y_true.astype(np.int64)
    yp = pred.astype(np.int64)
    res["accuracy"] = float(losslab.accuracy(yp, yt))
    if task == "binary":
        res["precision"] = float(losslab.precision(yp, yt, num_classes=2, zero_division=0.0))
        res["recall"] = float(losslab.recall(yp, yt, num_classes=2, zero_division=0.0))
        res["f1"] = float(losslab.f1_score(yp, yt, num_classes=2, zero_division=0.0))
        score = out.get("score")
        both = np.unique(yt).size == 2
        if score is not None and both and np.all(np.isfinite(score)):
            s = np.asarray(score, dtype=np.float64)
            res["pr_auc"] = float(losslab.average_precision(s, yt))
            res["roc_auc"] = float(losslab.roc_auc(s, yt))
        else:
            res["pr_auc"] = res["roc_auc"] = float("nan")
        return res
    res["macro_f1"] = float(losslab.f1_score(yp, yt, average="macro", zero_division=0.0))
    return res
