"""Classification metrics against scikit-learn 1.9 (sklearn.metrics:
accuracy_score, precision_score, recall_score, f1_score, confusion_matrix,
roc_auc_score, average_precision_score, log_loss), and against NumPy
references of the cited formulas where sklearn has no equivalent
(expected_calibration_error: Guo et al. 2017; perplexity: exp of the mean
cross-entropy, cross-checked with torch.nn.functional.cross_entropy).

losslab's argument order is (pred, target); sklearn's is (y_true, y_pred).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
import torch

import losslab


@pytest.fixture(autouse=True)
def _quiet_sklearn():
    """sklearn warns on undefined scores (zero_division="warn") and unnormalized
    probabilities; losslab computes the same values without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def labels(rng, n, c, dtype=np.int64):
    return rng.integers(0, c, n).astype(dtype)


# ---------------------------------------------------------------------------
# accuracy, confusion_matrix


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_accuracy_matches_sklearn(dtype, weighted, rng):
    """accuracy == sklearn accuracy_score (with sample_weight, including zeros)."""
    p, t = labels(rng, 500, 4, dtype), labels(rng, 500, 4, dtype)
    t[:200] = p[:200]
    w = rng.uniform(0, 2, 500) if weighted else None
    if weighted:
        w[::5] = 0.0
    got = losslab.accuracy(p, t, sample_weight=w)
    assert type(got) is float
    assert got == pytest.approx(skm.accuracy_score(t, p, sample_weight=w), rel=1e-14)


def test_accuracy_accepts_bool_float_and_torch_labels():
    """bool, 0/1 float and torch int64 labels read as class indices (oracle:
    sklearn accuracy_score on the same values)."""
    p = np.array([1, 0, 1, 1, 0])
    t = np.array([1, 1, 1, 0, 0])
    ref = skm.accuracy_score(t, p)
    assert losslab.accuracy(p.astype(bool), t.astype(bool)) == ref
    assert losslab.accuracy(p.astype(np.float32), t.astype(np.float64)) == ref
    assert losslab.accuracy(torch.from_numpy(p), torch.from_numpy(t)) == ref


@pytest.mark.parametrize("weighted", [False, True], ids=["counts", "weighted"])
def test_confusion_matrix_matches_sklearn(weighted, rng):
    """confusion_matrix == sklearn confusion_matrix(labels=range(C)): rows are
    true classes; int64 counts, float64 with sample_weight."""
    p, t = labels(rng, 300, 5), labels(rng, 300, 5)
    w = rng.uniform(0, 2, 300) if weighted else None
    got = losslab.confusion_matrix(p, t, sample_weight=w)
    ref = skm.confusion_matrix(t, p, labels=np.arange(5), sample_weight=w)
    assert got.shape == (5, 5)
    if weighted:
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, ref, rtol=1e-13)
    else:
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, ref)
    # num_classes pads classes that never occur (sklearn labels=range(7))
    got7 = losslab.confusion_matrix(p, t, num_classes=7)
    np.testing.assert_array_equal(got7, skm.confusion_matrix(t, p, labels=np.arange(7)))


def test_confusion_matrix_infers_max_label_plus_one():
    """Without num_classes, C = max label + 1: an absent class 1 keeps its empty
    row and column (sklearn drops it; with labels=range(C) they agree)."""
    p, t = np.array([0, 2, 2]), np.array([0, 2, 0])
    got = losslab.confusion_matrix(p, t)
    np.testing.assert_array_equal(got, skm.confusion_matrix(t, p, labels=[0, 1, 2]))
    assert skm.confusion_matrix(t, p).shape == (2, 2)


# ---------------------------------------------------------------------------
# precision, recall, f1_score

SK_PRF = {
    "precision": skm.precision_score,
    "recall": skm.recall_score,
    "f1_score": skm.f1_score,
}


