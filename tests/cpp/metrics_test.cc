// Metrics against closed-form values computed by hand here (scikit-learn
// comparisons are in tests/python/test_metrics.py).
#include "losslab/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "losslab/core/error.h"

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

}  // namespace
}  // namespace losslab
