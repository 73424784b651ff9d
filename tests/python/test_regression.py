"""Regression losses of losslab against their oracles.

Oracles, named in every test's docstring:
  * torch      -- torch.nn.functional (PyTorch 2.13) + autograd, for the losses
                  PyTorch has (mse, l1, huber, smooth_l1, poisson_nll);
  * numpy      -- float64 NumPy transcriptions of the documented formulas in
                  regression_reference.py (all losses, and every weighted case,
                  since torch has no per-element weights for these losses);
  * central differences of losslab's own value (gradient) and gradient
    (Hessian) in float64;
  * closed forms (kink conventions, identities such as huber = delta*smooth_l1).

Tolerances. float64: 1e-12 relative. float32: 1e-6 relative, plus an absolute
floor of 1e-7 x the largest magnitude in the array (entries that cancel to ~0,
e.g. the Poisson terms exp(x) - y x, have no relative accuracy in any float32
implementation). Exceptions are commented where they are used.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import losslab
from regression_reference import (
    CASES,
    NUMPY_ONLY_CASES,
    ONE_PER_LOSS,
    TORCH_CASES,
    LossCase,
    make_data,
    reference,
    torch_reference,
)

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
SIZES = [1, 7, 16, 17, 1000, 10**6]
TARGETS = losslab.available_simd_targets()
SIMD_TARGETS = [t for t in TARGETS if t != "scalar"]

RTOL = {np.float32: 1e-6, np.float64: 1e-12}
FLOOR = {np.float32: 1e-7, np.float64: 1e-13}

# float32 elementwise values of log-cosh and Poisson go through vector
# exp/expm1/log1p/log polynomials (a few ulp each, measured up to ~8e-7
# relative on 1e6 samples), and pseudo-Huber chains div, sqrt, div and the
# weight/scale products (up to ~6 roundings); a 1e-6 bound is then only ~8 ulp
# of headroom, so these elementwise arrays get 2e-6. Reduced values keep 1e-6.
ELEMENTWISE_RTOL_F32_LOOSE = 2e-6


def elementwise_rtol(case: LossCase, dtype):
    if dtype == np.float32 and (case.transcendental or case.name == "pseudo_huber_loss"):
        return ELEMENTWISE_RTOL_F32_LOOSE
    return RTOL[dtype]


def call(case: LossCase, x, y, **kw):
    return getattr(losslab, case.name)(x, y, **case.kwargs, **kw)


def assert_array_close(actual, ref, dtype, *, rtol=None, scale=None, what=""):
    """|actual - ref| <= rtol |ref| + FLOOR[dtype] * scale (scale: max |ref|)."""
    assert isinstance(actual, np.ndarray), f"{what}: expected ndarray, got {type(actual)}"
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype} != {np.dtype(dtype)}"
    ref = np.asarray(ref, dtype=np.float64)
    assert actual.shape == ref.shape, f"{what}: shape {actual.shape} != {ref.shape}"
    rtol = RTOL[dtype] if rtol is None else rtol
    if scale is None:
        finite = np.abs(ref[np.isfinite(ref)])
        scale = float(finite.max()) if finite.size else 0.0
    np.testing.assert_allclose(
        actual.astype(np.float64), ref, rtol=rtol, atol=FLOOR[dtype] * scale, err_msg=what
    )


def assert_value_close(actual, ref, dtype, *, scale=0.0, what="value"):
    """A reduced value: a Python float within RTOL[dtype] (+ floor * scale)."""
    assert type(actual) is float, f"{what}: expected float, got {type(actual)}"
    tol = RTOL[dtype] * abs(ref) + FLOOR[dtype] * scale
    assert abs(actual - ref) <= tol, f"{what}: {actual!r} vs {ref!r} (|diff| {abs(actual - ref):.3e} > {tol:.3e})"


def upstream(reduction, n, dtype, rng, shape=None):
    """A random upstream gradient: an array for 'none', a scalar otherwise."""
    if reduction == "none":
        return rng.uniform(-2.0, 2.0, shape or n).astype(dtype)
    return float(rng.uniform(0.25, 2.0))


def size_params(cases, big_ids):
    """(case, n) pairs: every size for every case, 10**6 only for big_ids
    (the suite must stay fast; one config per loss function covers 1e6)."""
    out = []
    for c in cases:
        for n in SIZES:
            if n == 10**6 and c.id not in big_ids:
                continue
            out.append(pytest.param(c, n, id=f"{c.id}-n{n}"))
    return out


TORCH_BIG = {
    "mse", "l1", "huber(delta=1.0)", "smooth_l1(beta=1.0)", "smooth_l1(beta=0.0)",
    "poisson(log_input=True,full=False)", "poisson(log_input=False,full=True)",
}
NUMPY_BIG = {"quantile(q=0.1)", "log_cosh", "pseudo_huber(delta=1.0)"}


# ---------------------------------------------------------------------------
# Against torch.nn.functional


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case,n", size_params(TORCH_CASES, TORCH_BIG))
def test_matches_torch(case, n, dtype, reduction, rng):
    """Value, gradient (autograd, random upstream grad) and Hessian diagonal
    (double backward) match torch.nn.functional in the same dtype, including
    the exact kink points (d == 0, |d| == delta) planted by make_data."""
    x, y = make_data(case, n, dtype, rng)
    go = upstream(reduction, n, dtype, rng)
    value, grad, hess = call(case, x, y, reduction=reduction, return_hess=True, grad_output=go)
    t_value, t_grad, t_hess = torch_reference(case, x, y, reduction=reduction, grad_output=go)
    _, _, _, mag = reference(case, x, y, reduction=reduction, grad_output=go)
    if reduction == "none":
        assert_array_close(value, t_value, dtype, scale=float(np.max(mag)), what="loss")
    else:
        assert_value_close(value, t_value, dtype, scale=mag)
    assert_array_close(grad, t_grad, dtype, what="grad")
    assert_array_close(hess, t_hess, dtype, what="hess")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=str)
def test_matches_torch_multidimensional(case, dtype, rng):
    """A (4, 5, 3) batch keeps its shape in 'none' outputs and matches torch."""
    x, y = make_data(case, 60, dtype, rng)
    x, y = x.reshape(4, 5, 3), y.reshape(4, 5, 3)
    go = upstream("none", 0, dtype, rng, shape=(4, 5, 3))
    value, grad = call(case, x, y, reduction="none", return_grad=True, grad_output=go)
    t_value, t_grad, _ = torch_reference(case, x, y, reduction="none", grad_output=go, hess=False)
    _, _, _, mag = reference(case, x, y, reduction="none", grad_output=go)
    assert_array_close(value, t_value, dtype, scale=float(np.max(mag)), what="loss")
    assert_array_close(grad, t_grad, dtype, what="grad")


# ---------------------------------------------------------------------------
# Against NumPy float64 formulas


def check_against_numpy(case, x, y, dtype, reduction, *, weight=None, go=None):
    value, grad, hess = call(
        case, x, y, reduction=reduction, weight=weight, return_hess=True, grad_output=go
    )
    r_value, r_grad, r_hess, mag = reference(
        case, x, y, weight=weight, reduction=reduction, grad_output=go
    )
    rtol = elementwise_rtol(case, dtype)
    if reduction == "none":
        assert_array_close(value, r_value, dtype, rtol=rtol, scale=float(np.max(mag)), what="loss")
    else:
        assert_value_close(value, r_value, dtype, scale=mag)
    assert_array_close(grad, r_grad, dtype, rtol=rtol, what="grad")
    assert_array_close(hess, r_hess, dtype, rtol=rtol, what="hess")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case,n", size_params(NUMPY_ONLY_CASES, NUMPY_BIG))
def test_matches_numpy_formula(case, n, dtype, reduction, rng):
    """quantile / log_cosh / pseudo_huber (no torch equivalent): value, gradient
    and Hessian against the float64 NumPy formulas of regression_reference."""
    x, y = make_data(case, n, dtype, rng)
    check_against_numpy(case, x, y, dtype, reduction, go=upstream(reduction, n, dtype, rng))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [1, 7, 17, 1000])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_weighted_matches_numpy_formula(case, n, dtype, reduction, rng):
    """Weighted losses (torch has no weights here) against the NumPy float64
    formula: loss_i = w_i l_i, mean = sum(w l) / sum(w), grads scaled alike."""
    x, y = make_data(case, n, dtype, rng)
    w = rng.uniform(0.0, 3.0, n)
    w[:: 5] = 0.0  # exact zero weights inside a non-zero total
    if n == 1:
        w[0] = 0.7
    w = w.astype(dtype)
    check_against_numpy(case, x, y, dtype, reduction, weight=w, go=upstream(reduction, n, dtype, rng))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_float32_mean_of_16m_values(dtype):
    """The mean of 16M squares (mse with target 0) within 1e-6 relative of the
    float64 NumPy reference mean(x**2) -- float32 accumulation must not drift."""
    n = 16 * 2**20
    rng = np.random.default_rng(16)
    x = (rng.standard_normal(n, dtype=np.float32) + np.float32(3.0)).astype(dtype)
    y = np.zeros(n, dtype=dtype)
    x64 = x.astype(np.float64)
    ref = float(np.dot(x64, x64)) / n
    got = losslab.mse_loss(x, y)
    assert abs(got - ref) <= 1e-6 * ref, (got, ref, abs(got - ref) / ref)


# ---------------------------------------------------------------------------
# Gradient and Hessian against central differences (float64)


def fd_data(case, rng, n=9):
    return make_data(case, n, np.float64, rng, kink_points=False, margin=1e-3)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_gradient_central_differences(case, reduction, weighted, rng):
    """grad == central differences of losslab's own loss value, element by
    element (h = 1e-6, float64), with weights and an upstream gradient."""
    x, y = fd_data(case, rng)
    n = x.size
    w = rng.uniform(0.2, 2.0, n) if weighted else None
    go = upstream(reduction, n, np.float64, rng)
    _, grad = call(case, x, y, reduction=reduction, weight=w, return_grad=True, grad_output=go)
    h = 1e-6

    def total(xx):
        v = call(case, xx, y, reduction=reduction, weight=w)
        return float(np.sum(go * v)) if reduction == "none" else go * v

    fd = np.empty(n)
    for i in range(n):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        fd[i] = (total(xp) - total(xm)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    # The check must be able to fail: the gradient is not identically zero.
    assert np.any(np.abs(grad) > 1e-3)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_hessian_central_differences(case, reduction, weighted, rng):
    """hess (diagonal) == central differences of losslab's gradient (h = 1e-5,
    float64); the losses are separable, so one shifted call per side suffices."""
    x, y = fd_data(case, rng)
    n = x.size
    w = rng.uniform(0.2, 2.0, n) if weighted else None
    go = upstream(reduction, n, np.float64, rng)
    kw = dict(reduction=reduction, weight=w, grad_output=go)
    _, _, hess = call(case, x, y, return_hess=True, **kw)
    h = 1e-5
    _, gp = call(case, x + h, y, return_grad=True, **kw)
    _, gm = call(case, x - h, y, return_grad=True, **kw)
    np.testing.assert_allclose(hess, (gp - gm) / (2 * h), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# Kinks and identities (closed forms)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(
    "name,kwargs",
    [("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.0}), ("quantile_loss", {"quantile": 0.3})],
    ids=["l1", "smooth_l1(beta=0)", "quantile"],
)
def test_gradient_is_zero_at_the_kink(name, kwargs, dtype, target, runtime_guard):
    """Closed form: l1 (and smooth_l1 with beta=0) has gradient 0 at d == 0
    (torch's sign(0) = 0); quantile has gradient 0 at e == 0 -- on every SIMD
    target, at positions in the vector body and in the tail."""
    losslab.set_simd_target(target)
    n = 37  # two 16-element vector blocks and a 5-element tail
    rng = np.random.default_rng(5)
    y = rng.normal(size=n).astype(dtype)
    x = (y + rng.choice([-1.5, 1.5], n)).astype(dtype)
    kink = [0, 7, 16, 31, 33, 36]
    x[kink] = y[kink]
    f = getattr(losslab, name)
    for reduction in REDUCTIONS:
        value, grad = f(x, y, reduction=reduction, return_grad=True, **kwargs)
        assert np.all(grad[kink] == 0.0), (reduction, grad[kink])
        others = np.setdiff1d(np.arange(n), kink)
        assert np.all(grad[others] != 0.0)
    if name == "quantile_loss":
        # Away from the kink: -tau where e > 0, 1 - tau where e < 0 (sum reduction).
        _, g = f(x, y, reduction="sum", return_grad=True, **kwargs)
        e = y.astype(np.float64) - x
        expect = np.where(e > 0, -0.3, np.where(e < 0, 0.7, 0.0)).astype(dtype)
        np.testing.assert_array_equal(g, expect)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_huber_and_smooth_l1_hessian_closed_form(dtype):
    """Closed form: huber hess = 1 where |d| < delta else 0; smooth_l1 hess =
    1/beta where |d| < beta else 0 (sum reduction, unit upstream gradient)."""
    y = np.full(9, 0.25, dtype=dtype)
    x = y + np.array([-3.0, -0.5, -0.25, 0.0, 0.25, 0.49, 0.5, 0.75, 2.0], dtype=dtype)
    d = x - y  # the residual losslab sees (0.5 and -0.5 are exact)
    _, _, h = losslab.huber_loss(x, y, delta=0.5, reduction="sum", return_hess=True)
    np.testing.assert_array_equal(h, (np.abs(d) < 0.5).astype(dtype))
    _, _, h = losslab.smooth_l1_loss(x, y, beta=0.5, reduction="sum", return_hess=True)
    np.testing.assert_array_equal(h, np.where(np.abs(d) < 0.5, 2.0, 0.0).astype(dtype))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("delta", [0.1, 1.0, 3.0])
def test_huber_equals_delta_times_smooth_l1(delta, dtype, reduction, rng):
    """Identity: huber_loss(delta) == delta * smooth_l1_loss(beta=delta) in
    value, gradient and Hessian (to a few rounding errors)."""
    x, y = (rng.normal(0, 3, 500).astype(dtype) for _ in range(2))
    go = upstream(reduction, 500, dtype, rng)
    hv, hg, hh = losslab.huber_loss(x, y, delta=delta, reduction=reduction, return_hess=True, grad_output=go)
    sv, sg, sh = losslab.smooth_l1_loss(x, y, beta=delta, reduction=reduction, return_hess=True, grad_output=go)
    rtol = 8 * np.finfo(dtype).eps
    np.testing.assert_allclose(hv, delta * np.asarray(sv, dtype=np.float64), rtol=rtol)
    np.testing.assert_allclose(hg, delta * sg.astype(np.float64), rtol=rtol)
    np.testing.assert_allclose(hh, delta * sh.astype(np.float64), rtol=rtol)
    assert np.any(hh != 0) and np.any(hh == 0)  # both branches are exercised


@settings(max_examples=60, deadline=None)
@given(
    # |d| >= 1e-100 (or 0): keeps 0.5 d^2 out of the subnormal range, where
    # the two formulas legitimately round differently.
    d=hnp.arrays(np.float64, st.integers(1, 40),
                 elements=st.one_of(st.just(0.0), st.floats(1e-100, 1e6), st.floats(-1e6, -1e-100))),
    delta=st.floats(1e-3, 1e3),
)
def test_huber_equals_delta_times_smooth_l1_property(d, delta):
    """Property (hypothesis): huber(delta) == delta * smooth_l1(beta=delta),
    elementwise, for arbitrary finite residuals and deltas (float64)."""
    y = np.zeros_like(d)
    hv, hg = losslab.huber_loss(d, y, delta=delta, reduction="none", return_grad=True)
    sv, sg = losslab.smooth_l1_loss(d, y, beta=delta, reduction="none", return_grad=True)
    np.testing.assert_allclose(hv, delta * sv, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(hg, delta * sg, rtol=1e-14, atol=1e-300)


@settings(max_examples=60, deadline=None)
@given(
    x=hnp.arrays(np.float64, 12, elements=st.floats(-1e3, 1e3, allow_nan=False)),
    y=hnp.arrays(np.float64, 12, elements=st.floats(-1e3, 1e3, allow_nan=False)),
    tau=st.floats(0.001, 0.999),
)
def test_quantile_property(x, y, tau):
    """Property (hypothesis): pinball loss and gradient equal the NumPy formula
    max(tau e, (tau-1) e), grad -tau / 1-tau / 0, for arbitrary data."""
    l, g = losslab.quantile_loss(x, y, quantile=tau, reduction="none", return_grad=True)
    e = y - x
    np.testing.assert_allclose(l, np.maximum(tau * e, (tau - 1) * e), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(g, np.where(e > 0, -tau, np.where(e < 0, 1 - tau, 0.0)))


def test_smooth_l1_beta_zero_is_l1(rng):
    """beta=0 is exactly L1 (torch switches to l1_loss): bitwise equal to
    losslab.l1_loss in value, gradient and Hessian."""
    x, y = rng.normal(size=(2, 301))
    x[::7] = y[::7]
    a = losslab.smooth_l1_loss(x, y, beta=0.0, reduction="none", return_hess=True)
    b = losslab.l1_loss(x, y, reduction="none", return_hess=True)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


# ---------------------------------------------------------------------------
# Multi-quantile


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("target_shape", ["NQ", "N"])
def test_multi_quantile(target_shape, dtype, reduction, weighted, rng):
    """input (N, Q) with quantile=[q1..qQ] against the NumPy pinball formula with
    tau broadcast per column; a (N,) target is shared by the row's Q columns."""
    qs = [0.1, 0.5, 0.9]
    n = 1000
    x = rng.normal(size=(n, 3)).astype(dtype)
    y = rng.normal(size=(n, 3) if target_shape == "NQ" else n).astype(dtype)
    y_full = y if target_shape == "NQ" else np.repeat(y[:, None], 3, axis=1)
    x[::11, 1] = y_full[::11, 1]  # e == 0: gradient 0
    w = rng.uniform(0, 2, (n, 3)).astype(dtype) if weighted else None
    go = upstream(reduction, 0, dtype, rng, shape=(n, 3))
    value, grad = losslab.quantile_loss(
        x, y, quantile=qs, reduction=reduction, weight=w, return_grad=True, grad_output=go
    )
    tau = np.array(qs)[None, :]
    case = LossCase("multi", "quantile_loss", {}, _pinball(tau), None)
    r_value, r_grad, _, mag = reference(case, x, y_full, weight=w, reduction=reduction, grad_output=go)
    if reduction == "none":
        assert value.shape == (n, 3)
        assert_array_close(value, r_value, dtype, scale=float(np.max(mag)), what="loss")
    else:
        assert_value_close(value, r_value, dtype, scale=mag)
    assert_array_close(grad, r_grad, dtype, what="grad")
    assert np.all(grad[::11, 1] == 0.0)


def _pinball(tau):
    def f(x, y):
        e = y - x
        l = np.maximum(tau * e, (tau - 1.0) * e)
        g = np.where(e > 0, -tau, np.where(e < 0, 1.0 - tau, 0.0))
        return l, g, np.zeros_like(e), np.abs(l)

    return f


@pytest.mark.parametrize(
    "q",
    [np.float64(0.3), np.float32(0.3),
     np.array(0.3),
     [0.3], (0.3,), np.array([0.3])],
    ids=["np.float64", "np.float32", "0-d array", "list1", "tuple1", "array1"],
)
def test_quantile_parameter_forms(q, rng):
    """A NumPy scalar, 0-d array or one-element sequence is one quantile: the
    same result as quantile=float(q) (rounded to the dtype, per docs)."""
    x, y = rng.normal(size=(2, 40))
    expect = losslab.quantile_loss(x, y, quantile=float(np.asarray(q).ravel()[0]), reduction="none")
    np.testing.assert_array_equal(losslab.quantile_loss(x, y, quantile=q, reduction="none"), expect)


def test_multi_quantile_sequence_forms(rng):
    """quantile as a list, tuple or NumPy array gives the same (N, Q) result."""
    x = rng.normal(size=(30, 3))
    y = rng.normal(size=30)
    a = losslab.quantile_loss(x, y, quantile=[0.1, 0.5, 0.9], reduction="none")
    b = losslab.quantile_loss(x, y, quantile=(0.1, 0.5, 0.9), reduction="none")
    c = losslab.quantile_loss(x, y, quantile=np.array([0.1, 0.5, 0.9]), reduction="none")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_multi_quantile_columns_equal_single_quantile_calls(rng):
    """Each column of a (N, Q) multi-quantile 'none' call equals the single-
    quantile call on that column (bitwise: same formula, same dtype)."""
    qs = [0.05, 0.5, 0.95, 0.7]
    x = rng.normal(size=(257, 4))
    y = rng.normal(size=257)
    value, grad = losslab.quantile_loss(x, y, quantile=qs, reduction="none", return_grad=True)
    for j, q in enumerate(qs):
        v1, g1 = losslab.quantile_loss(np.ascontiguousarray(x[:, j]), y, quantile=q,
                                       reduction="none", return_grad=True)
        np.testing.assert_array_equal(value[:, j], v1)
        np.testing.assert_array_equal(grad[:, j], g1)


# ---------------------------------------------------------------------------
# Weights


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", ONE_PER_LOSS, ids=str)
def test_all_zero_weights(case, dtype, rng):
    """Documented closed form: if every weight is 0, the mean is 0 with a zero
    gradient and Hessian; 'sum' is 0 and 'none' is all zeros."""
    x, y = make_data(case, 100, dtype, rng)
    w = np.zeros(100, dtype=dtype)
    for reduction in REDUCTIONS:
        value, grad, hess = call(case, x, y, weight=w, reduction=reduction, return_hess=True)
        if reduction == "none":
            np.testing.assert_array_equal(value, np.zeros(100, dtype))
        else:
            assert value == 0.0 and not math.isnan(value)
        np.testing.assert_array_equal(grad, np.zeros(100, dtype))
        np.testing.assert_array_equal(hess, np.zeros(100, dtype))
    # Sanity: the same data with unit weights is not a zero loss.
    assert call(case, x, y, weight=np.ones(100, dtype)) != 0.0


@pytest.mark.parametrize("case", ONE_PER_LOSS, ids=str)
def test_unit_weights_equal_unweighted(case, rng):
    """Weights of 1 give the unweighted result (numpy formula: sum(1 l)/sum(1))."""
    x, y = make_data(case, 333, np.float64, rng)
    for reduction in REDUCTIONS:
        a = call(case, x, y, reduction=reduction, return_hess=True)
        b = call(case, x, y, reduction=reduction, return_hess=True, weight=np.ones(333))
        np.testing.assert_allclose(a[0], b[0], rtol=1e-14)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-14)
        np.testing.assert_allclose(a[2], b[2], rtol=1e-14)


