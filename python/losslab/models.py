"""Ready-made models of the losslab training engine: an autoencoder, a VAE, a
GAN and an embedding network, each with ``fit``.

    vae = losslab.models.VAE(64, hidden=[128], latent=8, seed=0)
    hist = vae.fit(X, optimizer=losslab.optim.Adam(vae, lr=1e-3), epochs=30,
                   batch_size=64, validation=Xv)
    hist["elbo"]                      # one value per epoch
    x_hat = vae.reconstruct(Xv)       # decode(mu(x))
    imgs = vae.sample(16, seed=0)

    gan = losslab.models.GAN(16, 64, generator_hidden=[128],
                             discriminator_hidden=[128], seed=0)
    gan.fit(X, epochs=50)             # Adam(lr=2e-4, betas=(0.5, 0.999)) each
    emb = losslab.models.EmbeddingNet(784, [256], 32, seed=0)
    emb.fit(X, labels, loss="triplet", mining="batch_hard", margin=0.2)
    E = emb.embed(X)

    opt = losslab.optim.Adam(vae, lr=1e-3)
    vae.fit(X, optimizer=opt, epochs=10)
    vae.save("vae.llm", opt)                   # atomic, no pickle
    vae, opt = losslab.models.load("vae.llm", with_optimizer=True)
    vae.fit(X, optimizer=opt, epochs=10)       # continues the run bitwise

Everything runs in C++ with the GIL released; the same seed gives bitwise
identical weights. ``parameters()`` is a copy of the flat float32 parameter
vector (encoder then decoder); one losslab.optim optimizer built on the model
steps it. The GAN has an optimizer per part (``gan.generator`` /
``gan.discriminator`` are losslab.nn.Sequential views sharing the weights).
The math and the choices are in docs/training_models.md.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .nn import Sequential
from .train import History

__all__ = ["Autoencoder", "VAE", "GAN", "EmbeddingNet", "load", "load_checkpoint"]


def _fit_args(epochs, batch_size, shuffle, drop_last, seed, clip_grad_norm, clip_grad_value, schedule, callback):
    return dict(
        epochs=int(epochs),
        batch_size=0 if batch_size is None else int(batch_size),
        shuffle=bool(shuffle),
        drop_last=bool(drop_last),
        seed=int(seed),
        clip_grad_norm=float(clip_grad_norm or 0.0),
        clip_grad_value=float(clip_grad_value or 0.0),
        schedule=schedule or {},
        callback=callback,
    )


def _optimizer(model, optimizer, name="optimizer", **defaults):
    if optimizer is None:
        from .optim import Adam

        return Adam(model, **defaults)
    if getattr(optimizer, "model", None) is not model:
        raise ValueError(f"fit: {name} was built for another model; build it with this model's parameters")
    return optimizer


class _Checkpointed:
    """save / load and the training clock, shared by every model here."""

    _KIND = ""

    @property
    def clock(self) -> tuple:
        """(epochs, steps) trained so far. The next fit continues from it
        (shuffles and noise draws), so fit(2 epochs) twice, or with a
        save / load in between, equals fit(4 epochs) bitwise."""
        return tuple(self._impl.clock)

    def save(self, path, optimizer=None, *, schedule=None) -> None:
        """Atomic binary checkpoint (no pickle) of the model: its options,
        every part's layers and weights, the training clock, and optionally
        the optimizer state and a schedule (``losslab.optim.schedule(...)``).
        Resuming with the loaded optimizer continues the run bitwise."""
        _core._train_save_model(
            str(path),
            self._impl,
            None if optimizer is None else optimizer._impl,
            None,
            None if schedule is None else dict(schedule),
        )

    @classmethod
    def load(cls, path, with_optimizer: bool = False):
        """Loads a checkpoint of this class (another model kind raises
        ValueError naming both). Returns the model, or (model, optimizer or
        None) with with_optimizer=True (a GAN: (gan, generator_optimizer,
        discriminator_optimizer))."""
        return _unpack(_load(path, cls._KIND), with_optimizer)


class _TwoPart(_Checkpointed):
    """Parameter plumbing shared by the autoencoder and the VAE."""

    @property
    def num_parameters(self) -> int:
        return self._impl.num_parameters

    def parameters(self):
        """A copy of the flat float32 parameters: encoder, then decoder."""
        return self._impl.get_parameters()

    def set_parameters(self, values) -> None:
        self._impl.set_parameters(values)

    def gradients(self):
        """A copy of the flat gradient of the last training step."""
        return self._impl.get_gradients()

    @property
    def encoder(self) -> Sequential:
        """The encoder as a losslab.nn.Sequential sharing this model's weights."""
        return Sequential(_impl=self._impl.encoder)

    @property
    def decoder(self) -> Sequential:
        return Sequential(_impl=self._impl.decoder)


