"""Bad inputs to every regression loss: exception type and message.

The documented contract (oracle for every test here): ValueError for bad
shapes/values, TypeError for bad dtypes/argument types, each message starting
with "<function>: <argument> ...", and every caller-provided out / grad_out /
hess_out array filled with NaN when a call fails (never half-written).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import losslab

LOSSES = list(losslab.REGRESSION_LOSSES)
N = 32


def fn(name):
    return getattr(losslab, name)


def data(n=N, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    # Positive inputs so poisson_nll_loss(log_input=False) is in its domain too.
    return rng.uniform(0.5, 2.0, n).astype(dtype), rng.uniform(0.5, 2.0, n).astype(dtype)


def msg(name, text):
    """Regex: the message starts with '<name>: ' followed by ``text`` (escaped)."""
    return "^" + re.escape(f"{name}: {text}")


def test_regression_losses_list_is_complete():
    """The parametrization covers the eight documented regression losses."""
    assert sorted(LOSSES) == sorted([
        "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "quantile_loss",
        "log_cosh_loss", "pseudo_huber_loss", "poisson_nll_loss",
    ])


# ---------------------------------------------------------------------------
# Shapes


@pytest.mark.parametrize("name", LOSSES)
def test_shape_n1_vs_n(name):
    """(N, 1) input with (N,) target: the documented message, word for word."""
    x, y = data()
    with pytest.raises(ValueError, match=msg(
        name, "input shape (32, 1) does not match target shape (32,); pass arrays of "
              "the same shape (losslab never broadcasts implicitly)")):
        fn(name)(x.reshape(N, 1), y)


@pytest.mark.parametrize(
    "xshape,yshape", [((N,), (N, 1)), ((N,), (N - 1,)), ((4, 8), (8, 4)), ((N,), (1,))],
    ids=["n-vs-n1", "n-vs-n-1", "transposed", "n-vs-1"],
)
@pytest.mark.parametrize("name", LOSSES)
def test_shape_mismatch(name, xshape, yshape):
    """Any input/target shape mismatch is a ValueError naming both shapes."""
    x, y = data()
    t = np.resize(y, yshape)
    xs = "(" + ", ".join(map(str, xshape)) + ("," if len(xshape) == 1 else "") + ")"
    with pytest.raises(ValueError, match=msg(name, f"input shape {xs} does not match target shape")):
        fn(name)(x.reshape(xshape), t)


@pytest.mark.parametrize("name", LOSSES)
def test_weight_shape_mismatch(name):
    """A weight of another shape is a ValueError naming 'weight'."""
    x, y = data()
    with pytest.raises(ValueError, match=msg(name, "input shape (32,) does not match weight shape (31,)")):
        fn(name)(x, y, weight=np.ones(N - 1))
    with pytest.raises(ValueError, match=msg(name, "input shape (32,) does not match weight shape (32, 1)")):
        fn(name)(x, y, weight=np.ones((N, 1)))


@pytest.mark.parametrize("shape", [(0,), (0, 3)])
@pytest.mark.parametrize("name", LOSSES)
def test_empty_input(name, shape):
    """Empty arrays are a ValueError ('input is empty'), not a zero loss."""
    with pytest.raises(ValueError, match=msg(name, "input is empty")):
        fn(name)(np.zeros(shape), np.zeros(shape))


# ---------------------------------------------------------------------------
# Non-finite targets and bad weights


@pytest.mark.parametrize("value,text", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
@pytest.mark.parametrize("name", LOSSES)
def test_nonfinite_target(name, value, text):
    """NaN/Inf target: ValueError naming the first bad index (57, not 90)."""
    x, y = data(100)
    y[57] = value
    y[90] = np.nan
    with pytest.raises(ValueError, match=msg(name, f"target contains {text} at index 57;")):
        fn(name)(x, y)


@pytest.mark.parametrize("name", LOSSES)
def test_nonfinite_target_2d_index(name):
    """For a 2-D target the index is given as a tuple."""
    x, y = data(12)
    y = y.reshape(3, 4)
    y[1, 2] = np.nan
    with pytest.raises(ValueError, match=msg(name, "target contains nan at index (1, 2)")):
        fn(name)(x.reshape(3, 4), y)


@pytest.mark.parametrize(
    "value,text", [(-1.0, "-1"), (np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")]
)
@pytest.mark.parametrize("name", LOSSES)
def test_bad_weight(name, value, text):
    """Negative / NaN / Inf weight: ValueError 'weight must be finite and >= 0;
    got <v> at index <i>', with any reduction."""
    x, y = data()
    w = np.ones(N)
    w[3] = value
    for reduction in ("mean", "sum", "none"):
        with pytest.raises(ValueError, match=msg(name, f"weight must be finite and >= 0; got {text} at index 3")):
            fn(name)(x, y, weight=w, reduction=reduction)


