"""``losslab train DATA --target COL --loss huber --delta 1 --model mlp:64,32 ...``

Trains one model with one loss on a seeded 80/20 train/test split
(stratified for classification), with a progress bar showing the live loss
and metric, prints the final train and test metrics, and writes into
``--out-dir`` (default ./losslab-train):

* ``model.ckpt``: the network and optimizer state (``losslab.nn.load``);
* ``preprocess.json``: what the network expects: feature names, the
  training medians ``x_fill`` that replace missing features, the
  standardization of the features ``(x - x_mean) / x_scale``, with the
  features flagged ``x_constant`` (constant on the training rows) set to 0,
  the target's ``y_mean`` / ``y_scale`` (prediction = output * y_scale +
  y_mean), the classes and the loss, so the checkpoint can be used on new rows;
* ``curves.csv`` / ``curves.json``: one row per epoch (epoch, lr,
  train_loss, val_loss on the test split, train_/val_ metric);
* ``metrics.json``: the final metrics.
"""

from __future__ import annotations

import csv
import json
import pathlib
import sys


from .data import add_data_arguments, load_dataset, train_test_indices
from .errors import CliError
from .losses import parse_loss_spec
from .output import Progress, emit_json, print_table, to_jsonable
from .training import (
    OPTIMIZERS,
    evaluate,
    fit_model,
    metric_names,
    parse_model_spec,
    predict_outputs,
    quantile_levels,
)

# Loss parameters accepted as flags (--delta 1 is huber:delta=1).
LOSS_FLAGS = ("delta", "beta", "quantile", "pos_weight", "gamma", "alpha", "label_smoothing", "margin")


def _float_or_auto(text: str):
    if text.lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise __import__("argparse").ArgumentTypeError(f"expected a number or auto, got {text!r}") from None


def add_training_arguments(p, *, epochs: int, lr: float = 1e-3) -> None:
    p.add_argument("--model", default="mlp:64", help="linear or mlp:H1,H2,... (ReLU hidden layers; default mlp:64)")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help="default adam")
    p.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr:g})")
    p.add_argument("--epochs", type=int, default=epochs, help=f"default {epochs}")
    p.add_argument("--batch-size", type=int, default=64, help="default 64")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the batch order")


