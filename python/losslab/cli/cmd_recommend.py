"""``losslab recommend``: profile the data, recommend a loss with reasons,
and (``--verify``) check the recommendation by cross-validation.

    losslab recommend --dataset ames
    losslab recommend data.csv --target demand --cost-under 5 --cost-over 1
    losslab recommend --dataset lending_club --verify --folds 3 --epochs 10

The profile and the rules are in :mod:`losslab.cli.profile` (thresholds and
sources: docs/cli_lab.md). ``--verify`` runs ``losslab.cli.compare.run_compare``
on the top candidates plus the task's default loss and says whether the data
agree, on the metric the recommendation is about:

* regression: test MAE when a robust loss is recommended (the claim is
  robustness to outliers), RMSE when MSE is; with --cost-under/--cost-over,
  the mean asymmetric cost ``cost_under (y - ŷ)+ + cost_over (ŷ - y)+``
  (= (cost_under + cost_over) x losslab.quantile_loss at q);
* binary: F1 of the positive (rare) class under imbalance, accuracy when the
  classes are balanced; with costs, the mean cost ``cost_under FN + cost_over FP``;
* multiclass: accuracy.

"agrees" when the top pick has the best mean, "partly agrees" when another
recommended candidate does (the baseline being beaten), "disagrees" when the
baseline wins; the verdict says whether the gap is within one fold standard
deviation.
"""

from __future__ import annotations

import math
import pathlib
import sys

import numpy as np

from .errors import CliError

__all__ = ["add_parser", "run", "decisive_metric", "verdict"]

_BASELINE = {"regression": "mse", "binary": "bce", "multiclass": "ce"}


def add_parser(subparsers):
    from .data import add_data_arguments

    p = subparsers.add_parser(
        "recommend",
        help="profile the data and recommend a loss with its parameters and reasons",
        description="Profile the data (task, classes, imbalance, outliers by robust z-score, skew and "
                    "tails, asymmetric costs) and recommend a loss with its parameters and the reasons. "
                    "--verify cross-validates the top candidates against the default loss.",
    )
    add_data_arguments(p)
    p.add_argument("--cost-under", type=float, default=None, metavar="X",
                   help="cost per unit of predicting too low (regression) / of missing a positive (binary)")
    p.add_argument("--cost-over", type=float, default=None, metavar="Y",
                   help="cost per unit of predicting too high (regression) / of a false alarm (binary)")
    p.add_argument("--verify", action="store_true",
                   help="run compare on the top candidates and the default loss; write the report")
    p.add_argument("--top", type=int, default=2, help="how many candidates --verify trains (default 2)")
    p.add_argument("--folds", type=int, default=3, help="folds of --verify (default 3)")
    p.add_argument("--epochs", type=int, default=20, help="epochs of --verify (default 20)")
    p.add_argument("--model", default="mlp:32", help="model of --verify (default mlp:32)")
    p.add_argument("--optimizer", default="adam", help="optimizer of --verify (default adam)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate of --verify (default 1e-3)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size of --verify (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed (folds, weights, --max-rows sample)")
    p.add_argument("--out-dir", default="./losslab-recommend",
                   help="where --verify writes the report (default ./losslab-recommend)")
    p.add_argument("--json", action="store_true", help="print the profile and recommendation as JSON")
    p.set_defaults(func=run)
    return p


def decisive_metric(task: str, top: dict, profile: dict) -> tuple[str, bool]:
    """(metric, higher_is_better) that the recommendation is judged by."""
    if profile.get("cost_under") is not None:
        return "cost", False
    if task == "regression":
        return ("rmse", False) if top["family"] == "mse" else ("mae", False)
    if task == "binary":
        return ("f1", True) if top["family"] in ("weighted_bce", "focal") else ("accuracy", True)
    return "accuracy", True


