"""Bad-input matrix: every public loss x every kind of bad input (issue 9).

Oracle: the documented error contract (docs/losses.md "Errors", and each
family's page): ValueError for bad shapes/values/options, TypeError for bad
dtypes, each message starting with "<function>: " and naming the argument;
NaN/Inf in a prediction follows IEEE arithmetic where the docs say so
(default nan_policy) and is an error where the docs require finite input
(probabilities, segmentation logits); caller-provided output buffers are
never half-written when the data is bad (all NaN, or untouched).

The matrix is built from SPECS, one entry per loss: a factory that returns
valid arguments for a batch of n, and what each argument is (differentiable
float data, float target, integer labels). Every case is derived from that
table, so adding a loss is adding one entry. `test_matrix_size` prints the
count (see docs/reliability.md).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib
import re
from typing import Callable

import numpy as np
import pytest

import losslab

N = 6  # batch size of the valid factories
C = 4  # classes / embedding dim / features

# ---------------------------------------------------------------------------
# The table


@dataclasses.dataclass
class Spec:
    name: str
    # (n, dtype, rng) -> (list of (argname, array) positional, dict of kwargs)
    make: Callable
    data: tuple = ()  # differentiable float inputs (NaN/Inf -> `nonfinite`)
    ftargets: tuple = ()  # float targets: NaN/Inf is always an error
    ptargets: tuple = ()  # float targets documented to propagate NaN/Inf
    labels: dict = dataclasses.field(default_factory=dict)  # arg -> n classes
    shape_args: tuple = ()  # args whose batch dim must match the others
    nonfinite: str = "propagate"  # NaN/Inf in `data`: "propagate" | "error"
    bad_options: tuple = ()  # kwargs dicts that are ValueErrors
    has_out: bool = False  # takes out= / grad_out=
    reductions: tuple = ("none", "mean", "sum")
    xfail: dict = dataclasses.field(default_factory=dict)  # case id -> reason
    grads: tuple = None  # the return_grad gradients in order (default: data)

    def grad_args(self):
        return self.data if self.grads is None else self.grads


def _u(rng, shape, dt, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape).astype(dt)


def _probs(rng, shape, dt):
    p = rng.uniform(0.1, 1.0, shape)
    return (p / p.sum(-1, keepdims=True)).astype(dt)


def _lab(rng, n, k):
    lab = rng.integers(0, k, n).astype(np.int64)
    return lab


def _pm1(rng, n, dt):
    return np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(dt)


def elementwise(name, prob_input=False, target="real", **kw):
    def make(n, dt, rng):
        x = _u(rng, n, dt, 0.05, 0.95) if prob_input else _u(rng, n, dt)
        if target == "prob":
            y = _u(rng, n, dt, 0.0, 1.0)
        elif target == "pm1":
            y = _pm1(rng, n, dt)
        elif target == "count":
            y = rng.integers(0, 5, n).astype(dt)
        else:
            y = _u(rng, n, dt)
        return [("input", x), ("target", y)], {}

    kw.setdefault("has_out", True)
    return Spec(name, make, data=("input",), ftargets=("target",),
                shape_args=("input", "target"), **kw)


def _rows(kind):
    def make(n, dt, rng):
        if kind == "logits":
            x = _u(rng, (n, C), dt)
        else:
            x = np.log(_probs(rng, (n, C), dt))
        return [("input", x), ("target", _lab(rng, n, C))], {}

    return make


def _seg(n, dt, rng):
    return [("input", _u(rng, (n, C, 3, 2), dt)),
            ("target", rng.integers(0, C, (n, 3, 2)).astype(np.int64))], {}


# Losses whose float input may be float16 / bfloat16 when it is their only
# float argument (docs/losses.md, tests/python/test_half_precision.py); the
# elementwise losses take half precision too, but only with a target of the
# same dtype, so a float16 input among float64 arrays stays a TypeError.
HALF_INPUT = {"cross_entropy", "nll_loss"}

SEG_BAD = ({"smooth": -1.0}, {"eps": -1.0}, {"mode": "trinary"},
           {"smooth": 0.0, "eps": 0.0})

SPECS = [
    # --- regression (docs/losses.md)
    elementwise("mse_loss"),
    elementwise("l1_loss"),
    elementwise("huber_loss", bad_options=({"delta": -1.0}, {"delta": 0.0},
                                           {"delta": float("nan")})),
    elementwise("smooth_l1_loss", bad_options=({"beta": -1.0}, {"beta": float("nan")})),
    elementwise("quantile_loss", bad_options=({"quantile": 0.0}, {"quantile": 1.5},
                                              {"quantile": -0.1})),
    elementwise("log_cosh_loss"),
    elementwise("pseudo_huber_loss", bad_options=({"delta": -1.0}, {"delta": 0.0})),
    elementwise("poisson_nll_loss", target="count", bad_options=({"eps": -1.0},)),
    # --- classification (docs/losses_classification.md)
    elementwise("binary_cross_entropy_with_logits", target="prob",
                bad_options=({"pos_weight": np.array([-1.0])},)),
    # Probabilities: anything outside [0, 1] (NaN included) is a ValueError.
    elementwise("binary_cross_entropy", prob_input=True, target="prob", nonfinite="error"),
    Spec("cross_entropy", _rows("logits"), data=("input",), labels={"target": C},
         shape_args=("input", "target"), has_out=True,
         bad_options=({"label_smoothing": -0.1}, {"label_smoothing": 1.5},
                      {"weight": -np.ones(C)}, {"weight": np.ones(C + 1)})),
    Spec("softmax_focal_loss", _rows("logits"), data=("input",), labels={"target": C},
         shape_args=("input", "target"), has_out=True,
         bad_options=({"gamma": -1.0}, {"gamma": float("nan")},
                      {"alpha": -0.5}, {"alpha": -np.ones(C)})),
    Spec("nll_loss", _rows("logprob"), data=("input",), labels={"target": C},
         shape_args=("input", "target"), has_out=True,
         bad_options=({"weight": -np.ones(C)}, {"weight": np.ones(C - 1)})),
    elementwise("hinge_loss", target="pm1", bad_options=({"margin": float("nan")},
                                                         {"margin": float("inf")})),
    elementwise("squared_hinge_loss", target="pm1",
                bad_options=({"margin": float("nan")},)),
    Spec("multi_margin_loss", _rows("logits"), data=("input",), labels={"target": C},
         shape_args=("input", "target"), has_out=True,
         bad_options=({"p": 3}, {"p": 0}, {"margin": float("inf")},
                      {"weight": -np.ones(C)})),
    Spec("kl_div",
         lambda n, dt, rng: ([("input", np.log(_probs(rng, (n, C), dt))),
                              ("target", _probs(rng, (n, C), dt))], {}),
         data=("input",), ftargets=("target",), shape_args=("input", "target"),
         has_out=True, reductions=("none", "mean", "sum", "batchmean")),
    Spec("kl_divergence",
         lambda n, dt, rng: ([("p", _probs(rng, (n, C), dt)),
                              ("q", _probs(rng, (n, C), dt))], {}),
         ftargets=("p",), data=("q",), shape_args=("p", "q"), has_out=True),
    elementwise("sigmoid_focal_loss", target="prob",
                bad_options=({"gamma": -1.0}, {"alpha": 1.5}, {"alpha": -0.1},
                             {"gamma": float("nan")})),
    # --- embedding (docs/losses_embedding.md)
    Spec("triplet_margin_loss",
         lambda n, dt, rng: ([(a, _u(rng, (n, C), dt)) for a in
                              ("anchor", "positive", "negative")], {}),
         data=("anchor", "positive", "negative"),
         shape_args=("anchor", "positive", "negative"),
         bad_options=({"margin": -1.0}, {"p": 0.0}, {"p": -1.0}, {"eps": -1.0},
                      {"p": float("inf")})),
    Spec("contrastive_loss",
         lambda n, dt, rng: ([("x1", _u(rng, (n, C), dt)), ("x2", _u(rng, (n, C), dt)),
                              ("target", rng.integers(0, 2, n).astype(np.int64))], {}),
         data=("x1", "x2"), labels={"target": 2}, shape_args=("x1", "x2", "target"),
         bad_options=({"margin": -1.0}, {"margin": float("nan")})),
    Spec("cosine_embedding_loss",
         lambda n, dt, rng: ([("x1", _u(rng, (n, C), dt)), ("x2", _u(rng, (n, C), dt)),
                              ("target", np.where(rng.random(n) < .5, -1, 1)
                               .astype(np.int64))], {}),
         data=("x1", "x2"), labels={"target": 2}, shape_args=("x1", "x2", "target"),
         bad_options=({"margin": 2.0}, {"margin": -1.5}, {"margin": float("nan")})),
    Spec("batch_hard_triplet_loss",
         lambda n, dt, rng: ([("embeddings", _u(rng, (n, C), dt)),
                              ("labels", np.arange(n) % 2)], {}),
         data=("embeddings",), shape_args=("embeddings", "labels"),
         bad_options=({"margin": -1.0}, {"margin": float("nan")})),
    Spec("batch_all_triplet_loss",
         lambda n, dt, rng: ([("embeddings", _u(rng, (n, C), dt)),
                              ("labels", np.arange(n) % 2)], {}),
         data=("embeddings",), shape_args=("embeddings", "labels"),
         bad_options=({"margin": -1.0}, {"margin": float("nan")})),
    Spec("nt_xent_loss",
         lambda n, dt, rng: ([("embeddings", _u(rng, (n, C), dt)),
                              ("labels", np.arange(n) % 2)], {}),
         data=("embeddings",), shape_args=("embeddings", "labels"),
         bad_options=({"temperature": 0.0}, {"temperature": -1.0}, {"eps": -1.0},
                      {"temperature": float("nan")})),
    # --- segmentation (docs/losses_segmentation.md): logits must be finite
    Spec("dice_loss", _seg, data=("input",), labels={"target": C},
         shape_args=("input", "target"), nonfinite="error", bad_options=SEG_BAD),
    Spec("jaccard_loss", _seg, data=("input",), labels={"target": C},
         shape_args=("input", "target"), nonfinite="error", bad_options=SEG_BAD),
    Spec("tversky_loss", _seg, data=("input",), labels={"target": C},
         shape_args=("input", "target"), nonfinite="error",
         bad_options=SEG_BAD + ({"alpha": -0.5}, {"beta": -0.5}, {"gamma": 0.0},
                                {"gamma": -1.0})),
    Spec("dice_cross_entropy_loss", _seg, data=("input",), labels={"target": C},
         shape_args=("input", "target"), nonfinite="error",
         bad_options=({"smooth": -1.0}, {"mode": "trinary"}, {"dice_weight": -1.0},
                      {"ce_weight": -1.0}),
         reductions=("mean", "sum")),
    # --- generative (docs/losses_generative.md)
    Spec("gan_discriminator_loss",
         lambda n, dt, rng: ([("real", _u(rng, n, dt)), ("fake", _u(rng, n, dt))], {}),
         data=("real", "fake"), bad_options=({"kind": "relativistic"},)),
    Spec("gan_generator_loss",
         lambda n, dt, rng: ([("fake", _u(rng, n, dt))], {}),
         data=("fake",), bad_options=({"kind": "relativistic"},)),
    Spec("reconstruction_loss",
         lambda n, dt, rng: ([("recon", _u(rng, (n, C), dt)),
                              ("x", _u(rng, (n, C), dt))], {}),
         data=("recon",), ftargets=("x",), shape_args=("recon", "x"),
         bad_options=({"kind": "l4"},)),
    Spec("gaussian_kl_loss",
         lambda n, dt, rng: ([("mu", _u(rng, (n, C), dt)),
                              ("logvar", _u(rng, (n, C), dt))], {}),
         data=("mu", "logvar"), shape_args=("mu", "logvar")),
    Spec("vae_loss",
         lambda n, dt, rng: ([("recon", _u(rng, (n, C), dt)),
                              ("x", _u(rng, (n, C), dt, 0.0, 1.0)),
                              ("mu", _u(rng, (n, 3), dt)),
                              ("logvar", _u(rng, (n, 3), dt))], {}),
         data=("recon", "mu", "logvar"), ftargets=("x",),
         shape_args=("recon", "x", "mu", "logvar"),
         bad_options=({"recon_kind": "l4"}, {"beta": float("nan")})),
    Spec("gaussian_nll_loss",
         lambda n, dt, rng: ([("input", _u(rng, (n, C), dt)), ("target", _u(rng, (n, C), dt)),
                              ("var", _u(rng, (n, C), dt, 0.5, 2.0))], {}),
         # docs/losses_generative.md: "NaN inputs propagate" (torch semantics),
         # so a NaN target is not an error here, unlike docs/losses.md's
         # elementwise losses.
         data=("input",), ptargets=("target",), shape_args=("input", "target", "var"),
         grads=("input", "var"), bad_options=({"eps": -1.0},)),
    # --- LLM (docs/losses_llm.md)
    Spec("linear_cross_entropy",
         lambda n, dt, rng: ([("hidden", _u(rng, (n, 3), dt)), ("weight", _u(rng, (C, 3), dt)),
                              ("target", _lab(rng, n, C))], {}),
         data=("hidden", "weight"), labels={"target": C}, shape_args=("hidden", "target"),
         bad_options=({"label_smoothing": -0.1}, {"label_smoothing": 1.5},
                      {"chunk_tokens": -1}, {"weight_per_class": -np.ones(C)})),
]

BY_NAME = {s.name: s for s in SPECS}

# The loss families as enumerated from the module (the table must cover them).
EXTRA_LOSSES = (
    "triplet_margin_loss", "contrastive_loss", "cosine_embedding_loss",
    "batch_hard_triplet_loss", "batch_all_triplet_loss", "nt_xent_loss",
    "dice_loss", "jaccard_loss", "tversky_loss", "dice_cross_entropy_loss",
    "gan_discriminator_loss", "gan_generator_loss", "reconstruction_loss",
    "gaussian_kl_loss", "vae_loss", "gaussian_nll_loss", "linear_cross_entropy",
)
ALL_LOSSES = tuple(losslab.REGRESSION_LOSSES) + tuple(losslab.CLASSIFICATION_LOSSES) + \
    EXTRA_LOSSES

# ---------------------------------------------------------------------------
# Helpers


def build(spec, n=N, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    pos, kw = spec.make(n, dtype, rng)
    return dict(pos), kw


def call(spec, pos, kw):
    return getattr(losslab, spec.name)(*pos.values(), **kw)


def prefix(spec):
    return "^" + re.escape(spec.name + ": ")


def flat(result):
    """Every array/number in a (nested) result, in a fixed order."""
    if isinstance(result, dict):
        return [v for k in sorted(result) for v in flat(result[k])]
    if isinstance(result, (tuple, list)):
        return [v for r in result for v in flat(r)]
    return [np.asarray(result)]


def same(a, b):
    fa, fb = flat(a), flat(b)
    assert len(fa) == len(fb)
    for x, y in zip(fa, fb):
        np.testing.assert_array_equal(x, y)


def raises(spec, exc, pos, kw, names=()):
    """The call raises `exc` with the '<fn>: ' prefix, naming one of `names`."""
    with pytest.raises(exc, match=prefix(spec)) as info:
        call(spec, pos, kw)
    if names:
        msg = str(info.value)
        assert any(re.search(r"\b%s\b" % re.escape(a), msg) for a in names), msg
    return info


def is_nonfinite(result):
    return any(not np.all(np.isfinite(np.asarray(v, dtype=np.float64))) for v in flat(result))


def grad_kw(spec):
    return {"return_grad": True}


# ---------------------------------------------------------------------------
# Case generators: each yields (case id, function(spec)).


def cases_for(spec):
    out = []
    valid = build(spec)[0]
    args = list(valid)
    float_args = [a for a in args if a in spec.data or a in spec.ftargets]

    def add(cid, f):
        marks = ()
        if cid in spec.xfail:
            marks = (pytest.mark.xfail(strict=True, reason=spec.xfail[cid]),)
        out.append(pytest.param(spec, f, id=f"{spec.name}-{cid}", marks=marks))

    # Shapes: dropping a row, or adding a trailing unit dim (attempted broadcast).
    for a in spec.shape_args:
        def truncate(s, a=a):
            pos, kw = build(s)
            pos[a] = pos[a][:-1]
            raises(s, ValueError, pos, kw)
        add(f"shape-truncate-{a}", truncate)

        def unsqueeze(s, a=a):
            pos, kw = build(s)
            pos[a] = pos[a][..., None]
            raises(s, ValueError, pos, kw)
        add(f"shape-broadcast-{a}", unsqueeze)

    # Dtypes: float16 (a TypeError naming the argument, unless it is the
    # loss's only float argument and the loss takes half precision: then a
    # finite result, see tests/python/test_half_precision.py), and float32
    # mixed with float64.
    for a in float_args:
        def f16(s, a=a):
            pos, kw = build(s)
            pos[a] = pos[a].astype(np.float16)
            if s.name in HALF_INPUT and float_args == [a]:
                res = call(s, pos, dict(kw, return_grad=True))
                assert not is_nonfinite(res), res
            else:
                raises(s, TypeError, pos, kw, names=(a,))
        add(f"dtype-float16-{a}", f16)

        def mixed(s, a=a):
            pos, kw = build(s)
            pos[a] = pos[a].astype(np.float32)
            raises(s, TypeError, pos, kw, names=(a,))
        if len(float_args) >= 2:  # one float32 array among float64 ones
            add(f"dtype-mixed-{a}", mixed)
    for a in list(spec.labels) + [x for x in args if x == "labels"]:
        def flt(s, a=a):
            pos, kw = build(s)
            pos[a] = pos[a].astype(np.float64) + 0.5
            with pytest.raises((TypeError, ValueError), match=prefix(s)):
                call(s, pos, kw)
        add(f"dtype-float-labels-{a}", flt)

    # Non-contiguous (strided and Fortran-ordered) arrays: same result as the
    # contiguous copy, or a clear error.
    for a in args:
        layouts = ("strided", "fortran") if valid[a].ndim >= 2 else ("strided",)
        for layout in layouts:
            def noncontig(s, a=a, layout=layout):
                pos, kw = build(s)
                kw = dict(kw, **grad_kw(s))
                ref = call(s, pos, kw)
                arr = pos[a]
                if layout == "strided":
                    v = np.stack([arr, np.zeros_like(arr)], axis=-1)[..., 0]
                else:
                    v = np.asfortranarray(arr)
                assert not v.flags.c_contiguous
                pos[a] = v
                try:
                    got = call(s, pos, kw)
                except (ValueError, TypeError) as e:
                    assert re.match(prefix(s), str(e)), str(e)
                    return
                same(ref, got)
            add(f"noncontig-{layout}-{a}", noncontig)

    # Empty batch.
    def empty(s):
        pos, kw = build(s, n=0)
        raises(s, ValueError, pos, kw)
    add("empty-batch", empty)

    # NaN / Inf in the differentiable inputs.
    for a in spec.data:
        for bad in ("nan", "inf"):
            def nonfinite(s, a=a, bad=bad):
                pos, kw = build(s)
                pos[a] = pos[a].copy()
                pos[a][0] = float(bad)  # the first sample / row
                kw = dict(kw, **grad_kw(s))
                if s.nonfinite == "error":
                    raises(s, ValueError, pos, kw, names=(a,))
                else:
                    res = call(s, pos, kw)  # must not crash
                    if bad == "nan":
                        assert is_nonfinite(res), "NaN input vanished from the result"
            add(f"{bad}-in-{a}", nonfinite)

    # NaN / Inf in float targets: always a ValueError naming the target.
    for a in spec.ftargets:
        for bad in ("nan", "inf", "-inf"):
            def badtarget(s, a=a, bad=bad):
                pos, kw = build(s)
                pos[a] = pos[a].copy()
                pos[a].flat[-1] = float(bad)
                raises(s, ValueError, pos, kw, names=(a,))
            add(f"{bad}-in-{a}", badtarget)

    # NaN / Inf in targets documented to follow IEEE arithmetic.
    for a in spec.ptargets:
        for bad in ("nan", "inf"):
            def ptarget(s, a=a, bad=bad):
                pos, kw = build(s)
                pos[a] = pos[a].copy()
                pos[a][0] = float(bad)
                res = call(s, pos, dict(kw, return_grad=True))
                if bad == "nan":
                    assert is_nonfinite(res)
            add(f"{bad}-in-{a}", ptarget)

    # Out-of-range labels.
    for a, k in spec.labels.items():
        for bad in (k, -2, 10**9):
            def badlabel(s, a=a, bad=bad):
                pos, kw = build(s)
                pos[a] = pos[a].copy()
                pos[a].flat[-1] = bad
                raises(s, ValueError, pos, kw, names=(a,))
            add(f"label-{bad}-{a}", badlabel)

    # Invalid options.
    for i, opt in enumerate(spec.bad_options):
        def badopt(s, opt=opt):
            pos, kw = build(s)
            raises(s, ValueError, pos, dict(kw, **opt))
        key = ",".join(f"{k}={v if np.isscalar(v) else 'array'}" for k, v in opt.items())
        add(f"option-{key}", badopt)

    def badred(s):
        pos, kw = build(s)
        raises(s, ValueError, pos, dict(kw, reduction="avg"), names=("reduction",))
    add("option-reduction=avg", badred)

    # Bad per-element upstream gradient: wrong shape with "none".
    if "none" in spec.reductions:
        def badgo(s):
            pos, kw = build(s)
            ref = call(s, pos, dict(kw, reduction="none"))
            shape = flat(ref)[0].shape
            go = np.ones(tuple(d + 1 for d in shape) or (2,))
            raises(s, ValueError, pos, dict(kw, reduction="none", return_grad=True,
                                            grad_output=go))
        add("grad_output-shape", badgo)

    def nango(s):
        pos, kw = build(s)
        raises(s, ValueError, pos, dict(kw, return_grad=True, grad_output=float("nan")),
               names=("grad_output",))
    add("grad_output-nan", nango)

    # Output buffers are never half-written on a data error.
    if spec.has_out and (spec.ftargets or spec.labels):
        def poison(s):
            pos, kw = build(s)
            ref = call(s, pos, dict(kw, reduction="none", return_grad=True))
            loss_shape = np.asarray(ref[0]).shape
            grad_shape = np.asarray(ref[1]).shape
            out = np.full(loss_shape, 7.0)
            gout = np.full(grad_shape, 7.0)
            if s.ftargets:
                a = s.ftargets[0]
                pos[a] = pos[a].copy()
                pos[a].flat[-1] = np.nan
            else:
                a = next(iter(s.labels))
                pos[a] = pos[a].copy()
                pos[a].flat[-1] = s.labels[a]
            raises(s, ValueError, pos, dict(kw, reduction="none", return_grad=True,
                                            out=out, grad_out=gout))
            for buf in (out, gout):
                assert np.all(np.isnan(buf)) or np.all(buf == 7.0), buf
        add("outputs-not-half-written", poison)

    # Bad weights where the loss takes per-element/per-sample weights.
    return out


CASES = [c for s in SPECS for c in cases_for(s)]


def test_table_covers_every_public_loss():
    """Every loss the module exports (regression/classification lists and the
    other families' functions, checked by name) has a row in the table."""
    for name in ALL_LOSSES:
        assert hasattr(losslab, name), name
    assert sorted(BY_NAME) == sorted(ALL_LOSSES)


def test_matrix_size():
    """The matrix size quoted in docs/reliability.md."""
    print(f"bad-input matrix: {len(SPECS)} losses, {len(CASES)} cases")
    assert len(CASES) >= 10 * len(SPECS)


@pytest.mark.parametrize("spec,case", CASES)
def test_bad_input(spec, case):
    case(spec)


@pytest.mark.parametrize("spec", [
    pytest.param(s, id=s.name, marks=[pytest.mark.xfail(strict=True, reason=s.xfail[
        "valid-factory"])] if "valid-factory" in s.xfail else []) for s in SPECS])
def test_valid_factory_is_valid(spec):
    """The factories themselves give a finite loss and gradient (float32 and
    float64), so every failure above is due to the one perturbation."""
    for dt in (np.float32, np.float64):
        pos, kw = build(spec, dtype=dt)
        for red in spec.reductions:
            res = call(spec, pos, dict(kw, reduction=red, return_grad=True))
            assert not is_nonfinite(res), (red, res)


@pytest.mark.parametrize("kind", ["mse", "bce", "bce_with_logits"])
@pytest.mark.parametrize("fn", ["reconstruction_loss", "vae_loss"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_generative_x_error_names_x_for_every_kind(fn, kind, bad):
    """The matrix above uses the default reconstruction kind; a bad x must be
    reported as '<fn>: x ...' for every kind, not by the inner elementwise
    loss (mse_loss / binary_cross_entropy[_with_logits]) that computes the
    term. Oracle: the documented error contract (docs/losses.md "Errors")."""
    rng = np.random.default_rng(1)
    recon = rng.uniform(0.1, 0.9, (N, C))
    x = rng.uniform(0.0, 1.0, (N, C))
    x[2, 1] = bad
    if fn == "reconstruction_loss":
        call_ = lambda: losslab.reconstruction_loss(recon, x, kind=kind, return_grad=True)
    else:
        mu = rng.normal(size=(N, 3))
        call_ = lambda: losslab.vae_loss(recon, x, mu, mu, recon_kind=kind, return_grad=True)
    with pytest.raises(ValueError, match=rf"^{fn}: x contains -?(nan|inf) at index \(2, 1\)"):
        call_()


@pytest.mark.parametrize("fn", ["reconstruction_loss", "vae_loss"])
def test_generative_bce_recon_domain_error_is_prefixed(fn):
    """kind='bce' needs probabilities: the error comes with this function's
    name (the argument is named by the shared elementwise driver)."""
    recon = np.full((N, C), 0.5)
    recon[0, 0] = 1.5
    x = np.full((N, C), 0.5)
    kind = "kind" if fn == "reconstruction_loss" else "recon_kind"
    with pytest.raises(ValueError, match=rf"^{fn}: .*probabilities in \[0, 1\]; got 1.5") as e:
        if fn == "reconstruction_loss":
            losslab.reconstruction_loss(recon, x, kind="bce")
        else:
            mu = np.zeros((N, 3))
            losslab.vae_loss(recon, x, mu, mu, recon_kind="bce")
    # The fix named is this function's own option, not another function.
    assert f"use {kind}='bce_with_logits'" in str(e.value)


@pytest.mark.parametrize("fn", ["reconstruction_loss", "vae_loss"])
def test_generative_bce_x_outside_unit_names_x(fn):
    """A data value x outside [0, 1] with kind='bce' is reported as x, the
    argument's name, not as the inner loss's 'target'."""
    recon = np.full((N, C), 0.5)
    x = np.full((N, C), 0.5)
    x[1, 2] = 2.0
    with pytest.raises(ValueError, match=rf"^{fn}: x must lie in \[0, 1\].*got 2 at index \(1, 2\)"):
        if fn == "reconstruction_loss":
            losslab.reconstruction_loss(recon, x, kind="bce")
        else:
            mu = np.zeros((N, 3))
            losslab.vae_loss(recon, x, mu, mu, recon_kind="bce")


# ---------------------------------------------------------------------------
# Fuzz regressions of the CLI's CSV reader (fuzz/fuzz_csv.py): every input
# that once failed the fuzz target's checks is replayed with the same checks
# (read_csv raises only CliError with a one-line message, and a table that
# reads is consistent).

_FUZZ = pathlib.Path(__file__).resolve().parents[2] / "fuzz"


@pytest.mark.parametrize(
    "path", sorted((_FUZZ / "regressions" / "csv").glob("*")), ids=lambda p: p.name)
def test_csv_reader_fuzz_regression(path):
    spec = importlib.util.spec_from_file_location("_fuzz_csv", _FUZZ / "fuzz_csv.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.TestOneInput(path.read_bytes())


def _scaled_pnorm(x, p, eps=1e-6):
    """Oracle (NumPy, float64): ||x + eps||_p per row as m ||(x + eps) / m||_p,
    m = max |x_k + eps|, the form that neither overflows nor underflows."""
    x = np.asarray(x, np.float64) + eps
    m = np.abs(x).max(axis=-1, keepdims=True)
    return m[..., 0] * (np.abs(x / m) ** p).sum(axis=-1) ** (1.0 / p)


@pytest.mark.parametrize("p,scale", [(1e3, 1.0), (1e30, 1.0), (3.0, 1e15), (0.5, 1e-30), (2.0, 1e25)])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_triplet_margin_loss_large_p_is_finite_and_right(p, scale, dt):
    """Finite input never gives NaN (docs/losses.md): a large norm order p, or
    values whose p-th power overflows or underflows, are computed as a scaled
    p-norm. Found by fuzz/fuzz_python.py (input in fuzz/regressions/python/).
    Oracle: the scaled norm in NumPy float64; the gradient against central
    differences of losslab's float64 value."""
    rng = np.random.default_rng(2)
    a, pos, neg = (rng.normal(size=(3, C)) * scale for _ in range(3))
    res = losslab.triplet_margin_loss(*(t.astype(dt) for t in (a, pos, neg)), p=p, margin=scale,
                                      return_grad=True)
    assert not is_nonfinite(res), res
    # eps = 1e30 (found by fuzz_python.py): x = a - p + eps squared overflowed
    # float32 for p = 2 and the loss became inf - inf.
    for q in (1.0, 2.0, 3.0):
        big = losslab.triplet_margin_loss(*(t.astype(dt) for t in (a, pos, neg)), p=q, eps=1e30,
                                          return_grad=True)
        assert not is_nonfinite(big), (q, big)
    a64, p64, n64 = (t.astype(dt).astype(np.float64) for t in (a, pos, neg))
    ref = np.maximum(scale + _scaled_pnorm(a64 - p64, p) - _scaled_pnorm(a64 - n64, p), 0).mean()
    assert float(res[0]) == pytest.approx(ref, rel=1e-4 if dt == np.float32 else 1e-9, abs=1e-300)
    if dt == np.float64 and p < 1e6:
        f = lambda aa: float(losslab.triplet_margin_loss(aa, pos, neg, p=p, margin=scale))
        h = 1e-6 * scale
        num = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            e = np.zeros_like(a)
            e[idx] = h
            num[idx] = (f(a + e) - f(a - e)) / (2 * h)
        np.testing.assert_allclose(np.asarray(res[1][0]), num, rtol=1e-5, atol=1e-7 * scale)
