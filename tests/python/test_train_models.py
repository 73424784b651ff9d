"""losslab.models (autoencoder, VAE, GAN, embedding net) and the claims of
issue 6 on real data:

(6) MNIST 8k/2k: 1-NN accuracy in a triplet-trained and in a
    contrastive-trained embedding beats 1-NN on the raw pixels (oracle: exact
    1-NN in NumPy).
(7) digits: a VAE's ELBO improves and its held-out reconstructions beat the
    mean training image (BCE and MSE per image, NumPy); a GAN trains without
    NaN and at least half of its samples are classified at >= 80% confidence
    by a cross-entropy MLP (losslab.nn.MLP + losslab.fit, >= 97% accurate).

Gradients against central differences are in tests/cpp/train/models_test.cc;
fuller runs with figures in examples/python/{generative,embedding}_claims.py.
"""

import pathlib

import numpy as np
import pytest

import losslab
from losslab import models, optim
from losslab import nn as lnn

DATA = pathlib.Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def digits():
    raw = np.loadtxt(DATA / "digits.csv.gz", delimiter=",", dtype=np.float32)
    x, y = raw[:, :64] / 16.0, raw[:, 64].astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    tr, te = perm[:1348], perm[1348:]
    return x[tr], y[tr], x[te], y[te]


@pytest.fixture(scope="module")
def mnist():
    raw = np.loadtxt(DATA / "mnist_10k.csv.gz", delimiter=",", skiprows=1, dtype=np.float32)
    y, x = raw[:, 0].astype(np.int64), raw[:, 1:] / 255.0
    # Rows are grouped by label: a seeded permutation makes the split.
    perm = np.random.default_rng(0).permutation(len(y))
    tr, te = perm[:8000], perm[8000:]
    raw_1nn = one_nn_accuracy(x[tr], y[tr], x[te], y[te])
    return x[tr], y[tr], x[te], y[te], raw_1nn


def one_nn_accuracy(xa, ya, xb, yb):
    """Exact 1-NN (Euclidean) of each row of xb among the rows of xa."""
    xa, xb = xa.astype(np.float64), xb.astype(np.float64)
    d = (xb * xb).sum(1)[:, None] - 2.0 * xb @ xa.T + (xa * xa).sum(1)[None, :]
    return float(np.mean(ya[np.argmin(d, axis=1)] == yb))


