// Python bindings of the segmentation losses and overlap metrics
// (losslab/losses/segmentation.h). No math lives here.
#include "losslab/losses/segmentation.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <functional>
#include <string>

#include "arrays.h"
#include "losslab/core/error.h"
#include "registry.h"

namespace losslab::python {
namespace {

// The shared options, as the Python keywords give them.
struct SegArgs {
  SegMode mode;
  bool from_logits;
  View class_weights;
  int64_t ignore_index;
  bool per_image;
  double smooth, eps;
  Reduction reduction;
};

using SegFn = std::function<double(const View& x, const View& t,
                                   const SegArgs& a, const LossOutputs& o)>;

// out (reduction "none") has shape (C,) or (N, C) with per_image; grad has
// the input's shape.
nb::object call_seg_loss(std::string_view fn, nb::handle input,
                         nb::handle target, const std::string& mode,
                         bool from_logits, nb::handle class_weights,
                         int64_t ignore_index, bool per_image, double smooth,
                         double eps, const std::string& reduction,
                         bool return_grad, nb::handle grad_output,
                         const SegFn& loss) {
  const Input x = to_input(fn, "input", input);
  const Input y = to_input(fn, "target", target);
  const Input w = to_input(fn, "class_weights", class_weights);
  if (!x.view.present() || !y.view.present()) {
    throw_type_error(std::string(fn) +
                     ": input and target must be arrays, not None");
  }
  SegArgs a{parse_seg_mode(mode, fn),
            from_logits,
            w.view,
            ignore_index,
            per_image,
            smooth,
            eps,
            parse_reduction(reduction, fn)};
  LossOutputs outs;
  const Input go =
      to_grad_output(fn, "grad_output", grad_output, &outs.grad_output,
                     &outs.grad_output_elementwise);
  const DType dt = x.view.dtype;
  const bool typed = (dt == DType::kFloat32 || dt == DType::kFloat64) &&
                     x.view.shape.ndim() >= 2;
  nb::object out_obj, grad_obj;
  if (a.reduction == Reduction::kNone && typed) {
    const Shape s = per_image ? Shape{x.view.shape[0], x.view.shape[1]}
                              : Shape{x.view.shape[1]};
    void* p;
    out_obj = new_array(s, dt, &p);
    outs.out = MutableView{p, dt, s, {}};
  }
  if (return_grad && typed) {
    void* p;
    grad_obj = new_array(x.view.shape, dt, &p);
    outs.grad_out = MutableView{p, dt, x.view.shape, {}};
  }
  double value;
  {
    nb::gil_scoped_release release;
    value = loss(x.view, y.view, a, outs);
  }
  nb::object loss_obj =
      a.reduction == Reduction::kNone ? out_obj : nb::float_(value);
  if (return_grad) return nb::make_tuple(loss_obj, grad_obj);
  return loss_obj;
}

constexpr const char* kSegDoc = R"(
Arguments:
    input: (N, C, d1, ...) float32/float64 logits (probabilities in [0, 1]
        with from_logits=False). NumPy arrays or CPU tensors (DLPack).
    target: a class-index map (N, d1, ...) of int64/int32, or a mask of the
        input's shape and dtype with values in [0, 1].
    mode: "binary" (C = 1, sigmoid), "multiclass" (softmax over C, default)
        or "multilabel" (sigmoid per channel; needs a mask target).
    from_logits: apply the sigmoid/softmax (default True).
    class_weights: optional (C,) weights >= 0 of the class losses.
    ignore_index: pixels whose index target equals it change neither the
        loss nor the gradient (default -100).
    per_image: score each (image, class) and average them; default: each
        class over the whole batch.
    smooth, eps: score = (numerator + smooth) / max(denominator + smooth, eps).
    reduction: "mean" (weighted mean over classes [and images]; 0 with a zero
        gradient if every weight is 0), "sum", or "none" (array (C,), or
        (N, C) with per_image, of weighted class losses).
    return_grad: also return the gradient w.r.t. input.
    grad_output: upstream gradient: a number, or an array of the "none"
        result's shape for reduction="none".

Returns:
    loss (a float, or an array for "none"); with return_grad (loss, grad).)";

std::string doc(const char* head) { return std::string(head) + kSegDoc; }

#define LOSSLAB_SEG_PARAMS                                                     \
  nb::handle input, nb::handle target, const std::string &mode,                \
      bool from_logits, nb::handle class_weights, int64_t ignore_index,        \
      bool per_image, double smooth, double eps, const std::string &reduction, \
      bool return_grad, nb::handle grad_output
#define LOSSLAB_SEG_VALUES                                                  \
  input, target, mode, from_logits, class_weights, ignore_index, per_image, \
      smooth, eps, reduction, return_grad, grad_output
#define LOSSLAB_SEG_ARGS_HEAD                                                \
  nb::arg("input"), nb::arg("target"), nb::kw_only(),                        \
      nb::arg("mode") = "multiclass", nb::arg("from_logits") = true,         \
      nb::arg("class_weights") = nb::none(), nb::arg("ignore_index") = -100, \
      nb::arg("per_image") = false, nb::arg("smooth") = 1.0,                 \
      nb::arg("eps") = 1e-7
#define LOSSLAB_SEG_ARGS_TAIL                                    \
  nb::arg("reduction") = "mean", nb::arg("return_grad") = false, \
  nb::arg("grad_output") = nb::none()

nb::object score(bool dice, nb::handle pred, nb::handle target,
                 int64_t num_classes, int64_t ignore_index, bool per_class) {
  const char* fn = dice ? "dice_score" : "iou_score";
  const Input p = to_input(fn, "pred", pred);
  const Input t = to_input(fn, "target", target);
  if (!p.view.present() || !t.view.present()) {
    throw_type_error(std::string(fn) +
                     ": pred and target must be arrays, not None");
  }
  const int64_t C = num_classes > 0 ? num_classes : 1;
  void* buf;
  nb::object arr = new_array(Shape{C}, DType::kFloat64, &buf);
  const MutableView pc{buf, DType::kFloat64, Shape{C}, {}};
  const OverlapScoreOptions o{num_classes, ignore_index};
  double mean;
  {
    nb::gil_scoped_release release;
    mean = dice ? dice_score(p.view, t.view, o, pc)
                : iou_score(p.view, t.view, o, pc);
  }
  if (per_class) return nb::make_tuple(nb::float_(mean), arr);
  return nb::float_(mean);
}

}  // namespace

