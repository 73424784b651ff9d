"""Segmentation losses and overlap metrics. Oracle: the cited formulas
written out with torch ops in float64, gradients by torch autograd (the
reference functions below), unless a test names another. float32 within
1e-5 relative, float64 within 1e-10."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab

RTOL = {np.float32: 1e-5, np.float64: 1e-10}
ATOL = {np.float32: 1e-6, np.float64: 1e-12}


def reference(kind, x, t, *, mode="multiclass", from_logits=True, cw=None,
              ignore_index=-100, per_image=False, smooth=1.0, eps=1e-7,
              alpha=0.5, beta=0.5, gamma=1.0, reduction="mean"):
    """Loss and gradient from the written-out formula (torch autograd, f64).

    Dice/Jaccard follow segmentation_models_pytorch's soft scores with the
    denominator clamped at eps; Tversky follows Salehi et al. with the
    focal exponent (1 - TI)^gamma (Abraham & Khan's code)."""
    xt = torch.tensor(np.asarray(x, np.float64), requires_grad=True)
    C = x.shape[1]
    if from_logits:
        p = xt.softmax(1) if mode == "multiclass" else xt.sigmoid()
    else:
        p = xt
    if np.issubdtype(np.asarray(t).dtype, np.integer):
        tt = torch.tensor(t)
        valid = (tt != ignore_index).unsqueeze(1).double()
        lab = torch.where(tt == ignore_index, torch.zeros_like(tt), tt)
        if mode == "multiclass":
            y = F.one_hot(lab, C).movedim(-1, 1).double()
        else:
            y = lab.unsqueeze(1).double()
        y = y * valid
        p = p * valid
    else:
        y = torch.tensor(np.asarray(t, np.float64))
    dims = tuple(range(2, x.ndim)) if per_image else (0,) + tuple(range(2, x.ndim))
    inter = (p * y).sum(dims)
    ps, ts = p.sum(dims), y.sum(dims)
    if kind == "dice":
        score = (2 * inter + smooth) / (ps + ts + smooth).clamp_min(eps)
        l = 1 - score
    elif kind == "jaccard":
        score = (inter + smooth) / (ps + ts - inter + smooth).clamp_min(eps)
        l = 1 - score
    else:
        den = inter + alpha * (ps - inter) + beta * (ts - inter) + smooth
        ti = (inter + smooth) / den.clamp_min(eps)
        l = (1 - ti) ** gamma
    w = torch.ones(C, dtype=torch.float64) if cw is None else torch.tensor(cw, dtype=torch.float64)
    lw = l * w
    if reduction == "none":
        out = lw
    elif reduction == "sum":
        out = lw.sum()
    else:
        out = lw.sum() / (w.sum() * (x.shape[0] if per_image else 1))
    out.sum().backward()
    return out.detach().numpy(), xt.grad.numpy()


def call(kind, x, t, **kw):
    fn = {"dice": losslab.dice_loss, "jaccard": losslab.jaccard_loss,
          "tversky": losslab.tversky_loss}[kind]
    return fn(x, t, return_grad=True, **kw)


def sample(rng, dtype, n=2, c=3, hw=(5, 7), mode="multiclass", mask=False):
    x = rng.normal(size=(n, c) + hw).astype(dtype) * 2
    if mode == "multilabel" or mask:
        t = (rng.uniform(size=x.shape) < 0.4).astype(dtype)
    elif mode == "binary":
        t = rng.integers(0, 2, size=(n,) + hw)
    else:
        t = rng.integers(0, c, size=(n,) + hw)
    return x, t


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["dice", "jaccard", "tversky"])
@pytest.mark.parametrize("mode", ["multiclass", "binary", "multilabel"])
def test_matches_reference(rng, dtype, kind, mode):
    c = 1 if mode == "binary" else 3
    x, t = sample(rng, dtype, c=c, mode=mode)
    kw = dict(mode=mode)
    if kind == "tversky":
        kw.update(alpha=0.3, beta=0.7)
    l, g = call(kind, x, t, **kw)
    lr, gr = reference(kind, x, t, **kw)
    assert g.dtype == dtype
    np.testing.assert_allclose(l, lr, rtol=RTOL[dtype], atol=ATOL[dtype])
    np.testing.assert_allclose(g, gr, rtol=RTOL[dtype] * 10, atol=ATOL[dtype])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("per_image", [False, True])
