"""losslab inside torch.distributed: vocabulary-parallel cross-entropy and
(sum, count) reductions. Re-exported by :mod:`losslab.torch`.

losslab brings no communication engine of its own: the collectives are
``torch.distributed`` calls on the process group the user already has.

:func:`vocab_parallel_cross_entropy` is the cross-entropy of logits whose
vocabulary (class) dimension is split over the ranks of ``group``, as in
Megatron-LM's ``_VocabParallelCrossEntropy``: every rank holds
``logits[:, vocab_start:vocab_start + V_local]`` for the same tokens and the
same targets. Per token i, with the full logits z over V classes::

    lse_i = log sum_j exp(z_ij)                       (all-reduced: MAX, SUM)
    loss_i = lse_i - (1 - eps) z_i,t - (eps / V) sum_j z_ij + lambda lse_i^2
    d loss_i / d z_ij = p_ij (1 + 2 lambda lse_i) - (1 - eps) [j = t] - eps / V

(eps: label_smoothing, lambda: z_loss, p = softmax(z); torch's
label-smoothing convention; rows whose target is ignore_index give 0 and a
zero gradient). The local shard's work, the O(N V_local) exponentials, is
losslab's fused cross-entropy kernel: one call gives the shard's
log-sum-exp and softmax. The ranks then exchange, per token, their local
log-sum-exp (all-reduce MAX, then one all-reduce SUM of exp(lse_local - max),
the target logit held by its owner and the row sum of the logits), which is
Megatron's max / sum-exp exchange with the same two collectives; the O(N)
combination and the O(N V_local) rescaling of the softmax to the global
normalizer are torch ops on the shard.
"""

from __future__ import annotations

import numpy as np
import torch

import losslab as _ll

__all__ = ["vocab_parallel_cross_entropy", "loss_sum_count"]