def same(got, ref):
    if math.isnan(ref):
        return math.isnan(got)
    return got == pytest.approx(ref, rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("zero_division", ["warn", 0.0, 1.0, np.nan], ids=["warn", "0", "1", "nan"])
@pytest.mark.parametrize("num_classes", [None, 6])
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
@pytest.mark.parametrize("name", list(SK_PRF))
def test_prf_multiclass_matches_sklearn(name, average, num_classes, zero_division, rng):
    """precision / recall / f1_score with average macro|micro|weighted ==
    sklearn with labels=range(C) when num_classes is given (class 5 never
    occurs, class 4 is only predicted: zero_division applies), else sklearn's
    default labels; with sample_weight."""
    n = 200
    t = labels(rng, n, 4)
    p = np.where(rng.uniform(size=n) < 0.6, t, labels(rng, n, 5))
    w = rng.uniform(0, 2, n)
    kw = {} if num_classes is None else {"labels": np.arange(num_classes)}
    for sw in (None, w):
        got = getattr(losslab, name)(
            p, t, average=average, num_classes=num_classes, zero_division=zero_division, sample_weight=sw
        )
        ref = float(SK_PRF[name](t, p, average=average, zero_division=zero_division, sample_weight=sw, **kw))
        assert same(got, ref), (got, ref)


@pytest.mark.parametrize("pos_label", [0, 1])
@pytest.mark.parametrize("name", list(SK_PRF))
def test_prf_binary_matches_sklearn(name, pos_label, rng):
    """average='binary' (default) == sklearn for pos_label 0 and 1, int64 /
    bool / float labels, with and without sample_weight."""
    t = labels(rng, 300, 2)
    p = np.where(rng.uniform(size=300) < 0.7, t, 1 - t)
    w = rng.uniform(0, 3, 300)
    for sw in (None, w):
        ref = float(SK_PRF[name](t, p, pos_label=pos_label, sample_weight=sw))
        for cast in (np.int64, bool, np.float32):
            got = getattr(losslab, name)(p.astype(cast), t.astype(cast), pos_label=pos_label, sample_weight=sw)
            assert same(got, ref)


@pytest.mark.parametrize("zero_division", ["warn", 1.0, np.nan], ids=["warn", "1", "nan"])
@pytest.mark.parametrize("name", list(SK_PRF))
def test_prf_binary_degenerate_cases(name, zero_division):
    """Undefined scores follow sklearn's zero_division: all-negative pred and
    target; labels {3, 7} with pos_label=7; a single present label."""
    cases = [
        (np.array([0, 0, 0]), np.array([0, 0, 0]), 1),
        (np.array([0, 0, 1]), np.array([0, 0, 0]), 1),
        (np.array([7, 3, 7]), np.array([7, 7, 3]), 7),
        (np.array([3, 3]), np.array([3, 3]), 1),
    ]
    for p, t, pos in cases:
        got = getattr(losslab, name)(p, t, pos_label=pos, zero_division=zero_division)
        ref = float(SK_PRF[name](t, p, pos_label=pos, zero_division=zero_division))
        assert same(got, ref), (p, t, got, ref)


def test_prf_errors():
    """average='binary' on 3 labels, an absent pos_label, a bad average or
    zero_division, labels >= num_classes: ValueError naming the argument."""
    p, t = np.array([0, 1, 2]), np.array([0, 1, 1])
    with pytest.raises(ValueError, match=r"f1_score: average='binary' needs binary labels.*average='macro'"):
        losslab.f1_score(p, t)
    with pytest.raises(ValueError, match=r"precision: pos_label=4 is not a label"):
        losslab.precision(np.array([0, 1]), np.array([1, 0]), pos_label=4)
    with pytest.raises(ValueError, match=r"recall: average must be"):
        losslab.recall(p, t, average="samples")
    with pytest.raises(ValueError, match=r"zero_division"):
        losslab.recall(p, t, average="macro", zero_division=0.5)
    with pytest.raises(ValueError, match=r"pred has the label 2 at index 2, outside \[0, 2\)"):
        losslab.recall(p, t, average="macro", num_classes=2)
    with pytest.raises(ValueError, match=r"num_classes must be >= 1"):
        losslab.recall(p, t, average="macro", num_classes=0)


# ---------------------------------------------------------------------------
# roc_auc, average_precision


def ranking_data(rng, n, ties):
    y = labels(rng, n, 2)
    s = y * 0.8 + rng.normal(0, 1, n)
    if ties:
        s = np.round(s * 2) / 2  # a handful of distinct values
    return s, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    "name,ref_fn", [("roc_auc", skm.roc_auc_score), ("average_precision", skm.average_precision_score)]
)
def test_ranking_matches_sklearn(name, ref_fn, weighted, ties, dtype, rng):
    """roc_auc == sklearn roc_auc_score (ties count 1/2) and average_precision ==
    sklearn average_precision_score (step function), with ties and
    sample_weight; the oracle sees the same float32/float64 scores."""
    s, y = ranking_data(rng, 2000, ties)
    s = s.astype(dtype)
    w = rng.uniform(0, 2, 2000) if weighted else None
    got = getattr(losslab, name)(s, y, sample_weight=w)
    assert got == pytest.approx(float(ref_fn(y, s, sample_weight=w)), rel=1e-12)


