#include "losslab/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "src/core/checks.h"

namespace losslab {
namespace {

// Reads any float view as doubles (metrics are not hot paths).
std::vector<double> as_doubles(std::string_view fn, std::string_view arg,
                               const View& v) {
  detail::require_float(fn, arg, v);
  std::vector<double> out(size_t(v.numel()));
  if (v.dtype == DType::kFloat32) {
    const detail::Contiguous<float> c(v);
    for (size_t i = 0; i < out.size(); ++i) out[i] = c.get()[i];
  } else {
    const detail::Contiguous<double> c(v);
    for (size_t i = 0; i < out.size(); ++i) out[i] = c.get()[i];
  }
  return out;
}

struct Prepared {
  std::vector<double> a, t, w;
};

Prepared prepare(std::string_view fn, std::string_view a_name, const View& a,
                 const View& target, const RegressionMetricOptions& o) {
  detail::require_same_shape(fn, "target", target.shape, a_name, a.shape);
  detail::require_nonempty(fn, "target", target);
  Prepared p{as_doubles(fn, a_name, a), as_doubles(fn, "target", target), {}};
  for (size_t i = 0; i < p.t.size(); ++i) {
    if (!std::isfinite(p.t[i])) {
      throw_value_error(std::string(fn) + ": target contains " +
                        detail::value_str(p.t[i]) + " at index " +
                        detail::index_str(int64_t(i), target.shape) +
                        "; drop or impute missing targets first");
    }
  }
  if (o.sample_weight.present()) {
    detail::require_same_shape(fn, "sample_weight", o.sample_weight.shape,
                               "target", target.shape);
    p.w = as_doubles(fn, "sample_weight", o.sample_weight);
    for (size_t i = 0; i < p.w.size(); ++i) {
      if (!(p.w[i] >= 0.0 && std::isfinite(p.w[i]))) {
        throw_value_error(
            std::string(fn) + ": sample_weight must be finite and >= 0; got " +
            detail::value_str(p.w[i]) + " at index " + std::to_string(i));
      }
    }
  } else {
    p.w.assign(p.t.size(), 1.0);
  }
  return p;
}

double weighted_mean(const std::vector<double>& v, const std::vector<double>& w,
                     std::string_view fn) {
  double s = 0.0, sw = 0.0;
  for (size_t i = 0; i < v.size(); ++i) {
    s += w[i] * v[i];
    sw += w[i];
  }
  if (sw == 0.0) {
    throw_value_error(std::string(fn) +
                      ": sample_weight sums to 0; at least one sample needs a "
                      "positive weight");
  }
  return s / sw;
}

}  // namespace

double rmse(View pred, View target, const RegressionMetricOptions& o) {
  Prepared p = prepare("rmse", "pred", pred, target, o);
  std::vector<double> e(p.a.size());
  for (size_t i = 0; i < e.size(); ++i) {
    const double d = p.a[i] - p.t[i];
    e[i] = d * d;
  }
  return std::sqrt(weighted_mean(e, p.w, "rmse"));
}

double mae(View pred, View target, const RegressionMetricOptions& o) {
  Prepared p = prepare("mae", "pred", pred, target, o);
  std::vector<double> e(p.a.size());
  for (size_t i = 0; i < e.size(); ++i) e[i] = std::abs(p.a[i] - p.t[i]);
  return weighted_mean(e, p.w, "mae");
}

double r2_score(View pred, View target, const RegressionMetricOptions& o) {
  Prepared p = prepare("r2_score", "pred", pred, target, o);
  const double mean = weighted_mean(p.t, p.w, "r2_score");
  double ss_res = 0.0, ss_tot = 0.0;
  for (size_t i = 0; i < p.t.size(); ++i) {
    const double r = p.t[i] - p.a[i];
    const double c = p.t[i] - mean;
    ss_res += p.w[i] * r * r;
    ss_tot += p.w[i] * c * c;
  }
  if (ss_tot == 0.0) return ss_res == 0.0 ? 1.0 : 0.0;  // sklearn's choice
  return 1.0 - ss_res / ss_tot;
}

double quantile_coverage(View lower, View upper, View target,
                         const RegressionMetricOptions& o) {
  detail::require_same_shape("quantile_coverage", "upper", upper.shape, "lower",
                             lower.shape);
  Prepared p = prepare("quantile_coverage", "lower", lower, target, o);
  const std::vector<double> up =
      as_doubles("quantile_coverage", "upper", upper);
  std::vector<double> in(p.t.size());
  for (size_t i = 0; i < in.size(); ++i) {
    in[i] = (p.a[i] <= p.t[i] && p.t[i] <= up[i]) ? 1.0 : 0.0;
  }
  return weighted_mean(in, p.w, "quantile_coverage");
}

}  // namespace losslab
