"""Central-difference gradient checking for any loss with losslab's calling
convention: ``fn(*inputs, return_grad=True, **options)`` returns
``(loss, grad)`` or ``(loss, (grad_0, grad_1, ...))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class GradcheckResult:
    """Per checked input: ||analytic - numeric|| / ||analytic + numeric||."""

    ok: bool
    errors: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok


def gradcheck(fn, *inputs, wrt=None, eps: float = 1e-6, tol: float = 1e-6,
              raise_exception: bool = True, **options) -> GradcheckResult:
    """Checks the gradients a loss returns against central differences.

    The inputs are converted to float64 (integer inputs, such as class
    labels, are passed unchanged and never differentiated). ``wrt`` lists the
    positions of the inputs whose gradients ``fn`` returns, in the order it
    returns them (default: the first input). Each element is perturbed by
    ``±eps`` and ``(f(x + eps) - f(x - eps)) / 2 eps`` is compared with the
    analytic gradient through the scale-free error ``||a - n|| / ||a + n||``,
    which must stay below ``tol``. Reductions other than a scalar are summed.

    Returns a :class:`GradcheckResult`; raises ``AssertionError`` naming the
    input and its error when the check fails and ``raise_exception`` is set.
    """
    args = [np.array(x, dtype=np.float64) if np.issubdtype(np.asarray(x).dtype, np.floating)
            else np.asarray(x) for x in inputs]
    wrt = [0] if wrt is None else list(wrt)
    for k in wrt:
        if not np.issubdtype(args[k].dtype, np.floating):
            raise ValueError(f"gradcheck: input {k} is not floating point; it cannot be "
                             f"differentiated (pass wrt= with the floating inputs)")
    if not (eps > 0 and tol > 0):
        raise ValueError(f"gradcheck: eps={eps} and tol={tol} must be > 0")

    def value(a):
        out = fn(*a, **options)
        return float(np.sum(out))

    _, grads = fn(*args, return_grad=True, **options)
    if len(wrt) == 1 and not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) < len(wrt):
        raise ValueError(f"gradcheck: fn returned {len(grads)} gradient(s) for wrt={wrt}")
    result = GradcheckResult(ok=True)
    for k, analytic in zip(wrt, grads):
        analytic = np.asarray(analytic, dtype=np.float64)
        numeric = np.zeros_like(args[k])
        flat = args[k].reshape(-1)
        num_flat = numeric.reshape(-1)
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            plus = value(args)
            flat[i] = orig - eps
            minus = value(args)
            flat[i] = orig
            num_flat[i] = (plus - minus) / (2 * eps)
        den = np.linalg.norm(analytic + numeric)
        err = float(np.linalg.norm(analytic - numeric) / den) if den > 0 else float(
            np.linalg.norm(analytic - numeric))
        result.errors[k] = err
        if not err < tol:
            result.ok = False
    if raise_exception and not result.ok:
        bad = {k: e for k, e in result.errors.items() if not e < tol}
        raise AssertionError(f"gradcheck: gradient mismatch (relative error by input "
                             f"position: {bad}, tolerance {tol})")
    return result
