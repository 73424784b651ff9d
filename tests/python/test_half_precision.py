"""bfloat16 / float16 inputs of the elementwise losses.

Oracle: PyTorch 2.13 torch.nn.functional (and the torchvision sigmoid focal
formula written in torch ops) evaluated in float32 on the half-rounded inputs,
which is what losslab promises: widen to float32, compute and accumulate in
float32, round the gradient to the input dtype (or return it in float32 with
grad_dtype="float32"). Tolerances: the value within 1e-5 relative (float32
summation order only); float32 gradients within 1e-5 relative; half gradients
within one rounding of the half format (bf16: 8-bit significand, relative
2^-8; fp16: 2^-11) of torch's float32 gradient. Hinge and quantile use a NumPy
float64 reference of the written-out formula.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab

HALF_EPS = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}


def focal_torch(x, y, alpha=0.25, gamma=2.0, reduction="mean"):
    """torchvision.ops.sigmoid_focal_loss, written in torch ops."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss.mean() if reduction == "mean" else loss.sum()


# name -> (losslab fn, torch fn(x, y, reduction), input kind, target kind)
CASES = {
    "mse_loss": (losslab.mse_loss, F.mse_loss, "real", "real"),
    "l1_loss": (losslab.l1_loss, F.l1_loss, "real", "real"),
    "huber_loss": (
        lambda x, y, **k: losslab.huber_loss(x, y, delta=0.7, **k),
        lambda x, y, reduction: F.huber_loss(x, y, delta=0.7, reduction=reduction),
        "real",
        "real",
    ),
    "smooth_l1_loss": (
        lambda x, y, **k: losslab.smooth_l1_loss(x, y, beta=0.5, **k),
        lambda x, y, reduction: F.smooth_l1_loss(x, y, beta=0.5, reduction=reduction),
        "real",
        "real",
    ),
    "poisson_nll_loss": (losslab.poisson_nll_loss, F.poisson_nll_loss, "real", "pos"),
    "binary_cross_entropy_with_logits": (
        losslab.binary_cross_entropy_with_logits,
        F.binary_cross_entropy_with_logits,
        "logit",
        "prob",
    ),
    "binary_cross_entropy": (
        losslab.binary_cross_entropy,
        F.binary_cross_entropy,
        "prob",
        "prob",
    ),
    "sigmoid_focal_loss": (losslab.sigmoid_focal_loss, focal_torch, "logit", "label"),
}