class Autoencoder(_TwoPart):
    """Encoder MLP in -> hidden... -> latent and decoder MLP latent ->
    reversed(hidden)... -> in. ``reconstruction``: "mse" (summed over
    features, mean over rows) or "bce_with_logits" (x in [0, 1]; the decoder
    outputs logits and ``decode`` applies the sigmoid)."""

    _KIND = "Autoencoder"

    def __init__(
        self,
        in_features: int,
        hidden=(),
        latent: int = 2,
        *,
        activation: str = "relu",
        reconstruction: str = "mse",
        seed: int = 0,
    ):
        self._impl = _core._TrainAutoencoder(
            int(in_features), [int(h) for h in hidden], int(latent), activation, reconstruction, int(seed)
        )

    def encode(self, x):
        """Latent codes (n, latent), evaluation mode."""
        return self._impl.encode(x)

    def decode(self, z):
        """Reconstructions (n, in_features) of codes z."""
        return self._impl.decode(z)

    def forward(self, x):
        return self.decode(self.encode(x))

    __call__ = forward
    reconstruct = forward

    def loss(self, x) -> float:
        """Mean reconstruction loss of x (per row, summed over features)."""
        return self._impl.loss(x)

    def fit(
        self,
        X,
        *,
        optimizer=None,
        epochs: int = 10,
        batch_size=64,
        shuffle: bool = True,
        drop_last: bool = False,
        validation=None,
        clip_grad_norm=None,
        clip_grad_value=None,
        schedule=None,
        seed: int = 0,
        callback=None,
    ) -> History:
        """Trains in place; history has train_loss (and val_loss with
        validation=X_val) per epoch. optimizer defaults to Adam(lr=1e-3)."""
        opt = _optimizer(self, optimizer)
        logs, best, stopped = _core._train_fit_autoencoder(
            self._impl,
            opt._impl,
            X,
            validation,
            **_fit_args(
                epochs, batch_size, shuffle, drop_last, seed, clip_grad_norm, clip_grad_value, schedule, callback
            ),
        )
        return History(logs, best, stopped)


class VAE(_TwoPart):
    """Variational autoencoder (Kingma & Welling 2014): the encoder gives
    (mu, logvar), z = mu + exp(logvar / 2) eps with seeded eps ~ N(0, I), the
    decoder gives logits ("bce_with_logits", x in [0, 1]) or values ("mse").
    Loss per row = reconstruction (summed over features) + beta KL; the ELBO
    is its negative (beta = 1)."""

    _KIND = "VAE"

    def __init__(
        self,
        in_features: int,
        hidden=(),
        latent: int = 2,
        *,
        activation: str = "relu",
        reconstruction: str = "bce_with_logits",
        beta: float = 1.0,
        seed: int = 0,
    ):
        self._impl = _core._TrainVae(
            int(in_features), [int(h) for h in hidden], int(latent), activation, reconstruction, float(beta), int(seed)
        )

    def encode(self, x):
        """(mu, logvar), each (n, latent), evaluation mode."""
        return self._impl.encode(x)

    def decode(self, z):
        """Decoder output for codes z: probabilities for bce_with_logits."""
        return self._impl.decode(z)

    def reconstruct(self, x):
        """decode(mu(x)): the deterministic reconstruction."""
        return self._impl.reconstruct(x)

    forward = reconstruct
    __call__ = reconstruct

    def sample(self, n: int, seed: int = 0):
        """decode(z) for n draws z ~ N(0, I)."""
        return self._impl.sample(int(n), int(seed))

    def loss(self, x, noise_seed: int = 0) -> dict:
        """{"loss", "reconstruction", "kl", "elbo"}: means over the rows of x
        with the noise stream ``noise_seed``."""
        return self._impl.loss(x, int(noise_seed))

    def fit(
        self,
        X,
        *,
        optimizer=None,
        epochs: int = 10,
        batch_size=64,
        shuffle: bool = True,
        drop_last: bool = False,
        validation=None,
        clip_grad_norm=None,
        clip_grad_value=None,
        schedule=None,
        seed: int = 0,
        callback=None,
    ) -> History:
        """Trains in place. history keys: train_loss (mean -ELBO for
        beta = 1), reconstruction, kl, elbo; with validation=X_val also
        val_loss, val_reconstruction, val_kl, val_elbo. A NaN / inf loss
        raises ValueError naming the epoch and step."""
        opt = _optimizer(self, optimizer)
        logs, best, stopped = _core._train_fit_vae(
            self._impl,
            opt._impl,
            X,
            validation,
            **_fit_args(
                epochs, batch_size, shuffle, drop_last, seed, clip_grad_norm, clip_grad_value, schedule, callback
            ),
        )
        return History(logs, best, stopped)


