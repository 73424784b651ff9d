"""Classification losses against torch.nn.functional (the oracle, unless a
test names another). float32 within 1e-5 relative, float64 within 1e-12."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
ATOL = {np.float32: 1e-6, np.float64: 1e-14}
DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def torch_value_and_grad(fn, x, *args, reduction="mean", **kw):
    """Loss and d(sum of loss)/dx from torch, in x's dtype."""
    xt = torch.tensor(x, requires_grad=True)
    loss = fn(xt, *args, reduction=reduction, **kw)
    loss.sum().backward()
    return loss.detach().numpy(), xt.grad.numpy()


def assert_close(got, want, dtype):
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=ATOL[dtype])


def torch_binary(fn, x, y, w, reduction, **kw):
    """torch's loss and gradient, with losslab's weighted mean.

    Documented difference: torch's binary losses divide a weighted mean by
    the element count N; losslab (like torch's own cross_entropy/nll_loss,
    and every losslab loss) divides by sum(weight). The oracle is torch's
    weighted sum divided by sum(weight)."""
    wt = None if w is None else torch.tensor(w)
    if reduction == "mean" and w is not None:
        s, g = torch_value_and_grad(fn, x, torch.tensor(y), weight=wt,
                                    reduction="sum", **kw)
        sw = w.astype(np.float64).sum()
        return s / sw, g / sw
    return torch_value_and_grad(fn, x, torch.tensor(y), weight=wt,
                                reduction=reduction, **kw)


# ---------------------------------------------------------------------------
# binary_cross_entropy_with_logits


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weight", [None, "per_class", "single"])
def test_bce_with_logits_matches_torch(dtype, reduction, weighted, pos_weight):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 4, size=(37, 5)).astype(dtype)
    y = rng.uniform(0, 1, size=(37, 5)).astype(dtype)
    y[::3] = np.round(y[::3])
    w = rng.uniform(0, 2, size=(37, 5)).astype(dtype) if weighted else None
    pw = {None: None, "per_class": rng.uniform(0.2, 4, size=5),
          "single": np.array([3.0])}[pos_weight]
    pw = None if pw is None else pw.astype(dtype)
    want, want_g = torch_binary(
        F.binary_cross_entropy_with_logits, x, y, w, reduction,
        pos_weight=None if pw is None else torch.tensor(pw))
    got, g = losslab.binary_cross_entropy_with_logits(
        x, y, weight=w, pos_weight=pw, reduction=reduction, return_grad=True)
    assert_close(got, want, dtype)
    assert_close(g, want_g, dtype)


def test_binary_weighted_mean_divides_by_weight_sum():
    # Pins the documented difference from torch (which divides by N).
    x = np.array([0.3, -1.0, 2.0])
    y = np.array([1.0, 0.0, 1.0])
    w = np.array([2.0, 0.5, 0.0])
    per = losslab.binary_cross_entropy_with_logits(x, y, reduction="none")
    got = losslab.binary_cross_entropy_with_logits(x, y, weight=w)
    assert got == pytest.approx((w * per).sum() / w.sum(), rel=1e-15)


def test_bce_with_logits_hessian_is_sigmoid_derivative():
    # Oracle: torch.autograd second derivative of the summed loss.
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3, size=50)
    y = rng.uniform(0, 1, size=50)
    pw = np.array([2.0])
    xt = torch.tensor(x, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(
        xt, torch.tensor(y), pos_weight=torch.tensor(pw), reduction="sum")
    (g,) = torch.autograd.grad(loss, xt, create_graph=True)
    h = torch.autograd.grad(g.sum(), xt)[0].numpy()
    _, _, hess = losslab.binary_cross_entropy_with_logits(
        x, y, pos_weight=pw, reduction="sum", return_hess=True)
    np.testing.assert_allclose(hess, h, rtol=1e-12, atol=1e-15)


def test_bce_with_logits_gradient_at_zero_is_exact():
    # Oracle: sigma(0) = 1/2 exactly.
    y = np.linspace(0, 1, 11, dtype=np.float32)
    _, g = losslab.binary_cross_entropy_with_logits(
        np.zeros(11, np.float32), y, reduction="sum", return_grad=True)
    np.testing.assert_array_equal(g, np.float32(0.5) - y)


def test_bce_with_logits_saturated_logits_are_finite():
    x = np.array([-200.0, 200.0, -1e30, 1e30], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0], np.float32)
    out, g, h = losslab.binary_cross_entropy_with_logits(
        x, y, reduction="none", return_hess=True)
    want = F.binary_cross_entropy_with_logits(
        torch.tensor(x), torch.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(out, want, rtol=1e-6)
    assert np.isfinite(g).all() and np.isfinite(h).all()


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
def test_bce_with_logits_target_outside_unit_interval(bad):
    y = np.full(10, 0.5)
    y[7] = bad
    with pytest.raises(ValueError, match="at index 7"):
        losslab.binary_cross_entropy_with_logits(np.zeros(10), y)


def test_bce_with_logits_pos_weight_indexes_last_dim():
    # Oracle: torch's documented broadcasting of pos_weight along the class
    # (last) dimension; a (N,) pos_weight on (N, C) input is an error here.
    x = np.zeros((4, 3))
    y = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"pos_weight shape \(4,\) must be \(3,\)"):
        losslab.binary_cross_entropy_with_logits(x, y, pos_weight=np.ones(4))


