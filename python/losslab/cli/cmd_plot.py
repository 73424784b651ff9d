"""``losslab plot``: loss and gradient curves, the picture every guide shows.

    losslab plot huber mse mae --delta 1
    losslab plot hinge squared_hinge bce focal          # against the margin y f
    losslab plot bce focal ce --axis probability        # against p(true class)

Every value and gradient comes from losslab's own functions (reduction
"none", return_grad=True); the only thing done here is the change of
variable for the x axis:

* error e = prediction - target (regression): input e, target 0, so the
  gradient is d loss / d e directly;
* margin m = y f with y = +1 (classification on scores): input f = m, target
  1 (for cross-entropy the logits are [m, 0] with class 0 true, so the
  softmax CE is log(1 + e^-m), the logistic loss);
* probability p of the true class: binary_cross_entropy takes p itself; the
  logit losses take z = log(p / (1 - p)) and the gradient is chained,
  d loss / d p = (d loss / d z) / (p (1 - p)); cross-entropy takes the
  logits [log p, log(1 - p)] (softmax = [p, 1 - p]) and
  d loss / d p = g0 / p - g1 / (1 - p).
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib

import numpy as np

from .errors import CliError

__all__ = ["add_parser", "run", "curves", "PLOTTABLE"]

AXES = ("error", "margin", "probability")
_AXIS_LABEL = {
    "error": "error e = prediction - target",
    "margin": "margin m = y·f (y = ±1, f = score)",
    "probability": "probability p of the true class",
}
_DEFAULT_RANGE = {"error": (-3.0, 3.0), "margin": (-3.0, 3.0), "probability": (0.01, 0.99)}

# Option flags of the command: flag dest -> losslab option name.
_FLAG_OPTIONS = {
    "delta": "delta",
    "beta": "beta",
    "quantile": "quantile",
    "gamma": "gamma",
    "alpha": "alpha",
    "margin": "margin",
    "pos_weight": "pos_weight",
    "label_smoothing": "label_smoothing",
}


@dataclasses.dataclass(frozen=True)
class _Plottable:
    fn: str                 # losslab function name
    axes: tuple             # axis kinds it can be drawn against, preferred first
    options: tuple          # the options that change the curve


PLOTTABLE = {
    "mse_loss": _Plottable("mse_loss", ("error",), ()),
    "l1_loss": _Plottable("l1_loss", ("error",), ()),
    "huber_loss": _Plottable("huber_loss", ("error",), ("delta",)),
    "smooth_l1_loss": _Plottable("smooth_l1_loss", ("error",), ("beta",)),
    "pseudo_huber_loss": _Plottable("pseudo_huber_loss", ("error",), ("delta",)),
    "log_cosh_loss": _Plottable("log_cosh_loss", ("error",), ()),
    "quantile_loss": _Plottable("quantile_loss", ("error",), ("quantile",)),
    "hinge_loss": _Plottable("hinge_loss", ("margin",), ("margin",)),
    "squared_hinge_loss": _Plottable("squared_hinge_loss", ("margin",), ("margin",)),
    "binary_cross_entropy_with_logits": _Plottable("binary_cross_entropy_with_logits",
                                                   ("margin", "probability"), ("pos_weight",)),
    "binary_cross_entropy": _Plottable("binary_cross_entropy", ("probability",), ()),
    "sigmoid_focal_loss": _Plottable("sigmoid_focal_loss", ("margin", "probability"), ("gamma", "alpha")),
    "cross_entropy": _Plottable("cross_entropy", ("margin", "probability"), ("label_smoothing",)),
    "softmax_focal_loss": _Plottable("softmax_focal_loss", ("margin", "probability"), ("gamma",)),
    "multi_margin_loss": _Plottable("multi_margin_loss", ("margin",), ("margin", "p")),
}

# Names the command accepts besides the spec language of losslab.cli.losses.
_ALIASES = {
    "mse": "mse_loss", "l2": "mse_loss", "mae": "l1_loss", "l1": "l1_loss", "huber": "huber_loss",
    "smooth_l1": "smooth_l1_loss", "pseudo_huber": "pseudo_huber_loss", "log_cosh": "log_cosh_loss",
    "logcosh": "log_cosh_loss", "quantile": "quantile_loss", "pinball": "quantile_loss",
    "hinge": "hinge_loss", "squared_hinge": "squared_hinge_loss",
    "logistic": "binary_cross_entropy_with_logits", "bce_with_logits": "binary_cross_entropy_with_logits",
    "bce": "binary_cross_entropy_with_logits", "weighted_bce": "binary_cross_entropy_with_logits",
    "bce_prob": "binary_cross_entropy", "focal": "sigmoid_focal_loss", "ce": "cross_entropy",
    "cross_entropy": "cross_entropy", "softmax_focal": "softmax_focal_loss", "multi_hinge": "multi_margin_loss",
}
# Positional parameters of name:a:b when the spec parser is not there.
_POSITIONAL = {
    "huber_loss": ("delta",), "smooth_l1_loss": ("beta",), "pseudo_huber_loss": ("delta",),
    "quantile_loss": ("quantile",), "sigmoid_focal_loss": ("gamma", "alpha"),
    "binary_cross_entropy_with_logits": ("pos_weight",), "cross_entropy": ("label_smoothing",),
    "hinge_loss": ("margin",), "squared_hinge_loss": ("margin",), "softmax_focal_loss": ("gamma",),
    "multi_margin_loss": ("margin",),
}
# Names only the plot command knows (not trainable, so not in the spec language).
_LOCAL_ONLY = {"bce_prob", "binary_cross_entropy", "softmax_focal", "softmax_focal_loss", "logistic"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "plot",
        help="draw loss and gradient curves against the error, margin or probability",
        description="Draw each loss and its gradient (from losslab's own functions) against the "
                    "error (regression losses), the margin y·f (hinge, squared hinge, logistic, "
                    "focal) or the probability of the true class (BCE, focal, CE). Writes PNG and SVG.",
    )
    p.add_argument("losses", nargs="+", metavar="LOSS",
                   help="loss specs, e.g. huber mse mae, huber:0.5, quantile:0.9, focal:2:0.75; also "
                        "logistic, bce_prob (BCE on probabilities), softmax_focal")
    p.add_argument("--axis", choices=("auto",) + AXES, default="auto",
                   help="x axis (default: the first kind every loss supports, in the order error, "
                        "margin, probability)")
    p.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"), dest="x_range",
                   help="x range (default -3 3; 0.01 0.99 for probability)")
    p.add_argument("--points", type=int, default=401, help="number of x values (default 401)")
    for flag, help_ in (("--delta", "Huber / pseudo-Huber delta"), ("--beta", "smooth L1 beta"),
                        ("--quantile", "quantile level q in (0, 1)"), ("--gamma", "focal gamma"),
                        ("--alpha", "focal alpha (weight of the positive class)"),
                        ("--margin", "hinge margin"), ("--pos-weight", "BCE weight of the positives"),
                        ("--label-smoothing", "cross-entropy label smoothing")):
        p.add_argument(flag, type=float, default=None,
                       help=help_ + " (applies to the specs that do not set it inline)")
    p.add_argument("--out-dir", default="./losslab-plot", help="output folder (default ./losslab-plot)")
    p.add_argument("--name", default=None, help="file stem of the figure (default loss_curves_<losses>)")
    p.add_argument("--json", action="store_true", help="print the curves as JSON")
    p.set_defaults(func=run)
    return p


def _resolve(text: str, flags: dict) -> tuple[str, dict, str]:
    """(losslab function, options, label) of a spec text. Option flags (--delta
    ...) fill the options of specs that take them and give no inline value."""
    raw = text.strip()
    base = raw.split(":", 1)[0].strip().lower()
    inline = ":" in raw
    try:
        from .losses import SPECS, parse_loss_spec
    except ImportError:  # pragma: no cover - the spec language is part of the package
        SPECS, parse_loss_spec = None, None
    spec = None
    if parse_loss_spec is not None and base not in _LOCAL_ONLY:
        try:
            spec = parse_loss_spec(raw, None)
        except CliError as e:
            if base not in _ALIASES and base not in PLOTTABLE:
                if ":" in raw and raw.split(":", 1)[0].strip().lower() in _spec_names():
                    raise  # a known loss with a bad parameter: the spec parser's message
                raise CliError(f"cannot plot {raw!r}: plottable losses are "
                               f"{', '.join(sorted(_ALIASES))} (or their losslab names)") from e
    if spec is not None and spec.name in PLOTTABLE:
        ov = {k: v for k, v in flags.items() if k in SPECS[spec.short].params} if not inline else {}
        if ov:
            spec = parse_loss_spec(raw, None, overrides=ov)
        name, options, label = spec.name, dict(spec.options), spec.label.replace(", α=auto", "")
    else:
        if spec is not None and base not in _ALIASES:
            raise CliError(f"cannot draw {spec.name} against an error, margin or probability; "
                           f"plottable: {', '.join(sorted(_ALIASES))}")
        name = _ALIASES.get(base, base if base in PLOTTABLE else None)
        if name is None:
            raise CliError(f"unknown loss {raw!r}; plottable losses: {', '.join(sorted(_ALIASES))} "
                           "(or their losslab names)")
        options = {}
        names = _POSITIONAL.get(name, ())
        params = raw.split(":")[1:] if inline else []
        if len(params) > len(names):
            raise CliError(f"loss spec {raw!r}: {name} takes {len(names)} inline parameter(s) "
                           f"({', '.join(names) or 'none'})")
        for k, v in zip(names, params):
            try:
                options[k] = float(v)
            except ValueError:
                raise CliError(f"loss spec {raw!r}: {k} must be a number, got {v!r}") from None
        if not inline:
            options.update({k: v for k, v in flags.items() if k in PLOTTABLE[name].options})
        label = raw if not options else (
            base + "(" + ", ".join(f"{k}={v:g}" for k, v in sorted(options.items())) + ")")
    # "auto" parameters are computed from training labels, which a plot has not:
    # focal alpha=auto is drawn without alpha weighting (alpha=None), other
    # auto values (pos_weight, class weights) fall back to no weighting.
    clean = {}
    for k, v in options.items():
        if k not in PLOTTABLE[name].options:
            continue
        if v == "auto":
            if k == "alpha":
                clean[k] = None
            continue
        clean[k] = v
    return name, clean, label


def _spec_names() -> set:
    try:
        from .losses import spec_names

        return set(spec_names())
    except ImportError:  # pragma: no cover
        return set()


def _call(fn: str, x, target, **opts):
    import losslab

    f = getattr(losslab, fn)
    kw = dict(opts)
    if fn == "binary_cross_entropy_with_logits" and "pos_weight" in kw:
        kw["pos_weight"] = np.array([float(kw["pos_weight"])])
    try:
        v, g = f(x, target, reduction="none", return_grad=True, **kw)
    except (ValueError, TypeError) as e:
        raise CliError(f"{fn}: {e}") from None
    return np.asarray(v, dtype=np.float64), np.asarray(g, dtype=np.float64)


def curves(fn: str, axis: str, x: np.ndarray, options: dict) -> tuple[np.ndarray, np.ndarray]:
    """(loss, d loss / d x) of losslab function ``fn`` along ``x`` of the given axis kind."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if axis == "error":
        return _call(fn, x, np.zeros(n), **options)
    if axis == "margin":
        if fn in ("cross_entropy", "softmax_focal_loss", "multi_margin_loss"):
            z = np.stack([x, np.zeros(n)], axis=1)
            v, g = _call(fn, z, np.zeros(n, dtype=np.int64), **options)
            return v, g[:, 0]
        return _call(fn, x, np.ones(n), **options)
    # probability of the true class
    if fn == "binary_cross_entropy":
        return _call(fn, x, np.ones(n), **options)
    if fn in ("cross_entropy", "softmax_focal_loss"):
        z = np.stack([np.log(x), np.log1p(-x)], axis=1)
        v, g = _call(fn, z, np.zeros(n, dtype=np.int64), **options)
        return v, g[:, 0] / x - g[:, 1] / (1.0 - x)
    z = np.log(x) - np.log1p(-x)
    v, g = _call(fn, z, np.ones(n), **options)
    return v, g / (x * (1.0 - x))


