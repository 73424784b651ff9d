"""losslab.gradcheck: it passes correct gradients and catches wrong ones.

Oracle for "correct": the losses' own gradients, already checked against
PyTorch elsewhere; for "wrong": deliberately perturbed gradients.
"""

import numpy as np
import pytest

import losslab


def test_accepts_correct_gradients_of_several_losses():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=20), rng.normal(size=20)
    assert losslab.gradcheck(losslab.huber_loss, x, y, delta=0.7)
    assert losslab.gradcheck(losslab.log_cosh_loss, x, y, reduction="sum")
    logits = rng.normal(size=(5, 4))
    labels = np.array([0, 3, 1, 2, 2])
    r = losslab.gradcheck(losslab.cross_entropy, logits, labels, label_smoothing=0.1)
    assert r.ok and r.errors[0] < 1e-7


def test_checks_several_inputs():
    rng = np.random.default_rng(1)
    h, w = rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
    t = np.array([0, 5, 2, 2])
    r = losslab.gradcheck(losslab.linear_cross_entropy, h, w, t, wrt=[0, 1])
    assert set(r.errors) == {0, 1} and r.ok


def test_catches_a_wrong_gradient():
    def wrong_mse(x, y, return_grad=False, **kw):
        out = losslab.mse_loss(x, y, return_grad=return_grad, **kw)
        if not return_grad:
            return out
        loss, g = out
        return loss, g * 1.01  # 1 % off
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=10), rng.normal(size=10)
    assert not losslab.gradcheck(wrong_mse, x, y, raise_exception=False)
    with pytest.raises(AssertionError, match="gradient mismatch"):
        losslab.gradcheck(wrong_mse, x, y)


def test_bad_arguments():
    with pytest.raises(ValueError, match="not floating point"):
        losslab.gradcheck(losslab.cross_entropy, np.zeros((2, 3)), np.array([0, 1]), wrt=[1])
    with pytest.raises(ValueError, match="eps"):
        losslab.gradcheck(losslab.mse_loss, np.zeros(2), np.zeros(2), eps=0)
