// Metrics against closed-form values computed by hand here (scikit-learn
// comparisons are in tests/python/test_metrics.py and
// tests/python/test_metrics_classification.py).
#include "losslab/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/metrics_classification.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

TEST(Metrics, ClosedForm) {
  const std::vector<double> p = {1, 2, 3, 4}, t = {1, 3, 2, 6};
  const View pv = view<double>(p.data(), {4}), tv = view<double>(t.data(), {4});
  // errors 0, -1, 1, -2 -> squared 0, 1, 1, 4
  EXPECT_DOUBLE_EQ(rmse(pv, tv), std::sqrt(6.0 / 4.0));
  EXPECT_DOUBLE_EQ(mae(pv, tv), 1.0);
  // mean t = 3, SS_tot = 4 + 0 + 1 + 9 = 14, SS_res = 6
  EXPECT_DOUBLE_EQ(r2_score(pv, tv), 1.0 - 6.0 / 14.0);
  const std::vector<double> lo = {0, 3.5, 2, 5}, hi = {2, 4, 2, 7};
  // covered: 1 in [0,2] yes; 3 in [3.5,4] no; 2 in [2,2] yes; 6 in [5,7] yes
  EXPECT_DOUBLE_EQ(quantile_coverage(view<double>(lo.data(), {4}),
                                     view<double>(hi.data(), {4}), tv),
                   0.75);
}

TEST(Metrics, SampleWeight) {
  const std::vector<double> p = {0, 0}, t = {1, 3}, w = {3, 1};
  EXPECT_DOUBLE_EQ(mae(view<double>(p.data(), {2}), view<double>(t.data(), {2}),
                       {.sample_weight = view<double>(w.data(), {2})}),
                   (3 * 1 + 1 * 3) / 4.0);
}

TEST(Metrics, ConstantTargetR2FollowsSklearn) {
  const std::vector<double> t = {2, 2, 2}, p = {2, 2, 2}, q = {1, 2, 3};
  EXPECT_EQ(r2_score(view<double>(p.data(), {3}), view<double>(t.data(), {3})),
            1.0);
  EXPECT_EQ(r2_score(view<double>(q.data(), {3}), view<double>(t.data(), {3})),
            0.0);
}

TEST(Metrics, Errors) {
  const std::vector<double> a = {1, 2, 3};
  const std::vector<double> nan_t = {1, NAN, 3};
  EXPECT_THROW(rmse(view<double>(a.data(), {3}), view<double>(a.data(), {2})),
               Error);
  EXPECT_THROW(
      rmse(view<double>(a.data(), {3}), view<double>(nan_t.data(), {3})),
      Error);
}

// ---------------------------------------------------------------------------
// Classification metrics (losslab/metrics_classification.h).

View lab(const std::vector<int64_t>& v) {
  return view<int64_t>(v.data(), {int64_t(v.size())});
}
View dbl(const std::vector<double>& v) {
  return view<double>(v.data(), {int64_t(v.size())});
}

// Expects an Error whose message contains every fragment.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (const auto& frag : fragments) {
      EXPECT_NE(std::string(e.what()).find(frag), std::string::npos)
          << e.what() << "\n  missing: " << frag;
    }
  }
}

TEST(ClassificationMetrics, AccuracyClosedForm) {
  const std::vector<int64_t> p = {0, 1, 2, 1}, t = {0, 2, 2, 1};
  EXPECT_DOUBLE_EQ(accuracy(lab(p), lab(t)), 0.75);
  // weights 1, 3, 1, 1: correct weight 3 of 6
  const std::vector<double> w = {1, 3, 1, 1};
  EXPECT_DOUBLE_EQ(accuracy(lab(p), lab(t), {.sample_weight = dbl(w)}), 0.5);
  // int32, bool and 0/1 float labels read the same
  const std::vector<int32_t> p32 = {0, 1, 1}, t32 = {0, 0, 1};
  const bool pb[3] = {false, true, true}, tb[3] = {false, false, true};
  const std::vector<float> pf = {0, 1, 1}, tf = {0, 0, 1};
  EXPECT_DOUBLE_EQ(
      accuracy(view<int32_t>(p32.data(), {3}), view<int32_t>(t32.data(), {3})),
      2.0 / 3.0);
  EXPECT_DOUBLE_EQ(accuracy(view<bool>(pb, {3}), view<bool>(tb, {3})),
                   2.0 / 3.0);
  EXPECT_DOUBLE_EQ(
      accuracy(view<float>(pf.data(), {3}), view<float>(tf.data(), {3})),
      2.0 / 3.0);
}

