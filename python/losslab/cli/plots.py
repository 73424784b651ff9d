"""Figures of the losslab command (matplotlib, Agg backend).

Every figure has an explicit size in inches and is saved at ``DPI`` without
tight bounding boxes, so its PNG is exactly ``figsize * DPI`` pixels (the
sizes are in ``FIGSIZES`` and tested). ``save_figure`` writes a PNG and an SVG
of the same figure. The functions only draw what they are given: values of
losses come from losslab's own functions in the commands that call them.
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

__all__ = [
    "DPI",
    "FIGSIZES",
    "pixel_size",
    "save_figure",
    "learning_curves",
    "residual_distributions",
    "confusion_matrices",
    "calibration",
    "loss_and_gradient",
    "landscape_contour",
    "landscape_surface",
    "landscape_interpolation",
]

DPI = 100
# (width, height) in inches; pixels = inches * DPI.
FIGSIZES = {
    "learning_curves": (9.0, 4.5),
    "residuals": (9.0, 4.5),
    "confusion": (3.2, 3.2),  # per panel; the figure is (3.2 * panels, 3.4)
    "calibration": (6.0, 5.0),
    "loss_and_gradient": (11.0, 4.5),
    "landscape_contour": (6.0, 5.0),
    "landscape_surface": (7.0, 5.5),
    "landscape_interpolation": (7.0, 4.5),
}

_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def pixel_size(fig) -> tuple[int, int]:
    """(width, height) in pixels of the PNG that save_figure writes."""
    w, h = fig.get_size_inches()
    return int(round(w * DPI)), int(round(h * DPI))


def save_figure(fig, out_dir, stem: str) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes out_dir/stem.png (at DPI, exact figure size) and out_dir/stem.svg;
    closes the figure. Returns (png_path, svg_path)."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{stem}.png", out / f"{stem}.svg"
    fig.savefig(png, dpi=DPI, format="png", metadata={"Software": "losslab"})
    # A fixed hash salt and no date: the same figure gives the same SVG bytes.
    with matplotlib.rc_context({"svg.hashsalt": "losslab"}):
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": "losslab"})
    plt.close(fig)
    return png, svg


def _new(kind: str, *, ncols: int = 1, nrows: int = 1, figsize=None, **kw):
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize or FIGSIZES[kind], dpi=DPI,
                             squeeze=False, **kw)
    return fig, axes


def learning_curves(per_loss: list[tuple[str, list[dict]]], *, title: str = "Learning curves",
                    subtitle: str = " (mean over folds, band = ±1 std)"):
    """per_loss: [(label, [{"epoch": [...], "train_loss": [...], "val_loss": [...]}, ...folds])].
    Left: train loss, right: validation loss; the line is the mean over folds,
    the band mean +- std. Each loss is on its own scale, so the y axis is log
    when every value is positive."""
    fig, axes = _new("learning_curves", ncols=2)
    for j, key in enumerate(("train_loss", "val_loss")):
        ax = axes[0][j]
        all_pos = True
        for i, (label, curves) in enumerate(per_loss):
            rows = [np.asarray(c.get(key) or [], dtype=np.float64) for c in curves]
            rows = [r for r in rows if r.size]
            if not rows:
                continue
            n = min(len(r) for r in rows)
            m = np.stack([r[:n] for r in rows])
            mean, std = np.nanmean(m, axis=0), np.nanstd(m, axis=0)
            ep = np.asarray(curves[0].get("epoch") or np.arange(1, n + 1))[:n]
            color = _COLORS[i % len(_COLORS)]
            ax.plot(ep, mean, color=color, label=label, lw=1.6)
            ax.fill_between(ep, mean - std, mean + std, color=color, alpha=0.2, lw=0)
            all_pos &= bool(np.all(mean - std > 0))
        if all_pos and ax.has_data():
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (each loss on its own scale)" if j == 0 else "")
        ax.set_title("training loss" if j == 0 else "validation loss (held-out fold)")
        ax.grid(alpha=0.3)
        if j == 0 and ax.has_data():
            ax.legend(fontsize=8)
    fig.suptitle(title + subtitle)
    fig.tight_layout()
    return fig


def residual_distributions(per_loss: list[tuple[str, np.ndarray, np.ndarray]], *, target: str = "y"):
    """per_loss: [(label, y_true, y_pred)] in original units. Left: histogram of
    the residuals y_pred - y_true (shared bins, clipped to the 0.5-99.5 %
    range of all residuals); right: predicted against true."""
    fig, axes = _new("residuals", ncols=2)
    res = [np.asarray(p, float) - np.asarray(t, float) for _, t, p in per_loss]
    allr = np.concatenate(res) if res else np.zeros(1)
    lo, hi = np.quantile(allr, [0.005, 0.995]) if allr.size else (-1, 1)
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    bins = np.linspace(lo, hi, 50)
    ax = axes[0][0]
    for i, ((label, t, p), r) in enumerate(zip(per_loss, res)):
        color = _COLORS[i % len(_COLORS)]
        med = float(np.median(r))
        mae = float(np.mean(np.abs(r)))
        ax.hist(np.clip(r, lo, hi), bins=bins, histtype="step", lw=1.5, color=color,
                label=f"{label}: median {med:.3g}, MAE {mae:.3g}")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel(f"residual: predicted - true {target}")
    ax.set_ylabel("count")
    ax.set_title("residual distribution (out-of-fold, 0.5-99.5 % range)")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    # Axis limits from the true values (0.1-99.9 %), so one wild prediction
    # does not squash the cloud; points outside are drawn on the border.
    allt = np.concatenate([np.asarray(t, float) for _, t, _ in per_loss]) if per_loss else np.zeros(1)
    tlo, thi = np.quantile(allt, [0.001, 0.999])
    pad = 0.05 * max(thi - tlo, 1e-12)
    tlo, thi = tlo - pad, thi + pad
    for i, (label, t, p) in enumerate(per_loss):
        t, p = np.asarray(t, float), np.asarray(p, float)
        sel = np.arange(t.size)
        if t.size > 3000:
            sel = np.random.default_rng(0).choice(t.size, 3000, replace=False)
        ax.scatter(np.clip(t[sel], tlo, thi), np.clip(p[sel], tlo, thi), s=4, alpha=0.35,
                   color=_COLORS[i % len(_COLORS)], label=label)
    ax.plot([tlo, thi], [tlo, thi], "k--", lw=0.8, label="y = x")
    ax.set_xlim(tlo, thi)
    ax.set_ylim(tlo, thi)
    for a in (axes[0][0].xaxis, ax.xaxis, ax.yaxis):
        a.set_major_locator(MaxNLocator(5))
    ax.set_xlabel(f"true {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title("predicted vs true")
    ax.legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig


def confusion_matrices(per_loss: list[tuple[str, np.ndarray]], classes: list[str]):
    """per_loss: [(label, cm)] with cm[i, j] = count of true i predicted j
    (losslab.confusion_matrix). One panel per loss, rows normalized to 1 and
    annotated with counts when there are at most 12 classes."""
    w, h = FIGSIZES["confusion"]
    n = max(1, len(per_loss))
    fig, axes = _new("confusion", ncols=n, figsize=(w * n, h + 0.2))
    k = len(classes)
    for i, (label, cm) in enumerate(per_loss):
        ax = axes[0][i]
        cm = np.asarray(cm, dtype=np.float64)
        rows = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        if k <= 12:
            for a in range(k):
                for b in range(k):
                    ax.text(b, a, f"{int(cm[a, b])}", ha="center", va="center", fontsize=7 if k > 4 else 9,
                            color="white" if norm[a, b] > 0.5 else "black")
        ticks = np.arange(k)
        names = [str(c)[:8] for c in classes]
        ax.set_xticks(ticks, names, fontsize=7, rotation=90 if k > 4 else 0)
        ax.set_yticks(ticks, names, fontsize=7)
        ax.set_xlabel("predicted")
        if i == 0:
            ax.set_ylabel("true")
        acc = np.trace(cm) / max(cm.sum(), 1)
        ax.set_title(f"{label}\naccuracy {acc:.3f}", fontsize=9)
    fig.tight_layout()
    return fig


def _reliability(conf: np.ndarray, correct: np.ndarray, n_bins: int):
    """Equal-width bins of the confidence: (mean confidence, accuracy, count) per
    non-empty bin."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, n_bins - 1)
    mc, acc, cnt = [], [], []
    for b in range(n_bins):
        m = idx == b
        if m.any():
            mc.append(conf[m].mean())
            acc.append(correct[m].mean())
            cnt.append(int(m.sum()))
    return np.array(mc), np.array(acc), np.array(cnt)