def test_ranking_label_dtypes_and_torch():
    """bool / 0-1 float targets and torch tensors give the sklearn values."""
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    y = np.array([0, 0, 1, 1, 1])
    for name, fn in (("roc_auc", skm.roc_auc_score), ("average_precision", skm.average_precision_score)):
        ref = fn(y, s)
        f = getattr(losslab, name)
        assert f(s, y.astype(bool)) == pytest.approx(ref, rel=1e-15)
        assert f(s, y.astype(np.float32)) == pytest.approx(ref, rel=1e-15)
        assert f(torch.from_numpy(s), torch.from_numpy(y)) == pytest.approx(ref, rel=1e-15)


def test_average_precision_without_positives_is_zero():
    """No positive target: sklearn returns 0.0 (with a warning); so does losslab."""
    s, y = np.array([0.3, 0.9]), np.array([0, 0])
    assert losslab.average_precision(s, y) == skm.average_precision_score(y, s) == 0.0


def test_ranking_errors():
    """One class (sklearn: nan + warning) is a ValueError; NaN scores, labels
    outside {0, 1}, shape mismatch, empty input: ValueError naming the argument."""
    with pytest.raises(ValueError, match=r"roc_auc: target has no negative samples"):
        losslab.roc_auc(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(ValueError, match=r"roc_auc: scores contains NaN at index 1"):
        losslab.roc_auc(np.array([0.1, np.nan]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"average_precision: target has the label 2"):
        losslab.average_precision(np.array([0.1, 0.2]), np.array([0, 2]))
    with pytest.raises(ValueError, match=r"roc_auc: target shape \(2,\) does not match scores shape \(3,\)"):
        losslab.roc_auc(np.zeros(3), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"roc_auc: scores"):
        losslab.roc_auc(np.zeros(0), np.zeros(0, np.int64))
    with pytest.raises(TypeError, match=r"roc_auc: scores"):
        losslab.roc_auc(np.array([0, 1]), np.array([0, 1]))


# ---------------------------------------------------------------------------
# log_loss


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_log_loss_multiclass_matches_sklearn(dtype, weighted, rng):
    """(n, C) rows == sklearn log_loss(labels=range(C)) on the same dtype:
    probabilities 0 and 1 are clipped at finfo(dtype).eps as sklearn 1.9 does
    (float32 within 1e-5 relative, float64 1e-12)."""
    n, c = 400, 5
    logits = rng.normal(0, 3, (n, c))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    probs[0] = [1, 0, 0, 0, 0]
    probs[1] = [0, 1, 0, 0, 0]
    probs = probs.astype(dtype)
    t = labels(rng, n, c)
    t[0], t[1] = 0, 0  # p = 1 and p = 0 for the true class: both clipped
    w = rng.uniform(0, 2, n) if weighted else None
    got = losslab.log_loss(probs, t, sample_weight=w)
    ref = skm.log_loss(t, probs, labels=np.arange(c), sample_weight=w)
    assert got == pytest.approx(ref, rel=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_log_loss_binary_matches_sklearn(dtype, rng):
    """(n,) P(class 1) and (n, 1) == sklearn log_loss with binary labels,
    including p = 0 and p = 1."""
    p = rng.uniform(0, 1, 300)
    p[:4] = [0.0, 1.0, 0.0, 1.0]
    p = p.astype(dtype)
    t = labels(rng, 300, 2)
    t[:4] = [1, 0, 0, 1]
    ref = skm.log_loss(t, p, labels=[0, 1])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert losslab.log_loss(p, t) == pytest.approx(ref, rel=tol)
    assert losslab.log_loss(p[:, None], t.astype(bool)) == pytest.approx(ref, rel=tol)
    assert losslab.log_loss(torch.from_numpy(p), torch.from_numpy(t)) == pytest.approx(ref, rel=tol)


def test_log_loss_eps_and_unnormalized_rows():
    """An explicit eps clips there (NumPy reference); rows that do not sum to 1
    are not renormalized (sklearn 1.9 warns and does not renormalize)."""
    p = np.array([0.0, 0.5])
    t = np.array([1, 1])
    assert losslab.log_loss(p, t, eps=1e-3) == pytest.approx(-(math.log(1e-3) + math.log(0.5)) / 2, rel=1e-15)
    rows = np.array([[0.2, 0.2, 0.2], [0.6, 0.3, 0.3]])
    t = np.array([0, 1])
    assert losslab.log_loss(rows, t) == pytest.approx(skm.log_loss(t, rows, labels=[0, 1, 2]), rel=1e-14)


def test_log_loss_errors():
    """Probabilities outside [0, 1] (sklearn also rejects them), labels >= C,
    sample counts that differ: ValueError naming the argument."""
    with pytest.raises(ValueError, match=r"log_loss: probs has the value 1.5 at index 1, outside \[0, 1\]"):
        losslab.log_loss(np.array([0.5, 1.5]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"log_loss: target has the label 3"):
        losslab.log_loss(np.full((2, 3), 1 / 3), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"log_loss: probs has shape \(3, 2\) but target has shape \(2,\)"):
        losslab.log_loss(np.full((3, 2), 0.5), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"log_loss: eps"):
        losslab.log_loss(np.array([0.5]), np.array([1]), eps=0.0)


# ---------------------------------------------------------------------------
# expected_calibration_error


def ece_reference(probs, target, n_bins):
    """Guo et al. 2017 eq. 3 with numpy.linspace bin edges, (lo, hi] bins
    (conf = 0 in the first bin), first-maximum argmax; float64."""
    probs = np.asarray(probs, np.float64)
    if probs.ndim == 1:
        probs = np.stack([1 - probs, probs], 1)
    conf = probs.max(1)
    correct = (probs.argmax(1) == target).astype(np.float64)
    edges = np.linspace(0, 1, n_bins + 1)
    ece = 0.0
    for b in range(n_bins):
        lo, hi = edges[b], edges[b + 1]
        m = (conf > lo) & (conf <= hi)
        if b == 0:
            m |= conf == 0
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return ece


@pytest.mark.parametrize("n_bins", [1, 10, 15])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_ece_matches_numpy_reference(n_bins, dtype, rng):
    """expected_calibration_error == NumPy reference of Guo et al. for (n, C)
    and (n,) binary probabilities, including confidences on bin edges."""
    logits = rng.normal(0, 2, (1000, 4))
    probs = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(dtype)
    probs[:20] = np.array([0.4, 0.2, 0.2, 0.2], dtype)  # on the edge 0.4
    t = labels(rng, 1000, 4)
    got = losslab.expected_calibration_error(probs, t, n_bins=n_bins)
    assert got == pytest.approx(ece_reference(probs, t, n_bins), rel=1e-12, abs=1e-15)
    p1 = rng.uniform(0, 1, 1000).astype(dtype)
    p1[:10] = 0.5
    t1 = labels(rng, 1000, 2)
    got1 = losslab.expected_calibration_error(p1, t1, n_bins=n_bins)
    assert got1 == pytest.approx(ece_reference(p1, t1, n_bins), rel=1e-12, abs=1e-15)


def test_ece_perfectly_calibrated_is_zero():
    """Confidence 1 and always right: ECE 0; confidence 1 and always wrong: 1."""
    probs = np.eye(3)[[0, 1, 2, 0]]
    assert losslab.expected_calibration_error(probs, np.array([0, 1, 2, 0])) == 0.0
    assert losslab.expected_calibration_error(probs, np.array([1, 2, 0, 1])) == 1.0


# ---------------------------------------------------------------------------
# perplexity


def test_perplexity_scalar_and_per_token(rng):
    """perplexity(mean CE) = exp(mean CE); per-token losses from
    torch.nn.functional.cross_entropy(reduction='none') with a padding mask give
    exp of torch's mean CE over the kept tokens (ignore_index=-100)."""
    assert losslab.perplexity(0.0) == 1.0
    assert losslab.perplexity(math.log(12.5)) == pytest.approx(12.5, rel=1e-15)
    assert losslab.perplexity(np.float64(2.0)) == pytest.approx(math.exp(2.0), rel=1e-15)
    logits = torch.from_numpy(rng.normal(0, 2, (4, 7, 11)))
    targets = torch.from_numpy(labels(rng, 28, 11).reshape(4, 7))
    mask = rng.uniform(size=(4, 7)) < 0.7
    mask[0, 0] = True
    per_token = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    masked_targets = torch.where(torch.from_numpy(mask), targets, torch.tensor(-100))
    mean_ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), masked_targets).item()
    assert losslab.perplexity(per_token.numpy(), mask=mask) == pytest.approx(math.exp(mean_ce), rel=1e-12)
    assert losslab.perplexity(per_token, mask=torch.from_numpy(mask)) == pytest.approx(math.exp(mean_ce), rel=1e-12)
    assert losslab.perplexity(per_token.float().numpy()) == pytest.approx(
        math.exp(per_token.mean().item()), rel=1e-6
    )


def test_perplexity_errors():
    """Negative or NaN cross-entropy, a mask that selects nothing, a mask of
    another shape, a mask with a scalar: ValueError."""
    with pytest.raises(ValueError, match=r"perplexity: mean_cross_entropy must be >= 0"):
        losslab.perplexity(-1.0)
    with pytest.raises(ValueError, match=r"perplexity: mask selects no token"):
        losslab.perplexity(np.ones(3), mask=np.zeros(3, bool))
    with pytest.raises(ValueError, match=r"perplexity: token_losses shape \(3,\) does not match mask shape \(2,\)"):
        losslab.perplexity(np.ones(3), mask=np.ones(2, bool))
    with pytest.raises(ValueError, match=r"perplexity: token_losses contains NaN"):
        losslab.perplexity(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"perplexity: mask needs per-token losses"):
        losslab.perplexity(1.0, mask=np.ones(1, bool))


# ---------------------------------------------------------------------------
# shared label errors


@pytest.mark.parametrize(
    "fn",
    [
        losslab.accuracy,
        losslab.confusion_matrix,
        lambda p, t: losslab.f1_score(p, t, average="macro"),
    ],
    ids=["accuracy", "confusion_matrix", "f1_score"],
)
def test_label_errors(fn):
    """Negative labels, non-0/1 float labels, shape mismatch, 2-d labels, empty
    input, None and unsupported dtypes: ValueError / TypeError with the index."""
    ok = np.array([0, 1, 1])
    with pytest.raises(ValueError, match=r"target has the negative label -100 at index 2"):
        fn(ok, np.array([0, 1, -100]))
    with pytest.raises(ValueError, match=r"pred is a float array with the value 0.5 at index 1"):
        fn(np.array([0.0, 0.5, 1.0]), ok)
    with pytest.raises(ValueError, match=r"pred shape \(2,\) does not match|pred.*\(2,\)"):
        fn(np.array([0, 1]), ok)
    with pytest.raises(ValueError, match=r"target has shape \(3, 1\)"):
        fn(ok[:, None], ok[:, None])
    with pytest.raises(ValueError, match=r"pred"):
        fn(np.zeros(0, np.int64), np.zeros(0, np.int64))
    with pytest.raises(TypeError, match=r"target must be an array, not None"):
        fn(ok, None)
    with pytest.raises(TypeError, match=r"pred has dtype complex128"):
        fn(ok.astype(np.complex128), ok)
