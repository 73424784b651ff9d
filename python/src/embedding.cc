// Python bindings of the embedding losses (losslab/losses/embedding.h).
// Several differentiable inputs: return_grad gives (loss, (grad_a, grad_b,
// ...)) in argument order; the batch losses give (loss, grad). Targets and
// labels are validated by the C++ op layer. No math lives here.
#include "losslab/losses/embedding.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <functional>
#include <string>
#include <vector>

#include "arrays.h"
#include "losslab/core/error.h"
#include "registry.h"

namespace losslab::python {

namespace {

// What a binding's C++ call receives: the differentiable inputs, the target
// or labels, the optional per-sample weight, the reduction, the per-sample
// output, one gradient view per input, and the upstream gradient.
struct EmbCall {
  std::vector<View> xs;
  View target, weight;
  Reduction reduction;
  MutableView out;
  std::vector<MutableView> grads;
  double grad_output = 1.0;
  View grad_output_elementwise;
};
using EmbFn = std::function<double(const EmbCall&)>;

// The input's shape without its last (embedding) dimension.
Shape sample_shape(const Shape& s) {
  Shape o;
  for (int k = 0; k + 1 < s.ndim(); ++k) o.push_back(s[k]);
  return o;
}

nb::object call_embedding(std::string_view fn,
                          const std::vector<const char*>& names,
                          const std::vector<nb::handle>& inputs,
                          const char* target_name, nb::handle target,
                          nb::handle weight, const std::string& reduction,
                          bool return_grad, nb::handle grad_output,
                          bool tuple_grads, const EmbFn& loss) {
  std::vector<Input> xs;
  EmbCall call;
  for (size_t i = 0; i < inputs.size(); ++i) {
    xs.push_back(to_input(fn, names[i], inputs[i]));
    if (!xs.back().view.present()) {
      throw_type_error(std::string(fn) + ": " + names[i] +
                       " must be an array, not None");
    }
    call.xs.push_back(xs.back().view);
  }
  // target_name == nullptr: the loss has no target (triplet_margin_loss).
  const Input t = target_name ? to_input(fn, target_name, target) : Input{};
  if (target_name && !t.view.present()) {
    throw_type_error(std::string(fn) + ": " + target_name +
                     " must be an array, not None");
  }
  const Input w = to_input(fn, "weight", weight);
  call.target = t.view;
  call.weight = w.view;
  call.reduction = parse_reduction(reduction, fn);
  const Input go =
      to_grad_output(fn, "grad_output", grad_output, &call.grad_output,
                     &call.grad_output_elementwise);
  const View& x0 = call.xs[0];
  const DType dt = x0.dtype;
  const bool typed =
      (dt == DType::kFloat32 || dt == DType::kFloat64) && x0.shape.ndim() >= 1;
  nb::object out_obj;
  if (call.reduction == Reduction::kNone && typed) {
    void* p;
    const Shape s = sample_shape(x0.shape);
    out_obj = new_array(s, dt, &p);
    call.out = MutableView{p, dt, s, {}};
  }
  std::vector<nb::object> grad_objs;
  if (return_grad && typed) {
    for (const View& x : call.xs) {
      void* p;
      grad_objs.push_back(new_array(x.shape, dt, &p));
      call.grads.push_back(MutableView{p, dt, x.shape, {}});
    }
  } else {
    call.grads.resize(call.xs.size());
  }
  double value;
  {
    nb::gil_scoped_release release;
    value = loss(call);
  }
  nb::object loss_obj =
      call.reduction == Reduction::kNone ? out_obj : nb::float_(value);
  if (!return_grad) return loss_obj;
  if (!tuple_grads) return nb::make_tuple(loss_obj, grad_objs[0]);
  nb::list gl;
  for (auto& g : grad_objs) gl.append(g);
  return nb::make_tuple(loss_obj, nb::tuple(gl));
}

constexpr const char* kPairDoc = R"(
Arguments:
    weight: optional per-sample weights (>= 0) of the per-sample shape; a
        weighted mean divides by their sum (0 with a zero gradient when the
        sum is 0).
    reduction: "mean" (default), "sum" or "none" (one loss per sample).
    return_grad: also return the gradients w.r.t. every embedding input.
    grad_output: upstream gradient: a number for "mean"/"sum", or an array of
        the per-sample shape for "none".

Arrays: NumPy arrays or CPU tensors (DLPack), float32 or float64; the
embedding dimension is the last one. losslab never broadcasts.

Returns:
    loss (a float, or an array for "none"); with return_grad
    (loss, (grad_1, grad_2, ...)), one gradient per embedding input in
    argument order.)";

constexpr const char* kBatchDoc = R"(
Arguments:
    embeddings: (N, D) float32 or float64 (NumPy array or CPU tensor).
    labels: (N,) integer labels (int64 or int32).
    reduction: "mean" (default), "sum" or "none" (one value per anchor).
    return_grad: also return the gradient w.r.t. embeddings, shape (N, D).
    grad_output: upstream gradient: a number for "mean"/"sum", or an (N,)
        array for "none".

Returns:
    loss (a float, or an (N,) array for "none"); with return_grad
    (loss, grad).)";

