"""Property tests (hypothesis, derandomized) for invariants that hold for any
input, each with its oracle named:

- cross_entropy is invariant to per-row logit shifts (softmax algebra), also
  for +1e6 in float64 (log-sum-exp with max subtraction);
- sigmoid_focal_loss(gamma=0, alpha=None) is binary_cross_entropy_with_logits
  (Lin et al. 2017, eq. 5 with gamma = 0 and no alpha);
- tversky_loss(alpha=beta=0.5, smooth=s) is dice_loss(smooth=2s)
  (docs/losses_segmentation.md, "alpha = beta = 0.5");
- huber_loss(delta) == delta * smooth_l1_loss(beta=delta) (torch docs of
  HuberLoss);
- mean == sum / count, weighted mean == weighted sum / sum of weights
  (the reduction contract in docs/losses.md);
- micro-batch sums add up to the full-batch mean (linearity of the sum);
- bitwise identical results at 1 and 2 threads, and on the scalar target vs
  the best SIMD target for the losses without transcendental functions
  (the determinism contract in docs/architecture.md);
- every loss's gradient agrees with central differences in float64 (a
  directional derivative along a random direction, for each differentiable
  input of every loss in the bad-input matrix's table).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import losslab
from test_bad_input_matrix import SPECS, build, call

SETTINGS = settings(derandomize=True, max_examples=25, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

seeds = st.integers(0, 2**32 - 1)


def _rng(seed):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------
# Algebraic identities


@SETTINGS
@given(seed=seeds, n=st.integers(1, 9), c=st.integers(2, 20),
       smoothing=st.sampled_from([0.0, 0.1]), big=st.booleans())
def test_cross_entropy_row_shift_invariance(seed, n, c, smoothing, big):
    """Oracle: softmax(x + s) = softmax(x) for any per-row s (float64)."""
    rng = _rng(seed)
    x = rng.normal(0, 3, (n, c))
    y = rng.integers(0, c, n)
    shift = np.full((n, 1), 1e6) if big else rng.normal(0, 50, (n, 1))
    l0, g0 = losslab.cross_entropy(x, y, label_smoothing=smoothing, return_grad=True)
    l1, g1 = losslab.cross_entropy(x + shift, y, label_smoothing=smoothing,
                                   return_grad=True)
    # x + 1e6 is rounded to a multiple of 2^-33 ~ 1.2e-10 in float64.
    tol = 1e-8 if big else 1e-11
    np.testing.assert_allclose(l1, l0, rtol=tol, atol=tol)
    np.testing.assert_allclose(g1, g0, rtol=tol, atol=tol)


@SETTINGS
@given(seed=seeds, n=st.integers(1, 64), red=st.sampled_from(["none", "mean", "sum"]))
def test_focal_gamma0_is_bce_with_logits(seed, n, red):
    """Oracle: Lin et al. 2017 eq. 5 with gamma = 0 and alpha = None is BCE."""
    rng = _rng(seed)
    x = rng.normal(0, 4, n)
    t = rng.uniform(0, 1, n)
    lf, gf = losslab.sigmoid_focal_loss(x, t, gamma=0.0, alpha=None, reduction=red,
                                        return_grad=True)
    lb, gb = losslab.binary_cross_entropy_with_logits(x, t, reduction=red,
                                                      return_grad=True)
    np.testing.assert_allclose(lf, lb, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gf, gb, rtol=1e-12, atol=1e-14)


@SETTINGS
@given(seed=seeds, n=st.integers(1, 3), c=st.integers(2, 5),
       smooth=st.sampled_from([0.5, 1.0, 3.0]),
       mode=st.sampled_from(["multiclass", "multilabel"]))
def test_tversky_half_half_is_dice_with_doubled_smooth(seed, n, c, smooth, mode):
    """Oracle: docs/losses_segmentation.md: alpha = beta = 0.5 gives
    (2I + 2 smooth)/(P + T + 2 smooth), i.e. dice_loss with smooth doubled."""
    rng = _rng(seed)
    x = rng.normal(0, 2, (n, c, 4, 3))
    if mode == "multiclass":
        t = rng.integers(0, c, (n, 4, 3))
    else:
        t = (rng.random((n, c, 4, 3)) < 0.5).astype(np.float64)
    lt, gt = losslab.tversky_loss(x, t, mode=mode, alpha=0.5, beta=0.5, smooth=smooth,
                                  return_grad=True)
    ld, gd = losslab.dice_loss(x, t, mode=mode, smooth=2 * smooth, return_grad=True)
    np.testing.assert_allclose(lt, ld, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gt, gd, rtol=1e-11, atol=1e-14)


@SETTINGS
@given(seed=seeds, n=st.integers(1, 200), delta=st.floats(0.01, 10.0),
       red=st.sampled_from(["none", "mean", "sum"]))
def test_huber_is_delta_times_smooth_l1(seed, n, delta, red):
    """Oracle: torch HuberLoss docs: huber(delta) = delta * smooth_l1(beta=delta)."""
    rng = _rng(seed)
    x, y = rng.normal(0, 3, n), rng.normal(0, 3, n)
    lh, gh = losslab.huber_loss(x, y, delta=delta, reduction=red, return_grad=True)
    ls, gs = losslab.smooth_l1_loss(x, y, beta=delta, reduction=red, return_grad=True)
    np.testing.assert_allclose(lh, delta * np.asarray(ls), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gh, delta * np.asarray(gs), rtol=1e-12, atol=1e-14)


ELEMENTWISE = ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "quantile_loss",
               "log_cosh_loss", "pseudo_huber_loss", "binary_cross_entropy_with_logits",
               "hinge_loss", "squared_hinge_loss", "sigmoid_focal_loss"]


def _elementwise_data(name, rng, n):
    x = rng.normal(0, 2, n)
    if name in ("hinge_loss", "squared_hinge_loss"):
        y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    elif name in ("binary_cross_entropy_with_logits", "sigmoid_focal_loss"):
        y = rng.uniform(0, 1, n)
    else:
        y = rng.normal(0, 2, n)
    return x, y


@SETTINGS
@given(seed=seeds, n=st.integers(1, 300), name=st.sampled_from(ELEMENTWISE),
       weighted=st.booleans())
def test_mean_is_sum_over_count(seed, n, name, weighted):
    """Oracle: docs/losses.md reduction contract: mean = sum / N, weighted
    mean = sum w l / sum w; likewise for the gradients."""
    rng = _rng(seed)
    x, y = _elementwise_data(name, rng, n)
    f = getattr(losslab, name)
    kw = {"weight": rng.uniform(0.1, 2.0, n)} if weighted else {}
    lm, gm = f(x, y, reduction="mean", return_grad=True, **kw)
    ls, gs = f(x, y, reduction="sum", return_grad=True, **kw)
    denom = kw["weight"].sum() if weighted else n
    np.testing.assert_allclose(lm, ls / denom, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(gm, gs / denom, rtol=1e-12, atol=1e-300)


@SETTINGS
@given(seed=seeds, n=st.integers(2, 5000), parts=st.integers(2, 7),
       name=st.sampled_from(ELEMENTWISE + ["cross_entropy"]))
def test_micro_batches_combine_to_full_batch_mean(seed, n, parts, name):
    """Oracle: linearity: sum over micro-batches of the sums / N is the mean."""
    rng = _rng(seed)
    if name == "cross_entropy":
        x, y = rng.normal(0, 2, (n, 5)), rng.integers(0, 5, n)
    else:
        x, y = _elementwise_data(name, rng, n)
    f = getattr(losslab, name)
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(parts, n) - 1, replace=False))
    total = sum(f(xs, ys, reduction="sum") for xs, ys in
                zip(np.split(x, cuts), np.split(y, cuts)))
    np.testing.assert_allclose(total / n, f(x, y, reduction="mean"), rtol=1e-11)


# ---------------------------------------------------------------------------
# Determinism

# No exp/log/tanh: the SIMD and scalar paths do the same IEEE operations.
NON_TRANSCENDENTAL = ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss",
                      "quantile_loss", "hinge_loss", "squared_hinge_loss"]


def _flat(res):
    if isinstance(res, dict):
        return [v for k in sorted(res) for v in _flat(res[k])]
    if isinstance(res, (tuple, list)):
        return [v for r in res for v in _flat(r)]
    return [np.asarray(res)]


def _bitwise(a, b):
    for x, y in zip(_flat(a), _flat(b), strict=True):
        assert x.dtype == y.dtype
        assert x.tobytes() == y.tobytes()


@settings(derandomize=True, max_examples=10, deadline=None, database=None)
@given(seed=seeds, n=st.integers(1, 40000), dtype=st.sampled_from([np.float32, np.float64]),
       red=st.sampled_from(["mean", "sum"]))
def test_threads_and_scalar_target_are_bitwise_identical(seed, n, dtype, red):
    """Oracle: the determinism contract (fixed blocks, fixed combination
    order, no FMA contraction difference): 1 vs 2 threads, and scalar vs best
    target for the non-transcendental losses, give the same bits."""
    rng = _rng(seed)
    threads = losslab.get_num_threads()
    try:
        for name in NON_TRANSCENDENTAL:
            x, y = _elementwise_data(name, rng, n)
            x, y = x.astype(dtype), y.astype(dtype)
            f = getattr(losslab, name)
            losslab.set_simd_target("auto")
            losslab.set_num_threads(1)
            ref = f(x, y, reduction=red, return_grad=True, return_hess=True)
            losslab.set_num_threads(2)
            _bitwise(ref, f(x, y, reduction=red, return_grad=True, return_hess=True))
            losslab.set_simd_target("scalar")
            _bitwise(ref, f(x, y, reduction=red, return_grad=True, return_hess=True))
    finally:
        losslab.set_simd_target("auto")
        losslab.set_num_threads(threads)


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_every_loss_is_bitwise_identical_at_1_and_2_threads(spec, runtime_guard):
    """Oracle: determinism contract, for every loss (a batch large enough to
    be split between threads where the op layer splits it)."""
    n = 4096 if spec.name not in ("batch_hard_triplet_loss", "batch_all_triplet_loss",
                                  "nt_xent_loss") else 48
    pos, kw = build(spec, n=n)
    kw = dict(kw, return_grad=True)
    losslab.set_num_threads(1)
    ref = call(spec, pos, kw)
    losslab.set_num_threads(2)
    _bitwise(ref, call(spec, pos, kw))


# ---------------------------------------------------------------------------
# Gradients against central differences


def _loss_value(res):
    if isinstance(res, tuple):
        res = res[0]
    if isinstance(res, dict):
        res = res["loss"]
    return float(res)


def _grads(spec, res, pos):
    """The gradients of a return_grad=True result, keyed by argument name."""
    g = res[1]
    names = spec.grad_args()
    if len(names) == 1:
        return {names[0]: g}
    assert isinstance(g, tuple) and len(g) == len(names), (spec.name, type(g))
    return dict(zip(names, g))


@pytest.mark.parametrize("red", ["mean", "sum"])
@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_gradient_matches_central_differences(spec, red):
    """Oracle: (L(x + h v) - L(x - h v)) / 2h = <grad, v> for a random v, in
    float64, for every differentiable input of every loss (3 random points)."""
    if red not in spec.reductions:
        pytest.skip("reduction not supported")
    for seed in range(3):
        pos, kw = build(spec, seed=seed)
        kw = dict(kw, reduction=red)
        res = call(spec, pos, dict(kw, return_grad=True))
        grads = _grads(spec, res, pos)
        rng = np.random.default_rng(100 + seed)
        for a in spec.grad_args():
            v = rng.normal(size=pos[a].shape)
            h = 1e-6
            plus, minus = dict(pos), dict(pos)
            plus[a] = pos[a] + h * v
            minus[a] = pos[a] - h * v
            num = (_loss_value(call(spec, plus, kw)) - _loss_value(call(spec, minus, kw))) / (2 * h)
            ana = float(np.sum(np.asarray(grads[a]) * v))
            assert abs(num - ana) <= 1e-5 * max(1.0, abs(ana)), (a, seed, num, ana)
