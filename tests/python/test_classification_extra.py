"""hinge / squared hinge, multi_margin_loss, kl_div, kl_divergence and
sigmoid_focal_loss. Each test names its oracle: torch.nn.functional (PyTorch
2.13) where torch has the loss, the torchvision formula written with torch ops
for the focal loss (torchvision is not installed), otherwise the cited formula
in NumPy/torch float64. float32 within 1e-5 relative, float64 ~1e-12."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
ATOL = {np.float32: 1e-6, np.float64: 1e-14}
DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def assert_close(got, want, dtype, rtol=None, atol=None):
    np.testing.assert_allclose(got, want, rtol=rtol or RTOL[dtype],
                               atol=ATOL[dtype] if atol is None else atol)


def reduce_t(per, w, reduction):
    """Weighted reduction with losslab's rule (weighted mean / sum(w))."""
    if w is not None:
        per = per * w
    if reduction == "sum":
        return per.sum()
    if reduction == "mean":
        return per.sum() / (w.sum() if w is not None else per.numel())
    return per


# ---------------------------------------------------------------------------
# hinge_loss, squared_hinge_loss. Oracle: torch.relu(margin - y x) (squared),
# autograd for the gradient (relu'(0) = 0: the same kink convention).


def hinge_data(dtype, labels01):
    rng = np.random.default_rng(5)
    x = rng.normal(0, 2, size=(23, 3)).astype(dtype)
    y = rng.choice([-1.0, 1.0], size=(23, 3)).astype(dtype)
    x[0, 0], y[0, 0] = 1.0, 1.0      # on the kink: y x = margin (1)
    x[0, 1], y[0, 1] = -1.0, -1.0
    w = rng.uniform(0, 2, size=(23, 3)).astype(dtype)
    y_in = np.where(y > 0, 1, 0).astype(dtype) if labels01 else y
    return x, y, y_in, w


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("labels01", [False, True])
def test_hinge_matches_relu_formula(dtype, reduction, weighted, squared,
                                    labels01):
    x, y, y_in, w = hinge_data(dtype, labels01)
    w = w if weighted else None
    xt = torch.tensor(x, requires_grad=True)
    per = torch.relu(1.0 - torch.tensor(y) * xt)
    if squared:
        per = per ** 2
    want = reduce_t(per, None if w is None else torch.tensor(w), reduction)
    want.sum().backward()
    fn = losslab.squared_hinge_loss if squared else losslab.hinge_loss
    got, g = fn(x, y_in, weight=w, reduction=reduction, return_grad=True)
    assert_close(got, want.detach().numpy(), dtype)
    assert_close(g, xt.grad.numpy(), dtype)


def test_hinge_margin_and_sklearn():
    # Oracle: sklearn.metrics.hinge_loss (mean of max(0, 1 - y x)) for
    # margin 1, and the formula for margin 0.5.
    from sklearn.metrics import hinge_loss as sk_hinge
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = rng.choice([-1.0, 1.0], size=50)
    assert losslab.hinge_loss(x, y) == pytest.approx(sk_hinge(y, x), rel=1e-14)
    want = np.maximum(0, 0.5 - y * x).mean()
    assert losslab.hinge_loss(x, y, margin=0.5) == pytest.approx(want,
                                                                 rel=1e-14)


def test_hinge_kink_convention():
    # Pins the subgradient 0 at the kink (y x = margin), and the squared
    # hinge's Hessian 0 there (2 on the active side).
    x = np.array([1.0, -1.0, 0.5, 2.0])
    y = np.array([1.0, -1.0, 1.0, 1.0])
    _, g, h = losslab.hinge_loss(x, y, reduction="sum", return_hess=True)
    np.testing.assert_array_equal(g, [0.0, 0.0, -1.0, 0.0])
    np.testing.assert_array_equal(h, [0.0, 0.0, 0.0, 0.0])
    _, g, h = losslab.squared_hinge_loss(x, y, reduction="sum",
                                         return_hess=True)
    np.testing.assert_array_equal(g, [0.0, 0.0, -1.0, 0.0])
    np.testing.assert_array_equal(h, [0.0, 0.0, 2.0, 0.0])