def _pick_axis(entries, requested: str, texts=None) -> str:
    """The x axis; ``texts`` are the specs as typed (for the suggested command)."""
    texts = list(texts) if texts is not None else [lab for lab, _, _ in entries]
    if requested != "auto":
        bad = [lab for lab, fn, _ in entries if requested not in PLOTTABLE[fn].axes]
        if bad:
            raise CliError(f"--axis {requested}: {', '.join(bad)} cannot be drawn against the {requested}; "
                           f"drop them or choose another --axis")
        return requested
    common = [a for a in AXES if all(a in PLOTTABLE[fn].axes for _, fn, _ in entries)]
    if not common:
        groups, typed = {}, {}
        for (lab, fn, _), text in zip(entries, texts):
            groups.setdefault(PLOTTABLE[fn].axes[0], []).append(lab)
            typed.setdefault(PLOTTABLE[fn].axes[0], []).append(text)
        desc = "; ".join(f"{' '.join(v)} against the {k}" for k, v in groups.items())
        raise CliError(f"these losses have no common x axis ({desc}); plot each group separately, "
                       f"e.g. `losslab plot {' '.join(next(iter(typed.values())))}`")
    return common[0]


def build(args) -> dict:
    """Resolves the specs and computes the curves (no files written)."""
    flags = {opt: getattr(args, dest) for dest, opt in _FLAG_OPTIONS.items()
             if getattr(args, dest, None) is not None}
    entries = []
    for text in args.losses:
        fn, options, label = _resolve(text, flags)
        entries.append((label, fn, options))
    for opt in flags:
        if not any(opt in PLOTTABLE[fn].options for _, fn, _ in entries):
            takers = sorted(fn for fn, p in PLOTTABLE.items() if opt in p.options)
            raise CliError(f"option --{opt.replace('_', '-')} is not used by any of {', '.join(args.losses)}; "
                           f"it applies to {', '.join(takers)}")
    axis = _pick_axis(entries, args.axis, args.losses)
    lo, hi = args.x_range if args.x_range else _DEFAULT_RANGE[axis]
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise CliError(f"--range {lo:g} {hi:g}: give LO < HI, both finite")
    if axis == "probability" and not (0.0 < lo and hi < 1.0):
        raise CliError(f"--range {lo:g} {hi:g}: probabilities must lie strictly inside (0, 1), "
                       "e.g. --range 0.01 0.99")
    if args.points < 3 or args.points > 100000:
        raise CliError(f"--points {args.points}: give 3 to 100000 points")
    x = np.linspace(lo, hi, args.points)
    series = []
    for label, fn, options in entries:
        v, g = curves(fn, axis, x, options)
        series.append({"spec": label, "loss": fn, "options": options, "value": v, "grad": g})
    return {"axis": axis, "x_label": _AXIS_LABEL[axis], "x": x, "series": series}


