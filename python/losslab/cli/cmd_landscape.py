"""``losslab landscape``: the training-loss surface around the trained weights.

    losslab landscape --dataset ames --loss huber --model mlp:32 --epochs 20
    losslab landscape data.csv --target y --loss mse --resolution 31 --span 0.5

Method (Li, Xu, Taylor, Studer & Goldstein 2018, "Visualizing the Loss
Landscape of Neural Nets", NeurIPS), on the losslab engine:

1. Train the model (``losslab.cli.training.fit_model``) on all rows (or the
   --max-rows sample); θ* are its weights, θ0 the initialization (the same
   seeded ``losslab.nn.MLP`` that fit_model builds).
2. Draw two random Gaussian directions δ1, δ2 (seeded by --seed) with the
   shape of θ*, and **filter-normalize** them: for each Linear layer with
   weight W (out, in), each row i of the direction (the weights into one
   neuron, the "filter" of a dense layer) is rescaled to the norm of the same
   row of W: d_i <- d_i ||W_i|| / ||d_i||. The biases get a zero direction
   (our choice, as the paper does for BatchNorm parameters: a bias has no
   scale to normalize against, and moving it only shifts outputs).
3. Evaluate the training loss L(θ* + a δ1 + b δ2) on a resolution x
   resolution grid of (a, b) in [-span, span]^2, with the losslab loss
   function itself (reduction "mean") on the model's outputs
   (``model.set_parameters`` + ``model.predict``). At most --eval-rows
   training rows (seeded sample, default 4096) are used for the evaluation.
4. The 1-D interpolation L((1 - α) θ0 + α θ*) for α in [-0.25, 1.25]
   (Goodfellow, Vinyals & Saxe 2015).

Writes landscape_contour / landscape_surface / landscape_interpolation as
PNG + SVG and landscape.json (the grid, the curve and the settings).
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

import numpy as np

from .errors import CliError

__all__ = ["add_parser", "run", "filter_normalized_direction", "training_loss", "compute_landscape"]


def add_parser(subparsers):
    from .data import add_data_arguments

    p = subparsers.add_parser(
        "landscape",
        help="plot the loss surface around the trained weights (filter-normalized directions)",
        description="Train, then evaluate the training loss on a grid around the trained weights along two "
                    "filter-normalized random directions (Li et al. 2018): contour, 3-D surface and the 1-D "
                    "interpolation from the initialization to the solution. PNG + SVG + JSON.",
    )
    add_data_arguments(p)
    p.add_argument("--loss", required=True, help="loss spec, e.g. mse, huber:1, ce (see `losslab list`)")
    p.add_argument("--model", default="mlp:32", help="linear, mlp:64 or mlp:64,32 (default mlp:32)")
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    p.add_argument("--optimizer", default="adam", help="adam, adamw, sgd or rmsprop (default adam)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the directions and samples")
    p.add_argument("--resolution", type=int, default=21, help="grid points per axis (default 21)")
    p.add_argument("--span", type=float, default=1.0, help="grid half-width in direction units (default 1)")
    p.add_argument("--interp-points", type=int, default=31,
                   help="points of the 1-D interpolation over alpha in [-0.25, 1.25] (default 31)")
    p.add_argument("--eval-rows", type=int, default=4096,
                   help="training rows the grid is evaluated on (seeded sample; 0 = all; default 4096)")
    p.add_argument("--out-dir", default="./losslab-landscape", help="output folder (default ./losslab-landscape)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)
    return p


def _dense_rows(model):
    """[(weight (out, in), bias (out,))] of the model's Linear layers (copies)."""
    return model.state_dict()


def filter_normalized_direction(model, rng: np.random.Generator) -> np.ndarray:
    """A flat random direction with each Linear row scaled to the norm of the
    same row of the model's weights; bias entries 0 (module docstring)."""
    theta = model.parameters()
    dirs = []
    for w, b in _dense_rows(model):
        d = rng.standard_normal(w.shape)
        dn = np.linalg.norm(d, axis=1, keepdims=True)
        wn = np.linalg.norm(w.astype(np.float64), axis=1, keepdims=True)
        d = d * np.divide(wn, dn, out=np.zeros_like(dn), where=dn > 0)
        dirs.append((d.astype(np.float32), np.zeros_like(b)))
    # Use the model's own layout to flatten: load the direction as weights,
    # read the flat vector, restore theta.
    model.load_state_dict(dirs)
    flat = model.parameters().astype(np.float64)
    model.set_parameters(theta)
    return flat


def _loss_call(spec, options: dict):
    """f(outputs float64 (n, out), target) -> mean training loss with losslab's function."""
    import losslab

    fn = getattr(losslab, spec.name)
    kw = {}
    for k, v in options.items():
        if k == "pos_weight":
            kw[k] = np.array([float(v)], dtype=np.float64)
        elif k == "weight":
            kw[k] = np.asarray(v, dtype=np.float64)
        elif k == "alpha" and v is None:
            kw[k] = None
        else:
            kw[k] = v
    multi_out = spec.name in ("cross_entropy", "multi_margin_loss")

    def f(out, target):
        x = out if multi_out else out[:, 0]
        t = np.asarray(target)
        if t.dtype.kind == "f":
            t = t.astype(np.float64)  # losslab wants input and target of one dtype
        return float(fn(x, t, reduction="mean", **kw))

    return f


