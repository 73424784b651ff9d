// losslab/metrics_classification.h: classification metrics. Each matches the
// scikit-learn function named beside it (sklearn.metrics 1.9), computed in
// double precision; where losslab differs, the comment and
// docs/metrics.md say so. Argument order is losslab's (prediction first,
// target second); sklearn's is (y_true, y_pred).
//
// Labels are class indices >= 0 of shape (n_samples,): int64, int32, any
// other integer dtype, bool, or float arrays holding only 0.0 / 1.0. A label
// out of range, NaN scores, a shape mismatch or an empty input is a
// losslab::Error (ValueError in Python) naming the function and argument.
//
//   std::vector<int64_t> pred = ..., target = ...;
//   double f1 = losslab::f1_score(
//       losslab::view<int64_t>(pred.data(), {n}),
//       losslab::view<int64_t>(target.data(), {n}),
//       {.average = losslab::Average::kMacro});
#ifndef LOSSLAB_METRICS_CLASSIFICATION_H_
#define LOSSLAB_METRICS_CLASSIFICATION_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "losslab/core/view.h"

namespace losslab {

// Every metric below takes an optional sample_weight of shape (n_samples,),
// finite and >= 0, where sklearn's function has one.
struct LabelMetricOptions {
  View sample_weight = {};
};

// Share of samples with pred == target (weighted: sum of the weights of the
// correct samples over the sum of all weights). sklearn accuracy_score.
double accuracy(View pred, View target, const LabelMetricOptions& o = {});

// Confusion matrix, rows = true class, columns = predicted class (sklearn's
// layout): values[i * num_classes + j] = (weighted) count of samples with
// target i and prediction j.
struct ConfusionMatrixOptions {
  // Number of classes C; labels must lie in [0, C). 0: max label + 1 over
  // pred and target (sklearn instead keeps only the labels that occur; the
  // two agree when every class in 0..max occurs).
  int64_t num_classes = 0;
  View sample_weight = {};
};
struct ConfusionMatrix {
  int64_t num_classes = 0;
  // Row-major (C, C). Whole counts without sample_weight.
  std::vector<double> values;
  bool weighted = false;
  double at(int64_t true_class, int64_t pred_class) const {
    return values[size_t(true_class * num_classes + pred_class)];
  }
};
ConfusionMatrix confusion_matrix(View pred, View target,
                                 const ConfusionMatrixOptions& o = {});

// How precision / recall / F1 combine the per-class scores (sklearn's
// `average`).
enum class Average : uint8_t {
  kBinary,    // the score of class pos_label; labels must take <= 2 values
  kMacro,     // unweighted mean over the classes
  kMicro,     // from the total tp, fp, fn over the classes
  kWeighted,  // mean weighted by each class's (weighted) true count
};
std::string_view average_name(Average a) noexcept;
// "binary" | "macro" | "micro" | "weighted"; Error naming `function` else.
Average parse_average(std::string_view s, std::string_view function);

struct PrecisionRecallOptions {
  Average average = Average::kBinary;
  int64_t pos_label = 1;  // average=kBinary only
  // 0: the classes are the labels that occur in pred or target (sklearn's
  // default); C > 0: the classes are 0..C-1 (sklearn's labels=range(C)),
  // and a label >= C is an error.
  int64_t num_classes = 0;
  // Value of a score whose denominator is 0 (no predicted samples for
  // precision, no true samples for recall, neither for F1): 0.0 (default,
  // sklearn's "warn" without the warning), 1.0, or NaN (sklearn's np.nan:
  // such classes are left out of the macro/weighted mean).
  double zero_division = 0.0;
  View sample_weight = {};
};
// tp / (tp + fp). sklearn precision_score.
double precision(View pred, View target, const PrecisionRecallOptions& o = {});
// tp / (tp + fn). sklearn recall_score.
double recall(View pred, View target, const PrecisionRecallOptions& o = {});
// 2 tp / (2 tp + fp + fn) per class (the harmonic mean of precision and
// recall, defined where either is). sklearn f1_score.
double f1_score(View pred, View target, const PrecisionRecallOptions& o = {});

// Binary ranking metrics: scores (n,) float32/float64, higher = more
// positive (probabilities, logits or any decision values; +-inf allowed, NaN
// is an error); target (n,) labels in {0, 1}.
struct RankingMetricOptions {
  View sample_weight = {};
};
// Area under the ROC curve: the trapezoid over the (weighted) ROC curve with
// one point per distinct score, which for unit weights is the Mann-Whitney
// statistic with tied scores counting 1/2. sklearn roc_auc_score (binary).
// A target with only one class (or one class of total weight 0) is an error
// (sklearn 1.9 warns and returns NaN).
double roc_auc(View scores, View target, const RankingMetricOptions& o = {});
// Average precision, sklearn's step-function definition
//   AP = sum_k (R_k - R_{k-1}) P_k
// over the distinct scores in decreasing order (no interpolation).
// sklearn average_precision_score. No positive samples: 0.0 (as sklearn).
double average_precision(View scores, View target,
                         const RankingMetricOptions& o = {});

// Cross-entropy of probabilities, sklearn log_loss (1.9):
//   mean_i -sum_k [target_i == k] log(clip(p_ik, eps, 1 - eps)).
// probs (n,) = P(class 1) for target in {0, 1}, or (n, C) rows for target in
// [0, C). Probabilities must lie in [0, 1]; rows need not sum to 1 (sklearn
// warns and does not renormalize; losslab neither warns nor renormalizes).
struct LogLossOptions {
  // Clip bound; <= 0 (default): the machine epsilon of the probs dtype
  // (2^-23 for float32, 2^-52 for float64), as sklearn 1.9 does.
  double eps = 0.0;
  View sample_weight = {};
};
double log_loss(View probs, View target, const LogLossOptions& o = {});

// Expected calibration error (Guo et al. 2017, "On Calibration of Modern
// Neural Networks", eq. 3): confidence c_i = max_k p_ik and prediction
// argmax_k p_ik (first maximum; for (n,) binary probs p: c = max(p, 1 - p)
// and the prediction is 1 iff p > 0.5). Bins are (e_b, e_{b+1}] with
// e_b = b / n_bins (numpy.linspace edges; a confidence of 0 goes to the first
// bin), and
//   ECE = sum_b (|B_b| / n) |accuracy(B_b) - mean confidence(B_b)|.
// No sklearn equivalent.
struct CalibrationOptions {
  int64_t n_bins = 15;
};
double expected_calibration_error(View probs, View target,
                                  const CalibrationOptions& o = {});

// exp(mean token cross-entropy in nats). The mean must be finite and >= 0
// (an overflow past ~709 nats gives +inf).
double perplexity(double mean_cross_entropy);
// exp of the mean of per-token cross-entropy losses (any shape, >= 0) over
// the tokens where mask != 0 (mask: bool, integer or float, the losses'
// shape; absent: every token). A mask that selects no token is an error.
struct PerplexityOptions {
  View mask = {};
};
double perplexity(View token_losses, const PerplexityOptions& o = {});

}  // namespace losslab

#endif  // LOSSLAB_METRICS_CLASSIFICATION_H_
