// Classification metrics (losslab/metrics_classification.h). Plain double
// loops in a fixed order: metrics are not hot paths, run on one thread, and
// give the same bits for any thread count or SIMD target.
#include "losslab/metrics_classification.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "src/core/checks.h"
#include "src/metrics_classification_internal.h"

namespace losslab {
namespace {

using detail::arg_prefix;
using detail::index_str;
using detail::value_str;

// Largest confusion matrix side (C^2 doubles: 8 GiB at this size).
constexpr int64_t kMaxConfusionClasses = int64_t(1) << 15;

// pred and target: labels of the same (n,) shape.
struct Labels {
  std::vector<int64_t> pred, target;
  std::vector<double> w;
  int64_t n = 0;
};

void require_1d(std::string_view fn, std::string_view arg, const View& v) {
  if (v.shape.ndim() != 1) {
    throw_value_error(arg_prefix(fn, arg) + " has shape " + v.shape.str() +
                      "; expected (n_samples,)");
  }
}

Labels read_pair(std::string_view fn, const View& pred, const View& target,
                 const View& sample_weight) {
  Labels l;
  l.pred = detail::read_labels(fn, "pred", pred);
  l.target = detail::read_labels(fn, "target", target);
  require_1d(fn, "target", target);
  detail::require_same_shape(fn, "pred", pred.shape, "target", target.shape);
  l.n = target.shape[0];
  l.w = detail::read_sample_weight(fn, sample_weight, l.n);
  return l;
}

void require_below(std::string_view fn, std::string_view arg,
                   const std::vector<int64_t>& labels, int64_t c,
                   std::string_view why) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= c) {
      throw_value_error(arg_prefix(fn, arg) + " has the label " +
                        std::to_string(labels[i]) + " at index " +
                        std::to_string(i) + ", outside [0, " +
                        std::to_string(c) + ")" + std::string(why));
    }
  }
}

double sum(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s;
}

// ---------------------------------------------------------------------------
// Precision, recall, F1 (sklearn precision_recall_fscore_support).

enum class Score { kPrecision, kRecall, kF1 };

constexpr std::string_view score_name(Score s) {
  return s == Score::kPrecision ? "precision"
         : s == Score::kRecall  ? "recall"
                                : "f1_score";
}

// sklearn _nanaverage: NaN entries (zero_division=NaN) are left out; all NaN
// gives NaN; weights that sum to 0 fall back to the plain mean.
double nan_average(const std::vector<double>& v,
                   const std::vector<double>* weights) {
  double s = 0.0, sw = 0.0, plain = 0.0;
  int64_t count = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) continue;
    const double w = weights ? (*weights)[i] : 1.0;
    s += w * v[i];
    sw += w;
    plain += v[i];
    ++count;
  }
  if (count == 0) return NAN;
  if (sw == 0.0) return plain / double(count);
  return s / sw;
}

