// Tests of the training engine: layer gradients against central
// differences, optimizer steps and schedules against their written-out
// formulas, determinism across thread counts and seeds, checkpoints
// (round trip and every kind of damage) and argument errors. The torch
// step-by-step comparisons are in tests/python/test_train.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numbers>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/metrics.h"
#include "losslab/train/checkpoint.h"
#include "losslab/train/model.h"
#include "losslab/train/optimizer.h"
#include "losslab/train/trainer.h"
#include "tests/cpp/testing.h"

namespace losslab::train {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;

// L(params) = sum_ij r_ij f(x)_ij: its gradient is backward(r).
double weighted_output(Sequential& m, const std::vector<float>& x, int64_t n,
                       const std::vector<float>& r) {
  std::vector<float> y(static_cast<size_t>(n * m.out_features()));
  m.forward(x.data(), n, y.data(), false);
  double s = 0.0;
  for (size_t i = 0; i < y.size(); ++i) s += double(r[i]) * y[i];
  return s;
}

void check_gradient(const std::string& activation, double h = 1e-2,
                    double tol = 2e-3) {
  const int64_t n = 5, in = 4, out = 3;
  Sequential m = mlp({.in_features = in,
                      .hidden = {6, 5},
                      .out_features = out,
                      .activation = activation,
                      .seed = 3});
  const auto x = random_vector<float>(n * in, 1);
  const auto r = random_vector<float>(n * out, 2);
  std::vector<float> y(static_cast<size_t>(n * out)), gx(n * in);
  m.forward(x.data(), n, y.data(), true);
  m.backward(r.data(), gx.data());
  std::vector<double> analytic(m.gradients().begin(), m.gradients().end());
  std::vector<double> p0(m.parameters().begin(), m.parameters().end());
  // float32 model: a step of 1e-2 keeps rounding noise far below the
  // curvature error of smooth activations.
  const auto numeric = numeric_gradient(
      [&](const std::vector<double>& p) {
        for (size_t i = 0; i < p.size(); ++i) m.parameters()[i] = float(p[i]);
        return weighted_output(m, x, n, r);
      },
      p0, h);
  EXPECT_LT(rel_error(analytic, numeric), tol) << activation;
  // dL/dx as well.
  for (size_t i = 0; i < p0.size(); ++i) m.parameters()[i] = float(p0[i]);
  std::vector<double> xd(x.begin(), x.end());
  const auto nx = numeric_gradient(
      [&](const std::vector<double>& xv) {
        std::vector<float> xf(xv.begin(), xv.end());
        return weighted_output(m, xf, n, r);
      },
      xd, h);
  EXPECT_LT(rel_error(std::vector<double>(gx.begin(), gx.end()), nx), tol)
      << activation;
}

TEST(TrainModel, GradientsMatchCentralDifferences) {
  check_gradient("tanh");
  check_gradient("sigmoid");
}

TEST(TrainModel, ReluAndLeakyReluGradients) {
  // The network is piecewise linear: central differences are exact except
  // where a step crosses a kink, so a small step (float32 noise ~1e-4
  // relative) and a looser bound.
  check_gradient("relu", 1e-3, 1e-2);
  check_gradient("leaky_relu", 1e-3, 1e-2);
}

TEST(TrainModel, DenseMatchesWrittenOutProduct) {
  Sequential m({{LayerKind::kDense, 3, 2, 0.0}}, 7);
  auto p = m.parameters();  // W (2, 3) then b (2,)
  for (size_t i = 0; i < p.size(); ++i) p[i] = float(i + 1) * 0.5f;
  const std::vector<float> x = {1, -2, 3, 0.5f, 0, -1};
  std::vector<float> y(4);
  m.forward(x.data(), 2, y.data(), false);
  for (int r = 0; r < 2; ++r) {
    for (int o = 0; o < 2; ++o) {
      double s = p[6 + o];
      for (int i = 0; i < 3; ++i) s += double(p[o * 3 + i]) * x[r * 3 + i];
      EXPECT_FLOAT_EQ(y[r * 2 + o], float(s));
    }
  }
}

TEST(TrainModel, InitIsSeededAndBounded) {
  Sequential a =
      mlp({.in_features = 10, .hidden = {20}, .out_features = 2, .seed = 1});
  Sequential b =
      mlp({.in_features = 10, .hidden = {20}, .out_features = 2, .seed = 1});
  Sequential c =
      mlp({.in_features = 10, .hidden = {20}, .out_features = 2, .seed = 2});
  EXPECT_TRUE(std::equal(a.parameters().begin(), a.parameters().end(),
                         b.parameters().begin()));
  EXPECT_FALSE(std::equal(a.parameters().begin(), a.parameters().end(),
                          c.parameters().begin()));
  // He-uniform bound sqrt(6 / 10) for the first layer; biases 0.
  const float bound = float(std::sqrt(6.0 / 10.0));
  for (int i = 0; i < 200; ++i) EXPECT_LE(std::abs(a.parameters()[i]), bound);
  for (int i = 200; i < 220; ++i) EXPECT_EQ(a.parameters()[i], 0.0f);
}

TEST(TrainModel, DropoutScalesKeptUnitsAndIsIdentityInEval) {
  Sequential m(
      {{LayerKind::kDense, 1, 1, 0.0}, {LayerKind::kDropout, 0, 0, 0.5}}, 0);
  m.parameters()[0] = 1.0f;
  m.parameters()[1] = 0.0f;
  const int64_t n = 4000;
  std::vector<float> x(n, 1.0f), y(n);
  m.forward(x.data(), n, y.data(), false);
  for (float v : y) EXPECT_EQ(v, 1.0f);
  m.forward(x.data(), n, y.data(), true);
  int kept = 0;
  for (float v : y) {
    EXPECT_TRUE(v == 0.0f || v == 2.0f);
    kept += v != 0.0f;
  }
  EXPECT_NEAR(kept / double(n), 0.5, 0.05);
}

TEST(TrainOptimizer, SgdMomentumNesterovWritenOut) {
  std::vector<float> p = {1.0f, -2.0f}, g = {0.5f, 0.25f};
  Optimizer o({.kind = OptimizerKind::kSgd,
               .lr = 0.1,
               .weight_decay = 0.01,
               .momentum = 0.9,
               .nesterov = true},
              2);
  o.step(p, g, 0.1);
  // step 1: d = g + wd p; buf = d; update d + 0.9 buf = 1.9 d.
  const double d0 = 0.5 + 0.01 * 1.0;
  EXPECT_NEAR(p[0], 1.0 - 0.1 * 1.9 * d0, 1e-6);
  const double p1 = p[0];
  o.step(p, g, 0.1);
  const double d1 = 0.5 + 0.01 * p1;
  const double buf = 0.9 * d0 + d1;
  EXPECT_NEAR(p[0], p1 - 0.1 * (d1 + 0.9 * buf), 1e-6);
}

TEST(TrainOptimizer, AdamFirstStepIsSignStep) {
  // After one step m_hat = g and sqrt(v_hat) = |g|: p -= lr g / (|g| + eps).
  std::vector<float> p = {1.0f, 1.0f, 1.0f}, g = {3.0f, -0.5f, 1e-3f};
  Optimizer o({.kind = OptimizerKind::kAdam, .lr = 0.01}, 3);
  o.step(p, g, 0.01);
  for (int i = 0; i < 3; ++i) {
    const double gi = g[i];
    EXPECT_NEAR(p[i], 1.0 - 0.01 * gi / (std::abs(gi) + 1e-8), 1e-6);
  }
  // AdamW decays the parameter first: p (1 - lr wd).
  std::vector<float> q = {1.0f};
  std::vector<float> h = {2.0f};
  Optimizer w({.kind = OptimizerKind::kAdamW, .lr = 0.1, .weight_decay = 0.5},
              1);
  w.step(q, h, 0.1);
  EXPECT_NEAR(q[0], 1.0 * (1 - 0.05) - 0.1, 1e-6);
}

TEST(TrainOptimizer, RmspropCenteredWrittenOut) {
  std::vector<float> p = {1.0f}, g = {2.0f};
  Optimizer o({.kind = OptimizerKind::kRmsprop,
               .lr = 0.01,
               .alpha = 0.9,
               .centered = true},
              1);
  o.step(p, g, 0.01);
  const double sq = 0.1 * 4.0, ga = 0.1 * 2.0;
  EXPECT_NEAR(p[0], 1.0 - 0.01 * 2.0 / (std::sqrt(sq - ga * ga) + 1e-8), 1e-6);
}

TEST(TrainOptimizer, ClipGradNormAndValue) {
  std::vector<float> g = {3.0f, 4.0f};
  EXPECT_DOUBLE_EQ(clip_grad_norm(g, 1.0), 5.0);
  EXPECT_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
  EXPECT_NEAR(g[1], 4.0 / (5.0 + 1e-6), 1e-7);
  std::vector<float> h = {0.1f, 0.2f};
  clip_grad_norm(h, 10.0);  // below the norm: unchanged
  EXPECT_EQ(h[0], 0.1f);
  std::vector<float> v = {-3.0f, 0.5f, 2.0f};
  clip_grad_value(v, 1.0);
  EXPECT_EQ(v[0], -1.0f);
  EXPECT_EQ(v[1], 0.5f);
  EXPECT_EQ(v[2], 1.0f);
  EXPECT_THROW(clip_grad_norm(v, 0.0), Error);
}

TEST(TrainSchedule, ClosedForms) {
  const double pi = std::numbers::pi;
  Schedule cos{.kind = ScheduleKind::kCosine, .t_max = 10, .eta_min = 0.01};
  EXPECT_DOUBLE_EQ(scheduled_lr(0.1, cos, 0), 0.1);
  EXPECT_NEAR(scheduled_lr(0.1, cos, 3),
              0.01 + 0.09 * (1 + std::cos(pi * 3 / 10)) / 2, 1e-15);
  EXPECT_NEAR(scheduled_lr(0.1, cos, 25), 0.01, 1e-15);
  Schedule st{.kind = ScheduleKind::kStep, .step_size = 3, .gamma = 0.5};
  EXPECT_DOUBLE_EQ(scheduled_lr(1.0, st, 5), 0.5);
  EXPECT_DOUBLE_EQ(scheduled_lr(1.0, st, 6), 0.25);
  Schedule wu{.kind = ScheduleKind::kExponential,
              .warmup_steps = 4,
              .warmup_start_factor = 0.2,
              .gamma = 0.9};
  EXPECT_DOUBLE_EQ(scheduled_lr(1.0, wu, 0), 0.2);
  EXPECT_DOUBLE_EQ(scheduled_lr(1.0, wu, 2), 0.6);
  EXPECT_DOUBLE_EQ(scheduled_lr(1.0, wu, 4), 1.0);
  EXPECT_NEAR(scheduled_lr(1.0, wu, 6), 0.81, 1e-15);
  EXPECT_THROW(
      validate_schedule({.kind = ScheduleKind::kStep, .step_size = 0}, "t"),
      Error);
}

// A small regression problem: y = sum of the features + noise-free.
struct TrainToy {
  int64_t n = 300, in = 5;
  std::vector<float> x, y, w;
  TrainToy() {
    x = random_vector<float>(n * in, 11, -1, 1);
    y.resize(n);
    w.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t j = 0; j < in; ++j) s += std::sin(x[i * in + j] * (j + 1));
      y[i] = float(s);
      w[i] = float(1 + i % 3);
    }
  }
  Dataset data(bool weighted) const {
    return {view<float>(x.data(), Shape{n, in}),
            view<float>(y.data(), Shape{n}),
            weighted ? view<float>(w.data(), Shape{n}) : View{}};
  }
};

