// Tests of the ready-made models (autoencoder, VAE, GAN, embedding net):
// the gradient of each model's total loss w.r.t. its parameters against
// central differences (float32 models, tanh units, step 1e-2, as the
// Sequential gradient tests), loss values against closed forms computed here
// in double, seeded determinism, the NaN guard and argument errors. The
// claims on real data are in tests/python/test_train_models.py.
#include "losslab/train/models.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "tests/cpp/testing.h"

namespace losslab::train {
namespace {

using testing::numeric_gradient;
using testing::random_vector;
using testing::rel_error;

constexpr double kStep = 1e-2;  // float32 forward: see train_test.cc
constexpr double kTol = 3e-3;

double softplus(double v) {
  return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}

std::vector<float> uniform01(int64_t n, uint32_t seed) {
  return random_vector<float>(n, seed, 0.0, 1.0);
}

// Evaluation-mode outputs of a Sequential.
std::vector<float> run(Sequential& m, const std::vector<float>& x, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n * m.out_features()));
  m.forward(x.data(), n, y.data(), false);
  return y;
}

// Central differences of f over the parameters get/set through `set`.
std::vector<double> fd(
    const std::vector<float>& p0,
    const std::function<void(const std::vector<float>&)>& set,
    const std::function<double()>& f) {
  return numeric_gradient(
      [&](const std::vector<double>& p) {
        set(std::vector<float>(p.begin(), p.end()));
        return f();
      },
      std::vector<double>(p0.begin(), p0.end()), kStep);
}

std::vector<double> to_double(const std::vector<float>& v) {
  return {v.begin(), v.end()};
}
std::vector<double> to_double(std::span<const float> v) {
  return {v.begin(), v.end()};
}

// ---- autoencoder ---------------------------------------------------------
// Oracle: reconstruction summed over features, mean over rows, in double.
double ae_oracle(Autoencoder& ae, const std::vector<float>& x, int64_t n,
                 bool bce) {
  const int64_t d = ae.options().in_features;
  const auto z = run(ae.encoder(), x, n);
  const auto y = run(ae.decoder(), z, n);
  double s = 0.0;
  for (int64_t k = 0; k < n * d; ++k) {
    s += bce ? softplus(y[k]) - double(x[k]) * y[k]
             : (double(y[k]) - x[k]) * (double(y[k]) - x[k]);
  }
  return s / double(n);
}

TEST(TrainModels, AutoencoderGradientMatchesCentralDifferences) {
  for (const std::string kind : {"mse", "bce_with_logits"}) {
    Autoencoder ae({.in_features = 5,
                    .hidden = {4},
                    .latent = 2,
                    .activation = "tanh",
                    .reconstruction = kind,
                    .seed = 1});
    const int64_t n = 6;
    const auto x = uniform01(n * 5, 2);
    const double v = ae.loss_and_backward(x.data(), n);
    const bool bce = kind != "mse";
    EXPECT_NEAR(v, ae_oracle(ae, x, n, bce), 1e-4 * std::abs(v)) << kind;
    const auto g = to_double(ae.gradients());
    const auto num = fd(
        ae.parameters(), [&](const auto& p) { ae.set_parameters(p); },
        [&] { return ae_oracle(ae, x, n, bce); });
    EXPECT_LT(rel_error(g, num), kTol) << kind;
  }
}

// ---- VAE -------------------------------------------------------------------
TEST(TrainModels, VaeGradientMatchesCentralDifferences) {
  for (const std::string kind : {"bce_with_logits", "mse"}) {
    Vae vae({.in_features = 6,
             .hidden = {5},
             .latent = 2,
             .activation = "tanh",
             .reconstruction = kind,
             .beta = 0.7,
             .seed = 4});
    const int64_t n = 5;
    const auto x = uniform01(n * 6, 5);
    const uint64_t counter = 17;
    const VaeLoss l = vae.loss_and_backward(x.data(), n, counter);
    EXPECT_NEAR(l.total, l.reconstruction + 0.7 * l.kl, 1e-5 * l.total);
    // The evaluation-mode loss with the same noise stream is the same
    // function of the parameters (no dropout): it is the FD target.
    const VaeLoss e = vae.loss(view<float>(x.data(), {n, 6}), counter);
    EXPECT_NEAR(e.total, l.total, 1e-4 * l.total) << kind;
    // KL oracle in double from the encoder outputs (mu, logvar).
    const auto [mu, lv] = vae.encode(view<float>(x.data(), {n, 6}));
    double kl = 0.0;
    for (size_t k = 0; k < mu.size(); ++k) {
      kl += -0.5 *
            (1.0 + lv[k] - double(mu[k]) * mu[k] - std::exp(double(lv[k])));
    }
    EXPECT_NEAR(l.kl, kl / double(n), 1e-4 * (1.0 + l.kl)) << kind;
    const auto g = to_double(vae.gradients());
    const auto num = fd(
        vae.parameters(), [&](const auto& p) { vae.set_parameters(p); },
        [&] {
          return vae.loss(view<float>(x.data(), {n, 6}), counter).total;
        });
    EXPECT_LT(rel_error(g, num), kTol) << kind;
  }
}