std::string doc(const char* head, const char* tail) {
  return std::string(head) + tail;
}

}  // namespace

void bind_embedding(nb::module_& m) {
  m.def(
      "triplet_margin_loss",
      [](nb::handle anchor, nb::handle positive, nb::handle negative,
         double margin, double p, double eps, bool swap, nb::handle weight,
         const std::string& reduction, bool return_grad,
         nb::handle grad_output) {
        constexpr std::string_view fn = "triplet_margin_loss";
        return call_embedding(
            fn, {"anchor", "positive", "negative"},
            {anchor, positive, negative}, nullptr, nb::none(), weight,
            reduction, return_grad, grad_output, true, [&](const EmbCall& c) {
              return triplet_margin_loss(
                  c.xs[0], c.xs[1], c.xs[2],
                  {.margin = margin,
                   .p = p,
                   .eps = eps,
                   .swap = swap,
                   .weight = c.weight,
                   .reduction = c.reduction},
                  {.out = c.out,
                   .grad_anchor = c.grads[0],
                   .grad_positive = c.grads[1],
                   .grad_negative = c.grads[2],
                   .grad_output = c.grad_output,
                   .grad_output_elementwise = c.grad_output_elementwise});
            });
      },
      nb::arg("anchor"), nb::arg("positive"), nb::arg("negative"),
      nb::kw_only(), nb::arg("margin") = 1.0, nb::arg("p") = 2.0,
      nb::arg("eps") = 1e-6, nb::arg("swap") = false,
      nb::arg("weight") = nb::none(), nb::arg("reduction") = "mean",
      nb::arg("return_grad") = false, nb::arg("grad_output") = nb::none(),
      doc("Triplet margin loss, PyTorch semantics: max(margin + d(a, p) - "
          "d(a, n), 0) with d(u, v) = ||u - v + eps||_p over the last "
          "dimension (as torch.pairwise_distance); swap=True uses "
          "min(d(a, n), d(p, n)). p finite and > 0, margin >= 0.\n\n"
          "return_grad=True returns (loss, (grad_anchor, grad_positive, "
          "grad_negative)).\n\nMatches "
          "torch.nn.functional.triplet_margin_loss.\n",
          kPairDoc)
          .c_str());

  m.def(
      "contrastive_loss",
      [](nb::handle x1, nb::handle x2, nb::handle target, double margin,
         nb::handle weight, const std::string& reduction, bool return_grad,
         nb::handle grad_output) {
        return call_embedding(
            "contrastive_loss", {"x1", "x2"}, {x1, x2}, "target", target,
            weight, reduction, return_grad, grad_output, true,
            [&](const EmbCall& c) {
              return contrastive_loss(
                  c.xs[0], c.xs[1], c.target,
                  {.margin = margin,
                   .weight = c.weight,
                   .reduction = c.reduction},
                  {.out = c.out,
                   .grad_x1 = c.grads[0],
                   .grad_x2 = c.grads[1],
                   .grad_output = c.grad_output,
                   .grad_output_elementwise = c.grad_output_elementwise});
            });
      },
      nb::arg("x1"), nb::arg("x2"), nb::arg("target"), nb::kw_only(),
      nb::arg("margin") = 1.0, nb::arg("weight") = nb::none(),
      nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
      nb::arg("grad_output") = nb::none(),
      doc("Contrastive loss (Hadsell, Chopra & LeCun 2006): 0.5 [y d^2 + "
          "(1 - y) max(0, margin - d)^2] with d = ||x1 - x2||_2 and target y "
          "in {0, 1} (1 = similar pair; int, bool or float). At d = 0 the "
          "dissimilar term's subgradient is 0.\n\nreturn_grad=True returns "
          "(loss, (grad_x1, grad_x2)).\n",
          kPairDoc)
          .c_str());

  m.def(
      "cosine_embedding_loss",
      [](nb::handle x1, nb::handle x2, nb::handle target, double margin,
         nb::handle weight, const std::string& reduction, bool return_grad,
         nb::handle grad_output) {
        return call_embedding(
            "cosine_embedding_loss", {"x1", "x2"}, {x1, x2}, "target", target,
            weight, reduction, return_grad, grad_output, true,
            [&](const EmbCall& c) {
              return cosine_embedding_loss(
                  c.xs[0], c.xs[1], c.target,
                  {.margin = margin,
                   .weight = c.weight,
                   .reduction = c.reduction},
                  {.out = c.out,
                   .grad_x1 = c.grads[0],
                   .grad_x2 = c.grads[1],
                   .grad_output = c.grad_output,
                   .grad_output_elementwise = c.grad_output_elementwise});
            });
      },
      nb::arg("x1"), nb::arg("x2"), nb::arg("target"), nb::kw_only(),
      nb::arg("margin") = 0.0, nb::arg("weight") = nb::none(),
      nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
      nb::arg("grad_output") = nb::none(),
      doc("Cosine embedding loss, PyTorch semantics: 1 - cos for y = 1, "
          "max(0, cos - margin) for y = -1, with cos = x1.x2 / sqrt((|x1|^2 "
          "+ 1e-12)(|x2|^2 + 1e-12)). Inputs (N, D) with target (N,), or (D,) "
          "with target (); target in {1, -1}; margin in [-1, 1].\n\n"
          "return_grad=True returns (loss, (grad_x1, grad_x2)).\n\nMatches "
          "torch.nn.functional.cosine_embedding_loss.\n",
          kPairDoc)
          .c_str());

  m.def(
      "batch_hard_triplet_loss",
      [](nb::handle embeddings, nb::handle labels, double margin,
         const std::string& reduction, bool return_grad,
         nb::handle grad_output) {
        return call_embedding(
            "batch_hard_triplet_loss", {"embeddings"}, {embeddings}, "labels",
            labels, nb::none(), reduction, return_grad, grad_output, false,
            [&](const EmbCall& c) {
              return batch_hard_triplet_loss(
                  c.xs[0], c.target,
                  {.margin = margin, .reduction = c.reduction},
                  {.out = c.out,
                   .grad_out = c.grads[0],
                   .grad_output = c.grad_output,
                   .grad_output_elementwise = c.grad_output_elementwise});
            });
      },
      nb::arg("embeddings"), nb::arg("labels"), nb::kw_only(),
      nb::arg("margin") = 1.0, nb::arg("reduction") = "mean",
      nb::arg("return_grad") = false, nb::arg("grad_output") = nb::none(),
      doc("Batch-hard triplet loss (Hermans, Beyer & Leibe 2017): for each "
          "anchor the farthest positive and the nearest negative in the "
          "batch, max(margin + d_ap - d_an, 0) with Euclidean d. The mean is "
          "over anchors that have a positive and a negative (0 with a zero "
          "gradient when none has); 'none' gives 0 for the others.\n",
          kBatchDoc)
          .c_str());

  m.def(
      "batch_all_triplet_loss",
      [](nb::handle embeddings, nb::handle labels, double margin,
         const std::string& reduction, bool return_grad,
         nb::handle grad_output) {
        return call_embedding(
            "batch_all_triplet_loss", {"embeddings"}, {embeddings}, "labels",
            labels, nb::none(), reduction, return_grad, grad_output, false,
            [&](const EmbCall& c) {
              return batch_all_triplet_loss(
                  c.xs[0], c.target,
                  {.margin = margin, .reduction = c.reduction},
                  {.out = c.out,
                   .grad_out = c.grads[0],
                   .grad_output = c.grad_output,
                   .grad_output_elementwise = c.grad_output_elementwise});
            });
      },
      nb::arg("embeddings"), nb::arg("labels"), nb::kw_only(),
      nb::arg("margin") = 1.0, nb::arg("reduction") = "mean",
      nb::arg("return_grad") = false, nb::arg("grad_output") = nb::none(),
      doc("Batch-all triplet loss (Hermans, Beyer & Leibe 2017): every "
          "triplet (a, p, n) of the batch, max(margin + d_ap - d_an, 0) with "
          "Euclidean d. 'mean' divides the sum by the number of triplets with "
          "a loss > 0 (0 with a zero gradient when there is none); 'sum' sums "
          "every triplet; 'none' gives per-anchor sums.\n",
          kBatchDoc)
          .c_str());

  m.def(
      "nt_xent_loss",
      [](nb::handle embeddings, nb::handle labels, double temperature,
         double eps, const std::string& reduction, bool return_grad,
         nb::handle grad_output) {
        return call_embedding(
            "nt_xent_loss", {"embeddings"}, {embeddings}, "labels", labels,
            nb::none(), reduction, return_grad, grad_output, false,
            [&](const EmbCall& c) {
              return nt_xent_loss(
                  c.xs[0], c.target,
                  {.temperature = temperature,
                   .eps = eps,
                   .reduction = c.reduction},
                  {.out = c.out,
                   .grad_out = c.grads[0],
                   .grad_output = c.grad_output,
                   .grad_output_elementwise = c.grad_output_elementwise});
            });
      },
      nb::arg("embeddings"), nb::arg("labels"), nb::kw_only(),
      nb::arg("temperature") = 0.07, nb::arg("eps") = 1e-12,
      nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
      nb::arg("grad_output") = nb::none(),
      doc("NT-Xent / supervised contrastive loss (SimCLR, Chen et al. 2020; "
          "SupCon L_out, Khosla et al. 2020): z = x / max(||x||, eps), "
          "s_ik = z_i.z_k / temperature, l_i = logsumexp_{k != i} s_ik - "
          "mean_{p in P(i)} s_ip with positives P(i) = rows k != i with the "
          "same label (SimCLR when each row has exactly one). Anchors without "
          "a positive take no part; the mean is over the others.\n",
          kBatchDoc)
          .c_str());
}

LOSSLAB_PY_REGISTER(embedding, bind_embedding);

}  // namespace losslab::python
