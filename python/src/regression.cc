// Python bindings of the regression losses (losslab/losses/regression.h).
#include "losslab/losses/regression.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <utility>
#include <vector>

#include "arrays.h"
#include "losslab/core/error.h"
#include "registry.h"

namespace losslab::python {

namespace {

constexpr const char* kCommonDoc = R"(
Common arguments:
    input, target: arrays of the same shape and dtype: float32, float64,
        float16 or bfloat16 (NumPy arrays, ml_dtypes.bfloat16 arrays, or CPU
        tensors through DLPack). losslab never broadcasts. float16/bfloat16
        are widened to float32 before any math and accumulate in float32;
        the loss is returned as a Python float (float32-rounded).
    weight: optional per-element weight (>= 0) of the input's shape. A weighted
        mean divides by the sum of the weights.
    reduction: "mean" (default), "sum" or "none".
    return_grad: also return the gradient of the reduced loss w.r.t. input.
    return_hess: also return the diagonal Hessian (implies return_grad).
    out, grad_out, hess_out: optional caller-owned contiguous arrays of the
        input's shape and dtype that receive the per-element losses
        ("none"), the gradient and the Hessian without an allocation.
    grad_output: upstream gradient: a number for "mean"/"sum", or an array of
        the input's shape for "none".
    nan_policy: "propagate" (IEEE, as PyTorch) or "raise" (error naming the
        first non-finite input). NaN in target or weight is always an error.
    grad_dtype: "input" (default: grad/hess in the input dtype, rounded to
        nearest even from float32) or "float32" (float16/bfloat16 input
        only: the float32 gradient before rounding). A bfloat16 result is an
        ml_dtypes.bfloat16 NumPy array (or a torch.bfloat16 tensor when
        ml_dtypes is missing).

Returns:
    loss (a float, or an array for "none"); with return_grad (loss, grad);
    with return_hess (loss, grad, hess).)";

CommonArgs with_grad_dtype(CommonArgs c, std::string grad_dtype) {
  c.grad_dtype = std::move(grad_dtype);
  return c;
}

std::string doc(const char* head) { return std::string(head) + kCommonDoc; }

std::vector<double> to_quantiles(nb::handle q) {
  // Any number (Python or NumPy scalar, 0-d array) is one quantile.
  const bool zero_dim =
      nb::hasattr(q, "ndim") && nb::cast<int>(q.attr("ndim")) == 0;
  if (zero_dim || (PyNumber_Check(q.ptr()) && !PySequence_Check(q.ptr()))) {
    return {nb::cast<double>(nb::float_(q))};
  }
  std::vector<double> out;
  try {
    for (nb::handle item : q) out.push_back(nb::cast<double>(nb::float_(item)));
  } catch (nb::python_error&) {
    throw_type_error(
        "quantile_loss: quantile must be a number in (0, 1) or a sequence of "
        "such numbers");
  } catch (nb::cast_error&) {
    throw_type_error(
        "quantile_loss: quantile must be a number in (0, 1) or a sequence of "
        "such numbers");
  }
  return out;
}

}  // namespace