def training_loss(model, theta: np.ndarray, X: np.ndarray, target, f) -> float:
    """Mean training loss at parameters theta (restores nothing)."""
    model.set_parameters(np.asarray(theta, dtype=np.float32))
    return f(np.asarray(model.predict(X), dtype=np.float64), target)


def compute_landscape(model, theta0, Xs, target, f, *, resolution: int, span: float, interp_points: int,
                      seed: int, progress=None) -> dict:
    """The grid and the interpolation (model's parameters restored after).
    ``progress``: an output.Progress advanced once per grid row. Ctrl-C
    stops early: the points not evaluated are NaN and ``interrupted`` is True."""
    theta_star = model.parameters().astype(np.float64)
    rng = np.random.default_rng(seed)
    d1 = filter_normalized_direction(model, rng)
    d2 = filter_normalized_direction(model, rng)
    a = np.linspace(-span, span, resolution)
    b = np.linspace(-span, span, resolution)
    alphas = np.linspace(-0.25, 1.25, interp_points)
    theta0 = np.asarray(theta0, dtype=np.float64)
    # Not yet evaluated = NaN. Ctrl-C keeps what is done: the cheap points
    # first (θ*, θ0, the 1-D interpolation), then the grid row by row.
    Z = np.full((resolution, resolution), np.nan)
    interp = np.full(alphas.size, np.nan)
    loss_star = loss_init = float("nan")
    interrupted = False
    try:
        loss_star = training_loss(model, theta_star, Xs, target, f)
        loss_init = training_loss(model, theta0, Xs, target, f)
        for k, al in enumerate(alphas):
            interp[k] = training_loss(model, (1 - al) * theta0 + al * theta_star, Xs, target, f)
        for i, bi in enumerate(b):
            for j, aj in enumerate(a):
                Z[i, j] = training_loss(model, theta_star + aj * d1 + bi * d2, Xs, target, f)
            if progress is not None:
                progress.update(1, loss=float(np.nanmin(Z[: i + 1])))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        model.set_parameters(theta_star.astype(np.float32))
    return {"a": a, "b": b, "Z": Z, "alphas": alphas, "interp": interp, "loss_at_solution": loss_star,
            "loss_at_init": loss_init, "direction_norms": [float(np.linalg.norm(d1)), float(np.linalg.norm(d2))],
            "interrupted": interrupted,
            "theta_norm": float(np.linalg.norm(theta_star))}