def test_hinge_zero_label_means_minus_one():
    # Pins the documented {0, 1} -> {-1, 1} mapping.
    x = np.array([0.3, -2.0, 1.5])
    a = losslab.hinge_loss(x, np.array([0.0, 1.0, 0.0]), reduction="none")
    b = losslab.hinge_loss(x, np.array([-1.0, 1.0, -1.0]), reduction="none")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [2.0, 0.5, -0.5, np.nan])
def test_hinge_bad_label_names_index(bad):
    y = np.ones(9)
    y[6] = bad
    with pytest.raises(ValueError, match="at index 6"):
        losslab.hinge_loss(np.zeros(9), y)


def test_hinge_torch_tensors_and_margin_error():
    x = torch.linspace(-2, 2, 10, dtype=torch.float32)
    y = torch.ones(10, dtype=torch.float32)
    got = losslab.squared_hinge_loss(x, y, reduction="sum")
    assert got == pytest.approx(torch.relu(1 - x).pow(2).sum().item(),
                                rel=1e-6)
    with pytest.raises(ValueError, match="margin must be finite"):
        losslab.hinge_loss(x, y, margin=float("inf"))


# ---------------------------------------------------------------------------
# multi_margin_loss. Oracle: torch.nn.functional.multi_margin_loss.


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_multi_margin_matches_torch(dtype, reduction, p, weighted, margin):
    rng = np.random.default_rng(7)
    n, c = 29, 19
    x = rng.normal(0, 1, size=(n, c)).astype(dtype)
    y = rng.integers(0, c, size=n)
    w = rng.uniform(0.1, 2, size=c).astype(dtype) if weighted else None
    xt = torch.tensor(x, requires_grad=True)
    want = F.multi_margin_loss(xt, torch.tensor(y), p=p, margin=margin,
                               weight=None if w is None else torch.tensor(w),
                               reduction=reduction)
    want.sum().backward()
    got, g = losslab.multi_margin_loss(x, y.astype(np.int32 if p == 2 else
                                                   np.int64),
                                       p=p, margin=margin, weight=w,
                                       reduction=reduction, return_grad=True)
    assert_close(got, want.detach().numpy(), dtype)
    assert_close(g, xt.grad.numpy(), dtype)


def test_multi_margin_weighted_mean_divides_by_n():
    # Pins torch's rule (differs from cross_entropy's sum of weights).
    x = np.array([[0.1, 0.9, 0.2], [0.5, 0.4, 0.3]])
    y = np.array([1, 0])
    w = np.array([3.0, 0.5, 1.0])
    per = losslab.multi_margin_loss(x, y, weight=w, reduction="none")
    assert losslab.multi_margin_loss(x, y, weight=w) == pytest.approx(
        per.sum() / 2, rel=1e-15)