double prf(Score score, View pred, View target,
           const PrecisionRecallOptions& o) {
  const std::string_view fn = score_name(score);
  if (!(o.zero_division == 0.0 || o.zero_division == 1.0 ||
        std::isnan(o.zero_division))) {
    throw_value_error(std::string(fn) +
                      ": zero_division must be 0.0, 1.0 or "
                      "NaN; got " +
                      value_str(o.zero_division));
  }
  if (o.num_classes < 0) {
    throw_value_error(std::string(fn) +
                      ": num_classes must be > 0 (or 0 / "
                      "None to infer the classes); got " +
                      std::to_string(o.num_classes));
  }
  const Labels l = read_pair(fn, pred, target, o.sample_weight);
  if (o.num_classes > 0) {
    const std::string why =
        " for num_classes=" + std::to_string(o.num_classes) +
        "; raise num_classes or fix the labels";
    require_below(fn, "pred", l.pred, o.num_classes, why);
    require_below(fn, "target", l.target, o.num_classes, why);
  }
  // Labels that occur in pred or target, sorted.
  std::vector<int64_t> present(l.pred);
  present.insert(present.end(), l.target.begin(), l.target.end());
  std::sort(present.begin(), present.end());
  present.erase(std::unique(present.begin(), present.end()), present.end());

  std::vector<int64_t> classes;
  if (o.average == Average::kBinary) {
    if (present.size() > 2) {
      throw_value_error(std::string(fn) +
                        ": average='binary' needs binary labels, but pred "
                        "and target hold " +
                        std::to_string(present.size()) + " distinct labels (" +
                        std::to_string(present[0]) + ", " +
                        std::to_string(present[1]) + ", " +
                        std::to_string(present[2]) +
                        ", ...); pass average='macro', 'micro' or 'weighted'");
    }
    if (present.size() == 2 && present[0] != o.pos_label &&
        present[1] != o.pos_label) {
      throw_value_error(
          std::string(fn) + ": pos_label=" + std::to_string(o.pos_label) +
          " is not a label of pred or target; it should be one "
          "of " +
          std::to_string(present[0]) + ", " + std::to_string(present[1]));
    }
    classes = {o.pos_label};
  } else if (o.num_classes > 0) {
    classes.resize(size_t(o.num_classes));
    std::iota(classes.begin(), classes.end(), int64_t(0));
  } else {
    classes = present;
  }

  // Per-class (weighted) true positives, predicted and true counts.
  const size_t k = classes.size();
  std::vector<double> tp(k, 0.0), pred_sum(k, 0.0), true_sum(k, 0.0);
  auto slot = [&](int64_t label) -> int64_t {
    const auto it = std::lower_bound(classes.begin(), classes.end(), label);
    return (it != classes.end() && *it == label) ? int64_t(it - classes.begin())
                                                 : -1;
  };
  for (int64_t i = 0; i < l.n; ++i) {
    const double w = l.w[size_t(i)];
    const int64_t p = slot(l.pred[size_t(i)]);
    const int64_t t = slot(l.target[size_t(i)]);
    if (p >= 0) pred_sum[size_t(p)] += w;
    if (t >= 0) true_sum[size_t(t)] += w;
    if (p >= 0 && p == t) tp[size_t(p)] += w;
  }
  if (o.average == Average::kMicro) {
    tp = {sum(tp)};
    pred_sum = {sum(pred_sum)};
    true_sum = {sum(true_sum)};
  }
  // sklearn _prf_divide: a zero denominator gives zero_division.
  auto divide = [&](double num, double den) {
    return den == 0.0 ? o.zero_division : num / den;
  };
  std::vector<double> per_class(tp.size());
  for (size_t c = 0; c < tp.size(); ++c) {
    switch (score) {
      case Score::kPrecision:
        per_class[c] = divide(tp[c], pred_sum[c]);
        break;
      case Score::kRecall:
        per_class[c] = divide(tp[c], true_sum[c]);
        break;
      case Score::kF1:
        // F1 = 2 tp / (2 tp + fp + fn) = 2 tp / (true + predicted).
        per_class[c] = divide(2.0 * tp[c], true_sum[c] + pred_sum[c]);
        break;
    }
  }
  return nan_average(per_class,
                     o.average == Average::kWeighted ? &true_sum : nullptr);
}

// ---------------------------------------------------------------------------
// Binary ranking curves.

struct Ranked {
  std::vector<double> score, w;
  std::vector<int64_t> y;
};

Ranked read_ranked(std::string_view fn, const View& scores, const View& target,
                   const View& sample_weight) {
  Ranked r;
  r.score = detail::read_floats(fn, "scores", scores);
  r.y = detail::read_labels(fn, "target", target);
  require_1d(fn, "target", target);
  detail::require_same_shape(fn, "scores", scores.shape, "target",
                             target.shape);
  require_below(fn, "target", r.y, 2,
                "; ranking metrics take binary labels 0/1 (one-vs-rest: pass "
                "target == k)");
  r.w = detail::read_sample_weight(fn, sample_weight, target.shape[0]);
  return r;
}

// Cumulative (weighted) true and false positives at each distinct score,
// scores in decreasing order: the points of sklearn's _binary_clf_curve.
struct Curve {
  std::vector<double> tps, fps;
};

Curve curve(const Ranked& r) {
  std::vector<size_t> order(r.score.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return r.score[a] > r.score[b]; });
  Curve c;
  double tp = 0.0, fp = 0.0;
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    if (r.y[i] == 1) {
      tp += r.w[i];
    } else {
      fp += r.w[i];
    }
    // Close the group of tied scores at its last member.
    if (k + 1 == order.size() || r.score[order[k + 1]] != r.score[i]) {
      c.tps.push_back(tp);
      c.fps.push_back(fp);
    }
  }
  return c;
}

// ---------------------------------------------------------------------------
// Probabilistic predictions: probs (n,) of class 1 or (n, C).