TEST(ClassificationMetrics, ConfusionMatrixRowsAreTrueClasses) {
  const std::vector<int64_t> p = {0, 2, 2, 1, 0}, t = {0, 1, 2, 1, 1};
  const ConfusionMatrix m = confusion_matrix(lab(p), lab(t));
  ASSERT_EQ(m.num_classes, 3);
  EXPECT_FALSE(m.weighted);
  // true 0 -> pred 0; true 1 -> pred 2, 1, 0; true 2 -> pred 2
  const std::vector<double> want = {1, 0, 0, 1, 1, 1, 0, 0, 1};
  EXPECT_EQ(m.values, want);
  EXPECT_EQ(m.at(1, 2), 1.0);
  const ConfusionMatrix m5 =
      confusion_matrix(lab(p), lab(t), {.num_classes = 5});
  EXPECT_EQ(m5.num_classes, 5);
  EXPECT_EQ(m5.at(2, 2), 1.0);
  EXPECT_EQ(m5.at(4, 4), 0.0);
  const std::vector<double> w = {0.5, 2, 1, 1, 1};
  const ConfusionMatrix mw =
      confusion_matrix(lab(p), lab(t), {.sample_weight = dbl(w)});
  EXPECT_TRUE(mw.weighted);
  EXPECT_EQ(mw.at(0, 0), 0.5);
  EXPECT_EQ(mw.at(1, 2), 2.0);
  expect_error([&] { confusion_matrix(lab(p), lab(t), {.num_classes = 2}); },
               {"confusion_matrix", "pred", "label 2", "[0, 2)"});
}

// 3 classes: per class tp / predicted / true
//   pred   0 0 1 1 2 2 2
//   target 0 1 1 2 2 2 0
//   class 0: tp 1, pred 2, true 2; class 1: tp 1, pred 2, true 2;
//   class 2: tp 2, pred 3, true 3.
const std::vector<int64_t> kPred = {0, 0, 1, 1, 2, 2, 2};
const std::vector<int64_t> kTarget = {0, 1, 1, 2, 2, 2, 0};

TEST(ClassificationMetrics, PrecisionRecallF1Averages) {
  const View p = lab(kPred), t = lab(kTarget);
  const double pc[3] = {0.5, 0.5, 2.0 / 3.0};  // precision = recall per class
  const double macro = (pc[0] + pc[1] + pc[2]) / 3.0;
  const double weighted = (2 * pc[0] + 2 * pc[1] + 3 * pc[2]) / 7.0;
  for (auto f : {&precision, &recall, &f1_score}) {
    EXPECT_NEAR(f(p, t, {.average = Average::kMacro}), macro, 1e-15);
    EXPECT_NEAR(f(p, t, {.average = Average::kWeighted}), weighted, 1e-15);
    // micro: tp 4 of 7 predicted = 7 true
    EXPECT_NEAR(f(p, t, {.average = Average::kMicro}), 4.0 / 7.0, 1e-15);
  }
}

