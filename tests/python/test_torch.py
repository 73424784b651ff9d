"""losslab.torch: autograd functions and modules.

Oracles: torch.autograd.gradcheck (central differences, float64) for every
wrapped loss; torch.nn.functional for the losses PyTorch has (values and
autograd gradients); a seeded training run compared against the same run
with torch.nn.functional.cross_entropy.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab
import losslab.torch as LT

REDUCTIONS = ["mean", "sum", "none"]


def regression_inputs(name, dtype=torch.float64, n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dtype=dtype, generator=g)
    y = torch.randn(n, dtype=dtype, generator=g)
    if name == "poisson_nll_loss":
        y = y.abs() * 3
    # Keep away from the kinks (|d| = 0, delta, beta) where central
    # differences are not defined.
    d = x - y
    x = torch.where(d.abs() < 0.05, x + 0.2, x)
    x = torch.where((d.abs() - 1.0).abs() < 0.05, x + 0.2, x)
    return x.requires_grad_(True), y


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(losslab.REGRESSION_LOSSES))
def test_gradcheck_regression(name, reduction):
    """torch.autograd.gradcheck in float64 (central differences)."""
    x, y = regression_inputs(name)
    fn = getattr(LT, name)
    assert torch.autograd.gradcheck(lambda a: fn(a, y, reduction=reduction), (x,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_cross_entropy_and_bce(reduction):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    labels = torch.tensor([0, 4, 2, -100, 1, 3])
    w = torch.rand(5, dtype=torch.float64, generator=g) + 0.5
    assert torch.autograd.gradcheck(
        lambda a: LT.cross_entropy(a, labels, weight=w, label_smoothing=0.1,
                                   reduction=reduction), (logits,))
    x = torch.randn(7, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.rand(7, dtype=torch.float64, generator=g)
    assert torch.autograd.gradcheck(
        lambda a: LT.binary_cross_entropy_with_logits(a, y, reduction=reduction), (x,))


def _classification_case(name, g):
    f64 = dict(dtype=torch.float64, generator=g)
    if name in ("hinge_loss", "squared_hinge_loss"):
        x = torch.randn(9, **f64)
        y = torch.tensor([1.0, -1, 1, -1, 1, 1, -1, -1, 1], dtype=torch.float64)
        x = torch.where((1 - x * y).abs() < 0.05, x + 0.3, x)  # off the kink
        return (x.requires_grad_(True), y), 0
    if name == "multi_margin_loss":
        return (torch.randn(5, 4, **f64).requires_grad_(True), torch.tensor([0, 3, 1, 2, 1])), 0
    if name == "kl_div":
        inp = torch.log_softmax(torch.randn(4, 3, **f64), 1)
        return (inp.requires_grad_(True), torch.softmax(torch.randn(4, 3, **f64), 1)), 0
    if name == "kl_divergence":
        p = torch.softmax(torch.randn(4, 3, **f64), 1)
        return (p, torch.softmax(torch.randn(4, 3, **f64), 1).requires_grad_(True)), 1
    if name == "sigmoid_focal_loss":
        return (torch.randn(8, **f64).requires_grad_(True), (torch.rand(8, **f64) > 0.5).double()), 0
    if name == "softmax_focal_loss":
        return (torch.randn(6, 4, **f64).requires_grad_(True), torch.tensor([0, 3, 1, -100, 2, 2])), 0
    if name == "nll_loss":
        return (torch.log_softmax(torch.randn(5, 3, **f64), 1).requires_grad_(True),
                torch.tensor([0, 2, 1, 1, 0])), 0
    if name == "binary_cross_entropy":
        return (torch.rand(7, **f64).clamp(0.05, 0.95).requires_grad_(True), torch.rand(7, **f64)), 0
    return None


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", [n for n in losslab.CLASSIFICATION_LOSSES
                                  if n not in ("cross_entropy", "binary_cross_entropy_with_logits")])
def test_gradcheck_classification(name, reduction):
    """gradcheck (float64 central differences) for every other classification
    loss, on the argument losslab differentiates (q for kl_divergence)."""
    g = torch.Generator().manual_seed(5)
    (a, b), wrt = _classification_case(name, g)
    fn = getattr(LT, name)
    if reduction == "mean" and name == "kl_div":
        reduction = "batchmean"
    if wrt == 0:
        assert torch.autograd.gradcheck(lambda x: fn(x, b, reduction=reduction), (a,))
    else:
        assert torch.autograd.gradcheck(lambda q: fn(a, q, reduction=reduction), (b,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kwargs", [
    ("mse_loss", {}), ("l1_loss", {}), ("huber_loss", {"delta": 0.5}),
    ("smooth_l1_loss", {"beta": 0.5}), ("poisson_nll_loss", {}),
])
def test_drop_in_for_functional(name, kwargs, reduction, dtype):
    """Same value and input gradient as torch.nn.functional (upstream grad
    random for 'none')."""
    x, y = regression_inputs(name, dtype=dtype, n=50, seed=3)
    x2 = x.detach().clone().requires_grad_(True)
    ours = getattr(LT, name)(x, y, reduction=reduction, **kwargs)
    ref = getattr(F, name)(x2, y, reduction=reduction, **kwargs)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(ours.detach(), ref.detach(), **tol)
    go = torch.rand_like(ref) + 0.5
    ours.backward(go)
    ref.backward(go)
    torch.testing.assert_close(x.grad, x2.grad, **tol)


def test_modules_carry_options_and_match_functions():
    x, y = regression_inputs("huber_loss")
    m = LT.HuberLoss(delta=0.3, reduction="sum")
    assert "delta=0.3" in repr(m)
    torch.testing.assert_close(m(x, y), LT.huber_loss(x, y, delta=0.3, reduction="sum"))
    ce = LT.CrossEntropyLoss(weight=torch.ones(3), label_smoothing=0.05)
    logits = torch.randn(4, 3, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(ce(logits, labels),
                               F.cross_entropy(logits, labels, weight=torch.ones(3),
                                               label_smoothing=0.05))


def test_target_requiring_grad_is_an_error():
    x, y = regression_inputs("mse_loss")
    with pytest.raises(NotImplementedError, match="gradients with respect to target"):
        LT.mse_loss(x, y.requires_grad_(True))


def train(loss_fn, steps=60):
    """A small MLP on a fixed synthetic 3-class problem, from a fixed seed."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 10, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    curve = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        curve.append(loss.item())
    return np.array(curve)