# ---------------------------------------------------------------------------
# Caller-owned buffers


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", ONE_PER_LOSS, ids=str)
def test_caller_buffers_are_used(case, dtype, reduction, rng):
    """out / grad_out / hess_out: the returned arrays are the caller's objects
    (no new gradient array), fully overwritten, and equal to a fresh call."""
    x, y = make_data(case, 1001, dtype, rng)
    x, y = x.reshape(7, 143), y.reshape(7, 143)
    fresh = call(case, x, y, reduction=reduction, return_hess=True)
    grad_out = np.full_like(x, 12345.0)
    hess_out = np.full_like(x, 12345.0)
    out = np.full_like(x, 12345.0) if reduction == "none" else None
    res = call(case, x, y, reduction=reduction, return_hess=True,
               out=out, grad_out=grad_out, hess_out=hess_out)
    assert res[1] is grad_out and np.shares_memory(res[1], grad_out)
    assert res[2] is hess_out and np.shares_memory(res[2], hess_out)
    if reduction == "none":
        assert res[0] is out
        np.testing.assert_array_equal(out, fresh[0])
    else:
        assert res[0] == fresh[0]
    np.testing.assert_array_equal(grad_out, fresh[1])
    np.testing.assert_array_equal(hess_out, fresh[2])


def test_grad_out_only_with_return_grad(rng):
    """return_grad=True with grad_out: the tuple's gradient is grad_out itself."""
    x, y = rng.normal(size=(2, 50))
    g = np.empty(50)
    loss, grad = losslab.mse_loss(x, y, return_grad=True, grad_out=g)
    assert grad is g
    np.testing.assert_allclose(g, 2 * (x - y) / 50, rtol=1e-15)  # closed form of d mean(d^2)