REGRESSION = {"mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "poisson_nll_loss"}


def make(kind, n, rng):
    if kind == "real":
        return rng.uniform(-3, 3, n)
    if kind == "logit":
        return rng.uniform(-8, 8, n)
    if kind == "prob":
        return rng.uniform(0.02, 0.98, n)
    if kind == "pos":
        return rng.uniform(0, 4, n)
    return (rng.uniform(0, 1, n) > 0.5).astype(np.float64)


def to_np(a):
    """losslab's half outputs (ml_dtypes / numpy float16) as float64."""
    return np.asarray(a).astype(np.float64)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("tdtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_half_matches_torch_float32_on_rounded_inputs(name, tdtype, reduction, rng):
    """Oracle: torch.nn.functional in float32 on the half-rounded tensors."""
    ll, tf, xk, yk = CASES[name]
    n = 3001
    x = torch.tensor(make(xk, n, rng)).to(tdtype)
    y = torch.tensor(make(yk, n, rng)).to(tdtype)
    xf = x.float().requires_grad_(True)
    want = tf(xf, y.float(), reduction=reduction)
    want.backward()
    gw = xf.grad.double().numpy()

    got, g = ll(x, y, reduction=reduction, return_grad=True)
    assert isinstance(got, float)
    assert got == pytest.approx(want.item(), rel=1e-5, abs=1e-6)
    assert np.asarray(g).dtype.itemsize == 2
    # One rounding to the half format (2 eps covers a float32 difference that
    # moves the value across a rounding boundary) plus fp16's subnormal step.
    sub = 2.0**-24 if tdtype == torch.float16 else 0.0
    tol = 2 * HALF_EPS[tdtype] * np.abs(gw) + sub + 1e-6 * np.abs(gw).max()
    assert np.all(np.abs(to_np(g) - gw) <= tol)

    # A float32 grad buffer (every binding); grad_dtype="float32" (regression
    # bindings) allocates the same.
    g32 = np.empty(n, dtype=np.float32)
    got32, _ = ll(x, y, reduction=reduction, return_grad=True, grad_out=g32)
    assert got32 == got
    if name in REGRESSION:
        _, g32b = ll(x, y, reduction=reduction, return_grad=True, grad_dtype="float32")
        np.testing.assert_array_equal(g32b, g32)
    assert np.asarray(g32).dtype == np.float32
    np.testing.assert_allclose(g32, gw, rtol=1e-5, atol=1e-6 * np.abs(gw).max())
    # The half gradient is the float32 one rounded to nearest even.
    np.testing.assert_array_equal(
        to_np(g), torch.from_numpy(np.asarray(g32)).to(tdtype).double().numpy()
    )


@pytest.mark.parametrize("tdtype", [torch.bfloat16, torch.float16])
def test_reduction_none_and_weights_match_torch(tdtype, rng):
    """Oracle: F.mse_loss(reduction='none') in float32; torch rounds the
    per-element result to the input dtype, as losslab does."""
    n = 513
    x = torch.tensor(rng.uniform(-3, 3, n)).to(tdtype)
    y = torch.tensor(rng.uniform(-3, 3, n)).to(tdtype)
    out = losslab.mse_loss(x, y, reduction="none")
    want = F.mse_loss(x.float(), y.float(), reduction="none").to(tdtype)
    np.testing.assert_array_equal(to_np(out), want.double().numpy())
    w = torch.tensor(rng.uniform(0, 2, n)).to(tdtype)
    got = losslab.mse_loss(x, y, weight=w)
    wf = w.float()
    ref = ((x.float() - y.float()) ** 2 * wf).sum() / wf.sum()
    assert got == pytest.approx(ref.item(), rel=1e-5)


def test_ml_dtypes_and_numpy_float16_inputs(rng):
    """ml_dtypes.bfloat16 and numpy.float16 arrays give the same results as
    torch tensors of that dtype (oracle: the torch path above)."""
    n = 1000
    xd, yd = rng.uniform(-3, 3, n), rng.uniform(-3, 3, n)
    xb = xd.astype(ml_dtypes.bfloat16)
    yb = yd.astype(ml_dtypes.bfloat16)
    v, g = losslab.huber_loss(xb, yb, return_grad=True)
    vt, gt = losslab.huber_loss(
        torch.tensor(xd).bfloat16(), torch.tensor(yd).bfloat16(), return_grad=True
    )
    assert v == vt
    assert np.asarray(g).dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(to_np(g), to_np(gt))
    g_bf16 = g
    xh, yh = xd.astype(np.float16), yd.astype(np.float16)
    v, g = losslab.huber_loss(xh, yh, return_grad=True)
    vt, gt = losslab.huber_loss(
        torch.tensor(xd).half(), torch.tensor(yd).half(), return_grad=True
    )
    assert v == vt
    assert np.asarray(g).dtype == np.float16
    np.testing.assert_array_equal(to_np(g), to_np(gt))
    # Caller-owned bf16 grad buffer.
    buf = np.zeros(n, dtype=ml_dtypes.bfloat16)
    _, g2 = losslab.huber_loss(xb, yb, return_grad=True, grad_out=buf)
    assert g2 is buf
    np.testing.assert_array_equal(to_np(buf), to_np(g_bf16))


def test_hinge_and_quantile_against_numpy_formula(rng):
    """Oracle: NumPy float64 formulas on the bf16-rounded inputs
    (hinge: mean max(0, 1 - y x); quantile: mean max(tau e, (tau - 1) e))."""
    n = 2049
    x = rng.uniform(-3, 3, n).astype(ml_dtypes.bfloat16)
    ysign = np.where(rng.uniform(size=n) > 0.5, 1.0, -1.0).astype(ml_dtypes.bfloat16)
    xd, yd = x.astype(np.float64), ysign.astype(np.float64)
    g = np.empty(n, dtype=np.float32)
    v, _ = losslab.hinge_loss(x, ysign, return_grad=True, grad_out=g)
    assert v == pytest.approx(np.maximum(0, 1 - yd * xd).mean(), rel=1e-5)
    np.testing.assert_allclose(g, np.where(1 - yd * xd > 0, -yd, 0) / n, rtol=1e-6)
    t = rng.uniform(-3, 3, n).astype(ml_dtypes.bfloat16)
    e = t.astype(np.float64) - xd
    v = losslab.quantile_loss(x, t, quantile=0.8)
    assert v == pytest.approx(np.maximum(0.8 * e, -0.2 * e).mean(), rel=1e-5)


def test_bf16_bce_with_logits_gradient_within_1pct_of_float64():
    """Acceptance of issue 5: at p = 0.999 the bf16 gradient sigmoid(x) - y is
    within 1% of float64 (oracle: the float64 formula on the same bf16 x)."""
    logit = np.log(0.999 / 0.001)
    x = torch.tensor([logit, logit]).bfloat16()
    y = torch.tensor([1.0, 0.0]).bfloat16()
    _, g = losslab.binary_cross_entropy_with_logits(
        x, y, reduction="sum", return_grad=True
    )
    xd = x.double().numpy()
    ref = 1 / (1 + np.exp(-xd)) - np.array([1.0, 0.0])
    np.testing.assert_allclose(to_np(g), ref, rtol=0.01)


def test_threads_bitwise_and_scalar_twin(runtime_guard, rng):
    """1 vs 2 threads bitwise; the scalar twin vs the default SIMD target
    within float32 ULPs (oracle: losslab itself, per the determinism rule)."""
    n = 70001
    x = torch.tensor(rng.uniform(-6, 6, n)).bfloat16()
    y = torch.tensor((rng.uniform(size=n) > 0.5) * 1.0).bfloat16()
    res = []
    for t in (1, 2):
        losslab.set_num_threads(t)
        g = np.empty(n, dtype=np.float32)
        v, _ = losslab.binary_cross_entropy_with_logits(x, y, return_grad=True, grad_out=g)
        res.append((v, g))
    assert res[0][0] == res[1][0]
    np.testing.assert_array_equal(res[0][1], res[1][1])
    losslab.set_simd_target("scalar")
    gs = np.empty(n, dtype=np.float32)
    vs, _ = losslab.binary_cross_entropy_with_logits(x, y, return_grad=True, grad_out=gs)
    assert vs == pytest.approx(res[0][0], rel=1e-6)
    np.testing.assert_allclose(gs, res[0][1], rtol=1e-5, atol=1e-12)


def test_errors():
    """Mixed dtypes are a TypeError naming the argument; bad grad_dtype and
    grad_dtype='float32' on float64 input are ValueErrors; NaN targets raise."""
    xb = torch.ones(4).bfloat16()
    with pytest.raises(TypeError, match="target dtype float32"):
        losslab.mse_loss(xb, torch.ones(4))
    with pytest.raises(TypeError, match="float16"):
        losslab.mse_loss(xb, torch.ones(4).half())
    with pytest.raises(ValueError, match="grad_dtype"):
        losslab.mse_loss(xb, xb, return_grad=True, grad_dtype="float64")
    with pytest.raises(ValueError, match="grad_dtype"):
        losslab.mse_loss(np.ones(3), np.ones(3), grad_dtype="float32")
    y = torch.tensor([1.0, float("nan"), 0, 0]).bfloat16()
    with pytest.raises(ValueError, match="index 1"):
        losslab.mse_loss(xb, y)
    with pytest.raises(ValueError, match="empty"):
        losslab.mse_loss(torch.ones(0).bfloat16(), torch.ones(0).bfloat16())


# ---------------------------------------------------------------------------
# cross_entropy (class indices), nll_loss and kl_divergence.


@pytest.mark.parametrize("tdtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_half_matches_torch_float32(tdtype, smoothing, rng):
    """Oracle: F.cross_entropy in float32 on the half-rounded logits and
    weights (losslab widens, computes in float32, rounds the gradient once)."""
    n, c = 67, 301
    x = torch.tensor(rng.uniform(-6, 6, (n, c))).to(tdtype)
    w = torch.tensor(rng.uniform(0.2, 2, c)).to(tdtype)
    t = torch.tensor(rng.integers(0, c, n))
    t[5] = -100
    xf = x.float().requires_grad_(True)
    want = F.cross_entropy(xf, t, weight=w.float(), label_smoothing=smoothing)
    want.backward()
    gw = xf.grad.double().numpy()
    got, g = losslab.cross_entropy(
        x, t, weight=w, label_smoothing=smoothing, return_grad=True
    )
    assert got == pytest.approx(want.item(), rel=1e-5)
    assert np.asarray(g).dtype.itemsize == 2
    _, g32 = losslab.cross_entropy(
        x, t, weight=w, label_smoothing=smoothing, return_grad=True, grad_dtype="float32"
    )
    assert np.asarray(g32).dtype == np.float32
    np.testing.assert_allclose(g32, gw, rtol=1e-4, atol=1e-6 * np.abs(gw).max())
    # The half gradient is the float32 one rounded to nearest even.
    np.testing.assert_array_equal(
        to_np(g), torch.from_numpy(np.asarray(g32)).to(tdtype).double().numpy()
    )
    # reduction="none": per-sample losses in the input dtype.
    out = losslab.cross_entropy(x, t, weight=w, reduction="none")
    ref = F.cross_entropy(x.float(), t, weight=w.float(), reduction="none")
    np.testing.assert_array_equal(to_np(out), ref.to(tdtype).double().numpy())


def test_bf16_cross_entropy_gradient_within_1pct_of_float64():
    """Acceptance of issue 5: at p_y = 0.999 every entry of the bf16
    cross-entropy gradient (p_y - 1 = -0.001 at the label) is within 1% of
    float64 (oracle: a float64 softmax of the same bf16 logits)."""
    c = 1000
    x = torch.zeros(1, c)
    x[0, 417] = float(np.log(0.999 * (c - 1) / 0.001))
    x = x.bfloat16()
    t = torch.tensor([417])
    _, g = losslab.cross_entropy(x, t, return_grad=True)
    xd = x.double().numpy()[0]
    p = np.exp(xd - xd.max())
    p /= p.sum()
    assert p[417] == pytest.approx(0.999, abs=2e-4)
    ref = p - np.eye(c)[417]
    np.testing.assert_allclose(to_np(g)[0], ref, rtol=0.01)


@pytest.mark.parametrize("tdtype", [torch.bfloat16, torch.float16])
def test_nll_and_kl_divergence_half(tdtype, rng):
    """Oracles: F.nll_loss in float32 on the rounded log-probabilities; for
    kl_divergence, the float64 formula sum p log(p / q) per row on the
    rounded p, q, and the float32 losslab result on the widened arrays."""
    n, c = 40, 129
    lp = torch.log_softmax(torch.tensor(rng.normal(size=(n, c))), 1).to(tdtype)
    t = torch.tensor(rng.integers(0, c, n))
    lpf = lp.float().requires_grad_(True)
    want = F.nll_loss(lpf, t)
    want.backward()
    got, g = losslab.nll_loss(lp, t, return_grad=True)
    assert got == pytest.approx(want.item(), rel=1e-6)
    np.testing.assert_array_equal(
        to_np(g), lpf.grad.to(tdtype).double().numpy()
    )
    p = torch.softmax(torch.tensor(rng.normal(size=(n, c))), 1).to(tdtype)
    q = torch.softmax(torch.tensor(rng.normal(size=(n, c))), 1).to(tdtype)
    pd, qd = p.double().numpy(), q.double().numpy()
    ref = np.where(pd > 0, pd * np.log(np.where(pd > 0, pd, 1) / qd), 0).sum(1)
    v, gq = losslab.kl_divergence(p, q, return_grad=True)
    assert v == pytest.approx(ref.mean(), rel=1e-5)
    v32, gq32 = losslab.kl_divergence(p.float(), q.float(), return_grad=True)
    assert v == v32
    np.testing.assert_array_equal(
        to_np(gq), torch.from_numpy(np.asarray(gq32)).to(tdtype).double().numpy()
    )
    rows = losslab.kl_divergence(p, q, reduction="none")
    assert np.asarray(rows).dtype.itemsize == 2
    np.testing.assert_allclose(to_np(rows), ref, rtol=2 * HALF_EPS[tdtype], atol=1e-6)


def test_half_class_errors():
    """Probability targets with half input are a TypeError that names the
    fix; a bad grad_dtype is a ValueError."""
    x = torch.zeros(2, 3).bfloat16()
    with pytest.raises(TypeError, match="probability targets are not supported"):
        losslab.cross_entropy(x, torch.full((2, 3), 1 / 3).bfloat16())
    with pytest.raises(ValueError, match="grad_dtype"):
        losslab.cross_entropy(x, torch.tensor([0, 1]), return_grad=True, grad_dtype="x")
