"""CPU time (time.process_time, 1 thread) of a few losslab kernels.

On a machine shared with other jobs, wall time varies by several times
between runs; the CPU time a single-threaded call consumes varies much less.
This is how kernel changes were compared in docs/performance.md ("What
changed"): run it against the old and the new build, alternating.

    PYTHONPATH=build/<dir>/pkg python bench/kernel_cpu_time.py [label]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

import losslab


def med(fn, reps=7):
    fn()
    ts = []
    for _ in range(reps):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    return sorted(ts)[len(ts) // 2]


def main() -> None:
    losslab.set_num_threads(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = 1 << 22
    x = rng.standard_normal(n, dtype=np.float32)
    y = (rng.uniform(size=n) > 0.5).astype(np.float32)
    g = np.empty_like(x)
    a, b, c = torch.empty(n), torch.from_numpy(x), torch.from_numpy(y)
    res = {}
    res["triad"] = med(lambda: torch.add(b, c, alpha=0.5, out=a))
    res["mse"] = med(lambda: losslab.mse_loss(x, y, return_grad=True, grad_out=g))
    res["bce"] = med(lambda: losslab.binary_cross_entropy_with_logits(
        x, y, return_grad=True, grad_out=g))
    res["focal"] = med(lambda: losslab.sigmoid_focal_loss(x, y, return_grad=True, grad_out=g))
    xb, yb = torch.from_numpy(x).bfloat16(), torch.from_numpy(y).bfloat16()
    gb = torch.empty_like(xb)
    res["mse_bf16"] = med(lambda: losslab.mse_loss(xb, yb, return_grad=True, grad_out=gb))
    res["bce_bf16"] = med(lambda: losslab.binary_cross_entropy_with_logits(
        xb, yb, return_grad=True, grad_out=gb))
    X = rng.standard_normal((512, 8192), dtype=np.float32)
    lab = rng.integers(0, 8192, 512)
    G = np.empty_like(X)
    res["ce"] = med(lambda: losslab.cross_entropy(X, lab, return_grad=True, grad_out=G))
    try:
        Xb = torch.from_numpy(X).bfloat16()
        Gb = torch.empty_like(Xb)
        res["ce_bf16"] = med(lambda: losslab.cross_entropy(Xb, lab, return_grad=True, grad_out=Gb))
    except TypeError:  # builds without bf16 cross_entropy
        res["ce_bf16"] = float("nan")
    label = sys.argv[1] if len(sys.argv) > 1 else ""
    print(label, " ".join(f"{k}={v * 1e3:.2f}ms" for k, v in res.items()))


if __name__ == "__main__":
    main()