std::vector<float> train_once(int threads, uint64_t seed, bool weighted) {
  testing::ScopedThreads t(threads);
  TrainToy toy;
  Sequential m = mlp({.in_features = toy.in,
                      .hidden = {64, 32},
                      .out_features = 1,
                      .dropout = 0.1,
                      .seed = seed});
  Optimizer o({.kind = OptimizerKind::kAdam, .lr = 1e-2}, m.num_parameters());
  fit(m, o, {.name = "huber_loss", .options = {{"delta", 0.5}}},
      toy.data(weighted), nullptr,
      {.epochs = 3, .batch_size = 70, .seed = seed, .clip_grad_norm = 1.0});
  return {m.parameters().begin(), m.parameters().end()};
}

TEST(TrainFit, BitwiseIdenticalAtOneAndTwoThreadsAndPerSeed) {
  const auto a = train_once(1, 5, true);
  const auto b = train_once(2, 5, true);
  const auto c = train_once(2, 5, true);
  const auto d = train_once(1, 6, true);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
  EXPECT_EQ(std::memcmp(b.data(), c.data(), a.size() * 4), 0);
  EXPECT_NE(std::memcmp(a.data(), d.data(), a.size() * 4), 0);
}

TEST(TrainFit, LearnsAndStopsEarly) {
  TrainToy toy;
  Sequential m = mlp({.in_features = toy.in,
                      .hidden = {32},
                      .out_features = 1,
                      .activation = "tanh",
                      .seed = 0});
  Optimizer o({.kind = OptimizerKind::kAdam, .lr = 1e-2}, m.num_parameters());
  const Dataset d = toy.data(false);
  int calls = 0;
  History h =
      fit(m, o, {.name = "mse_loss"}, d, &d,
          {.epochs = 40,
           .batch_size = 32,
           .seed = 1,
           .metrics = {"rmse", "r2"},
           .monitor = "val_r2",
           .patience = 3,
           .restore_best = true,
           .callback = [&](const EpochLog&) { return ++calls < 1000; }});
  ASSERT_FALSE(h.epochs.empty());
  EXPECT_EQ(calls, int(h.epochs.size()));
  EXPECT_LT(h.epochs.back().train_loss, h.epochs.front().train_loss);
  const double best_r2 = h.epochs[h.best_epoch - 1].metrics.at("val_r2");
  EXPECT_GT(best_r2, h.epochs.front().metrics.at("val_r2"));
  EXPECT_GT(best_r2, 0.5);
  // restore_best put back the best epoch's weights.
  const std::vector<float> p = predict(m, d.x);
  EXPECT_NEAR(r2_score(view<float>(p.data(), Shape{toy.n}),
                       view<float>(toy.y.data(), Shape{toy.n})),
              best_r2, 1e-5);
  // The callback stops training.
  Optimizer o2({.kind = OptimizerKind::kSgd, .lr = 1e-2}, m.num_parameters());
  History h2 = fit(m, o2, {.name = "mse_loss"}, d, nullptr,
                   {.epochs = 10,
                    .monitor = "train_loss",
                    .callback = [](const EpochLog& l) { return l.epoch < 2; }});
  EXPECT_EQ(h2.epochs.size(), 2u);
  EXPECT_TRUE(h2.stopped_early);
}

