"""The training engine's claims on bundled real data, over several seeds.

    PYTHONPATH=build/<dir>/pkg .venv/bin/python examples/python/train_claims.py

(a) digits: MLP + cross_entropy held-out accuracy;
(b) Ames: test MAE on normal houses (Gr_Liv_Area <= 4000) for mse / huber /
    l1 with the partial-sale outliers in training;
(c) Lending Club: precision / recall / F1 at 0.5 and PR-AUC for BCE,
    class-weighted BCE and sigmoid focal loss;
(d) Ames: coverage of the (0.1, 0.9) quantile interval;
(e) MNIST 8k/2k: MLP + cross_entropy and multi_margin_loss accuracy;
(f) brain MRI: held-out Dice of per-pixel patch models trained with BCE,
    Dice and Dice+CE, per held-out slice.
The pytest versions (one seed each) are in tests/python/test_train.py and
tests/python/test_train_claims_more.py; the figures are recorded in
docs/training.md. ``--only e,f`` runs a subset.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import losslab
import losslab.nn as lnn
import losslab.optim as lopt
from losslab.train import fit

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "python"))
from test_train import _ames, _digits, _lending_club  # noqa: E402  (the same data preparation)
from test_train_claims_more import BRAIN_TEST_SLICES, _brain, brain_features  # noqa: E402

SEEDS = range(5)


def digits():
    x, y = _digits()
    accs = []
    for s in SEEDS:
        perm = np.random.default_rng(s).permutation(len(y))
        tr, te = perm[:1348], perm[1348:]
        m = lnn.MLP(64, [256], 10, dropout=0.2, seed=s)
        fit(m, x[tr], y[tr], loss="cross_entropy", optimizer=lopt.Adam(m, lr=2e-3), epochs=30, batch_size=32, seed=s)
        accs.append(float(np.mean(np.argmax(m.predict(x[te]), 1) == y[te])))
    print(f"(a) digits accuracy over seeds {list(SEEDS)}: {np.round(accs, 4).tolist()} (min {min(accs):.4f})")


def ames():
    x, y, area, tr, te = _ames()
    normal = te[area[te] <= 4000]
    for loss, opts in [("mse_loss", {}), ("huber_loss", {"delta": 20.0}), ("l1_loss", {})]:
        maes = []
        for s in SEEDS:
            m = lnn.MLP(x.shape[1], [64], 1, seed=s)
            fit(m, x[tr], y[tr], loss=loss, loss_options=opts, optimizer=lopt.Adam(m, lr=1e-2), epochs=60,
                batch_size=64, seed=s)
            maes.append(float(np.mean(np.abs(m.predict(x[normal])[:, 0] - y[normal]))))
        print(f"(b) Ames {loss:10s} test MAE (k$) on normal houses: mean {np.mean(maes):.2f} "
              f"per seed {np.round(maes, 2).tolist()}")
    covs = []
    for s in SEEDS:
        m = lnn.MLP(x.shape[1], [], 2, seed=s)
        fit(m, x[tr], y[tr], loss="quantile_loss", loss_options={"quantile": [0.1, 0.9]},
            optimizer=lopt.Adam(m, lr=0.1), epochs=200, batch_size=64, seed=s)
        p = m.predict(x[te])
        covs.append(float(np.mean((y[te] >= p[:, 0]) & (y[te] <= p[:, 1]))))
    print(f"(d) Ames (0.1, 0.9) interval coverage per seed: {np.round(covs, 3).tolist()}")


def lending():
    x, y, tr, te = _lending_club()
    cw = np.asarray(losslab.class_weights(y[tr].astype(np.int64)))
    yt = y[te] == 1
    runs = {
        "bce": ("binary_cross_entropy_with_logits", {}, None),
        "weighted bce": ("binary_cross_entropy_with_logits", {}, cw[y[tr].astype(int)].astype(np.float32)),
        "focal a=.95": ("sigmoid_focal_loss", {"alpha": 0.95, "gamma": 2.0}, None),
        "focal a=.25": ("sigmoid_focal_loss", {"alpha": 0.25, "gamma": 2.0}, None),
    }
    for name, (loss, opts, w) in runs.items():
        m = lnn.MLP(x.shape[1], [], 1, seed=0)
        fit(m, x[tr], y[tr], loss=loss, loss_options=opts, sample_weight=w, optimizer=lopt.Adam(m, lr=1e-2),
            epochs=30, batch_size=128, seed=0)
        z = m.predict(x[te])[:, 0]
        pred = z >= 0
        tp = int(np.sum(pred & yt))
        prec = tp / max(int(pred.sum()), 1)
        rec = tp / int(yt.sum())
        f1 = 2 * prec * rec / max(prec + rec, 1e-12)
        ap = losslab.average_precision(z.astype(np.float64), y[te].astype(np.int64))
        print(f"(c) Lending Club {name:13s} precision {prec:.3f} recall {rec:.3f} F1 {f1:.3f} PR-AUC {ap:.3f}")


def mnist():
    raw = np.loadtxt(Path(__file__).resolve().parents[2] / "data" / "mnist_10k.csv.gz", delimiter=",",
                     skiprows=1, dtype=np.float32)
    for loss in ["cross_entropy", "multi_margin_loss"]:
        accs = []
        for s in SEEDS:
            perm = np.random.default_rng(s).permutation(len(raw))
            x, y = raw[perm, 1:] / 255.0, raw[perm, 0].astype(np.int64)
            m = lnn.MLP(784, [256], 10, seed=s)
            fit(m, x[:8000], y[:8000], loss=loss, optimizer=lopt.Adam(m, lr=2e-3), epochs=15, batch_size=64, seed=s)
            accs.append(float(np.mean(np.argmax(m.predict(x[8000:]), 1) == y[8000:])))
        print(f"(e) MNIST {loss:17s} accuracy per seed {np.round(accs, 4).tolist()} (mean {np.mean(accs):.4f})")


def brain():
    data = _brain()
    train_k = [k for k in data if k not in BRAIN_TEST_SLICES]
    x = np.concatenate([brain_features(data[k][0]) for k in train_k])
    y = np.concatenate([data[k][1].ravel() for k in train_k]).astype(np.float32)
    share = {k: float(data[k][1].mean()) for k in BRAIN_TEST_SLICES}
    print(f"(f) brain held-out slices {BRAIN_TEST_SLICES}, foreground share "
          f"{ {k: round(v, 3) for k, v in share.items()} }")
    for loss in ["binary_cross_entropy_with_logits", "dice_loss", "dice_cross_entropy_loss"]:
        pooled, per = [], {k: [] for k in BRAIN_TEST_SLICES}
        for s in SEEDS:
            sub = np.random.default_rng(s).choice(len(y), 80000, replace=False)
            m = lnn.MLP(x.shape[1], [32], 1, seed=s)
            fit(m, x[sub], y[sub], loss=loss, optimizer=lopt.Adam(m, lr=3e-3), epochs=15, batch_size=256, seed=s)
            ps, ts = [], []
            for k in BRAIN_TEST_SLICES:
                pr = (m.predict(brain_features(data[k][0]))[:, 0] > 0).astype(np.int64)
                tr = data[k][1].ravel().astype(np.int64)
                per[k].append(losslab.dice_score(pr, tr))
                ps.append(pr)
                ts.append(tr)
            pooled.append(losslab.dice_score(np.concatenate(ps), np.concatenate(ts)))
        print(f"(f) brain {loss:33s} held-out Dice mean {np.mean(pooled):.4f} (min {min(pooled):.4f}); "
              f"per slice mean { {k: round(float(np.mean(v)), 4) for k, v in per.items()} }")


if __name__ == "__main__":
    only = None
    if len(sys.argv) > 2 and sys.argv[1] == "--only":
        only = set(sys.argv[2].split(","))
    for key, fn in [("a", digits), ("b", ames), ("c", lending), ("e", mnist), ("f", brain)]:
        if only is None or key in only or (key == "b" and "d" in only):
            fn()