@pytest.mark.parametrize("case", ONE_PER_LOSS, ids=str)
def test_buffers_written_without_return_flags(case, rng):
    """docs/losses.md: a caller's grad_out / hess_out is written even when
    return_grad / return_hess is off; the call then returns just the loss."""
    x, y = make_data(case, 100, np.float64, rng)
    grad_out = np.full(100, np.nan)
    hess_out = np.full(100, np.nan)
    value = call(case, x, y, grad_out=grad_out, hess_out=hess_out)
    assert type(value) is float
    ref_value, ref_grad, ref_hess, _ = reference(case, x, y)  # numpy formula
    np.testing.assert_allclose(grad_out, ref_grad, rtol=1e-12, atol=1e-13 * np.max(np.abs(ref_grad)))
    np.testing.assert_allclose(hess_out, ref_hess, rtol=1e-12, atol=1e-13 * np.max(np.abs(ref_hess)) + 1e-300)


# ---------------------------------------------------------------------------
# Array kinds: torch tensors, non-contiguous views, Python lists


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", ONE_PER_LOSS, ids=str)
def test_torch_tensors_match_numpy(case, dtype, reduction, rng):
    """CPU torch tensors (DLPack) give bitwise the results of the same data as
    NumPy arrays, and the outputs are NumPy arrays."""
    x, y = make_data(case, 513, dtype, rng)
    w = rng.uniform(0, 2, 513).astype(dtype)
    go = upstream(reduction, 513, dtype, rng)
    a = call(case, x, y, weight=w, reduction=reduction, return_hess=True, grad_output=go)
    t_go = torch.from_numpy(go) if isinstance(go, np.ndarray) else go
    b = call(case, torch.from_numpy(x), torch.from_numpy(y), weight=torch.from_numpy(w),
             reduction=reduction, return_hess=True, grad_output=t_go)
    for i, (u, v) in enumerate(zip(a, b)):
        if i == 0 and reduction != "none":
            assert type(v) is float and v == u
            continue
        assert type(v) is np.ndarray and v.dtype == dtype
        np.testing.assert_array_equal(u, v)


def test_requires_grad_tensor_is_read_as_plain_data(rng):
    """docs/losses.md: losslab does not take part in autograd; a tensor that
    requires grad is read as plain data (same result as .detach())."""
    x = torch.from_numpy(rng.normal(size=50)).requires_grad_(True)
    y = torch.from_numpy(rng.normal(size=50))
    a = losslab.huber_loss(x, y, return_grad=True)
    b = losslab.huber_loss(x.detach(), y, return_grad=True)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
    assert x.grad is None


def test_torch_noncontiguous_tensor(rng):
    """A transposed torch tensor gives the result of its contiguous copy."""
    x = torch.from_numpy(rng.normal(size=(30, 20)))
    y = torch.from_numpy(rng.normal(size=(20, 30)))
    a = losslab.huber_loss(x.T, y, reduction="none", return_grad=True)
    b = losslab.huber_loss(x.T.contiguous(), y, reduction="none", return_grad=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("layout", ["stride2", "transposed", "fortran", "negative"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ONE_PER_LOSS, ids=str)
def test_noncontiguous_equals_contiguous_copy(case, reduction, layout, rng):
    """Non-contiguous input, target, weight and upstream gradient give bitwise
    the result of their contiguous copies (same values, same reduction order)."""
    base_x, base_y = make_data(case, 2 * 24 * 17, np.float64, rng)
    base_w = rng.uniform(0, 2, base_x.size)
    base_g = rng.uniform(-1, 1, base_x.size)

    def view(a):
        if layout == "stride2":
            return a[::2]
        if layout == "transposed":
            return a[: 24 * 17].reshape(24, 17).T
        if layout == "fortran":
            return np.asfortranarray(a[: 24 * 17].reshape(24, 17))
        return a[::-3]

    x, y, w, g = (view(a) for a in (base_x, base_y, base_w, base_g))
    assert not x.flags.c_contiguous
    go = g if reduction == "none" else 0.5
    strided = call(case, x, y, weight=w, reduction=reduction, return_hess=True, grad_output=go)
    cont = call(
        case, *(np.ascontiguousarray(a) for a in (x, y)), weight=np.ascontiguousarray(w),
        reduction=reduction, return_hess=True,
        grad_output=np.ascontiguousarray(g) if reduction == "none" else 0.5,
    )
    for u, v in zip(strided, cont):
        np.testing.assert_array_equal(u, v)
    assert strided[1].shape == x.shape


def test_python_lists_are_accepted():
    """Lists go through numpy.asarray: same result as the float64 array
    (closed form: mean((1-0)^2, (2-0)^2) = 2.5)."""
    assert losslab.mse_loss([1.0, 2.0], [0.0, 0.0]) == 2.5
    v, g = losslab.l1_loss([[1.0, -2.0]], [[0.0, 0.0]], reduction="sum", return_grad=True)
    assert v == 3.0
    np.testing.assert_array_equal(g, np.array([[1.0, -1.0]]))


def test_return_types(rng):
    """float for mean/sum, ndarray of the input's shape and dtype for none."""
    x, y = rng.normal(size=(2, 3, 4)).astype(np.float32)
    assert type(losslab.mse_loss(x, y)) is float
    assert type(losslab.mse_loss(x, y, reduction="sum")) is float
    out = losslab.mse_loss(x, y, reduction="none")
    assert type(out) is np.ndarray and out.shape == (3, 4) and out.dtype == np.float32
    res = losslab.mse_loss(x, y, return_hess=True)
    assert isinstance(res, tuple) and len(res) == 3
    np.testing.assert_array_equal(res[2], np.full((3, 4), 2.0 / 12, np.float32))


# ---------------------------------------------------------------------------
# Determinism across thread counts and SIMD targets

DET_N = 10**6
DET_CASES = ONE_PER_LOSS + [c for c in CASES if c.name == "poisson_nll_loss" and c not in ONE_PER_LOSS]


def _det_run(case, x, y, w):
    """Everything a run produces: mean value + grad + hess, weighted sum + grad."""
    v1, g1, h1 = call(case, x, y, return_hess=True)
    v2, g2 = call(case, x, y, weight=w, reduction="sum", return_grad=True)
    return v1, g1, h1, v2, g2


def _bitwise_equal(a, b, what):
    for i, (u, v) in enumerate(zip(a, b)):
        if isinstance(u, float):
            assert np.float64(u).tobytes() == np.float64(v).tobytes(), (what, i, u, v)
        else:
            assert u.tobytes() == v.tobytes(), (what, i, np.flatnonzero(u != v)[:5])


def _det_kind(case):
    return (case.count_target, case.nonneg_input)


@pytest.fixture(scope="module")
def det_data():
    """1e6-element (x, y, w) per data kind and dtype, shared by the cases."""
    rng = np.random.default_rng(2024)
    data = {}
    for case in DET_CASES:
        for dtype in DTYPES:
            key = (_det_kind(case), dtype)
            if key not in data:
                x, y = make_data(case, DET_N, dtype, rng)
                data[key] = (x, y, rng.uniform(0, 2, DET_N).astype(dtype))
    return data


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", DET_CASES, ids=str)
def test_bitwise_identical_across_thread_counts(case, dtype, target, det_data, runtime_guard):
    """Documented: value, gradient and Hessian are bitwise identical at
    set_num_threads(1) and (2) for n = 1e6, on every available target."""
    x, y, w = det_data[_det_kind(case), dtype]
    losslab.set_simd_target(target)
    assert losslab.simd_target() == target
    losslab.set_num_threads(1)
    one = _det_run(case, x, y, w)
    losslab.set_num_threads(2)
    assert losslab.get_num_threads() == 2
    two = _det_run(case, x, y, w)
    _bitwise_equal(one, two, f"{case.id} {target}")


@pytest.mark.parametrize("target", SIMD_TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", DET_CASES, ids=str)
def test_simd_targets_agree_with_scalar_reference(case, dtype, target, det_data, runtime_guard):
    """Non-transcendental losses: bitwise identical on every SIMD target and the
    plain C++ 'scalar' reference kernels. log_cosh / poisson (vector exp/log
    polynomials): within 1e-6 * (|v| + scale), scale = max |v| (documented)."""
    x, y, w = det_data[_det_kind(case), dtype]
    losslab.set_simd_target("scalar")
    ref = _det_run(case, x, y, w) + (call(case, x, y, reduction="none"),)
    losslab.set_simd_target(target)
    got = _det_run(case, x, y, w) + (call(case, x, y, reduction="none"),)
    if not case.transcendental:
        _bitwise_equal(ref, got, f"{case.id} {target}")
        return
    for i, (u, v) in enumerate(zip(ref, got)):
        u64 = np.asarray(u, dtype=np.float64)
        v64 = np.asarray(v, dtype=np.float64)
        scale = float(np.max(np.abs(u64)))
        assert np.all(np.abs(u64 - v64) <= 1e-6 * (np.abs(u64) + scale)), (case.id, target, i)


@pytest.mark.parametrize("target", TARGETS)
def test_set_simd_target_roundtrip(target, runtime_guard):
    """set_simd_target(name) selects it; 'auto' restores the best target."""
    best = TARGETS[0]
    losslab.set_simd_target(target)
    assert losslab.simd_target() == target
    losslab.set_simd_target("auto")
    assert losslab.simd_target() == best
    assert TARGETS[-1] == "scalar"


# ---------------------------------------------------------------------------
# Non-finite input with nan_policy="propagate" (the default)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_nonfinite_input_propagates(case, dtype, target, runtime_guard):
    """NaN / +-Inf input with nan_policy='propagate' (docs/losses.md,
    'Non-finite values'): IEEE arithmetic as in PyTorch. At a NaN input the
    loss, gradient and Hessian entries are NaN (documented; note torch's own
    l1_loss gradient is sign(NaN) = 0 there). Elsewhere -- +-Inf and finite
    entries, in the vector body and in the tail -- value and gradient match
    torch (torch losses) or the NumPy formula (value, grad, hess; others).
    Reduced values are NaN. Checked on every SIMD target."""
    losslab.set_simd_target(target)
    n = 37
    rng = np.random.default_rng(7)
    x, y = make_data(case, n, dtype, rng, kink_points=False)
    nan_idx = [2, 17, 35]
    x[nan_idx] = np.nan
    if not case.count_target:
        # Poisson is left out of +-Inf here: where exp(x) overflows losslab
        # documents +Inf while torch gives Inf - Inf = NaN (own test below).
        x[[5, 34]] = np.inf
        x[20] = -np.inf
    value, grad, hess = call(case, x, y, reduction="none", return_hess=True)
    for arr, what in ((value, "loss"), (grad, "grad")):
        assert np.all(np.isnan(arr[nan_idx])), (what, arr[nan_idx])
    ok = ~np.isnan(x)
    if case.torch_fn is not None:
        t_value, t_grad, _ = torch_reference(case, x, y, reduction="none",
                                             grad_output=np.ones(n, dtype), hess=False)
        np.testing.assert_allclose(value[ok], t_value[ok], rtol=1e-5)
        np.testing.assert_allclose(grad[ok], t_grad[ok], rtol=1e-5)
    else:
        r_value, r_grad, r_hess, _ = reference(case, x, y, reduction="none")
        np.testing.assert_allclose(value[ok], r_value[ok], rtol=1e-5)
        np.testing.assert_allclose(grad[ok], r_grad[ok], rtol=1e-5)
        np.testing.assert_allclose(hess[ok], r_hess[ok], rtol=1e-5, atol=1e-30)
    for reduction in ("mean", "sum"):
        v, g = call(case, x, y, reduction=reduction, return_grad=True)
        assert math.isnan(v)
        assert np.all(np.isnan(g[nan_idx])) and not np.any(np.isnan(g[ok]))


def _hess_nan_params():
    return [pytest.param(case, id=case.id) for case in CASES]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", _hess_nan_params())
def test_hessian_is_nan_at_nan_input(case, dtype, target, runtime_guard):
    """docs/losses.md: with nan_policy='propagate' the gradient *and Hessian*
    entries at a NaN input are NaN, on every target (body and tail); the
    other entries stay finite."""
    losslab.set_simd_target(target)
    rng = np.random.default_rng(11)
    x, y = make_data(case, 37, dtype, rng, kink_points=False)
    nan_idx = [2, 17, 35]
    x[nan_idx] = np.nan
    for reduction in REDUCTIONS:
        _, _, hess = call(case, x, y, reduction=reduction, return_hess=True)
        assert np.all(np.isnan(hess[nan_idx])), (reduction, hess[nan_idx])
        assert np.all(np.isfinite(np.delete(hess, nan_idx)))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_exp_overflow_is_plus_inf(full, dtype, target, runtime_guard):
    """docs/losses.md: poisson_nll_loss(log_input=True) where exp(x) overflows
    gives +Inf (the limit of exp(x) - y x as x -> inf), not torch's
    Inf - Inf = NaN; gradient exp(x) - y and Hessian exp(x) are +Inf too."""
    losslab.set_simd_target(target)
    big = {np.float32: [100.0, 1e30, 3e38], np.float64: [800.0, 1e300, 1.7e308]}[dtype]
    x = np.array(big + [np.inf], dtype=dtype)
    y = np.array([3.0, 7.0, 1e5, 2.0], dtype=dtype)
    value, grad, hess = losslab.poisson_nll_loss(x, y, full=full, reduction="none", return_hess=True)
    assert np.all(value == np.inf) and np.all(grad == np.inf) and np.all(hess == np.inf)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_poisson_rate_zero_with_eps_zero(dtype, target, runtime_guard):
    """docs/losses.md: log_input=False, eps=0 at input 0 with a positive count:
    l = +inf, g = 1 - y/0 = -inf, h = y/0 = +inf on every target (IEEE limits,
    as torch gives for the value)."""
    losslab.set_simd_target(target)
    x = np.zeros(3, dtype)
    y = np.array([3.0, 1.0, 2.5], dtype)
    value, grad, hess = losslab.poisson_nll_loss(x, y, log_input=False, eps=0.0,
                                                 reduction="none", return_hess=True)
    assert np.all(value == np.inf) and np.all(grad == -np.inf) and np.all(hess == np.inf)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_log_cosh_huge_residual(dtype, target, runtime_guard):
    """docs/losses.md: for huge |d|, log_cosh gives l = |d| - log 2, g = +-1,
    h = 0 (closed form; no overflow of cosh)."""
    losslab.set_simd_target(target)
    d = np.array([100.0, -100.0, 1e30, -3e38], dtype)
    value, grad, hess = losslab.log_cosh_loss(d, np.zeros_like(d), reduction="none", return_hess=True)
    a = np.abs(d.astype(np.float64))
    np.testing.assert_allclose(value, a - math.log(2.0), rtol=2 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(grad, np.sign(d))
    # sech^2 d = 4 e^{-2|d|} / (1 + e^{-2|d|})^2: 5.5e-87 at |d| = 100 in float64,
    # 0 (underflow) in float32 and for the larger |d|.
    e = np.exp(-2.0 * a)
    np.testing.assert_allclose(hess, 4 * e / (1 + e) ** 2, rtol=1e-6, atol=np.finfo(dtype).tiny)
    assert np.all(hess[2:] == 0.0)


@pytest.mark.parametrize("case", ONE_PER_LOSS, ids=str)
def test_nan_policy_raise_accepts_finite_input(case, rng):
    """nan_policy='raise' on finite data returns exactly the default result."""
    x, y = make_data(case, 100, np.float64, rng)
    a = call(case, x, y, return_hess=True)
    b = call(case, x, y, return_hess=True, nan_policy="raise")
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])


def _extreme_grid(dtype):
    fi = np.finfo(dtype)
    v = np.array([0.0, float(fi.smallest_subnormal), float(fi.tiny), 1e-20, 0.5, 1.0, 3.0,
                  50.0, 1e5, 1e20, float(fi.max) / 4, float(fi.max)])
    v = np.concatenate([v, -v[1:]]).astype(dtype)
    x, y = np.meshgrid(v, v)
    return x.ravel().copy(), y.ravel().copy()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_finite_inputs_never_give_nan(case, dtype, target, runtime_guard):
    """Documented (docs/losses.md, 'Extreme inputs'): finite inputs never give
    NaN -- every pair of extreme finite values (0, subnormals, 1e-20 .. 1e20,
    +-max; x - y may overflow to +-Inf, which is allowed) gives a non-NaN
    value, gradient and Hessian on every target. Poisson: every extreme input
    (>= 0 for rates) against count targets 0 .. 1e5."""
    losslab.set_simd_target(target)
    x, y = _extreme_grid(dtype)
    if case.count_target:
        x = np.unique(np.abs(x) if case.nonneg_input else x)
        counts = np.array([0.0, 1.0, 2.0, 3.0, 50.0, 1e5], dtype=dtype)
        x, y = (a.ravel().copy() for a in np.meshgrid(x, counts))
    for reduction in REDUCTIONS:
        value, grad, hess = call(case, x, y, reduction=reduction, return_hess=True)
        assert not np.any(np.isnan(value)), (reduction, "value")
        assert not np.any(np.isnan(grad)), (reduction, "grad", x[np.isnan(grad)][:3], y[np.isnan(grad)][:3])
        assert not np.any(np.isnan(hess)), (reduction, "hess")


@pytest.mark.parametrize(
    "dtype,delta,d",
    [(np.float32, 1e20, 0.0), (np.float32, 1e-30, 1e20), (np.float64, 1e-200, 1e300)],
    ids=["f32-delta1e20-d0", "f32-delta1e-30-d1e20", "f64-delta1e-200-d1e300"],
)
def test_pseudo_huber_extreme_delta_is_not_nan(dtype, delta, d):
    """Finite inputs never give NaN, also for a valid (> 0) but extreme delta;
    closed form: l = delta^2 (sqrt(1 + (d/delta)^2) - 1) is finite or +inf."""
    x = np.array([d], dtype=dtype)
    y = np.zeros(1, dtype=dtype)
    value, grad, hess = losslab.pseudo_huber_loss(x, y, delta=delta, reduction="none", return_hess=True)
    assert not np.isnan(value[0]) and not np.isnan(grad[0]) and not np.isnan(hess[0])
