"""Time losslab against PyTorch CPU in one process: forward + backward.

For each loss, size and thread count it reports the median time of
value + gradient, the effective bandwidth (bytes of input, target and gradient
moved once), the fraction of a STREAM-style triad measured in the same run
(torch.add(b, c, alpha=s, out=a): read 2 arrays, write 1, one pass), and the
ratio torch / losslab. losslab writes into a caller-owned gradient buffer
(grad_out=), as a training loop does; torch runs autograd as users do.

Also: binary_cross_entropy_with_logits and sigmoid_focal_loss (baseline: the
torchvision formula in torch ops), bf16 rows (losslab widens to float32
in registers inside its kernel and writes a bf16 gradient; torch runs its bf16 autograd;
bytes counted at 2 per element), and cross_entropy with int64 labels on
(N, C) logits (float32, and bf16 unless --skip-ce-bf16), with the peak extra
resident memory of one call (VmHWM above the pre-call RSS, beyond the inputs;
losslab writes into a preallocated grad buffer, torch allocates its gradient
and softmax intermediates).

    python bench/compare_torch.py [--sizes 16M] [--threads 1,2] [--reps 5]
        [--ce 2048x32768,512x131072] [--skip-ce] [--skip-ce-bf16]
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


def focal_torch(x, y, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss(reduction='mean') in torch ops."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    return ((alpha * y + (1 - alpha) * (1 - y)) * loss).mean()


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def peak_extra_mib(fn) -> float:
    """Peak resident memory one call adds (MiB), via VmHWM reset."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = rss_kib("VmRSS")
    fn()
    return (rss_kib("VmHWM") - base) / 1024


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

# Losses whose target is a 0/1 label: (name, losslab call, torch call).
LABEL_CASES = [
    ("bce_with_logits", lambda x, y, g: losslab.binary_cross_entropy_with_logits(
        x, y, return_grad=True, grad_out=g),
     lambda x, y: F.binary_cross_entropy_with_logits(x, y)),
    ("sigmoid_focal_loss*", lambda x, y, g: losslab.sigmoid_focal_loss(
        x, y, return_grad=True, grad_out=g),
     focal_torch),
]

# bf16 rows: losslab on torch bf16 tensors (DLPack), grad into a bf16 buffer.
BF16_CASES = [
    ("mse_loss bf16", lambda x, y, g: losslab.mse_loss(x, y, return_grad=True, grad_out=g),
     lambda x, y: F.mse_loss(x, y), False),
    ("huber_loss bf16", lambda x, y, g: losslab.huber_loss(x, y, return_grad=True, grad_out=g),
     lambda x, y: F.huber_loss(x, y), False),
    ("bce_logits bf16", lambda x, y, g: losslab.binary_cross_entropy_with_logits(
        x, y, return_grad=True, grad_out=g),
     lambda x, y: F.binary_cross_entropy_with_logits(x, y), True),
]


