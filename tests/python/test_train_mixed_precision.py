"""Mixed precision, loss scaling, fault handling, version-2 checkpoints and
the segmentation losses of the training engine.

Oracles: NumPy's float16 and ml_dtypes' bfloat16 conversions (IEEE
round-to-nearest-even) for the rounding; torch's own ``_amp_update_scale_``
kernel (what torch.amp.GradScaler.update calls) for the scale sequence; the
direct losslab segmentation loss calls plus the chain rule written out in
NumPy for one training step; bytes written by the version-1 code (commit
c3a29ce) for backward compatibility; a child process killed with SIGKILL
during saves for atomicity.
"""

from __future__ import annotations

import os

import ml_dtypes
import numpy as np
import pytest
import torch

import losslab
import losslab.nn as lnn
import losslab.optim as lopt
from losslab.train import fit, trainable_losses


def _edge_values():
    return np.array(
        [0.0, -0.0, 1.0, 65504.0, 65519.0, 65520.0, 1e6, 2.0**-24, 2.0**-25, 1.5 * 2.0**-24, 3e-8,
         1 + 2.0**-11, 1 + 3 * 2.0**-11, 3.3895e38, 3.4e38, 1e-40, np.inf, -np.inf],
        dtype=np.float32,
    )


def test_rounding_matches_numpy_float16_and_ml_dtypes_bfloat16(rng):
    """Oracle: numpy float16 / ml_dtypes bfloat16 casts (RNE, subnormals,
    overflow to inf)."""
    x = np.concatenate(
        [
            _edge_values(),
            (rng.standard_normal(20000) * np.exp2(rng.uniform(-30, 18, 20000))).astype(np.float32),
            (rng.standard_normal(5000) * np.exp2(rng.uniform(-130, 127, 5000))).astype(np.float32),
        ]
    )
    with np.errstate(over="ignore"):
        ref16 = x.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(lnn.round_to_precision(x, "fp16"), ref16)
    refbf = x.astype(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(lnn.round_to_precision(x, "bf16"), refbf)
    assert np.isnan(lnn.round_to_precision(np.array([np.nan], np.float32), "fp16")[0])
    with pytest.raises(ValueError, match="precision 'fp8'"):
        lnn.round_to_precision(x, "fp8")


@pytest.mark.parametrize("interval", [1, 3, 2000])
def test_grad_scaler_follows_torch_amp_update_scale(interval, rng):
    """Oracle: torch._amp_update_scale_ (the CPU kernel behind
    torch.amp.GradScaler.update) fed the same found_inf pattern."""
    ours = lopt.GradScaler(growth_interval=interval)
    scale = torch.tensor([2.0**16])
    tracker = torch.tensor([0], dtype=torch.int32)
    pattern = rng.random(3000) < 0.02
    pattern[:40] = False  # clean runs so the scale grows with small intervals
    for step, found in enumerate(pattern):
        torch._amp_update_scale_(scale, tracker, torch.tensor([float(found)]), 2.0, 0.5, interval)
        ours.update(bool(found))
        assert ours.scale == scale.item(), step
        assert ours.growth_tracker == tracker.item(), step
    assert ours.skipped_steps == int(pattern.sum())


def test_fit_fp16_dynamic_scaling_skips_overflow_and_backs_off(rng):
    x = rng.standard_normal((128, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32)).astype(np.float32)
    model = lnn.MLP(4, [16], 1, seed=0)
    scaler = lopt.GradScaler(init_scale=2.0**30, growth_interval=4)
    logs = []
    h = fit(model, x, y, loss="mse_loss", optimizer=lopt.Adam(model, lr=1e-2), epochs=10, batch_size=16,
            precision="fp16", loss_scale=scaler, callback=logs.append)
    assert model.precision == "fp16"
    # The scale overflowed fp16's gradients, was halved on each skipped
    # step (and grew after 4 clean ones); counts agree everywhere.
    assert h.skipped_steps > 5
    assert h.skipped_steps == scaler.skipped_steps == h["skipped_steps"][-1] == logs[-1]["skipped_steps"]
    assert h.loss_scale == scaler.scale == h["loss_scale"][-1]
    assert all(np.isfinite(model.parameters()))
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert 0.0 <= h["underflow_fraction"][-1] <= 1.0
    # fp32 logs have no underflow figure; "auto" means no scaling there.
    h32 = fit(model, x, y, loss="mse_loss", epochs=1)
    assert model.precision == "fp32" and np.isnan(h32["underflow_fraction"][0])
    assert h32.loss_scale == 1.0 and h32.scaler is None
    # bf16 with a static scale.
    hb = fit(model, x, y, loss="mse_loss", epochs=1, precision="bf16", loss_scale=128.0)
    assert hb.loss_scale == 128.0 and hb.scaler.options["kind"] == "static"
    with pytest.raises(ValueError, match="precision 'half'"):
        fit(model, x, y, epochs=1, precision="half")
    with pytest.raises(ValueError, match="loss_scale='always'"):
        fit(model, x, y, epochs=1, loss_scale="always")
    with pytest.raises(ValueError, match="growth_factor"):
        lopt.GradScaler(growth_factor=0.5)


def test_fp16_without_scaling_reports_underflow(rng):
    """Tiny weights (1e-3 of their initial values) and targets make the
    back-propagated gradients ~1e-9: they underflow in fp16 without loss
    scaling, and a 2^16 scale recovers most of them."""
    x = rng.standard_normal((256, 8)).astype(np.float32)
    y = (x.sum(1, keepdims=True) * 1e-6).astype(np.float32)
    fr = {}
    for ls in [None, "dynamic"]:
        model = lnn.MLP(8, [32], 1, seed=1)
        model.set_parameters(model.parameters() * 1e-3)
        h = fit(model, x, y, loss="mse_loss", epochs=1, batch_size=64, precision="fp16", loss_scale=ls, shuffle=False)
        fr[ls] = h["underflow_fraction"][0]
    assert fr[None] > 0.05
    assert fr["dynamic"] < fr[None] / 10


def test_nan_in_one_batch_is_skipped_reported_and_weights_stay_finite(rng):
    """Issue 9: a NaN feature in one row poisons exactly one batch per epoch:
    that step is skipped and counted, the others train, weights stay finite."""
    x = rng.standard_normal((96, 5)).astype(np.float32)
    y = (x @ rng.standard_normal(5)).astype(np.float32)
    x[40, 2] = np.nan
    model = lnn.MLP(5, [8], 1, seed=0)
    opt = lopt.SGD(model, lr=0.05)
    logs = []
    h = fit(model, x, y, loss="huber_loss", optimizer=opt, epochs=5, batch_size=32, callback=logs.append)
    assert h.skipped_steps == 5
    assert [e["skipped_steps"] for e in logs] == [1, 2, 3, 4, 5]
    assert opt.steps == 5 * 3 - 5
    assert np.all(np.isfinite(model.parameters()))
    assert np.isfinite(h["train_loss"]).all() and h["train_loss"][-1] < h["train_loss"][0]


def test_checkpoint_v2_scaler_schedule_precision(tmp_path, rng):
    model = lnn.MLP(3, [4], 2, seed=0)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = rng.integers(0, 2, 32)
    opt = lopt.Adam(model, lr=1e-2)
    sched = lopt.schedule("cosine", warmup_steps=3, warmup_start_factor=0.1, t_max=50, eta_min=1e-4)
    h = fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=2, batch_size=8, precision="fp16",
            schedule=sched, loss_scale=lopt.GradScaler(init_scale=2.0**20, growth_interval=3))
    path = tmp_path / "m.ckpt"
    model.save(path, optimizer=opt, scaler=h.scaler, schedule=sched)
    ck = lnn.load_checkpoint(path)
    assert ck["precision"] == "fp16" and ck["model"].precision == "fp16"
    assert ck["scaler"].scale == h.scaler.scale
    assert ck["scaler"].growth_tracker == h.scaler.growth_tracker
    assert ck["scaler"].skipped_steps == h.scaler.skipped_steps
    assert ck["scaler"].options == h.scaler.options
    assert ck["schedule"] == sched
    assert ck["optimizer"].steps == opt.steps
    # Resuming from the checkpoint continues bitwise like the original.
    kw = dict(loss="cross_entropy", epochs=1, batch_size=8, precision="fp16", schedule=sched, seed=3)
    fit(model, x, y, optimizer=opt, loss_scale=h.scaler, **kw)
    fit(ck["model"], x, y, optimizer=ck["optimizer"], loss_scale=ck["scaler"], **kw)
    np.testing.assert_array_equal(model.parameters(), ck["model"].parameters())
    assert ck["scaler"].scale == h.scaler.scale
    # Corruption anywhere in the new fields is a clear ValueError.
    good = path.read_bytes()
    for cut in range(len(good) - 120, len(good)):
        path.write_bytes(good[:cut])
        with pytest.raises(ValueError, match="not a valid losslab checkpoint"):
            lnn.load_checkpoint(path)
    bad = bytearray(good)
    bad[-20] ^= 0x10
    path.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="checksum|invalid"):
        lnn.load_checkpoint(path)


