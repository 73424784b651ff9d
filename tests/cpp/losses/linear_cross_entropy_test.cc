// linear_cross_entropy against central differences of its own value (double)
// and against the unfused cross_entropy of explicitly formed logits.
#include "losslab/losses/linear_cross_entropy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/losses/classification.h"
#include "tests/cpp/testing.h"

namespace losslab {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;

struct Problem {
  int64_t T = 7, H = 5, V = 11;
  std::vector<double> h, w, b, cw;
  std::vector<int64_t> t;
  double zl = 0.0;
  std::optional<double> cap;
  Problem() {
    h = random_vector<double>(T * H, 1);
    w = random_vector<double>(V * H, 2, -1, 1);
    b = random_vector<double>(V, 3);
    cw = random_vector<double>(V, 4, 0.5, 2.0);
    t = {3, 0, -100, 10, 5, 5, 1};
  }
  double loss(const std::vector<double>& hh, const std::vector<double>& ww,
              const std::vector<double>& bb, LinearCrossEntropyOutputs o = {},
              int64_t chunk = 3) const {
    return linear_cross_entropy(
        view<double>(hh.data(), {T, H}), view<double>(ww.data(), {V, H}),
        view<int64_t>(t.data(), {T}),
        {.bias = view<double>(bb.data(), {V}),
         .weight_per_class = view<double>(cw.data(), {V}),
         .label_smoothing = 0.1,
         .z_loss = zl,
         .logit_softcap = cap,
         .chunk_tokens = chunk},
        o);
  }
};

TEST(LinearCrossEntropy, GradientsMatchCentralDifferences) {
  Problem p;
  std::vector<double> gh(p.h.size()), gw(p.w.size()), gb(p.b.size());
  p.loss(p.h, p.w, p.b,
         {.grad_hidden = mutable_view<double>(gh.data(), {p.T, p.H}),
          .grad_weight = mutable_view<double>(gw.data(), {p.V, p.H}),
          .grad_bias = mutable_view<double>(gb.data(), {p.V})});
  EXPECT_LT(
      rel_error(gh,
                numeric_gradient(
                    [&](const auto& x) { return p.loss(x, p.w, p.b); }, p.h)),
      1e-8);
  EXPECT_LT(
      rel_error(gw,
                numeric_gradient(
                    [&](const auto& x) { return p.loss(p.h, x, p.b); }, p.w)),
      1e-8);
  EXPECT_LT(
      rel_error(gb,
                numeric_gradient(
                    [&](const auto& x) { return p.loss(p.h, p.w, x); }, p.b)),
      1e-8);
}

TEST(LinearCrossEntropy, EqualsCrossEntropyOfExplicitLogits) {
  // Oracle: the unfused computation with losslab's own cross_entropy.
  Problem p;
  std::vector<double> logits(size_t(p.T * p.V));
  for (int64_t i = 0; i < p.T; ++i) {
    for (int64_t c = 0; c < p.V; ++c) {
      double s = p.b[size_t(c)];
      for (int64_t k = 0; k < p.H; ++k) {
        s += p.h[size_t(i * p.H + k)] * p.w[size_t(c * p.H + k)];
      }
      logits[size_t(i * p.V + c)] = s;
    }
  }
  const double ref = cross_entropy(
      view<double>(logits.data(), {p.T, p.V}), view<int64_t>(p.t.data(), {p.T}),
      {.weight = view<double>(p.cw.data(), {p.V}), .label_smoothing = 0.1});
  for (int64_t chunk : {1, 2, 3, 7, 100}) {
    EXPECT_NEAR(p.loss(p.h, p.w, p.b, {}, chunk), ref, 1e-12) << chunk;
  }
}

// z_loss and logit_softcap pass through to cross_entropy: central
// differences for all three gradients, and the unfused cross_entropy of the
// explicit logits with the same options.
TEST(LinearCrossEntropy, ZLossAndSoftcapPassThrough) {
  Problem p;
  p.zl = 0.05;
  p.cap = 2.0;
  std::vector<double> gh(p.h.size()), gw(p.w.size()), gb(p.b.size());
  p.loss(p.h, p.w, p.b,
         {.grad_hidden = mutable_view<double>(gh.data(), {p.T, p.H}),
          .grad_weight = mutable_view<double>(gw.data(), {p.V, p.H}),
          .grad_bias = mutable_view<double>(gb.data(), {p.V})});
  EXPECT_LT(
      rel_error(gh,
                numeric_gradient(
                    [&](const auto& x) { return p.loss(x, p.w, p.b); }, p.h)),
      1e-8);
  EXPECT_LT(
      rel_error(gw,
                numeric_gradient(
                    [&](const auto& x) { return p.loss(p.h, x, p.b); }, p.w)),
      1e-8);
  EXPECT_LT(
      rel_error(gb,
                numeric_gradient(
                    [&](const auto& x) { return p.loss(p.h, p.w, x); }, p.b)),
      1e-8);
  std::vector<double> logits(size_t(p.T * p.V));
  for (int64_t i = 0; i < p.T; ++i) {
    for (int64_t c = 0; c < p.V; ++c) {
      double s = p.b[size_t(c)];
      for (int64_t k = 0; k < p.H; ++k) {
        s += p.h[size_t(i * p.H + k)] * p.w[size_t(c * p.H + k)];
      }
      logits[size_t(i * p.V + c)] = s;
    }
  }
  const double ref = cross_entropy(view<double>(logits.data(), {p.T, p.V}),
                                   view<int64_t>(p.t.data(), {p.T}),
                                   {.weight = view<double>(p.cw.data(), {p.V}),
                                    .label_smoothing = 0.1,
                                    .z_loss = 0.05,
                                    .logit_softcap = 2.0});
  for (int64_t chunk : {1, 3, 100}) {
    EXPECT_NEAR(p.loss(p.h, p.w, p.b, {}, chunk), ref, 1e-12) << chunk;
  }
}

TEST(LinearCrossEntropy, DeterministicAcrossThreadCounts) {
  const int64_t T = 200, H = 48, V = 1500;
  auto h = random_vector<float>(T * H, 5), w = random_vector<float>(V * H, 6);
  std::vector<int64_t> t(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) t[size_t(i)] = (i * 37) % V;
  std::vector<float> gh1(h.size()), gw1(w.size()), gh2(h.size()), gw2(w.size());
  auto run = [&](int threads, std::vector<float>& gh, std::vector<float>& gw) {
    testing::ScopedThreads s(threads);
    return linear_cross_entropy(
        view<float>(h.data(), {T, H}), view<float>(w.data(), {V, H}),
        view<int64_t>(t.data(), {T}), {},
        {.grad_hidden = mutable_view<float>(gh.data(), {T, H}),
         .grad_weight = mutable_view<float>(gw.data(), {V, H})});
  };
  EXPECT_EQ(run(1, gh1, gw1), run(2, gh2, gw2));
  EXPECT_EQ(std::memcmp(gh1.data(), gh2.data(), gh1.size() * 4), 0);
  EXPECT_EQ(std::memcmp(gw1.data(), gw2.data(), gw1.size() * 4), 0);
}

TEST(LinearCrossEntropy, Errors) {
  Problem p;
  auto msg = [&](auto f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  std::vector<int64_t> bad = p.t;
  bad[2] = 11;
  EXPECT_NE(msg([&] {
              linear_cross_entropy(view<double>(p.h.data(), {p.T, p.H}),
                                   view<double>(p.w.data(), {p.V, p.H}),
                                   view<int64_t>(bad.data(), {p.T}));
            }).find("target 11 at index 2 is not a class"),
            std::string::npos);
  EXPECT_NE(msg([&] {
              linear_cross_entropy(view<double>(p.h.data(), {p.T, p.H}),
                                   view<double>(p.w.data(), {p.H, p.V}),
                                   view<int64_t>(p.t.data(), {p.T}));
            }).find("is weight transposed?"),
            std::string::npos);
  EXPECT_NE(msg([&] {
              linear_cross_entropy(view<double>(p.h.data(), {p.T, p.H}),
                                   view<double>(p.w.data(), {p.V, p.H}),
                                   view<int64_t>(p.t.data(), {p.T}),
                                   {.reduction = Reduction::kNone});
            }).find("needs outputs.out"),
            std::string::npos);
}

}  // namespace
}  // namespace losslab
