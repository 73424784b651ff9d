"""Writes the seed corpus of fuzz_checkpoint: small valid checkpoints written
by the library itself (model only; Adam; SGD with momentum and dropout;
RMSprop with a GradScaler, a schedule and bf16 precision), and one
composite-model checkpoint of each kind (Autoencoder with Adam, VAE, GAN
with both optimizers and a schedule, EmbeddingNet), so that the fuzzer
starts from every section of both formats. Rerun after a format change:

    PYTHONPATH=<dir with the losslab package> .venv/bin/python fuzz/make_checkpoint_seeds.py
"""

from __future__ import annotations

import pathlib

from losslab import models, nn, optim

OUT = pathlib.Path(__file__).resolve().parent / "corpus" / "checkpoint"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    m = nn.MLP(3, [4], 2, seed=1)
    m.save(OUT / "mlp_model_only.ckpt")
    m.save(OUT / "mlp_adam.ckpt", optimizer=optim.Adam(m, amsgrad=True))
    d = nn.MLP(2, [3, 3], 1, activation="tanh", dropout=0.25, seed=2)
    d.save(OUT / "mlp_sgd_momentum_dropout.ckpt", optimizer=optim.SGD(d, lr=0.1, momentum=0.9))
    r = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 2), nn.Sigmoid(), seed=3)
    extra = {}
    if hasattr(optim, "GradScaler"):  # checkpoint version 2
        r.precision = "bf16"
        extra = dict(scaler=optim.GradScaler(), schedule=optim.schedule("cosine", warmup_steps=2,
                                                                        t_max=10))
    r.save(OUT / "seq_rmsprop_scaler_schedule.ckpt",
           optimizer=optim.RMSprop(r, momentum=0.5, centered=True), **extra)
    ae = models.Autoencoder(3, [2], 1, seed=4)
    ae.save(OUT / "model_autoencoder_adam.ckpt", optimizer=optim.Adam(ae))
    vae = models.VAE(3, [2], 1, seed=5)
    vae.save(OUT / "model_vae.ckpt")
    gan = models.GAN(1, 2, [2], [2], seed=6)
    gan.save(OUT / "model_gan_two_optimizers_schedule.ckpt",
             generator_optimizer=optim.Adam(gan.generator),
             discriminator_optimizer=optim.SGD(gan.discriminator, lr=0.1, momentum=0.5),
             schedule=optim.schedule("cosine", warmup_steps=2, t_max=10))
    emb = models.EmbeddingNet(3, [2], 2, seed=7)
    emb.save(OUT / "model_embedding_net_rmsprop.ckpt", optimizer=optim.RMSprop(emb))
    for p in sorted(OUT.iterdir()):
        print(p.name, p.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