# ---------------------------------------------------------------------------
# binary_cross_entropy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_matches_torch(dtype, reduction, weighted):
    rng = np.random.default_rng(2)
    x = rng.uniform(0.01, 0.99, size=(41,)).astype(dtype)
    x[:4] = [0.0, 1.0, 0.0, 1.0]  # clamped logs: loss 100 or 0
    y = rng.uniform(0, 1, size=(41,)).astype(dtype)
    y[:4] = [1.0, 0.0, 0.0, 1.0]
    w = rng.uniform(0, 2, size=41).astype(dtype) if weighted else None
    want, want_g = torch_binary(F.binary_cross_entropy, x, y, w, reduction)
    got, g = losslab.binary_cross_entropy(
        x, y, weight=w, reduction=reduction, return_grad=True)
    assert_close(got, want, dtype)
    assert_close(g, want_g, dtype)


def test_bce_input_outside_unit_interval_suggests_logits():
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits"):
        losslab.binary_cross_entropy(np.array([0.5, 1.2]), np.array([1.0, 0.0]))


# ---------------------------------------------------------------------------
# cross_entropy and nll_loss


def class_data(dtype, n=31, c=7, spatial=(), seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 3, size=(n, c) + spatial).astype(dtype)
    y = rng.integers(0, c, size=(n,) + spatial).astype(np.int64)
    y.reshape(-1)[::4] = -1  # ignore_index=-1 in the tests that use it
    w = rng.uniform(0.1, 2.0, size=c).astype(dtype)
    return x, y, w


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "weighted,ignore,eps,reduction",
    list(itertools.product([False, True], [-100, -1, 2], [0.0, 0.1, 1.0],
                           REDUCTIONS)))
