"""losslab.fit: the training loop of the losslab engine.

    history = losslab.fit(model, X, y, loss="huber_loss",
                          loss_options={"delta": 1.0},
                          optimizer=losslab.optim.Adam(model, lr=1e-3),
                          epochs=50, batch_size=64, validation=(Xv, yv),
                          metrics=["mae"], seed=0)
    history["val_mae"]   # one value per epoch

Runs in C++ with the GIL released (the callback re-acquires it). The same
seed gives bitwise-identical weights at any thread count. No math here: see
docs/training.md.
"""

from __future__ import annotations

from . import _core

__all__ = ["fit", "History", "trainable_losses"]


class History:
    """Per-epoch logs: ``history.epochs`` is a list of dicts (epoch, lr,
    train_loss, val_loss, skipped_steps, loss_scale, underflow_fraction,
    train_<metric>, val_<metric>); ``history[key]`` is the list of one key;
    ``best_epoch`` (1-based), ``stopped_early``, ``skipped_steps`` (steps
    skipped for inf/NaN in this fit), ``loss_scale`` (the final scale) and
    ``scaler`` (the GradScaler used, or None)."""

    def __init__(self, epochs, best_epoch, stopped_early, skipped_steps=0, loss_scale=1.0, scaler=None):
        self.epochs = list(epochs)
        self.best_epoch = int(best_epoch)
        self.stopped_early = bool(stopped_early)
        self.skipped_steps = int(skipped_steps)
        self.loss_scale = float(loss_scale)
        self.scaler = scaler

    def __getitem__(self, key):
        return [e[key] for e in self.epochs]

    def __len__(self):
        return len(self.epochs)

    def __repr__(self):
        last = self.epochs[-1] if self.epochs else {}
        return f"History(epochs={len(self.epochs)}, best_epoch={self.best_epoch}, last={last})"


def trainable_losses():
    """Loss names ``fit`` accepts."""
    return list(_core._train_losses())


def _split_options(loss, options):
    scalars, quantile, class_weight, pos_weight = {}, [], [], []
    for key, value in (options or {}).items():
        if key == "quantile":
            quantile = [float(q) for q in ([value] if isinstance(value, (int, float)) else value)]
        elif key == "weight":
            class_weight = [float(w) for w in value]
        elif key == "pos_weight":
            pos_weight = [float(w) for w in ([value] if isinstance(value, (int, float)) else value)]
        elif key == "alpha" and value is None:
            scalars["alpha"] = -1.0  # torchvision: alpha < 0 = no weighting
        elif isinstance(value, (bool, int, float)):
            scalars[key] = float(value)
        else:
            raise TypeError(f"fit: loss option {key!r} of {loss} must be a number, got {type(value).__name__}")
    return scalars, quantile, class_weight, pos_weight


def fit(
    model,
    X,
    y,
    *,
    loss: str = "mse_loss",
    loss_options=None,
    optimizer=None,
    epochs: int = 10,
    batch_size=32,
    shuffle: bool = True,
    drop_last: bool = False,
    sample_weight=None,
    validation=None,
    metrics=(),
    monitor: str = "val_loss",
    patience: int = 0,
    min_delta: float = 0.0,
    restore_best: bool = False,
    clip_grad_norm=None,
    clip_grad_value=None,
    schedule=None,
    seed: int = 0,
    callback=None,
    precision: str = "fp32",
    loss_scale="auto",
) -> History:
    """Trains ``model`` in place and returns a :class:`History`.

    loss: a losslab loss name (``trainable_losses()``) with its options as
    in the loss's own function (``quantile``, ``weight`` (class weights),
    ``pos_weight`` as lists). y: float (n, out) / (n,) targets, or int class
    indices (n,) for cross_entropy / multi_margin_loss. batch_size=None is the
    full batch. sample_weight (n,) gives a weighted mean loss. validation:
    (Xv, yv) or (Xv, yv, wv). metrics: "rmse", "mae", "r2", "accuracy" on
    train and validation each epoch. Early stopping: ``patience`` epochs
    without an improvement of ``monitor`` by more than ``min_delta``;
    restore_best puts back the best epoch's weights. clip_grad_norm /
    clip_grad_value as torch.nn.utils. schedule: losslab.optim.schedule(...),
    over optimizer steps. callback(log_dict) after each epoch; returning False
    stops. optimizer defaults to Adam(model, lr=1e-3).

    precision: "fp32", "bf16" or "fp16": float32 master weights, a
    half-precision forward / backward emulated by rounding (docs/training.md);
    it stays set on the model. loss_scale: "dynamic" (torch.amp.GradScaler:
    2^16, x2 after 2000 clean steps, x0.5 and a skipped step on inf/NaN), a
    number (a static scale), None (no scaling), a losslab.optim.GradScaler
    (its state carries on and is updated in place), or "auto" (the default:
    "dynamic" for fp16, None otherwise). In every precision a step whose
    output, loss or gradient is inf/NaN is skipped and counted
    (``skipped_steps``).
    """
    if optimizer is None:
        from .optim import Adam

        optimizer = Adam(model)
    if optimizer.model is not model:
        raise ValueError("fit: the optimizer was built for another model; build it with this model")
    scalars, quantile, class_weight, pos_weight = _split_options(loss, loss_options)
    vx = vy = vw = None
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) not in (2, 3):
            raise ValueError("fit: validation must be (X, y) or (X, y, sample_weight)")
        vx, vy = validation[0], validation[1]
        vw = validation[2] if len(validation) == 3 else None
    if isinstance(metrics, str):
        metrics = [metrics]
    scaler = _make_scaler(loss_scale, precision)
    logs, best, stopped, skipped, final_scale = _core._train_fit(
        model._impl,
        optimizer._impl,
        loss,
        scalars,
        quantile,
        class_weight,
        pos_weight,
        X,
        y,
        sample_weight,
        vx,
        vy,
        vw,
        int(epochs),
        0 if batch_size is None else int(batch_size),
        bool(shuffle),
        bool(drop_last),
        int(seed),
        float(clip_grad_norm or 0.0),
        float(clip_grad_value or 0.0),
        schedule or {},
        list(metrics),
        monitor,
        int(patience),
        float(min_delta),
        bool(restore_best),
        callback,
        str(precision),
        None if scaler is None else scaler._impl,
    )
    return History(logs, best, stopped, skipped, final_scale, scaler)


def _make_scaler(loss_scale, precision):
    from .optim import GradScaler

    if isinstance(loss_scale, GradScaler):
        return loss_scale
    if isinstance(loss_scale, str):
        if loss_scale == "auto":
            return GradScaler() if precision == "fp16" else None
        if loss_scale == "dynamic":
            return GradScaler()
        raise ValueError(
            f"fit: loss_scale={loss_scale!r} is not known; use 'dynamic', 'auto', a number, None or a GradScaler"
        )
    if loss_scale is None:
        return None
    if isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool):
        return GradScaler(float(loss_scale), dynamic=False)
    raise TypeError(
        f"fit: loss_scale must be 'dynamic', 'auto', a number, None or a GradScaler; got {type(loss_scale).__name__}"
    )