def bce_per_image(p, x):
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(np.mean(-(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(1)))


def mse_per_image(p, x):
    return float(np.mean(((p.astype(np.float64) - x) ** 2).sum(1)))


# ---- claim (7): VAE ---------------------------------------------------------
def test_vae_elbo_improves_and_reconstructions_beat_mean_image(digits):
    xtr, _, xte, _ = digits
    vae = models.VAE(64, [128], latent=8, seed=0)
    h = vae.fit(xtr, optimizer=optim.Adam(vae, lr=1e-3), epochs=30, batch_size=64, validation=xte, seed=0)
    elbo = h["elbo"]
    assert np.all(np.isfinite(elbo))
    assert elbo[-1] > elbo[0] + 5.0, elbo
    assert h["val_elbo"][-1] > h["val_elbo"][0]
    rec = vae.reconstruct(xte)
    mean = np.broadcast_to(xtr.mean(0), xte.shape)
    bce, bce0 = bce_per_image(rec, xte), bce_per_image(mean, xte)
    mse, mse0 = mse_per_image(rec, xte), mse_per_image(mean, xte)
    print(f"VAE held-out BCE/image {bce:.2f} vs mean image {bce0:.2f}; MSE/image {mse:.3f} vs {mse0:.3f}")
    assert bce < bce0 and mse < mse0


# ---- claim (7): GAN ---------------------------------------------------------
def test_gan_trains_without_nan_and_samples_are_classified_confidently(digits):
    xtr, ytr, xte, yte = digits
    clf = lnn.MLP(64, [256], 10, dropout=0.2, seed=0)
    losslab.fit(clf, xtr, ytr, loss="cross_entropy", optimizer=optim.Adam(clf, lr=2e-3), epochs=30, batch_size=32,
                seed=0)
    assert np.mean(np.argmax(clf.predict(xte), 1) == yte) >= 0.97

    gan = models.GAN(16, 64, [128], [128], seed=0)
    h = gan.fit(
        xtr,
        generator_optimizer=optim.Adam(gan.generator, lr=1e-3, betas=(0.5, 0.999)),
        discriminator_optimizer=optim.Adam(gan.discriminator, lr=1e-3, betas=(0.5, 0.999)),
        epochs=40,
        batch_size=64,
        seed=0,
    )
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert np.all(np.isfinite(h[key])), key
    s = gan.sample(1000, seed=1)
    assert s.shape == (1000, 64) and np.all((s >= 0) & (s <= 1))
    logits = clf.predict(s).astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    share = float(np.mean(p.max(1) >= 0.8))
    print(f"GAN samples classified at >= 80% confidence: {share:.3f}; classes "
          f"{np.bincount(p.argmax(1)[p.max(1) >= 0.8], minlength=10).tolist()}")
    assert share >= 0.5, share


# ---- claim (6): embeddings --------------------------------------------------
@pytest.mark.parametrize(
    "loss, mining, margin",
    [("triplet", "batch_all", 0.2), ("contrastive", "batch_hard", 0.5)],
)
def test_embedding_1nn_beats_raw_pixels_on_mnist(mnist, loss, mining, margin):
    xtr, ytr, xte, yte, raw = mnist
    net = models.EmbeddingNet(784, [256], 32, seed=0)
    net.fit(xtr, ytr, loss=loss, mining=mining, margin=margin, optimizer=optim.Adam(net, lr=1e-3), epochs=6,
            batch_size=128, seed=0)
    acc = one_nn_accuracy(net.embed(xtr), ytr, net.embed(xte), yte)
    print(f"MNIST 1-NN: raw pixels {raw:.4f}, {loss} ({mining}, margin {margin}) embedding {acc:.4f}")
    assert acc > raw, (acc, raw)


# ---- API -------------------------------------------------------------------
def test_autoencoder_trains_and_round_trips_parameters(digits):
    xtr, _, xte, _ = digits
    ae = models.Autoencoder(64, [32], latent=8, reconstruction="bce_with_logits", seed=0)
    before = ae.loss(xte)
    h = ae.fit(xtr, epochs=10, batch_size=64, validation=xte, seed=0)
    assert h["val_loss"][-1] == pytest.approx(ae.loss(xte), rel=1e-6)
    assert ae.loss(xte) < 0.8 * before
    z = ae.encode(xte)
    r = ae.decode(z)
    assert z.shape == (len(xte), 8) and r.shape == xte.shape
    np.testing.assert_array_equal(ae(xte), r)
    # bce_with_logits: decode gives probabilities; oracle: the per-image BCE.
    assert ae.loss(xte) == pytest.approx(bce_per_image(r, xte), rel=1e-3)
    p = ae.parameters()
    assert p.shape == (ae.num_parameters,)
    ae2 = models.Autoencoder(64, [32], latent=8, reconstruction="bce_with_logits", seed=5)
    ae2.set_parameters(p)
    np.testing.assert_array_equal(ae2.decode(ae2.encode(xte)), r)
    # The encoder view shares the weights: nn.Sequential.predict agrees.
    np.testing.assert_array_equal(ae.encoder.predict(xte), z)


def test_same_seed_gives_identical_weights(digits):
    xtr = digits[0][:256]

    def vae_run(seed):
        m = models.VAE(64, [32], latent=4, seed=0)
        m.fit(xtr, epochs=2, batch_size=32, seed=seed)
        return m.parameters()

    np.testing.assert_array_equal(vae_run(3), vae_run(3))
    assert not np.array_equal(vae_run(3), vae_run(4))

    def gan_run(seed):
        g = models.GAN(8, 64, [32], [32], seed=0)
        g.fit(xtr, epochs=2, batch_size=32, seed=seed)
        return np.concatenate([g.generator.parameters(), g.discriminator.parameters()])

    np.testing.assert_array_equal(gan_run(1), gan_run(1))
    g = models.GAN(8, 64, [32], [32], seed=0)
    p = gan_run(1)
    g.set_parameters(p)
    np.testing.assert_array_equal(g.parameters(), p)
    assert g.num_parameters == p.size
    with pytest.raises(ValueError, match="set_parameters"):
        g.set_parameters(p[:-1])


def test_vae_api_shapes_and_sampling(digits):
    xtr, _, xte, _ = digits
    vae = models.VAE(64, [32], latent=3, seed=0)
    mu, logvar = vae.encode(xte)
    assert mu.shape == logvar.shape == (len(xte), 3)
    np.testing.assert_array_equal(vae.reconstruct(xte), vae.decode(mu))
    s = vae.sample(5, seed=2)
    assert s.shape == (5, 64) and np.all((s > 0) & (s < 1))
    np.testing.assert_array_equal(s, vae.sample(5, seed=2))
    d = vae.loss(xte, noise_seed=1)
    # KL oracle (closed form, NumPy) from the encoder outputs.
    kl = np.mean(-0.5 * np.sum(1 + logvar - mu.astype(np.float64) ** 2 - np.exp(logvar.astype(np.float64)), 1))
    assert d["kl"] == pytest.approx(kl, rel=1e-4)


def test_callback_stops_training_and_sees_logs(digits):
    xtr = digits[0][:128]
    seen = []
    vae = models.VAE(64, [16], latent=2)
    h = vae.fit(xtr, epochs=5, batch_size=32, callback=lambda log: seen.append(log) or len(seen) < 2)
    assert len(h) == 2 and h.stopped_early
    assert {"epoch", "train_loss", "elbo", "kl", "reconstruction"} <= set(seen[0])


def test_gan_parts_are_views_and_optimizers_must_match(digits):
    xtr = digits[0][:128]
    gan = models.GAN(4, 64, [16], [16], seed=0)
    g0 = gan.generator.parameters()
    gan.fit(xtr, epochs=1, batch_size=32)
    assert not np.array_equal(gan.generator.parameters(), g0)
    with pytest.raises(ValueError, match="generator_optimizer"):
        gan.fit(xtr, generator_optimizer=optim.Adam(gan.discriminator))
    vae = models.VAE(64, [16], latent=2)
    with pytest.raises(ValueError, match="another model"):
        vae.fit(xtr, optimizer=optim.Adam(models.VAE(64, [16], latent=2)))


def test_embedding_net_embeds_unit_vectors_and_validates(digits):
    xtr, ytr, _, _ = digits
    net = models.EmbeddingNet(64, [32], 8, seed=0)
    e = net.embed(xtr[:50])
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    h = net.fit(xtr[:256], ytr[:256], loss="triplet", mining="random", margin=0.5, epochs=2, batch_size=64)
    assert len(h) == 2 and np.all(np.isfinite(h["train_loss"]))
    with pytest.raises(ValueError, match="labels"):
        net.fit(xtr[:10], ytr[:9])
    with pytest.raises(ValueError, match="mining"):
        net.fit(xtr[:10], ytr[:10], mining="semi_hard")
    with pytest.raises(TypeError, match="labels"):
        net.fit(xtr[:10], ytr[:10].astype(np.float32))
    with pytest.raises(ValueError, match=r"\(n, 64\)"):
        net.embed(xtr[:, :10])


def test_bad_model_options_raise_value_error():
    with pytest.raises(ValueError, match="reconstruction"):
        models.Autoencoder(4, reconstruction="bce")
    with pytest.raises(ValueError, match="output"):
        models.GAN(2, 4, output="relu")
    with pytest.raises(ValueError, match="beta"):
        models.VAE(4, beta=-1.0)
    with pytest.raises(ValueError, match="activation"):
        models.VAE(4, [3], activation="gelu")


# ---- PyTorch oracles for the gradients that cross model parts -------------
def _torch_mlp(seq, acts):
    """torch.nn.Sequential with the weights of a losslab Sequential."""
    import torch

    layers, dense = [], iter(seq.state_dict())
    for kind, _, _, param in seq.layers:
        if kind == "dense":
            w, b = next(dense)
            lin = torch.nn.Linear(w.shape[1], w.shape[0]).double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w.astype(np.float64)))
                lin.bias.copy_(torch.from_numpy(b.astype(np.float64)))
            layers.append(lin)
        else:
            layers.append(acts[kind](param))
    return torch.nn.Sequential(*layers)