TEST(TrainFit, WeightedLossIsWeightedMean) {
  // compute_loss with weights equals sum w l / sum w of the per-sample mse.
  const std::vector<float> out = {1, 2, 3}, y = {0, 0, 1}, w = {1, 2, 0.5f};
  std::vector<float> g(3);
  const double v = compute_loss({.name = "mse_loss"}, out.data(), 3, 1,
                                y.data(), w.data(), g.data());
  EXPECT_NEAR(v, (1 * 1 + 2 * 4 + 0.5 * 4) / 3.5, 1e-6);
  EXPECT_NEAR(g[1], 2 * 2 * 2 / 3.5, 1e-6);
}

TEST(TrainFit, Errors) {
  TrainToy toy;
  Sequential m = mlp({.in_features = toy.in, .out_features = 1});
  Optimizer o({}, m.num_parameters());
  EXPECT_THROW(
      fit(m, o, {.name = "no_such_loss"}, toy.data(false), nullptr, {}), Error);
  EXPECT_THROW(fit(m, o, {.name = "huber_loss", .options = {{"dleta", 1}}},
                   toy.data(false), nullptr, {}),
               Error);
  Dataset bad = toy.data(false);
  bad.x = view<float>(toy.x.data(), Shape{toy.n * toy.in / 5 / 1, 5 - 1 + 1});
  bad.x.shape = Shape{toy.n, toy.in - 1};
  EXPECT_THROW(fit(m, o, {}, bad, nullptr, {}), Error);
  EXPECT_THROW(fit(m, o, {}, toy.data(false), nullptr, {.epochs = 0}), Error);
  EXPECT_THROW(fit(m, o, {}, toy.data(false), nullptr,
                   {.batch_size = 1000, .drop_last = true}),
               Error);
  EXPECT_THROW(fit(m, o, {}, toy.data(false), nullptr, {.patience = 2}),
               Error);  // monitors val_loss without validation data
  Optimizer other({}, m.num_parameters() + 1);
  EXPECT_THROW(fit(m, other, {}, toy.data(false), nullptr, {}), Error);
  EXPECT_THROW(
      Sequential({{LayerKind::kDense, 3, 4, 0}, {LayerKind::kDense, 5, 1, 0}}),
      Error);
  EXPECT_THROW(Sequential({{LayerKind::kReLU, 0, 0, 0}}), Error);
  EXPECT_THROW(mlp({.in_features = 3, .activation = "gelu"}), Error);
  EXPECT_THROW(Optimizer({.kind = OptimizerKind::kAdam, .beta1 = 1.0}, 3),
               Error);
  EXPECT_THROW(Optimizer({.kind = OptimizerKind::kSgd, .nesterov = true}, 3),
               Error);
}