@pytest.mark.parametrize("name", LOSSES)
def test_negative_zero_weight_is_valid(name):
    """-0.0 is a zero weight, not a negative one (closed form: same as +0.0)."""
    x, y = data()
    w = np.ones(N)
    w[3] = -0.0
    w2 = w.copy()
    w2[3] = 0.0
    assert fn(name)(x, y, weight=w) == fn(name)(x, y, weight=w2)


# ---------------------------------------------------------------------------
# dtypes and argument types


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_, np.complex128])
@pytest.mark.parametrize("name", LOSSES)
def test_unsupported_input_dtype(name, dtype):
    """Non-float input: TypeError naming the input's dtype. (float16 and
    bfloat16 are supported: tests/python/test_half_precision.py.)"""
    x, y = data()
    with pytest.raises(TypeError, match=msg(name, f"input dtype {np.dtype(dtype).name} is not supported")):
        fn(name)(x.astype(dtype), y.astype(dtype))


@pytest.mark.parametrize("name", LOSSES)
def test_mixed_dtypes(name):
    """float32 input with a float64 target / weight (and vice versa): TypeError
    naming the argument and both dtypes."""
    x, y = data()
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    with pytest.raises(TypeError, match=msg(name, "target dtype float64 does not match input dtype float32")):
        fn(name)(x32, y)
    with pytest.raises(TypeError, match=msg(name, "target dtype float32 does not match input dtype float64")):
        fn(name)(x, y32)
    with pytest.raises(TypeError, match=msg(name, "target dtype int64 does not match input dtype float64")):
        fn(name)(x, np.ones(N, np.int64))
    with pytest.raises(TypeError, match=msg(name, "weight dtype float32 does not match input dtype float64")):
        fn(name)(x, y, weight=np.ones(N, np.float32))
    with pytest.raises(TypeError, match=msg(name, "weight dtype float64 does not match input dtype float32")):
        fn(name)(x32, y32, weight=np.ones(N))


@pytest.mark.parametrize("name", LOSSES)
def test_python_list_input_works(name):
    """A list goes through numpy.asarray: same result as the float64 arrays."""
    x, y = data(5)
    assert fn(name)(x.tolist(), y.tolist()) == fn(name)(x, y)
    assert fn(name)(x.tolist(), y) == fn(name)(x, y)


