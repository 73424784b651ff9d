"""Models of the losslab training engine, in the spelling of torch.nn.

    model = losslab.nn.MLP(64, [64, 32], 10, activation="relu", seed=0)
    model = losslab.nn.Sequential(losslab.nn.Linear(4, 8), losslab.nn.ReLU(),
                                  losslab.nn.Linear(8, 1), seed=0)
    y = model.predict(X)                 # evaluation mode, (n, out_features)
    model.save("m.ckpt"); model = losslab.nn.load("m.ckpt")

All parameters live in one flat float32 buffer in the C++ engine
(``parameters()`` returns a copy); a Linear layer's weight is (out, in)
followed by its bias, torch.nn.Linear's layout (``state_dict()`` gives them
per layer). This module holds no math: see docs/training.md.
"""

from __future__ import annotations

import numpy as np

from . import _core

__all__ = [
    "Linear",
    "ReLU",
    "LeakyReLU",
    "Tanh",
    "Sigmoid",
    "Dropout",
    "Sequential",
    "MLP",
    "load",
    "load_checkpoint",
    "round_to_precision",
]


class _Layer:
    kind = ""

    def spec(self, width):
        return (self.kind, 0, 0, 0.0)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Linear(_Layer):
    """y = x W^T + b with W of shape (out_features, in_features)."""

    kind = "dense"

    def __init__(self, in_features: int, out_features: int):
        self.in_features = int(in_features)
        self.out_features = int(out_features)

    def spec(self, width):
        return ("dense", self.in_features, self.out_features, 0.0)

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features})"


Dense = Linear


class ReLU(_Layer):
    kind = "relu"


class Tanh(_Layer):
    kind = "tanh"


class Sigmoid(_Layer):
    kind = "sigmoid"


class LeakyReLU(_Layer):
    kind = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = float(negative_slope)

    def spec(self, width):
        return ("leaky_relu", 0, 0, self.negative_slope)


class Dropout(_Layer):
    """Inverted dropout with drop probability p (seeded, active in fit)."""

    kind = "dropout"

    def __init__(self, p: float = 0.5):
        self.p = float(p)

    def spec(self, width):
        return ("dropout", 0, 0, self.p)


class Sequential:
    """A chain of layers with explicit forward / backward.

    ``seed`` drives the weight initialisation ("auto": He-uniform before a
    ReLU / LeakyReLU, Xavier-uniform otherwise; biases 0).
    """

    def __init__(self, *layers, seed: int = 0, init: str = "auto", _impl=None):
        if _impl is not None:
            self._impl = _impl
            return
        specs = [layer.spec(None) for layer in layers]
        self._impl = _core._TrainModel(specs, seed=int(seed), init=init)

    # --- shape ---------------------------------------------------------
    @property
    def in_features(self) -> int:
        return self._impl.in_features

    @property
    def out_features(self) -> int:
        return self._impl.out_features

    @property
    def num_parameters(self) -> int:
        return self._impl.num_parameters

    @property
    def layers(self):
        """[(kind, in, out, param), ...] as the engine holds them."""
        return self._impl.layers

    # --- computation -----------------------------------------------------
    def forward(self, x, training: bool = False):
        """Outputs (n, out_features). training=True turns dropout on and
        keeps what ``backward`` needs (x must then be contiguous float32)."""
        return self._impl.forward(x, training)

    __call__ = forward

    def predict(self, x):
        """Outputs (n, out_features) in evaluation mode (float32)."""
        return self._impl.forward(x, False)

    def backward(self, grad_output):
        """Back-propagates dL/doutput of the last training forward; sets
        ``gradients()`` and returns dL/dx."""
        return self._impl.backward(grad_output)

    @property
    def precision(self) -> str:
        """Compute precision of forward / backward: "fp32", "bf16" or "fp16"
        (float32 master weights; half precision rounds the weights, every
        activation and every gradient: docs/training.md). ``fit`` sets it."""
        return self._impl.precision

    @precision.setter
    def precision(self, value: str) -> None:
        self._impl.precision = str(value)

    # --- parameters -----------------------------------------------------
    def parameters(self) -> np.ndarray:
        """A copy of the flat float32 parameter vector."""
        return self._impl.get_parameters()

    def set_parameters(self, values) -> None:
        self._impl.set_parameters(values)

    def gradients(self) -> np.ndarray:
        """A copy of the flat gradient of the last backward."""
        return self._impl.get_gradients()

    def state_dict(self):
        """[(weight (out, in), bias (out,)), ...] per Linear layer (copies)."""
        p = self.parameters()
        out = []
        for i, (kind, fin, fout, _) in enumerate(self.layers):
            if kind != "dense":
                continue
            o = self._impl.parameter_offset(i)
            w = p[o : o + fout * fin].reshape(fout, fin).copy()
            b = p[o + fout * fin : o + fout * (fin + 1)].copy()
            out.append((w, b))
        return out

    def load_state_dict(self, weights) -> None:
        """Inverse of state_dict (e.g. from torch.nn.Linear weights)."""
        p = self.parameters()
        dense = [i for i, l in enumerate(self.layers) if l[0] == "dense"]
        if len(weights) != len(dense):
            raise ValueError(
                f"load_state_dict: got {len(weights)} (weight, bias) pairs for "
                f"{len(dense)} Linear layers"
            )
        for i, (w, b) in zip(dense, weights):
            _, fin, fout, _ = self.layers[i]
            w = np.asarray(w, dtype=np.float32)
            b = np.asarray(b, dtype=np.float32)
            if w.shape != (fout, fin) or b.shape != (fout,):
                raise ValueError(
                    f"load_state_dict: layer {i} needs weight ({fout}, {fin}) and "
                    f"bias ({fout},); got {w.shape} and {b.shape}"
                )
            o = self._impl.parameter_offset(i)
            p[o : o + fout * fin] = w.ravel()
            p[o + fout * fin : o + fout * (fin + 1)] = b
        self.set_parameters(p)

    # --- checkpoints ----------------------------------------------------
    def save(self, path, optimizer=None, *, scaler=None, schedule=None) -> None:
        """Atomic binary checkpoint of the model (with its precision), and
        optionally the optimizer state, a GradScaler's state and a schedule
        (``losslab.optim.schedule(...)``; its position is the optimizer's
        step count)."""
        _core._train_save(
            str(path),
            self._impl,
            None if optimizer is None else optimizer._impl,
            None if scaler is None else scaler._impl,
            None if schedule is None else dict(schedule),
        )

    def __repr__(self):
        parts = []
        for kind, fin, fout, param in self.layers:
            if kind == "dense":
                parts.append(f"Linear({fin}, {fout})")
            elif kind == "leaky_relu":
                parts.append(f"LeakyReLU({param})")
            elif kind == "dropout":
                parts.append(f"Dropout({param})")
            else:
                parts.append({"relu": "ReLU()", "tanh": "Tanh()", "sigmoid": "Sigmoid()"}[kind])
        return "Sequential(" + ", ".join(parts) + ")"