def _costs(entry: dict, task: str, cu: float, co: float) -> list[float]:
    """Mean asymmetric cost of the out-of-fold predictions (one value: the
    OOF predictions pool the folds)."""
    oof = entry.get("oof") or {}
    yt = np.asarray(oof.get("y_true") or [], dtype=np.float64)
    yp = np.asarray(oof.get("y_pred") or [], dtype=np.float64)
    if yt.size == 0:
        return [float("nan")]
    if task == "regression":
        import losslab

        q = cu / (cu + co)
        # pinball(q) = q (y - ŷ)+ + (1 - q)(ŷ - y)+, times (cu + co) = the cost.
        return [float(losslab.quantile_loss(yp, yt, quantile=q)) * (cu + co)]
    fn = np.sum((yt == 1) & (yp == 0))
    fp = np.sum((yt == 0) & (yp == 1))
    return [float((cu * fn + co * fp) / yt.size)]


def verdict(result: dict, cands: list[dict], profile: dict) -> dict:
    """Judges a run_compare result against the ranked candidates."""
    task = result["task"]
    top = cands[0]
    metric, hib = decisive_metric(task, top, profile)
    rows = []
    for e in result.get("losses") or []:
        if metric == "cost":
            vals = _costs(e, task, profile["cost_under"], profile["cost_over"])
            mean, std = vals[0], float("nan")
        else:
            st = (e.get("metrics") or {}).get(metric) or {}
            mean, std = st.get("mean"), st.get("std")
        mean = float("nan") if mean is None else float(mean)
        std = float("nan") if std is None else float(std)
        rows.append({"spec": e["spec"], "label": e.get("label") or e["spec"], "mean": mean, "std": std})
    finite = [r for r in rows if math.isfinite(r["mean"])]
    name = {"cost": "mean asymmetric cost", "mae": "test MAE", "rmse": "test RMSE", "f1": "test F1",
            "accuracy": "test accuracy"}.get(metric, metric)
    if not finite:
        return {"metric": metric, "agrees": None, "verdict": f"undecided: no finished run has a {name}",
                "ranking": rows}
    finite.sort(key=lambda r: -r["mean"] if hib else r["mean"])
    best = finite[0]
    roles = {c["spec"]: c.get("role") for c in cands}
    top_row = next((r for r in rows if r["spec"] == top["spec"]), None)
    word = "highest" if hib else "lowest"
    if best["spec"] == top["spec"]:
        agrees, lead = True, f"agrees: {best['spec']} has the {word} {name}"
    elif roles.get(best["spec"]) not in (None, "baseline"):
        agrees, lead = True, (f"partly agrees: {best['spec']} (the recommended alternative) has the {word} "
                              f"{name}; the top pick {top['spec']} ranks "
                              f"{1 + [r['spec'] for r in finite].index(top['spec']) if top_row in finite else '?'}")
    else:
        agrees, lead = False, f"disagrees: {best['spec']} has the {word} {name}, not {top['spec']}"
    detail = ", ".join(f"{r['spec']} {_num(r['mean'])}" + (f" ± {_num(r['std'])}" if math.isfinite(r["std"]) else "")
                       for r in finite)
    note = ""
    if len(finite) > 1:
        gap = abs(finite[0]["mean"] - finite[1]["mean"])
        sd = max((r["std"] for r in finite[:2] if math.isfinite(r["std"])), default=float("nan"))
        if math.isfinite(sd):
            note = (f"; the gap to the next ({_num(gap)}) is {'within' if gap <= sd else 'larger than'} one "
                    f"fold standard deviation ({_num(sd)})")
    return {"metric": metric, "agrees": agrees, "verdict": f"{lead} ({detail}){note}", "ranking": finite}


def _num(v: float) -> str:
    """4 significant digits; large values (prices) without exponent."""
    if not math.isfinite(v):
        return "nan"
    return f"{v:.0f}" if abs(v) >= 1e4 else f"{v:.4g}"


def _print_profile(prof: dict) -> None:
    from .output import print_table

    skip = {"class_counts"}
    rows = []
    for k, v in prof.items():
        if k in skip or v is None:
            continue
        if isinstance(v, float):
            v = f"{v:.4g}"
        rows.append({"measure": k, "value": v})
    if "class_counts" in prof:
        cc = prof["class_counts"]
        shown = ", ".join(f"{k}: {v}" for k, v in list(cc.items())[:12]) + (" ..." if len(cc) > 12 else "")
        rows.append({"measure": "class_counts", "value": shown})
    print_table(rows, ["measure", "value"], title="data profile")