@pytest.mark.parametrize("name", LOSSES)
def test_integer_list_is_a_dtype_error(name):
    """A list of ints becomes int64 under numpy.asarray: TypeError, not a cast."""
    with pytest.raises(TypeError, match=msg(name, "input dtype int64 is not supported")):
        fn(name)([1, 2, 3], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("name", LOSSES)
def test_string_input(name):
    """A non-numeric object is a TypeError naming the argument."""
    x, y = data()
    with pytest.raises(TypeError, match=msg(name, "input must be a numeric array")):
        fn(name)("abc", y)


@pytest.mark.parametrize("arg", ["input", "target"])
@pytest.mark.parametrize("name", LOSSES)
def test_none_array_is_type_error(name, arg):
    """None as input or target is a TypeError that names the function."""
    x, y = data()
    args = (None, y) if arg == "input" else (x, None)
    with pytest.raises(TypeError, match=re.escape(name)):
        fn(name)(*args)


@pytest.mark.parametrize("arg", ["input", "target"])
@pytest.mark.parametrize("name", LOSSES)
def test_none_array_message_names_argument(name, arg):
    """None as input/target: the message names function and argument
    ('<fn>: input must be an array, not None')."""
    x, y = data()
    args = (None, y) if arg == "input" else (x, None)
    with pytest.raises(TypeError, match=msg(name, f"{arg} must be an array")):
        fn(name)(*args)


def test_torch_tensor_on_meta_device_is_rejected():
    """A tensor without CPU data (meta device) is a TypeError naming the
    argument. (It fails at the DLPack export; the 'not on the CPU' branch for
    CUDA tensors cannot be reached on this CPU-only machine.)"""
    x = torch.empty(4, device="meta")
    with pytest.raises(TypeError, match=msg("mse_loss", "input")):
        losslab.mse_loss(x, x)


# ---------------------------------------------------------------------------
# Options


def _option_cases():
    c = [
        ("huber_loss", {"delta": 0.0}, ValueError, "delta=0 must be finite and > 0"),
        ("huber_loss", {"delta": -1.0}, ValueError, "delta=-1 must be finite and > 0"),
        ("huber_loss", {"delta": float("nan")}, ValueError, "delta=nan must be finite"),
        ("huber_loss", {"delta": float("inf")}, ValueError, "delta=inf must be finite"),
        ("smooth_l1_loss", {"beta": -1.0}, ValueError, "beta=-1 must be finite and >= 0"),
        ("smooth_l1_loss", {"beta": float("nan")}, ValueError, "beta=nan must be finite"),
        ("smooth_l1_loss", {"beta": float("inf")}, ValueError, "beta=inf must be finite"),
        ("pseudo_huber_loss", {"delta": 0.0}, ValueError, "delta=0 must be finite and > 0"),
        ("pseudo_huber_loss", {"delta": -2.0}, ValueError, "delta=-2 must be finite and > 0"),
        ("pseudo_huber_loss", {"delta": float("nan")}, ValueError, "delta=nan must be finite"),
        ("poisson_nll_loss", {"eps": -1.0}, ValueError, "eps=-1 must be finite and >= 0"),
        ("poisson_nll_loss", {"eps": float("nan")}, ValueError, "eps=nan must be finite"),
        ("quantile_loss", {"quantile": 0.0}, ValueError, "quantile=0 must lie strictly between 0 and 1"),
        ("quantile_loss", {"quantile": 1.0}, ValueError, "quantile=1 must lie strictly between 0 and 1"),
        ("quantile_loss", {"quantile": -0.1}, ValueError, "quantile=-0.1 must lie strictly"),
        ("quantile_loss", {"quantile": 1.5}, ValueError, "quantile=1.5 must lie strictly"),
        ("quantile_loss", {"quantile": float("nan")}, ValueError, "quantile=nan must lie strictly"),
        ("quantile_loss", {"quantile": []}, ValueError, "quantile is empty"),
        ("quantile_loss", {"quantile": "abc"}, TypeError, "quantile must be a number in (0, 1)"),
        ("quantile_loss", {"quantile": [0.5, None]}, TypeError, "quantile must be a number in (0, 1)"),
    ]
    return [pytest.param(*t, id=f"{t[0]}-{list(t[1].values())[0]!r}") for t in c]


@pytest.mark.parametrize("name,kwargs,exc,text", _option_cases())
def test_invalid_option(name, kwargs, exc, text):
    """Invalid loss parameters: the documented exception naming the option."""
    x, y = data()
    with pytest.raises(exc, match=msg(name, text)):
        fn(name)(x, y, **kwargs)


def test_invalid_quantile_inside_a_list():
    """Each quantile of a list is checked (the second one here)."""
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match=msg("quantile_loss", "quantile=1.2 must lie strictly")):
        losslab.quantile_loss(x, x, quantile=[0.5, 1.2])


