"""Generative losses. Oracles: torch.nn.functional (gaussian_nll_loss, the
BCE forms) and, where torch has no function, the cited formulas written out
with torch ops in float64 with gradients by autograd (named per test).
float32 within 1e-5 relative, float64 within 1e-10."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab

RTOL = {np.float32: 1e-5, np.float64: 1e-10}
ATOL = {np.float32: 1e-6, np.float64: 1e-12}
KINDS = ["minimax", "non_saturating", "hinge", "wasserstein", "least_squares"]


def gan_ref(kind, r, f):
    """Written-out GAN objectives (Goodfellow 2014; Lim & Ye 2017; Arjovsky
    2017; Mao 2017 with a=0, b=c=1) on raw outputs, via torch autograd."""
    rt = torch.tensor(np.asarray(r, np.float64), requires_grad=True)
    ft = torch.tensor(np.asarray(f, np.float64), requires_grad=True)
    sp = F.softplus
    if kind in ("minimax", "non_saturating"):
        d = sp(-rt).mean() + sp(ft).mean()
        g = -sp(ft).mean() if kind == "minimax" else sp(-ft).mean()
    elif kind == "hinge":
        d = F.relu(1 - rt).mean() + F.relu(1 + ft).mean()
        g = -ft.mean()
    elif kind == "wasserstein":
        d = -rt.mean() + ft.mean()
        g = -ft.mean()
    else:
        d = 0.5 * ((rt - 1) ** 2).mean() + 0.5 * (ft ** 2).mean()
        g = 0.5 * ((ft - 1) ** 2).mean()
    gr, gf = torch.autograd.grad(d, (rt, ft))
    (gg,) = torch.autograd.grad(g, ft)
    return d.item(), gr.numpy(), gf.numpy(), g.item(), gg.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_gan(rng, dtype, kind):
    r = (rng.normal(size=37) * 3).astype(dtype)
    f = (rng.normal(size=(5, 4)) * 3).astype(dtype)
    d, (gr, gf) = losslab.gan_discriminator_loss(r, f, kind=kind, return_grad=True)
    g, gg = losslab.gan_generator_loss(f, kind=kind, return_grad=True)
    want = gan_ref(kind, r, f)
    for got, w in zip((d, gr, gf, g, gg), want):
        np.testing.assert_allclose(got, w, rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("kind", KINDS)
def test_gan_saturated_logits_finite(kind):
    """Logits +-1e4 (float32): softplus forms stay finite, gradients exact."""
    x = np.array([1e4, -1e4, 0.0], np.float32)
    d, (gr, gf) = losslab.gan_discriminator_loss(x, x, kind=kind, return_grad=True)
    g, gg = losslab.gan_generator_loss(x, kind=kind, return_grad=True)
    assert all(np.isfinite(v).all() for v in (d, gr, gf, g, gg))
    if kind == "minimax":
        np.testing.assert_allclose(gg, [-1 / 3, 0.0, -1 / 6], rtol=1e-6)


def test_gan_sum_none():
    r = np.array([0.5, -1.0]); f = np.array([2.0])
    s = losslab.gan_discriminator_loss(r, f, kind="hinge", reduction="sum")
    lr, lf = losslab.gan_discriminator_loss(r, f, kind="hinge", reduction="none")
    np.testing.assert_allclose(lr, [0.5, 2.0]); np.testing.assert_allclose(lf, [3.0])
    assert s == pytest.approx(5.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["mse", "bce", "bce_with_logits"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reconstruction(rng, dtype, kind, reduction):
    """Oracle: torch mse_loss / binary_cross_entropy(_with_logits) with
    reduction='none', summed per sample, then averaged/summed over N."""
    recon = rng.normal(size=(6, 2, 5)).astype(dtype)
    if kind == "bce":
        recon = rng.uniform(0.01, 0.99, size=recon.shape).astype(dtype)
    x = rng.uniform(size=recon.shape).astype(dtype)
    rt = torch.tensor(recon.astype(np.float64), requires_grad=True)
    xt = torch.tensor(x.astype(np.float64))
    fn = {"mse": F.mse_loss, "bce": F.binary_cross_entropy,
          "bce_with_logits": F.binary_cross_entropy_with_logits}[kind]
    per = fn(rt, xt, reduction="none").sum((1, 2))
    ref = per if reduction == "none" else (per.mean() if reduction == "mean" else per.sum())
    ref.sum().backward()
    l, g = losslab.reconstruction_loss(recon, x, kind=kind, reduction=reduction,
                                       return_grad=True)
    np.testing.assert_allclose(l, ref.detach().numpy(), rtol=RTOL[dtype] * 3, atol=ATOL[dtype])
    np.testing.assert_allclose(g, rt.grad.numpy(), rtol=RTOL[dtype], atol=ATOL[dtype])


def kl_ref(mu, lv):
    """KL(N(mu, e^lv) || N(0, I)) = -0.5 sum(1 + lv - mu^2 - e^lv) per sample."""
    m = torch.tensor(np.asarray(mu, np.float64), requires_grad=True)
    v = torch.tensor(np.asarray(lv, np.float64), requires_grad=True)
    per = -0.5 * (1 + v - m ** 2 - v.exp()).sum(1)
    return per, m, v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_kl(rng, dtype):
    mu = rng.normal(size=(7, 5)).astype(dtype)
    lv = rng.normal(size=(7, 5)).astype(dtype)
    per, m, v = kl_ref(mu, lv)
    per.mean().backward()
    l, (gm, gl) = losslab.gaussian_kl_loss(mu, lv, return_grad=True)
    np.testing.assert_allclose(l, per.mean().item(), rtol=RTOL[dtype])
    np.testing.assert_allclose(gm, m.grad.numpy(), rtol=RTOL[dtype], atol=ATOL[dtype])
    np.testing.assert_allclose(gl, v.grad.numpy(), rtol=RTOL[dtype], atol=ATOL[dtype])
    out = losslab.gaussian_kl_loss(mu, lv, reduction="none")
    np.testing.assert_allclose(out, per.detach().numpy(), rtol=RTOL[dtype] * 3)


def test_gaussian_kl_extreme_logvar():
    """logvar = +-50 stays finite in float32 (exp(50) = 5.2e21)."""
    mu = np.zeros((1, 2), np.float32)
    lv = np.array([[50.0, -50.0]], np.float32)
    l, (gm, gl) = losslab.gaussian_kl_loss(mu, lv, return_grad=True)
    want = 0.5 * (np.exp(50.0) - 51.0) + 0.5 * (np.exp(-50.0) + 49.0)
    assert np.isfinite(l) and np.all(np.isfinite(gl))
    np.testing.assert_allclose(l, want, rtol=1e-5)
    np.testing.assert_allclose(gl, [[0.5 * np.expm1(50.0), -0.5]], rtol=1e-5)
    l100 = losslab.gaussian_kl_loss(mu, np.array([[100.0, 0.0]], np.float32))
    assert l100 == np.inf  # overflow is +inf, never NaN


def test_vae(rng):
    """Oracle: torch BCE-with-logits summed per sample plus beta KL."""
    recon = rng.normal(size=(4, 6)); x = rng.uniform(size=(4, 6))
    mu = rng.normal(size=(4, 3)); lv = rng.normal(size=(4, 3))
    rt = torch.tensor(recon, requires_grad=True)
    per, m, v = kl_ref(mu, lv)
    rec = F.binary_cross_entropy_with_logits(rt, torch.tensor(x), reduction="none").sum(1).mean()
    total = rec + 0.5 * per.mean()
    total.backward()
    res, (gr, gm, gl) = losslab.vae_loss(recon, x, mu, lv, beta=0.5, return_grad=True)
    np.testing.assert_allclose(res["loss"], total.item(), rtol=1e-10)
    np.testing.assert_allclose(res["reconstruction"], rec.item(), rtol=1e-10)
    np.testing.assert_allclose(res["kl"], per.mean().item(), rtol=1e-10)
    for got, w in ((gr, rt.grad), (gm, m.grad), (gl, v.grad)):
        np.testing.assert_allclose(got, w.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("var_shape", [(6, 4), (6,), (6, 1), (1, 4)])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_matches_torch(rng, dtype, var_shape, full):
    """Oracle: torch.nn.functional.gaussian_nll_loss (clamp outside autograd,
    var shapes as torch allows); some variances below eps."""
    x = rng.normal(size=(6, 4)).astype(dtype)
    y = rng.normal(size=(6, 4)).astype(dtype)
    var = rng.uniform(0, 2, size=var_shape).astype(dtype)
    var.flat[0] = 1e-9
    xt = torch.tensor(x, requires_grad=True)
    vt = torch.tensor(var, requires_grad=True)
    ref = F.gaussian_nll_loss(xt, torch.tensor(y), vt, full=full)
    ref.backward()
    l, (gx, gv) = losslab.gaussian_nll_loss(x, y, var, full=full, return_grad=True)
    np.testing.assert_allclose(l, ref.item(), rtol=RTOL[dtype] * 3)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=RTOL[dtype] * 3, atol=ATOL[dtype])
    np.testing.assert_allclose(gv, vt.grad.numpy(), rtol=RTOL[dtype] * 10, atol=ATOL[dtype])


def test_threads_and_targets(rng, runtime_guard):
    x = rng.normal(size=5000).astype(np.float32) * 4
    res = {}
    for t in losslab.available_simd_targets():
        losslab.set_simd_target(t)
        res[t] = losslab.gan_discriminator_loss(x, x[::-1].copy(), kind="minimax",
                                                return_grad=True)
    for l, (gr, gf) in res.values():
        np.testing.assert_allclose(l, res["scalar"][0], rtol=1e-5)
        np.testing.assert_allclose(gr, res["scalar"][1][0], rtol=1e-5, atol=1e-9)
    losslab.set_simd_target("auto")
    mu = rng.normal(size=(3000, 16)).astype(np.float32)
    losslab.set_num_threads(1)
    a = losslab.gaussian_kl_loss(mu, mu, return_grad=True)
    losslab.set_num_threads(2)
    b = losslab.gaussian_kl_loss(mu, mu, return_grad=True)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1][1], b[1][1])


def test_errors():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="kind 'bad'"):
        losslab.gan_generator_loss(x, kind="bad")
    with pytest.raises(ValueError, match="kind 'l2'"):
        losslab.reconstruction_loss(x, x, kind="l2")
    with pytest.raises(ValueError, match="does not match"):
        losslab.gaussian_kl_loss(x, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="var shape"):
        losslab.gaussian_nll_loss(x, x, np.ones((2, 2)))
    with pytest.raises(ValueError, match="var has -1"):
        losslab.gaussian_nll_loss(x, x, -np.ones((3, 2)))
    with pytest.raises(ValueError, match="beta"):
        losslab.vae_loss(x, x, x, x, beta=-1.0)
    with pytest.raises(ValueError, match="empty"):
        losslab.gan_discriminator_loss(np.zeros(0), np.zeros(2))
    with pytest.raises(TypeError, match="dtype"):
        losslab.gan_generator_loss(np.zeros(3, np.int64))


def test_vae_loss_reduction_none_gives_per_sample_totals():
    """Oracle: torch ops, written out. reduction='none' returns the (N,)
    per-sample recon + beta * KL, and the two reported terms are their batch
    sums (docs/losses_generative.md)."""
    rng = np.random.default_rng(7)
    r = rng.normal(size=(5, 3))
    x = rng.uniform(size=(5, 3))
    mu, lv = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    out = losslab.vae_loss(r, x, mu, lv, beta=0.5, reduction="none")
    rec = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(r), torch.tensor(x), reduction="none").sum(1)
    kl = -0.5 * (1 + torch.tensor(lv) - torch.tensor(mu) ** 2 - torch.tensor(lv).exp()).sum(1)
    np.testing.assert_allclose(out["loss"], (rec + 0.5 * kl).numpy(), rtol=1e-12)
    assert out["reconstruction"] == pytest.approx(rec.sum().item(), rel=1e-12)
    assert out["kl"] == pytest.approx(kl.sum().item(), rel=1e-12)


def test_reconstruction_bce_domain_error_names_recon():
    # The elementwise op layer must name the caller's argument (recon), not
    # its own internal name (input), in the probability-domain message.
    x = np.full((2, 3), 0.5)
    recon = np.full((2, 3), 0.5)
    recon[1, 2] = 1.5
    with pytest.raises(ValueError, match=r"recon must be probabilities") as e:
        losslab.reconstruction_loss(recon, x, kind="bce")
    assert "input must" not in str(e.value)
