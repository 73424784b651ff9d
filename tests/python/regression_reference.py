"""NumPy float64 reference implementations of losslab's regression losses.

Every function here is an independent transcription of the loss formula
(the "numpy formula" oracle the tests name), evaluated in float64 with
numerically stable forms, never by calling losslab. Torch oracles (for the
losses PyTorch has) are built here too so all test modules share them.

A case's ``ref(x, y)`` returns per-element float64 arrays ``(l, g, h, mag)``:
the unweighted loss, its first and second derivative w.r.t. the input, and a
non-negative "magnitude" of the terms the loss is computed from (|l| for most
losses; for Poisson exp(x) + |y x| + |Stirling term|, since those terms cancel)
which sets the absolute error floor of a float32 comparison.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import numpy as np

try:  # torch is the oracle of the tests that name it; metrics tests do not need it
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - torch is pinned in the test extra
    torch = None
    F = None


# ---------------------------------------------------------------------------
# Per-element float64 formulas (d = input - target, e = target - input).


def _mse(x, y):
    d = x - y
    return d * d, 2.0 * d, np.full_like(d, 2.0), d * d


def _l1(x, y):
    d = x - y
    # np.sign(0) == 0: torch's subgradient convention for l1_loss at d == 0.
    return np.abs(d), np.sign(d), np.zeros_like(d), np.abs(d)


def _huber(delta):
    def f(x, y):
        d = x - y
        a = np.abs(d)
        inside = a < delta
        l = np.where(inside, 0.5 * d * d, delta * (a - 0.5 * delta))
        return l, np.clip(d, -delta, delta), inside.astype(np.float64), np.abs(l)

    return f


def _smooth_l1(beta):
    if beta == 0.0:
        return _l1  # torch: beta == 0 is exactly l1_loss

    def f(x, y):
        d = x - y
        a = np.abs(d)
        inside = a < beta
        l = np.where(inside, 0.5 * d * d / beta, a - 0.5 * beta)
        g = np.where(inside, d / beta, np.sign(d))
        h = np.where(inside, 1.0 / beta, 0.0)
        return l, g, h, np.abs(l)

    return f


def _quantile(tau):
    """Pinball loss; ``tau`` may be a scalar or an array broadcastable to e."""

    def f(x, y):
        e = y - x
        l = np.maximum(tau * e, (tau - 1.0) * e)
        g = np.where(e > 0, -tau, np.where(e < 0, 1.0 - tau, 0.0))
        return l, g, np.zeros_like(e), np.abs(l)

    return f


def log_cosh_ref(d):
    """log(cosh(d)) without cancellation or overflow (float64).

    |d| < 1: log cosh d = log1p(cosh d - 1) = log1p(2 sinh(d/2)^2), free of the
    cancellation of logaddexp(d, -d) - log 2 near 0 (which loses all digits for
    |d| < 1e-8); else logaddexp(d, -d) - log 2, which never overflows.
    """
    d = np.asarray(d, dtype=np.float64)
    small = np.abs(d) < 1.0
    s = np.sinh(np.where(small, d, 0.0) / 2.0)
    with np.errstate(invalid="ignore"):  # logaddexp(nan, nan): nan, as wanted
        big = np.logaddexp(d, -d) - math.log(2.0)
    return np.where(small, np.log1p(2.0 * s * s), big)


def _log_cosh(x, y):
    d = x - y
    l = log_cosh_ref(d)
    # sech^2 d = 4 e / (1 + e)^2 with e = exp(-2|d|): no 1 - tanh^2 cancellation.
    e = np.exp(-2.0 * np.abs(d))
    h = 4.0 * e / ((1.0 + e) * (1.0 + e))
    return l, np.tanh(d), h, np.abs(l)


def _pseudo_huber(delta):
    def f(x, y):
        d = x - y
        inf = np.isinf(d)
        with np.errstate(invalid="ignore"):
            r2 = (d / delta) ** 2
            s = np.sqrt(1.0 + r2)
            # delta^2 (sqrt(1 + r^2) - 1) == delta^2 r^2 / (1 + sqrt(1 + r^2))
            # exactly, and the right-hand side has no cancellation for small r.
            l = delta * delta * r2 / (1.0 + s)
            g = d / s
            h = s ** -3.0
        # d = +-inf: the limits inf, +-delta, 0 (inf/inf would be NaN here).
        l = np.where(inf, np.inf, l)
        g = np.where(inf, delta * np.sign(d), g)
        h = np.where(inf, 0.0, h)
        return l, g, h, np.abs(l)

    return f


def _poisson(log_input, full, eps):
    def f(x, y):
        if log_input:
            ex = np.exp(x)
            l = ex - y * x
            g = ex - y
            h = ex
            mag = ex + np.abs(y * x)
        else:
            xe = x + eps
            l = x - y * np.log(xe)
            g = 1.0 - y / xe
            h = y / (xe * xe)
            mag = np.abs(x) + np.abs(y * np.log(xe))
        if full:
            # torch: target*log(target) - target + 0.5*log(2*pi*target), 0 where target <= 1
            ys = np.where(y > 1, y, 1.0)
            st = ys * np.log(ys) - ys + 0.5 * np.log(2.0 * np.pi * ys)
            st = np.where(y > 1, st, 0.0)
            l = l + st
            mag = mag + np.abs(ys * np.log(ys)) + ys + np.abs(0.5 * np.log(2 * np.pi * ys))
        return l, g, h, mag

    return f


# ---------------------------------------------------------------------------
# Torch oracles (torch.nn.functional, PyTorch 2.13).


def _t_mse(x, y, reduction):
    return F.mse_loss(x, y, reduction=reduction)


def _t_l1(x, y, reduction):
    return F.l1_loss(x, y, reduction=reduction)


def _t_huber(delta):
    return lambda x, y, reduction: F.huber_loss(x, y, reduction=reduction, delta=delta)


def _t_smooth_l1(beta):
    return lambda x, y, reduction: F.smooth_l1_loss(x, y, reduction=reduction, beta=beta)


def _t_poisson(log_input, full, eps):
    return lambda x, y, reduction: F.poisson_nll_loss(
        x, y, log_input=log_input, full=full, eps=eps, reduction=reduction
    )


# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LossCase:
    id: str
    name: str  # losslab function name
    kwargs: dict
    ref: Callable  # numpy float64 formula: (x, y) -> (l, g, h, mag)
    torch_fn: Optional[Callable]  # torch.nn.functional oracle or None
    kinks: tuple = ()  # |d| where the loss is not twice differentiable
    transcendental: bool = False  # uses exp/log: not bitwise across SIMD targets
    nonneg_input: bool = False  # poisson(log_input=False): input is a rate >= 0
    count_target: bool = False  # poisson: targets are counts

    def __str__(self):
        return self.id


def _cases():
    c = []
    c.append(LossCase("mse", "mse_loss", {}, _mse, _t_mse))
    c.append(LossCase("l1", "l1_loss", {}, _l1, _t_l1, kinks=(0.0,)))
    for delta in (1.0, 0.5, 2.0):
        c.append(
            LossCase(f"huber(delta={delta})", "huber_loss", {"delta": delta},
                     _huber(delta), _t_huber(delta), kinks=(delta,))
        )
    for beta in (1.0, 0.5, 0.0):
        c.append(
            LossCase(f"smooth_l1(beta={beta})", "smooth_l1_loss", {"beta": beta},
                     _smooth_l1(beta), _t_smooth_l1(beta),
                     kinks=(beta,) if beta else (0.0,))
        )
    for tau in (0.5, 0.1, 0.9):
        c.append(
            LossCase(f"quantile(q={tau})", "quantile_loss", {"quantile": tau},
                     _quantile(tau), None, kinks=(0.0,))
        )
    c.append(LossCase("log_cosh", "log_cosh_loss", {}, _log_cosh, None, transcendental=True))
    for delta in (1.0, 0.3):
        c.append(
            LossCase(f"pseudo_huber(delta={delta})", "pseudo_huber_loss", {"delta": delta},
                     _pseudo_huber(delta), None)
        )
    for log_input in (True, False):
        for full in (False, True):
            c.append(
                LossCase(
                    f"poisson(log_input={log_input},full={full})", "poisson_nll_loss",
                    {"log_input": log_input, "full": full},
                    _poisson(log_input, full, 1e-8), _t_poisson(log_input, full, 1e-8),
                    transcendental=True, nonneg_input=not log_input, count_target=True,
                )
            )
    return c


CASES = _cases()
TORCH_CASES = [c for c in CASES if c.torch_fn is not None]
NUMPY_ONLY_CASES = [c for c in CASES if c.torch_fn is None]
# One representative configuration per losslab function.
_first = {}
for _c in CASES:
    _first.setdefault(_c.name, _c)
ONE_PER_LOSS = list(_first.values())
del _first, _c


def make_data(case: LossCase, n: int, dtype, rng, *, kink_points=True, margin=0.0):
    """Random (input, target) for ``case`` in ``dtype``.

    kink_points: plant exact kinks (d == 0, |d| == delta) for n >= 16, so that
        torch's conventions at the kinks are compared too.
    margin: keep |d| at least this far from every kink (finite differences).
    """
    if case.count_target:
        y = rng.poisson(3.0, n).astype(np.float64)
        if case.nonneg_input:
            x = rng.uniform(0.5 if margin else 0.05, 5.0, n)
        else:
            x = rng.uniform(-2.0, 2.0, n)
        return x.astype(dtype), y.astype(dtype)
    y = rng.normal(0.0, 2.0, n)
    if margin:
        d = rng.uniform(0.05, 3.0, n) * rng.choice([-1.0, 1.0], n)
        for k in case.kinks:
            near = np.abs(np.abs(d) - k) < margin
            d[near] = np.sign(d[near]) * (k + 2 * margin + 0.1)
        x = y + d
        # Re-round so that d is what the loss sees after the dtype cast.
        x, y = x.astype(dtype), y.astype(dtype)
        return x, y
    x = rng.normal(0.0, 2.0, n)
    x, y = x.astype(dtype), y.astype(dtype)
    if kink_points and n >= 16:
        x[3] = y[3]  # d == 0 exactly
        for j, k in enumerate(case.kinks):
            if k:
                y[5 + 2 * j] = 0.25
                x[5 + 2 * j] = 0.25 + k  # exactly representable: |d| == k
                y[6 + 2 * j] = 0.25
                x[6 + 2 * j] = 0.25 - k
    return x, y


def reference(case: LossCase, x, y, *, weight=None, reduction="mean", grad_output=None):
    """float64 (value, grad, hess, mag) of the reduced loss from the formula.

    loss_i = w_i l_i; mean = sum(w l) / sum(w) (or / N unweighted; 0 when all
    weights are 0); grad and hess carry the same scale times the upstream grad.
    """
    x64 = np.asarray(x, dtype=np.float64)
    y64 = np.asarray(y, dtype=np.float64)
    l, g, h, mag = case.ref(x64, y64)
    w = np.ones_like(l) if weight is None else np.asarray(weight, dtype=np.float64)
    go = 1.0 if grad_output is None else np.asarray(grad_output, dtype=np.float64)
    if reduction == "none":
        return w * l, go * w * g, go * w * h, w * mag
    if reduction == "sum":
        scale = 1.0
    else:
        s = float(np.sum(w)) if weight is not None else float(l.size)
        scale = 0.0 if s == 0.0 else 1.0 / s
    return (
        float(np.sum(w * l)) * scale,
        go * w * g * scale,
        go * w * h * scale,
        float(np.sum(w * mag)) * scale,
    )


def torch_reference(case: LossCase, x, y, *, reduction="mean", grad_output=None, hess=True):
    """Value, gradient and Hessian diagonal from torch.nn.functional + autograd.

    The gradient is autograd's d(grad_output . loss)/d input; the Hessian
    diagonal is d(sum(grad))/d input (exact for these separable losses).
    Returns numpy arrays in the input dtype (value as float).
    """
    xt = torch.from_numpy(np.array(x, copy=True)).requires_grad_(True)
    yt = torch.from_numpy(np.array(y, copy=True))
    loss = case.torch_fn(xt, yt, reduction)
    if reduction == "none":
        go = torch.from_numpy(np.array(grad_output, copy=True))
        s = (loss * go).sum()
        value = loss.detach().numpy().copy()
    else:
        go = 1.0 if grad_output is None else float(grad_output)
        s = loss * go
        value = float(loss.detach())
    (g,) = torch.autograd.grad(s, xt, create_graph=hess)
    h = None
    if hess:
        if g.requires_grad:
            (h,) = torch.autograd.grad(g.sum(), xt, allow_unused=True)
        if h is None:  # the backward is piecewise constant (l1)
            h = torch.zeros_like(xt)
        h = h.detach().numpy(force=True).copy()  # force: l1 gives a ZeroTensor
    return value, g.detach().numpy().copy(), h