def test_multi_quantile_shapes():
    """Multi-quantile input must be (N, Q); target (N, Q) or (N,)."""
    with pytest.raises(ValueError, match=msg(
            "quantile_loss", "with 3 quantiles the input must have shape (N, 3), one column per quantile; got (6,)")):
        losslab.quantile_loss(np.zeros(6), np.zeros(6), quantile=[0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match=msg("quantile_loss", "with 3 quantiles the input must have shape (N, 3)")):
        losslab.quantile_loss(np.zeros((4, 2)), np.zeros((4, 2)), quantile=[0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match=msg("quantile_loss", "target shape (4, 2) must be (4, 3) or (4,)")):
        losslab.quantile_loss(np.zeros((4, 3)), np.zeros((4, 2)), quantile=[0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match=msg("quantile_loss", "target shape (3,) must be (4, 3) or (4,)")):
        losslab.quantile_loss(np.zeros((4, 3)), np.zeros(3), quantile=[0.1, 0.5, 0.9])


def test_multi_quantile_row_target_nan_index():
    """A NaN in a shared (N,) target is reported at its row index."""
    y = np.zeros(5)
    y[3] = np.nan
    with pytest.raises(ValueError, match=msg("quantile_loss", "target contains nan at index 3;")):
        losslab.quantile_loss(np.zeros((5, 2)), y, quantile=[0.2, 0.8])


def test_poisson_negative_rate():
    """log_input=False needs input >= 0: ValueError naming value and index."""
    x, y = data()
    x[4] = -3.0
    with pytest.raises(ValueError, match=msg(
            "poisson_nll_loss", "input must be >= 0 when log_input=False (it is a rate); got -3 at index 4")):
        losslab.poisson_nll_loss(x, y, log_input=False)
    # log_input=True takes any real log-rate.
    assert np.isfinite(losslab.poisson_nll_loss(x, y, log_input=True))


@pytest.mark.parametrize("reduction", ["avg", "MEAN", "", "elementwise_mean"])
@pytest.mark.parametrize("name", LOSSES)
def test_unknown_reduction(name, reduction):
    """An unknown reduction string is a ValueError naming it."""
    x, y = data()
    with pytest.raises(ValueError, match=msg(name, f"reduction='{reduction}' is not one of 'none', 'mean', 'sum'")):
        fn(name)(x, y, reduction=reduction)


@pytest.mark.parametrize("name", LOSSES)
def test_batchmean_reduction(name):
    """reduction='batchmean' is only for kl_div: ValueError."""
    x, y = data()
    with pytest.raises(ValueError, match=msg(name, "reduction='batchmean' is only defined for kl_div")):
        fn(name)(x, y, reduction="batchmean")


@pytest.mark.parametrize("name", LOSSES)
def test_unknown_nan_policy(name):
    """An unknown nan_policy is a ValueError naming it."""
    x, y = data()
    with pytest.raises(ValueError, match=msg(name, "nan_policy='omit' is not one of 'propagate', 'raise'")):
        fn(name)(x, y, nan_policy="omit")


@pytest.mark.parametrize("value,text", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
@pytest.mark.parametrize("name", LOSSES)
def test_nan_policy_raise(name, value, text):
    """nan_policy='raise' with a non-finite input names the first bad index
    (5, not 20); the default policy does not raise on the same data."""
    x, y = data()
    x[5] = value
    x[20] = np.nan
    with pytest.raises(ValueError, match=msg(name, f"input contains {text} at index 5 and nan_policy='raise'")):
        fn(name)(x, y, nan_policy="raise")
    fn(name)(x, y)  # propagate: no exception


# ---------------------------------------------------------------------------
# Caller-owned buffers and the upstream gradient


@pytest.mark.parametrize("buf", ["out", "grad_out", "hess_out"])
@pytest.mark.parametrize("name", LOSSES)
def test_bad_output_buffer(name, buf):
    """out / grad_out / hess_out of the wrong shape (ValueError), dtype
    (TypeError), layout (ValueError), read-only (TypeError) or kind (TypeError)."""
    x, y = data()
    kw = dict(reduction="none", return_hess=True)

    def run(b):
        return fn(name)(x, y, **kw, **{buf: b})

    with pytest.raises(ValueError, match=msg(name, f"{buf} shape (31,) must be (32,) (the input shape)")):
        run(np.empty(N - 1))
    with pytest.raises(ValueError, match=msg(name, f"{buf} shape (32, 1) must be (32,)")):
        run(np.empty((N, 1)))
    with pytest.raises(TypeError, match=msg(name, f"{buf} dtype float32 must be float64 (the input dtype)")):
        run(np.empty(N, np.float32))
    with pytest.raises(ValueError, match=msg(name, f"{buf} must be C-contiguous and writable")):
        run(np.empty(2 * N)[::2])
    ro = np.empty(N)
    ro.flags.writeable = False
    with pytest.raises(TypeError, match=msg(name, f"{buf} must be a writable array")):
        run(ro)
    with pytest.raises(TypeError, match=msg(name, f"{buf} must be a writable array")):
        run([0.0] * N)


@pytest.mark.parametrize("name", LOSSES)
def test_bad_grad_output(name):
    """grad_output: an array needs reduction='none', the input's shape and
    dtype; a scalar must be finite."""
    x, y = data()
    with pytest.raises(ValueError, match=msg(name, "an elementwise grad_output needs reduction='none'")):
        fn(name)(x, y, return_grad=True, grad_output=np.ones(N))
    with pytest.raises(ValueError, match=msg(name, "input shape (32,) does not match grad_output shape (31,)")):
        fn(name)(x, y, reduction="none", return_grad=True, grad_output=np.ones(N - 1))
    with pytest.raises(TypeError, match=msg(name, "grad_output dtype float32 does not match input dtype float64")):
        fn(name)(x, y, reduction="none", return_grad=True, grad_output=np.ones(N, np.float32))
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=msg(name, "grad_output must be finite")):
            fn(name)(x, y, return_grad=True, grad_output=bad)


# ---------------------------------------------------------------------------
# Outputs after an error: all NaN, never half-written


def _nan_fill_call(name, x, y, **kw):
    out = np.zeros_like(x)
    grad = np.zeros_like(x)
    hess = np.zeros_like(x)
    with pytest.raises((ValueError, TypeError)) as info:
        fn(name)(x, y, reduction="none", return_hess=True, out=out, grad_out=grad, hess_out=hess, **kw)
    assert info.value.args[0].startswith(f"{name}: ")
    return out, grad, hess


def _data_errors():
    n = 5000  # the bad element is last: the kernel has written the rest by then

    def nan_target(name, dtype):
        x, y = data(n, dtype)
        y[-1] = np.nan
        return x, y, {}

    def negative_weight(name, dtype):
        x, y = data(n, dtype)
        w = np.ones(n, dtype)
        w[-1] = -1
        return x, y, {"weight": w}

    def raise_policy(name, dtype):
        x, y = data(n, dtype)
        x[-1] = np.inf
        return x, y, {"nan_policy": "raise"}

    return {"nan_target": nan_target, "negative_weight": negative_weight, "nan_policy_raise": raise_policy}


DATA_ERRORS = _data_errors()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kind", list(DATA_ERRORS))
@pytest.mark.parametrize("name", LOSSES)
def test_outputs_are_nan_after_data_error(name, kind, dtype):
    """A data error found by the kernel (bad target / weight / input) leaves
    the caller's out, grad_out and hess_out entirely NaN."""
    x, y, kw = DATA_ERRORS[kind](name, dtype)
    for arr in _nan_fill_call(name, x, y, **kw):
        assert np.all(np.isnan(arr))


def test_outputs_are_nan_after_poisson_domain_error():
    """Poisson negative rate (log_input=False): outputs all NaN."""
    x, y = data(5000)
    x[-1] = -1.0
    for arr in _nan_fill_call("poisson_nll_loss", x, y, log_input=False):
        assert np.all(np.isnan(arr))


def _validation_errors():
    def target_shape(name):
        x, y = data()
        return x, y[:-1], {}

    def weight_dtype(name):
        x, y = data()
        return x, y, {"weight": np.ones(N, np.float32)}

    def weight_shape(name):
        x, y = data()
        return x, y, {"weight": np.ones(N - 1)}

    def bad_option(name):
        x, y = data()
        opt = {"huber_loss": {"delta": -1.0}, "smooth_l1_loss": {"beta": -1.0},
               "quantile_loss": {"quantile": 2.0}, "pseudo_huber_loss": {"delta": 0.0},
               "poisson_nll_loss": {"eps": -1.0}}.get(name, {"nan_policy": "omit"})
        return x, y, opt

    return {"target_shape": target_shape, "weight_dtype": weight_dtype,
            "weight_shape": weight_shape, "bad_option": bad_option}


VALIDATION_ERRORS = _validation_errors()


@pytest.mark.parametrize("kind", list(VALIDATION_ERRORS))
@pytest.mark.parametrize("name", LOSSES)
def test_outputs_untouched_after_argument_error(name, kind):
    """docs/losses.md, 'Outputs on error': argument errors (shape, dtype,
    options) are raised before anything is written -- the caller's buffers
    keep their contents (never half-written). NOTE: the task brief and the
    comment in include/losslab/losses/common.h say every present output is
    NaN-filled on *any* error; docs/losses.md limits that to data errors."""
    x, y, kw = VALIDATION_ERRORS[kind](name)
    sentinel = 7.25
    out = np.full_like(x, sentinel)
    grad = np.full_like(x, sentinel)
    hess = np.full_like(x, sentinel)
    with pytest.raises((ValueError, TypeError)) as info:
        fn(name)(x, y, reduction="none", return_hess=True, out=out, grad_out=grad, hess_out=hess, **kw)
    assert info.value.args[0].startswith(f"{name}: ")
    for arr in (out, grad, hess):
        assert np.all(arr == sentinel)


@pytest.mark.parametrize("name", LOSSES)
def test_outputs_written_after_success(name):
    """Control for the NaN-fill tests: a good call leaves finite outputs."""
    x, y = data()
    out, grad, hess = np.full((3, N), np.nan)
    fn(name)(x, y, reduction="none", return_hess=True, out=out, grad_out=grad, hess_out=hess)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))
