// Python bindings of the classification losses
// (losslab/losses/classification.h). The binary losses use the shared
// call_loss convention; cross_entropy and nll_loss have class-index targets
// (int64/int32), (C,) class weights and per-sample outputs of the target's
// shape, so they use call_class_loss below. No math lives here.
#include "losslab/losses/classification.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <string>

#include "arrays.h"
#include "losslab/core/error.h"
#include "registry.h"

namespace losslab::python {

namespace {

using ClassFn = std::function<double(const View& input, const View& target,
                                     const View& weight, Reduction reduction,
                                     const LossOutputs& outputs)>;

// The calling convention of losses with a class dimension: out and
// grad_output have the target's shape, grad the input's shape; no Hessian.
nb::object call_class_loss(std::string_view fn, nb::handle input,
                           nb::handle target, nb::handle weight,
                           const std::string& reduction, bool return_grad,
                           nb::handle out, nb::handle grad_out,
                           nb::handle grad_output, const ClassFn& loss) {
  const Input x = to_input(fn, "input", input);
  const Input y = to_input(fn, "target", target);
  const Input w = to_input(fn, "weight", weight);
  if (!x.view.present()) {
    throw_type_error(std::string(fn) + ": input must be an array, not None");
  }
  if (!y.view.present()) {
    throw_type_error(std::string(fn) + ": target must be an array, not None");
  }
  const Reduction r = parse_reduction(reduction, fn);
  LossOutputs outs;
  Input go;
  if (!grad_output.is_none()) {
    if (PyFloat_Check(grad_output.ptr()) || PyLong_Check(grad_output.ptr())) {
      outs.grad_output = nb::cast<double>(grad_output);
    } else {
      go = to_input(fn, "grad_output", grad_output);
      if (go.view.shape.ndim() == 0) {
        outs.grad_output = nb::cast<double>(nb::float_(grad_output));
      } else {
        outs.grad_output_elementwise = go.view;
      }
    }
  }
  const Output out_arg = to_output(fn, "out", out);
  const Output grad_arg = to_output(fn, "grad_out", grad_out);
  const DType dt = x.view.dtype;
  const bool typed = dt == DType::kFloat32 || dt == DType::kFloat64;
  // Per-sample shape: the target's, when it is a valid index array (the
  // C++ op checks it again and reports mismatches).
  nb::object out_obj, grad_obj;
  if (out_arg.view.present()) {
    out_obj = out_arg.object;
    outs.out = out_arg.view;
  } else if (r == Reduction::kNone && typed) {
    void* p;
    out_obj = new_array(y.view.shape, dt, &p);
    outs.out = MutableView{p, dt, y.view.shape, {}};
  }
  if (grad_arg.view.present()) {
    grad_obj = grad_arg.object;
    outs.grad_out = grad_arg.view;
  } else if (return_grad && typed) {
    void* p;
    grad_obj = new_array(x.view.shape, dt, &p);
    outs.grad_out = MutableView{p, dt, x.view.shape, {}};
  }
  double value;
  {
    nb::gil_scoped_release release;
    value = loss(x.view, y.view, w.view, r, outs);
  }
  nb::object loss_obj = r == Reduction::kNone ? out_obj : nb::float_(value);
  if (return_grad) return nb::make_tuple(loss_obj, grad_obj);
  return loss_obj;
}

constexpr const char* kBinaryDoc = R"(
Arguments:
    input, target: arrays of the same shape (float32 or float64; NumPy arrays
        or CPU tensors through DLPack). Targets lie in [0, 1] (soft targets
        allowed); a target outside [0, 1] or NaN is a ValueError naming the
        index. losslab never broadcasts.
    weight: optional per-element weight (>= 0) of the input's shape. A weighted
        mean divides by the sum of the weights.
    reduction: "mean" (default), "sum" or "none".
    return_grad: also return the gradient of the reduced loss w.r.t. input.
    return_hess: also return the diagonal Hessian (implies return_grad).
    out, grad_out, hess_out: optional caller-owned contiguous arrays of the
        input's shape and dtype.
    grad_output: upstream gradient: a number for "mean"/"sum", or an array of
        the input's shape for "none".
    nan_policy: "propagate" (IEEE, as PyTorch) or "raise".

Returns:
    loss (a float, or an array for "none"); with return_grad (loss, grad);
    with return_hess (loss, grad, hess).)";

constexpr const char* kClassDoc = R"(
Arguments:
    input: float32/float64 of shape (N, C), (N, C, d1, ...) or (C,); the class
        dimension is dim 1 (dim 0 for (C,)).
    target: class indices, int64 or int32, of shape (N,), (N, d1, ...) or ().
        A label outside [0, C) that is not ignore_index is a ValueError
        naming its index.
    weight: optional (C,) class weights (>= 0), the input's dtype.
    ignore_index: rows with this target take no part (no loss, zero grad).
    reduction: "mean" (default: divides by the sum of weight[target] over
        rows not ignored; 0 with a zero gradient when that sum is 0, where
        PyTorch returns NaN), "sum" or "none" (one loss per target element).
    return_grad: also return the gradient w.r.t. input (input's shape).
    out, grad_out: optional caller-owned arrays (target's shape, input's
        shape) of the input's dtype.
    grad_output: upstream gradient: a number for "mean"/"sum", or an array of
        the target's shape for "none".

Returns:
    loss (a float, or an array for "none"); with return_grad (loss, grad).)";

std::string doc(const char* head, const char* tail) {
  return std::string(head) + tail;
}

}  // namespace