TEST(TrainFit, ARaisingFitLeavesTheModelAlone) {
  // Oracle: the model's own state before the call. Bad input is found
  // before anything changes; an exception during training (the callback's)
  // gives the previous precision back.
  TrainToy toy;
  Sequential m = mlp({.in_features = toy.in, .hidden = {4}, .out_features = 1});
  m.set_precision(Precision::kBf16);
  const std::vector<float> p0(m.parameters().begin(), m.parameters().end());
  Optimizer o({.kind = OptimizerKind::kSgd, .lr = 0.1}, m.num_parameters());
  std::vector<float> y = toy.y;
  y[toy.n - 1] = std::nanf("");  // in the last batch
  Dataset nan_target = toy.data(false);
  nan_target.y = view<float>(y.data(), Shape{toy.n});
  EXPECT_THROW(fit(m, o, {}, nan_target, nullptr,
                   {.shuffle = false, .precision = Precision::kFp16}),
               Error);
  EXPECT_THROW(fit(m, o, {.name = "huber_loss", .options = {{"dleta", 1}}},
                   toy.data(false), nullptr, {.precision = Precision::kFp16}),
               Error);
  EXPECT_THROW(fit(m, o, {}, toy.data(false), &nan_target,
                   {.precision = Precision::kFp32}),
               Error);
  EXPECT_EQ(m.precision(), Precision::kBf16);
  EXPECT_EQ(o.steps(), 0);
  EXPECT_TRUE(std::equal(p0.begin(), p0.end(), m.parameters().begin()));
  EXPECT_THROW(fit(m, o, {}, toy.data(false), nullptr,
                   {.epochs = 3,
                    .callback = [](const EpochLog&) -> bool {
                      throw std::runtime_error("stop");
                    },
                    .precision = Precision::kFp16}),
               std::runtime_error);
  EXPECT_EQ(m.precision(), Precision::kBf16);
  EXPECT_EQ(o.steps(), 10);  // the first epoch: 300 rows in batches of 32
  fit(m, o, {}, toy.data(false), nullptr,
      {.epochs = 1, .precision = Precision::kFp16});
  EXPECT_EQ(m.precision(), Precision::kFp16);  // a fit that returns keeps it
}