def test_options_weights_ignore_reduction(rng, reduction, per_image):
    x, t = sample(rng, np.float64, n=3, c=4, hw=(6, 5))
    t[0, :2, :] = 255
    kw = dict(cw=[1.0, 0.5, 2.0, 0.0], ignore_index=255, per_image=per_image,
              reduction=reduction, smooth=0.5)
    l, g = losslab.dice_loss(x, t, class_weights=np.array(kw["cw"]),
                             ignore_index=255, per_image=per_image,
                             reduction=reduction, smooth=0.5, return_grad=True)
    lr, gr = reference("dice", x, t, **kw)
    np.testing.assert_allclose(l, lr, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g, gr, rtol=1e-9, atol=1e-12)


def test_probabilities_and_mask_targets(rng):
    x, t = sample(rng, np.float64, mask=True)
    p = rng.uniform(size=x.shape)
    l, g = losslab.jaccard_loss(p, t, from_logits=False, mode="multilabel",
                                return_grad=True)
    lr, gr = reference("jaccard", p, t, from_logits=False, mode="multilabel")
    np.testing.assert_allclose(l, lr, rtol=1e-10)
    np.testing.assert_allclose(g, gr, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.75, 2.0])
def test_focal_tversky(rng, gamma):
    x, t = sample(rng, np.float64)
    l, g = losslab.tversky_loss(x, t, alpha=0.7, beta=0.3, gamma=gamma,
                                return_grad=True)
    lr, gr = reference("tversky", x, t, alpha=0.7, beta=0.3, gamma=gamma)
    np.testing.assert_allclose(l, lr, rtol=1e-10)
    np.testing.assert_allclose(g, gr, rtol=1e-9, atol=1e-12)


def test_tversky_half_half_is_dice_with_doubled_smooth(rng):
    """Oracle: algebra. (I+s)/(I+(P-I)/2+(T-I)/2+s) = (2I+2s)/(P+T+2s)."""
    x, t = sample(rng, np.float64)
    for s in (0.0, 1.0):
        a = losslab.tversky_loss(x, t, smooth=s, return_grad=True)
        b = losslab.dice_loss(x, t, smooth=2 * s, return_grad=True)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-9, atol=1e-14)


def test_empty_masks_and_all_ignored():
    """Empty prediction on an empty target: loss 0 with smooth > 0; with
    smooth = 0 the class scores 0/eps = 0 (loss 1). Everything ignored: 0 and
    a zero gradient. Gradients stay finite."""
    p = np.zeros((2, 1, 4, 4))
    t = np.zeros((2, 4, 4), np.int64)
    l, g = losslab.dice_loss(p, t, mode="binary", from_logits=False,
                             return_grad=True)
    assert l == 0.0 and np.all(np.isfinite(g))
    l0, g0 = losslab.dice_loss(p, t, mode="binary", from_logits=False,
                               smooth=0.0, return_grad=True)
    assert l0 == 1.0 and np.all(np.isfinite(g0))
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 4))
    t = np.full((2, 4, 4), -100)
    l, g = losslab.dice_loss(x, t, return_grad=True)
    assert np.all(np.isfinite(g))
    l1, g1 = losslab.dice_loss(x * 3, t, return_grad=True)
    np.testing.assert_array_equal(g, g1)  # no contribution from any pixel


def test_ignored_pixels_change_nothing(rng):
    """Oracle: invariance. Perturbing the logits of ignored pixels changes
    neither the loss nor the gradient elsewhere; their gradient is 0."""
    x, t = sample(rng, np.float64, hw=(8, 8))
    t[:, :3, :] = 255
    l, g = losslab.tversky_loss(x, t, ignore_index=255, return_grad=True)
    x2 = x.copy()
    x2[:, :, :3, :] += rng.normal(size=x2[:, :, :3, :].shape) * 10
    l2, g2 = losslab.tversky_loss(x2, t, ignore_index=255, return_grad=True)
    assert l == l2
    np.testing.assert_array_equal(g, g2)
    assert np.all(g[:, :, :3, :] == 0)


def test_saturated_logits_finite():
    x = np.array([[[1e4, -1e4]], [[-1e4, 1e4]]], np.float32).reshape(2, 2, 1)
    t = np.array([[0], [1]])
    for fn in (losslab.dice_loss, losslab.jaccard_loss, losslab.tversky_loss):
        l, g = fn(x, t, return_grad=True)
        assert np.isfinite(l) and np.all(np.isfinite(g))