def test_multi_margin_unbatched_and_upstream_gradient():
    x = np.array([0.2, -1.0, 0.7, 0.1])
    want = F.multi_margin_loss(torch.tensor(x)[None], torch.tensor([2])).item()
    assert losslab.multi_margin_loss(x, np.array(2)) == pytest.approx(
        want, rel=1e-14)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 5))
    y = rng.integers(0, 5, size=6)
    go = rng.uniform(0.5, 2, size=6)
    xt = torch.tensor(x, requires_grad=True)
    F.multi_margin_loss(xt, torch.tensor(y), p=2, reduction="none").backward(
        torch.tensor(go))
    _, g = losslab.multi_margin_loss(x, y, p=2, reduction="none",
                                     return_grad=True, grad_output=go)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_multi_margin_errors_and_nan_row():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="class 4 at index 1"):
        losslab.multi_margin_loss(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        losslab.multi_margin_loss(x, np.array([0, 1, 1]), p=3)
    with pytest.raises(TypeError, match="int64 or int32"):
        losslab.multi_margin_loss(x, np.zeros(3))
    with pytest.raises(ValueError, match="weight shape"):
        losslab.multi_margin_loss(x, np.array([0, 1, 1]), weight=np.ones(3))
    # Documented difference: a NaN score makes its row NaN (torch skips it).
    x[1, 2] = np.nan
    out = losslab.multi_margin_loss(x, np.array([0, 1, 1]), reduction="none")
    assert np.isfinite(out[[0, 2]]).all() and np.isnan(out[1])


# ---------------------------------------------------------------------------
# kl_div. Oracle: torch.nn.functional.kl_div.


def kl_data(dtype, log_target, n=17, c=6, seed=11):
    rng = np.random.default_rng(seed)
    logq = torch.log_softmax(torch.tensor(rng.normal(size=(n, c))), 1)
    p = torch.softmax(torch.tensor(rng.normal(size=(n, c))), 1).numpy()
    # 0 log 0 = 0 (as a log-target, -inf gives NaN in torch: pinned apart by
    # test_kl_div_zero_target_is_zero_even_at_minus_inf).
    p[0, :3] = 1e-30 if log_target else 0.0
    y = np.log(p) if log_target else p
    return logq.numpy().astype(dtype), y.astype(dtype)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(dtype, reduction, log_target):
    x, y = kl_data(dtype, log_target)
    xt = torch.tensor(x, requires_grad=True)
    want = F.kl_div(xt, torch.tensor(y), reduction=reduction,
                    log_target=log_target)
    want.sum().backward()
    got, g = losslab.kl_div(x, y, reduction=reduction, log_target=log_target,
                            return_grad=True)
    assert_close(got, want.detach().numpy(), dtype)
    assert_close(g, xt.grad.numpy(), dtype)


def test_kl_div_default_reduction_is_batchmean():
    # Pins the documented default (torch's default is 'mean').
    x, y = kl_data(np.float64, False)
    want = F.kl_div(torch.tensor(x), torch.tensor(y), reduction="batchmean")
    assert losslab.kl_div(x, y) == pytest.approx(want.item(), rel=1e-13)


def test_kl_div_zero_target_is_zero_even_at_minus_inf():
    # 0 log 0 = 0 in value and gradient; torch gives NaN where input = -inf.
    x = np.array([-np.inf, -1.0, -0.5])
    y = np.array([0.0, 0.0, 1.0])
    out, g = losslab.kl_div(x, y, reduction="none", return_grad=True)
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.5])
    np.testing.assert_array_equal(g, [0.0, 0.0, -1.0])
    assert np.isnan(F.kl_div(torch.tensor(x), torch.tensor(y),
                             reduction="none")[0].item())
    with np.errstate(divide="ignore"):
        ly = np.log(y)
    out = losslab.kl_div(x, ly, log_target=True, reduction="none")
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.5])


def test_kl_div_errors():
    with pytest.raises(ValueError, match="probabilities >= 0; got -0.5 at "
                                         "index 1.*log_target=True"):
        losslab.kl_div(np.zeros(3), np.array([0.5, -0.5, 0.2]))
    with pytest.raises(ValueError, match="target contains inf at index 2"):
        losslab.kl_div(np.zeros(3), np.array([0.0, -1.0, np.inf]),
                       log_target=True)
    with pytest.raises(ValueError, match="batchmean"):
        losslab.hinge_loss(np.zeros(3), np.ones(3), reduction="batchmean")


# ---------------------------------------------------------------------------
# kl_divergence(p, q). Oracle: F.kl_div(q.log(), p) (batchmean / sum / none
# summed per row), gradient by autograd through q.


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_kl_divergence_matches_torch(dtype, reduction):
    rng = np.random.default_rng(13)
    p = rng.dirichlet(np.ones(7), size=(4, 5)).astype(dtype)
    q = rng.dirichlet(np.ones(7), size=(4, 5)).astype(dtype)
    p[0, 0, :2] = 0.0
    qt = torch.tensor(q, requires_grad=True)
    per = F.kl_div(qt.log(), torch.tensor(p), reduction="none").sum(-1)
    want = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    want.sum().backward()
    got, g, h = losslab.kl_divergence(p, q, reduction=reduction,
                                      return_hess=True)
    assert_close(got, want.detach().numpy(), dtype)
    assert_close(g, qt.grad.numpy(), dtype)
    scale = {"mean": 1 / 20, "sum": 1.0, "none": 1.0}[reduction]
    assert_close(h, scale * p.astype(np.float64) / q.astype(np.float64) ** 2,
                 dtype)


