"""``losslab compare DATA --target COL --losses mse,mae,huber:1,quantile:0.9 [--folds 5]``

Trains the same model with each loss on the same k folds and prints a
side-by-side table: each test metric as mean ± std over the folds, the epochs
to converge and the training time; the best mean of each metric is marked
``*``. Writes ``compare.json`` and the HTML report into ``--out-dir``
(default ./losslab-report) and prints ``report: <path>``. ``--json`` prints
the result dict (docs/cli.md, "compare JSON schema") instead of the table.
Ctrl-C stops the run and keeps (prints and reports) the finished losses.
"""

from __future__ import annotations

import json
import pathlib
import sys

from .cmd_train import add_training_arguments
from .compare import run_compare
from .data import add_data_arguments, load_dataset
from .errors import CliError
from .losses import default_losses, parse_loss_spec
from .output import emit_json, print_table, to_jsonable


def add_parser(sub):
    p = sub.add_parser(
        "compare",
        help="cross-validate several losses side by side; writes an HTML report",
        description=__doc__,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    add_data_arguments(p)
    p.add_argument(
        "--losses",
        default=None,
        help="comma-separated loss specs (default: regression mse,mae,huber; binary bce,weighted_bce,focal; "
        "multiclass ce,multi_hinge)",
    )
    p.add_argument("--folds", type=int, default=5, help="k of k-fold cross-validation (default 5)")
    add_training_arguments(p, epochs=30)
    p.add_argument("--out-dir", default="losslab-report", help="report folder (default ./losslab-report)")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML report (compare.json only)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (no progress bar)")
    return p


def split_specs(text: str) -> list:
    """'mse,mae,huber:1' -> ['mse', 'mae', 'huber:1'] (blanks dropped)."""
    return [s.strip() for s in text.split(",") if s.strip()]


def table_rows(result: dict):
    """(rows, columns, mark) of the compare table."""
    metrics = result["metrics"]
    rows, mark = [], {m: set() for m in metrics}
    for i, entry in enumerate(result["losses"]):
        row = {"loss": entry["label"]}
        for m in metrics:
            s = entry["metrics"][m]
            row[m] = _pm(s["mean"], s["std"])
            if m in entry["best"]:
                mark[m].add(i)
        row["epochs"] = _num(entry["epochs_to_converge"]["mean"], 1)
        row["time_s"] = _num(entry["time_s"]["mean"], 2)
        rows.append(row)
    return rows, ["loss"] + metrics + ["epochs", "time_s"], mark


def _num(v, digits):
    return "nan" if v is None or v != v else f"{v:.{digits}f}"


def _pm(mean, std) -> str:
    if mean is None or mean != mean:
        return "nan"
    mag = max(abs(mean), abs(std or 0.0))
    if mag >= 1000:
        return f"{mean:.0f} ± {std:.0f}"
    return f"{mean:.4f} ± {std:.4f}" if mag < 10 else f"{mean:.2f} ± {std:.2f}"


def run(args) -> int:
    ds = load_dataset(args)
    texts = split_specs(args.losses) if args.losses else default_losses(ds.task, ds.segmentation)
    specs = [parse_loss_spec(t, ds) for t in texts]
    labels = [s.label for s in specs]
    dup = {lb for lb in labels if labels.count(lb) > 1}
    if dup:
        raise CliError(f"--losses names {', '.join(sorted(dup))} twice; give each loss once")
    result = run_compare(
        ds,
        specs,
        folds=args.folds,
        epochs=args.epochs,
        model=args.model,
        optimizer=args.optimizer,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        standardize_target=args.standardize_target,
        progress=False if args.json else True,
    )
    out_dir = pathlib.Path(args.out_dir)
    report = None
    if result["losses"]:
        report = _write_outputs(result, out_dir, write_html=not args.no_report)
    info = sys.stderr if args.json else sys.stdout
    if args.json:
        emit_json(result)
    else:
        for note in ds.notes:
            print(f"note: {note}")
        rows, cols, mark = table_rows(result)
        title = (
            f"{ds.name}: {ds.task}, target {ds.target!r}, {ds.n_samples} rows x {ds.n_features} features; "
            f"{args.folds}-fold CV, model {args.model}, {args.epochs} epochs, {args.optimizer} lr {args.lr:g}"
        )
        print_table(rows, cols, title=title, mark=mark)
        print("(mean ± std over the folds; * = best; epochs = epochs to converge)")
    if report is not None:
        print(f"report: {report}", file=info)
    if result["interrupted"]:
        print(f"interrupted; kept {len(result['losses'])} finished runs", file=sys.stderr)
        return 130
    return 0


def _write_outputs(result: dict, out_dir: pathlib.Path, write_html: bool) -> pathlib.Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create --out-dir {out_dir}: {e.strerror}") from None
    path = out_dir / "compare.json"
    path.write_text(json.dumps(to_jsonable(result), sort_keys=True))
    if not write_html:
        return path
    try:
        from losslab.cli.report import write_compare_report
    except ModuleNotFoundError as e:  # the report module is optional
        if e.name not in ("losslab.cli.report", "matplotlib"):
            raise
        return path
    return write_compare_report(result, out_dir)