@pytest.mark.parametrize("mode", ["multiclass", "binary"])
def test_dice_cross_entropy(rng, mode):
    """Oracle: the reference Dice plus torch's cross_entropy /
    binary_cross_entropy_with_logits (ignored pixels weighted 0)."""
    c = 1 if mode == "binary" else 3
    x, t = sample(rng, np.float64, c=c, mode=mode)
    t[0, 0, :] = 7
    l, g = losslab.dice_cross_entropy_loss(x, t, mode=mode, ignore_index=7,
                                           dice_weight=0.4, ce_weight=1.5,
                                           return_grad=True)
    ld, gd = reference("dice", x, t, mode=mode, ignore_index=7)
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t)
    if mode == "multiclass":
        ce = F.cross_entropy(xt, tt, ignore_index=7)
    else:
        w = (tt != 7).double().unsqueeze(1)
        y = (tt * (tt != 7)).double().unsqueeze(1)
        ce = (F.binary_cross_entropy_with_logits(xt, y, reduction="none") * w).sum() / w.sum()
    ce.backward()
    np.testing.assert_allclose(l, 0.4 * ld + 1.5 * ce.item(), rtol=1e-10)
    np.testing.assert_allclose(g, 0.4 * gd + 1.5 * xt.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_torch_tensors_and_upstream(rng):
    x, t = sample(rng, np.float32)
    l, g = losslab.dice_loss(torch.tensor(x), torch.tensor(t), return_grad=True,
                             grad_output=2.0)
    l1, g1 = losslab.dice_loss(x, t, return_grad=True)
    assert l == l1
    np.testing.assert_allclose(g, 2 * g1, rtol=1e-6)
    out, gn = losslab.dice_loss(x, t, reduction="none", return_grad=True,
                                grad_output=np.array([1, 0, 0], np.float32))
    _, gr = reference("dice", x.astype(np.float64), t, reduction="none")
    assert out.shape == (3,)


def test_simd_targets_and_threads(rng, runtime_guard):
    x, t = sample(rng, np.float32, n=2, c=5, hw=(70, 61))
    results = {}
    for target in losslab.available_simd_targets():
        losslab.set_simd_target(target)
        results[target] = losslab.dice_loss(x, t, return_grad=True)
    base = results["scalar"]
    for l, g in results.values():
        np.testing.assert_allclose(l, base[0], rtol=1e-5)
        np.testing.assert_allclose(g, base[1], rtol=1e-4, atol=1e-9)
    losslab.set_simd_target("auto")
    losslab.set_num_threads(1)
    a = losslab.jaccard_loss(x, t, return_grad=True)
    losslab.set_num_threads(2)
    b = losslab.jaccard_loss(x, t, return_grad=True)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("call,match", [
    (lambda x, t: losslab.dice_loss(x, np.full((2, 5, 7), 3)), "class 3"),
    (lambda x, t: losslab.dice_loss(x, t, mode="multi"), "mode 'multi'"),
    (lambda x, t: losslab.dice_loss(x, t[:, :4]), "target shape"),
    (lambda x, t: losslab.dice_loss(x, t, class_weights=np.ones(2)), "class_weights shape"),
    (lambda x, t: losslab.dice_loss(x, t, smooth=-1.0), "smooth=-1"),
    (lambda x, t: losslab.tversky_loss(x, t, alpha=-0.1), "alpha"),
    (lambda x, t: losslab.tversky_loss(x, t, beta=-0.1), "beta"),
    (lambda x, t: losslab.tversky_loss(x, t, gamma=0.0), "gamma"),
    (lambda x, t: losslab.dice_loss(x, t, mode="binary"), "binary"),
    (lambda x, t: losslab.dice_loss(x, t, mode="multilabel"), "multilabel"),
    (lambda x, t: losslab.dice_loss(x[:0], t[:0]), "empty"),
    (lambda x, t: losslab.dice_loss(x, t, from_logits=False), "probabilities"),
])
def test_errors(rng, call, match):
    x, t = sample(rng, np.float64)
    with pytest.raises(ValueError, match=match):
        call(x, t)


def test_metrics():
    """Oracle: counts by hand, and sklearn-free set arithmetic."""
    p = np.array([[1, 1, 0, 0]])
    t = np.array([[1, 0, 0, 0]])
    assert losslab.dice_score(p, t) == pytest.approx(2 / 3)
    assert losslab.iou_score(p, t) == pytest.approx(1 / 2)
    assert losslab.dice_score(np.zeros(4), np.zeros(4)) == 1.0  # empty-vs-empty
    pc = np.array([0, 1, 1, 2, 2, 0])
    tc = np.array([0, 1, 2, 2, 255, 0])
    m, per = losslab.iou_score(pc, tc, num_classes=4, ignore_index=255,
                               per_class=True)
    np.testing.assert_allclose(per, [1.0, 0.5, 0.5, 1.0])
    assert m == pytest.approx(0.75)
    with pytest.raises(ValueError, match="class 5"):
        losslab.dice_score(pc, np.full(6, 5), num_classes=4)