# Written by the version-1 code (commit c3a29ce): MLP(3, [2], 1, seed=5)
# with parameters arange(11)/8 - 0.5, then one SGD(lr=0.25, momentum=0.5)
# step on the gradients of forward(ones((2, 3))), backward(ones((2, 1))).
V1_HEX = (
    "4c4c545241494e00010000000100000003000000000000000003000000000000000200000000000000000000000000"
    "000001020000000000000002000000000000007b14ae47e17a843f0002000000000000000100000000000000000000"
    "0000000000050000000000000000000000000000000b00000000000000000000bf0000c0be000080be0000e0be0000"
    "a0be000040be0000803e0000803d0000003f0000e03e0000803e00000000000000d03f000000000000000000000000"
    "0000e03f0000000000000000cdccccccccccec3f2b8716d9cef7ef3f3a8c30e28e79453eae47e17a14aeef3f000000"
    "010000000000000001000000000000000b000000000000000000000000000000000000000000a03f0000a03f0000a0"
    "3f000000000000a03f000000000000403f00000040f2fe314df90c7dde"
)


def test_version_1_checkpoint_still_loads(tmp_path):
    path = tmp_path / "v1.ckpt"
    path.write_bytes(bytes.fromhex(V1_HEX))
    ck = lnn.load_checkpoint(path)
    np.testing.assert_array_equal(
        ck["model"].parameters(),
        np.array([-0.5, -0.375, -0.25, -0.4375, -0.3125, -0.1875, 0.25, 0.0625, 0.5, 0.4375, 0.25], np.float32),
    )
    assert ck["precision"] == "fp32" and ck["scaler"] is None and ck["schedule"] is None
    assert ck["optimizer"].steps == 1 and ck["optimizer"].options["momentum"] == 0.5
    np.testing.assert_array_equal(ck["optimizer"].state()[0], [0, 0, 0, 1.25, 1.25, 1.25, 0, 1.25, 0, 0.75, 2])
    model, opt = lnn.load(path, with_optimizer=True)
    assert model.num_parameters == 11 and opt.steps == 1


