"""LightGBM custom objectives backed by losslab (see losslab._boosting).

    import lightgbm as lgb, losslab.lightgbm
    params = {"objective": losslab.lightgbm.objective("logistic")}
    booster = lgb.train(params, lgb.Dataset(X, y), 100)

With a custom objective LightGBM starts from a score of 0 and predicts raw
margins (apply the link yourself).
"""

from __future__ import annotations

from losslab._boosting import OBJECTIVES, make_objective

__all__ = ["objective", "OBJECTIVES"]


def _labels_weights(train_data):
    return train_data.get_label(), train_data.get_weight()


def objective(name: str, **options):
    """objective(preds, train_data) -> (grad, hess) for params["objective"]."""
    return make_objective(name, _labels_weights, **options)