_TORCH_ACTS = {
    "relu": lambda p: __import__("torch").nn.ReLU(),
    "leaky_relu": lambda p: __import__("torch").nn.LeakyReLU(p),
    "sigmoid": lambda p: __import__("torch").nn.Sigmoid(),
    "tanh": lambda p: __import__("torch").nn.Tanh(),
}


def _flat_grads(tm):
    import torch

    return torch.cat([torch.cat([m.weight.grad.reshape(-1), m.bias.grad]) for m in tm if hasattr(m, "weight")]).numpy()


def test_gan_generator_gradient_matches_torch_through_discriminator(digits):
    """One full-batch fit step with lr = 0: gan.generator.gradients() is the
    gradient of the non-saturating loss mean softplus(-D(G(z2))) with z2 =
    noise(seed, counter 1); PyTorch autograd on the same weights is the
    oracle."""
    torch = pytest.importorskip("torch")
    x = digits[0][:48]
    gan = models.GAN(6, 64, [16], [12], seed=3)
    tg = _torch_mlp(gan.generator, _TORCH_ACTS)
    td = _torch_mlp(gan.discriminator, _TORCH_ACTS)
    gan.fit(x, generator_optimizer=optim.SGD(gan.generator, lr=0.0),
            discriminator_optimizer=optim.SGD(gan.discriminator, lr=0.0), epochs=1, batch_size=None, seed=7)
    z2 = torch.from_numpy(gan.noise(48, 7, counter=1).astype(np.float64))
    loss = torch.nn.functional.softplus(-td(tg(z2))).mean()
    loss.backward()
    np.testing.assert_allclose(gan.generator.gradients(), _flat_grads(tg), rtol=2e-4, atol=1e-6)