def add_parser(sub):
    p = sub.add_parser(
        "train",
        help="train one model with one loss; saves the checkpoint and learning curves",
        description=__doc__,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    add_data_arguments(p)
    p.add_argument("--loss", default=None, help="loss spec (default: mse / bce / ce by task), e.g. huber:1 or quantile:0.9")
    for name in LOSS_FLAGS:
        p.add_argument(f"--{name.replace('_', '-')}", dest=f"loss_{name}", type=_float_or_auto, default=None,
                       metavar="X", help=f"loss parameter {name} (as in the spec)")
    add_training_arguments(p, epochs=50)
    p.add_argument("--warmup", type=int, default=0, metavar="STEPS", help="linear learning-rate warm-up over this many optimizer steps")
    p.add_argument("--clip-norm", type=float, default=None, help="clip the gradient's total 2-norm to this")
    p.add_argument("--test-size", type=float, default=0.2, help="held-out share (default 0.2)")
    p.add_argument("--out-dir", default="losslab-train", help="where to save (default ./losslab-train)")
    p.add_argument("--json", action="store_true", help="print JSON (no progress bar)")
    return p


def run(args) -> int:
    ds = load_dataset(args)
    default = {"regression": "mse", "binary": "bce", "multiclass": "ce"}[ds.task]
    overrides = {name: getattr(args, f"loss_{name}") for name in LOSS_FLAGS if getattr(args, f"loss_{name}") is not None}
    spec = parse_loss_spec(args.loss or default, ds, overrides=overrides)
    hidden = parse_model_spec(args.model)
    if not (0 < args.test_size < 1):
        raise CliError(f"--test-size must be in (0, 1), got {args.test_size}")
    tr, te = train_test_indices(ds.n_samples, args.test_size, args.seed, ds.y if ds.task != "regression" else None)
    out_dir = pathlib.Path(args.out_dir)
    bar = Progress(args.epochs, desc=f"train {spec.label}", enabled=False if args.json else None)
    with bar:
        res = fit_model(
            ds.X[tr],
            ds.y[tr],
            spec,
            ds.task,
            ds.n_classes,
            hidden=hidden,
            optimizer=args.optimizer,
            lr=args.lr,
            epochs=args.epochs,
            batch_size=args.batch_size,
            warmup=args.warmup,
            clip_norm=args.clip_norm,
            seed=args.seed,
            validation=(ds.X[te], ds.y[te]),
            progress=bar,
            standardize_target=args.standardize_target,
        )
    quantiles = quantile_levels([spec]) if ds.task == "regression" else []
    metrics = metric_names(ds.task, quantiles)
    scores = {
        "train": evaluate(ds.task, ds.y[tr], predict_outputs(res, ds.X[tr], ds.task, spec), quantiles),
        "test": evaluate(ds.task, ds.y[te], predict_outputs(res, ds.X[te], ds.task, spec), quantiles),
    }
    files = _save(out_dir, ds, spec, res, args, hidden, scores, len(tr), len(te))
    summary = {
        "dataset": ds.name,
        "target": ds.target,
        "task": ds.task,
        "loss": spec.name,
        "spec": spec.text,
        "label": spec.label,
        "options": res.options,
        "model": args.model,
        "n_train": int(len(tr)),
        "n_test": int(len(te)),
        "epochs_run": res.epochs_run,
        "converged_epoch": res.converged_epoch,
        "time_s": res.time_s,
        "metrics": scores,
        "files": files,
        "interrupted": res.interrupted,
        "notes": ds.notes,
        "missing": dict(ds.missing or {}),
    }
    if args.json:
        emit_json(summary)
    else:
        for note in ds.notes:
            print(f"note: {note}")
        print(
            f"{ds.name}: {ds.task}, target {ds.target!r}, {len(tr)} train / {len(te)} test rows, "
            f"{ds.n_features} features; loss {spec.label}; {res.epochs_run} epochs in {res.time_s:.2f} s "
            f"(converged at epoch {res.converged_epoch})"
        )
        rows = [dict(split=k, **v) for k, v in scores.items()]
        print_table(rows, ["split"] + metrics)
        print()
        print(f"checkpoint: {files['checkpoint']}")
        print(f"curves: {files['curves_csv']} (+ .json; figure {files['curves_png']} + .svg)")
    if res.interrupted:
        print(f"interrupted; kept {res.epochs_run} finished epochs (saved in {out_dir})", file=sys.stderr)
        return 130
    return 0


def _save(out_dir, ds, spec, res, args, hidden, scores, n_train, n_test) -> dict:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create --out-dir {out_dir}: {e.strerror}") from None
    ckpt = out_dir / "model.ckpt"
    res.model.save(ckpt, optimizer=res.optimizer)
    seen = []
    for h in res.history:
        for k in h:
            if k not in seen:
                seen.append(k)
    # Fixed leading columns, then the metrics, then anything else the engine logs.
    lead = [k for k in ("epoch", "lr", "train_loss", "val_loss") if k in seen]
    metric_cols = [k for k in seen if k.startswith(("train_", "val_")) and k not in lead]
    keys = lead + metric_cols + [k for k in seen if k not in lead and k not in metric_cols]
    curves_csv = out_dir / "curves.csv"
    with open(curves_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for h in res.history:
            w.writerow([h.get(k, "") for k in keys])
    curves_json = out_dir / "curves.json"
    curves_json.write_text(json.dumps(to_jsonable({k: [h.get(k) for h in res.history] for k in keys}), sort_keys=True))
    pre = {
        "dataset": ds.name,
        "target": ds.target,
        "task": ds.task,
        "classes": ds.classes,
        "feature_names": ds.feature_names,
        "x_fill": res.x_scaler.fill_.tolist(),  # replaces a missing (NaN) feature first
        "x_mean": res.x_scaler.mean_.tolist(),
        "x_scale": res.x_scaler.scale_.tolist(),
        "x_constant": res.x_scaler.constant_.tolist(),  # set these features to 0
        "y_mean": None if res.y_scaler is None else float(res.y_scaler.mean_[0]),
        "y_scale": None if res.y_scaler is None else float(res.y_scaler.scale_[0]),
        "loss": spec.name,
        "spec": spec.text,
        "options": res.options,
        "hidden": hidden,
        "outputs": "log-rate" if spec.name == "poisson_nll_loss" else ("logits" if ds.task != "regression" else "prediction"),
    }
    pre_path = out_dir / "preprocess.json"
    pre_path.write_text(json.dumps(to_jsonable(pre), sort_keys=True))
    # The learning curves as a figure too (PNG + SVG, like every figure of the command).
    from . import plots

    curve = {k: [h.get(k) for h in res.history] for k in ("epoch", "train_loss", "val_loss")}
    fig = plots.learning_curves(
        [(spec.label, [curve])],
        title=f"Learning curves: {spec.label} on {ds.name}",
        subtitle=f" (validation = the {n_test}-row test split)",
    )
    curves_png, curves_svg = plots.save_figure(fig, out_dir, "learning_curves")
    metrics_path = out_dir / "metrics.json"
    metrics_path.write_text(
        json.dumps(to_jsonable({"metrics": scores, "n_train": n_train, "n_test": n_test, "seed": args.seed}), sort_keys=True)
    )
    return {
        "checkpoint": str(ckpt),
        "preprocess": str(pre_path),
        "curves_csv": str(curves_csv),
        "curves_json": str(curves_json),
        "curves_png": str(curves_png),
        "curves_svg": str(curves_svg),
        "metrics": str(metrics_path),
    }
