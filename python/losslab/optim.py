"""Optimizers, gradient clipping and learning-rate schedules of the losslab
training engine, with torch.optim's names, defaults and update rules
(matched step by step against torch 2.13 in tests/python/test_train.py).

    opt = losslab.optim.Adam(model, lr=1e-3)
    model.forward(x, training=True); model.backward(g); opt.step()

The update rules and how schedules compose are in docs/training.md. This
module holds no math.
"""

from __future__ import annotations

from . import _core

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "clip_grad_norm_",
    "clip_grad_value_",
    "schedule",
    "scheduled_lr",
    "GradScaler",
]

_DEFAULTS = dict(
    lr=1e-3,
    weight_decay=0.0,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    amsgrad=False,
    alpha=0.99,
    centered=False,
)


class Optimizer:
    """Base class: holds the C++ optimizer bound to one model's parameters."""

    kind = ""

    def __init__(self, model, **options):
        opts = dict(_DEFAULTS)
        opts.update(options)
        self.model = model
        self._impl = _core._TrainOptimizer(self.kind, model.num_parameters, **opts)

    @classmethod
    def _from_impl(cls, model, impl):
        kind = impl.options["kind"]
        sub = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}[kind]
        self = sub.__new__(sub)
        self.model = model
        self._impl = impl
        return self

    @property
    def options(self) -> dict:
        return self._impl.options

    @property
    def lr(self) -> float:
        return self._impl.options["lr"]

    @property
    def steps(self) -> int:
        """Number of steps taken (the schedule's clock)."""
        return self._impl.steps

    def state(self):
        """Copies of the state buffers (momentum, exp_avg, exp_avg_sq, ...)."""
        return self._impl.get_state()

    def step(self, lr=None) -> None:
        """One update of the model from its current gradients."""
        self._impl.step(self.model._impl, lr)

    def __repr__(self):
        o = self.options
        return f"{type(self).__name__}(lr={o['lr']}, weight_decay={o['weight_decay']})"


class SGD(Optimizer):
    """torch.optim.SGD: g += wd p; buf = mu buf + (1 - dampening) g (buf = g
    on the first step); g = g + mu buf (nesterov) or buf; p -= lr g."""

    kind = "sgd"

    def __init__(self, model, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(
            model, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov
        )


class Adam(Optimizer):
    """torch.optim.Adam (L2 weight decay added to the gradient)."""

    kind = "adam"

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(
            model, lr=lr, beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )


class AdamW(Optimizer):
    """torch.optim.AdamW: decoupled weight decay p *= 1 - lr wd."""

    kind = "adamw"

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(
            model, lr=lr, beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )


class RMSprop(Optimizer):
    """torch.optim.RMSprop (alpha, eps, weight_decay, momentum, centered)."""

    kind = "rmsprop"

    def __init__(self, model, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(
            model, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered
        )


def clip_grad_norm_(model, max_norm: float) -> float:
    """torch.nn.utils.clip_grad_norm_ on the model's gradients (2-norm over
    every parameter); returns the norm before clipping."""
    return _core._train_clip_model(model._impl, float(max_norm), 0.0)


def clip_grad_value_(model, clip_value: float) -> None:
    """torch.nn.utils.clip_grad_value_ on the model's gradients."""
    _core._train_clip_model(model._impl, 0.0, float(clip_value))


_KINDS = {"constant": 0, "step": 1, "exponential": 2, "cosine": 3}


def schedule(
    kind: str = "constant",
    *,
    warmup_steps: int = 0,
    warmup_start_factor: float = 0.0,
    step_size: int = 1,
    gamma: float = 0.1,
    t_max: int = 1,
    eta_min: float = 0.0,
) -> dict:
    """A learning-rate schedule over optimizer steps t = 0, 1, ...:
    lr(t) = lr0 * warmup(t) * decay(max(0, t - warmup_steps)); kind is
    "constant", "step" (StepLR), "exponential" (ExponentialLR) or "cosine"
    (CosineAnnealingLR's closed form, eta_min absolute). See docs/training.md.
    """
    if kind not in _KINDS:
        raise ValueError(f"schedule: kind {kind!r} is not known; use one of {sorted(_KINDS)}")
    return dict(
        kind=float(_KINDS[kind]),
        warmup_steps=float(warmup_steps),
        warmup_start_factor=float(warmup_start_factor),
        step_size=float(step_size),
        gamma=float(gamma),
        t_max=float(t_max),
        eta_min=float(eta_min),
    )


def scheduled_lr(base_lr: float, sched: dict, step: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) under ``sched``."""
    return _core._train_scheduled_lr(float(base_lr), sched or {}, int(step))


class GradScaler:
    """Loss scaling with torch.amp.GradScaler's semantics (``fit(...,
    loss_scale=scaler)`` uses it and updates it in place; checkpoints save it).

    Each step the loss (hence dL/doutput) is multiplied by ``scale`` before
    the backward pass and the gradients by float32(1 / scale) after it; a
    step with an inf/NaN gradient is skipped and halves the scale
    (``backoff_factor``), ``growth_interval`` clean steps in a row double it
    (``growth_factor``). ``dynamic=False`` keeps ``init_scale`` fixed (a static
    loss scale). The scale is float32, as torch's.
    """

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        *,
        dynamic: bool = True,
        _impl=None,
    ):
        if _impl is not None:
            self._impl = _impl
            return
        self._impl = _core._TrainGradScaler(
            "dynamic" if dynamic else "static",
            float(init_scale),
            float(growth_factor),
            float(backoff_factor),
            int(growth_interval),
        )

    @property
    def scale(self) -> float:
        """The current loss scale (torch: ``get_scale()``)."""
        return self._impl.scale

    def get_scale(self) -> float:
        return self._impl.scale

    @property
    def growth_tracker(self) -> int:
        """Clean steps since the last change of the scale."""
        return self._impl.growth_tracker

    @property
    def skipped_steps(self) -> int:
        """Steps skipped for inf/NaN gradients while this scaler was in use."""
        return self._impl.skipped_steps

    @property
    def options(self) -> dict:
        return self._impl.options

    def update(self, found_inf: bool) -> None:
        """One step of torch's ``_amp_update_scale_`` rule."""
        self._impl.update(bool(found_inf))

    def __repr__(self):
        return (
            f"GradScaler(scale={self.scale}, growth_tracker={self.growth_tracker}, "
            f"skipped_steps={self.skipped_steps})"
        )