def run_cross_entropy(shapes, threads, reps, rng, bf16=True):
    print(f"\n{'cross_entropy':<20} {'N x C':>13} {'thr':>3} {'losslab ms':>10} {'GB/s':>6} "
          f"{'%triad':>7} {'torch ms':>9} {'torch/ll':>8} {'ll MiB':>7} {'torch MiB':>9}")
    for rows, cls in shapes:
        n = rows * cls
        x = rng.standard_normal(n, dtype=np.float32).reshape(rows, cls)
        lab = rng.integers(0, cls, rows, dtype=np.int64)
        g = np.empty_like(x)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        lt = torch.from_numpy(lab)
        # Three distinct arrays: with b and c the same array the triad reads
        # one array from memory, not two, and ran 1.4x faster than a triad.
        a, b, c = torch.empty(n), torch.from_numpy(x.reshape(-1)), torch.randn(n)
        for t in threads:
            torch.set_num_threads(t)
            losslab.set_num_threads(t)
            triad = median_time(lambda: torch.add(b, c, alpha=0.5, out=a), reps)
            triad_gbs = 3 * 4 * n / triad / 1e9

            def ll():
                losslab.cross_entropy(x, lab, return_grad=True, grad_out=g)

            def tt():
                xt.grad = None
                F.cross_entropy(xt, lt).backward()

            t_ll = median_time(ll, reps)
            t_t = median_time(tt, reps)
            m_ll = peak_extra_mib(ll)
            xt.grad = None
            m_t = peak_extra_mib(tt)
            gbs = 2 * 4 * n / t_ll / 1e9  # read logits, write grad
            print(f"{'':<20} {f'{rows}x{cls}':>13} {t:>3} {t_ll * 1e3:>10.2f} {gbs:>6.1f} "
                  f"{100 * gbs / triad_gbs:>6.0f}% {t_t * 1e3:>9.2f} {t_t / t_ll:>7.1f}x "
                  f"{m_ll:>7.0f} {m_t:>9.0f}")
            if not bf16:
                continue
            # bf16 logits (torch tensor through DLPack), bf16 grad buffer;
            # torch runs its bf16 autograd. Bytes at 2 per element.
            x16 = torch.from_numpy(x).bfloat16()
            g16 = torch.empty_like(x16)
            xt16 = x16.clone().requires_grad_(True)

            def ll16():
                losslab.cross_entropy(x16, lab, return_grad=True, grad_out=g16)

            def tt16():
                xt16.grad = None
                F.cross_entropy(xt16, lt).backward()

            t_ll = median_time(ll16, reps)
            t_t = median_time(tt16, reps)
            m_ll = peak_extra_mib(ll16)
            xt16.grad = None
            m_t = peak_extra_mib(tt16)
            gbs = 2 * 2 * n / t_ll / 1e9
            print(f"{'  bf16':<20} {f'{rows}x{cls}':>13} {t:>3} {t_ll * 1e3:>10.2f} {gbs:>6.1f} "
                  f"{100 * gbs / triad_gbs:>6.0f}% {t_t * 1e3:>9.2f} {t_t / t_ll:>7.1f}x "
                  f"{m_ll:>7.0f} {m_t:>9.0f}")
            del x16, g16, xt16
        del x, g, xt, a


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16M")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--ce", default="2048x32768,512x131072")
    ap.add_argument("--skip-ce", action="store_true")
    ap.add_argument("--skip-ce-bf16", action="store_true",
                    help="leave out the bf16 cross_entropy rows")
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
        lab = (rng.uniform(size=n) > 0.5).astype(np.float32)
        labt = torch.from_numpy(lab)
        xt16 = torch.from_numpy(x).bfloat16().requires_grad_(True)
        xt16d = xt16.detach()
        yt16 = torch.from_numpy(y).bfloat16()
        labt16 = labt.bfloat16()
        g16 = torch.empty(n, dtype=torch.bfloat16)
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
            for name, ll, tf in LABEL_CASES:
                t_ll = median_time(lambda: ll(x, lab, g), args.reps)

                def torch_step():
                    xt.grad = None
                    tf(xt, labt).backward()

                t_t = median_time(torch_step, args.reps)
                gbs = 3 * 4 * n / t_ll / 1e9
                print(f"{name:<20} {n >> 20:>5}M {t:>3} {t_ll * 1e3:>10.2f} {gbs:>6.1f} "
                      f"{100 * gbs / triad_gbs:>6.0f}% {t_t * 1e3:>9.2f} {t_t / t_ll:>12.1f}x")
            for name, ll, tf, labels in BF16_CASES:
                yy = labt16 if labels else yt16
                t_ll = median_time(lambda: ll(xt16d, yy, g16), args.reps)

                def torch_step():
                    xt16.grad = None
                    tf(xt16, yy).backward()

                t_t = median_time(torch_step, args.reps)
                gbs = 3 * 2 * n / t_ll / 1e9
                print(f"{name:<20} {n >> 20:>5}M {t:>3} {t_ll * 1e3:>10.2f} {gbs:>6.1f} "
                      f"{100 * gbs / triad_gbs:>6.0f}% {t_t * 1e3:>9.2f} {t_t / t_ll:>12.1f}x")
        del xt16, xt16d, yt16, labt16, g16
    if not args.skip_ce:
        shapes = [tuple(int(v) for v in s.split("x")) for s in args.ce.split(",")]
        run_cross_entropy(shapes, threads, args.reps, rng, bf16=not args.skip_ce_bf16)
    print("\n* torch has no quantile / sigmoid focal loss: the baselines are the pinball "
          "formula and torchvision's sigmoid_focal_loss written in torch ops.\n"
          "%triad: bytes moved once (input, target, gradient; 2 per element for bf16, "
          "logits + grad for cross_entropy) per second over the float32 triad's.")


if __name__ == "__main__":
    main()
