"""losslab: machine-learning loss functions with exact gradients.

Every loss takes arrays (NumPy, or CPU tensors through DLPack) and returns the
loss and, on request, its gradient and diagonal Hessian::

    import numpy as np, losslab
    loss, grad = losslab.huber_loss(pred, y, delta=1.0, return_grad=True)

Names and semantics follow ``torch.nn.functional`` where PyTorch has the loss.
"""

from losslab import _core
from losslab._core import *  # noqa: F401,F403  (every loss, metric and setting)
from losslab._core import __version__
from losslab._gradcheck import GradcheckResult, gradcheck
from losslab import models, nn, optim  # noqa: E402  (the training engine's Python API)
from losslab.train import History, fit, trainable_losses

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
    "hinge_loss",
    "squared_hinge_loss",
    "multi_margin_loss",
    "kl_div",
    "kl_divergence",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
)

__all__ = sorted(
    [name for name in dir(_core) if not name.startswith("_")]
    + ["__version__", "REGRESSION_LOSSES", "CLASSIFICATION_LOSSES", "gradcheck",
       "GradcheckResult", "nn", "optim", "fit", "History", "trainable_losses"]
)