def run(args) -> int:
    from . import plots
    from .output import emit_json, print_table

    res = build(args)
    stem = args.name or ("loss_curves_" + "_".join(
        "".join(ch if ch.isalnum() else "-" for ch in s) for s in args.losses))[:120]
    if any(ch in stem for ch in "/\\") or stem.startswith("."):
        raise CliError(f"--name {stem!r}: give a plain file stem without folders")
    fig = plots.loss_and_gradient(res["x"], [(s["spec"], s["value"], s["grad"]) for s in res["series"]],
                                  xlabel=res["x_label"],
                                  title=f"losses against the {res['axis']} (values from losslab)")
    png, svg = plots.save_figure(fig, pathlib.Path(args.out_dir), stem)
    data = {
        "axis": res["axis"],
        "x": res["x"].tolist(),
        "series": [{"spec": s["spec"], "loss": s["loss"], "options": s["options"],
                    "value": s["value"].tolist(), "grad": s["grad"].tolist()} for s in res["series"]],
        "png": str(png),
        "svg": str(svg),
    }
    if args.json:
        emit_json(data)
        return 0
    x = res["x"]
    probes = np.linspace(x[0], x[-1], 5)
    idx = [int(np.argmin(np.abs(x - p))) for p in probes]
    rows = []
    for s in res["series"]:
        row = {"loss": s["spec"]}
        for i in idx:
            row[f"{x[i]:.3g}"] = f"{s['value'][i]:.4g} / {s['grad'][i]:.4g}"
        rows.append(row)
    print_table(rows, ["loss"] + [f"{x[i]:.3g}" for i in idx],
                title=f"loss / gradient at sample points of the {_AXIS_LABEL[res['axis']]}")
    print(f"figure: {png}")
    print(f"figure: {svg}")
    return 0
