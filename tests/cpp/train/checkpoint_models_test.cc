// Tests of the composite-model checkpoints (save_model_checkpoint /
// load_model_checkpoint) and of the clipping and schedule options of the
// composite models' fits. Oracles: an uninterrupted run of the same seed
// (bitwise resume), closed forms written out here in double
// (torch.nn.utils.clip_grad_value_ / clip_grad_norm_, SGD p - lr g, StepLR
// gamma^t), and an FNV-1a written here to forge files with a valid hash.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/train/checkpoint.h"
#include "losslab/train/models.h"
#include "tests/cpp/testing.h"

namespace losslab::train {
namespace {

using testing::error_of;
using testing::random_vector;
using testing::temp_path;

std::vector<uint8_t> read_bytes(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
void write_bytes(const std::string& p, const std::vector<uint8_t>& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()),
          static_cast<std::streamsize>(b.size()));
}
// FNV-1a 64 (the format's hash), to forge files whose hash is valid.
uint64_t fnv(const std::vector<uint8_t>& b, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; ++i) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}
void rehash(std::vector<uint8_t>& b) {
  const uint64_t h = fnv(b, b.size() - 8);
  std::memcpy(b.data() + b.size() - 8, &h, 8);
}

std::vector<float> data01(int64_t n, int64_t d, uint32_t seed) {
  return random_vector<float>(n * d, seed, 0.0, 1.0);
}

const Schedule kSchedule = {.kind = ScheduleKind::kCosine,
                            .warmup_steps = 3,
                            .warmup_start_factor = 0.2,
                            .t_max = 20,
                            .eta_min = 1e-4};

ModelFitOptions fit_opts(int64_t epochs) {
  return {.epochs = epochs,
          .batch_size = 16,
          .seed = 7,
          .clip_grad_norm = 5.0,
          .clip_grad_value = 0.5,
          .schedule = kSchedule};
}

void expect_same_optimizer(const Optimizer& a, const Optimizer& b) {
  EXPECT_EQ(a.steps(), b.steps());
  ASSERT_EQ(a.state().size(), b.state().size());
  for (size_t i = 0; i < a.state().size(); ++i) {
    EXPECT_EQ(a.state()[i], b.state()[i]) << "buffer " << i;
  }
}

// ---- resume bitwise: 2 epochs + save + load + 2 epochs == 4 epochs ----

TEST(ModelCheckpoint, AutoencoderResumesBitwise) {
  const int64_t n = 40, d = 6;
  const auto x = data01(n, d, 1);
  const View xv = view<float>(x.data(), {n, d});
  const AutoencoderOptions ao{
      .in_features = d, .hidden = {8}, .latent = 2, .seed = 3};
  Autoencoder full(ao);
  Optimizer fopt({.kind = OptimizerKind::kAdam, .lr = 1e-2},
                 full.num_parameters());
  fit_autoencoder(full, fopt, xv, nullptr, fit_opts(4));

  Autoencoder part(ao);
  Optimizer popt({.kind = OptimizerKind::kAdam, .lr = 1e-2},
                 part.num_parameters());
  fit_autoencoder(part, popt, xv, nullptr, fit_opts(2));
  const std::string p = temp_path("ae.llm");
  save_model_checkpoint(p, part, &popt, &kSchedule);
  ModelCheckpoint ck = load_model_checkpoint(p, ModelKind::kAutoencoder);
  ASSERT_TRUE(ck.autoencoder && ck.optimizer && ck.schedule);
  EXPECT_EQ(ck.autoencoder->parameters(), part.parameters());
  EXPECT_EQ(ck.autoencoder->clock().epochs, 2);
  EXPECT_EQ(ck.schedule->t_max, kSchedule.t_max);
  fit_autoencoder(*ck.autoencoder, *ck.optimizer, xv, nullptr, fit_opts(2));
  EXPECT_EQ(ck.autoencoder->parameters(), full.parameters());
  EXPECT_EQ(ck.autoencoder->clock().steps, full.clock().steps);
  expect_same_optimizer(*ck.optimizer, fopt);
  std::remove(p.c_str());
}

TEST(ModelCheckpoint, VaeResumesBitwise) {
  const int64_t n = 40, d = 6;
  const auto x = data01(n, d, 2);
  const View xv = view<float>(x.data(), {n, d});
  const VaeModelOptions vo{
      .in_features = d, .hidden = {8}, .latent = 2, .beta = 0.5, .seed = 4};
  const OptimizerOptions oo{.kind = OptimizerKind::kRmsprop,
                            .lr = 1e-3,
                            .momentum = 0.9,
                            .centered = true};
  Vae full(vo);
  Optimizer fopt(oo, full.num_parameters());
  fit_vae(full, fopt, xv, nullptr, fit_opts(4));

  Vae part(vo);
  Optimizer popt(oo, part.num_parameters());
  fit_vae(part, popt, xv, nullptr, fit_opts(2));
  const std::string p = temp_path("vae.llm");
  save_model_checkpoint(p, part, &popt);
  ModelCheckpoint ck = load_model_checkpoint(p);
  ASSERT_EQ(ck.kind, ModelKind::kVae);
  ASSERT_TRUE(ck.vae && ck.optimizer);
  EXPECT_FALSE(ck.schedule);
  EXPECT_EQ(ck.vae->options().beta, 0.5);
  fit_vae(*ck.vae, *ck.optimizer, xv, nullptr, fit_opts(2));
  EXPECT_EQ(ck.vae->parameters(), full.parameters());
  expect_same_optimizer(*ck.optimizer, fopt);
  std::remove(p.c_str());
}

TEST(ModelCheckpoint, GanResumesBitwise) {
  const int64_t n = 32, d = 5;
  const auto x = data01(n, d, 3);
  const View xv = view<float>(x.data(), {n, d});
  const GanModelOptions go{.noise_dim = 3,
                           .data_dim = d,
                           .generator_hidden = {8},
                           .discriminator_hidden = {6},
                           .negative_slope = 0.1,
                           .output = "tanh",
                           .loss = "hinge",
                           .seed = 5};
  const OptimizerOptions oo{
      .kind = OptimizerKind::kAdam, .lr = 1e-3, .beta1 = 0.5};
  Gan full(go);
  Optimizer fg(oo, full.generator().num_parameters());
  Optimizer fd(oo, full.discriminator().num_parameters());
  fit_gan(full, fg, fd, xv, fit_opts(4));

  Gan part(go);
  Optimizer pg(oo, part.generator().num_parameters());
  Optimizer pd(oo, part.discriminator().num_parameters());
  fit_gan(part, pg, pd, xv, fit_opts(2));
  const std::string p = temp_path("gan.llm");
  save_model_checkpoint(p, part, &pg, &pd, &kSchedule);
  ModelCheckpoint ck = load_model_checkpoint(p, ModelKind::kGan);
  ASSERT_TRUE(ck.gan && ck.optimizer && ck.discriminator_optimizer);
  EXPECT_EQ(ck.gan->options().loss, "hinge");
  EXPECT_EQ(ck.gan->options().output, "tanh");
  fit_gan(*ck.gan, *ck.optimizer, *ck.discriminator_optimizer, xv, fit_opts(2));
  const auto params = [](Gan& g) {
    std::vector<float> v(g.generator().parameters().begin(),
                         g.generator().parameters().end());
    v.insert(v.end(), g.discriminator().parameters().begin(),
             g.discriminator().parameters().end());
    return v;
  };
  EXPECT_EQ(params(*ck.gan), params(full));
  expect_same_optimizer(*ck.optimizer, fg);
  expect_same_optimizer(*ck.discriminator_optimizer, fd);
  std::remove(p.c_str());
}

TEST(ModelCheckpoint, EmbeddingNetResumesBitwise) {
  const int64_t n = 48, d = 6;
  const auto x = data01(n, d, 4);
  std::vector<int64_t> y(n);
  for (int64_t i = 0; i < n; ++i) y[i] = i % 4;
  const View xv = view<float>(x.data(), {n, d});
  const View yv = view<int64_t>(y.data(), {n});
  const EmbeddingNetOptions eo{
      .in_features = d, .hidden = {8}, .embedding_dim = 3, .seed = 6};
  const EmbeddingLossOptions lo{.loss = "contrastive", .margin = 0.5};
  const OptimizerOptions oo{.kind = OptimizerKind::kSgd,
                            .lr = 0.05,
                            .momentum = 0.9,
                            .nesterov = true};
  EmbeddingNet full(eo);
  Optimizer fopt(oo, full.num_parameters());
  fit_embedding(full, fopt, xv, yv, lo, fit_opts(4));

  EmbeddingNet part(eo);
  Optimizer popt(oo, part.num_parameters());
  fit_embedding(part, popt, xv, yv, lo, fit_opts(2));
  const std::string p = temp_path("emb.llm");
  save_model_checkpoint(p, part, &popt);
  ModelCheckpoint ck = load_model_checkpoint(p);
  ASSERT_TRUE(ck.embedding_net && ck.optimizer);
  fit_embedding(*ck.embedding_net, *ck.optimizer, xv, yv, lo, fit_opts(2));
  const auto pv = [](EmbeddingNet& e) {
    return std::vector<float>(e.net().parameters().begin(),
                              e.net().parameters().end());
  };
  EXPECT_EQ(pv(*ck.embedding_net), pv(full));
  expect_same_optimizer(*ck.optimizer, fopt);
  std::remove(p.c_str());
}

// Without the clock a second fit would replay the first epochs' shuffles
// and noise: this is what the resume test above would then catch.
TEST(ModelCheckpoint, ClockAdvancesAcrossFits) {
  const int64_t n = 20, d = 4;
  const auto x = data01(n, d, 5);
  Vae v({.in_features = d, .hidden = {4}, .latent = 2});
  Optimizer o({}, v.num_parameters());
  fit_vae(v, o, view<float>(x.data(), {n, d}), nullptr,
          {.epochs = 3, .batch_size = 8});
  EXPECT_EQ(v.clock().epochs, 3);
  EXPECT_EQ(v.clock().steps, 9);  // 3 batches (8, 8, 4) per epoch
}

// ---- damaged and foreign files ----

class DamagedModelCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    Vae v({.in_features = 5, .hidden = {4}, .latent = 2, .seed = 1});
    Optimizer o({.kind = OptimizerKind::kAdam, .amsgrad = true},
                v.num_parameters());
    path_ = temp_path("damaged.llm");
    save_model_checkpoint(path_, v, &o, &kSchedule);
    good_ = read_bytes(path_);
    bad_ = path_ + ".bad";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    std::remove(bad_.c_str());
  }
  std::string load_bad(const std::vector<uint8_t>& b) {
    write_bytes(bad_, b);
    return error_of([&] { (void)load_model_checkpoint(bad_); });
  }
  std::string path_, bad_;
  std::vector<uint8_t> good_;
};

TEST_F(DamagedModelCheckpoint, TruncationIsAClearError) {
  ASSERT_GT(good_.size(), 200u);
  EXPECT_EQ(error_of([&] { (void)load_model_checkpoint(path_); }), "");
  // Every length through the header and options, then every 11th (each
  // load writes a file: the whole range would cost seconds).
  for (size_t len = 0; len < good_.size(); len += len < 128 ? 1 : 11) {
    const std::string msg =
        load_bad(std::vector<uint8_t>(good_.begin(), good_.begin() + len));
    ASSERT_NE(msg, "") << "length " << len;
    EXPECT_NE(msg.find("not a valid losslab model checkpoint"),
              std::string::npos)
        << msg;
  }
}