def calibration(per_loss: list[tuple[str, np.ndarray, np.ndarray]], task: str, *, n_bins: int = 10,
                ece: dict | None = None):
    """Reliability diagram. binary: per_loss [(label, y_true 0/1, p(y=1))],
    observed frequency of the positive class per bin of predicted p;
    multiclass: [(label, y_true, proba (n, K))], top-label: accuracy per bin
    of the top-class probability; regression: [(label, y_true, y_pred)],
    mean true per decile of the prediction. ece: optional {label: ECE} for the
    legend (computed by the caller with losslab.expected_calibration_error)."""
    fig, axes = _new("calibration")
    ax = axes[0][0]
    if task == "regression":
        lo, hi = np.inf, -np.inf
        for i, (label, t, p) in enumerate(per_loss):
            t, p = np.asarray(t, float), np.asarray(p, float)
            edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
            idx = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, n_bins - 1)
            xs = [p[idx == b].mean() for b in range(n_bins) if (idx == b).any()]
            ys = [t[idx == b].mean() for b in range(n_bins) if (idx == b).any()]
            ax.plot(xs, ys, "o-", color=_COLORS[i % len(_COLORS)], label=label, ms=4)
            lo, hi = min(lo, *xs, *ys), max(hi, *xs, *ys)
        if not np.isfinite(lo):
            lo, hi = 0.0, 1.0
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="perfect")
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.yaxis.set_major_locator(MaxNLocator(6))
        ax.set_xlabel("mean prediction (decile of predictions)")
        ax.set_ylabel("mean true value")
        ax.set_title("calibration: mean true value per prediction decile")
    else:
        for i, (label, t, p) in enumerate(per_loss):
            t = np.asarray(t)
            p = np.asarray(p, float)
            if task == "binary":
                conf, correct = p.reshape(-1), (t.reshape(-1) == 1).astype(float)
            else:
                conf, correct = p.max(axis=1), (p.argmax(axis=1) == t).astype(float)
            mc, acc, _ = _reliability(conf, correct, n_bins)
            lab = label if not ece or label not in ece else f"{label} (ECE {ece[label]:.3f})"
            ax.plot(mc, acc, "o-", color=_COLORS[i % len(_COLORS)], label=lab, ms=4)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        if task == "binary":
            ax.set_xlabel("predicted probability of the positive class")
            ax.set_ylabel("observed frequency of the positive class")
            ax.set_title("reliability diagram")
        else:
            ax.set_xlabel("top-label confidence")
            ax.set_ylabel("accuracy")
            ax.set_title("reliability diagram (top label)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def loss_and_gradient(x: np.ndarray, series: list[tuple[str, np.ndarray, np.ndarray]], *,
                      xlabel: str, title: str = ""):
    """Left: loss(x); right: d loss / d x, for each (label, loss, grad)."""
    fig, axes = _new("loss_and_gradient", ncols=2)
    for i, (label, v, g) in enumerate(series):
        color = _COLORS[i % len(_COLORS)]
        axes[0][0].plot(x, v, color=color, label=label, lw=1.8)
        axes[0][1].plot(x, g, color=color, label=label, lw=1.8)
    for ax, yl in zip(axes[0], ("loss", "gradient d loss / d " + xlabel.split(" ")[0])):
        ax.axhline(0, color="k", lw=0.6)
        ax.axvline(0 if "probability" not in xlabel else 0.5, color="k", lw=0.4, ls=":")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_title("loss")
    axes[0][1].set_title("gradient")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def landscape_contour(a: np.ndarray, b: np.ndarray, Z: np.ndarray, *, title: str = ""):
    """Contour of Z[i, j] = loss at theta* + a[j] d1 + b[i] d2 (log-spaced levels
    when Z > 0); the trained weights are the star at (0, 0)."""
    fig, axes = _new("landscape_contour")
    ax = axes[0][0]
    A, B = np.meshgrid(a, b)
    Zf = np.asarray(Z, float)
    finite = Zf[np.isfinite(Zf)]
    levels = 20
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 10:
        levels = np.geomspace(finite.min(), finite.max(), 20)
    cs = ax.contourf(A, B, Zf, levels=levels, cmap="viridis")
    ax.contour(A, B, Zf, levels=levels, colors="k", linewidths=0.3)
    fig.colorbar(cs, ax=ax, label="training loss")
    ax.plot([0], [0], "r*", ms=12, label="trained weights θ*")
    ax.set_xlabel("direction 1 (filter-normalized)")
    ax.set_ylabel("direction 2 (filter-normalized)")
    ax.set_title(title or "loss landscape")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def landscape_surface(a: np.ndarray, b: np.ndarray, Z: np.ndarray, *, title: str = ""):
    """3-D surface of the same grid as landscape_contour."""
    fig = plt.figure(figsize=FIGSIZES["landscape_surface"], dpi=DPI)
    ax = fig.add_subplot(1, 1, 1, projection="3d")
    A, B = np.meshgrid(a, b)
    ax.plot_surface(A, B, np.asarray(Z, float), cmap="viridis", linewidth=0, antialiased=True,
                    rcount=len(b), ccount=len(a))
    ax.set_xlabel("direction 1")
    ax.set_ylabel("direction 2")
    ax.set_zlabel("training loss")
    ax.set_title(title or "loss surface")
    fig.subplots_adjust(left=0.0, right=0.95, bottom=0.05, top=0.92)
    return fig


def landscape_interpolation(alphas: np.ndarray, losses: np.ndarray, *, title: str = ""):
    """Loss along (1 - alpha) theta0 + alpha theta*: alpha 0 is the
    initialization, 1 the trained weights."""
    fig, axes = _new("landscape_interpolation")
    ax = axes[0][0]
    ax.plot(alphas, losses, "o-", ms=3, lw=1.6)
    for x, lab in ((0.0, "init θ0"), (1.0, "trained θ*")):
        ax.axvline(x, color="k", ls=":", lw=0.8)
        ax.text(x + 0.01, 0.97, lab, transform=ax.get_xaxis_transform(), ha="left", va="top", fontsize=8)
    if np.all(np.asarray(losses) > 0) and np.nanmax(losses) / max(np.nanmin(losses), 1e-300) > 20:
        ax.set_yscale("log")
    ax.set_xlabel("α in (1 - α) θ0 + α θ*")
    ax.set_ylabel("training loss")
    ax.set_title(title or "1-D interpolation from initialization to solution")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig

