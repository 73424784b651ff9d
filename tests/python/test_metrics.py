"""Metrics: rmse / mae / r2_score against sklearn.metrics, quantile_coverage
against a NumPy reference.

losslab computes metrics in double precision from float32 or float64 inputs,
so the sklearn oracle is evaluated on the same values cast to float64.
sklearn's argument order is (y_true, y_pred); losslab's is (pred, target).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

import losslab

SK = {
    "rmse": root_mean_squared_error,
    "mae": mean_absolute_error,
    "r2_score": r2_score,
}
METRICS = list(SK)


def sk(name, pred, target, sample_weight=None):
    """sklearn oracle on float64 copies, with sklearn's (y_true, y_pred) order."""
    w = None if sample_weight is None else np.asarray(sample_weight, np.float64)
    return float(SK[name](np.asarray(target, np.float64), np.asarray(pred, np.float64), sample_weight=w))


def sample(rng, n, dtype):
    target = rng.normal(3.0, 2.0, n)
    pred = target + rng.normal(0.5, 1.0, n)  # biased, noisy: r2 well inside (-inf, 1)
    return pred.astype(dtype), target.astype(dtype)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("n", [2, 7, 1000, 100_000])
@pytest.mark.parametrize("name", METRICS)
def test_matches_sklearn(name, n, dtype, weighted, rng):
    """rmse / mae / r2_score == sklearn.metrics (root_mean_squared_error,
    mean_absolute_error, r2_score) within 1e-12 relative, with and without
    sample_weight (including exact zero weights)."""
    pred, target = sample(rng, n, dtype)
    w = None
    if weighted:
        w = rng.uniform(0.0, 3.0, n).astype(dtype)
        w[::3] = 0.0
        w[1] = 1.5
    got = getattr(losslab, name)(pred, target, sample_weight=w)
    ref = sk(name, pred, target, w)
    assert type(got) is float
    assert got == pytest.approx(ref, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("name", ["rmse", "mae"])
def test_single_sample(name):
    """n = 1: rmse and mae are |pred - target| (closed form; sklearn agrees)."""
    assert getattr(losslab, name)(np.array([2.5]), np.array([1.0])) == 1.5
    assert sk(name, [2.5], [1.0]) == 1.5


def test_r2_argument_order(rng):
    """r2 is asymmetric: r2_score(pred, target) equals sklearn
    r2_score(y_true=target, y_pred=pred), not the swapped call."""
    pred, target = sample(rng, 50, np.float64)
    pred = pred * 3.0  # make pred much more spread than target
    got = losslab.r2_score(pred, target)
    assert got == pytest.approx(r2_score(target, pred), rel=1e-12)
    assert abs(got - r2_score(pred, target)) > 1e-3


@pytest.mark.parametrize("perfect,expected", [(True, 1.0), (False, 0.0)])
def test_r2_constant_target(perfect, expected):
    """Constant target: sklearn (force_finite=True) gives 1.0 for a perfect
    prediction and 0.0 otherwise."""
    target = np.full(10, 4.0)
    pred = target.copy() if perfect else target + np.linspace(-1, 1, 10)
    assert losslab.r2_score(pred, target) == expected
    assert r2_score(target, pred) == expected


@pytest.mark.parametrize("pred,expected", [(2.0, 1.0), (3.0, 0.0)])
def test_r2_single_sample(pred, expected):
    """docs/losses.md: one sample is a constant target, so r2 is 1.0 for a
    perfect prediction and 0.0 otherwise (sklearn warns and returns NaN)."""
    assert losslab.r2_score(np.array([pred]), np.array([2.0])) == expected


@pytest.mark.parametrize("name", METRICS)
def test_nan_prediction_propagates(name):
    """docs/losses.md: a NaN prediction propagates to the metric (IEEE)."""
    p = np.array([1.0, np.nan, 3.0])
    t = np.array([1.5, 2.0, 2.0])
    assert np.isnan(getattr(losslab, name)(p, t))


def test_r2_perfect_prediction(rng):
    """Closed form: a perfect prediction has r2 = 1, rmse = mae = 0."""
    t = rng.normal(size=100)
    assert losslab.r2_score(t, t) == 1.0
    assert losslab.rmse(t, t) == 0.0
    assert losslab.mae(t, t) == 0.0


def test_mixed_float_dtypes(rng):
    """float32 pred with float64 target is accepted (metrics run in double)."""
    pred, target = sample(rng, 100, np.float64)
    got = losslab.rmse(pred.astype(np.float32), target)
    assert got == pytest.approx(sk("rmse", pred.astype(np.float32), target), rel=1e-12)


def test_noncontiguous_inputs(rng):
    """Strided inputs give the sklearn result of the same values."""
    pred, target = sample(rng, 400, np.float64)
    w = rng.uniform(0, 1, 400)
    got = losslab.mae(pred[::2], target[1::2], sample_weight=w[::4].repeat(2))
    assert got == pytest.approx(sk("mae", pred[::2], target[1::2], w[::4].repeat(2)), rel=1e-12)


@pytest.mark.parametrize("name", ["rmse", "r2_score"])
def test_matches_sklearn_multioutput(name, rng):
    """(n, 3) arrays: sklearn's default multioutput='uniform_average'."""
    pred, target = sample(rng, 300, np.float64)
    pred, target = pred.reshape(100, 3), target.reshape(100, 3)
    target[:, 2] *= 10.0  # outputs with different scales
    pred[:, 2] = target[:, 2] + rng.normal(size=100)
    assert getattr(losslab, name)(pred, target) == pytest.approx(sk(name, pred, target), rel=1e-12)


def test_mae_multioutput_matches_sklearn(rng):
    """For mae, pooling and averaging per output agree (equal column counts)."""
    pred, target = sample(rng, 300, np.float64)
    pred, target = pred.reshape(100, 3), target.reshape(100, 3)
    assert losslab.mae(pred, target) == pytest.approx(sk("mae", pred, target), rel=1e-12)


# ---------------------------------------------------------------------------
# quantile_coverage


def coverage_ref(lower, upper, target, w=None):
    """NumPy reference: (weighted) share of lower <= target <= upper."""
    inside = ((lower <= target) & (target <= upper)).astype(np.float64)
    if w is None:
        return float(inside.mean())
    w = np.asarray(w, np.float64)
    return float(np.sum(w * inside) / np.sum(w))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("n", [1, 10, 1000, 100_000])
def test_quantile_coverage(n, dtype, weighted, rng):
    """quantile_coverage == NumPy mean((lower <= y) & (y <= upper)), weighted
    by sample_weight; interval ends are inclusive."""
    target = rng.normal(size=n)
    center = target + rng.normal(0, 0.5, n)
    half = rng.uniform(0, 1, n)
    lower, upper = center - half, center + half
    lower[::7] = target[::7]  # target exactly on the lower end: inside
    upper[3::7] = target[3::7]  # exactly on the upper end: inside
    lower, upper, target = (a.astype(dtype) for a in (lower, upper, target))
    w = rng.uniform(0.1, 2.0, n).astype(dtype) if weighted else None
    got = losslab.quantile_coverage(lower, upper, target, sample_weight=w)
    ref = coverage_ref(lower, upper, target, w)
    assert got == pytest.approx(ref, rel=1e-12, abs=1e-15)


def test_quantile_coverage_closed_form():
    """Hand-computed: 3 of 5 targets inside [lower, upper] (ends included)."""
    lower = np.array([0.0, 0.0, 1.0, 2.0, -1.0])
    upper = np.array([1.0, 1.0, 2.0, 3.0, -0.5])
    target = np.array([0.0, 1.0, 2.5, 2.0, 0.0])
    assert losslab.quantile_coverage(lower, upper, target) == 3 / 5
    w = np.array([1.0, 0.0, 1.0, 2.0, 1.0])
    assert losslab.quantile_coverage(lower, upper, target, sample_weight=w) == 3 / 5


# ---------------------------------------------------------------------------
# Metric errors (documented: ValueError for bad shapes/values)


@pytest.mark.parametrize("name", METRICS)
def test_metric_errors(name):
    """Shape mismatch, NaN target, negative and all-zero sample_weight, empty
    input and an int dtype are errors naming the function."""
    f = getattr(losslab, name)
    p = np.arange(5.0)
    t = np.arange(5.0)[::-1].copy()
    with pytest.raises(ValueError, match=re.escape(f"{name}: pred shape (5,) does not match target shape (4,)")):
        f(p, t[:4])
    t_nan = t.copy()
    t_nan[2] = np.nan
    with pytest.raises(ValueError, match=re.escape(f"{name}: target contains nan at index 2")):
        f(p, t_nan)
    w = np.ones(5)
    w[1] = -1.0
    with pytest.raises(ValueError, match=re.escape(f"{name}: sample_weight must be finite and >= 0; got -1 at index 1")):
        f(p, t, sample_weight=w)
    with pytest.raises(ValueError, match=re.escape(f"{name}: sample_weight sums to 0")):
        f(p, t, sample_weight=np.zeros(5))
    with pytest.raises(ValueError, match=re.escape(f"{name}: target is empty")):
        f(np.zeros(0), np.zeros(0))
    with pytest.raises(TypeError, match=re.escape(f"{name}: pred dtype int64 is not supported")):
        f(np.arange(5), t)


def test_quantile_coverage_errors():
    """Lower/upper shape mismatch and zero total weight are ValueErrors."""
    a = np.zeros(4)
    with pytest.raises(ValueError, match=re.escape("quantile_coverage: lower shape (4,) does not match upper shape (3,)")):
        losslab.quantile_coverage(a, a[:3], a)
    with pytest.raises(ValueError, match=re.escape("quantile_coverage: sample_weight sums to 0")):
        losslab.quantile_coverage(a, a, a, sample_weight=np.zeros(4))