TEST_F(DamagedModelCheckpoint, FlippedBitsAreCaughtByTheHash) {
  for (size_t pos = 0; pos < good_.size(); pos += 23) {
    std::vector<uint8_t> b = good_;
    b[pos] ^= 0x10;
    const std::string msg = load_bad(b);
    ASSERT_NE(msg, "") << "byte " << pos;
  }
  std::vector<uint8_t> b = good_;
  b[good_.size() / 2] ^= 1;
  EXPECT_NE(load_bad(b).find("checksum does not match"), std::string::npos);
}

TEST_F(DamagedModelCheckpoint, WrongMagicAndVersion) {
  std::vector<uint8_t> b = good_;
  b[0] = 'X';
  EXPECT_NE(load_bad(b).find("magic 'LLMODEL'"), std::string::npos);
  b = good_;
  b[8] = 9;  // u32 version
  rehash(b);
  const std::string msg = load_bad(b);
  EXPECT_NE(msg.find("version 9 is not supported"), std::string::npos) << msg;
  write_bytes(bad_, {'h', 'e', 'l', 'l', 'o'});
  EXPECT_NE(error_of([&] { (void)load_model_checkpoint(bad_); }).find("magic"),
            std::string::npos);
}

// A forged file (valid hash) with a huge count or width is refused before
// any allocation.
TEST_F(DamagedModelCheckpoint, ForgedSizesAreRefusedBeforeAllocation) {
  // Layout: magic 8, version 4, flags 4, kind 1, in_features 8, hidden
  // count 8 (offset 25), ...
  std::vector<uint8_t> b = good_;
  const uint64_t huge = uint64_t(1) << 60;
  std::memcpy(b.data() + 25, &huge, 8);
  rehash(b);
  std::string msg = load_bad(b);
  EXPECT_NE(msg.find("bytes remain"), std::string::npos) << msg;
  b = good_;
  const int64_t wide = int64_t(1) << 40;  // in_features
  std::memcpy(b.data() + 17, &wide, 8);
  rehash(b);
  msg = load_bad(b);
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
  b = good_;
  const int64_t other = 7;  // in_features no longer matches the layers
  std::memcpy(b.data() + 17, &other, 8);
  rehash(b);
  msg = load_bad(b);
  EXPECT_NE(msg.find("do not match"), std::string::npos) << msg;
  // ... hidden[0] 8 (33), latent 8 (41), activation length 8 (49), then
  // "relu" (57): a non-ASCII byte in an option name.
  b = good_;
  ASSERT_EQ(b[57], 'r');
  b[57] = 0xff;
  rehash(b);
  msg = load_bad(b);
  EXPECT_NE(msg.find("not printable ASCII"), std::string::npos) << msg;
}

TEST(ModelCheckpoint, OtherKindsAndFormatsAreRefusedClearly) {
  Autoencoder a({.in_features = 4, .latent = 2});
  const std::string p = temp_path("kind.llm");
  save_model_checkpoint(p, a);
  std::string msg =
      error_of([&] { (void)load_model_checkpoint(p, ModelKind::kGan); });
  EXPECT_NE(msg.find("holds a Autoencoder checkpoint, not a GAN"),
            std::string::npos)
      << msg;
  msg = error_of([&] { (void)load_checkpoint(p); });
  EXPECT_NE(msg.find("composite-model checkpoint"), std::string::npos) << msg;
  // A Sequential checkpoint given to the model loader.
  Sequential s = mlp({.in_features = 3, .out_features = 1});
  save_checkpoint(p, s);
  msg = error_of([&] { (void)load_model_checkpoint(p); });
  EXPECT_NE(msg.find("Sequential checkpoint"), std::string::npos) << msg;
  EXPECT_NO_THROW((void)load_checkpoint(p));
  std::remove(p.c_str());
}

TEST(ModelCheckpoint, OptimizerOfAnotherSizeIsRefusedOnSave) {
  Autoencoder a({.in_features = 4, .latent = 2});
  Optimizer o({}, 3);
  const std::string msg =
      error_of([&] { save_model_checkpoint(temp_path("x.llm"), a, &o); });
  EXPECT_NE(msg.find("optimizer holds 3 parameters"), std::string::npos) << msg;
}

