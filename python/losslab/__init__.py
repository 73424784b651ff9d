"""losslab: machine-learning loss functions with exact gradients.

Every loss takes arrays (NumPy, or CPU tensors through DLPack) and returns the
loss and, on request, its gradient and diagonal Hessian::

    import numpy as np, losslab
    loss, grad = losslab.huber_loss(pred, y, delta=1.0, return_grad=True)

Names and semantics follow ``torch.nn.functional`` where PyTorch has the loss.
"""

from losslab._core import (
    __version__,
    available_simd_targets,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    get_num_threads,
    huber_loss,
    l1_loss,
    log_cosh_loss,
    mae,
    mse_loss,
    nll_loss,
    poisson_nll_loss,
    pseudo_huber_loss,
    quantile_coverage,
    quantile_loss,
    r2_score,
    rmse,
    set_num_threads,
    set_simd_target,
    simd_target,
    smooth_l1_loss,
)

REGRESSION_LOSSES = (
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "quantile_loss",
    "log_cosh_loss",
    "pseudo_huber_loss",
    "poisson_nll_loss",
)

CLASSIFICATION_LOSSES = (
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "cross_entropy",
    "nll_loss",
)

__all__ = [
    "__version__",
    "available_simd_targets",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "get_num_threads",
    "huber_loss",
    "l1_loss",
    "log_cosh_loss",
    "mae",
    "mse_loss",
    "nll_loss",
    "poisson_nll_loss",
    "pseudo_huber_loss",
    "quantile_coverage",
    "quantile_loss",
    "r2_score",
    "rmse",
    "set_num_threads",
    "set_simd_target",
    "simd_target",
    "smooth_l1_loss",
    "REGRESSION_LOSSES",
    "CLASSIFICATION_LOSSES",
]