class GAN(_Checkpointed):
    """Generator MLP noise -> hidden... -> data (sigmoid or tanh output) and
    discriminator MLP data -> hidden... -> 1 logit. ``loss``: a GAN loss kind
    of losslab.gan_generator_loss ("non_saturating" default, "minimax",
    "hinge", "wasserstein", "least_squares")."""

    _KIND = "GAN"

    def save(self, path, generator_optimizer=None, discriminator_optimizer=None, *, schedule=None) -> None:
        """Atomic checkpoint of both parts, the clock, and optionally both
        optimizers (pass the ones given to fit to resume bitwise: fit's
        default optimizers are new on every call) and a schedule."""
        _core._train_save_model(
            str(path),
            self._impl,
            None if generator_optimizer is None else generator_optimizer._impl,
            None if discriminator_optimizer is None else discriminator_optimizer._impl,
            None if schedule is None else dict(schedule),
        )

    def __init__(
        self,
        noise_dim: int,
        data_dim: int,
        generator_hidden=(),
        discriminator_hidden=(),
        *,
        generator_activation: str = "relu",
        discriminator_activation: str = "leaky_relu",
        negative_slope: float = 0.2,
        output: str = "sigmoid",
        loss: str = "non_saturating",
        seed: int = 0,
    ):
        self._impl = _core._TrainGan(
            int(noise_dim),
            int(data_dim),
            [int(h) for h in generator_hidden],
            [int(h) for h in discriminator_hidden],
            generator_activation,
            discriminator_activation,
            float(negative_slope),
            output,
            loss,
            int(seed),
        )
        self.generator = Sequential(_impl=self._impl.generator)
        self.discriminator = Sequential(_impl=self._impl.discriminator)

    @property
    def num_parameters(self) -> int:
        return self.generator.num_parameters + self.discriminator.num_parameters

    def parameters(self):
        """A copy of the flat float32 parameters: generator, then
        discriminator (each part also has its own ``parameters()``)."""
        return np.concatenate([self.generator.parameters(), self.discriminator.parameters()])

    def set_parameters(self, values) -> None:
        values = np.asarray(values, dtype=np.float32).ravel()
        ng = self.generator.num_parameters
        if values.shape != (self.num_parameters,):
            raise ValueError(
                f"GAN.set_parameters: got {values.size} values; the model has {self.num_parameters} "
                f"({ng} generator + {self.discriminator.num_parameters} discriminator)"
            )
        self.generator.set_parameters(values[:ng].copy())
        self.discriminator.set_parameters(values[ng:].copy())

    def noise(self, n: int, seed: int = 0, counter: int = 0):
        """(n, noise_dim) standard normal draws of stream (seed, counter).
        fit(seed=s) uses counter 2t for the discriminator step and 2t + 1
        for the generator step of its step t (0-based)."""
        return self._impl.noise(int(n), int(seed), int(counter))

    def generate(self, z):
        return self._impl.generate(z)

    def sample(self, n: int, seed: int = 0):
        """generate(noise) for n seeded draws."""
        return self._impl.sample(int(n), int(seed))

    __call__ = generate

    def discriminate(self, x):
        """Discriminator logits (n,)."""
        return self._impl.discriminate(x)

    def fit(
        self,
        X,
        *,
        generator_optimizer=None,
        discriminator_optimizer=None,
        epochs: int = 10,
        batch_size=64,
        shuffle: bool = True,
        drop_last: bool = False,
        clip_grad_norm=None,
        clip_grad_value=None,
        schedule=None,
        seed: int = 0,
        callback=None,
    ) -> History:
        """Alternating updates: per batch one discriminator step, then one
        generator step on fresh noise. Optimizers default to
        Adam(lr=2e-4, betas=(0.5, 0.999)) (Radford et al. 2016), built on
        ``gan.generator`` / ``gan.discriminator``. history keys: train_loss
        (= d_loss), d_loss, g_loss, d_real, d_fake (mean logits). A NaN / inf
        loss raises ValueError naming the epoch and step."""
        g_opt = _optimizer(self.generator, generator_optimizer, "generator_optimizer", lr=2e-4, betas=(0.5, 0.999))
        d_opt = _optimizer(
            self.discriminator, discriminator_optimizer, "discriminator_optimizer", lr=2e-4, betas=(0.5, 0.999)
        )
        logs, best, stopped = _core._train_fit_gan(
            self._impl,
            g_opt._impl,
            d_opt._impl,
            X,
            **_fit_args(
                epochs, batch_size, shuffle, drop_last, seed, clip_grad_norm, clip_grad_value, schedule, callback
            ),
        )
        return History(logs, best, stopped)


def _same_impl(a, b):
    return a is b or getattr(a, "_impl", None) is getattr(b, "_impl", object())


