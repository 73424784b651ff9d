// Python bindings of the classification losses
// (losslab/losses/classification.h). The binary losses (BCE, hinge, sigmoid
// focal) and kl_div use the shared call_loss convention; cross_entropy,
// nll_loss and multi_margin_loss have class-index targets (int64/int32), (C,)
// class weights and per-sample outputs of the target's shape, so they use
// call_class_loss below; kl_divergence has per-row outputs (call_kl_rows).
// No math lives here.
#include "losslab/losses/classification.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <optional>
#include <string>

#include "arrays.h"
#include "losslab/core/error.h"
#include "registry.h"

namespace losslab::python {

namespace {

using ClassFn = std::function<double(const View& input, const View& target,
                                     const View& weight, Reduction reduction,
                                     const LossOutputs& outputs)>;

bool is_half_dtype(DType dt) {
  return dt == DType::kFloat16 || dt == DType::kBFloat16;
}

// The calling convention of losses with a class dimension: out and
// grad_output have the target's shape, grad the input's shape; no Hessian.
nb::object call_class_loss(std::string_view fn, nb::handle input,
                           nb::handle target, nb::handle weight,
                           const std::string& reduction, bool return_grad,
                           nb::handle out, nb::handle grad_out,
                           nb::handle grad_output,
                           const std::string& grad_dtype, const ClassFn& loss) {
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
  const Input go =
      to_grad_output(fn, "grad_output", grad_output, &outs.grad_output,
                     &outs.grad_output_elementwise);
  const Output out_arg = to_output(fn, "out", out);
  const Output grad_arg = to_output(fn, "grad_out", grad_out);
  const DType dt = x.view.dtype;
  const bool typed =
      dt == DType::kFloat32 || dt == DType::kFloat64 || is_half_dtype(dt);
  const DType gdt = grad_dtype_for(fn, grad_dtype, dt);
  // Per-sample shape: the target's, when it is a valid index array, or the
  // input's without its class dimension for probability targets (the C++ op
  // checks it again and reports mismatches).
  Shape sample = y.view.shape;
  if (is_floating(y.view.dtype) && x.view.shape.ndim() > 0) {
    sample = Shape{};
    for (int k = 0; k < x.view.shape.ndim(); ++k) {
      if (k != (x.view.shape.ndim() == 1 ? 0 : 1)) {
        sample.push_back(x.view.shape[k]);
      }
    }
  }
  nb::object out_obj, grad_obj;
  if (out_arg.view.present()) {
    out_obj = out_arg.object;
    outs.out = out_arg.view;
  } else if (r == Reduction::kNone && typed) {
    void* p;
    out_obj = new_array(sample, dt, &p);
    outs.out = MutableView{p, dt, sample, {}};
  }
  if (grad_arg.view.present()) {
    grad_obj = grad_arg.object;
    outs.grad_out = grad_arg.view;
  } else if (return_grad && typed) {
    void* p;
    grad_obj = new_array(x.view.shape, gdt, &p);
    outs.grad_out = MutableView{p, gdt, x.view.shape, {}};
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
        dimension is dim 1 (dim 0 for (C,)). float16/bfloat16 input (with
        class indices) is widened to float32 and computed in float32.
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
    grad_dtype: "input" (default) or "float32": the dtype of a new grad for
        float16/bfloat16 input (rounded to nearest even from float32, or the
        float32 gradient itself). out and grad_out may also be float32.

Returns:
    loss (a float, or an array for "none"); with return_grad (loss, grad).)";

// kl_divergence(p, q): out and an array grad_output have the row shape (q's
// shape without its last dimension); grad and hess are w.r.t. q.
nb::object call_kl_rows(nb::handle p, nb::handle q,
                        const std::string& reduction, bool return_grad,
                        bool return_hess, nb::handle out, nb::handle grad_out,
                        nb::handle hess_out, nb::handle grad_output,
                        const std::string& grad_dtype) {
  constexpr std::string_view fn = "kl_divergence";
  const Input pi = to_input(fn, "p", p);
  const Input qi = to_input(fn, "q", q);
  if (!pi.view.present() || !qi.view.present()) {
    throw_type_error(std::string(fn) + ": p and q must be arrays, not None");
  }
  const Reduction r = parse_reduction(reduction, fn);
  LossOutputs outs;
  const Input go =
      to_grad_output(fn, "grad_output", grad_output, &outs.grad_output,
                     &outs.grad_output_elementwise);
  const Output out_arg = to_output(fn, "out", out);
  const Output grad_arg = to_output(fn, "grad_out", grad_out);
  const Output hess_arg = to_output(fn, "hess_out", hess_out);
  const DType dt = qi.view.dtype;
  const bool typed =
      (dt == DType::kFloat32 || dt == DType::kFloat64 || is_half_dtype(dt)) &&
      qi.view.shape.ndim() > 0;
  const DType gdt = grad_dtype_for(fn, grad_dtype, dt);
  Shape rows;
  for (int k = 0; k + 1 < qi.view.shape.ndim(); ++k) {
    rows.push_back(qi.view.shape[k]);
  }
  const bool want_grad = return_grad || return_hess;
  nb::object out_obj, grad_obj, hess_obj;
  auto prepare = [&](const Output& given, bool wanted, const Shape& shape,
                     DType odt, nb::object& obj, MutableView& mv) {
    if (given.view.present()) {
      obj = given.object;
      mv = given.view;
    } else if (wanted && typed) {
      void* ptr;
      obj = new_array(shape, odt, &ptr);
      mv = MutableView{ptr, odt, shape, {}};
    }
  };
  prepare(out_arg, r == Reduction::kNone, rows, dt, out_obj, outs.out);
  prepare(grad_arg, want_grad, qi.view.shape, gdt, grad_obj, outs.grad_out);
  prepare(hess_arg, return_hess, qi.view.shape, gdt, hess_obj, outs.hess_out);
  double value;
  {
    nb::gil_scoped_release release;
    value = kl_divergence(pi.view, qi.view, {.reduction = r}, outs);
  }
  nb::object loss_obj = r == Reduction::kNone ? out_obj : nb::float_(value);
  if (return_hess) return nb::make_tuple(loss_obj, grad_obj, hess_obj);
  if (return_grad) return nb::make_tuple(loss_obj, grad_obj);
  return loss_obj;
}

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
         int64_t ignore_index, double label_smoothing, double z_loss,
         std::optional<double> logit_softcap, const std::string& reduction,
         bool return_grad, nb::handle out, nb::handle grad_out,
         nb::handle grad_output, const std::string& grad_dtype) {
        return call_class_loss(
            "cross_entropy", input, target, weight, reduction, return_grad, out,
            grad_out, grad_output, grad_dtype,
            [&](const View& x, const View& y, const View& w, Reduction r,
                const LossOutputs& o) {
              return cross_entropy(x, y,
                                   {.weight = w,
                                    .ignore_index = ignore_index,
                                    .label_smoothing = label_smoothing,
                                    .reduction = r,
                                    .z_loss = z_loss,
                                    .logit_softcap = logit_softcap},
                                   o);
            });
      },
      nb::arg("input"), nb::arg("target"), nb::kw_only(),
      nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100,
      nb::arg("label_smoothing") = 0.0, nb::arg("z_loss") = 0.0,
      nb::arg("logit_softcap") = nb::none(), nb::arg("reduction") = "mean",
      nb::arg("return_grad") = false, nb::arg("out") = nb::none(),
      nb::arg("grad_out") = nb::none(), nb::arg("grad_output") = nb::none(),
      nb::arg("grad_dtype") = "input",
      doc("Softmax cross-entropy on logits, computed with log-sum-exp "
          "(invariant to adding a constant to a row). Class-index targets "
          "with label_smoothing eps: (1 - eps) w[y] (-log p_y) + (eps / C) "
          "sum_c w[c] (-log p_c).\n\nProbability (soft) targets: a float "
          "target of the input's shape and dtype, each row >= 0 and summing "
          "to 1 (within 1e-3 in float32, 1e-6 in float64; otherwise a "
          "ValueError naming the row): sum_c w[c] q'_c (-log p_c) with q' = "
          "(1 - eps) q + eps / C; ignore_index does not apply and 'mean' "
          "divides by the number of rows (PyTorch).\n\nz_loss: lambda >= 0 "
          "adds lambda logsumexp(x)^2 per row not ignored (PaLM); "
          "logit_softcap: c > 0 replaces the logits by c tanh(x / c) first "
          "(Gemma 2); the gradient goes through both, and the mean keeps "
          "PyTorch's denominator.\n\nMatches "
          "torch.nn.functional.cross_entropy.\n",
          kClassDoc)
          .c_str());