struct Probs {
  std::vector<double> p;
  std::vector<int64_t> y;
  int64_t n = 0, c = 0;
  bool binary = false;  // (n,) or (n, 1): p = P(class 1)
};

Probs read_probs(std::string_view fn, const View& probs, const View& target) {
  Probs r;
  r.p = detail::read_floats(fn, "probs", probs);
  r.y = detail::read_labels(fn, "target", target);
  require_1d(fn, "target", target);
  const int nd = probs.shape.ndim();
  if (nd != 1 && nd != 2) {
    throw_value_error(arg_prefix(fn, "probs") + " has shape " +
                      probs.shape.str() +
                      "; expected (n_samples,) probabilities of class 1 or "
                      "(n_samples, n_classes)");
  }
  if (probs.shape[0] != target.shape[0]) {
    throw_value_error(arg_prefix(fn, "probs") + " has shape " +
                      probs.shape.str() + " but target has shape " +
                      target.shape.str() +
                      "; they need the same number of samples");
  }
  r.n = target.shape[0];
  r.binary = nd == 1 || probs.shape[1] == 1;
  r.c = r.binary ? 2 : probs.shape[1];
  for (size_t i = 0; i < r.p.size(); ++i) {
    if (!(r.p[i] >= 0.0 && r.p[i] <= 1.0)) {
      throw_value_error(arg_prefix(fn, "probs") + " has the value " +
                        value_str(r.p[i]) + " at index " +
                        index_str(int64_t(i), probs.shape) +
                        ", outside [0, 1]; pass probabilities (apply softmax "
                        "or sigmoid to logits first)");
    }
  }
  require_below(fn, "target", r.y, r.c,
                r.binary ? "; (n,) probs take binary labels 0/1"
                         : "; labels index the columns of probs");
  return r;
}

}  // namespace

std::string_view average_name(Average a) noexcept {
  switch (a) {
    case Average::kBinary:
      return "binary";
    case Average::kMacro:
      return "macro";
    case Average::kMicro:
      return "micro";
    case Average::kWeighted:
      return "weighted";
  }
  return "?";
}

Average parse_average(std::string_view s, std::string_view function) {
  for (Average a : {Average::kBinary, Average::kMacro, Average::kMicro,
                    Average::kWeighted}) {
    if (s == average_name(a)) return a;
  }
  throw_value_error(std::string(function) +
                    ": average must be 'binary', "
                    "'macro', 'micro' or 'weighted'; got '" +
                    std::string(s) + "'");
}

double accuracy(View pred, View target, const LabelMetricOptions& o) {
  const Labels l = read_pair("accuracy", pred, target, o.sample_weight);
  double correct = 0.0, total = 0.0;
  for (int64_t i = 0; i < l.n; ++i) {
    const double w = l.w[size_t(i)];
    total += w;
    if (l.pred[size_t(i)] == l.target[size_t(i)]) correct += w;
  }
  if (total == 0.0) {
    throw_value_error(
        "accuracy: sample_weight sums to 0; at least one sample "
        "needs a positive weight");
  }
  return correct / total;
}

ConfusionMatrix confusion_matrix(View pred, View target,
                                 const ConfusionMatrixOptions& o) {
  constexpr std::string_view fn = "confusion_matrix";
  if (o.num_classes < 0 || o.num_classes > kMaxConfusionClasses) {
    throw_value_error(std::string(fn) + ": num_classes must be in [1, " +
                      std::to_string(kMaxConfusionClasses) +
                      "] (or 0 / None to infer it); got " +
                      std::to_string(o.num_classes));
  }
  const Labels l = read_pair(fn, pred, target, o.sample_weight);
  int64_t c = o.num_classes;
  if (c > 0) {
    const std::string why = " for num_classes=" + std::to_string(c) +
                            "; raise num_classes or fix the labels";
    require_below(fn, "pred", l.pred, c, why);
    require_below(fn, "target", l.target, c, why);
  } else {
    const int64_t max_label =
        std::max(*std::max_element(l.pred.begin(), l.pred.end()),
                 *std::max_element(l.target.begin(), l.target.end()));
    if (max_label >= kMaxConfusionClasses) {
      throw_value_error(std::string(fn) + ": the largest label is " +
                        std::to_string(max_label) +
                        ", which would make a confusion matrix of more than " +
                        std::to_string(kMaxConfusionClasses) +
                        " classes; remap the labels to 0..C-1");
    }
    c = max_label + 1;
  }
  ConfusionMatrix m;
  m.num_classes = c;
  m.weighted = o.sample_weight.present();
  m.values.assign(size_t(c * c), 0.0);
  for (int64_t i = 0; i < l.n; ++i) {
    m.values[size_t(l.target[size_t(i)] * c + l.pred[size_t(i)])] +=
        l.w[size_t(i)];
  }
  return m;
}

