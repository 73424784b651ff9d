"""cross_entropy with probability targets, z_loss and logit_softcap, and
softmax_focal_loss.

Oracles: torch.nn.functional.cross_entropy (PyTorch 2.13) with probability
targets; for z_loss / logit_softcap (torch has neither) and the softmax focal
loss (torch has none) the cited formula written with torch ops in float64,
differentiated by autograd. float32 within 1e-5 relative, float64 ~1e-10.
"""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab

RTOL = {np.float32: 1e-5, np.float64: 1e-10}
ATOL = {np.float32: 1e-6, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def close(got, want, dtype):
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=ATOL[dtype])


def soft_targets(rng, shape, class_dim=1):
    q = rng.uniform(0, 1, shape)
    q = q / q.sum(class_dim, keepdims=True)
    return q


@pytest.mark.parametrize("dtype,weighted,eps,reduction", list(itertools.product(
    DTYPES, [False, True], [0.0, 0.1], ["mean", "sum", "none"])))
def test_cross_entropy_probability_targets_match_torch(dtype, weighted, eps, reduction):
    """Oracle: F.cross_entropy with probability targets (weights multiply per
    class; 'mean' divides by N, not by a weight sum)."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, (13, 7)).astype(dtype)
    q = soft_targets(rng, (13, 7)).astype(dtype)
    q[3] = np.eye(7, dtype=dtype)[2]  # a one-hot row
    w = rng.uniform(0.2, 2.0, 7).astype(dtype) if weighted else None
    xt = torch.tensor(x, requires_grad=True)
    ref = F.cross_entropy(xt, torch.tensor(q), weight=None if w is None else torch.tensor(w),
                          label_smoothing=eps, reduction=reduction)
    ref.sum().backward()
    got, g = losslab.cross_entropy(x, q, weight=w, label_smoothing=eps, reduction=reduction,
                                   return_grad=True)
    close(got, ref.detach().numpy(), dtype)
    if reduction == "none":
        assert np.asarray(got).shape == (13,)
    close(g, xt.grad.numpy(), dtype)


def test_cross_entropy_probability_targets_spatial_and_torch_tensors():
    """Oracle: F.cross_entropy on (N, C, d1, d2) probability targets; torch
    tensors go through DLPack."""
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(3, 4, 2, 5)))
    q = torch.tensor(soft_targets(rng, (3, 4, 2, 5)))
    xr = x.clone().requires_grad_(True)
    ref = F.cross_entropy(xr, q, reduction="none")
    ref.sum().backward()
    got, g = losslab.cross_entropy(x, q, reduction="none", return_grad=True)
    assert got.shape == (3, 2, 5)
    close(got, ref.detach().numpy(), np.float64)
    close(g, xr.grad.numpy(), np.float64)


def test_cross_entropy_soft_rows_must_sum_to_one():
    """Documented: a row that does not sum to 1 (1e-3 in float32, 1e-6 in
    float64) or holds a value outside [0, 1] is a ValueError naming it."""
    x = np.zeros((3, 4))
    q = np.full((3, 4), 0.25)
    q[2, 0] = 0.3
    with pytest.raises(ValueError, match=r"probability target row 2 sums to 1.05"):
        losslab.cross_entropy(x, q)
    q[2, 0] = 0.25 + 5e-7  # within 1e-6
    losslab.cross_entropy(x, q)
    qf = np.full((3, 4), 0.25, np.float32)
    qf[1, 1] += 5e-4  # within float32's 1e-3
    losslab.cross_entropy(x.astype(np.float32), qf)
    qf[1, 1] += 2e-3
    with pytest.raises(ValueError, match="row 1 sums to"):
        losslab.cross_entropy(x.astype(np.float32), qf)
    q = np.full((3, 4), 0.25)
    q[0, :2] = [-0.25, 0.75]
    with pytest.raises(ValueError, match=r"-0.25 at index \(0, 0\) is outside \[0, 1\]"):
        losslab.cross_entropy(x, q)
    with pytest.raises(TypeError, match="target dtype float32 does not match"):
        losslab.cross_entropy(x, np.full((3, 4), 0.25, np.float32))


def torch_ce_extras(x, t, w, eps, zl, cap, reduction, ignore_index=-100):
    """cross_entropy + z_loss lambda lse^2 on rows not ignored, after the soft
    cap cap tanh(x / cap); the mean keeps PyTorch's denominator (sum of
    w[t] over rows not ignored for class indices, N for probabilities)."""
    z = cap * torch.tanh(x / cap) if cap is not None else x
    wt = None if w is None else torch.tensor(w)
    per = F.cross_entropy(z, t, weight=wt, label_smoothing=eps, reduction="none",
                          ignore_index=ignore_index)
    lse = torch.logsumexp(z, 1)
    if t.dtype == torch.int64:
        keep = (t != ignore_index).to(z.dtype)
        tc = t.clamp(min=0)
        den = (keep * (wt[tc] if wt is not None else 1.0)).sum()
    else:
        keep = torch.ones_like(lse)
        den = torch.tensor(float(len(t)), dtype=z.dtype)
    per = per + zl * lse ** 2 * keep
    if reduction == "none":
        return per
    return per.sum() if reduction == "sum" else per.sum() / den


@pytest.mark.parametrize("dtype,soft,zl,cap,reduction", list(itertools.product(
    DTYPES, [False, True], [0.0, 1e-2], [None, 3.0], ["mean", "sum", "none"])))
def test_cross_entropy_z_loss_and_softcap(dtype, soft, zl, cap, reduction):
    """Oracle: torch_ce_extras (the PaLM z-loss and Gemma 2 soft cap written
    with torch ops), autograd for the gradient, with weights and smoothing."""
    rng = np.random.default_rng(2)
    x = rng.normal(0, 4, (17, 9)).astype(dtype)
    w = rng.uniform(0.3, 2.0, 9).astype(dtype)
    if soft:
        t = soft_targets(rng, (17, 9)).astype(dtype)
    else:
        t = rng.integers(0, 9, 17)
        t[[2, 11]] = -100
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ref = torch_ce_extras(xt, torch.tensor(t if not soft else t.astype(np.float64)),
                          w.astype(np.float64), 0.1, zl, cap, reduction)
    ref.sum().backward()
    got, g = losslab.cross_entropy(x, t, weight=w, label_smoothing=0.1, z_loss=zl,
                                   logit_softcap=cap, reduction=reduction, return_grad=True)
    close(got, ref.detach().numpy(), dtype)
    close(g, xt.grad.numpy(), dtype)


def test_z_loss_zero_is_bitwise_plain_and_errors():
    """z_loss=0 and logit_softcap=None leave cross_entropy bit for bit."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 33)).astype(np.float32)
    t = rng.integers(0, 33, 50)
    a = losslab.cross_entropy(x, t, return_grad=True)
    b = losslab.cross_entropy(x, t, z_loss=0.0, logit_softcap=None, return_grad=True)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="z_loss=-0.1 must be finite and >= 0"):
        losslab.cross_entropy(x, t, z_loss=-0.1)
    with pytest.raises(ValueError, match="logit_softcap=0 must be finite and > 0"):
        losslab.cross_entropy(x, t, logit_softcap=0.0)


