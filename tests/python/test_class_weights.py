"""class_weights against scikit-learn's compute_class_weight("balanced")
(inverse_frequency) and a NumPy float64 reference of Cui et al., CVPR 2019,
"Class-Balanced Loss Based on Effective Number of Samples" (effective_number:
(1 - beta) / (1 - beta^n_c), normalized to sum to C as in their code)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

import losslab


def effective_number_reference(y, c, beta):
    counts = np.bincount(y, minlength=c).astype(np.float64)
    w = np.zeros(c)
    present = counts > 0
    w[present] = (1.0 - beta) / (1.0 - np.power(beta, counts[present]))
    return w / w.sum() * c


@pytest.mark.parametrize("c", [2, 3, 10])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_inverse_frequency_matches_sklearn_balanced(c, dtype, rng):
    """inverse_frequency == sklearn compute_class_weight('balanced'), i.e.
    N / (C n_c), for imbalanced random labels of several integer dtypes."""
    probs = rng.dirichlet(np.ones(c) * 0.7)
    probs = 0.2 / c + 0.8 * probs  # every class present
    y = rng.choice(c, size=5000, p=probs / probs.sum())
    got = losslab.class_weights(y.astype(dtype))
    ref = compute_class_weight("balanced", classes=np.arange(c), y=y)
    assert got.dtype == np.float64 and got.shape == (c,)
    np.testing.assert_allclose(got, ref, rtol=1e-15)


def test_95_5_split_gives_19_times_the_weight():
    """The brief's check: a 95/5 binary split weights positives 19 times the
    negatives (sklearn convention), from int, bool, 0/1 float and torch labels."""
    y = np.array([0] * 95 + [1] * 5)
    for labels in (y, y.astype(bool), y.astype(np.float32), torch.from_numpy(y)):
        w = losslab.class_weights(labels)
        np.testing.assert_allclose(w, [100 / 190, 10.0], rtol=1e-15)
        assert w[1] / w[0] == pytest.approx(19.0, rel=1e-14)


@pytest.mark.parametrize("beta", [0.0, 0.9, 0.99, 0.999, 0.9999])
def test_effective_number_matches_reference(beta, rng):
    """effective_number == NumPy reference of Cui et al. (sum of weights = C)."""
    y = np.concatenate([np.full(n, k) for k, n in enumerate([3000, 700, 90, 12, 1])])
    rng.shuffle(y)
    got = losslab.class_weights(y, "effective_number", beta=beta)
    ref = effective_number_reference(y, 5, beta)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert got.sum() == pytest.approx(5.0, rel=1e-14)


def test_effective_number_tends_to_inverse_frequency():
    """beta -> 1 gives weights proportional to 1 / n_c."""
    y = np.array([0] * 80 + [1] * 20)
    w = losslab.class_weights(y, scheme="effective_number", beta=1 - 1e-12)
    assert w[1] / w[0] == pytest.approx(4.0, rel=1e-6)


def test_segmentation_shaped_labels_count_every_element():
    """Labels of any shape (e.g. (N, H, W) masks) count every element."""
    y = np.array([[[0, 1], [1, 1]], [[2, 1], [0, 0]]])
    np.testing.assert_allclose(
        losslab.class_weights(y), compute_class_weight("balanced", classes=np.arange(3), y=y.ravel()), rtol=1e-15
    )


def test_missing_classes():
    """A class without samples: ValueError naming it (sklearn raises too), or
    weight 0 with missing='zero' (the others keep N / (C n_c); for
    effective_number the weights still sum to C)."""
    y = np.array([0, 0, 2])
    with pytest.raises(ValueError, match=r"class_weights: class 1 of 3 has no sample.*missing='zero'"):
        losslab.class_weights(y)
    with pytest.raises(ValueError):
        compute_class_weight("balanced", classes=np.arange(3), y=y)
    w = losslab.class_weights(y, num_classes=4, missing="zero")
    np.testing.assert_allclose(w, [3 / 8, 0, 3 / 4, 0], rtol=1e-15)
    we = losslab.class_weights(y, "effective_number", num_classes=4, missing="zero", beta=0.9)
    np.testing.assert_allclose(we, effective_number_reference(y, 4, 0.9), rtol=1e-13)


def test_errors():
    """Bad scheme, beta, missing, num_classes; labels out of range, negative,
    non-0/1 floats, empty, None: ValueError / TypeError naming the argument."""
    y = np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"scheme must be 'inverse_frequency' or 'effective_number'; got 'balanced'"):
        losslab.class_weights(y, "balanced")
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
        losslab.class_weights(y, "effective_number", beta=1.0)
    with pytest.raises(ValueError, match=r"missing must be 'error' or 'zero'"):
        losslab.class_weights(y, missing="drop")
    with pytest.raises(ValueError, match=r"labels has the label 2 at index 2, outside \[0, 2\)"):
        losslab.class_weights(y, num_classes=2)
    with pytest.raises(ValueError, match=r"num_classes must be >= 1"):
        losslab.class_weights(y, num_classes=0)
    with pytest.raises(ValueError, match=r"negative label -100 at index 1"):
        losslab.class_weights(np.array([0, -100]))
    with pytest.raises(ValueError, match=r"float array with the value 0.25"):
        losslab.class_weights(np.array([0.0, 0.25]))
    with pytest.raises(ValueError, match=r"class_weights: labels"):
        losslab.class_weights(np.zeros(0, np.int64))
    with pytest.raises(TypeError, match=r"labels must be an array, not None"):
        losslab.class_weights(None)