SEG_LOSSES = [
    ("dice_loss", {}, {}),
    ("jaccard_loss", {"smooth": 0.5}, {"smooth": 0.5}),
    ("tversky_loss", {"alpha": 0.7, "beta": 0.3, "gamma": 1.5}, {"alpha": 0.7, "beta": 0.3, "gamma": 1.5}),
    ("dice_cross_entropy_loss", {"dice_weight": 0.4, "ce_weight": 1.5}, {"dice_weight": 0.4, "ce_weight": 1.5}),
]


@pytest.mark.parametrize("name,opts,direct", SEG_LOSSES)
def test_segmentation_losses_train_one_step_like_the_direct_call(name, opts, direct, rng):
    """Oracle: the losslab loss called directly on the logits as one binary
    image (1, 1, n), chained through a linear model in NumPy: one full-batch
    SGD step must give p - lr dL/dp."""
    assert name in trainable_losses()
    n, d = 50, 4
    x = rng.standard_normal((n, d)).astype(np.float32)
    t = (rng.random(n) < 0.4).astype(np.float32)
    model = lnn.MLP(d, [], 1, seed=2)
    w, b = model.state_dict()[0]
    logits = (x @ w.T + b).astype(np.float32)
    value, g = getattr(losslab, name)(logits.reshape(1, 1, n), t.reshape(1, 1, n), mode="binary", return_grad=True,
                                      **direct)
    g = g.reshape(n, 1).astype(np.float64)
    gw = g.T @ x
    gb = g.sum(0)
    h = fit(model, x, t, loss=name, loss_options=opts, optimizer=lopt.SGD(model, lr=1.0), epochs=1, batch_size=None,
            shuffle=False)
    assert h["train_loss"][0] == pytest.approx(value, rel=1e-6)
    w2, b2 = model.state_dict()[0]
    np.testing.assert_allclose(w2, w - gw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b2, b - gb, rtol=1e-5, atol=1e-6)