def run(args) -> int:
    from .data import load_dataset
    from .output import emit_json
    from .profile import profile_data, recommend

    ds = load_dataset(args)
    prof = profile_data(ds, cost_under=args.cost_under, cost_over=args.cost_over)
    cands = recommend(prof)
    out = {"profile": prof, "recommendations": cands, "missing": dict(ds.missing or {}), "notes": list(ds.notes)}
    if not args.json:
        for note in ds.notes:
            print(f"note: {note}")
        _print_profile(prof)
        print()
        print("recommendation (best first):")
        for i, c in enumerate(cands, 1):
            print(f"  {i}. {c['spec']}  [{c['family']}, {c['role']}]" +
                  ("" if c.get("trainable", True) else "  (not trainable by the engine: use eval / your framework)"))
            for r in c["reasons"]:
                print(f"       - {r}")
    if args.verify:
        from .compare import run_compare
        from .report import write_compare_report

        if args.top < 1:
            raise CliError(f"--top must be >= 1, got {args.top}")
        trainable = [c for c in cands if c.get("trainable", True) and c.get("role") != "baseline"]
        specs = [c["spec"] for c in trainable[: args.top]]
        base = _BASELINE[ds.task]
        if base not in specs:
            specs.append(base)
        judged = [c for c in cands if c.get("trainable", True)]
        if not args.json:
            print()
            print(f"verifying: {', '.join(specs)} ({args.folds}-fold, {args.epochs} epochs, {args.model})")
        result = run_compare(ds, specs, folds=args.folds, epochs=args.epochs, model=args.model,
                             optimizer=args.optimizer, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                             standardize_target=getattr(args, "standardize_target", True),
                             progress=not args.json)
        v = verdict(result, judged, prof)
        n_done = len(result.get("losses") or [])
        if result.get("interrupted") and n_done < len(specs):
            # Ctrl-C: the finished runs are kept (table, report), but a ranking
            # of some of the candidates cannot confirm the recommendation.
            done = ", ".join(e["spec"] for e in result.get("losses") or []) or "none"
            v["agrees"] = None
            v["verdict"] = (f"undecided: interrupted after {n_done} of {len(specs)} runs (finished: {done}); "
                            f"run --verify again to compare all candidates")
        if not cands[0].get("trainable", True):
            v["verdict"] = (f"{cands[0]['spec']} cannot be trained by the engine; among the trainable "
                            f"candidates: {v['verdict']}")
        result["recommendation"] = {"profile": prof, "candidates": cands, "verdict": v["verdict"],
                                    "agrees": v["agrees"], "metric": v["metric"]}
        report = write_compare_report(result, pathlib.Path(args.out_dir))
        out["verify"] = {"specs": specs, "metric": v["metric"], "agrees": v["agrees"], "verdict": v["verdict"],
                         "ranking": v["ranking"], "interrupted": result.get("interrupted", False),
                         "report": str(report)}
        if not args.json:
            from .output import print_table

            rows = []
            for e in result["losses"]:
                row = {"loss": e["label"]}
                for m in result["metrics"]:
                    st = e["metrics"][m]
                    row[m] = f"{_num(st['mean'])} ± {_num(st['std'])}" + (" *" if m in e["best"] else "")
                rows.append(row)
            print_table(rows, ["loss"] + list(result["metrics"]),
                        title=f"cross-validated test metrics ({args.folds} folds; * = best)")
            print()
            print(v["verdict"])
            print(f"report: {report}")
        if result.get("interrupted"):
            if args.json:
                emit_json(out)
            print(f"interrupted; kept {n_done} finished "
                  f"run{'s' if n_done != 1 else ''} (report: {report})", file=sys.stderr)
            return 130
    if args.json:
        emit_json(out)
    return 0