def torch_focal(x, t, alpha, gamma, reduction, ignore_index=-100):
    """Lin et al. (2017) with a softmax: -alpha_t (1 - p_t)^gamma log p_t,
    written with torch ops (log_softmax), mean over rows not ignored."""
    keep = t != ignore_index
    tc = t.clamp(min=0)
    logp = F.log_softmax(x, 1).gather(1, tc[:, None])[:, 0]
    p = logp.exp()
    if alpha is None:
        a = torch.ones_like(logp)
    elif np.ndim(alpha) == 0:
        a = torch.full_like(logp, float(alpha))
    else:
        a = torch.tensor(alpha, dtype=x.dtype)[tc]
    per = torch.where(keep, -a * (1 - p) ** gamma * logp, torch.zeros_like(logp))
    if reduction == "none":
        return per
    return per.sum() if reduction == "sum" else per.sum() / keep.sum()


@pytest.mark.parametrize("dtype,alpha,gamma,reduction", list(itertools.product(
    DTYPES, [None, 0.25, "per-class"], [0.0, 0.5, 2.0, 5.0], ["mean", "sum", "none"])))
def test_softmax_focal_matches_formula(dtype, alpha, gamma, reduction):
    """Oracle: torch_focal in float64 with autograd for the gradient."""
    rng = np.random.default_rng(4)
    x = rng.normal(0, 3, (21, 6)).astype(dtype)
    t = rng.integers(0, 6, 21)
    t[[4, 9]] = -100
    if alpha == "per-class":
        alpha = rng.uniform(0.1, 1.0, 6).astype(dtype)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ref = torch_focal(xt, torch.tensor(t), None if alpha is None else
                      (np.asarray(alpha, np.float64) if np.ndim(alpha) else alpha),
                      gamma, reduction)
    ref.sum().backward()
    got, g = losslab.softmax_focal_loss(x, t, alpha=alpha, gamma=gamma,
                                        reduction=reduction, return_grad=True)
    close(got, ref.detach().numpy(), dtype)
    close(g, xt.grad.numpy(), dtype)


