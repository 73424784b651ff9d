// class_weights against closed forms computed here: sklearn's
// compute_class_weight("balanced") convention N / (C n_c), and Cui et al.
// (CVPR 2019) (1 - beta) / (1 - beta^n_c) scaled to sum to C. The sklearn
// comparison itself is in tests/python/test_class_weights.py.
#include "losslab/losses/class_weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

View lab(const std::vector<int64_t>& v) {
  return view<int64_t>(v.data(), {int64_t(v.size())});
}

std::vector<int64_t> split(int64_t n0, int64_t n1, int64_t n2 = 0) {
  std::vector<int64_t> y(size_t(n0), 0);
  y.insert(y.end(), size_t(n1), 1);
  y.insert(y.end(), size_t(n2), 2);
  return y;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

TEST(ClassWeights, InverseFrequencyIsSklearnBalanced) {
  // 95/5: w = 100 / (2 * 95), 100 / (2 * 5); the minority gets 19 times more
  const std::vector<double> w = class_weights(lab(split(95, 5)));
  ASSERT_EQ(w.size(), 2u);
  EXPECT_DOUBLE_EQ(w[0], 100.0 / 190.0);
  EXPECT_DOUBLE_EQ(w[1], 10.0);
  EXPECT_DOUBLE_EQ(w[1] / w[0], 19.0);
  // sum_c n_c w_c = N
  const std::vector<double> w3 = class_weights(lab(split(6, 3, 1)));
  EXPECT_DOUBLE_EQ(6 * w3[0] + 3 * w3[1] + 1 * w3[2], 10.0);
  EXPECT_DOUBLE_EQ(w3[2], 10.0 / 3.0);
}

TEST(ClassWeights, EffectiveNumberClosedForm) {
  const double beta = 0.99;
  const std::vector<double> w = class_weights(
      lab(split(50, 10, 2)),
      {.scheme = ClassWeightScheme::kEffectiveNumber, .beta = beta});
  double raw[3] = {(1 - beta) / (1 - std::pow(beta, 50)),
                   (1 - beta) / (1 - std::pow(beta, 10)),
                   (1 - beta) / (1 - std::pow(beta, 2))};
  const double s = raw[0] + raw[1] + raw[2];
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(w[size_t(k)], 3 * raw[k] / s, 1e-14);
  EXPECT_NEAR(w[0] + w[1] + w[2], 3.0, 1e-14);
  // beta = 0: every class weighs 1
  const std::vector<double> w0 = class_weights(
      lab(split(50, 10, 2)),
      {.scheme = ClassWeightScheme::kEffectiveNumber, .beta = 0.0});
  for (double v : w0) EXPECT_DOUBLE_EQ(v, 1.0);
  // beta -> 1: proportional to 1 / n_c (inverse frequency up to scale)
  const std::vector<double> w1 = class_weights(
      lab(split(50, 10, 2)),
      {.scheme = ClassWeightScheme::kEffectiveNumber, .beta = 1.0 - 1e-12});
  EXPECT_NEAR(w1[2] / w1[0], 25.0, 1e-6);
  EXPECT_NEAR(w1[1] / w1[0], 5.0, 1e-6);
}

TEST(ClassWeights, MissingClassErrorsOrGetsZero) {
  const std::vector<int64_t> y = {0, 0, 2};
  const std::string msg = error_of([&] { class_weights(lab(y)); });
  EXPECT_NE(msg.find("class_weights"), std::string::npos) << msg;
  EXPECT_NE(msg.find("class 1 of 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing='zero'"), std::string::npos) << msg;
  const std::vector<double> w =
      class_weights(lab(y), {.num_classes = 4, .missing = MissingClass::kZero});
  ASSERT_EQ(w.size(), 4u);
  EXPECT_DOUBLE_EQ(w[0], 3.0 / (4 * 2));
  EXPECT_EQ(w[1], 0.0);
  EXPECT_DOUBLE_EQ(w[2], 3.0 / 4);
  EXPECT_EQ(w[3], 0.0);
  const std::vector<double> we =
      class_weights(lab(y), {.scheme = ClassWeightScheme::kEffectiveNumber,
                             .num_classes = 4,
                             .missing = MissingClass::kZero});
  EXPECT_EQ(we[1], 0.0);
  EXPECT_NEAR(we[0] + we[2], 4.0, 1e-14);
}

TEST(ClassWeights, LabelDtypesAndShapes) {
  const std::vector<int32_t> y32 = {0, 1, 1, 1};
  const std::vector<float> yf = {0, 1, 1, 1};
  const bool yb[4] = {false, true, true, true};
  const std::vector<double> ref = {2.0, 2.0 / 3.0};
  EXPECT_EQ(class_weights(view<int32_t>(y32.data(), {4})), ref);
  EXPECT_EQ(class_weights(view<float>(yf.data(), {4})), ref);
  EXPECT_EQ(class_weights(view<bool>(yb, {4})), ref);
  // (2, 2) segmentation-style labels: every element counts
  EXPECT_EQ(class_weights(view<int32_t>(y32.data(), {2, 2})), ref);
}

TEST(ClassWeights, Errors) {
  const std::vector<int64_t> y = {0, 1, 3};
  std::string m = error_of([&] { class_weights(lab(y), {.num_classes = 3}); });
  EXPECT_NE(m.find("label 3 at index 2"), std::string::npos) << m;
  m = error_of([&] {
    class_weights(lab({0, 1}),
                  {.scheme = ClassWeightScheme::kEffectiveNumber, .beta = 1.0});
  });
  EXPECT_NE(m.find("beta must be in [0, 1)"), std::string::npos) << m;
  m = error_of([&] { class_weights(lab({0, -1})); });
  EXPECT_NE(m.find("negative label -1"), std::string::npos) << m;
  const std::vector<double> soft = {0.0, 0.3};
  m = error_of([&] { class_weights(view<double>(soft.data(), {2})); });
  EXPECT_NE(m.find("0.3"), std::string::npos) << m;
  m = error_of([&] { class_weights(view<int64_t>(y.data(), {0})); });
  EXPECT_NE(m.find("labels"), std::string::npos) << m;
  EXPECT_THROW(parse_class_weight_scheme("balanced", "class_weights"), Error);
  EXPECT_THROW(parse_missing_class("drop", "class_weights"), Error);
  EXPECT_THROW(class_weights(View{}), Error);
}

// One counting pass on one thread: the same bits for any target / threads.
TEST(ClassWeights, SameBitsForAnyTargetAndThreadCount) {
  std::vector<int64_t> y(10007);
  for (size_t i = 0; i < y.size(); ++i)
    y[i] = int64_t((i % 13) % 7);  // unequal counts
  const ClassWeightOptions o{.scheme = ClassWeightScheme::kEffectiveNumber};
  std::vector<double> ref;
  {
    testing::ScopedThreads one(1);
    ref = class_weights(lab(y), o);
  }
  for (const auto& target : testing::all_targets()) {
    testing::ScopedTarget st(target);
    testing::ScopedThreads two(2);
    EXPECT_EQ(class_weights(lab(y), o), ref) << target;
  }
}

}  // namespace
}  // namespace losslab
