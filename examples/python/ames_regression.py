"""Every regression loss on the Ames housing data, side by side.

A linear model of the sale price (k$) is fitted to the 34 numeric features by
full-batch Adam, once per loss, with the gradient of the loss taken from
losslab. The recorded outliers (partial sales of very large houses, De Cock
2011) stay in the training set, so the table shows what a robust loss buys:
compare the test MAE on normal houses (living area <= 4000 sq ft).

Run:  python examples/python/ames_regression.py [--steps 1500] [--seed 0]
This is the main job of `make demo` until the `losslab compare` command lands.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import pathlib
import time

import numpy as np

import losslab

DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "ames_housing.csv.gz"
# 1-based data rows that De Cock flags: partial sales of huge houses.
OUTLIER_ROWS = (1499, 2181, 2182)


def load(path: pathlib.Path):
    with gzip.open(path, "rt", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    numeric = []
    for j, name in enumerate(header):
        try:
            [float(r[j]) for r in body]
        except ValueError:
            continue
        numeric.append(j)
    target_col = header.index("Sale_Price")
    features = [j for j in numeric if j != target_col]
    x = np.array([[float(r[j]) for j in features] for r in body])
    y = np.array([float(r[target_col]) for r in body]) / 1000.0  # k$
    area = np.array([float(r[header.index("Gr_Liv_Area")]) for r in body])
    return x, y, area, [header[j] for j in features]


# Each entry: (name, loss function, options, link). The Poisson model predicts
# log(price), so its prediction is exp(output).
LOSSES = [
    ("mse_loss", losslab.mse_loss, {}, "identity"),
    ("l1_loss", losslab.l1_loss, {}, "identity"),
    ("huber_loss", losslab.huber_loss, {"delta": 20.0}, "identity"),
    ("smooth_l1_loss", losslab.smooth_l1_loss, {"beta": 20.0}, "identity"),
    ("pseudo_huber_loss", losslab.pseudo_huber_loss, {"delta": 20.0}, "identity"),
    ("log_cosh_loss", losslab.log_cosh_loss, {}, "identity"),
    ("quantile_loss", losslab.quantile_loss, {"quantile": 0.5}, "identity"),
    ("poisson_nll_loss", losslab.poisson_nll_loss, {"log_input": True}, "log"),
]


def fit(loss, options, link, x, y, steps, lr):
    """Full-batch Adam on a linear model; the loss gradient comes from losslab."""
    n, d = x.shape
    w = np.zeros(d)
    b = np.log(np.median(y)) if link == "log" else np.median(y)
    m = np.zeros(d + 1)
    v = np.zeros(d + 1)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        out = x @ w + b
        _, g = loss(out, y, return_grad=True, **options)
        grad = np.concatenate([x.T @ g, [g.sum()]])
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        step = lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        w -= step[:d]
        b -= step[d]
    final = float(loss(x @ w + b, y, **options))
    return w, b, final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    x, y, area, _ = load(DATA)
    n = len(y)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(n)
    outliers = np.array(OUTLIER_ROWS) - 1
    rest = order[~np.isin(order, outliers)]
    n_test = n // 5
    test = rest[:n_test]
    train = np.concatenate([outliers, rest[n_test:]])
    mu, sd = x[train].mean(0), x[train].std(0)
    sd[sd == 0] = 1.0
    xs = (x - mu) / sd
    normal = test[area[test] <= 4000]

    print(f"Ames housing: {len(train)} train rows (incl. the {len(outliers)} "
          f"recorded outliers), {len(test)} test rows; {x.shape[1]} numeric "
          f"features; linear model, {args.steps} Adam steps per loss.")
    print(f"losslab {losslab.__version__}, SIMD target {losslab.simd_target()}, "
          f"{losslab.get_num_threads()} threads\n")
    head = (f"{'loss':<18} {'options':<16} {'train loss':>11} {'test RMSE':>10} "
            f"{'test MAE':>9} {'MAE normal':>11} {'R2':>7} {'time s':>7}")
    print(head)
    print("-" * len(head))
    results = []
    for name, loss, options, link in LOSSES:
        t0 = time.perf_counter()
        lr = 0.05 if link == "log" else 5.0
        w, b, final = fit(loss, options, link, xs[train], y[train], args.steps, lr)
        elapsed = time.perf_counter() - t0
        out = xs @ w + b
        pred = np.exp(out) if link == "log" else out
        r = dict(
            name=name,
            options=",".join(f"{k}={v}" for k, v in options.items()) or "-",
            train=final,
            rmse=losslab.rmse(pred[test], y[test]),
            mae=losslab.mae(pred[test], y[test]),
            mae_normal=losslab.mae(pred[normal], y[normal]),
            r2=losslab.r2_score(pred[test], y[test]),
            time=elapsed,
        )
        results.append(r)
        print(f"{r['name']:<18} {r['options']:<16} {r['train']:>11.4g} "
              f"{r['rmse']:>10.2f} {r['mae']:>9.2f} {r['mae_normal']:>11.2f} "
              f"{r['r2']:>7.3f} {r['time']:>7.2f}")
    best = min(results, key=lambda r: r["mae_normal"])
    mse = next(r for r in results if r["name"] == "mse_loss")
    print(f"\nPrices in k$. Lowest test MAE on normal houses: {best['name']} "
          f"({best['mae_normal']:.2f} vs {mse['mae_normal']:.2f} for mse_loss).")


if __name__ == "__main__":
    main()