def test_softmax_focal_gamma_zero_is_cross_entropy_exactly():
    """gamma=0 with alpha=None is cross_entropy bit for bit (value, per-row
    losses and gradient), including spatial dims and ignored rows."""
    rng = np.random.default_rng(5)
    for shape, tshape in [((40, 17), (40,)), ((3, 5, 4, 2), (3, 4, 2))]:
        x = rng.normal(size=shape).astype(np.float32)
        t = rng.integers(0, shape[1], tshape)
        t.flat[::7] = -100
        for reduction in ["mean", "none"]:
            a = losslab.cross_entropy(x, t, reduction=reduction, return_grad=True)
            b = losslab.softmax_focal_loss(x, t, gamma=0.0, reduction=reduction,
                                           return_grad=True)
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("gamma", [0.0, 0.25, 0.5, 1.0, 2.0, 5.0])
def test_softmax_focal_saturated_logits_are_finite(gamma):
    """Logits of +-100, +-1e4, +-1e30 give finite values and gradients; a
    certain right prediction has loss 0 (and gradient 0 up to exp(-100))."""
    for big in [100.0, 1e4, 1e30]:
        x = np.array([[big, 0.0, -big], [big, 0.0, -big]], np.float32)
        loss, g = losslab.softmax_focal_loss(x, np.array([0, 1]), gamma=gamma,
                                             reduction="none", return_grad=True)
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(g))
        assert loss[0] == 0.0 and np.all(np.abs(g[0]) < 1e-30)


def test_softmax_focal_errors_and_all_ignored():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="gamma=-1 must be finite and >= 0"):
        losslab.softmax_focal_loss(x, np.array([0, 1]), gamma=-1.0)
    with pytest.raises(ValueError, match=r"alpha shape \(2,\) must be \(3,\)"):
        losslab.softmax_focal_loss(x, np.array([0, 1]), alpha=np.ones(2))
    with pytest.raises(ValueError, match="class 3 at index 1"):
        losslab.softmax_focal_loss(x, np.array([0, 3]))
    with pytest.raises(TypeError, match="int64 or int32"):
        losslab.softmax_focal_loss(x, np.zeros(2))
    loss, g = losslab.softmax_focal_loss(x, np.array([-100, -100]), return_grad=True)
    assert loss == 0.0 and np.all(g == 0.0)