  m.def(
      "nll_loss",
      [](nb::handle input, nb::handle target, nb::handle weight,
         int64_t ignore_index, const std::string& reduction, bool return_grad,
         nb::handle out, nb::handle grad_out, nb::handle grad_output,
         const std::string& grad_dtype) {
        return call_class_loss(
            "nll_loss", input, target, weight, reduction, return_grad, out,
            grad_out, grad_output, grad_dtype,
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
      nb::arg("grad_output") = nb::none(), nb::arg("grad_dtype") = "input",
      doc("Negative log-likelihood on log-probabilities: -w[y] input[y].\n\n"
          "Matches torch.nn.functional.nll_loss.\n",
          kClassDoc)
          .c_str());

  constexpr const char* kHingeDoc =
      "labels y in {-1, 1}; {0, 1} labels are also accepted, 0 read as -1 (0 "
      "is not a valid {-1, 1} label, so this is unambiguous); any other label "
      "is a ValueError naming its index. At the kink (margin = y x) the "
      "gradient is 0 and the Hessian 0.\n\nSource: Cortes & Vapnik (1995); "
      "sklearn.metrics.hinge_loss (mean of the hinge).\n";
  m.def(
      "hinge_loss",
      [](nb::handle input, nb::handle target, double margin,
         LOSSLAB_PY_COMMON_PARAMS) {
        return call_loss("hinge_loss", input, target, LOSSLAB_PY_COMMON_VALUES,
                         true,
                         [&](const View& x, const View& y, const CallArgs& a,
                             const LossOutputs& o) {
                           return hinge_loss(x, y,
                                             {.margin = margin,
                                              .weight = a.weight,
                                              .reduction = a.reduction,
                                              .nan_policy = a.nan_policy},
                                             o);
                         });
      },
      nb::arg("input"), nb::arg("target"), nb::kw_only(),
      nb::arg("margin") = 1.0, LOSSLAB_PY_COMMON_ARGS,
      doc((std::string("Hinge loss max(0, margin - y x) on scores x with ") +
           kHingeDoc)
              .c_str(),
          kBinaryDoc)
          .c_str());

  m.def(
      "squared_hinge_loss",
      [](nb::handle input, nb::handle target, double margin,
         LOSSLAB_PY_COMMON_PARAMS) {
        return call_loss(
            "squared_hinge_loss", input, target, LOSSLAB_PY_COMMON_VALUES, true,
            [&](const View& x, const View& y, const CallArgs& a,
                const LossOutputs& o) {
              return squared_hinge_loss(x, y,
                                        {.margin = margin,
                                         .weight = a.weight,
                                         .reduction = a.reduction,
                                         .nan_policy = a.nan_policy},
                                        o);
            });
      },
      nb::arg("input"), nb::arg("target"), nb::kw_only(),
      nb::arg("margin") = 1.0, LOSSLAB_PY_COMMON_ARGS,
      doc((std::string("Squared hinge loss max(0, margin - y x)^2 on scores x "
                       "with ") +
           kHingeDoc)
              .c_str(),
          kBinaryDoc)
          .c_str());

  m.def(
      "sigmoid_focal_loss",
      [](nb::handle input, nb::handle target, nb::object alpha, double gamma,
         LOSSLAB_PY_COMMON_PARAMS) {
        std::optional<double> a;
        if (!alpha.is_none()) a = nb::cast<double>(nb::float_(alpha));
        return call_loss(
            "sigmoid_focal_loss", input, target, LOSSLAB_PY_COMMON_VALUES, true,
            [&](const View& x, const View& y, const CallArgs& c,
                const LossOutputs& o) {
              return sigmoid_focal_loss(x, y,
                                        {.alpha = a,
                                         .gamma = gamma,
                                         .weight = c.weight,
                                         .reduction = c.reduction,
                                         .nan_policy = c.nan_policy},
                                        o);
            });
      },
      nb::arg("input"), nb::arg("target"), nb::kw_only(),
      nb::arg("alpha").none() = 0.25, nb::arg("gamma") = 2.0,
      LOSSLAB_PY_COMMON_ARGS,
      doc("Sigmoid focal loss (Lin et al. 2017), torchvision semantics: "
          "alpha_t BCE_with_logits(x, y) (1 - p_t)^gamma with p = sigmoid(x), "
          "p_t = p y + (1 - p)(1 - y), alpha_t = alpha y + (1 - alpha)(1 - y)."
          "\n\nalpha: weight of positives in [0, 1] (negatives get 1 - alpha); "
          "None disables it. gamma >= 0; gamma = 0 is exactly "
          "binary_cross_entropy_with_logits. (1 - p_t)^gamma is computed from "
          "log-sigmoids, so values and gradients are finite for saturated "
          "logits and every gamma >= 0. Default reduction 'mean' "
          "(torchvision's is 'none'). return_hess gives the analytic diagonal "
          "Hessian (it can be negative: the focal loss is not convex).\n\n"
          "Matches torchvision.ops.sigmoid_focal_loss.\n",
          kBinaryDoc)
          .c_str());

  m.def(
      "kl_div",
      [](nb::handle input, nb::handle target, bool log_target,
         std::string reduction, bool return_grad, bool return_hess,
         nb::object out, nb::object grad_out, nb::object hess_out,
         nb::object grad_output) {
        nb::object weight = nb::none();
        std::string nan_policy = "propagate";
        return call_loss(
            "kl_div", input, target, LOSSLAB_PY_COMMON_VALUES, true,
            [&](const View& x, const View& y, const CallArgs& a,
                const LossOutputs& o) {
              return kl_div(
                  x, y, {.log_target = log_target, .reduction = a.reduction},
                  o);
            });
      },
      nb::arg("input"), nb::arg("target"), nb::kw_only(),
      nb::arg("log_target") = false, nb::arg("reduction") = "batchmean",
      nb::arg("return_grad") = false, nb::arg("return_hess") = false,
      nb::arg("out") = nb::none(), nb::arg("grad_out") = nb::none(),
      nb::arg("hess_out") = nb::none(), nb::arg("grad_output") = nb::none(),
      "Kullback-Leibler divergence, PyTorch's kl_div: input holds "
      "log-probabilities log q, target probabilities p (log p with "
      "log_target=True); pointwise l = p (log p - input) with 0 log 0 = 0 in "
      "value and gradient (also where input = -inf, where PyTorch gives "
      "NaN). Gradient w.r.t. input: -p; Hessian 0.\n\n"
      "reduction: 'batchmean' (the default here; PyTorch's default is "
      "'mean') divides the sum by input.shape[0], the true KL divergence per "
      "sample; 'mean' averages every element (PyTorch's 'mean'); 'sum'; "
      "'none'. A negative target (log_target=False) or a NaN/+inf target is "
      "a ValueError naming the index; with log_target=True a target of -inf "
      "(probability 0) is valid.\n\nReturns loss (a float, or an array for "
      "'none'); with return_grad (loss, grad); with return_hess (loss, grad, "
      "hess).\n\nMatches torch.nn.functional.kl_div.\n");

  m.def("kl_divergence", &call_kl_rows, nb::arg("p"), nb::arg("q"),
        nb::kw_only(), nb::arg("reduction") = "mean",
        nb::arg("return_grad") = false, nb::arg("return_hess") = false,
        nb::arg("out") = nb::none(), nb::arg("grad_out") = nb::none(),
        nb::arg("hess_out") = nb::none(), nb::arg("grad_output") = nb::none(),
        nb::arg("grad_dtype") = "input",
        "KL divergence D(p || q) = sum_c p_c log(p_c / q_c) between "
        "distributions given as probabilities along the last dimension (p, q "
        ">= 0, same shape; rows are not required to sum to 1). 0 log 0 = 0; "
        "q_c = 0 < p_c gives +inf, never NaN.\n\n"
        "reduction: 'mean' (default: divides by the number of rows, i.e. "
        "kl_div's 'batchmean' on (N, C)), 'sum', or 'none' (one value per row, "
        "shape q.shape[:-1]).\n\n"
        "return_grad returns (loss, grad_q) with grad_q = -p / q (0 where p = "
        "0): the gradient w.r.t. q, the model's distribution; p is treated as "
        "data. return_hess adds the diagonal Hessian p / q^2. grad_output: a "
        "number, or one value per row for 'none'.\n\n"
        "float16/bfloat16 p and q are widened to float32 and computed in "
        "float32; grad/hess (and 'none' out) come back in their dtype, or "
        "grad/hess in float32 with grad_dtype='float32'.\n");

  m.def(
      "multi_margin_loss",
      [](nb::handle input, nb::handle target, int p, double margin,
         nb::handle weight, const std::string& reduction, bool return_grad,
         nb::handle out, nb::handle grad_out, nb::handle grad_output) {
        return call_class_loss(
            "multi_margin_loss", input, target, weight, reduction, return_grad,
            out, grad_out, grad_output, "input",
            [&](const View& x, const View& y, const View& w, Reduction r,
                const LossOutputs& o) {
              return multi_margin_loss(
                  x, y, {.p = p, .margin = margin, .weight = w, .reduction = r},
                  o);
            });
      },
      nb::arg("input"), nb::arg("target"), nb::kw_only(), nb::arg("p") = 1,
      nb::arg("margin") = 1.0, nb::arg("weight") = nb::none(),
      nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
      nb::arg("out") = nb::none(), nb::arg("grad_out") = nb::none(),
      nb::arg("grad_output") = nb::none(),
      "Multi-class margin loss, PyTorch semantics: for scores x (N, C) or "
      "(C,) and class indices y (N,) or (), l_i = w[y_i] / C * sum_{k != "
      "y_i} max(0, margin - x[i, y_i] + x[i, k])^p.\n\n"
      "p: 1 or 2. weight: optional (C,) class weights (>= 0), indexed by the "
      "target class. reduction: 'mean' (default; divides by N, as PyTorch, "
      "not by the sum of weights), 'sum' or 'none' (one loss per sample). A "
      "NaN score gives a NaN row (PyTorch skips it silently).\n\n"
      "Returns loss (a float, or an array for 'none'); with return_grad "
      "(loss, grad) with grad of the input's shape.\n\n"
      "Matches torch.nn.functional.multi_margin_loss.\n");
}

LOSSLAB_PY_REGISTER(classification, bind_classification);

}  // namespace losslab::python