void bind_segmentation(nb::module_& m) {
  m.def(
      "dice_loss",
      [](LOSSLAB_SEG_PARAMS) {
        return call_seg_loss("dice_loss", LOSSLAB_SEG_VALUES,
                             [](const View& x, const View& t, const SegArgs& a,
                                const LossOutputs& o) {
                               return dice_loss(
                                   x, t,
                                   {.mode = a.mode,
                                    .from_logits = a.from_logits,
                                    .class_weights = a.class_weights,
                                    .ignore_index = a.ignore_index,
                                    .per_image = a.per_image,
                                    .smooth = a.smooth,
                                    .eps = a.eps,
                                    .reduction = a.reduction},
                                   o);
                             });
      },
      LOSSLAB_SEG_ARGS_HEAD, LOSSLAB_SEG_ARGS_TAIL,
      doc("Soft Dice loss: per class 1 - (2 sum p t + smooth) / max(sum p + "
          "sum t + smooth, eps), averaged over classes (weighted by "
          "class_weights). Like segmentation_models_pytorch's DiceLoss, "
          "except that classes absent from the target are kept.\n")
          .c_str());

  m.def(
      "jaccard_loss",
      [](LOSSLAB_SEG_PARAMS) {
        return call_seg_loss("jaccard_loss", LOSSLAB_SEG_VALUES,
                             [](const View& x, const View& t, const SegArgs& a,
                                const LossOutputs& o) {
                               return jaccard_loss(
                                   x, t,
                                   {.mode = a.mode,
                                    .from_logits = a.from_logits,
                                    .class_weights = a.class_weights,
                                    .ignore_index = a.ignore_index,
                                    .per_image = a.per_image,
                                    .smooth = a.smooth,
                                    .eps = a.eps,
                                    .reduction = a.reduction},
                                   o);
                             });
      },
      LOSSLAB_SEG_ARGS_HEAD, LOSSLAB_SEG_ARGS_TAIL,
      doc("Soft Jaccard (IoU) loss: per class 1 - (sum p t + smooth) / "
          "max(sum p + sum t - sum p t + smooth, eps).\n")
          .c_str());

  m.def(
      "tversky_loss",
      [](LOSSLAB_SEG_PARAMS, double alpha, double beta, double gamma) {
        return call_seg_loss("tversky_loss", LOSSLAB_SEG_VALUES,
                             [&](const View& x, const View& t, const SegArgs& a,
                                 const LossOutputs& o) {
                               return tversky_loss(
                                   x, t,
                                   {.mode = a.mode,
                                    .from_logits = a.from_logits,
                                    .class_weights = a.class_weights,
                                    .ignore_index = a.ignore_index,
                                    .per_image = a.per_image,
                                    .alpha = alpha,
                                    .beta = beta,
                                    .gamma = gamma,
                                    .smooth = a.smooth,
                                    .eps = a.eps,
                                    .reduction = a.reduction},
                                   o);
                             });
      },
      LOSSLAB_SEG_ARGS_HEAD, LOSSLAB_SEG_ARGS_TAIL, nb::arg("alpha") = 0.5,
      nb::arg("beta") = 0.5, nb::arg("gamma") = 1.0,
      doc("Tversky loss (Salehi et al. 2017): per class TI = (sum p t + "
          "smooth) / max(sum p t + alpha FP + beta FN + smooth, eps) with "
          "FP = sum p (1 - t), FN = sum (1 - p) t; loss (1 - TI)^gamma per "
          "class (gamma != 1: focal Tversky, Abraham & Khan 2019, exponent "
          "as in the authors' code, e.g. gamma = 0.75), then averaged. "
          "alpha = beta = 0.5 is Dice with smooth doubled.\n")
          .c_str());

  m.def(
      "dice_cross_entropy_loss",
      [](nb::handle input, nb::handle target, const std::string& mode,
         nb::handle class_weights, int64_t ignore_index, bool per_image,
         double smooth, double eps, double dice_weight, double ce_weight,
         const std::string& reduction, bool return_grad,
         nb::handle grad_output) {
        return call_seg_loss("dice_cross_entropy_loss", input, target, mode,
                             true, class_weights, ignore_index, per_image,
                             smooth, eps, reduction, return_grad, grad_output,
                             [&](const View& x, const View& t, const SegArgs& a,
                                 const LossOutputs& o) {
                               return dice_cross_entropy_loss(
                                   x, t,
                                   {.mode = a.mode,
                                    .class_weights = a.class_weights,
                                    .ignore_index = a.ignore_index,
                                    .per_image = a.per_image,
                                    .smooth = a.smooth,
                                    .eps = a.eps,
                                    .dice_weight = dice_weight,
                                    .ce_weight = ce_weight,
                                    .reduction = a.reduction},
                                   o);
                             });
      },
      nb::arg("input"), nb::arg("target"), nb::kw_only(),
      nb::arg("mode") = "multiclass", nb::arg("class_weights") = nb::none(),
      nb::arg("ignore_index") = -100, nb::arg("per_image") = false,
      nb::arg("smooth") = 1.0, nb::arg("eps") = 1e-7,
      nb::arg("dice_weight") = 1.0, nb::arg("ce_weight") = 1.0,
      nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
      nb::arg("grad_output") = nb::none(),
      "dice_weight * dice_loss + ce_weight * cross-entropy on logits, "
      "gradients added. Multiclass: cross_entropy(input, target, "
      "weight=class_weights, ignore_index) with a class-index target; "
      "binary/multilabel: binary_cross_entropy_with_logits (ignored pixels "
      "weighted 0). reduction: 'mean' or 'sum' (applied to both terms). "
      "Returns loss, or (loss, grad) with return_grad.");

  m.def(
      "dice_score",
      [](nb::handle pred, nb::handle target, int64_t num_classes,
         int64_t ignore_index, bool per_class) {
        return score(true, pred, target, num_classes, ignore_index, per_class);
      },
      nb::arg("pred"), nb::arg("target"), nb::kw_only(),
      nb::arg("num_classes") = 0, nb::arg("ignore_index") = -100,
      nb::arg("per_class") = false,
      "Hard Dice score 2|A n B| / (|A| + |B|). pred and target: two masks "
      "of one shape (nonzero = foreground), or with num_classes > 0 two "
      "class-index maps (int64/int32; pixels whose target is ignore_index "
      "are skipped). A class empty in both scores 1.0. Returns the mean "
      "over classes, or (mean, per-class float64 array) with per_class.");
  m.def(
      "iou_score",
      [](nb::handle pred, nb::handle target, int64_t num_classes,
         int64_t ignore_index, bool per_class) {
        return score(false, pred, target, num_classes, ignore_index, per_class);
      },
      nb::arg("pred"), nb::arg("target"), nb::kw_only(),
      nb::arg("num_classes") = 0, nb::arg("ignore_index") = -100,
      nb::arg("per_class") = false,
      "Hard IoU (Jaccard) score |A n B| / |A u B|; same arguments and "
      "empty-class rule (1.0) as dice_score.");
}

LOSSLAB_PY_REGISTER(segmentation, bind_segmentation);

}  // namespace losslab::python