void bind_regression(nb::module_& m) {
  m.def(
      "mse_loss",
      [](nb::handle input, nb::handle target, LOSSLAB_PY_COMMON_PARAMS,
         std::string grad_dtype) {
        return call_loss("mse_loss", input, target,
                         with_grad_dtype(LOSSLAB_PY_COMMON_VALUES, grad_dtype),
                         true,
                         [&](const View& x, const View& y, const CallArgs& a,
                             const LossOutputs& o) {
                           return mse_loss(x, y,
                                           {.weight = a.weight,
                                            .reduction = a.reduction,
                                            .nan_policy = a.nan_policy},
                                           o);
                         });
      },
      nb::arg("input").none(), nb::arg("target").none(), nb::kw_only(),
      LOSSLAB_PY_COMMON_ARGS, nb::arg("grad_dtype") = "input",
      doc("Mean squared error: (input - target)^2.\n\nMatches "
          "torch.nn.functional.mse_loss.\n")
          .c_str());

  m.def(
      "l1_loss",
      [](nb::handle input, nb::handle target, LOSSLAB_PY_COMMON_PARAMS,
         std::string grad_dtype) {
        return call_loss("l1_loss", input, target,
                         with_grad_dtype(LOSSLAB_PY_COMMON_VALUES, grad_dtype),
                         true,
                         [&](const View& x, const View& y, const CallArgs& a,
                             const LossOutputs& o) {
                           return l1_loss(x, y,
                                          {.weight = a.weight,
                                           .reduction = a.reduction,
                                           .nan_policy = a.nan_policy},
                                          o);
                         });
      },
      nb::arg("input").none(), nb::arg("target").none(), nb::kw_only(),
      LOSSLAB_PY_COMMON_ARGS, nb::arg("grad_dtype") = "input",
      doc("Mean absolute error |input - target|; gradient sign(input - "
          "target), 0 at 0.\n\nMatches torch.nn.functional.l1_loss.\n")
          .c_str());

  m.def(
      "huber_loss",
      [](nb::handle input, nb::handle target, double delta,
         LOSSLAB_PY_COMMON_PARAMS, std::string grad_dtype) {
        return call_loss("huber_loss", input, target,
                         with_grad_dtype(LOSSLAB_PY_COMMON_VALUES, grad_dtype),
                         true,
                         [&](const View& x, const View& y, const CallArgs& a,
                             const LossOutputs& o) {
                           return huber_loss(x, y,
                                             {.delta = delta,
                                              .weight = a.weight,
                                              .reduction = a.reduction,
                                              .nan_policy = a.nan_policy},
                                             o);
                         });
      },
      nb::arg("input").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("delta") = 1.0, LOSSLAB_PY_COMMON_ARGS,
      nb::arg("grad_dtype") = "input",
      doc("Huber loss: 0.5 d^2 for |d| < delta, else delta (|d| - 0.5 "
          "delta); delta > 0.\n\nMatches torch.nn.functional.huber_loss; "
          "equals delta * smooth_l1_loss(beta=delta).\n")
          .c_str());

  m.def(
      "smooth_l1_loss",
      [](nb::handle input, nb::handle target, double beta,
         LOSSLAB_PY_COMMON_PARAMS, std::string grad_dtype) {
        return call_loss("smooth_l1_loss", input, target,
                         with_grad_dtype(LOSSLAB_PY_COMMON_VALUES, grad_dtype),
                         true,
                         [&](const View& x, const View& y, const CallArgs& a,
                             const LossOutputs& o) {
                           return smooth_l1_loss(x, y,
                                                 {.beta = beta,
                                                  .weight = a.weight,
                                                  .reduction = a.reduction,
                                                  .nan_policy = a.nan_policy},
                                                 o);
                         });
      },
      nb::arg("input").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("beta") = 1.0, LOSSLAB_PY_COMMON_ARGS,
      nb::arg("grad_dtype") = "input",
      doc("Smooth L1: 0.5 d^2 / beta for |d| < beta, else |d| - 0.5 beta; "
          "beta >= 0 (beta = 0 is L1).\n\nMatches "
          "torch.nn.functional.smooth_l1_loss.\n")
          .c_str());

  m.def(
      "quantile_loss",
      [](nb::handle input, nb::handle target, nb::handle quantile,
         LOSSLAB_PY_COMMON_PARAMS, std::string grad_dtype) {
        const std::vector<double> qs = to_quantiles(quantile);
        return call_loss("quantile_loss", input, target,
                         with_grad_dtype(LOSSLAB_PY_COMMON_VALUES, grad_dtype),
                         true,
                         [&](const View& x, const View& y, const CallArgs& a,
                             const LossOutputs& o) {
                           return quantile_loss(x, y,
                                                {.quantile = qs,
                                                 .weight = a.weight,
                                                 .reduction = a.reduction,
                                                 .nan_policy = a.nan_policy},
                                                o);
                         });
      },
      nb::arg("input").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("quantile") = 0.5, LOSSLAB_PY_COMMON_ARGS,
      nb::arg("grad_dtype") = "input",
      doc("Pinball (quantile) loss: with e = target - input, max(tau e, "
          "(tau - 1) e), tau in (0, 1).\n\ntau = 0.9 estimates the 90th "
          "percentile: under-prediction costs more. With quantile=[q1, ..., "
          "qQ] the input is (N, Q) and the target (N, Q) or (N,).\n")
          .c_str());

  m.def(
      "log_cosh_loss",
      [](nb::handle input, nb::handle target, LOSSLAB_PY_COMMON_PARAMS,
         std::string grad_dtype) {
        return call_loss("log_cosh_loss", input, target,
                         with_grad_dtype(LOSSLAB_PY_COMMON_VALUES, grad_dtype),
                         true,
                         [&](const View& x, const View& y, const CallArgs& a,
                             const LossOutputs& o) {
                           return log_cosh_loss(x, y,
                                                {.weight = a.weight,
                                                 .reduction = a.reduction,
                                                 .nan_policy = a.nan_policy},
                                                o);
                         });
      },
      nb::arg("input").none(), nb::arg("target").none(), nb::kw_only(),
      LOSSLAB_PY_COMMON_ARGS, nb::arg("grad_dtype") = "input",
      doc("Log-cosh loss log(cosh(input - target)); gradient tanh(d), "
          "Hessian 1 - tanh(d)^2. Computed without overflow or cancellation: "
          "-0.5 log1p(-tanh(d)^2) for |d| < 1, |d| - log 2 + log1p(exp(-2|d|)) "
          "otherwise.\n")
          .c_str());

  m.def(
      "pseudo_huber_loss",
      [](nb::handle input, nb::handle target, double delta,
         LOSSLAB_PY_COMMON_PARAMS, std::string grad_dtype) {
        return call_loss(
            "pseudo_huber_loss", input, target,
            with_grad_dtype(LOSSLAB_PY_COMMON_VALUES, grad_dtype), true,
            [&](const View& x, const View& y, const CallArgs& a,
                const LossOutputs& o) {
              return pseudo_huber_loss(x, y,
                                       {.delta = delta,
                                        .weight = a.weight,
                                        .reduction = a.reduction,
                                        .nan_policy = a.nan_policy},
                                       o);
            });
      },
      nb::arg("input").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("delta") = 1.0, LOSSLAB_PY_COMMON_ARGS,
      nb::arg("grad_dtype") = "input",
      doc("Pseudo-Huber loss delta^2 (sqrt(1 + (d/delta)^2) - 1); delta > "
          "0.\n")
          .c_str());

  m.def(
      "poisson_nll_loss",
      [](nb::handle input, nb::handle target, bool log_input, bool full,
         double eps, LOSSLAB_PY_COMMON_PARAMS, std::string grad_dtype) {
        return call_loss("poisson_nll_loss", input, target,
                         with_grad_dtype(LOSSLAB_PY_COMMON_VALUES, grad_dtype),
                         true,
                         [&](const View& x, const View& y, const CallArgs& a,
                             const LossOutputs& o) {
                           return poisson_nll_loss(x, y,
                                                   {.log_input = log_input,
                                                    .full = full,
                                                    .eps = eps,
                                                    .weight = a.weight,
                                                    .reduction = a.reduction,
                                                    .nan_policy = a.nan_policy},
                                                   o);
                         });
      },
      nb::arg("input").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("log_input") = true, nb::arg("full") = false,
      nb::arg("eps") = 1e-8, LOSSLAB_PY_COMMON_ARGS,
      nb::arg("grad_dtype") = "input",
      doc("Poisson negative log-likelihood. log_input: exp(input) - target * "
          "input; else input - target * log(input + eps) (input >= 0). full "
          "adds Stirling's term for target > 1.\n\nMatches "
          "torch.nn.functional.poisson_nll_loss.\n")
          .c_str());
}

LOSSLAB_PY_REGISTER(regression, bind_regression);

}  // namespace losslab::python