class EmbeddingNet(_Checkpointed):
    """MLP in -> hidden... -> embedding_dim, L2-normalised when
    ``normalize`` (then distances lie in [0, 2]: pick the margin to match)."""

    _KIND = "EmbeddingNet"

    def __init__(
        self,
        in_features: int,
        hidden=(),
        embedding_dim: int = 32,
        *,
        activation: str = "relu",
        normalize: bool = True,
        seed: int = 0,
    ):
        self._impl = _core._TrainEmbeddingNet(
            int(in_features), [int(h) for h in hidden], int(embedding_dim), activation, bool(normalize), int(seed)
        )
        self.net = Sequential(_impl=self._impl.net)

    @property
    def num_parameters(self) -> int:
        return self.net.num_parameters

    def parameters(self):
        return self.net.parameters()

    def set_parameters(self, values) -> None:
        self.net.set_parameters(values)

    def gradients(self):
        return self.net.gradients()

    def embed(self, x):
        """Embeddings (n, embedding_dim), evaluation mode."""
        return self._impl.embed(x)

    forward = embed
    __call__ = embed

    def fit(
        self,
        X,
        labels,
        *,
        loss: str = "triplet",
        mining: str = "random",
        margin: float = 1.0,
        optimizer=None,
        epochs: int = 10,
        batch_size=64,
        shuffle: bool = True,
        drop_last: bool = False,
        clip_grad_norm=None,
        clip_grad_value=None,
        schedule=None,
        seed: int = 0,
        callback=None,
    ) -> History:
        """Trains in place on mini-batches with integer labels.

        loss="triplet": triplet_margin_loss on triplets mined in each batch,
        mining "random" (per anchor a random positive and negative),
        "batch_hard" (batch_hard_triplet_loss) or "batch_all"
        (batch_all_triplet_loss). loss="contrastive": contrastive_loss on
        pairs (per anchor a random positive or negative, probability 1/2).
        The optimizer (default Adam(lr=1e-3)) is built on this model or on
        ``model.net``."""
        if optimizer is not None and _same_impl(getattr(optimizer, "model", None), self.net):
            opt = optimizer
        else:
            opt = _optimizer(self, optimizer)
        logs, best, stopped = _core._train_fit_embedding(
            self._impl,
            opt._impl,
            X,
            labels,
            loss,
            mining,
            float(margin),
            **_fit_args(
                epochs, batch_size, shuffle, drop_last, seed, clip_grad_norm, clip_grad_value, schedule, callback
            ),
        )
        return History(logs, best, stopped)


_CLASSES = {"Autoencoder": Autoencoder, "VAE": VAE, "GAN": GAN, "EmbeddingNet": EmbeddingNet}


def _wrap(kind, impl):
    cls = _CLASSES[kind]
    obj = cls.__new__(cls)
    obj._impl = impl
    if kind == "GAN":
        obj.generator = Sequential(_impl=impl.generator)
        obj.discriminator = Sequential(_impl=impl.discriminator)
    elif kind == "EmbeddingNet":
        obj.net = Sequential(_impl=impl.net)
    return obj


def _load(path, expected=None) -> dict:
    from .optim import Optimizer

    kind, impl, opt, opt2, sched = _core._train_load_model(str(path), expected)
    model = _wrap(kind, impl)
    out = {"model": model, "kind": kind, "schedule": None if sched is None else dict(sched)}
    if kind == "GAN":
        out["generator_optimizer"] = None if opt is None else Optimizer._from_impl(model.generator, opt)
        out["discriminator_optimizer"] = None if opt2 is None else Optimizer._from_impl(model.discriminator, opt2)
    else:
        out["optimizer"] = None if opt is None else Optimizer._from_impl(model, opt)
    return out


def _unpack(ck, with_optimizer):
    if not with_optimizer:
        return ck["model"]
    if ck["kind"] == "GAN":
        return ck["model"], ck["generator_optimizer"], ck["discriminator_optimizer"]
    return ck["model"], ck["optimizer"]


def load(path, with_optimizer: bool = False):
    """Loads a checkpoint written by ``model.save`` of any model here (the
    class is in the file). Returns the model, or with with_optimizer=True
    (model, optimizer or None), for a GAN (gan, generator_optimizer,
    discriminator_optimizer). A truncated, corrupt or foreign file (a
    losslab.nn checkpoint included) raises ValueError saying what is wrong."""
    return _unpack(_load(path), with_optimizer)


def load_checkpoint(path) -> dict:
    """Everything a checkpoint holds: {"model", "kind", "schedule", and
    "optimizer" or, for a GAN, "generator_optimizer" and
    "discriminator_optimizer"} (absent parts are None)."""
    return _load(path)
