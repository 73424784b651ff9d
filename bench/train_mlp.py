"""Time per epoch of the losslab training engine against PyTorch 2.13 CPU for
the same MLP on MNIST (data/mnist_10k.csv.gz), in one process, at the same
thread count.

    PYTHONPATH=build/<dir>/pkg .venv/bin/python bench/train_mlp.py --threads 2

Both sides: MLP 784 -> 256 -> 128 -> 10 (ReLU), cross_entropy, Adam(lr=1e-3),
batch 128, shuffled each epoch, float32. The first epoch of each is a warm-up
and not timed; the median of the timed epochs is reported, with the ratio
torch / losslab (> 1: losslab is faster).

--precision bf16|fp16: losslab emulates the half-precision pass by rounding
(float32 GEMMs plus rounding passes, dynamic loss scaling for fp16), so it
costs more than fp32 on a CPU; torch runs under torch.autocast("cpu", dtype)
(real bf16/fp16 kernels where it has them), a different computation. The
figures say what the emulation costs, not what half precision saves.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import losslab
import losslab.nn as lnn
import losslab.optim as lopt
from losslab.train import fit

DATA = Path(__file__).resolve().parents[1] / "data" / "mnist_10k.csv.gz"


def load():
    with gzip.open(DATA, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.float32, skiprows=0 if _no_header() else 1)
    return raw[:, 1:] / 255.0, raw[:, 0].astype(np.int64)


def _no_header():
    with gzip.open(DATA, "rt") as f:
        first = f.readline().split(",")[0]
    return first.strip().isdigit()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=str, default="256,128")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    a = ap.parse_args()
    hidden = [int(h) for h in a.hidden.split(",")]
    x, y = load()
    losslab.set_num_threads(a.threads)
    torch.set_num_threads(a.threads)

    model = lnn.MLP(784, hidden, 10, seed=0)
    opt = lopt.Adam(model, lr=1e-3)
    times = []
    kw = dict(loss="cross_entropy", optimizer=opt, epochs=1, batch_size=a.batch, precision=a.precision)
    fit(model, x, y, seed=0, **kw)  # warm-up
    for e in range(a.epochs):
        t0 = time.perf_counter()
        fit(model, x, y, seed=e + 1, **kw)
        times.append(time.perf_counter() - t0)
    ours = statistics.median(times)
    acc = float(np.mean(np.argmax(model.predict(x), 1) == y))

    layers, width = [], 784
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    layers.append(torch.nn.Linear(width, 10))
    net = torch.nn.Sequential(*layers)
    topt = torch.optim.Adam(net.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    g = torch.Generator().manual_seed(0)
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)
    scaler = torch.amp.GradScaler("cpu") if a.precision == "fp16" else None

    def torch_epoch():
        perm = torch.randperm(len(ty), generator=g)
        for i in range(0, len(ty), a.batch):
            idx = perm[i : i + a.batch]
            topt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=half, enabled=half is not None):
                loss = torch.nn.functional.cross_entropy(net(tx[idx]), ty[idx])
            if scaler is None:
                loss.backward()
                topt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(topt)
                scaler.update()

    torch_epoch()  # warm-up
    ttimes = []
    for _ in range(a.epochs):
        t0 = time.perf_counter()
        torch_epoch()
        ttimes.append(time.perf_counter() - t0)
    theirs = statistics.median(ttimes)
    print(f"MNIST 10k, MLP 784-{'-'.join(map(str, hidden))}-10, batch {a.batch}, threads {a.threads}, "
          f"precision {a.precision}")
    print(f"losslab: {ours * 1e3:.1f} ms/epoch (train accuracy after {a.epochs + 1} epochs {acc:.3f})")
    print(f"torch {torch.__version__}: {theirs * 1e3:.1f} ms/epoch")
    print(f"ratio torch/losslab: {theirs / ours:.2f}")


if __name__ == "__main__":
    main()