def test_embedding_batch_all_gradient_matches_torch(digits):
    """Full batch, no shuffle, lr = 0: the gradient of batch_all triplet loss
    on L2-normalised embeddings (mean over the active triplets) against
    PyTorch autograd on the same weights."""
    torch = pytest.importorskip("torch")
    x, y = digits[0][:30], digits[1][:30]
    net = models.EmbeddingNet(64, [16], 4, seed=2)
    tm = _torch_mlp(net.net, _TORCH_ACTS)
    net.fit(x, y, loss="triplet", mining="batch_all", margin=0.5, optimizer=optim.SGD(net, lr=0.0), epochs=1,
            batch_size=None, shuffle=False)
    yt = torch.from_numpy(y)
    e = tm(torch.from_numpy(x.astype(np.float64)))
    e = e / e.norm(dim=1, keepdim=True).clamp_min(1e-12)
    d = (e[:, None, :] - e[None, :, :]).pow(2).sum(-1).clamp_min(1e-30).sqrt()
    same = yt[:, None] == yt[None, :]
    eye = torch.eye(len(y), dtype=torch.bool)
    valid = (same & ~eye)[:, :, None] & (~same)[:, None, :]  # [a, p, n]
    l = torch.relu(0.5 + d[:, :, None] - d[:, None, :])[valid]
    loss = l[l > 0].mean()
    loss.backward()
    assert (l > 0).sum() > 10
    np.testing.assert_allclose(net.gradients(), _flat_grads(tm), rtol=1e-3, atol=2e-6)


# ---- checkpoints (model.save / losslab.models.load) ----------------------
# Oracle for the resume: an uninterrupted run of the same seed, bitwise.


def _small(kind):
    """(model factory, fit(model, optimizers, epochs), optimizers factory)."""
    rng = np.random.default_rng(1)
    x = rng.random((40, 6)).astype(np.float32)
    y = np.arange(40) % 4
    kw = dict(batch_size=16, seed=3, clip_grad_norm=5.0, clip_grad_value=0.5)
    sched = optim.schedule("cosine", warmup_steps=2, warmup_start_factor=0.1, t_max=12)
    if kind == "GAN":
        make = lambda: models.GAN(3, 6, [8], [8], output="tanh", seed=2)  # noqa: E731
        opts = lambda m: (optim.Adam(m.generator, lr=1e-3), optim.Adam(m.discriminator, lr=1e-3))  # noqa: E731

        def fit(m, o, e):
            m.fit(x, generator_optimizer=o[0], discriminator_optimizer=o[1], epochs=e, schedule=sched, **kw)

    else:
        make = {
            "Autoencoder": lambda: models.Autoencoder(6, [8], 2, seed=2),
            "VAE": lambda: models.VAE(6, [8], 2, beta=0.5, seed=2),
            "EmbeddingNet": lambda: models.EmbeddingNet(6, [8], 3, seed=2),
        }[kind]
        opts = lambda m: (optim.SGD(m, lr=0.05, momentum=0.9, nesterov=True),)  # noqa: E731

        def fit(m, o, e):
            args = (x, y) if kind == "EmbeddingNet" else (x,)
            m.fit(*args, optimizer=o[0], epochs=e, schedule=sched, **kw)

    return make, fit, opts, sched