class MLP(Sequential):
    """Linear(in, h0), act, [Dropout], ..., Linear(., out). ``hidden=[]`` is
    linear / logistic / softmax regression (choose the loss accordingly)."""

    def __init__(
        self,
        in_features: int,
        hidden=(),
        out_features: int = 1,
        *,
        activation: str = "relu",
        negative_slope: float = 0.01,
        dropout: float = 0.0,
        seed: int = 0,
        init: str = "auto",
    ):
        super().__init__(
            _impl=_core._train_mlp(
                int(in_features),
                [int(h) for h in hidden],
                int(out_features),
                activation,
                float(negative_slope),
                float(dropout),
                int(seed),
                init,
            )
        )


def load(path, with_optimizer: bool = False):
    """Loads a checkpoint written by ``Sequential.save``. Returns the model,
    or (model, optimizer or None) with with_optimizer=True. A truncated,
    corrupt or foreign file raises ValueError saying what is wrong."""
    ck = load_checkpoint(path)
    if not with_optimizer:
        return ck["model"]
    return ck["model"], ck["optimizer"]


def load_checkpoint(path) -> dict:
    """Everything a checkpoint holds: {"model", "optimizer", "scaler",
    "schedule", "precision"} (absent parts are None). Reads versions 1 and 2;
    a truncated, corrupt or foreign file raises ValueError."""
    impl, opt_impl, scaler_impl, sched = _core._train_load(str(path))
    model = Sequential(_impl=impl)
    from .optim import GradScaler, Optimizer

    return {
        "model": model,
        "optimizer": None if opt_impl is None else Optimizer._from_impl(model, opt_impl),
        "scaler": None if scaler_impl is None else GradScaler(_impl=scaler_impl),
        "schedule": None if sched is None else dict(sched),
        "precision": model.precision,
    }


def round_to_precision(x, precision: str) -> np.ndarray:
    """x (any shape, float) rounded to the "bf16" / "fp16" grid, flattened,
    as float32: the rounding the engine applies in half precision."""
    return _core._train_round(x, precision)


_COMPOSITE_MODELS = ("Autoencoder", "VAE", "GAN", "EmbeddingNet")


def __getattr__(name):
    # The composite models live in losslab.models (which imports this module),
    # so they are looked up lazily: losslab.nn.VAE is losslab.models.VAE.
    if name in _COMPOSITE_MODELS:
        from losslab import models

        return getattr(models, name)
    raise AttributeError(f"module 'losslab.nn' has no attribute {name!r}")
