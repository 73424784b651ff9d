"""linear_cross_entropy against PyTorch's unfused output layer, in one process.

For hidden (T, H), weight (V, H) and targets (T,), float32, it times the loss
with the gradients for hidden and weight:

  losslab      linear_cross_entropy(return_grad=True): chunked, no (T, V) logits
  torch        logits = hidden @ weight.T; F.cross_entropy(logits, t).backward()
  3 GEMMs      the three products the loss needs, in torch: hidden @ W.T,
               G @ W and G.T @ hidden (G a (T, V) array), i.e. the floor for
               any implementation that does not skip work

and the peak resident memory each adds (VmHWM, reset through
/proc/self/clear_refs before each measurement) beyond the gradient outputs
(T x H + V x H elements), which every implementation must return.

--dtype bfloat16 passes bfloat16 torch tensors to all three (losslab returns
bfloat16 gradients, computed in float32; torch runs its bfloat16 GEMMs).

    python bench/linear_cross_entropy.py [--T 4096 --V 128000 --H 1024] [--threads 2]
        [--dtype float32|bfloat16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

import losslab


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def measure(fn, reps: int):
    """Median seconds and peak RSS increase (MiB) over reps runs."""
    times, peaks = [], []
    for _ in range(reps):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        base = rss_kib("VmRSS")
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        peaks.append((rss_kib("VmHWM") - base) / 1024)
    return float(np.median(times)), float(np.max(peaks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=4096)
    ap.add_argument("--V", type=int, default=128000)
    ap.add_argument("--H", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--grad-float32", action="store_true",
                    help="with --dtype bfloat16: losslab returns float32 gradients")
    ap.add_argument("--losslab-only", action="store_true",
                    help="time losslab alone (e.g. to compare two builds)")
    a = ap.parse_args()
    tdt = torch.bfloat16 if a.dtype == "bfloat16" else torch.float32
    esize = 2 if a.dtype == "bfloat16" else 4
    torch.set_num_threads(a.threads)
    losslab.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    h = rng.standard_normal((a.T, a.H), dtype=np.float32)
    w = (rng.standard_normal((a.V, a.H), dtype=np.float32) / np.sqrt(a.H)).astype(np.float32)
    t = rng.integers(0, a.V, a.T)
    logits_gib = a.T * a.V * esize / 2**30
    print(f"T={a.T} V={a.V} H={a.H} {a.dtype}, {a.threads} threads; full logits would take "
          f"{logits_gib:.2f} GiB; losslab {losslab.__version__}, torch {torch.__version__}")

    outputs_mib = (a.T * a.H + a.V * a.H) * esize / 2**20
    ht, wt, tt = torch.from_numpy(h).to(tdt), torch.from_numpy(w).to(tdt), torch.from_numpy(t)
    hl, wl = (ht, wt) if a.dtype == "bfloat16" else (h, w)
    gd = dict(grad_dtype="float32") if a.grad_float32 else {}
    ll_out_mib = (a.T * a.H + a.V * a.H) * 4 / 2**20 if a.grad_float32 else outputs_mib
    ll = measure(lambda: losslab.linear_cross_entropy(hl, wl, t, return_grad=True, **gd),
                 a.reps)
    ll = (ll[0], max(0.0, ll[1] - ll_out_mib))
    if a.losslab_only:
        print(f"losslab linear_cross_entropy: {ll[0]:.2f} s, peak extra {ll[1]:.0f} MiB "
              f"({100 * ll[1] / 1024 / logits_gib:.1f}% of the logits' size)")
        return

    def torch_unfused():
        hh = ht.clone().requires_grad_(True)
        ww = wt.clone().requires_grad_(True)
        F.cross_entropy(hh @ ww.T, tt).backward()

    tu = measure(torch_unfused, a.reps)
    tu = (tu[0], max(0.0, tu[1] - outputs_mib))
    g = torch.empty((a.T, a.V), dtype=tdt)

    def three_gemms():
        torch.matmul(ht, wt.T, out=g)
        torch.matmul(g, wt)
        torch.matmul(g.T, ht)

    three_gemms()  # g holds real values; its memory is not counted below
    tg = measure(three_gemms, a.reps)
    print(f"{'':<28} {'seconds':>9} {'peak extra MiB':>15}")
    print(f"{'losslab linear_cross_entropy':<28} {ll[0]:>9.2f} {ll[1]:>15.0f}")
    print(f"{'torch unfused (fwd + bwd)':<28} {tu[0]:>9.2f} {tu[1]:>15.0f}")
    print(f"{'3 GEMMs (torch, G given)':<28} {tg[0]:>9.2f} {tg[1]:>15.0f}")
    print(f"\nlosslab / 3 GEMMs = {ll[0] / tg[0]:.2f}x;  torch unfused / losslab = "
          f"{tu[0] / ll[0]:.2f}x;  losslab peak = {100 * ll[1] / 1024 / logits_gib:.1f}% "
          f"of the logits' size")


if __name__ == "__main__":
    main()
