"""The self-contained HTML report of ``losslab compare`` (and ``recommend --verify``).

``write_compare_report(result, out_dir)`` takes the dict of
``losslab.cli.compare.run_compare`` (schema in docs/cli.md) and writes

* ``out_dir/report.html``: one file, CSS inline, every figure embedded as a
  base64 ``data:image/png`` URI: it opens from disk with no network and no
  JavaScript;
* ``out_dir/figures/*.png`` and ``*.svg`` (the same figures, for papers);
* ``out_dir/results.json``: the result itself (NaN written as null).

Sections: dataset summary, side-by-side table (mean ± std over folds, best
marked), the recommendation when ``result["recommendation"]`` is present,
learning curves, residual distributions (regression) or confusion matrices
(classification), calibration.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
import pathlib

import numpy as np

from . import plots

__all__ = ["write_compare_report", "jsonable"]


def jsonable(obj):
    """obj with numpy scalars/arrays turned into Python ones and NaN / inf into None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, pathlib.Path):
        return str(obj)
    return obj


_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1c2330}
main{max-width:1120px;margin:0 auto;padding:24px 32px 48px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:0 0 4px} h2{font-size:19px;margin:32px 0 10px;border-bottom:2px solid #e3e6ea;padding-bottom:4px}
.sub{color:#5b6472;margin:0 0 18px}
table{border-collapse:collapse;font-size:14px;margin:8px 0}
th,td{padding:6px 12px;border-bottom:1px solid #e3e6ea;text-align:right;white-space:nowrap}
th{background:#f0f2f5;font-weight:600} td:first-child,th:first-child{text-align:left}
td.best{background:#e3f6e8;font-weight:700} td.best::after{content:" \\2605";color:#1a7f37}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:4px 18px;font-size:14px;margin:0}
dl.kv dt{color:#5b6472} dl.kv dd{margin:0}
dl.kv.cols{grid-template-columns:repeat(3,max-content minmax(90px,auto));font-size:13px}
figure{margin:12px 0 24px} figure img{max-width:100%;height:auto;border:1px solid #e3e6ea}
figcaption{font-size:13px;color:#5b6472;margin-top:4px}
.rec{background:#f3f7ff;border-left:4px solid #3468d6;padding:10px 16px;margin:8px 0}
.rec.agree{border-color:#1a7f37;background:#eef9f1} .rec.disagree{border-color:#c2410c;background:#fff5ed}
.note{font-size:13px;color:#5b6472} code{background:#f0f2f5;padding:1px 4px;border-radius:3px}
ol li{margin-bottom:6px}
"""


def _fmt(v, digits: int = 4) -> str:
    if v is None:
        return "–"
    try:
        v = float(v)
    except (TypeError, ValueError):
        return html.escape(str(v))
    if not math.isfinite(v):
        return "–"
    if abs(v) >= 1e3 or abs(v) >= 10**digits:
        return f"{v:,.0f}"  # prices and counts: 36,606 rather than 3.661e+04
    if v != 0 and abs(v) < 1e-3:
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def _img(png: pathlib.Path, svg: pathlib.Path, out_dir: pathlib.Path, alt: str, caption: str) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    w, h = _png_size(png.read_bytes())
    rel_svg = svg.relative_to(out_dir).as_posix()
    rel_png = png.relative_to(out_dir).as_posix()
    return (f'<figure><img alt="{html.escape(alt)}" width="{w}" height="{h}" '
            f'src="data:image/png;base64,{data}">'
            f'<figcaption>{html.escape(caption)} Files: <code>{html.escape(rel_png)}</code>, '
            f'<code>{html.escape(rel_svg)}</code>.</figcaption></figure>')


def _png_size(b: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk of a PNG."""
    return int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")


def _summary(result: dict) -> str:
    items = [
        ("dataset", result.get("dataset")),
        ("target", result.get("target")),
        ("task", result.get("task")),
        ("samples × features", f"{result.get('n_samples')} × {result.get('n_features')}"),
    ]
    if result.get("n_classes"):
        cls = result.get("classes") or []
        shown = ", ".join(str(c) for c in cls[:12]) + (" …" if len(cls) > 12 else "")
        items.append(("classes", f"{result['n_classes']} ({shown})" if cls else str(result["n_classes"])))
    items += [
        ("model", result.get("model")),
        ("training", f"{result.get('optimizer')} lr={result.get('lr')}, {result.get('epochs')} epochs, seed "
                     f"{result.get('seed')}"),
        ("evaluation", f"{result.get('folds')}-fold cross-validation, out-of-fold test metrics"),
    ]
    if result.get("task") == "regression" and result.get("standardize_target") is not None:
        items.append(("target scaling", "standardized for training, metrics in original units"
                      if result["standardize_target"] else "raw target (--no-standardize-target)"))
    missing = result.get("missing") or {}
    if missing:
        items.append(("missing values", ", ".join(f"{k}: {v}" for k, v in missing.items())
                      + " (numeric: median imputed; categorical: level 'missing'; missing target: row dropped)"))
    for note in result.get("notes") or []:
        if not str(note).startswith("missing values:"):  # already in the row above
            items.append(("note", note))
    if result.get("interrupted"):
        items.append(("status", "interrupted (Ctrl-C): only the finished runs are shown"))
    rows = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in items)
    return f'<dl class="kv">{rows}</dl>'


def _table(result: dict) -> str:
    metrics = list(result.get("metrics") or [])
    hib = result.get("higher_is_better") or {}
    targets = result.get("metric_targets") or {}

    def arrow(m):
        if m in targets:
            return f"→ {targets[m]:g}"
        return "↑" if hib.get(m) else "↓"

    head = "<tr><th>loss</th>" + "".join(
        f"<th>{html.escape(m)} {html.escape(arrow(m))}</th>" for m in metrics
    ) + "<th>epochs to converge</th><th>time (s)</th></tr>"
    body = []
    for entry in result.get("losses") or []:
        best = set(entry.get("best") or [])
        cells = [f"<td>{html.escape(str(entry.get('label') or entry.get('spec')))}"
                 f"<br><span class=note><code>{html.escape(str(entry.get('spec')))}</code></span></td>"]
        for m in metrics:
            st = (entry.get("metrics") or {}).get(m) or {}
            cls = ' class="best"' if m in best else ""
            cells.append(f"<td{cls}>{_fmt(st.get('mean'))} ± {_fmt(st.get('std'), 2)}</td>")
        ec = entry.get("epochs_to_converge") or {}
        ts = entry.get("time_s") or {}
        cells.append(f"<td>{_fmt(ec.get('mean'), 3)} ± {_fmt(ec.get('std'), 2)}</td>")
        cells.append(f"<td>{_fmt(ts.get('mean'), 3)} ± {_fmt(ts.get('std'), 2)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table>{head}{''.join(body)}</table>"
            "<p class=note>mean ± standard deviation over the folds; ★ = best mean for the metric "
            "(↑ higher is better, ↓ lower is better, → q closest to q is best; coverage@q is the share of "
            "targets at or below the prediction). Epochs to converge: first epoch whose validation "
            "loss is within 1 % of its best.</p>")


def _recommendation(rec) -> str:
    if isinstance(rec, str):
        return f'<div class="rec"><p>{html.escape(rec)}</p></div>'
    parts = []
    verdict = rec.get("verdict")
    agrees = rec.get("agrees")
    cls = "rec" + ("" if agrees is None else (" agree" if agrees else " disagree"))
    prof = rec.get("profile") or {}
    shown = {k: v for k, v in prof.items() if isinstance(v, (int, float, str)) and v is not None
             and k not in ("dataset", "target")}
    if shown:
        parts.append('<dl class="kv cols">' + "".join(
            f"<dt>{html.escape(k)}</dt><dd>{html.escape(_fmt(v) if isinstance(v, float) else str(v))}</dd>"
            for k, v in shown.items()) + "</dl>")
    cands = rec.get("candidates") or []
    if cands:
        items = []
        for c in cands:
            reasons = "".join(f"<li>{html.escape(str(r))}</li>" for r in c.get("reasons") or [])
            role = c.get("role", "")
            items.append(f"<li><b><code>{html.escape(str(c.get('spec')))}</code></b> "
                         f"({html.escape(str(c.get('family')))}{', ' + html.escape(role) if role else ''})"
                         f"<ul>{reasons}</ul></li>")
        parts.append("<ol>" + "".join(items) + "</ol>")
    if verdict:
        parts.append(f'<div class="{cls}"><p><b>{html.escape(str(verdict))}</b></p></div>')
    return "".join(parts)


def _figures(result: dict, fig_dir: pathlib.Path, out_dir: pathlib.Path) -> list[tuple[str, str]]:
    """[(section title, html)] for every figure."""
    import losslab

    losses = [e for e in result.get("losses") or []]
    task = result.get("task")
    target = str(result.get("target") or "y")
    out = []
    per = [(str(e.get("label") or e.get("spec")), e.get("curves") or []) for e in losses]
    if any(c for _, c in per):
        fig = plots.learning_curves(per)
        png, svg = plots.save_figure(fig, fig_dir, "learning_curves")
        out.append(("Learning curves", _img(png, svg, out_dir, "learning curves",
                                             "Training and validation loss per epoch for each loss.")))
    oofs = [(str(e.get("label") or e.get("spec")), e.get("oof")) for e in losses if e.get("oof")]
    oofs = [(lab, o) for lab, o in oofs if o and o.get("y_true") is not None and len(o["y_true"])]
    if not oofs:
        return out
    if task == "regression":
        per = [(lab, np.asarray(o["y_true"], float), np.asarray(o["y_pred"], float)) for lab, o in oofs]
        fig = plots.residual_distributions(per, target=target)
        png, svg = plots.save_figure(fig, fig_dir, "residuals")
        out.append(("Residual distributions", _img(
            png, svg, out_dir, "residual distributions",
            f"Out-of-fold residuals (predicted − true {target}, original units) and predicted vs true.")))
        fig = plots.calibration(per, "regression")
        png, svg = plots.save_figure(fig, fig_dir, "calibration")
        out.append(("Calibration", _img(png, svg, out_dir, "calibration",
                                         "Mean true value per decile of the out-of-fold prediction; "
                                         "the diagonal is perfect calibration in the mean.")))
        return out
    classes = [str(c) for c in (result.get("classes") or [])]
    k = int(result.get("n_classes") or (max(int(max(o["y_true"])) for _, o in oofs) + 1))
    if len(classes) != k:
        classes = [str(i) for i in range(k)]
    cms = []
    for lab, o in oofs:
        yt = np.asarray(o["y_true"], dtype=np.int64)
        yp = np.asarray(o["y_pred"], dtype=np.int64)
        cms.append((lab, losslab.confusion_matrix(yp, yt, num_classes=k)))
    fig = plots.confusion_matrices(cms, classes)
    png, svg = plots.save_figure(fig, fig_dir, "confusion_matrices")
    out.append(("Confusion matrices", _img(png, svg, out_dir, "confusion matrices",
                                           "Out-of-fold confusion matrices (rows: true class, columns: "
                                           "predicted; colour = row share, numbers = counts).")))
    per, ece = [], {}
    for lab, o in oofs:
        if o.get("proba") is None:
            continue
        yt = np.asarray(o["y_true"], dtype=np.int64)
        p = np.asarray(o["proba"], dtype=np.float64)
        if task == "binary":
            p = p.reshape(-1)
        per.append((lab, yt, p))
        try:
            ece[lab] = float(losslab.expected_calibration_error(p, yt, n_bins=10))
        except (ValueError, TypeError):
            pass
    if per:
        fig = plots.calibration(per, task, ece=ece)
        png, svg = plots.save_figure(fig, fig_dir, "calibration")
        out.append(("Calibration", _img(
            png, svg, out_dir, "calibration",
            "Reliability diagram of the out-of-fold probabilities (10 equal-width bins); ECE = "
            "expected calibration error (losslab.expected_calibration_error, 10 bins). Hinge-type "
            "losses give no probabilities and are left out.")))
    return out


def write_compare_report(result: dict, out_dir: pathlib.Path) -> pathlib.Path:
    """Writes report.html, figures/ and results.json into out_dir; returns the
    path of report.html."""
    out_dir = pathlib.Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(
        json.dumps(jsonable(result), sort_keys=True, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    title = f"losslab compare: {result.get('dataset')} → {result.get('target')}"
    sections = [("Dataset", _summary(result)), ("Losses side by side", _table(result))]
    if result.get("recommendation"):
        sections.append(("Recommendation", _recommendation(result["recommendation"])))
    sections += _figures(result, fig_dir, out_dir)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        import losslab

        version = losslab.__version__
    except Exception:  # pragma: no cover - report without the extension
        version = "?"
    body = "".join(f"<section><h2>{html.escape(t)}</h2>{h}</section>" for t, h in sections)
    doc = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<style>{_CSS}</style></head><body><main>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class=sub>losslab {html.escape(str(version))} · {now} · "
        "self-contained report (no network, no scripts); the raw numbers are in "
        "<code>results.json</code>.</p>"
        f"{body}</main></body></html>\n"
    )
    path = out_dir / "report.html"
    path.write_text(doc, encoding="utf-8")
    return path