def run(args) -> int:
    import losslab

    from . import plots
    from .data import load_dataset, subsample_indices
    from .losses import parse_loss_spec
    from .output import Progress, emit_json, print_table
    from .training import fit_model, parse_model_spec

    if not 3 <= args.resolution <= 201:
        raise CliError(f"--resolution must be 3 to 201, got {args.resolution}")
    if not (args.span > 0 and np.isfinite(args.span)):
        raise CliError(f"--span must be a positive number, got {args.span}")
    if not 3 <= args.interp_points <= 1001:
        raise CliError(f"--interp-points must be 3 to 1001, got {args.interp_points}")
    if args.eval_rows < 0:
        raise CliError(f"--eval-rows must be >= 0 (0 = all), got {args.eval_rows}")
    ds = load_dataset(args)
    spec = parse_loss_spec(args.loss, ds)
    hidden = parse_model_spec(args.model)
    t0 = time.perf_counter()
    with Progress(args.epochs, desc=f"train {spec.label}", enabled=None if not args.json else False) as bar:
        res = fit_model(ds.X, ds.y, spec, ds.task, ds.n_classes, hidden=hidden, optimizer=args.optimizer,
                        lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                        progress=bar, standardize_target=getattr(args, "standardize_target", True))
    train_s = time.perf_counter() - t0
    model = res.model
    # The initialization: fit_model builds losslab.nn.MLP(in, hidden, out, relu, seed); the
    # same call gives the same weights (seeded, platform-independent init).
    init = losslab.nn.MLP(model.in_features, hidden, model.out_features, activation="relu", seed=int(args.seed))
    if init.layers != model.layers:  # pragma: no cover - guards a change in fit_model
        raise CliError("landscape: cannot rebuild the initial model of fit_model (layer mismatch)")
    theta0 = init.parameters()
    idx = np.arange(ds.n_samples)
    if args.eval_rows and args.eval_rows < ds.n_samples:
        idx = np.sort(subsample_indices(ds.n_samples, args.eval_rows, args.seed,
                                        ds.y if ds.task != "regression" else None))
    Xs = res.x_scaler.transform(ds.X[idx])
    if ds.task == "regression":
        y = np.asarray(ds.y[idx], dtype=np.float64)
        target = res.y_scaler.transform(y).astype(np.float64) if res.y_scaler is not None else y
    elif spec.name in ("cross_entropy", "multi_margin_loss"):
        target = np.asarray(ds.y[idx], dtype=np.int64)
    else:
        target = np.asarray(ds.y[idx], dtype=np.float64)
    f = _loss_call(spec, res.options)
    t1 = time.perf_counter()
    with Progress(args.resolution, desc="landscape grid rows",
                  enabled=None if not args.json else False) as gbar:
        land = compute_landscape(model, theta0, Xs, target, f, resolution=args.resolution, span=args.span,
                                 interp_points=args.interp_points, seed=args.seed, progress=gbar)
    eval_s = time.perf_counter() - t1
    out_dir = pathlib.Path(args.out_dir)
    title = f"{spec.label} · {args.model} · {ds.name}"
    Z = land["Z"]
    rows_done = int(np.all(np.isfinite(Z), axis=1).sum())
    figures = []
    # After Ctrl-C: draw what is finished (the grid needs 2 full rows).
    if rows_done >= 2:
        Zd = Z[:rows_done]
        figures.append(("landscape_contour", lambda: plots.landscape_contour(land["a"], land["b"][:rows_done], Zd,
                                                                             title=title)))
        figures.append(("landscape_surface", lambda: plots.landscape_surface(land["a"], land["b"][:rows_done], Zd,
                                                                             title=title)))
    if np.all(np.isfinite(land["interp"])):
        figures.append(("landscape_interpolation",
                        lambda: plots.landscape_interpolation(land["alphas"], land["interp"], title=title)))
    files = {}
    for stem, make in figures:
        png, svg = plots.save_figure(make(), out_dir, stem)
        files[stem] = {"png": str(png), "svg": str(svg)}
    interrupted = bool(res.interrupted or land["interrupted"])
    c = args.resolution // 2
    data = {
        "dataset": ds.name, "target": ds.target, "task": ds.task, "loss": spec.name, "spec": spec.text,
        "label": spec.label, "options": res.options, "model": args.model, "epochs": args.epochs,
        "optimizer": args.optimizer, "lr": args.lr, "seed": args.seed, "eval_rows": int(idx.size),
        "method": "Li et al. 2018 filter-normalized random directions (per Linear row; bias direction 0)",
        "resolution": args.resolution, "span": args.span,
        "a": land["a"].tolist(), "b": land["b"].tolist(), "loss_grid": Z.tolist(),
        "interpolation": {"alpha": land["alphas"].tolist(), "loss": land["interp"].tolist()},
        "loss_at_solution": land["loss_at_solution"], "loss_at_init": land["loss_at_init"],
        "grid_min": _nan_stat(np.nanmin, Z), "grid_max": _nan_stat(np.nanmax, Z),
        "grid_center": float(Z[c, c]) if args.resolution % 2 else None,
        "grid_rows_done": rows_done, "interrupted": interrupted,
        "direction_norms": land["direction_norms"], "theta_norm": land["theta_norm"],
        "train_time_s": train_s, "eval_time_s": eval_s, "files": files,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath = out_dir / "landscape.json"
    from .report import jsonable

    jpath.write_text(json.dumps(jsonable(data), sort_keys=True, indent=1) + "\n", encoding="utf-8")
    data["files"]["json"] = str(jpath)
    if args.json:
        emit_json(data)
        return 130 if interrupted else 0
    rows = [
        {"quantity": "training loss at the solution θ*", "value": land["loss_at_solution"]},
        {"quantity": "training loss at the initialization θ0", "value": land["loss_at_init"]},
        {"quantity": f"grid min / max ({args.resolution}x{args.resolution}, span {args.span:g})",
         "value": f"{_nan_stat(np.nanmin, Z):.4g} / {_nan_stat(np.nanmax, Z):.4g}"
                  + ("" if rows_done == args.resolution else f" ({rows_done} of {args.resolution} rows done)")},
        {"quantity": "interpolation min (alpha)",
         "value": (f"{np.nanmin(land['interp']):.4g} ({land['alphas'][int(np.nanargmin(land['interp']))]:.3g})"
                   if np.any(np.isfinite(land["interp"])) else "not evaluated")},
        {"quantity": "rows evaluated", "value": int(idx.size)},
    ]
    print_table(rows, ["quantity", "value"], title=f"loss landscape of {title}")
    for stem, paths in files.items():
        if "png" in paths:
            print(f"{stem}: {paths['png']} (+ .svg)")
    print(f"grid: {jpath}")
    if res.interrupted:
        print("interrupted during training: the landscape is around the weights reached so far")
    if land["interrupted"]:
        print(f"interrupted during the evaluation: kept {rows_done} of {args.resolution} grid rows "
              f"(not evaluated = null in {jpath.name})", file=sys.stderr)
    return 130 if interrupted else 0


def _nan_stat(fn, Z) -> float:
    """fn (nanmin / nanmax) of Z, NaN when nothing was evaluated (no warning)."""
    Z = np.asarray(Z)
    return float(fn(Z)) if np.any(np.isfinite(Z)) else float("nan")