TEST(TrainModels, VaeNoiseDependsOnlyOnCounter) {
  Vae vae({.in_features = 4, .hidden = {3}, .latent = 2, .seed = 0});
  const auto x = uniform01(3 * 4, 1);
  const double a = vae.loss_and_backward(x.data(), 3, 5).total;
  const double b = vae.loss_and_backward(x.data(), 3, 5).total;
  const double c = vae.loss_and_backward(x.data(), 3, 6).total;
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// ---- GAN -----------------------------------------------------------------
TEST(TrainModels, GanGradientsMatchCentralDifferences) {
  Gan gan({.noise_dim = 3,
           .data_dim = 4,
           .generator_hidden = {5},
           .discriminator_hidden = {5},
           .generator_activation = "tanh",
           .discriminator_activation = "tanh",
           .seed = 2});
  const int64_t n = 6;
  const auto real = uniform01(n * 4, 3);
  const auto z = gan.noise(n, 7, 0);
  // Discriminator: mean softplus(-D(real)) + mean softplus(D(G(z))), in
  // double (non-saturating / minimax discriminator loss).
  const auto d_oracle = [&] {
    const auto fake = run(gan.generator(), z, n);
    const auto r = run(gan.discriminator(), real, n);
    const auto f = run(gan.discriminator(), fake, n);
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += softplus(-r[i]) + softplus(f[i]);
    return s / double(n);
  };
  const double ld =
      gan.discriminator_loss_and_backward(real.data(), z.data(), n);
  EXPECT_NEAR(ld, d_oracle(), 1e-5 * ld);
  Sequential& D = gan.discriminator();
  const auto gd = to_double(D.gradients());
  const std::vector<float> pd(D.parameters().begin(), D.parameters().end());
  const auto numd = fd(
      pd,
      [&](const auto& p) {
        std::copy(p.begin(), p.end(), D.parameters().begin());
      },
      d_oracle);
  EXPECT_LT(rel_error(gd, numd), kTol);
  std::copy(pd.begin(), pd.end(), D.parameters().begin());

  // Generator (non-saturating): mean softplus(-D(G(z))), through D.
  const auto g_oracle = [&] {
    const auto f = run(gan.discriminator(), run(gan.generator(), z, n), n);
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += softplus(-f[i]);
    return s / double(n);
  };
  const double lg = gan.generator_loss_and_backward(z.data(), n);
  EXPECT_NEAR(lg, g_oracle(), 1e-5 * lg);
  EXPECT_EQ(std::vector<float>(D.parameters().begin(), D.parameters().end()),
            pd)
      << "the generator step must not change the discriminator";
  Sequential& G = gan.generator();
  const auto gg = to_double(G.gradients());
  const std::vector<float> pg(G.parameters().begin(), G.parameters().end());
  const auto numg = fd(
      pg,
      [&](const auto& p) {
        std::copy(p.begin(), p.end(), G.parameters().begin());
      },
      g_oracle);
  EXPECT_LT(rel_error(gg, numg), kTol);
}

TEST(TrainModels, GanStopsOnNonFiniteLoss) {
  Gan gan({.noise_dim = 2,
           .data_dim = 3,
           .generator_hidden = {4},
           .discriminator_hidden = {4},
           .seed = 0});
  gan.discriminator().parameters()[0] = std::nanf("");
  const auto x = uniform01(8 * 3, 1);
  Optimizer og({.lr = 1e-3}, gan.generator().num_parameters());
  Optimizer od({.lr = 1e-3}, gan.discriminator().num_parameters());
  try {
    fit_gan(gan, og, od, view<float>(x.data(), {8, 3}),
            {.epochs = 1, .batch_size = 4});
    FAIL() << "expected losslab::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("epoch 1"), std::string::npos)
        << e.what();
  }
}

// ---- embedding net -------------------------------------------------------
TEST(TrainModels, EmbeddingGradientMatchesCentralDifferences) {
  const int64_t n = 8, in = 5;
  const auto x = random_vector<float>(n * in, 9, -1.0, 1.0);
  const std::vector<int64_t> y = {0, 1, 2, 0, 1, 2, 0, 1};
  struct Case {
    std::string loss, mining;
    bool normalize;
  };
  for (const Case& c :
       {Case{"triplet", "random", true}, Case{"triplet", "random", false},
        Case{"triplet", "batch_hard", true}, Case{"triplet", "batch_all", true},
        Case{"contrastive", "random", true},
        Case{"contrastive", "batch_hard", true}}) {
    EmbeddingNet net({.in_features = in,
                      .hidden = {6},
                      .embedding_dim = 3,
                      .activation = "tanh",
                      .normalize = c.normalize,
                      .seed = 3});
    // A large margin keeps every triplet / pair active, so the loss is
    // smooth around the parameters.
    const EmbeddingLossOptions lo{
        .loss = c.loss, .mining = c.mining, .margin = 3.0};
    const double v = net.loss_and_backward(x.data(), y.data(), n, lo, 1, 2);
    EXPECT_GT(v, 0.0);
    const auto g = to_double(net.net().gradients());
    Sequential& m = net.net();
    const std::vector<float> p0(m.parameters().begin(), m.parameters().end());
    const auto num = fd(
        p0,
        [&](const auto& p) {
          std::copy(p.begin(), p.end(), m.parameters().begin());
        },
        [&] { return net.loss_and_backward(x.data(), y.data(), n, lo, 1, 2); });
    EXPECT_LT(rel_error(g, num), kTol)
        << c.loss << " " << c.mining << " " << c.normalize;
  }
}

TEST(TrainModels, EmbeddingIsUnitNormWhenNormalized) {
  EmbeddingNet net({.in_features = 4, .hidden = {5}, .embedding_dim = 3});
  const auto x = random_vector<float>(10 * 4, 1);
  const auto e = net.embed(view<float>(x.data(), {10, 4}));
  for (int i = 0; i < 10; ++i) {
    double s = 0.0;
    for (int j = 0; j < 3; ++j) s += double(e[i * 3 + j]) * e[i * 3 + j];
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
}

// ---- determinism -----------------------------------------------------------
TEST(TrainModels, SameSeedGivesBitwiseIdenticalWeights) {
  const int64_t n = 40;
  const auto x = uniform01(n * 6, 1);
  std::vector<int64_t> y(n);
  for (int64_t i = 0; i < n; ++i) y[i] = i % 4;
  const View xv = view<float>(x.data(), {n, 6});
  const auto vae_run = [&](uint64_t seed) {
    Vae m({.in_features = 6, .hidden = {8}, .latent = 2, .seed = 0});
    Optimizer o({.lr = 1e-2}, m.num_parameters());
    fit_vae(m, o, xv, nullptr, {.epochs = 3, .batch_size = 16, .seed = seed});
    return m.parameters();
  };
  EXPECT_EQ(vae_run(1), vae_run(1));
  EXPECT_NE(vae_run(1), vae_run(2));
  const auto ae_run = [&](uint64_t seed) {
    Autoencoder m({.in_features = 6, .hidden = {8}, .latent = 2});
    Optimizer o({.lr = 1e-2}, m.num_parameters());
    fit_autoencoder(m, o, xv, nullptr,
                    {.epochs = 3, .batch_size = 16, .seed = seed});
    return m.parameters();
  };
  EXPECT_EQ(ae_run(1), ae_run(1));
  EXPECT_NE(ae_run(1), ae_run(2));
  const auto gan_run = [&](uint64_t seed) {
    Gan m({.noise_dim = 3,
           .data_dim = 6,
           .generator_hidden = {8},
           .discriminator_hidden = {8}});
    Optimizer og({.lr = 1e-2}, m.generator().num_parameters());
    Optimizer od({.lr = 1e-2}, m.discriminator().num_parameters());
    fit_gan(m, og, od, xv, {.epochs = 3, .batch_size = 16, .seed = seed});
    std::vector<float> p(m.generator().parameters().begin(),
                         m.generator().parameters().end());
    p.insert(p.end(), m.discriminator().parameters().begin(),
             m.discriminator().parameters().end());
    return p;
  };
  EXPECT_EQ(gan_run(1), gan_run(1));
  EXPECT_NE(gan_run(1), gan_run(2));
  for (const std::string loss : {"triplet", "contrastive"}) {
    const auto emb_run = [&](uint64_t seed) {
      EmbeddingNet m({.in_features = 6, .hidden = {8}, .embedding_dim = 3});
      Optimizer o({.lr = 1e-2}, m.num_parameters());
      fit_embedding(m, o, xv, view<int64_t>(y.data(), {n}), {.loss = loss},
                    {.epochs = 3, .batch_size = 16, .seed = seed});
      const auto p = m.net().parameters();
      return std::vector<float>(p.begin(), p.end());
    };
    EXPECT_EQ(emb_run(1), emb_run(1)) << loss;
    EXPECT_NE(emb_run(1), emb_run(2)) << loss;
  }
}

TEST(TrainModels, BitwiseIdenticalAtOneAndTwoThreads) {
  // Batches of 200 rows span several 64-row GEMM blocks of the pool.
  const int64_t n = 400;
  const auto x = uniform01(n * 12, 4);
  std::vector<int64_t> y(n);
  for (int64_t i = 0; i < n; ++i) y[i] = (i * 7) % 5;
  const auto run = [&](int threads) {
    testing::ScopedThreads t(threads);
    Vae v({.in_features = 12, .hidden = {48}, .latent = 3, .seed = 1});
    Optimizer ov({.lr = 1e-2}, v.num_parameters());
    fit_vae(v, ov, view<float>(x.data(), {n, 12}), nullptr,
            {.epochs = 2, .batch_size = 200, .seed = 3});
    EmbeddingNet e({.in_features = 12, .hidden = {48}, .embedding_dim = 4});
    Optimizer oe({.lr = 1e-2}, e.num_parameters());
    fit_embedding(e, oe, view<float>(x.data(), {n, 12}),
                  view<int64_t>(y.data(), {n}),
                  {.mining = "batch_all", .margin = 0.2},
                  {.epochs = 2, .batch_size = 200, .seed = 3});
    std::vector<float> p = v.parameters();
    p.insert(p.end(), e.net().parameters().begin(), e.net().parameters().end());
    return p;
  };
  EXPECT_EQ(run(1), run(2));
}

TEST(TrainModels, VaeTrainingImprovesTheElbo) {
  // Two prototype patterns plus noise: the ELBO must rise over training.
  const int64_t n = 64, d = 8;
  const auto u = uniform01(n * d, 3);
  std::vector<float> x(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      const float proto = ((i % 2 == 0) == (j < d / 2)) ? 0.9f : 0.1f;
      x[i * d + j] = u[i * d + j] < proto ? 1.0f : 0.0f;
    }
  }
  Vae m({.in_features = d, .hidden = {16}, .latent = 2, .seed = 0});
  Optimizer o({.lr = 1e-2}, m.num_parameters());
  const View xv = view<float>(x.data(), {n, d});
  const History h = fit_vae(m, o, xv, &xv, {.epochs = 30, .batch_size = 16});
  ASSERT_EQ(h.epochs.size(), 30u);
  EXPECT_GT(h.epochs.back().metrics.at("elbo"),
            h.epochs.front().metrics.at("elbo") + 0.5);
  EXPECT_NEAR(h.epochs.back().metrics.at("elbo"),
              -(h.epochs.back().metrics.at("reconstruction") +
                h.epochs.back().metrics.at("kl")),
              1e-9);
  EXPECT_TRUE(std::isfinite(h.epochs.back().val_loss));
}

// ---- errors ---------------------------------------------------------------
TEST(TrainModels, BadArgumentsRaiseErrors) {
  EXPECT_THROW(Autoencoder({.in_features = 4, .reconstruction = "bce"}), Error);
  EXPECT_THROW(Autoencoder({.in_features = 0}), Error);
  EXPECT_THROW(Vae({.in_features = 4, .beta = -1.0}), Error);
  EXPECT_THROW(Gan({.data_dim = 4, .output = "relu"}), Error);
  EXPECT_THROW(Gan({.data_dim = 4, .loss = "bogus"}), Error);
  Vae m({.in_features = 4, .latent = 2});
  Optimizer wrong({.lr = 1e-3}, m.num_parameters() + 1);
  const auto x = uniform01(8 * 4, 1);
  try {
    fit_vae(m, wrong, view<float>(x.data(), {8, 4}), nullptr, {});
    FAIL() << "expected losslab::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer"), std::string::npos);
  }
  Optimizer ok({.lr = 1e-3}, m.num_parameters());
  EXPECT_THROW(fit_vae(m, ok, view<float>(x.data(), {4, 8}), nullptr, {}),
               Error);
  EmbeddingNet e({.in_features = 4});
  Optimizer oe({.lr = 1e-3}, e.num_parameters());
  std::vector<int64_t> y(8, 0);
  EXPECT_THROW(fit_embedding(e, oe, view<float>(x.data(), {8, 4}),
                             view<int64_t>(y.data(), {7}), {}, {}),
               Error);
  EXPECT_THROW(
      fit_embedding(e, oe, view<float>(x.data(), {8, 4}),
                    view<int64_t>(y.data(), {8}), {.mining = "semi_hard"}, {}),
      Error);
}

}  // namespace
}  // namespace losslab::train