void bind_classification(nb::module_& m) {
  m.def(
      "binary_cross_entropy_with_logits",
      [](nb::handle input, nb::handle target, nb::handle pos_weight,
         LOSSLAB_PY_COMMON_PARAMS) {
        constexpr std::string_view fn = "binary_cross_entropy_with_logits";
        const Input pw = to_input(fn, "pos_weight", pos_weight);
        return call_loss(fn, input, target, LOSSLAB_PY_COMMON_VALUES, true,
                         [&](const View& x, const View& y, const CallArgs& a,
                             const LossOutputs& o) {
                           return binary_cross_entropy_with_logits(
                               x, y,
                               {.weight = a.weight,
                                .pos_weight = pw.view,
                                .reduction = a.reduction,
                                .nan_policy = a.nan_policy},
                               o);
                         });
      },
      nb::arg("input"), nb::arg("target"), nb::kw_only(),
      nb::arg("pos_weight") = nb::none(), LOSSLAB_PY_COMMON_ARGS,
      doc("Binary cross-entropy on logits: max(x, 0) - x y + log1p(exp(-|x|))"
          "; gradient sigmoid(x) - y, Hessian sigmoid(x) (1 - sigmoid(x)).\n\n"
          "pos_weight: optional (C,) weight of the positive term per class of "
          "the input's last dimension (PyTorch's documented semantics for "
          "multi-label input (N, C)), or (1,) for all elements.\n\nMatches "
          "torch.nn.functional.binary_cross_entropy_with_logits.\n",
          kBinaryDoc)
          .c_str());

  m.def(
      "binary_cross_entropy",
      [](nb::handle input, nb::handle target, LOSSLAB_PY_COMMON_PARAMS) {
        return call_loss(
            "binary_cross_entropy", input, target, LOSSLAB_PY_COMMON_VALUES,
            true,
            [&](const View& x, const View& y, const CallArgs& a,
                const LossOutputs& o) {
              return binary_cross_entropy(
                  x, y, {.weight = a.weight, .reduction = a.reduction}, o);
            });
      },
      nb::arg("input"), nb::arg("target"), nb::kw_only(),
      LOSSLAB_PY_COMMON_ARGS,
      doc("Binary cross-entropy on probabilities in [0, 1]: -(y log x + (1 - "
          "y) log(1 - x)), each log clamped at -100; gradient (x - y) / "
          "max(x (1 - x), 1e-12).\n\nAn input outside [0, 1] is a ValueError: "
          "pass logits to binary_cross_entropy_with_logits. nan_policy is "
          "accepted for uniformity; NaN input is always an error here (as in "
          "PyTorch).\n\nMatches torch.nn.functional.binary_cross_entropy.\n",
          kBinaryDoc)
          .c_str());

  m.def(
      "cross_entropy",
      [](nb::handle input, nb::handle target, nb::handle weight,
         int64_t ignore_index, double label_smoothing,
         const std::string& reduction, bool return_grad, nb::handle out,
         nb::handle grad_out, nb::handle grad_output) {
        return call_class_loss(
            "cross_entropy", input, target, weight, reduction, return_grad, out,
            grad_out, grad_output,
            [&](const View& x, const View& y, const View& w, Reduction r,
                const LossOutputs& o) {
              return cross_entropy(x, y,
                                   {.weight = w,
                                    .ignore_index = ignore_index,
                                    .label_smoothing = label_smoothing,
                                    .reduction = r},
                                   o);
            });
      },
      nb::arg("input"), nb::arg("target"), nb::kw_only(),
      nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100,
      nb::arg("label_smoothing") = 0.0, nb::arg("reduction") = "mean",
      nb::arg("return_grad") = false, nb::arg("out") = nb::none(),
      nb::arg("grad_out") = nb::none(), nb::arg("grad_output") = nb::none(),
      doc("Softmax cross-entropy on logits with class-index targets, "
          "computed with log-sum-exp (invariant to adding a constant to a "
          "row). With label_smoothing eps: (1 - eps) w[y] (-log p_y) + (eps / "
          "C) sum_c w[c] (-log p_c).\n\nMatches "
          "torch.nn.functional.cross_entropy (class-index targets).\n",
          kClassDoc)
          .c_str());

  m.def(
      "nll_loss",
      [](nb::handle input, nb::handle target, nb::handle weight,
         int64_t ignore_index, const std::string& reduction, bool return_grad,
         nb::handle out, nb::handle grad_out, nb::handle grad_output) {
        return call_class_loss(
            "nll_loss", input, target, weight, reduction, return_grad, out,
            grad_out, grad_output,
            [&](const View& x, const View& y, const View& w, Reduction r,
                const LossOutputs& o) {
              return nll_loss(
                  x, y,
                  {.weight = w, .ignore_index = ignore_index, .reduction = r},
                  o);
            });
      },
      nb::arg("input"), nb::arg("target"), nb::kw_only(),
      nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100,
      nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
      nb::arg("out") = nb::none(), nb::arg("grad_out") = nb::none(),
      nb::arg("grad_output") = nb::none(),
      doc("Negative log-likelihood on log-probabilities: -w[y] input[y].\n\n"
          "Matches torch.nn.functional.nll_loss.\n",
          kClassDoc)
          .c_str());
}

LOSSLAB_PY_REGISTER(classification, bind_classification);

}  // namespace losslab::python
