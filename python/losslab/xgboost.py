"""XGBoost custom objectives backed by losslab (see losslab._boosting).

    import xgboost as xgb, losslab.xgboost
    booster = xgb.train({"base_score": 0.0}, dtrain, 100,
                        obj=losslab.xgboost.objective("huber", delta=2.0))

Predictions of a custom objective are raw margins (apply the link yourself:
sigmoid for "logistic"/"focal", exp for "poisson", softmax for "softmax").
"""

from __future__ import annotations

from losslab._boosting import OBJECTIVES, make_objective

__all__ = ["objective", "OBJECTIVES"]


def _labels_weights(dtrain):
    return dtrain.get_label(), dtrain.get_weight()


def objective(name: str, **options):
    """obj(predt, dtrain) -> (grad, hess) for xgboost.train(obj=...)."""
    return make_objective(name, _labels_weights, **options)