def test_kl_divergence_zero_q_is_inf_not_nan():
    p = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    q = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    out, g = losslab.kl_divergence(p, q, reduction="none", return_grad=True)
    assert out[0] == np.inf and out[1] == 0.0
    np.testing.assert_array_equal(g[0], [-0.5, -np.inf, 0.0])
    with pytest.raises(ValueError, match="q must hold probabilities >= 0"):
        losslab.kl_divergence(p, -q)
    with pytest.raises(ValueError, match="p must hold probabilities >= 0"):
        losslab.kl_divergence(-p, q)


# ---------------------------------------------------------------------------
# sigmoid_focal_loss. Oracle: torchvision.ops.sigmoid_focal_loss written
# with torch ops in float64 (torchvision is not installed).


def torchvision_focal(x, y, alpha, gamma):
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha is not None and alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("alpha", [0.25, None])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_sigmoid_focal_matches_torchvision(dtype, reduction, alpha, gamma,
                                           weighted):
    rng = np.random.default_rng(17)
    x = rng.normal(0, 3, size=(31, 4)).astype(dtype)
    y = rng.uniform(0, 1, size=(31, 4)).astype(dtype)
    y[::2] = np.round(y[::2])
    w = rng.uniform(0, 2, size=(31, 4)).astype(dtype) if weighted else None
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    per = torchvision_focal(xt, torch.tensor(y.astype(np.float64)), alpha,
                            gamma)
    want = reduce_t(per, None if w is None else torch.tensor(
        w.astype(np.float64)), reduction)
    want.sum().backward()
    got, g = losslab.sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma,
                                        weight=w, reduction=reduction,
                                        return_grad=True)
    assert_close(got, want.detach().numpy(), dtype)
    assert_close(g, xt.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_focal_gamma_zero_is_bce_exactly(dtype):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 5, size=101).astype(dtype)
    y = rng.uniform(0, 1, size=101).astype(dtype)
    a, ga = losslab.sigmoid_focal_loss(x, y, alpha=None, gamma=0.0,
                                       reduction="none", return_grad=True)
    b, gb = losslab.binary_cross_entropy_with_logits(
        x, y, reduction="none", return_grad=True)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ga, gb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
def test_sigmoid_focal_saturated_logits_are_finite(dtype, gamma):
    x = np.array([100, -100, 1e4, -1e4, 100, -100, 1e4, -1e4, 3e38, -3e38],
                 dtype)
    y = np.array([1, 0, 1, 0, 0, 1, 0, 1, 0.5, 0.3], dtype)
    out, g = losslab.sigmoid_focal_loss(x, y, gamma=gamma, reduction="none",
                                        return_grad=True)
    assert np.isfinite(out).all() and np.isfinite(g).all()
    # Confident and right: 0 loss, 0 gradient. Confident and wrong: the loss
    # is (1 - alpha) |x| or alpha |x| (the focal factor is 1).
    np.testing.assert_allclose(out[:4], 0.0, atol=1e-30)
    np.testing.assert_allclose(out[4:8], [75, 25, 7500, 2500], rtol=1e-6)
    np.testing.assert_allclose(g[4:8], [0.75, -0.25, 0.75, -0.25], rtol=1e-6)


def test_sigmoid_focal_errors():
    with pytest.raises(ValueError, match="gamma=-1 must be finite and >= 0"):
        losslab.sigmoid_focal_loss(np.zeros(2), np.ones(2), gamma=-1.0)
    with pytest.raises(ValueError, match="alpha=1.5 must lie in"):
        losslab.sigmoid_focal_loss(np.zeros(2), np.ones(2), alpha=1.5)
    with pytest.raises(ValueError, match="target must lie in"):
        losslab.sigmoid_focal_loss(np.zeros(2), np.array([0.0, 2.0]))


def test_new_losses_are_exported_and_threads_are_bitwise(runtime_guard):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3000, 40)).astype(np.float32)
    y = rng.integers(0, 40, size=3000)
    lab = np.where(x > 0.3, 1.0, -1.0).astype(np.float32)
    res = []
    for threads in (1, 2):
        losslab.set_num_threads(threads)
        res.append((losslab.multi_margin_loss(x, y, p=2, return_grad=True),
                    losslab.hinge_loss(x, lab, return_grad=True),
                    losslab.sigmoid_focal_loss(x, (lab > 0).astype(np.float32),
                                               return_grad=True)))
    for (a, ga), (b, gb) in zip(res[0], res[1]):
        assert a == b
        np.testing.assert_array_equal(ga, gb)