@pytest.mark.parametrize("kind", ["Autoencoder", "VAE", "GAN", "EmbeddingNet"])
def test_checkpoint_resume_is_bitwise_equal_to_uninterrupted_run(kind, tmp_path):
    make, fit, opts, sched = _small(kind)
    full = make()
    fo = opts(full)
    fit(full, fo, 4)

    part = make()
    po = opts(part)
    fit(part, po, 2)
    path = tmp_path / "m.llm"
    part.save(path, *po, schedule=sched)
    ck = models.load_checkpoint(path)
    assert ck["kind"] == kind and type(ck["model"]).__name__ == kind
    assert ck["schedule"] == sched
    loaded = getattr(models, kind).load(path, with_optimizer=True)
    model, lo = loaded[0], tuple(loaded[1:])
    assert model.clock == (2, 6)  # 3 batches of (16, 16, 8) per epoch
    np.testing.assert_array_equal(model.parameters(), part.parameters())
    fit(model, lo, 2)
    np.testing.assert_array_equal(model.parameters(), full.parameters())
    for a, b in zip(lo, fo):
        assert a.steps == b.steps
        for sa, sb in zip(a.state(), b.state()):
            np.testing.assert_array_equal(sa, sb)


def test_checkpoint_damaged_and_foreign_files_raise_value_error(tmp_path):
    vae = models.VAE(5, [4], 2, seed=0)
    opt = optim.Adam(vae)
    path = tmp_path / "v.llm"
    vae.save(path, opt)
    good = path.read_bytes()
    bad = tmp_path / "bad.llm"
    for n in list(range(0, 64)) + list(range(64, len(good), 37)):
        bad.write_bytes(good[:n])
        with pytest.raises(ValueError, match="not a valid losslab model checkpoint"):
            models.load(bad)
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 4
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="checksum does not match"):
        models.load(bad)
    bad.write_bytes(b"PK\x03\x04" + good[4:])
    with pytest.raises(ValueError, match="magic 'LLMODEL'"):
        models.load(bad)
    # Another model kind, and the other checkpoint format, both ways.
    with pytest.raises(ValueError, match="holds a VAE checkpoint, not a GAN"):
        models.GAN.load(path)
    with pytest.raises(ValueError, match="composite-model checkpoint"):
        lnn.load(path)
    seq = lnn.MLP(3, [4], 1)
    seq.save(tmp_path / "s.ck")
    with pytest.raises(ValueError, match="Sequential checkpoint"):
        models.load(tmp_path / "s.ck")
    # An optimizer built for another model is refused on save.
    with pytest.raises(ValueError, match="optimizer holds"):
        vae.save(path, optim.Adam(models.VAE(5, [3], 2)))
    assert models.load(path).clock == (0, 0)


def test_clip_grad_value_and_norm_match_torch_utils(digits):
    """One full-batch SGD step of an autoencoder with both clips against
    torch.nn.utils.clip_grad_value_ then clip_grad_norm_ (the order of
    losslab.fit) applied to the same gradient (``gradients()`` after fit is
    the step's unclipped gradient, taken at the initial weights)."""
    torch = pytest.importorskip("torch")
    x = digits[0][:64]
    ae = models.Autoencoder(64, [16], 4, seed=1)
    p0 = ae.parameters()
    lr = 0.3
    ae.fit(x, optimizer=optim.SGD(ae, lr=lr), epochs=1, batch_size=None, shuffle=False,
           clip_grad_value=0.01, clip_grad_norm=0.05)
    g = torch.tensor(ae.gradients(), dtype=torch.float64)
    p = torch.nn.Parameter(torch.zeros_like(g))
    p.grad = g.clone()
    assert float(g.abs().max()) > 0.01
    torch.nn.utils.clip_grad_value_([p], 0.01)
    total = torch.nn.utils.clip_grad_norm_([p], 0.05)
    assert float(total) > 0.05  # the norm clip is active too
    want = p0.astype(np.float64) - lr * p.grad.numpy()
    np.testing.assert_allclose(ae.parameters(), want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 2.5, 2.0**63])
def test_schedule_fields_are_checked_before_the_integer_cast(bad, tmp_path):
    """A schedule's integer fields must be whole int64 values (casting NaN,
    inf or 2**63 is undefined behaviour in C++); the error names the call."""
    x = np.random.default_rng(0).random((16, 8)).astype(np.float32)
    ae = models.Autoencoder(8, [4], 2, seed=0)
    sched = dict(optim.schedule("step", step_size=2), step_size=bad)
    with pytest.raises(ValueError, match=r"^fit: schedule step_size=.* is not a whole number"):
        ae.fit(x, epochs=1, schedule=sched)
    with pytest.raises(ValueError, match=r"^save: schedule step_size=.* is not a whole number"):
        ae.save(tmp_path / "ae.ckpt", schedule=sched)
    with pytest.raises(ValueError, match=r"^fit: schedule kind=1.5 is not a schedule kind code"):
        ae.fit(x, epochs=1, schedule=dict(optim.schedule("step"), kind=1.5))