def test_cross_entropy_every_option_matches_torch(dtype, weighted, ignore, eps,
                                                  reduction):
    x, y, w = class_data(dtype)
    if ignore == -100:
        y = np.where(y < 0, 0, y)  # nothing ignored
    elif ignore == 2:
        y = np.where(y < 0, 2, y)  # a real class index used as ignore_index
    weight = w if weighted else None
    want, want_g = torch_value_and_grad(
        F.cross_entropy, x, torch.tensor(y),
        weight=None if weight is None else torch.tensor(weight),
        ignore_index=ignore, label_smoothing=eps, reduction=reduction)
    got, g = losslab.cross_entropy(
        x, y, weight=weight, ignore_index=ignore, label_smoothing=eps,
        reduction=reduction, return_grad=True)
    assert_close(got, want, dtype)
    assert_close(g, want_g, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_and_int32_targets(dtype, reduction):
    x, y, w = class_data(dtype, n=4, c=5, spatial=(3, 2))
    want, want_g = torch_value_and_grad(
        F.cross_entropy, x, torch.tensor(y), weight=torch.tensor(w),
        ignore_index=-1, label_smoothing=0.2, reduction=reduction)
    got, g = losslab.cross_entropy(
        x, y.astype(np.int32), weight=w, ignore_index=-1, label_smoothing=0.2,
        reduction=reduction, return_grad=True)
    assert_close(got, want, dtype)
    assert_close(g, want_g, dtype)


def test_cross_entropy_unbatched_input():
    x = np.array([1.0, -2.0, 0.5])
    want = F.cross_entropy(torch.tensor(x), torch.tensor(2)).item()
    assert losslab.cross_entropy(x, np.array(2)) == pytest.approx(want, rel=1e-14)


def test_cross_entropy_minus_inf_logits():
    # Oracle: hand value ln 2 (and torch agrees).
    x = np.array([[0.0, 0.0, -np.inf]])
    loss, g = losslab.cross_entropy(x, np.array([0]), return_grad=True)
    assert loss == pytest.approx(np.log(2.0), rel=1e-15)
    np.testing.assert_array_equal(g, [[-0.5, 0.5, 0.0]])
    assert F.cross_entropy(torch.tensor(x), torch.tensor([0])).item() == \
        pytest.approx(np.log(2.0))


def test_cross_entropy_invariant_to_row_offset():
    # Oracle: softmax shift invariance (optax's stability property).
    x, y, _ = class_data(np.float64)
    y = np.abs(y)
    a, ga = losslab.cross_entropy(x, y, label_smoothing=0.1, return_grad=True)
    b, gb = losslab.cross_entropy(x + 1e6, y, label_smoothing=0.1,
                                  return_grad=True)
    assert b == pytest.approx(a, rel=1e-9)
    np.testing.assert_allclose(gb, ga, atol=1e-9)


def test_cross_entropy_all_ignored_mean_is_zero():
    # Documented difference: torch returns nan here.
    x = np.ones((3, 4), np.float32)
    y = np.full(3, -100)
    loss, g = losslab.cross_entropy(x, y, return_grad=True)
    assert loss == 0.0
    assert not g.any()
    assert np.isnan(F.cross_entropy(torch.tensor(x), torch.tensor(y)).item())


@pytest.mark.parametrize("label", [5, -3])
def test_cross_entropy_bad_label_names_index(label):
    y = np.array([0, 1, label, 2])
    with pytest.raises(ValueError, match=f"class {label} at index 2"):
        losslab.cross_entropy(np.zeros((4, 5)), y)


def test_cross_entropy_bad_arguments():
    x = np.zeros((4, 3))
    with pytest.raises(TypeError, match="cast the class indices to int64"):
        losslab.cross_entropy(x, np.zeros(4, np.int16))
    # A float target is read as class probabilities (of the input's shape).
    with pytest.raises(ValueError, match="probability target shape \\(4,\\)"):
        losslab.cross_entropy(x, np.zeros(4))
    with pytest.raises(ValueError, match="expected \\(4,\\)"):
        losslab.cross_entropy(x, np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="weight shape"):
        losslab.cross_entropy(x, np.zeros(4, np.int64), weight=np.ones(2))
    with pytest.raises(ValueError, match="label_smoothing"):
        losslab.cross_entropy(x, np.zeros(4, np.int64), label_smoothing=-0.1)
    with pytest.raises(ValueError, match="weight must be finite and >= 0"):
        losslab.cross_entropy(x, np.zeros(4, np.int64),
                              weight=np.array([1.0, -1.0, 1.0]))


def test_cross_entropy_upstream_gradient_none():
    x, y, w = class_data(np.float64)
    go = np.random.default_rng(9).uniform(0.5, 2.0, size=y.shape)
    xt = torch.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, torch.tensor(y), weight=torch.tensor(w),
                           ignore_index=-1, reduction="none")
    loss.backward(torch.tensor(go))
    _, g = losslab.cross_entropy(x, y, weight=w, ignore_index=-1,
                                 reduction="none", return_grad=True,
                                 grad_output=go)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_threads_are_bitwise_identical():
    x, y, w = class_data(np.float32, n=5000, c=33)
    losslab.set_num_threads(1)
    a, ga = losslab.cross_entropy(x, y, weight=w, ignore_index=-1,
                                  label_smoothing=0.1, return_grad=True)
    losslab.set_num_threads(4)
    b, gb = losslab.cross_entropy(x, y, weight=w, ignore_index=-1,
                                  label_smoothing=0.1, return_grad=True)
    losslab.set_num_threads(0)
    assert a == b
    np.testing.assert_array_equal(ga, gb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_torch(dtype, reduction, weighted):
    x, y, w = class_data(dtype, spatial=(2,))
    logp = torch.log_softmax(torch.tensor(x), 1).numpy()
    weight = w if weighted else None
    want, want_g = torch_value_and_grad(
        F.nll_loss, logp, torch.tensor(y),
        weight=None if weight is None else torch.tensor(weight),
        ignore_index=-1, reduction=reduction)
    got, g = losslab.nll_loss(logp, y, weight=weight, ignore_index=-1,
                              reduction=reduction, return_grad=True)
    assert_close(got, want, dtype)
    assert_close(g, want_g, dtype)


def test_classification_losses_are_exported():
    for name in losslab.CLASSIFICATION_LOSSES:
        assert name in losslab.__all__
        assert callable(getattr(losslab, name))
