"""Claim (6) of the training engine, fuller than its test: 1-NN accuracy on
MNIST (8k/2k split, seed 0) in learned embeddings against the raw pixels.

    PYTHONPATH=build/<dir>/pkg .venv/bin/python examples/python/embedding_claims.py \
        [--epochs 15] [--seeds 2]

Embedding net: MLP 784-256-32 (ReLU), L2-normalised, Adam 1e-3, batch 128.
Every loss / mining of losslab.models.EmbeddingNet.fit is run: triplet
(random, batch_hard, batch_all) and contrastive (random, batch_hard). The
1-NN oracle is exact Euclidean nearest neighbour in NumPy. The pytest
version (triplet batch_all and contrastive batch_hard, 6 epochs, one seed)
is in tests/python/test_train_models.py; the figures are recorded in
docs/training_models.md.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

from losslab import models, optim

DATA = pathlib.Path(__file__).resolve().parents[2] / "data"

VARIANTS = [
    ("triplet", "random", 0.5),
    ("triplet", "batch_hard", 0.2),
    ("triplet", "batch_all", 0.2),
    ("contrastive", "random", 0.5),
    ("contrastive", "batch_hard", 0.5),
]


def mnist():
    raw = np.loadtxt(DATA / "mnist_10k.csv.gz", delimiter=",", skiprows=1, dtype=np.float32)
    y, x = raw[:, 0].astype(np.int64), raw[:, 1:] / 255.0
    perm = np.random.default_rng(0).permutation(len(y))  # rows are grouped by label
    tr, te = perm[:8000], perm[8000:]
    return x[tr], y[tr], x[te], y[te]


def one_nn_accuracy(xa, ya, xb, yb):
    xa, xb = xa.astype(np.float64), xb.astype(np.float64)
    d = (xb * xb).sum(1)[:, None] - 2.0 * xb @ xa.T + (xa * xa).sum(1)[None, :]
    return float(np.mean(ya[np.argmin(d, axis=1)] == yb))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    xtr, ytr, xte, yte = mnist()
    raw = one_nn_accuracy(xtr, ytr, xte, yte)
    print(f"1-NN on raw pixels: {raw:.4f}")
    print(f"{'loss':12s} {'mining':11s} margin  seed  1-NN acc  final loss  time ({args.epochs} epochs)")
    for loss, mining, margin in VARIANTS:
        for seed in range(args.seeds):
            net = models.EmbeddingNet(784, [256], 32, seed=seed)
            t = time.perf_counter()
            h = net.fit(xtr, ytr, loss=loss, mining=mining, margin=margin, optimizer=optim.Adam(net, lr=1e-3),
                        epochs=args.epochs, batch_size=128, seed=seed)
            dt = time.perf_counter() - t
            acc = one_nn_accuracy(net.embed(xtr), ytr, net.embed(xte), yte)
            print(f"{loss:12s} {mining:11s} {margin:6.2f}  {seed:4d}  {acc:8.4f}  {h['train_loss'][-1]:10.4f}  "
                  f"{dt:5.1f}s")


if __name__ == "__main__":
    main()