double precision(View pred, View target, const PrecisionRecallOptions& o) {
  return prf(Score::kPrecision, pred, target, o);
}
double recall(View pred, View target, const PrecisionRecallOptions& o) {
  return prf(Score::kRecall, pred, target, o);
}
double f1_score(View pred, View target, const PrecisionRecallOptions& o) {
  return prf(Score::kF1, pred, target, o);
}

double roc_auc(View scores, View target, const RankingMetricOptions& o) {
  constexpr std::string_view fn = "roc_auc";
  const Curve c = curve(read_ranked(fn, scores, target, o.sample_weight));
  const double pos = c.tps.back(), neg = c.fps.back();
  if (pos == 0.0 || neg == 0.0) {
    throw_value_error(std::string(fn) + ": target has no " +
                      (pos == 0.0 ? "positive" : "negative") +
                      " samples (of positive weight); ROC AUC is undefined "
                      "with one class: evaluate on data with both classes");
  }
  // Trapezoid over the ROC points (0, 0), (fp_k, tp_k), ...: a group of
  // tied scores adds a straight segment, i.e. counts each (positive,
  // negative) tie as 1/2 (Mann-Whitney with average ranks).
  double area = 0.0, tp0 = 0.0, fp0 = 0.0;
  for (size_t k = 0; k < c.tps.size(); ++k) {
    area += (c.fps[k] - fp0) * (c.tps[k] + tp0) * 0.5;
    tp0 = c.tps[k];
    fp0 = c.fps[k];
  }
  return area / (pos * neg);
}

double average_precision(View scores, View target,
                         const RankingMetricOptions& o) {
  const Curve c =
      curve(read_ranked("average_precision", scores, target, o.sample_weight));
  const double pos = c.tps.back();
  // sklearn: no positives sets recall to 1 everywhere, so AP is the
  // precision at the highest threshold, which is 0.
  if (pos == 0.0) return 0.0;
  // AP = sum_k (R_k - R_{k-1}) P_k, R_k = tp_k / pos, P_k = tp_k / (tp_k +
  // fp_k) (0 when no sample of positive weight lies above the threshold).
  double ap = 0.0, tp0 = 0.0;
  for (size_t k = 0; k < c.tps.size(); ++k) {
    const double predicted = c.tps[k] + c.fps[k];
    const double prec = predicted == 0.0 ? 0.0 : c.tps[k] / predicted;
    ap += (c.tps[k] - tp0) / pos * prec;
    tp0 = c.tps[k];
  }
  return std::max(0.0, ap);
}

double log_loss(View probs, View target, const LogLossOptions& o) {
  constexpr std::string_view fn = "log_loss";
  const Probs r = read_probs(fn, probs, target);
  // sklearn 1.9: eps = finfo(y_proba.dtype).eps, no renormalization.
  const double eps = o.eps > 0.0 ? o.eps
                     : probs.dtype == DType::kFloat32
                         ? double(std::numeric_limits<float>::epsilon())
                         : std::numeric_limits<double>::epsilon();
  if (!(eps < 0.5)) {
    throw_value_error(std::string(fn) + ": eps must be in (0, 0.5); got " +
                      value_str(eps));
  }
  const std::vector<double> w =
      detail::read_sample_weight(fn, o.sample_weight, r.n);
  double s = 0.0, sw = 0.0;
  for (int64_t i = 0; i < r.n; ++i) {
    const int64_t y = r.y[size_t(i)];
    // Probability given to the true class.
    const double p = r.binary ? (y == 1 ? r.p[size_t(i)] : 1.0 - r.p[size_t(i)])
                              : r.p[size_t(i * r.c + y)];
    const double l = -std::log(std::clamp(p, eps, 1.0 - eps));
    s += w[size_t(i)] * l;
    sw += w[size_t(i)];
  }
  if (sw == 0.0) {
    throw_value_error(std::string(fn) +
                      ": sample_weight sums to 0; at least one sample needs a "
                      "positive weight");
  }
  return s / sw;
}