TEST(TrainModel, EvaluationForwardsFromThreadsMatchSerial) {
  // Evaluation forwards write nothing in the model, so threads may share it
  // (run under TSan this reported races before the fix). Oracle: the
  // serial outputs, bit for bit.
  for (Precision p : {Precision::kFp16, Precision::kBf16, Precision::kFp32}) {
    Sequential m({{LayerKind::kDense, 64, 128, 0.0},
                  {LayerKind::kReLU},
                  {LayerKind::kDense, 128, 4, 0.0}},
                 1);
    m.set_precision(p);
    const std::vector<float> x = random_vector<float>(4 * 64, 5, -1, 1);
    std::vector<float> ref(16);
    m.forward(x.data(), 4, ref.data(), false);
    std::vector<std::vector<float>> got(4, std::vector<float>(16));
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          m.forward(x.data(), 4, got[t].data(), false);
          mismatches[t] += got[t] != ref;
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) {
      EXPECT_EQ(mismatches[t], 0) << precision_name(p) << " thread " << t;
    }
  }
}

class TrainCheckpoint : public ::testing::Test {
 protected:
  std::string path = testing::temp_path("ckpt.bin");
  void TearDown() override { std::remove(path.c_str()); }
  std::vector<char> bytes() {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
  }
  void write(const std::vector<char>& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(b.data(), std::streamsize(b.size()));
  }
  std::string load_error() {
    try {
      load_checkpoint(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(TrainCheckpoint, RoundTripResumesBitwise) {
  TrainToy toy;
  Sequential m = mlp({.in_features = toy.in,
                      .hidden = {8},
                      .out_features = 1,
                      .dropout = 0.2,
                      .seed = 4});
  Optimizer o({.kind = OptimizerKind::kAdam, .lr = 1e-2, .amsgrad = true},
              m.num_parameters());
  const FitOptions fo{.epochs = 2, .batch_size = 50, .shuffle = false};
  fit(m, o, {}, toy.data(false), nullptr, fo);
  save_checkpoint(path, m, &o);
  Checkpoint ck = load_checkpoint(path);
  ASSERT_TRUE(ck.optimizer.has_value());
  EXPECT_EQ(ck.optimizer->steps(), o.steps());
  EXPECT_TRUE(std::equal(m.parameters().begin(), m.parameters().end(),
                         ck.model.parameters().begin()));
  // Continuing both gives the same weights.
  fit(m, o, {}, toy.data(false), nullptr, fo);
  fit(ck.model, *ck.optimizer, {}, toy.data(false), nullptr, fo);
  EXPECT_TRUE(std::equal(m.parameters().begin(), m.parameters().end(),
                         ck.model.parameters().begin()));
}

TEST_F(TrainCheckpoint, DamagedFilesGiveClearErrors) {
  Sequential m = mlp({.in_features = 3, .hidden = {4}, .out_features = 2});
  Optimizer o({.kind = OptimizerKind::kSgd, .momentum = 0.9},
              m.num_parameters());
  save_checkpoint(path, m, &o);
  const std::vector<char> good = bytes();
  ASSERT_GT(good.size(), 24u) << "the saved checkpoint could not be read back";
  // Truncation at every length reports an error, never a crash.
  for (size_t len = 0; len < good.size(); len += 7) {
    write(std::vector<char>(good.begin(), good.begin() + len));
    EXPECT_NE(load_error(), "") << len;
  }
  std::vector<char> b = good;
  b[0] = 'X';
  write(b);
  EXPECT_NE(load_error().find("magic"), std::string::npos);
  b = good;
  b[8] = 9;  // version 9
  write(b);
  EXPECT_NE(load_error().find("version 9"), std::string::npos);
  b = good;
  // The layer count (offset 16) claims 2^60 layers: refused before any
  // allocation.
  for (int i = 0; i < 8; ++i) b[16 + i] = i == 7 ? 0x10 : 0;
  write(b);
  EXPECT_NE(load_error().find("bytes remain"), std::string::npos);
  b = good;
  b[b.size() / 2] ^= 0x40;  // a flipped bit inside the parameters
  write(b);
  EXPECT_NE(load_error(), "");
  write(good);
  EXPECT_EQ(load_error(), "");
}

}  // namespace
}  // namespace losslab::train
