"""Claim (7) of the training engine, fuller than its test, over several seeds.

    PYTHONPATH=build/<dir>/pkg .venv/bin/python examples/python/generative_claims.py \
        [--seeds 5] [--out gan_digits_samples.png]

VAE on digits (pixels / 16, 75/25 split with seed 0): the ELBO per epoch,
and held-out reconstruction error per image (binary cross-entropy on the
pixel intensities, the VAE's own loss, and squared error) of decode(mu(x))
against the mean training image.

GAN on digits: trains without NaN; the share of 1000 samples that a
cross-entropy MLP (losslab.nn.MLP + losslab.fit, the model of claim 4)
classifies at >= 80% confidence, the classes they fall into, and a 10 x 10
grid of samples written as PNG (seed 0). The pytest versions (one seed each)
are in tests/python/test_train_models.py; the figures are recorded in
docs/training_models.md.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

import losslab
from losslab import models, optim
from losslab import nn as lnn

DATA = pathlib.Path(__file__).resolve().parents[2] / "data"


def digits():
    raw = np.loadtxt(DATA / "digits.csv.gz", delimiter=",", dtype=np.float32)
    x, y = raw[:, :64] / 16.0, raw[:, 64].astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    tr, te = perm[:1348], perm[1348:]
    return x[tr], y[tr], x[te], y[te]


def bce_per_image(p, x):
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(np.mean(-(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(1)))


def mse_per_image(p, x):
    return float(np.mean(((p.astype(np.float64) - x) ** 2).sum(1)))


def softmax(logits):
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--vae-epochs", type=int, default=100)
    ap.add_argument("--gan-epochs", type=int, default=100)
    ap.add_argument("--out", default="gan_digits_samples.png", help="PNG grid of GAN samples (seed 0)")
    args = ap.parse_args()
    xtr, ytr, xte, yte = digits()
    mean = np.broadcast_to(xtr.mean(0), xte.shape)
    print(f"mean-image baseline on held-out digits: BCE/image {bce_per_image(mean, xte):.2f}, "
          f"MSE/image {mse_per_image(mean, xte):.3f}")

    print("\n== VAE (64-128-[8]-128-64, Adam 1e-3, batch 64) ==")
    print("seed  elbo@1   elbo@end  val_elbo  BCE/img  MSE/img  time")
    for seed in range(args.seeds):
        vae = models.VAE(64, [128], latent=8, seed=seed)
        t = time.perf_counter()
        h = vae.fit(xtr, optimizer=optim.Adam(vae, lr=1e-3), epochs=args.vae_epochs, batch_size=64,
                    validation=xte, seed=seed)
        dt = time.perf_counter() - t
        rec = vae.reconstruct(xte)
        print(f"{seed:4d}  {h['elbo'][0]:7.2f}  {h['elbo'][-1]:8.2f}  {h['val_elbo'][-1]:8.2f}  "
              f"{bce_per_image(rec, xte):7.2f}  {mse_per_image(rec, xte):7.3f}  {dt:4.1f}s")

    print("\n== classifier for the GAN samples (MLP 64-256-10, cross_entropy) ==")
    clf = lnn.MLP(64, [256], 10, dropout=0.2, seed=0)
    losslab.fit(clf, xtr, ytr, loss="cross_entropy", optimizer=optim.Adam(clf, lr=2e-3), epochs=30, batch_size=32,
                seed=0)
    acc = float(np.mean(np.argmax(clf.predict(xte), 1) == yte))
    real_share = float(np.mean(softmax(clf.predict(xte)).max(1) >= 0.8))
    print(f"held-out accuracy {acc:.4f}; real held-out digits at >= 80% confidence: {real_share:.3f}")

    print(f"\n== GAN (G 16-128-64 sigmoid, D 64-128-1, non-saturating, Adam 1e-3 betas (0.5, 0.999), "
          f"{args.gan_epochs} epochs) ==")
    print("seed  share>=0.8  d_loss  g_loss  classes of the confident samples          time")
    for seed in range(args.seeds):
        gan = models.GAN(16, 64, [128], [128], seed=seed)
        t = time.perf_counter()
        h = gan.fit(
            xtr,
            generator_optimizer=optim.Adam(gan.generator, lr=1e-3, betas=(0.5, 0.999)),
            discriminator_optimizer=optim.Adam(gan.discriminator, lr=1e-3, betas=(0.5, 0.999)),
            epochs=args.gan_epochs,
            batch_size=64,
            seed=seed,
        )
        dt = time.perf_counter() - t
        s = gan.sample(1000, seed=1)
        p = softmax(clf.predict(s))
        ok = p.max(1) >= 0.8
        counts = np.bincount(p.argmax(1)[ok], minlength=10).tolist()
        print(f"{seed:4d}  {ok.mean():10.3f}  {h['d_loss'][-1]:6.3f}  {h['g_loss'][-1]:6.3f}  {counts}  {dt:4.1f}s")
        if seed == 0:
            write_grid(gan.sample(100, seed=2), args.out)
    print(f"\nsample grid (seed 0): {args.out}")


def write_grid(samples, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # 10 x 10 cells of 8 x 8 pixels with a 2-pixel blank border around each.
    grid = np.zeros((100, 100))
    for k, img in enumerate(samples[:100]):
        r, c = divmod(k, 10)
        grid[r * 10 + 1 : r * 10 + 9, c * 10 + 1 : c * 10 + 9] = img.reshape(8, 8)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title("GAN samples, digits 8x8 (losslab)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