double expected_calibration_error(View probs, View target,
                                  const CalibrationOptions& o) {
  constexpr std::string_view fn = "expected_calibration_error";
  if (o.n_bins < 1 || o.n_bins > (int64_t(1) << 24)) {
    throw_value_error(std::string(fn) + ": n_bins must be in [1, 2^24]; got " +
                      std::to_string(o.n_bins));
  }
  const Probs r = read_probs(fn, probs, target);
  const int64_t m = o.n_bins;
  // numpy.linspace(0, 1, m + 1): e_b = b * (1 / m), last edge exactly 1.
  std::vector<double> edges(size_t(m + 1));
  const double step = 1.0 / double(m);
  for (int64_t b = 0; b <= m; ++b) edges[size_t(b)] = double(b) * step;
  edges[size_t(m)] = 1.0;
  // Per bin: count, sum of (correct - confidence).
  std::vector<double> gap(size_t(m), 0.0);
  for (int64_t i = 0; i < r.n; ++i) {
    double conf;
    int64_t pred;
    if (r.binary) {
      const double p = r.p[size_t(i)];
      pred = p > 0.5 ? 1 : 0;
      conf = pred == 1 ? p : 1.0 - p;
    } else {
      const double* row = r.p.data() + i * r.c;
      pred = int64_t(std::max_element(row, row + r.c) - row);  // first max
      conf = row[pred];
    }
    // Bin b with e_b < conf <= e_{b+1}; conf = 0 joins bin 0.
    int64_t b =
        std::clamp(int64_t(std::ceil(conf * double(m))) - 1, int64_t(0), m - 1);
    while (b > 0 && conf <= edges[size_t(b)]) --b;
    while (b < m - 1 && conf > edges[size_t(b + 1)]) ++b;
    const double correct = pred == r.y[size_t(i)] ? 1.0 : 0.0;
    gap[size_t(b)] += correct - conf;
  }
  // sum_b (|B_b| / n) |acc_b - conf_b| = sum_b |sum_{i in B_b} (correct_i -
  // conf_i)| / n.
  double ece = 0.0;
  for (double g : gap) ece += std::abs(g);
  return ece / double(r.n);
}

double perplexity(double mean_cross_entropy) {
  if (!(mean_cross_entropy >= 0.0)) {
    throw_value_error(
        "perplexity: mean_cross_entropy must be >= 0 (a mean "
        "cross-entropy in nats); got " +
        value_str(mean_cross_entropy));
  }
  return std::exp(mean_cross_entropy);
}

double perplexity(View token_losses, const PerplexityOptions& o) {
  constexpr std::string_view fn = "perplexity";
  const std::vector<double> l =
      detail::read_floats(fn, "token_losses", token_losses);
  std::vector<bool> keep(l.size(), true);
  if (o.mask.present()) {
    detail::require_same_shape(fn, "mask", o.mask.shape, "token_losses",
                               token_losses.shape);
    const bool ok = detail::visit_dtype(o.mask.dtype, [&]<class T>(T*) {
      const detail::Contiguous<T> c(o.mask);
      for (size_t i = 0; i < l.size(); ++i) {
        const T x = c.get()[i];
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(x)) {
            throw_value_error(std::string(fn) +
                              ": mask contains NaN at "
                              "index " +
                              index_str(int64_t(i), o.mask.shape) +
                              "; pass a bool mask");
          }
        }
        keep[i] = x != T(0);
      }
    });
    if (!ok) {
      throw_type_error(std::string(fn) + ": mask has dtype " +
                       std::string(dtype_name(o.mask.dtype)) +
                       "; expected bool (or integer / float, nonzero = keep)");
    }
  }
  double s = 0.0;
  int64_t count = 0;
  for (size_t i = 0; i < l.size(); ++i) {
    if (!keep[i]) continue;
    if (!(l[i] >= 0.0)) {
      throw_value_error(std::string(fn) + ": token_losses has the value " +
                        value_str(l[i]) + " at index " +
                        index_str(int64_t(i), token_losses.shape) +
                        "; per-token cross-entropies are >= 0");
    }
    s += l[i];
    ++count;
  }
  if (count == 0) {
    throw_value_error(std::string(fn) +
                      ": mask selects no token; perplexity "
                      "is undefined without tokens");
  }
  return std::exp(s / double(count));
}

}  // namespace losslab
