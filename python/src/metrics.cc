// Python bindings of the metrics (losslab/metrics.h).
#include "losslab/metrics.h"

#include <nanobind/nanobind.h>

#include "arrays.h"
#include "registry.h"

namespace losslab::python {

namespace {
using Metric2 = double (*)(View, View, const RegressionMetricOptions&);

void def2(nb::module_& m, const char* name, Metric2 f, const char* docstr) {
  m.def(
      name,
      [name, f](nb::handle pred, nb::handle target, nb::handle sample_weight) {
        const Input p = to_input(name, "pred", pred);
        const Input t = to_input(name, "target", target);
        const Input w = to_input(name, "sample_weight", sample_weight);
        nb::gil_scoped_release release;
        return f(p.view, t.view, {.sample_weight = w.view});
      },
      nb::arg("pred").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("sample_weight") = nb::none(), docstr);
}
}  // namespace

void bind_metrics(nb::module_& m) {
  def2(m, "rmse", &rmse,
       "Root mean squared error (sklearn root_mean_squared_error).");
  def2(m, "mae", &mae, "Mean absolute error (sklearn mean_absolute_error).");
  def2(m, "r2_score", &r2_score,
       "Coefficient of determination (sklearn r2_score).");
  m.def(
      "quantile_coverage",
      [](nb::handle lower, nb::handle upper, nb::handle target,
         nb::handle sample_weight) {
        const Input lo = to_input("quantile_coverage", "lower", lower);
        const Input up = to_input("quantile_coverage", "upper", upper);
        const Input t = to_input("quantile_coverage", "target", target);
        const Input w =
            to_input("quantile_coverage", "sample_weight", sample_weight);
        nb::gil_scoped_release release;
        return quantile_coverage(lo.view, up.view, t.view,
                                 {.sample_weight = w.view});
      },
      nb::arg("lower").none(), nb::arg("upper").none(),
      nb::arg("target").none(), nb::kw_only(),
      nb::arg("sample_weight") = nb::none(),
      "Share of targets with lower <= target <= upper (interval coverage).");
}

LOSSLAB_PY_REGISTER(metrics, bind_metrics);

}  // namespace losslab::python