// ---- clipping and schedule of the composite fits ----

// One full-batch SGD step of an autoencoder with both clips against
// torch.nn.utils semantics written out in double: clamp to +-v, then
// g *= min(1, max_norm / (||g|| + 1e-6)), then p - lr g.
TEST(ModelFitClipping, MatchesTorchClosedForm) {
  const int64_t n = 12, d = 5;
  const auto x = data01(n, d, 9);
  for (const auto& [value, norm] :
       {std::pair{0.05, 0.0}, std::pair{0.0, 0.1}, std::pair{0.05, 0.1}}) {
    const AutoencoderOptions ao{.in_features = d,
                                .hidden = {6},
                                .latent = 2,
                                .activation = "tanh",
                                .seed = 2};
    Autoencoder ref(ao);
    const std::vector<float> p0 = ref.parameters();
    ref.loss_and_backward(x.data(), n);
    const std::vector<float> g32 = ref.gradients();
    std::vector<double> g(g32.begin(), g32.end());
    if (value > 0) {
      for (double& t : g) t = std::clamp(t, -value, value);
    }
    if (norm > 0) {
      double s = 0;
      for (double t : g) s += t * t;
      const double coef = std::min(1.0, norm / (std::sqrt(s) + 1e-6));
      ASSERT_LT(coef, 1.0);  // the clip is active
      for (double& t : g) t *= coef;
    }
    const double lr = 0.5;
    Autoencoder m(ao);
    Optimizer sgd({.kind = OptimizerKind::kSgd, .lr = lr}, m.num_parameters());
    fit_autoencoder(m, sgd, view<float>(x.data(), {n, d}), nullptr,
                    {.epochs = 1,
                     .batch_size = 0,
                     .shuffle = false,
                     .clip_grad_norm = norm,
                     .clip_grad_value = value});
    const std::vector<float> p1 = m.parameters();
    int clipped = 0;
    for (size_t i = 0; i < p0.size(); ++i) {
      const double want = p0[i] - lr * g[i];
      EXPECT_NEAR(p1[i], want, 1e-6 + 1e-6 * std::abs(want)) << i;
      clipped += std::abs(g32[i]) > value;
    }
    if (value > 0) EXPECT_GT(clipped, 0);
  }
}

// The lr of each epoch's (single) step is StepLR's lr0 gamma^t.
TEST(ModelFitClipping, ScheduleFollowsStepLrClosedForm) {
  const int64_t n = 8, d = 3;
  const auto x = data01(n, d, 10);
  Autoencoder m({.in_features = d, .latent = 1});
  Optimizer sgd({.kind = OptimizerKind::kSgd, .lr = 0.1}, m.num_parameters());
  const History h = fit_autoencoder(
      m, sgd, view<float>(x.data(), {n, d}), nullptr,
      {.epochs = 4,
       .batch_size = 0,
       .schedule = {
           .kind = ScheduleKind::kStep, .step_size = 1, .gamma = 0.5}});
  ASSERT_EQ(h.epochs.size(), 4u);
  for (int t = 0; t < 4; ++t) {
    EXPECT_DOUBLE_EQ(h.epochs[t].lr, 0.1 * std::pow(0.5, t));  // StepLR
  }
}

TEST(ModelFitClipping, BadClipValuesAreRefused) {
  const int64_t n = 4, d = 3;
  const auto x = data01(n, d, 11);
  Autoencoder m({.in_features = d, .latent = 1});
  Optimizer o({}, m.num_parameters());
  const std::string msg = error_of([&] {
    fit_autoencoder(m, o, view<float>(x.data(), {n, d}), nullptr,
                    {.clip_grad_value = -1.0});
  });
  EXPECT_NE(msg.find("clip_grad_value must be finite and >= 0"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace losslab::train
