"""``losslab compare``: the same model trained with each loss, k-fold cross-validated.

For every loss spec and every fold (stratified for classification) the
model is trained on the other folds with ``fit_model`` (features and, for
regression, the target standardized on the training folds only) and scored on
the held-out fold; the fold's curves use the held-out fold as validation
(only for plotting: nothing is selected on it). Every loss sees the same
folds and the same initial weights (model seed = ``seed``; mini-batch order
seed = ``seed + fold``).

The returned dict is the contract with the report (docs/cli.md "compare
JSON schema"); ``run_compare`` never prints except the progress bar.
"""

from __future__ import annotations

import math

import numpy as np

from .data import Dataset, kfold_indices
from .errors import CliError
from .losses import LossSpec, parse_loss_spec
from .output import Progress
from .training import (
    evaluate,
    fit_model,
    higher_is_better,
    metric_names,
    metric_target,
    parse_model_spec,
    predict_outputs,
    quantile_levels,
)

__all__ = ["run_compare", "best_metrics"]


def _mean_std(values) -> dict:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": float("nan"), "std": float("nan")}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0}


def best_metrics(losses: list, metrics: list) -> None:
    """Sets each loss's "best": the metrics where its mean is the best:
    highest, lowest, or closest to the metric's target (coverage@q: q).
    Ties all count; NaN never wins."""
    for entry in losses:
        entry["best"] = []
    for m in metrics:
        means = [e["metrics"][m]["mean"] for e in losses]
        ideal = metric_target(m)

        def badness(x):
            if ideal is not None:
                return abs(x - ideal)
            return -x if higher_is_better(m) else x

        finite = [badness(x) for x in means if x is not None and math.isfinite(x)]
        if not finite:
            continue
        target = min(finite)
        for e, x in zip(losses, means):
            if x is not None and math.isfinite(x) and badness(x) == target:
                e["best"].append(m)


def run_compare(
    ds: Dataset,
    specs,
    *,
    folds: int = 5,
    epochs: int = 30,
    model: str = "mlp:64",
    optimizer: str = "adam",
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    standardize_target: bool = True,
    progress=True,
) -> dict:
    """Cross-validates each loss spec (strings or LossSpec) on ``ds``.

    progress: True (bar when stderr is a TTY), False, or a Progress-like
    object. A Ctrl-C stops the run: the losses whose folds all finished are
    kept and ``interrupted`` is True."""
    hidden = parse_model_spec(model)
    parsed = [s if isinstance(s, LossSpec) else parse_loss_spec(s, ds) for s in specs]
    if not parsed:
        raise CliError("--losses is empty; give e.g. --losses mse,mae,huber")
    stratify = ds.y if ds.task != "regression" else None
    splits = kfold_indices(ds.n_samples, int(folds), int(seed), stratify)
    quantiles = quantile_levels(parsed) if ds.task == "regression" else []
    metrics = metric_names(ds.task, quantiles)
    result = {
        "dataset": ds.name,
        "target": ds.target,
        "task": ds.task,
        "n_samples": ds.n_samples,
        "n_features": ds.n_features,
        "n_classes": ds.n_classes,
        "folds": int(folds),
        "model": model,
        "epochs": int(epochs),
        "optimizer": optimizer,
        "lr": float(lr),
        "seed": int(seed),
        "metrics": metrics,
        "higher_is_better": {m: higher_is_better(m) for m in metrics},
        "losses": [],
        "interrupted": False,
        "classes": ds.classes,
        # Added keys (the schema above is fixed; these only extend it): what
        # was done to the data, for the table header and the report.
        "missing": {str(k): int(v) for k, v in (ds.missing or {}).items()},
        "notes": list(ds.notes or []),
        "standardize_target": bool(standardize_target) if ds.task == "regression" else None,
        # Metrics best when closest to a value (coverage@q: q); their
        # higher_is_better is null.
        "metric_targets": {m: metric_target(m) for m in metrics if metric_target(m) is not None},
    }
    if isinstance(progress, bool) or progress is None:
        bar = Progress(len(parsed) * len(splits) * int(epochs), desc="compare", enabled=None if progress else False)
    else:
        bar = progress
    try:
        with bar:
            for spec in parsed:
                result["losses"].append(
                    _run_one(ds, spec, splits, metrics, quantiles, hidden, optimizer, lr, epochs, batch_size, seed,
                             standardize_target, bar)
                )
    except KeyboardInterrupt:
        result["interrupted"] = True
    best_metrics(result["losses"], metrics)
    return result


def _run_one(ds, spec, splits, metrics, quantiles, hidden, optimizer, lr, epochs, batch_size, seed, standardize_target,
             bar):
    n = ds.n_samples
    fold_metrics = {m: [] for m in metrics}
    conv, times, curves = [], [], []
    y_pred = np.zeros(n, dtype=np.float64 if ds.task == "regression" else np.int64)
    proba = None
    for k, (tr, te) in enumerate(splits):
        if hasattr(bar, "set_description"):
            bar.set_description(f"{spec.label} fold {k + 1}/{len(splits)}")
        res = fit_model(
            ds.X[tr],
            ds.y[tr],
            spec,
            ds.task,
            ds.n_classes,
            hidden=hidden,
            optimizer=optimizer,
            lr=lr,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            validation=(ds.X[te], ds.y[te]),
            progress=bar,
            standardize_target=standardize_target,
        )
        if res.interrupted:
            raise KeyboardInterrupt
        out = predict_outputs(res, ds.X[te], ds.task, spec)
        for m, v in evaluate(ds.task, ds.y[te], out, quantiles).items():
            fold_metrics[m].append(v)
        conv.append(res.converged_epoch)
        times.append(res.time_s)
        curves.append(
            {
                "epoch": [int(h["epoch"]) for h in res.history],
                "train_loss": [float(h["train_loss"]) for h in res.history],
                "val_loss": [float(h.get("val_loss", float("nan"))) for h in res.history],
            }
        )
        y_pred[te] = out["y_pred"]
        if out["proba"] is not None:
            p = np.asarray(out["proba"], dtype=np.float64)
            if proba is None:
                proba = np.zeros((n,) + p.shape[1:], dtype=np.float64)
            proba[te] = p
    y_true = ds.y.astype(np.float64) if ds.task == "regression" else ds.y.astype(np.int64)
    return {
        "spec": spec.text,
        "label": spec.label,
        "loss": spec.name,
        "options": {k: v for k, v in spec.options.items()},
        "metrics": {m: dict(_mean_std(fold_metrics[m]), folds=[float(v) for v in fold_metrics[m]]) for m in metrics},
        "epochs_to_converge": _mean_std(conv),
        "time_s": _mean_std(times),
        "best": [],
        "curves": curves,
        "oof": {
            "y_true": y_true.tolist(),
            "y_pred": y_pred.tolist(),
            "proba": None if proba is None else proba.tolist(),
        },
    }
