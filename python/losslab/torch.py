"""losslab losses for PyTorch: autograd functions and ``nn.Module`` classes.

Every losslab loss of the form ``loss(input, target, **options)`` is offered
here as a function backed by :class:`torch.autograd.Function` and as an
``nn.Module``; :func:`linear_cross_entropy` has its own autograd function
with gradients for hidden, weight and bias. Tensors cross into losslab
through DLPack and the results come back through ``torch.from_numpy``: no
copies either way. float32, float64 and, for the losses whose kernels take
them, bfloat16 and float16 tensors go in; values and gradients come back in
the input's dtype. Where PyTorch has the loss, the function is a drop-in for
``torch.nn.functional`` (same name, same semantics, same defaults)::

    import losslab.torch as LT
    loss = LT.cross_entropy(logits, labels, label_smoothing=0.1)
    loss.backward()

The forward pass computes the gradient with the value in one fused pass and
saves it; the backward pass multiplies it by the upstream gradient (a scalar
for "mean"/"sum", one value per loss element for "none"). Gradients with
respect to targets (or class weights) are not provided: a target that
requires grad is an error, not a silent zero. (For ``kl_divergence(p, q)``
the gradient is with respect to ``q``, and ``p`` is the fixed argument.)

Inside torch.distributed: :func:`vocab_parallel_cross_entropy` (logits split
over the vocabulary across ranks, Megatron-LM style) and
:func:`loss_sum_count` ((weighted sum, weight sum) pairs that micro-batches
and ranks add up to the exact global mean); both live in
:mod:`losslab.distributed`.
"""

from __future__ import annotations

import numpy as np
import torch

import losslab as _ll
from losslab.distributed import _to_torch, loss_sum_count, vocab_parallel_cross_entropy

__all__ = ["linear_cross_entropy", "LinearCrossEntropyLoss", "loss_sum_count",
           "vocab_parallel_cross_entropy"]


def _as_tensor(value, like: torch.Tensor) -> torch.Tensor:
    """A losslab result as a tensor: arrays (float16, ml_dtypes bfloat16
    included) share their memory; a reduced value becomes a 0-d tensor of the
    input's dtype (bfloat16 in, bfloat16 out, as torch does)."""
    if isinstance(value, np.ndarray):
        return _to_torch(value)
    return torch.tensor(value, dtype=like.dtype)


def _detach(v):
    return v.detach() if torch.is_tensor(v) else v


_HALF = (torch.bfloat16, torch.float16)


def _loss_and_grad(fn, a, b, diff, reduction, kwargs):
    """The loss and its gradient (a tensor). For bfloat16 / float16 input the
    kernel writes the gradient in float32 (it computes in float32), so the
    backward pass rounds it to the input dtype once, after the upstream
    gradient; a loss whose kernel does not take a float32 grad_out for half
    input returns it in the input dtype."""
    if diff.dtype in _HALF:
        buf = torch.empty(diff.shape, dtype=torch.float32)
        try:
            loss, _ = fn(a, b, reduction=reduction, return_grad=True, grad_out=buf,
                         **kwargs)
            return loss, buf
        except (TypeError, ValueError) as e:
            if "grad_out" not in str(e):
                raise
    loss, grad = fn(a, b, reduction=reduction, return_grad=True, **kwargs)
    return loss, _to_torch(grad)


class _InputTargetLoss(torch.autograd.Function):
    """Autograd for losses f(a, b, **options) whose losslab gradient is with
    respect to argument `wrt` (0: the input; 1: q of kl_divergence(p, q))."""

    @staticmethod
    def forward(ctx, a, b, name, reduction, options, wrt):
        fn = getattr(_ll, name)
        kwargs = {k: _detach(v) for k, v in options}
        diff = (a, b)[wrt]
        ctx.half = diff.dtype if diff.dtype in _HALF else None
        if diff.requires_grad:
            loss, grad = _loss_and_grad(fn, a.detach(), b.detach(), diff, reduction,
                                        kwargs)
            ctx.save_for_backward(grad)
        else:
            loss = fn(a.detach(), b.detach(), reduction=reduction, **kwargs)
        ctx.reduction = reduction
        ctx.wrt = wrt
        return _as_tensor(loss, diff)

    @staticmethod
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        if ctx.reduction == "none" and grad_output.dim() < grad.dim():
            # One loss per row (cross_entropy, nll_loss, multi_margin_loss:
            # class dimension 1, or 0 for (C,) input; kl_divergence: the
            # last dimension).
            dim = grad.dim() - 1 if ctx.wrt == 1 else (1 if grad.dim() > 1 else 0)
            grad_output = grad_output.unsqueeze(dim)
        grads = [None, None]
        if grad.dtype == torch.float32 and ctx.half is not None:
            # Half input: the float32 gradient times the upstream gradient,
            # rounded to the input dtype once.
            grads[ctx.wrt] = (grad * grad_output.float()).to(ctx.half)
        else:
            grads[ctx.wrt] = grad * grad_output
        return grads[0], grads[1], None, None, None, None


# Losses whose differentiable argument is the second one.
_GRAD_WRT_SECOND = {"kl_divergence": ("p", "q")}