def test_segmentation_losses_refuse_bad_use(rng):
    x = rng.standard_normal((20, 3)).astype(np.float32)
    t = (rng.random(20) < 0.5).astype(np.float32)
    with pytest.raises(ValueError, match="one output"):
        fit(lnn.MLP(3, [], 2), x, np.stack([t, t], 1), loss="dice_loss", epochs=1)
    with pytest.raises(ValueError, match="sample weights"):
        fit(lnn.MLP(3, [], 1), x, t, loss="dice_loss", sample_weight=np.ones(20), epochs=1)
    with pytest.raises(ValueError, match="unknown option 'delta'.*alpha, beta, eps, gamma, smooth"):
        fit(lnn.MLP(3, [], 1), x, t, loss="tversky_loss", loss_options={"delta": 1.0}, epochs=1)


def test_a_fit_that_raises_leaves_the_precision_and_weights_alone(rng):
    """Bad loss options, a NaN target (in the last batch), a metric the
    targets cannot give: all are refused before the model is touched, so its
    precision, weights and the optimizer's step count stay as they were. A
    fit whose callback raises mid-run gives the previous precision back.
    Oracle: the model's state before the call."""
    x = rng.standard_normal((40, 3)).astype(np.float32)
    t = (rng.random(40) < 0.5).astype(np.float32)
    m = lnn.MLP(3, [], 1)
    p0 = m.parameters()
    opt = lopt.SGD(m, lr=0.1)
    with pytest.raises(ValueError, match="unknown option 'delta'"):
        fit(m, x, t, loss="tversky_loss", loss_options={"delta": 1}, precision="fp16", optimizer=opt)
    assert m.precision == "fp32"
    y = x.sum(1)
    y[37] = np.nan  # in the last batch of 8: fit used to train 4 batches first
    with pytest.raises(ValueError, match=r"nan at index \(37, 0\)"):
        fit(m, x, y, precision="bf16", optimizer=opt, batch_size=8, shuffle=False)
    assert m.precision == "fp32"
    with pytest.raises(ValueError, match="nan"):
        fit(m, x, x.sum(1), validation=(x, y), precision="bf16", optimizer=opt)
    assert m.precision == "fp32"
    m3 = lnn.MLP(3, [], 3)
    m3.precision = "bf16"
    labels = rng.integers(0, 3, 40)
    with pytest.raises(ValueError, match="metric 'rmse' needs float targets"):
        fit(m3, x, labels, loss="cross_entropy", metrics=["rmse"], precision="fp16", epochs=1)
    assert m3.precision == "bf16"
    np.testing.assert_array_equal(m.parameters(), p0)
    assert opt.steps == 0

    def boom(log):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        fit(m, x, t, precision="fp16", loss_scale=None, optimizer=opt, callback=boom, epochs=3)
    assert m.precision == "fp32"
    assert opt.steps == 2  # one epoch of 40 rows in batches of 32 ran
    # A fit that returns keeps its precision (documented).
    fit(m, x, t, precision="bf16", optimizer=opt, epochs=1)
    assert m.precision == "bf16"