def _to_torch(a) -> torch.Tensor:
    """A losslab result (NumPy array, ml_dtypes bfloat16 included) as a
    tensor sharing its memory."""
    if torch.is_tensor(a):
        return a
    a = np.asarray(a)
    if a.dtype.name == "bfloat16":  # ml_dtypes: torch reads it as uint16 bits
        return torch.from_numpy(a.view(np.uint16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def _dist():
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(
            "vocab_parallel_cross_entropy: torch.distributed is not initialized; "
            "call torch.distributed.init_process_group first (for one process, "
            "use losslab.torch.cross_entropy)")
    return dist


class _VocabParallelCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, shard, target, vocab_start, group, ignore_index, eps, z_loss,
                reduction):
        dist = _dist()
        x = shard.detach()
        if x.dtype in (torch.bfloat16, torch.float16):
            # The shard's log-sum-exp is recovered as ce + z_t: a half-rounded
            # ce would cost 8 bits of it, so half shards run in float32.
            x = x.float()
        if not x.is_contiguous():
            x = x.contiguous()
        n, v_local = x.shape
        t = target.detach().reshape(-1).to(torch.int64)
        valid = t != ignore_index
        local = valid & (t >= vocab_start) & (t < vocab_start + v_local)
        # Rows this rank does not own use their row max as the dummy target: finite
        # whenever the shard row has a finite logit (a -inf column 0 would give NaN).
        t_local = torch.where(local, t - vocab_start, x.argmax(1))

        # losslab's kernel on the shard, with the local target where this rank
        # owns it (the row's argmax elsewhere): ce = lse_local - z[t_local] and
        # grad = softmax_local - onehot(t_local) for reduction="sum".
        ce, g = _ll.cross_entropy(x, t_local, reduction="none", return_grad=True)
        ce, g = _to_torch(ce), _to_torch(g)
        acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        z_t = x.gather(1, t_local[:, None])[:, 0].to(acc)
        lse_local = ce.to(acc) + z_t
        p_local = g.to(acc)
        p_local.scatter_add_(1, t_local[:, None], torch.ones(n, 1, dtype=acc))
        # A shard row of only -inf (masked vocabulary) has lse_local = -inf and
        # no probability mass; ce + z_t would be inf - inf there.
        dead = torch.isneginf(x.amax(1)) if v_local else torch.ones(n, dtype=torch.bool)
        lse_local = torch.where(dead, torch.full_like(lse_local, float("-inf")), lse_local)
        p_local = torch.where(dead[:, None], torch.zeros_like(p_local), p_local)

        # Global log-sum-exp: max of the local ones, then the sum of exp(local
        # - max); one SUM all-reduce also carries the target logit (from its
        # owner), the row sums of the logits (label smoothing) and V.
        m = lse_local.clone()
        dist.all_reduce(m, op=dist.ReduceOp.MAX, group=group)
        packed = torch.empty(3 * n + 1, dtype=acc)
        packed[:n] = torch.exp(lse_local - m)
        packed[n:2 * n] = torch.where(local, z_t, torch.zeros_like(z_t))
        packed[2 * n:3 * n] = x.sum(1, dtype=acc) if eps else 0.0
        packed[3 * n] = v_local
        dist.all_reduce(packed, op=dist.ReduceOp.SUM, group=group)
        lse = m + torch.log(packed[:n])
        z_target = packed[n:2 * n]
        vocab = int(packed[3 * n].item())
        bad = valid & ((t < 0) | (t >= vocab))
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"vocab_parallel_cross_entropy: target {int(t[i])} at index {i} is "
                f"outside [0, {vocab}) (the vocabulary summed over the group) and "
                f"is not ignore_index={ignore_index}")

        loss = lse - (1.0 - eps) * z_target
        if eps:
            loss = loss - (eps / vocab) * packed[2 * n:3 * n]
        if z_loss:
            loss = loss + z_loss * lse * lse
        validf = valid.to(acc)
        loss = loss * validf

        # d loss_i / d z_ij (per unit upstream gradient) on this shard.
        p = p_local * torch.exp(lse_local - lse)[:, None]
        if z_loss:
            p = p * (1.0 + 2.0 * z_loss * lse)[:, None]
        grad = p
        grad.scatter_add_(1, t_local[:, None], -(1.0 - eps) * local.to(acc)[:, None])
        if eps:
            grad = grad - eps / vocab
        grad = grad * validf[:, None]

        count = validf.sum()
        if reduction == "mean":
            scale = 1.0 / count if count > 0 else torch.zeros((), dtype=acc)
            value = loss.sum() * scale
            grad = grad * scale
        elif reduction == "sum":
            value = loss.sum()
        else:
            value = loss.reshape(target.shape)
        ctx.reduction = reduction
        ctx.dtype = shard.dtype
        # Kept in the compute dtype (float32 for half shards) so that the
        # gradient is rounded to the shard's dtype once, in backward.
        ctx.save_for_backward(grad)
        return value.to(shard.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        if ctx.reduction == "none":
            grad = grad * grad_output.reshape(-1, 1).to(grad.dtype)
        else:
            grad = grad * grad_output.to(grad.dtype)
        return grad.to(ctx.dtype), None, None, None, None, None, None, None


def vocab_parallel_cross_entropy(logits_shard: torch.Tensor, target: torch.Tensor,
                                 vocab_start: int, group=None, *, ignore_index: int = -100,
                                 label_smoothing: float = 0.0, z_loss: float = 0.0,
                                 reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of logits split over the vocabulary across ``group``.

    Arguments:
        logits_shard: (N, V_local) float32 or float64 (bfloat16 / float16 run
            as a float32 copy; loss and gradient in the input dtype), this
            rank's columns
            ``vocab_start:vocab_start + V_local`` of the (N, V) logits. Shards
            may differ in width; together they cover [0, V) exactly once.
        target: (N,) class indices in [0, V) (or ignore_index), the same on
            every rank.
        vocab_start: first vocabulary index of this rank's shard.
        group: the torch.distributed process group (None: the default one).
        ignore_index, label_smoothing, z_loss, reduction: as
            losslab.torch.cross_entropy ("mean" divides by the number of rows
            not ignored; 0 with a zero gradient when every row is ignored).

    Returns the loss (the same value on every rank); its gradient flows to
    ``logits_shard`` only (the local shard of the full gradient).
    """
    if not torch.is_tensor(logits_shard) or logits_shard.dim() != 2:
        raise ValueError(
            "vocab_parallel_cross_entropy: logits_shard must be a 2-D tensor (N, "
            f"V_local); got {getattr(logits_shard, 'shape', type(logits_shard))}")
    if not logits_shard.is_floating_point():
        raise TypeError("vocab_parallel_cross_entropy: logits_shard must be a float "
                        f"tensor; got {logits_shard.dtype}")
    target = torch.as_tensor(target)
    if target.shape != logits_shard.shape[:1]:
        raise ValueError(
            f"vocab_parallel_cross_entropy: target shape {tuple(target.shape)} must "
            f"be ({logits_shard.shape[0]},), one class index per row of logits_shard")
    if target.dtype not in (torch.int64, torch.int32):
        raise TypeError("vocab_parallel_cross_entropy: target must hold int64 or "
                        f"int32 class indices; got {target.dtype}")
    if target.requires_grad:
        raise NotImplementedError("vocab_parallel_cross_entropy: no gradient with "
                                  "respect to target")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("vocab_parallel_cross_entropy: reduction must be 'mean', "
                         f"'sum' or 'none'; got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError("vocab_parallel_cross_entropy: label_smoothing must lie in "
                         f"[0, 1]; got {label_smoothing}")
    if not z_loss >= 0.0:
        raise ValueError(f"vocab_parallel_cross_entropy: z_loss must be >= 0; got {z_loss}")
    return _VocabParallelCE.apply(logits_shard, target, int(vocab_start), group,
                                  int(ignore_index), float(label_smoothing), float(z_loss),
                                  reduction)


# ---------------------------------------------------------------------------
# (sum, count) reductions.

# Losses whose "mean" divides the (weighted) sum by the number of elements, or
# by the sum of the per-element weights when `weight` is given.
_ELEMENTWISE = {
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "quantile_loss",
    "log_cosh_loss", "pseudo_huber_loss", "poisson_nll_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge_loss",
    "squared_hinge_loss", "sigmoid_focal_loss",
}
# Losses on class indices whose "mean" divides by sum(weight[target]) over the
# targets that are not ignore_index (torch's convention).
_CLASS_INDEX = {"cross_entropy", "nll_loss"}


def _count(name, input, target, options) -> torch.Tensor:
    f64 = torch.float64
    if name in _ELEMENTWISE:
        w = options.get("weight")
        if w is None:
            return torch.tensor(float(input.numel()), dtype=f64)
        return torch.as_tensor(w).detach().to(f64).sum()
    target = torch.as_tensor(target)
    if target.is_floating_point():
        # Probability targets: the mean divides by the number of rows
        # (every position but the class dimension).
        classes = input.shape[1] if input.dim() > 1 else input.shape[0]
        return torch.tensor(float(input.numel() // max(classes, 1)), dtype=f64)
    ignore = options.get("ignore_index", -100)
    valid = target != ignore
    w = options.get("weight")
    if w is None:
        return valid.sum().to(f64)
    idx = torch.where(valid, target, torch.zeros_like(target)).long()
    return (torch.as_tensor(w).detach().to(f64)[idx] * valid.to(f64)).sum()


def loss_sum_count(loss, input: torch.Tensor, target: torch.Tensor, **options):
    """(weighted sum, weight sum) of a loss, for exact means over micro-batches
    and ranks.

    ``loss`` is a losslab loss name ("cross_entropy", "huber_loss", ...) or
    the losslab.torch function. Returns ``(loss_sum, count)``: ``loss_sum`` is
    the loss with reduction="sum" (differentiable, input's dtype) and
    ``count`` the float64 0-d tensor that reduction="mean" divides by: the
    number of elements, or the sum of ``weight`` (elementwise losses); the
    number of targets not equal to ignore_index, or the sum of
    weight[target] over them (cross_entropy, nll_loss with class indices);
    the number of rows (probability targets). Summing both over
    micro-batches or ranks (``torch.distributed.all_reduce``) and dividing
    gives the full batch's mean::

        s, c = LT.loss_sum_count("cross_entropy", logits, labels, ignore_index=-100)
        dist.all_reduce(c)                # the global count (a constant)
        (s / c).backward()                # this rank's share of the global mean
    """
    name = loss if isinstance(loss, str) else getattr(loss, "__name__", "")
    if name not in _ELEMENTWISE and name not in _CLASS_INDEX:
        raise ValueError(
            f"loss_sum_count: loss {loss!r} is not supported; use one of "
            f"{sorted(_ELEMENTWISE | _CLASS_INDEX)}")
    if "reduction" in options:
        raise ValueError("loss_sum_count: do not pass reduction; it returns the "
                         "'sum' and the 'mean' denominator")
    import losslab.torch as LT

    s = getattr(LT, name)(input, target, reduction="sum", **options)
    return s, _count(name, input, target, options)
