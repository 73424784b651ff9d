"""Time losslab against PyTorch CPU in one process: forward + backward.

For each loss, size and thread count it reports the median time of
value + gradient, the effective bandwidth (bytes of input, target and gradient
moved once), the fraction of a STREAM-style triad measured in the same run
(torch.add(b, c, alpha=s, out=a): read 2 arrays, write 1, one pass), and the
ratio torch / losslab. losslab writes into a caller-owned gradient buffer
(grad_out=), as a training loop does; torch runs autograd as users do.

    python bench/compare_torch.py [--sizes 16M,64M] [--threads 1,2] [--reps 7]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

import losslab


def parse_size(s: str) -> int:
    s = s.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * mult[s[-1]] if s[-1] in mult else int(s)


def median_time(fn, reps: int) -> float:
    fn()  # warm-up: page faults, thread start
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def quantile_torch(x, y, tau=0.9):
    e = y - x
    return torch.maximum(tau * e, (tau - 1) * e).mean()


CASES = [
    # name, losslab call, torch call
    ("mse_loss", lambda x, y, g: losslab.mse_loss(x, y, return_grad=True, grad_out=g),
     lambda x, y: F.mse_loss(x, y)),
    ("l1_loss", lambda x, y, g: losslab.l1_loss(x, y, return_grad=True, grad_out=g),
     lambda x, y: F.l1_loss(x, y)),
    ("huber_loss", lambda x, y, g: losslab.huber_loss(x, y, delta=1.0, return_grad=True, grad_out=g),
     lambda x, y: F.huber_loss(x, y, delta=1.0)),
    ("smooth_l1_loss", lambda x, y, g: losslab.smooth_l1_loss(x, y, beta=1.0, return_grad=True, grad_out=g),
     lambda x, y: F.smooth_l1_loss(x, y, beta=1.0)),
    ("quantile_loss(0.9)*", lambda x, y, g: losslab.quantile_loss(x, y, quantile=0.9, return_grad=True, grad_out=g),
     quantile_torch),
    ("poisson_nll_loss", lambda x, y, g: losslab.poisson_nll_loss(x, y, return_grad=True, grad_out=g),
     lambda x, y: F.poisson_nll_loss(x, y)),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16M,64M")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]

    print(f"losslab {losslab.__version__} ({losslab.simd_target()}), torch {torch.__version__}, "
          f"numpy {np.__version__}, {platform.processor() or platform.machine()}, float32")
    header = (f"{'loss':<20} {'n':>6} {'thr':>3} {'losslab ms':>10} {'GB/s':>6} {'%triad':>7} "
              f"{'torch ms':>9} {'torch/losslab':>13}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for n in sizes:
        x = rng.standard_normal(n, dtype=np.float32)
        y = rng.standard_normal(n, dtype=np.float32)
        g = np.empty_like(x)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        yt = torch.from_numpy(y)
        a, b, c = torch.empty(n), torch.from_numpy(x), torch.from_numpy(y)
        for t in threads:
            torch.set_num_threads(t)
            losslab.set_num_threads(t)
            triad = median_time(lambda: torch.add(b, c, alpha=0.5, out=a), args.reps)
            triad_gbs = 3 * 4 * n / triad / 1e9
            print(f"{'(triad a=b+s*c)':<20} {n >> 20:>5}M {t:>3} {triad * 1e3:>10.2f} "
                  f"{triad_gbs:>6.1f} {100.0:>6.0f}% {'':>9} {'':>13}")
            for name, ll, tf in CASES:
                t_ll = median_time(lambda: ll(x, y, g), args.reps)

                def torch_step():
                    xt.grad = None
                    tf(xt, yt).backward()

                t_t = median_time(torch_step, args.reps)
                gbs = 3 * 4 * n / t_ll / 1e9
                print(f"{name:<20} {n >> 20:>5}M {t:>3} {t_ll * 1e3:>10.2f} {gbs:>6.1f} "
                      f"{100 * gbs / triad_gbs:>6.0f}% {t_t * 1e3:>9.2f} {t_t / t_ll:>12.1f}x")
    print("\n* torch has no quantile loss: the baseline is the pinball formula in torch ops.")


if __name__ == "__main__":
    main()
