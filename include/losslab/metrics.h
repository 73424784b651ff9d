// losslab/metrics.h: the numbers users report. Each matches scikit-learn's
// function of the same name (sklearn.metrics), computed in double precision.
#ifndef LOSSLAB_METRICS_H_
#define LOSSLAB_METRICS_H_

#include "losslab/core/view.h"

namespace losslab {

// Targets are (n_samples,) or (n_samples, n_outputs); for several outputs the
// per-output scores are averaged (sklearn's multioutput='uniform_average').
struct RegressionMetricOptions {
  View sample_weight = {};  // optional, >= 0: (n_samples,) or target's shape
};

// sqrt(mean((pred - target)^2)); sklearn root_mean_squared_error.
double rmse(View pred, View target, const RegressionMetricOptions& o = {});
// mean(|pred - target|); sklearn mean_absolute_error.
double mae(View pred, View target, const RegressionMetricOptions& o = {});
// 1 - SS_res / SS_tot; sklearn r2_score (a constant target gives 1.0 for a
// perfect prediction and 0.0 otherwise, as sklearn does).
double r2_score(View pred, View target, const RegressionMetricOptions& o = {});
// Share of targets with lower <= target <= upper: the empirical coverage of a
// prediction interval (e.g. the 0.1 and 0.9 quantile models).
double quantile_coverage(View lower, View upper, View target,
                         const RegressionMetricOptions& o = {});

}  // namespace losslab

#endif  // LOSSLAB_METRICS_H_
