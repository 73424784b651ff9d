// Python bindings of the classification metrics
// (losslab/metrics_classification.h). No math lives here.
#include "losslab/metrics_classification.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <string>

#include "arrays.h"
#include "losslab/core/error.h"
#include "registry.h"

namespace losslab::python {

namespace {

// None -> 0 (infer); otherwise >= 1.
int64_t num_classes_arg(std::string_view fn, std::optional<int64_t> c) {
  if (!c) return 0;
  if (*c < 1) {
    throw_value_error(std::string(fn) +
                      ": num_classes must be >= 1 or None; "
                      "got " +
                      std::to_string(*c));
  }
  return *c;
}

// sklearn's zero_division: "warn" (0.0 without the warning), 0.0, 1.0 or
// nan.
double zero_division_arg(std::string_view fn, nb::handle z) {
  if (nb::isinstance<nb::str>(z)) {
    if (nb::cast<std::string>(z) == "warn") return 0.0;
  } else if (PyFloat_Check(z.ptr()) || PyLong_Check(z.ptr())) {
    return nb::cast<double>(z);
  }
  throw_value_error(std::string(fn) +
                    ": zero_division must be \"warn\", "
                    "0.0, 1.0 or nan; got " +
                    nb::cast<std::string>(nb::repr(z)));
}

Input required(std::string_view fn, std::string_view arg, nb::handle h) {
  Input in = to_input(fn, arg, h);
  if (!in.view.present()) {
    throw_type_error(std::string(fn) + ": " + std::string(arg) +
                     " must be an array, not None");
  }
  return in;
}

using PrfFn = double (*)(View, View, const PrecisionRecallOptions&);

void def_prf(nb::module_& m, const char* name, PrfFn f, const char* doc) {
  m.def(
      name,
      [name, f](nb::handle pred, nb::handle target, const std::string& average,
                int64_t pos_label, std::optional<int64_t> num_classes,
                nb::handle zero_division, nb::handle sample_weight) {
        const Input p = required(name, "pred", pred);
        const Input t = required(name, "target", target);
        const Input w = to_input(name, "sample_weight", sample_weight);
        const PrecisionRecallOptions o{
            .average = parse_average(average, name),
            .pos_label = pos_label,
            .num_classes = num_classes_arg(name, num_classes),
            .zero_division = zero_division_arg(name, zero_division),
            .sample_weight = w.view};
        nb::gil_scoped_release release;
        return f(p.view, t.view, o);
      },
      nb::arg("pred").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("average") = "binary", nb::arg("pos_label") = 1,
      nb::arg("num_classes") = nb::none(), nb::arg("zero_division") = "warn",
      nb::arg("sample_weight") = nb::none(), doc);
}

constexpr const char* kPrfArgs = R"(

Arguments:
    pred, target: (n_samples,) class labels >= 0 (int64, int32, other
        integers, bool, or 0/1 floats). Note the order: sklearn's is
        (y_true, y_pred).
    average: "binary" (default: the score of class pos_label; labels must
        take at most 2 values), "macro" (unweighted mean over classes),
        "micro" (from the total tp, fp, fn) or "weighted" (mean weighted by
        each class's true count).
    pos_label: the positive class for average="binary".
    num_classes: None (the classes are the labels that occur in pred or
        target, as sklearn) or C (the classes are 0..C-1, sklearn's
        labels=range(C); a label >= C is a ValueError).
    zero_division: value of an undefined score (zero denominator): "warn"
        (default; 0.0 as sklearn, without the warning), 0.0, 1.0 or nan (nan
        scores are left out of the macro / weighted mean, as sklearn).
    sample_weight: optional (n_samples,) weights >= 0.

Returns:
    float.)";

std::string doc(const char* head, const char* tail) {
  return std::string(head) + tail;
}

}  // namespace

void bind_metrics_classification(nb::module_& m) {
  m.def(
      "accuracy",
      [](nb::handle pred, nb::handle target, nb::handle sample_weight) {
        const Input p = required("accuracy", "pred", pred);
        const Input t = required("accuracy", "target", target);
        const Input w = to_input("accuracy", "sample_weight", sample_weight);
        nb::gil_scoped_release release;
        return accuracy(p.view, t.view, {.sample_weight = w.view});
      },
      nb::arg("pred").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("sample_weight") = nb::none(),
      R"(Share of samples with pred == target (sklearn accuracy_score).

Arguments:
    pred, target: (n_samples,) class labels >= 0 (int64, int32, other
        integers, bool, or 0/1 floats).
    sample_weight: optional (n_samples,) weights >= 0.

Returns:
    float.)");

  static const std::string precision_doc =
      doc("Precision tp / (tp + fp) (sklearn precision_score).", kPrfArgs);
  static const std::string recall_doc =
      doc("Recall tp / (tp + fn) (sklearn recall_score).", kPrfArgs);
  static const std::string f1_doc = doc(
      "F1 = 2 tp / (2 tp + fp + fn) per class (sklearn f1_score).", kPrfArgs);
  def_prf(m, "precision", &precision, precision_doc.c_str());
  def_prf(m, "recall", &recall, recall_doc.c_str());
  def_prf(m, "f1_score", &f1_score, f1_doc.c_str());

  m.def(
      "confusion_matrix",
      [](nb::handle pred, nb::handle target, std::optional<int64_t> num_classes,
         nb::handle sample_weight) {
        constexpr std::string_view fn = "confusion_matrix";
        const Input p = required(fn, "pred", pred);
        const Input t = required(fn, "target", target);
        const Input w = to_input(fn, "sample_weight", sample_weight);
        const ConfusionMatrixOptions o{
            .num_classes = num_classes_arg(fn, num_classes),
            .sample_weight = w.view};
        ConfusionMatrix cm;
        {
          nb::gil_scoped_release release;
          cm = confusion_matrix(p.view, t.view, o);
        }
        const Shape shape{cm.num_classes, cm.num_classes};
        void* data;
        if (cm.weighted) {
          nb::object a = new_array(shape, DType::kFloat64, &data);
          std::memcpy(data, cm.values.data(),
                      cm.values.size() * sizeof(double));
          return a;
        }
        nb::object a = new_array(shape, DType::kInt64, &data);
        int64_t* out = static_cast<int64_t*>(data);
        for (size_t i = 0; i < cm.values.size(); ++i) {
          out[i] = int64_t(cm.values[i]);
        }
        return a;
      },
      nb::arg("pred").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("num_classes") = nb::none(),
      nb::arg("sample_weight") = nb::none(),
      R"(Confusion matrix, rows = true class, columns = predicted class
(sklearn confusion_matrix).

Arguments:
    pred, target: (n_samples,) class labels >= 0.
    num_classes: C (labels must lie in [0, C)); None: max label + 1 (sklearn
        keeps only the labels that occur; the two agree when every class
        0..max occurs).
    sample_weight: optional (n_samples,) weights >= 0.

Returns:
    (C, C) int64 array of counts; float64 (weighted counts) with
    sample_weight.)");

  m.def(
      "roc_auc",
      [](nb::handle scores, nb::handle target, nb::handle sample_weight) {
        const Input s = required("roc_auc", "scores", scores);
        const Input t = required("roc_auc", "target", target);
        const Input w = to_input("roc_auc", "sample_weight", sample_weight);
        nb::gil_scoped_release release;
        return roc_auc(s.view, t.view, {.sample_weight = w.view});
      },
      nb::arg("scores").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("sample_weight") = nb::none(),
      R"(Area under the ROC curve, binary (sklearn roc_auc_score).

Tied scores count 1/2 (the trapezoid over the ROC curve; Mann-Whitney with
average ranks).

Arguments:
    scores: (n_samples,) float32/float64, higher = more positive
        (probabilities, logits or decision values; NaN is a ValueError).
    target: (n_samples,) labels 0/1 (int, bool or 0/1 floats).
    sample_weight: optional (n_samples,) weights >= 0.

Returns:
    float. A target with a single class is a ValueError (sklearn returns nan
    with a warning).)");

  m.def(
      "average_precision",
      [](nb::handle scores, nb::handle target, nb::handle sample_weight) {
        constexpr std::string_view fn = "average_precision";
        const Input s = required(fn, "scores", scores);
        const Input t = required(fn, "target", target);
        const Input w = to_input(fn, "sample_weight", sample_weight);
        nb::gil_scoped_release release;
        return average_precision(s.view, t.view, {.sample_weight = w.view});
      },
      nb::arg("scores").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("sample_weight") = nb::none(),
      R"(Average precision AP = sum_k (R_k - R_{k-1}) P_k over the distinct
scores in decreasing order: sklearn average_precision_score (the step
function, not the interpolated area).

Arguments:
    scores: (n_samples,) float32/float64, higher = more positive.
    target: (n_samples,) labels 0/1.
    sample_weight: optional (n_samples,) weights >= 0.

Returns:
    float (0.0 when target has no positive, as sklearn).)");

  m.def(
      "log_loss",
      [](nb::handle probs, nb::handle target, std::optional<double> eps,
         nb::handle sample_weight) {
        const Input p = required("log_loss", "probs", probs);
        const Input t = required("log_loss", "target", target);
        const Input w = to_input("log_loss", "sample_weight", sample_weight);
        if (eps && !(*eps > 0.0)) {
          throw_value_error("log_loss: eps must be in (0, 0.5) or None; got " +
                            std::to_string(*eps));
        }
        nb::gil_scoped_release release;
        return log_loss(p.view, t.view,
                        {.eps = eps.value_or(0.0), .sample_weight = w.view});
      },
      nb::arg("probs").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("eps") = nb::none(), nb::arg("sample_weight") = nb::none(),
      R"(Cross-entropy of predicted probabilities (sklearn log_loss, 1.9).

mean_i -log(clip(p_i[target_i], eps, 1 - eps)).

Arguments:
    probs: (n_samples,) probabilities of class 1 (target in {0, 1}) or
        (n_samples, C) rows (target in [0, C)); values in [0, 1]. Rows are
        not renormalized (sklearn 1.9 warns when they do not sum to 1;
        losslab does not warn).
    target: (n_samples,) class labels.
    eps: clip bound; None (default): the machine epsilon of probs' dtype,
        as sklearn 1.9 (which no longer takes eps).
    sample_weight: optional (n_samples,) weights >= 0.

Returns:
    float.)");

  m.def(
      "expected_calibration_error",
      [](nb::handle probs, nb::handle target, int64_t n_bins) {
        constexpr std::string_view fn = "expected_calibration_error";
        const Input p = required(fn, "probs", probs);
        const Input t = required(fn, "target", target);
        nb::gil_scoped_release release;
        return expected_calibration_error(p.view, t.view, {.n_bins = n_bins});
      },
      nb::arg("probs").none(), nb::arg("target").none(), nb::kw_only(),
      nb::arg("n_bins") = 15,
      R"(Expected calibration error (Guo et al. 2017), equal-width bins.

ECE = sum_b (|B_b| / n) |accuracy(B_b) - mean confidence(B_b)| with the
confidence max_k p_k, the prediction argmax_k p_k (first maximum) and bins
(b / n_bins, (b + 1) / n_bins] (a confidence of 0 joins the first bin).

Arguments:
    probs: (n_samples, C) probabilities, or (n_samples,) P(class 1), for
        which the confidence is max(p, 1 - p) and the prediction is 1 iff
        p > 0.5.
    target: (n_samples,) class labels.
    n_bins: number of bins (default 15).

Returns:
    float in [0, 1].)");

  m.def(
      "perplexity",
      [](nb::handle x, nb::handle mask) -> double {
        constexpr std::string_view fn = "perplexity";
        if (PyFloat_Check(x.ptr()) || PyLong_Check(x.ptr())) {
          if (!mask.is_none()) {
            throw_value_error(
                "perplexity: mask needs per-token losses; got "
                "a scalar mean cross-entropy");
          }
          return perplexity(nb::cast<double>(x));
        }
        const Input l = required(fn, "token_losses", x);
        const Input mk = to_input(fn, "mask", mask);
        if (l.view.shape.ndim() == 0 && !mk.view.present()) {
          return perplexity(nb::cast<double>(nb::float_(x)));
        }
        nb::gil_scoped_release release;
        return perplexity(l.view, {.mask = mk.view});
      },
      nb::arg("x").none(), nb::kw_only(), nb::arg("mask") = nb::none(),
      R"(Perplexity exp(mean token cross-entropy, in nats).

Arguments:
    x: the mean cross-entropy (a number or 0-d array, >= 0), or an array of
        per-token cross-entropies (any shape, >= 0), e.g.
        cross_entropy(..., reduction="none").
    mask: optional, the shape of the per-token losses: tokens where mask is
        nonzero (True) count (e.g. non-padding). A mask selecting no token is
        a ValueError.

Returns:
    float: exp(x), or exp(mean of the selected per-token losses).)");
}

LOSSLAB_PY_REGISTER(metrics_classification, bind_metrics_classification);

}  // namespace losslab::python
