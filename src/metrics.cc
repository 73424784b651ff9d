#include "losslab/metrics.h"

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "src/core/checks.h"

namespace losslab {
namespace {

// Reads any float view as doubles (metrics are not hot paths).
std::vector<double> as_doubles(std::string_view fn, std::string_view arg,
                               const View& v) {
  if (!v.present() || v.data == nullptr) {
    throw_type_error(std::string(fn) + ": " + std::string(arg) +
                     " must be an array, not None");
  }
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

// One output column: the arrays a metric reads, as doubles.
struct Column {
  std::vector<double> a, b, t, w;
};

using Metric = std::function<double(const Column&)>;

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

// Validates the arrays and evaluates `metric` on each output column:
// (n,) targets give one column; (n, k) targets give k columns whose scores
// are averaged, as sklearn's multioutput='uniform_average'. sample_weight is
// (n,) or the target's shape.
double evaluate(std::string_view fn, std::string_view a_name, const View& a,
                const View* b, std::string_view b_name, const View& target,
                const RegressionMetricOptions& o, const Metric& metric) {
  const std::vector<double> av = as_doubles(fn, a_name, a);
  const std::vector<double> tv = as_doubles(fn, "target", target);
  detail::require_same_shape(fn, "target", target.shape, a_name, a.shape);
  std::vector<double> bv;
  if (b) {
    bv = as_doubles(fn, b_name, *b);
    detail::require_same_shape(fn, b_name, b->shape, a_name, a.shape);
  }
  detail::require_nonempty(fn, "target", target);
  const int nd = target.shape.ndim();
  if (nd > 2) {
    throw_value_error(std::string(fn) + ": target shape " + target.shape.str() +
                      " must be (n_samples,) or (n_samples, n_outputs)");
  }
  const int64_t n = nd == 0 ? 1 : target.shape[0];
  const int64_t k = nd == 2 ? target.shape[1] : 1;
  for (size_t i = 0; i < tv.size(); ++i) {
    if (!std::isfinite(tv[i])) {
      throw_value_error(std::string(fn) + ": target contains " +
                        detail::value_str(tv[i]) + " at index " +
                        detail::index_str(int64_t(i), target.shape) +
                        "; drop or impute missing targets first");
    }
  }
  std::vector<double> wv;
  bool per_row = true;
  if (o.sample_weight.present()) {
    wv = as_doubles(fn, "sample_weight", o.sample_weight);
    const Shape rows{n};
    if (o.sample_weight.shape == target.shape) {
      per_row = nd <= 1;
    } else if (!(o.sample_weight.shape == rows)) {
      throw_value_error(std::string(fn) + ": sample_weight shape " +
                        o.sample_weight.shape.str() + " must be " + rows.str() +
                        " or the target's shape " + target.shape.str());
    }
    for (size_t i = 0; i < wv.size(); ++i) {
      if (!(wv[i] >= 0.0 && std::isfinite(wv[i]))) {
        throw_value_error(
            std::string(fn) + ": sample_weight must be finite and >= 0; got " +
            detail::value_str(wv[i]) + " at index " + std::to_string(i));
      }
    }
  }
  double total = 0.0;
  for (int64_t j = 0; j < k; ++j) {
    Column c;
    for (int64_t i = 0; i < n; ++i) {
      const size_t e = size_t(i * k + j);
      c.a.push_back(av[e]);
      if (b) c.b.push_back(bv[e]);
      c.t.push_back(tv[e]);
      c.w.push_back(wv.empty() ? 1.0 : wv[per_row ? size_t(i) : e]);
    }
    total += metric(c);
  }
  return total / double(k);
}

}  // namespace

double rmse(View pred, View target, const RegressionMetricOptions& o) {
  return evaluate("rmse", "pred", pred, nullptr, "", target, o,
                  [](const Column& c) {
                    std::vector<double> e(c.t.size());
                    for (size_t i = 0; i < e.size(); ++i) {
                      const double d = c.a[i] - c.t[i];
                      e[i] = d * d;
                    }
                    return std::sqrt(weighted_mean(e, c.w, "rmse"));
                  });
}

double mae(View pred, View target, const RegressionMetricOptions& o) {
  return evaluate("mae", "pred", pred, nullptr, "", target, o,
                  [](const Column& c) {
                    std::vector<double> e(c.t.size());
                    for (size_t i = 0; i < e.size(); ++i) {
                      e[i] = std::abs(c.a[i] - c.t[i]);
                    }
                    return weighted_mean(e, c.w, "mae");
                  });
}

double r2_score(View pred, View target, const RegressionMetricOptions& o) {
  return evaluate("r2_score", "pred", pred, nullptr, "", target, o,
                  [](const Column& c) {
                    const double mean = weighted_mean(c.t, c.w, "r2_score");
                    double ss_res = 0.0, ss_tot = 0.0;
                    for (size_t i = 0; i < c.t.size(); ++i) {
                      const double r = c.t[i] - c.a[i];
                      const double d = c.t[i] - mean;
                      ss_res += c.w[i] * r * r;
                      ss_tot += c.w[i] * d * d;
                    }
                    // sklearn: a constant target scores 1.0 when predicted
                    // exactly and 0.0 otherwise.
                    if (ss_tot == 0.0) return ss_res == 0.0 ? 1.0 : 0.0;
                    return 1.0 - ss_res / ss_tot;
                  });
}

double quantile_coverage(View lower, View upper, View target,
                         const RegressionMetricOptions& o) {
  return evaluate("quantile_coverage", "lower", lower, &upper, "upper", target,
                  o, [](const Column& c) {
                    std::vector<double> in(c.t.size());
                    for (size_t i = 0; i < in.size(); ++i) {
                      in[i] =
                          (c.a[i] <= c.t[i] && c.t[i] <= c.b[i]) ? 1.0 : 0.0;
                    }
                    return weighted_mean(in, c.w, "quantile_coverage");
                  });
}

}  // namespace losslab
