// Python binding of linear_cross_entropy (losslab/losses/
// linear_cross_entropy.h).
#include "losslab/losses/linear_cross_entropy.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <optional>
#include <string>
#include <utility>

#include "arrays.h"
#include "losslab/core/error.h"
#include "registry.h"

namespace losslab::python {
namespace {

constexpr const char* kDoc =
    R"(Cross-entropy of a linear layer's logits without forming them.

    logits = hidden @ weight.T (+ bias);  loss = cross_entropy(logits, target, ...)

hidden (T, H) and weight (V, H) float32/float64, or both float16/bfloat16
(torch tensors or ml_dtypes arrays; widened to float32, which the GEMMs and
the softmax accumulate in), target (T,) int64/int32.
The (T, V) logits are never materialized: tokens are processed in chunks
(chunk_tokens; 0 = automatic, one buffer of at most 128 MiB) with one GEMM for the
chunk's logits and two for the gradients. Options and semantics are those of
cross_entropy: weight_per_class (V,), ignore_index, label_smoothing,
z_loss (lambda logsumexp(logits)^2 per token not ignored), logit_softcap
(c tanh(logits / c) before the softmax, c > 0), reduction ("mean" divides by the summed class weights of the tokens not
ignored; every token ignored gives 0 with zero gradients).

Returns the loss (an array (T,) for "none"); with return_grad=True,
(loss, (grad_hidden, grad_weight)) or, with a bias,
(loss, (grad_hidden, grad_weight, grad_bias)). grad_output: a number for
"mean"/"sum", an array (T,) for "none". For float16/bfloat16 input the gradients have the input's dtype,
or float32 with grad_dtype="float32"; per-token losses ("none") have the
input's dtype.)";

nb::object run(nb::handle hidden, nb::handle weight, nb::handle target,
               nb::handle bias, nb::handle weight_per_class,
               int64_t ignore_index, double label_smoothing, double z_loss,
               std::optional<double> logit_softcap,
               const std::string& reduction, bool return_grad,
               nb::handle grad_output, int64_t chunk_tokens,
               const std::string& grad_dtype) {
  const char* fn = "linear_cross_entropy";
  const Input h = to_input(fn, "hidden", hidden);
  const Input w = to_input(fn, "weight", weight);
  const Input t = to_input(fn, "target", target);
  const Input b = to_input(fn, "bias", bias);
  const Input c = to_input(fn, "weight_per_class", weight_per_class);
  const std::pair<const Input*, const char*> required[] = {
      {&h, "hidden"}, {&w, "weight"}, {&t, "target"}};
  for (const auto& [in, name] : required) {
    if (!in->view.present()) {
      throw_type_error(std::string(fn) + ": " + name +
                       " must be an array, not None");
    }
  }
  LinearCrossEntropyOptions o{.bias = b.view,
                              .weight_per_class = c.view,
                              .ignore_index = ignore_index,
                              .label_smoothing = label_smoothing,
                              .reduction = parse_reduction(reduction, fn),
                              .z_loss = z_loss,
                              .logit_softcap = logit_softcap,
                              .chunk_tokens = chunk_tokens};
  LinearCrossEntropyOutputs out;
  const Input go =
      to_grad_output(fn, "grad_output", grad_output, &out.grad_output,
                     &out.grad_output_elementwise);
  const DType dt = h.view.dtype;
  const bool typed = dt == DType::kFloat32 || dt == DType::kFloat64 ||
                     dt == DType::kFloat16 || dt == DType::kBFloat16;
  const DType gdt = grad_dtype_for(fn, grad_dtype, dt);
  nb::object out_obj, gh_obj, gw_obj, gb_obj;
  auto alloc = [&](const Shape& shape, DType adt, nb::object& obj,
                   MutableView& mv) {
    void* p;
    obj = new_array(shape, adt, &p);
    mv = MutableView{p, adt, shape, {}};
  };
  if (typed && h.view.shape.ndim() == 2 && w.view.shape.ndim() == 2) {
    if (o.reduction == Reduction::kNone) {
      alloc(Shape{h.view.shape[0]}, dt, out_obj, out.out);
    }
    if (return_grad) {
      alloc(h.view.shape, gdt, gh_obj, out.grad_hidden);
      alloc(w.view.shape, gdt, gw_obj, out.grad_weight);
      if (b.view.present())
        alloc(Shape{w.view.shape[0]}, gdt, gb_obj, out.grad_bias);
    }
  }
  double value;
  {
    nb::gil_scoped_release release;
    value = linear_cross_entropy(h.view, w.view, t.view, o, out);
  }
  nb::object loss =
      o.reduction == Reduction::kNone ? out_obj : nb::float_(value);
  if (!return_grad) return loss;
  nb::object grads = b.view.present() ? nb::make_tuple(gh_obj, gw_obj, gb_obj)
                                      : nb::make_tuple(gh_obj, gw_obj);
  return nb::make_tuple(loss, grads);
}

}  // namespace

void bind_linear_cross_entropy(nb::module_& m) {
  m.def("linear_cross_entropy", &run, nb::arg("hidden").none(),
        nb::arg("weight").none(), nb::arg("target").none(), nb::kw_only(),
        nb::arg("bias") = nb::none(), nb::arg("weight_per_class") = nb::none(),
        nb::arg("ignore_index") = -100, nb::arg("label_smoothing") = 0.0,
        nb::arg("z_loss") = 0.0, nb::arg("logit_softcap") = nb::none(),
        nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
        nb::arg("grad_output") = nb::none(), nb::arg("chunk_tokens") = 0,
        nb::arg("grad_dtype") = "input", kDoc);
}

LOSSLAB_PY_REGISTER(linear_cross_entropy, bind_linear_cross_entropy);

}  // namespace losslab::python