def _make_function(name: str):
    core = getattr(_ll, name)
    wrt = 1 if name in _GRAD_WRT_SECOND else 0
    fixed = _GRAD_WRT_SECOND.get(name, ("input", "target"))[1 - wrt]

    def loss(input: torch.Tensor, target: torch.Tensor, *, reduction: str | None = None,
             **options) -> torch.Tensor:
        args = [input, target]
        if torch.is_tensor(args[1 - wrt]) and args[1 - wrt].requires_grad:
            raise NotImplementedError(
                f"losslab.torch.{name}: gradients with respect to {fixed} are not "
                f"provided; pass {fixed}.detach()")
        args = [a if torch.is_tensor(a) else torch.as_tensor(a) for a in args]
        if reduction is None:
            # Each loss's own default ("mean"; "batchmean" for kl_div).
            reduction = _DEFAULT_REDUCTION.get(name, "mean")
        return _InputTargetLoss.apply(args[0], args[1], name, reduction,
                                      tuple(sorted(options.items())), wrt)

    loss.__name__ = name
    loss.__qualname__ = name
    loss.__doc__ = (f"Autograd version of losslab.{name}; options as there.\n\n"
                    + (core.__doc__ or ""))
    return loss


_DEFAULT_REDUCTION = {"kl_div": "batchmean"}

# PyTorch's module class names for the losses it has.
_MODULE_NAMES = {
    "mse_loss": "MSELoss",
    "l1_loss": "L1Loss",
    "huber_loss": "HuberLoss",
    "smooth_l1_loss": "SmoothL1Loss",
    "poisson_nll_loss": "PoissonNLLLoss",
    "binary_cross_entropy": "BCELoss",
    "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
    "cross_entropy": "CrossEntropyLoss",
    "nll_loss": "NLLLoss",
    "kl_div": "KLDivLoss",
    "multi_margin_loss": "MultiMarginLoss",
}


def _module_name(name: str) -> str:
    if name in _MODULE_NAMES:
        return _MODULE_NAMES[name]
    return "".join(part.capitalize() for part in name.split("_"))


def _make_module(name: str, function):
    def __init__(self, reduction: str | None = None, **options):
        torch.nn.Module.__init__(self)
        self.reduction = reduction
        for key, value in options.items():
            if torch.is_tensor(value):
                self.register_buffer(key, value)
            else:
                setattr(self, key, value)
        self._option_names = tuple(options)

    def forward(self, input, target):
        options = {k: getattr(self, k) for k in self._option_names}
        return function(input, target, reduction=self.reduction, **options)

    def extra_repr(self):
        parts = [f"reduction={self.reduction!r}"] if self.reduction else []
        parts += [f"{k}={getattr(self, k)!r}" for k in self._option_names
                  if not torch.is_tensor(getattr(self, k))]
        return ", ".join(parts)

    cls = type(_module_name(name), (torch.nn.Module,), {
        "__init__": __init__, "forward": forward, "extra_repr": extra_repr,
        "__doc__": f"nn.Module wrapper of losslab.torch.{name}; options are "
                   f"given to the constructor.",
    })
    return cls


def _input_target_losses():
    """Names of losslab losses with the (input, target, ...) signature."""
    names = []
    for family in ("REGRESSION_LOSSES", "CLASSIFICATION_LOSSES"):
        names += list(getattr(_ll, family, ()))
    return [n for n in names if hasattr(_ll, n)]


for _name in _input_target_losses():
    _f = _make_function(_name)
    _m = _make_module(_name, _f)
    globals()[_name] = _f
    globals()[_m.__name__] = _m
    __all__ += [_name, _m.__name__]


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, target, options):
        kwargs = dict(options)
        ctx.reduction = kwargs.get("reduction", "mean")
        ctx.has_bias = bias is not None
        args = (hidden.detach(), weight.detach(), target.detach())
        b = None if bias is None else bias.detach()
        need = hidden.requires_grad or weight.requires_grad or (
            bias is not None and bias.requires_grad)
        if need and ctx.reduction != "none":
            loss, grads = _ll.linear_cross_entropy(*args, bias=b, return_grad=True, **kwargs)
            ctx.save_for_backward(*[_to_torch(g) for g in grads])
        else:
            loss = _ll.linear_cross_entropy(*args, bias=b, **kwargs)
            if need:
                # "none": the weight gradient mixes tokens, so the backward
                # pass recomputes with the per-token upstream gradient.
                ctx.inputs = (args, b, kwargs)
        return _as_tensor(loss, hidden)

    @staticmethod
    def backward(ctx, grad_output):
        if ctx.reduction == "none":
            args, b, kwargs = ctx.inputs
            go = grad_output.detach().to(args[0].dtype).contiguous()
            _, grads = _ll.linear_cross_entropy(*args, bias=b, return_grad=True,
                                                grad_output=go, **kwargs)
            grads = [_to_torch(g) for g in grads]
        else:
            grads = [g * grad_output for g in ctx.saved_tensors]
        gb = grads[2] if ctx.has_bias else None
        return grads[0], grads[1], gb, None, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor,
                         bias: torch.Tensor | None = None, **options) -> torch.Tensor:
    """Autograd version of losslab.linear_cross_entropy: the loss of the logits
    hidden @ weight.T + bias without forming them; gradients flow to hidden,
    weight and bias."""
    return _LinearCrossEntropy.apply(hidden, weight, bias, target,
                                     tuple(sorted(options.items())))


class LinearCrossEntropyLoss(torch.nn.Module):
    """nn.Module form of :func:`linear_cross_entropy`; options go to the
    constructor; forward(hidden, weight, target, bias=None)."""

    def __init__(self, **options):
        super().__init__()
        self.options = options

    def forward(self, hidden, weight, target, bias=None):
        return linear_cross_entropy(hidden, weight, target, bias=bias, **self.options)
