"""Claim 8 (issue 6) in full: fp16 / bf16 training on MNIST (8k/2k) against
float32, over several seeds, with dynamic loss scaling and without it.

    PYTHONPATH=build/<dir>/pkg .venv/bin/python examples/python/mixed_precision_mnist.py [--seeds 3] [--epochs 15]

The half-precision pass is emulated on the CPU (float32 master weights; the
weights, every activation and every gradient rounded to the compute dtype;
docs/training.md). For each seed and setting it prints the held-out
accuracy, the skipped steps, the final loss scale and the share of gradient
entries that underflowed to zero in the first and the last epoch.
The quick pytest version is tests/python/test_train_claims_more.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import losslab.nn as lnn
import losslab.optim as lopt
from losslab.train import fit

DATA = Path(__file__).resolve().parents[2] / "data" / "mnist_10k.csv.gz"
SETTINGS = [
    ("fp32", None),
    ("fp16", "dynamic"),
    ("fp16", None),
    ("bf16", None),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=15)
    a = ap.parse_args()
    raw = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float32)
    acc = {s: [] for s in SETTINGS}
    for seed in range(a.seeds):
        perm = np.random.default_rng(seed).permutation(len(raw))
        x, y = raw[perm, 1:] / 255.0, raw[perm, 0].astype(np.int64)
        for precision, ls in SETTINGS:
            m = lnn.MLP(784, [256], 10, seed=seed)
            h = fit(m, x[:8000], y[:8000], loss="cross_entropy", optimizer=lopt.Adam(m, lr=2e-3), epochs=a.epochs,
                    batch_size=64, seed=seed, precision=precision, loss_scale=ls)
            r = float(np.mean(np.argmax(m.predict(x[8000:]), 1) == y[8000:]))
            acc[(precision, ls)].append(r)
            uf = h["underflow_fraction"]
            print(f"seed {seed} {precision} loss_scale={ls!s:8s} accuracy {r:.4f} skipped {h.skipped_steps} "
                  f"final scale {h.loss_scale:g} underflow first/last epoch {uf[0]:.5f}/{uf[-1]:.5f}", flush=True)
    print()
    base = np.array(acc[("fp32", None)])
    for s, v in acc.items():
        v = np.array(v)
        print(f"{s[0]} loss_scale={s[1]!s:8s} mean accuracy {v.mean():.4f}, "
              f"largest drop below fp32 {np.max(base - v) * 100:+.2f} points")


if __name__ == "__main__":
    main()
