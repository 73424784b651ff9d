// Python binding of softmax_focal_loss (losslab/losses/classification.h).
// Class-index targets and per-sample outputs of the target's shape, as
// cross_entropy; alpha is None, a number or a (C,) array. No math lives here.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <optional>
#include <string>

#include "arrays.h"
#include "losslab/core/error.h"
#include "losslab/losses/classification.h"
#include "registry.h"

namespace losslab::python {

namespace {

nb::object softmax_focal(nb::handle input, nb::handle target, nb::handle alpha,
                         double gamma, int64_t ignore_index,
                         const std::string& reduction, bool return_grad,
                         nb::handle out, nb::handle grad_out,
                         nb::handle grad_output) {
  constexpr std::string_view fn = "softmax_focal_loss";
  const Input x = to_input(fn, "input", input);
  const Input y = to_input(fn, "target", target);
  if (!x.view.present()) {
    throw_type_error(std::string(fn) + ": input must be an array, not None");
  }
  if (!y.view.present()) {
    throw_type_error(std::string(fn) + ": target must be an array, not None");
  }
  SoftmaxFocalOptions o;
  o.gamma = gamma;
  o.ignore_index = ignore_index;
  o.reduction = parse_reduction(reduction, fn);
  Input a;
  if (!alpha.is_none()) {
    if (PyFloat_Check(alpha.ptr()) || PyLong_Check(alpha.ptr())) {
      o.alpha = nb::cast<double>(nb::float_(alpha));
    } else {
      a = to_input(fn, "alpha", alpha);
      if (a.view.shape.ndim() == 0) {
        o.alpha = nb::cast<double>(nb::float_(alpha));
      } else {
        o.alpha_per_class = a.view;
      }
    }
  }
  LossOutputs outs;
  const Input go =
      to_grad_output(fn, "grad_output", grad_output, &outs.grad_output,
                     &outs.grad_output_elementwise);
  const Output out_arg = to_output(fn, "out", out);
  const Output grad_arg = to_output(fn, "grad_out", grad_out);
  const DType dt = x.view.dtype;
  const bool typed = dt == DType::kFloat32 || dt == DType::kFloat64;
  nb::object out_obj, grad_obj;
  if (out_arg.view.present()) {
    out_obj = out_arg.object;
    outs.out = out_arg.view;
  } else if (o.reduction == Reduction::kNone && typed) {
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
    value = softmax_focal_loss(x.view, y.view, o, outs);
  }
  nb::object loss_obj =
      o.reduction == Reduction::kNone ? out_obj : nb::float_(value);
  if (return_grad) return nb::make_tuple(loss_obj, grad_obj);
  return loss_obj;
}

constexpr const char* kDoc =
    R"(Softmax (multiclass) focal loss (Lin et al. 2017).

    l = -alpha_t (1 - p_t)^gamma log p_t,   p_t = softmax(input)[target]

gradient w.r.t. the logits: G (p - onehot) with
G = alpha_t (1 - p_t)^gamma (1 - gamma p_t log(p_t) / (1 - p_t)).
(1 - p_t)^gamma is computed in log space from the sum of exp over the other
classes, so values and gradients are finite for saturated logits and every
gamma >= 0; gamma=0 with alpha=None equals cross_entropy exactly.

Arguments:
    input: logits, float32/float64, (N, C), (N, C, d1, ...) or (C,).
    target: class indices int64/int32 of the input's shape without dim 1.
    alpha: None (1 for every class), a number (every class) or a (C,) array
        (>= 0, the input's dtype) indexed by the target class.
    gamma: focusing parameter >= 0 (default 2).
    ignore_index: rows with this target take no part (no loss, zero grad).
    reduction: "mean" (default: divides by the number of rows not ignored;
        0 with a zero gradient when all are ignored), "sum" or "none".
    return_grad: also return the gradient w.r.t. input.
    out, grad_out: optional caller-owned arrays (target's shape, input's
        shape). grad_output: a number for "mean"/"sum", or an array of the
        target's shape for "none".

Returns:
    loss (a float, or an array for "none"); with return_grad (loss, grad).
    PyTorch has no such function; the tests use the formula above written
    with torch ops (autograd) as the oracle.)";

}  // namespace

void bind_softmax_focal(nb::module_& m) {
  m.def("softmax_focal_loss", &softmax_focal, nb::arg("input"),
        nb::arg("target"), nb::kw_only(), nb::arg("alpha") = nb::none(),
        nb::arg("gamma") = 2.0, nb::arg("ignore_index") = -100,
        nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
        nb::arg("out") = nb::none(), nb::arg("grad_out") = nb::none(),
        nb::arg("grad_output") = nb::none(), kDoc);
}

LOSSLAB_PY_REGISTER(softmax_focal, bind_softmax_focal);

}  // namespace losslab::python
