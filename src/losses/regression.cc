// Regression losses: option checks, then the shared elementwise op layer.
#include "losslab/losses/regression.h"

#include <cmath>
#include <string>

#include "losslab/core/error.h"
#include "src/core/checks.h"
#include "src/losses/elementwise_op.h"

namespace losslab {
namespace {

using detail::ElemLossId;
using detail::ElemSpec;

template <class Options>
ElemSpec spec(std::string_view fn, ElemLossId id, const View& input,
              const View& target, const Options& o, const LossOutputs& out) {
  ElemSpec s{};
  s.fn = fn;
  s.loss = id;
  s.input = &input;
  s.target = &target;
  s.weight = &o.weight;
  s.reduction = o.reduction;
  s.nan_policy = o.nan_policy;
  s.outputs = &out;
  return s;
}

// A loss parameter is used in the input dtype: it must be positive (or
// zero) there too, not only as a double (1e-50 is 0 in float32).
void require_positive(std::string_view fn, std::string_view arg, double v,
                      bool allow_zero, DType dtype) {
  const bool ok = std::isfinite(v) && (allow_zero ? v >= 0.0 : v > 0.0);
  if (!ok) {
    throw_value_error(std::string(fn) + ": " + std::string(arg) + "=" +
                      detail::value_str(v) + " must be " +
                      (allow_zero ? "finite and >= 0" : "finite and > 0"));
  }
  // float16/bfloat16 inputs compute in float32 too.
  if (dtype != DType::kFloat64 && v != 0.0) {
    const float f = float(v);
    if (f == 0.0f || !std::isfinite(f)) {
      throw_value_error(std::string(fn) + ": " + std::string(arg) + "=" +
                        detail::value_str(v) +
                        " is not representable in float32 (it rounds to " +
                        detail::value_str(double(f)) +
                        "); use a value in float32's range or float64 input");
    }
  }
}

}  // namespace

double mse_loss(View input, View target, const MseOptions& o,
                const LossOutputs& out) {
  return detail::run_elementwise_loss(
      spec("mse_loss", ElemLossId::kMse, input, target, o, out));
}

double l1_loss(View input, View target, const L1Options& o,
               const LossOutputs& out) {
  return detail::run_elementwise_loss(
      spec("l1_loss", ElemLossId::kL1, input, target, o, out));
}

double huber_loss(View input, View target, const HuberOptions& o,
                  const LossOutputs& out) {
  require_positive("huber_loss", "delta", o.delta, false, input.dtype);
  ElemSpec s = spec("huber_loss", ElemLossId::kHuber, input, target, o, out);
  s.p0 = o.delta;
  return detail::run_elementwise_loss(s);
}

double smooth_l1_loss(View input, View target, const SmoothL1Options& o,
                      const LossOutputs& out) {
  require_positive("smooth_l1_loss", "beta", o.beta, true, input.dtype);
  // beta = 0 is exactly L1 (PyTorch does the same switch).
  ElemSpec s = spec("smooth_l1_loss",
                    o.beta == 0.0 ? ElemLossId::kL1 : ElemLossId::kSmoothL1,
                    input, target, o, out);
  s.p0 = o.beta;
  return detail::run_elementwise_loss(s);
}

double quantile_loss(View input, View target, const QuantileOptions& o,
                     const LossOutputs& out) {
  if (o.quantile.empty()) {
    throw_value_error(
        "quantile_loss: quantile is empty; pass a value in (0, 1) such as "
        "0.9, or a list such as [0.1, 0.5, 0.9]");
  }
  for (double tau : o.quantile) {
    if (!(tau > 0.0 && tau < 1.0)) {
      throw_value_error("quantile_loss: quantile=" + detail::value_str(tau) +
                        " must lie strictly between 0 and 1 (0.9 estimates "
                        "the 90th percentile)");
    }
  }
  ElemSpec s =
      spec("quantile_loss", ElemLossId::kQuantile, input, target, o, out);
  s.p0 = o.quantile[0];
  if (o.quantile.size() > 1) s.quantiles = &o.quantile;
  return detail::run_elementwise_loss(s);
}

double log_cosh_loss(View input, View target, const LogCoshOptions& o,
                     const LossOutputs& out) {
  return detail::run_elementwise_loss(
      spec("log_cosh_loss", ElemLossId::kLogCosh, input, target, o, out));
}

double pseudo_huber_loss(View input, View target, const PseudoHuberOptions& o,
                         const LossOutputs& out) {
  require_positive("pseudo_huber_loss", "delta", o.delta, false, input.dtype);
  ElemSpec s = spec("pseudo_huber_loss", ElemLossId::kPseudoHuber, input,
                    target, o, out);
  s.p0 = o.delta;
  return detail::run_elementwise_loss(s);
}

double poisson_nll_loss(View input, View target, const PoissonNllOptions& o,
                        const LossOutputs& out) {
  require_positive("poisson_nll_loss", "eps", o.eps, true, input.dtype);
  ElemSpec s =
      spec("poisson_nll_loss", ElemLossId::kPoissonNll, input, target, o, out);
  s.p0 = o.eps;
  s.opts = (o.log_input ? detail::kOptLogInput : 0u) |
           (o.full ? detail::kOptFull : 0u);
  return detail::run_elementwise_loss(s);
}

}  // namespace losslab