TEST(ClassificationMetrics, BinaryPrecisionRecallF1) {
  // pred 1 1 1 0 0, target 1 0 1 1 0: tp 2, fp 1, fn 1
  const std::vector<int64_t> p = {1, 1, 1, 0, 0}, t = {1, 0, 1, 1, 0};
  EXPECT_DOUBLE_EQ(precision(lab(p), lab(t)), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(recall(lab(p), lab(t)), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(f1_score(lab(p), lab(t)), 4.0 / 6.0);
  // pos_label = 0: tp 1 (index 4), predicted 2, true 2
  EXPECT_DOUBLE_EQ(precision(lab(p), lab(t), {.pos_label = 0}), 0.5);
  // labels {3, 7}: binary with pos_label 7
  const std::vector<int64_t> p2 = {7, 7, 3}, t2 = {7, 3, 3};
  EXPECT_DOUBLE_EQ(precision(lab(p2), lab(t2), {.pos_label = 7}), 0.5);
  EXPECT_DOUBLE_EQ(recall(lab(p2), lab(t2), {.pos_label = 7}), 1.0);
}

TEST(ClassificationMetrics, ZeroDivisionFollowsSklearn) {
  // No positive predicted nor true: precision, recall, F1 all 0/0.
  const std::vector<int64_t> z = {0, 0, 0};
  EXPECT_EQ(precision(lab(z), lab(z)), 0.0);
  EXPECT_EQ(recall(lab(z), lab(z), {.zero_division = 1.0}), 1.0);
  EXPECT_TRUE(std::isnan(f1_score(lab(z), lab(z), {.zero_division = NAN})));
  // macro over classes 0..2 with class 2 absent: NaN scores are left out.
  const std::vector<int64_t> p = {0, 1, 1}, t = {0, 1, 0};
  // class 0: P 1/1, class 1: P 1/2, class 2: 0/0
  EXPECT_DOUBLE_EQ(
      precision(
          lab(p), lab(t),
          {.average = Average::kMacro, .num_classes = 3, .zero_division = NAN}),
      0.75);
  EXPECT_DOUBLE_EQ(
      precision(lab(p), lab(t), {.average = Average::kMacro, .num_classes = 3}),
      0.5);
  EXPECT_DOUBLE_EQ(
      precision(
          lab(p), lab(t),
          {.average = Average::kMacro, .num_classes = 3, .zero_division = 1.0}),
      2.5 / 3.0);
}

TEST(ClassificationMetrics, PrecisionRecallErrors) {
  expect_error([] { precision(lab(kPred), lab(kTarget)); },
               {"precision", "average='binary'", "3 distinct labels", "macro"});
  const std::vector<int64_t> p = {0, 1}, t = {1, 0};
  expect_error([&] { recall(lab(p), lab(t), {.pos_label = 5}); },
               {"recall", "pos_label=5", "0, 1"});
  expect_error([&] { f1_score(lab(p), lab(t), {.zero_division = 0.5}); },
               {"f1_score", "zero_division", "0.5"});
  expect_error(
      [&] {
        f1_score(lab(kPred), lab(kTarget),
                 {.average = Average::kMacro, .num_classes = 2});
      },
      {"f1_score", "pred", "label 2", "num_classes=2"});
  const std::vector<int64_t> neg = {0, -100};
  expect_error([&] { precision(lab(neg), lab(p)); },
               {"precision", "pred", "negative label -100", "index 1"});
  const std::vector<int64_t> three = {0, 1, 1};
  expect_error([&] { precision(lab(three), lab(p)); },
               {"precision", "pred", "(3,)", "(2,)"});
  const std::vector<double> half = {0.0, 0.5};
  expect_error([&] { accuracy(dbl(half), lab(p)); },
               {"accuracy", "pred", "0.5", "int64"});
  expect_error([&] { accuracy(view<int64_t>(p.data(), {0}), lab(p)); },
               {"accuracy", "pred"});
  EXPECT_THROW(parse_average("samples", "f1_score"), Error);
  EXPECT_EQ(parse_average("weighted", "f1_score"), Average::kWeighted);
}

// Mann-Whitney U / (n_pos n_neg), ties counting 1/2, by brute force.
double brute_auc(const std::vector<double>& s, const std::vector<int64_t>& y) {
  double u = 0.0, np = 0.0, nn = 0.0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (y[i] == 1)
      ++np;
    else
      ++nn;
    for (size_t j = 0; j < s.size(); ++j) {
      if (y[i] == 1 && y[j] == 0)
        u += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
    }
  }
  return u / (np * nn);
}

TEST(ClassificationMetrics, RocAucIsMannWhitneyWithTies) {
  const std::vector<double> s = {0.5, 0.5, 0.2, 0.1};
  const std::vector<int64_t> y = {0, 1, 1, 0};
  // pairs: (0.5 vs 0.5) 1/2, (0.5 vs 0.1) 1, (0.2 vs 0.5) 0, (0.2 vs 0.1) 1
  EXPECT_DOUBLE_EQ(roc_auc(dbl(s), lab(y)), 2.5 / 4.0);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(0, 9), coin(0, 1);
  std::vector<double> rs(300);
  std::vector<int64_t> ry(300);
  for (size_t i = 0; i < rs.size(); ++i) {
    rs[i] = level(rng) * 0.25 - 1.0;  // many ties
    ry[i] = coin(rng);
  }
  EXPECT_NEAR(roc_auc(dbl(rs), lab(ry)), brute_auc(rs, ry), 1e-14);
  // Integer weights = repeating samples.
  const std::vector<double> w = {1, 2, 1, 3};
  const std::vector<double> s2 = {0.5, 0.5, 0.5, 0.2, 0.1, 0.1, 0.1};
  const std::vector<int64_t> y2 = {0, 1, 1, 1, 0, 0, 0};
  EXPECT_NEAR(roc_auc(dbl(s), lab(y), {.sample_weight = dbl(w)}),
              brute_auc(s2, y2), 1e-15);
  // +-inf scores rank like any other.
  const std::vector<double> inf = {-INFINITY, INFINITY, 0.0, 1.0};
  EXPECT_DOUBLE_EQ(roc_auc(dbl(inf), lab({0, 1, 0, 1})), 1.0);
}

TEST(ClassificationMetrics, AveragePrecisionIsTheStepFunction) {
  const std::vector<double> s = {0.5, 0.5, 0.2, 0.1};
  const std::vector<int64_t> y = {0, 1, 1, 0};
  // thresholds 0.5: P 1/2, R 1/2; 0.2: P 2/3, R 1; 0.1: R unchanged
  EXPECT_DOUBLE_EQ(average_precision(dbl(s), lab(y)),
                   0.5 * 0.5 + 0.5 * 2 / 3.0);
  // perfect ranking: 1; no positives: 0 (sklearn)
  EXPECT_DOUBLE_EQ(average_precision(dbl({0.9, 0.8, 0.1}), lab({1, 1, 0})),
                   1.0);
  EXPECT_EQ(average_precision(dbl({0.9, 0.8, 0.1}), lab({0, 0, 0})), 0.0);
}

TEST(ClassificationMetrics, RankingErrors) {
  expect_error(
      [] {
        roc_auc(dbl({0.1, 0.2}), lab({1, 1}));
      },
      {"roc_auc", "no negative", "both classes"});
  expect_error(
      [] {
        roc_auc(dbl({0.1, NAN}), lab({0, 1}));
      },
      {"roc_auc", "scores", "NaN", "index 1"});
  expect_error(
      [] {
        average_precision(dbl({0.1, 0.2}), lab({0, 2}));
      },
      {"average_precision", "target", "label 2", "0/1"});
  expect_error(
      [] {
        roc_auc(dbl({0.1, 0.2, 0.3}), lab({0, 1}));
      },
      {"roc_auc", "scores", "(3,)", "(2,)"});
  expect_error(
      [] {
        roc_auc(lab({0, 1}), lab({0, 1}));
      },
      {"roc_auc", "scores", "int64"});
}

TEST(ClassificationMetrics, LogLossClipsAtTheDtypeEpsilon) {
  // (n,) binary: -(log 0.8 + log(1 - 0.3)) / 2
  EXPECT_NEAR(log_loss(dbl({0.8, 0.3}), lab({1, 0})),
              -(std::log(0.8) + std::log(0.7)) / 2, 1e-15);
  // (n, C) rows
  const std::vector<double> p = {0.2, 0.7, 0.1, 0.5, 0.25, 0.25};
  EXPECT_NEAR(log_loss(view<double>(p.data(), {2, 3}), lab({1, 2})),
              -(std::log(0.7) + std::log(0.25)) / 2, 1e-15);
  // p = 0 for the true class: clipped at eps = 2^-52 (float64), 2^-23
  // (float32), or the given eps
  const double e64 = std::numeric_limits<double>::epsilon();
  EXPECT_DOUBLE_EQ(log_loss(dbl({0.0}), lab({1})), -std::log(e64));
  const std::vector<float> pf = {1.0f};
  EXPECT_DOUBLE_EQ(log_loss(view<float>(pf.data(), {1}), lab({0})),
                   -std::log(double(std::numeric_limits<float>::epsilon())));
  EXPECT_DOUBLE_EQ(log_loss(dbl({0.0}), lab({1}), {.eps = 1e-7}),
                   -std::log(1e-7));
  // weighted mean
  const std::vector<double> w = {3, 1};
  EXPECT_NEAR(log_loss(dbl({0.8, 0.3}), lab({1, 0}), {.sample_weight = dbl(w)}),
              -(3 * std::log(0.8) + std::log(0.7)) / 4, 1e-15);
  expect_error([] { log_loss(dbl({1.2}), lab({1})); },
               {"log_loss", "probs", "1.2", "[0, 1]", "softmax"});
  expect_error(
      [&] {
        log_loss(view<double>(p.data(), {2, 3}), lab({1, 3}));
      },
      {"log_loss", "target", "label 3", "[0, 3)"});
  expect_error(
      [] {
        log_loss(dbl({0.5, 0.5}), lab({1}));
      },
      {"log_loss", "probs", "(2,)", "(1,)"});
}

TEST(ClassificationMetrics, ExpectedCalibrationErrorClosedForm) {
  // 2 bins, binary probs: confidences 0.9 (pred 1, right), 0.8 (pred 0,
  // wrong), 0.6 (pred 1, right), 0.7 (pred 1, wrong)
  //   bin (0.5, 1]: all four: acc 1/2, conf 0.75 -> 0.25
  EXPECT_NEAR(expected_calibration_error(dbl({0.9, 0.2, 0.6, 0.7}),
                                         lab({1, 1, 1, 0}), {.n_bins = 2}),
              0.25, 1e-15);
  // 10 bins: 0.9 in (0.8, 0.9] gap 0.1; 0.8 in (0.7, 0.8] gap 0.8; 0.6 in
  // (0.5, 0.6] gap 0.4; 0.7 in (0.6, 0.7] gap 0.7 -> (0.1+0.8+0.4+0.7)/4
  EXPECT_NEAR(expected_calibration_error(dbl({0.9, 0.2, 0.6, 0.7}),
                                         lab({1, 1, 1, 0}), {.n_bins = 10}),
              0.5, 1e-15);
  // (n, C): row maxima 0.6 (pred 0) and 0.5 (pred 1: first max of .5 .5)
  const std::vector<double> p = {0.6, 0.3, 0.1, 0.0, 0.5, 0.5};
  EXPECT_NEAR(expected_calibration_error(view<double>(p.data(), {2, 3}),
                                         lab({0, 2}), {.n_bins = 1}),
              std::abs(0.5 - 0.55), 1e-15);
  expect_error(
      [] { expected_calibration_error(dbl({0.5}), lab({1}), {.n_bins = 0}); },
      {"expected_calibration_error", "n_bins", "0"});
}

TEST(ClassificationMetrics, Perplexity) {
  EXPECT_DOUBLE_EQ(perplexity(std::log(7.0)), 7.0);
  EXPECT_EQ(perplexity(0.0), 1.0);
  const std::vector<double> l = {1.0, 2.0, 9.0, 3.0};
  EXPECT_DOUBLE_EQ(perplexity(dbl(l)), std::exp(15.0 / 4));
  const bool mask[4] = {true, true, false, true};
  EXPECT_DOUBLE_EQ(perplexity(dbl(l), {.mask = view<bool>(mask, {4})}),
                   std::exp(2.0));
  const std::vector<float> lf = {1.0f, 2.0f, 9.0f, 3.0f, 0.5f, 0.5f};
  const std::vector<int64_t> mi = {1, 1, 0, 1, 0, 0};
  EXPECT_DOUBLE_EQ(perplexity(view<float>(lf.data(), {2, 3}),
                              {.mask = view<int64_t>(mi.data(), {2, 3})}),
                   std::exp(2.0));
  const bool none[4] = {};
  expect_error([&] { perplexity(dbl(l), {.mask = view<bool>(none, {4})}); },
               {"perplexity", "mask selects no token"});
  expect_error([] { perplexity(-0.5); }, {"perplexity", ">= 0", "-0.5"});
  expect_error([] { perplexity(NAN); }, {"perplexity", "got nan"});
  expect_error(
      [&] {
        perplexity(dbl({1.0, -2.0}));
      },
      {"perplexity", "token_losses", "-2", "index 1"});
  expect_error([&] { perplexity(dbl(l), {.mask = view<bool>(mask, {3})}); },
               {"perplexity", "mask", "(3,)", "(4,)"});
}

// Metrics are plain double loops on one thread: the same bits on every SIMD
// target and thread count.
TEST(ClassificationMetrics, SameBitsForAnyTargetAndThreadCount) {
  const auto s = testing::random_vector<double>(5000, 3, 0.0, 1.0);
  std::vector<int64_t> y(s.size());
  for (size_t i = 0; i < y.size(); ++i)
    y[i] = (s[i] + 0.3 * ((i * 7) % 3)) > 0.8;
  double ref[3];
  {
    testing::ScopedThreads one(1);
    ref[0] = roc_auc(dbl(s), lab(y));
    ref[1] = average_precision(dbl(s), lab(y));
    ref[2] = log_loss(dbl(s), lab(y));
  }
  for (const auto& target : testing::all_targets()) {
    testing::ScopedTarget st(target);
    testing::ScopedThreads two(2);
    EXPECT_EQ(roc_auc(dbl(s), lab(y)), ref[0]) << target;
    EXPECT_EQ(average_precision(dbl(s), lab(y)), ref[1]) << target;
    EXPECT_EQ(log_loss(dbl(s), lab(y)), ref[2]) << target;
  }
}

}  // namespace
}  // namespace losslab
