"""Data profile and loss recommendation for ``losslab recommend``.

``profile_data(ds)`` measures the traits that decide the choice of a loss;
``recommend(profile)`` turns them into ranked candidates, each with reasons
that cite the measured numbers. The rules and thresholds, with their sources,
are in docs/cli_lab.md ("recommend"). No loss math here: only statistics of
the data (NumPy).

Outliers are measured twice, with the robust z-score of Iglewicz & Hoaglin
(1993): ``z = |v - median(v)| / (1.4826 MAD(v))``, an outlier when z > 3.5.

* on the target itself (``outlier_share_target``): a skewed target has many
  "outliers" that a model explains (big houses cost more), so this one is
  reported but not used for the decision;
* on the residuals of a quick linear fit (``outlier_share_residuals``): the
  loss sees residuals, not targets, so this share decides MAE / Huber. The
  residuals are out-of-fold (5 folds) ridge residuals on the standardized
  target, so a point cannot hide its own residual by pulling the fit.

Huber's delta is 1.345 times the robust sigma of those residuals (Huber 1981:
95 % efficiency at the normal), in the standardized-target units that
``losslab compare`` trains in.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "ROBUST_Z_THRESHOLD",
    "OUTLIER_SHARE_THRESHOLD",
    "MAE_SHARE_THRESHOLD",
    "IMBALANCE_MINORITY_SHARE",
    "MILD_IMBALANCE_MINORITY_SHARE",
    "HUBER_EFFICIENCY_CONSTANT",
    "robust_z",
    "profile_data",
    "recommend",
]

# Iglewicz & Hoaglin (1993), "How to Detect and Handle Outliers": |modified z| > 3.5.
ROBUST_Z_THRESHOLD = 3.5
# A clean Gaussian puts 0.047 % beyond 3.5 robust sigmas; 1 % is 20x that.
OUTLIER_SHARE_THRESHOLD = 0.01
# Beyond 10 % contamination MAE (breakdown point 50 %) ranks above Huber.
MAE_SHARE_THRESHOLD = 0.10
# Google ML Crash Course, "Imbalanced datasets": minority share 20-40 % is mild,
# 1-20 % moderate, < 1 % extreme. Below 20 % the re-weighted losses go first.
IMBALANCE_MINORITY_SHARE = 0.20
MILD_IMBALANCE_MINORITY_SHARE = 0.40
# Huber (1981): delta = 1.345 sigma gives 95 % asymptotic efficiency at the normal.
HUBER_EFFICIENCY_CONSTANT = 1.345
# 1.4826 = 1 / Phi^-1(3/4): MAD -> sigma for normal data.
_MAD_TO_SIGMA = 1.4826
# Spread of the central 98 % over the IQR for a normal: (2 * 2.3263) / 1.3490.
_NORMAL_TAIL_SPREAD = 2.0 * 2.326348 / 1.348980


def robust_z(v: np.ndarray) -> np.ndarray:
    """|v - median| / (1.4826 MAD); all zeros when MAD is 0 and v is constant,
    and, when MAD is 0 but v is not constant, the mean absolute deviation
    (times 1.2533 = sqrt(pi/2)) is the scale (Iglewicz & Hoaglin's fallback)."""
    v = np.asarray(v, dtype=np.float64)
    med = np.median(v)
    dev = np.abs(v - med)
    mad = np.median(dev)
    scale = _MAD_TO_SIGMA * mad
    if scale <= 0:
        meanad = float(np.mean(dev))
        if meanad <= 0:
            return np.zeros_like(v)
        scale = 1.2533 * meanad
    return dev / scale


def _moments(v: np.ndarray) -> tuple[float, float]:
    """Skewness and excess kurtosis (population moments, as scipy.stats' defaults)."""
    v = np.asarray(v, dtype=np.float64)
    c = v - v.mean()
    m2 = float(np.mean(c * c))
    if m2 <= 0:
        return 0.0, 0.0
    skew = float(np.mean(c**3)) / m2**1.5
    kurt = float(np.mean(c**4)) / m2**2 - 3.0
    return skew, kurt


def _tail_ratio(v: np.ndarray) -> float:
    """(q99 - q01) / IQR divided by its normal value 3.449: 1 for Gaussian
    tails, above 1 for heavier ones (a quantile-based, outlier-proof kurtosis)."""
    q01, q25, q75, q99 = np.quantile(v, [0.01, 0.25, 0.75, 0.99])
    iqr = q75 - q25
    if iqr <= 0:
        return float("nan")
    return float((q99 - q01) / iqr / _NORMAL_TAIL_SPREAD)


def _oof_ridge_residuals(X: np.ndarray, y: np.ndarray, *, folds: int = 5, alpha: float = 1.0,
                         seed: int = 0, max_rows: int = 20000) -> np.ndarray:
    """Out-of-fold residuals of a ridge fit of y (already standardized) on the
    standardized features plus an unpenalized intercept. Features are
    standardized once on all rows (a diagnostic, not a model to report), which
    lets each fold's Gram matrix be the full one minus the held-out rows'
    (one pass over the data). Subsamples to max_rows."""
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    idx = np.arange(n)
    if n > max_rows:
        idx = np.sort(rng.choice(n, max_rows, replace=False))
    X = np.asarray(X[idx], dtype=np.float64)
    y = np.asarray(y[idx], dtype=np.float64)
    n, d = X.shape
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    Z = np.hstack([(X - X.mean(axis=0)) / sd, np.ones((n, 1))])
    G, b = Z.T @ Z, Z.T @ y
    pen = alpha * np.eye(d + 1)
    pen[d, d] = 0.0  # intercept
    perm = rng.permutation(n)
    resid = np.empty(n)
    k = max(2, min(folds, n // 2))
    for f in range(k):
        test = perm[f::k]
        Zt = Z[test]
        w = np.linalg.solve(G - Zt.T @ Zt + pen, b - Zt.T @ y[test])
        resid[test] = y[test] - Zt @ w
    return resid


def _one_blas_thread():
    """Small solves run fastest on one BLAS thread (and far faster on a busy
    machine); threadpoolctl is optional."""
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl absent
        import contextlib

        return contextlib.nullcontext()


def _sig(x: float, digits: int = 3) -> float:
    """Rounds to `digits` significant digits (for readable specs)."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, -int(math.floor(math.log10(abs(x)))) + digits - 1)


def _fmt(x: float) -> str:
    return f"{_sig(float(x)):g}"


def profile_data(ds, *, cost_under: float | None = None, cost_over: float | None = None) -> dict:
    """The traits of ``ds`` (a losslab.cli.data.Dataset) that decide the loss.

    Keys: dataset, target, task, n_samples, n_features, n_classes, segmentation,
    cost_under, cost_over; classification: class_counts {label: count},
    minority_share, imbalance_ratio (majority / minority count); regression:
    target_mean/std/median, skewness, excess_kurtosis, tail_ratio,
    outlier_share_target, outlier_share_residuals, residual_robust_sigma
    (standardized-target units), residual_kurtosis, nonnegative_integer_target.
    """
    for name, c in (("--cost-under", cost_under), ("--cost-over", cost_over)):
        if c is not None and not (math.isfinite(c) and c > 0):
            from .errors import CliError

            raise CliError(f"{name} must be a positive number (a cost per unit), got {c}")
    if (cost_under is None) != (cost_over is None):
        from .errors import CliError

        raise CliError("give both --cost-under and --cost-over (the cost of predicting too low "
                       "and too high), or neither")
    X = np.asarray(ds.X, dtype=np.float64)
    if X.ndim == 2 and np.isnan(X).any():
        # Missing features (kept as NaN by the data layer) take the column
        # median for this diagnostic fit; no model is evaluated on them.
        med = np.nan_to_num(np.nanmedian(np.where(np.isnan(X).all(axis=0), 0.0, X), axis=0))
        X = np.where(np.isnan(X), med, X)
    y = np.asarray(ds.y)
    prof = {
        "dataset": getattr(ds, "name", ""),
        "target": getattr(ds, "target", ""),
        "task": ds.task,
        "n_samples": int(len(y)),
        "n_features": int(X.shape[1]) if X.ndim == 2 else 0,
        "n_classes": None,
        # Per-pixel segmentation (one row per pixel, e.g. the bundled brain_mri).
        "segmentation": bool(getattr(ds, "segmentation", False)) or getattr(ds, "name", "") == "brain_mri",
        "cost_under": cost_under,
        "cost_over": cost_over,
    }
    if ds.task in ("binary", "multiclass"):
        labels = y.astype(np.int64)
        k = int(labels.max()) + 1 if labels.size else 0
        classes = list(getattr(ds, "classes", None) or [str(i) for i in range(k)])
        counts = np.bincount(labels, minlength=len(classes))
        nz = counts[counts > 0]
        prof["n_classes"] = int(len(classes))
        prof["class_counts"] = {str(c): int(n) for c, n in zip(classes, counts)}
        prof["minority_share"] = float(nz.min() / counts.sum())
        prof["imbalance_ratio"] = float(nz.max() / nz.min())
        if ds.task == "binary":
            prof["positive_class"] = str(classes[1]) if len(classes) > 1 else "1"
            prof["positive_share"] = float(counts[1] / counts.sum()) if len(counts) > 1 else 0.0
            prof["pos_weight"] = float(counts[0] / counts[1]) if len(counts) > 1 and counts[1] else float("nan")
        return prof
    yf = y.astype(np.float64)
    sd = float(yf.std())
    ys = (yf - yf.mean()) / (sd if sd > 0 else 1.0)
    skew, kurt = _moments(yf)
    z_target = robust_z(yf)
    prof.update(
        target_mean=float(yf.mean()),
        target_std=sd,
        target_median=float(np.median(yf)),
        skewness=skew,
        excess_kurtosis=kurt,
        tail_ratio=_tail_ratio(yf),
        outlier_share_target=float(np.mean(z_target > ROBUST_Z_THRESHOLD)),
        # Counts: non-negative integers with at most 100 distinct values (prices are
        # integers too, but not counts).
        count_target=bool(np.all(yf >= 0) and np.all(yf == np.round(yf)) and np.unique(yf).size <= 100),
    )
    if X.ndim == 2 and X.shape[1] > 0 and len(yf) >= 10:
        with _one_blas_thread():
            r = _oof_ridge_residuals(X, ys)
    else:
        r = ys - np.median(ys)
    z_res = robust_z(r)
    rsig = _MAD_TO_SIGMA * float(np.median(np.abs(r - np.median(r))))
    _, rkurt = _moments(r)
    prof.update(
        outlier_share_residuals=float(np.mean(z_res > ROBUST_Z_THRESHOLD)),
        residual_robust_sigma=rsig,
        residual_kurtosis=rkurt,
        residual_r2=float(1.0 - np.mean(r * r) / max(float(np.mean(ys * ys)), 1e-300)),
    )
    return prof


def _cand(spec: str, family: str, reasons: list[str], params: dict, *, trainable: bool = True,
          role: str = "recommended") -> dict:
    return {"spec": spec, "family": family, "reasons": reasons, "params": params,
            "trainable": trainable, "role": role}


def recommend(profile: dict) -> list[dict]:
    """Ranked candidates ``{"spec", "family", "reasons", "params", "trainable",
    "role"}``; the first is the recommendation, "baseline" marks the default
    loss kept for comparison. Rules: docs/cli_lab.md."""
    task = profile["task"]
    cu, co = profile.get("cost_under"), profile.get("cost_over")
    out: list[dict] = []
    if profile.get("segmentation"):
        out.append(_cand(
            "dice_ce", "dice_ce",
            ["per-pixel segmentation mask: Dice + cross-entropy (the nnU-Net default, Isensee et al. "
             "2021) optimizes the overlap that segmentation is scored by, while the CE term keeps "
             "gradients well-behaved early on",
             f"foreground share {_pct(profile.get('positive_share', float('nan')))}: Dice is "
             "insensitive to the background/foreground ratio"],
            {"dice_weight": 1.0, "ce_weight": 1.0}, trainable=False))
    if task == "regression":
        share = profile["outlier_share_residuals"]
        rsig = profile["residual_robust_sigma"]
        delta = _sig(HUBER_EFFICIENCY_CONSTANT * rsig if rsig > 0 else 1.0)
        if cu is not None:
            q = cu / (cu + co)
            qs = _sig(q)
            out.append(_cand(
                f"quantile:{qs:g}", "quantile",
                [f"under-prediction costs {_fmt(cu)} and over-prediction {_fmt(co)} per unit: the "
                 f"expected cost is minimized by the q = {_fmt(cu)} / ({_fmt(cu)} + {_fmt(co)}) = "
                 f"{qs:g} quantile (the newsvendor critical ratio), which the pinball loss "
                 f"with that q estimates"],
                {"quantile": qs}))
        robust_reason = (
            f"{_pct(share)} of the residuals of a linear fit are outliers (robust z > "
            f"{ROBUST_Z_THRESHOLD:g}; a Gaussian gives 0.05 %), above the {_pct(OUTLIER_SHARE_THRESHOLD)} threshold: "
            "squared error lets them dominate the gradient")
        if share > OUTLIER_SHARE_THRESHOLD:
            huber = _cand(
                f"huber:{delta:g}", "huber",
                [robust_reason,
                 f"delta = 1.345 x robust sigma of the residuals = 1.345 x {_fmt(rsig)} = {delta:g} "
                 "(standardized-target units): quadratic for typical residuals (95 % of MSE's "
                 "efficiency on clean data), linear beyond",
                 f"target skewness {profile['skewness']:.2f}, excess kurtosis "
                 f"{profile['excess_kurtosis']:.2f}, tail ratio {profile['tail_ratio']:.2f} (1 = Gaussian)"],
                {"delta": delta})
            mae = _cand(
                "mae", "mae",
                [robust_reason,
                 "absolute error: bounded gradient for every residual, estimates the conditional "
                 "median (breakdown point 50 %)"],
                {})
            if share > MAE_SHARE_THRESHOLD:
                mae["reasons"].append(f"contamination {_pct(share)} > {_pct(MAE_SHARE_THRESHOLD)}: "
                                      "MAE ranks above Huber")
                out += [mae, huber]
            else:
                out += [huber, mae]
            out.append(_cand("mse", "mse",
                             ["baseline: the default loss (Gaussian noise, conditional mean)"],
                             {}, role="baseline"))
        else:
            out.append(_cand(
                "mse", "mse",
                [f"only {_pct(share)} of the residuals of a linear fit are outliers (robust z > "
                 f"{ROBUST_Z_THRESHOLD:g}), below the {_pct(OUTLIER_SHARE_THRESHOLD)} threshold: "
                 "squared error (the default; the conditional mean, most efficient for Gaussian noise)",
                 f"residual excess kurtosis {profile['residual_kurtosis']:.2f} (0 = Gaussian)"],
                {}, role="recommended" if cu is None else "baseline"))
            out.append(_cand(
                f"huber:{delta:g}", "huber",
                [f"alternative if outliers appear later: delta = 1.345 x residual robust sigma {_fmt(rsig)} "
                 f"= {delta:g}; costs 5 % efficiency on clean data"],
                {"delta": delta}, role="alternative"))
        if profile.get("count_target") and profile["skewness"] > 1:
            out.append(_cand("poisson", "poisson",
                             [f"non-negative integer target with skewness {profile['skewness']:.2f}: "
                              "counts fit a Poisson log-likelihood"], {}, role="alternative"))
        return _ranked(out)
    if task == "binary":
        ms = profile["minority_share"]
        ratio = profile["imbalance_ratio"]
        pw = _sig(profile["pos_weight"])
        alpha = _sig(1.0 - profile["positive_share"], 2)
        imb = (f"class imbalance {ratio:.1f}:1 (minority share {_pct(ms)}, positive "
               f"'{profile.get('positive_class', '1')}' {_pct(profile['positive_share'])})")
        if cu is not None:
            pwc = _sig(cu / co)
            out.append(_cand(
                f"weighted_bce:{pwc:g}", "weighted_bce",
                [f"missing a positive (under-prediction) costs {_fmt(cu)}, a false alarm {_fmt(co)}: "
                 f"pos_weight = {_fmt(cu)}/{_fmt(co)} = {pwc:g} moves the decision threshold to the "
                 f"cost-optimal p = {_fmt(co)}/({_fmt(cu)}+{_fmt(co)}) = {_sig(co / (cu + co)):g}"],
                {"pos_weight": pwc}))
        if ms < IMBALANCE_MINORITY_SHARE:
            out.append(_cand(
                f"weighted_bce:{pw:g}", "weighted_bce",
                [imb + f" below {_pct(IMBALANCE_MINORITY_SHARE)} (moderate or worse imbalance): plain BCE "
                 "learns to predict the majority class",
                 f"pos_weight = n_neg / n_pos = {pw:g} makes both classes weigh the same in the loss"],
                {"pos_weight": pw}))
            out.append(_cand(
                f"focal:2:{alpha:g}", "focal",
                [imb + ": the focal loss (Lin et al. 2017) down-weights easy, confident examples "
                 "(gamma = 2)",
                 f"alpha = majority share = {alpha:g} weights the positives (torchvision's default "
                 "0.25 would down-weight the rare class)"],
                {"gamma": 2.0, "alpha": alpha}))
            out.append(_cand("bce", "bce", ["baseline: plain binary cross-entropy"], {}, role="baseline"))
        elif ms < MILD_IMBALANCE_MINORITY_SHARE:
            out.append(_cand("bce", "bce",
                             [imb + f": mild imbalance ({_pct(IMBALANCE_MINORITY_SHARE)}-"
                              f"{_pct(MILD_IMBALANCE_MINORITY_SHARE)} minority), binary cross-entropy "
                              "is usually enough"], {},
                             role="recommended" if cu is None else "baseline"))
            out.append(_cand(f"weighted_bce:{pw:g}", "weighted_bce",
                             [f"alternative if recall on the minority matters: pos_weight = n_neg/n_pos = {pw:g}"],
                             {"pos_weight": pw}, role="alternative"))
        else:
            out.append(_cand("bce", "bce",
                             [imb + ": balanced classes, binary cross-entropy (the default; "
                              "calibrated probabilities)"], {},
                             role="recommended" if cu is None else "baseline"))
        return _ranked(_dedupe(out))
    # multiclass
    ratio = profile["imbalance_ratio"]
    k = profile["n_classes"]
    out.append(_cand(
        "ce", "cross_entropy",
        [f"{k} classes: categorical cross-entropy over a softmax (the multiclass default; "
         "calibrated class probabilities)",
         f"class imbalance {ratio:.2f}:1 (largest / smallest class)"],
        {}))
    if profile["minority_share"] * k < 0.5 or ratio > 1.0 / IMBALANCE_MINORITY_SHARE:
        out.append(_cand("weighted_ce", "weighted_ce",
                         [f"imbalance {ratio:.1f}:1: inverse-frequency class weights "
                          "(losslab.class_weights)"], {}, role="alternative"))
    out.append(_cand("multi_hinge", "multi_hinge",
                     ["alternative: multi-class margin (hinge) loss, torch's multi_margin_loss, when "
                      "only the decision matters, not the probabilities"], {}, role="alternative"))
    return _ranked(out)


def _ranked(cands: list[dict]) -> list[dict]:
    """The first candidate is "recommended"; the others keep "baseline" or
    become "alternative"."""
    for i, c in enumerate(cands):
        if i == 0:
            c["role"] = "recommended"
        elif c["role"] != "baseline":
            c["role"] = "alternative"
    return cands


def _dedupe(cands: list[dict]) -> list[dict]:
    seen, out = set(), []
    for c in cands:
        if c["spec"] in seen:
            continue
        seen.add(c["spec"])
        out.append(c)
    return out


def _pct(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    v = 100.0 * x
    return f"{v:.1f} %" if v >= 1 or v == 0 else f"{v:.2f} %"