def test_training_curve_matches_torch_cross_entropy():
    """Issue acceptance: the same seeded training with losslab.torch and with
    torch.nn.functional.cross_entropy gives loss curves within 1e-5."""
    ours = train(lambda out, y: LT.cross_entropy(out, y, label_smoothing=0.05))
    ref = train(lambda out, y: F.cross_entropy(out, y, label_smoothing=0.05))
    assert ours[-1] < 0.6 * ours[0]  # it trains
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_cross_entropy_autograd(reduction):
    """gradcheck in float64 for hidden, weight and bias, incl. a per-token
    upstream gradient for 'none' (recomputed exactly in backward)."""
    g = torch.Generator().manual_seed(2)
    h = torch.randn(6, 4, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(9, 4, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(9, dtype=torch.float64, generator=g, requires_grad=True)
    t = torch.tensor([1, 8, -100, 0, 4, 4])
    assert torch.autograd.gradcheck(
        lambda hh, ww, bb: LT.linear_cross_entropy(hh, ww, t, bias=bb, label_smoothing=0.1,
                                                   reduction=reduction), (h, w, b))


def test_linear_cross_entropy_matches_unfused_torch():
    g = torch.Generator().manual_seed(3)
    h = torch.randn(20, 8, generator=g, requires_grad=True)
    w = torch.randn(50, 8, generator=g, requires_grad=True)
    t = torch.randint(0, 50, (20,), generator=g)
    h2, w2 = h.detach().clone().requires_grad_(True), w.detach().clone().requires_grad_(True)
    ours = LT.LinearCrossEntropyLoss(chunk_tokens=3)(h, w, t)
    ref = F.cross_entropy(h2 @ w2.T, t)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(h.grad, h2.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(w.grad, w2.grad, rtol=1e-5, atol=1e-6)
