// losslab/train/models.h: ready-made models made of Sequentials — an
// autoencoder, a VAE, a GAN and an embedding network — with explicit
// forward / backward and their training loops.
//
//   losslab::train::Vae vae({.in_features = 64, .hidden = {128},
//                            .latent = 8, .seed = 0});
//   losslab::train::Optimizer opt({.lr = 1e-3}, vae.num_parameters());
//   losslab::train::History h = losslab::train::fit_vae(
//       vae, opt, losslab::view<float>(x.data(), {n, 64}), nullptr,
//       {.epochs = 20, .batch_size = 64, .seed = 0});
//
// Parameters. Each model is an aggregate of Sequentials (each owning a flat
// float32 buffer). parameters() / gradients() are the concatenation in the
// order the model lists its parts (encoder then decoder; generator then
// discriminator), and one Optimizer over num_parameters() steps them: the
// training loops gather the parts into one flat buffer, step, and scatter
// back (an update is elementwise, so this equals one optimizer per part).
// The GAN trains its two parts with two optimizers.
//
// Losses are the library's: reconstruction_loss, vae_loss, the GAN losses,
// triplet_margin_loss / batch_hard_triplet_loss / batch_all_triplet_loss and
// contrastive_loss (docs/losses_generative.md, docs/losses_embedding.md).
// Every random draw (shuffles, VAE noise, GAN noise, triplet mining) is a
// SplitMix64 hash of (seed, counter, index), so the same seed gives bitwise
// identical weights at any thread count. A non-finite loss stops training
// with losslab::Error naming the model, epoch and step.
#ifndef LOSSLAB_TRAIN_MODELS_H_
#define LOSSLAB_TRAIN_MODELS_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "losslab/core/view.h"
#include "losslab/losses/generative.h"
#include "losslab/train/model.h"
#include "losslab/train/optimizer.h"
#include "losslab/train/trainer.h"

namespace losslab::train {

// Options of the training loops below (a subset of FitOptions).
struct ModelFitOptions {
  int64_t epochs = 10;
  int64_t batch_size = 64;  // 0: full batch
  bool shuffle = true;      // seeded Fisher-Yates per epoch
  bool drop_last = false;
  uint64_t seed = 0;
  // torch.nn.utils semantics, as fit(): clip_grad_value_ first, then
  // clip_grad_norm_ over all the parameters one optimizer steps (both parts
  // of an autoencoder / VAE; each GAN part on its own). 0: off.
  double clip_grad_norm = 0.0;
  double clip_grad_value = 0.0;
  Schedule schedule = {};  // over each optimizer's step count
  // Called after every epoch; return false to stop.
  std::function<bool(const EpochLog&)> callback = {};
};

// Training clock of a model: the epochs and mini-batch steps done by its
// fits so far. A fit continues it: epoch k of a fit shuffles with epoch
// number clock.epochs + k and step t draws its noise / mining with counter
// clock.steps + t, so fit(2 epochs) + fit(2 epochs) (or save + load in
// between: checkpoints keep the clock) equals fit(4 epochs) bitwise.
struct TrainingClock {
  int64_t epochs = 0;
  int64_t steps = 0;
};

// ---------------------------------------------------------------------------
// Autoencoder: encoder MLP in -> hidden... -> latent, decoder MLP latent ->
// reversed(hidden)... -> in (linear output). Loss: reconstruction_loss
// (summed over features, mean over the batch) of the decoder output against
// the input; "bce_with_logits" treats the output as logits of pixels in
// [0, 1] (reconstruct() then applies the sigmoid), "mse" as values.
struct AutoencoderOptions {
  int64_t in_features = 0;
  std::vector<int64_t> hidden = {};
  int64_t latent = 2;
  std::string activation = "relu";     // relu, leaky_relu, tanh, sigmoid
  std::string reconstruction = "mse";  // "mse" | "bce_with_logits"
  uint64_t seed = 0;
};

class Autoencoder {
 public:
  explicit Autoencoder(const AutoencoderOptions& options);

  const AutoencoderOptions& options() const noexcept { return options_; }
  Sequential& encoder() noexcept { return encoder_; }
  Sequential& decoder() noexcept { return decoder_; }
  const Sequential& encoder() const noexcept { return encoder_; }
  const Sequential& decoder() const noexcept { return decoder_; }
  const TrainingClock& clock() const noexcept { return clock_; }
  void set_clock(const TrainingClock& c) noexcept { clock_ = c; }
  int64_t num_parameters() const noexcept;
  std::vector<float> parameters() const;  // encoder, then decoder
  void set_parameters(std::span<const float> values);
  std::vector<float> gradients() const;

  // Mean loss of the batch x (n, in_features); fills gradients().
  double loss_and_backward(const float* x, int64_t n);
  // Evaluation mode, any n (blocks of rows).
  std::vector<float> encode(View x);  // (n, latent)
  std::vector<float> decode(View z);  // (n, in); sigmoid for bce
  double loss(View x);                // mean loss, no gradients

 private:
  AutoencoderOptions options_;
  ReconKind kind_;
  Sequential encoder_, decoder_;
  TrainingClock clock_;
  std::vector<float> z_, out_, g_out_, g_z_;
};

History fit_autoencoder(Autoencoder& model, Optimizer& optimizer, View x,
                        const View* validation, const ModelFitOptions& options);

// ---------------------------------------------------------------------------
// VAE (Kingma & Welling 2014). The encoder MLP maps x to 2 * latent outputs,
// split into mu (first half) and logvar; z = mu + exp(logvar / 2) eps with
// eps ~ N(0, I) drawn by Box-Muller from SplitMix64(seed, counter, index);
// the decoder MLP maps z to logits ("bce_with_logits", for x in [0, 1]) or
// values ("mse"). Loss per sample (vae_loss, mean over the batch):
//   L = reconstruction(x, dec(z)) (summed over features) + beta KL(q || p),
//   KL = -1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)).
// -L is the ELBO (beta = 1). Backward: dL/dz from the decoder, then
//   dL/dmu = dL/dz + beta mu,
//   dL/dlogvar = dL/dz eps exp(logvar / 2) / 2 + beta (exp(logvar) - 1) / 2.
struct VaeModelOptions {
  int64_t in_features = 0;
  std::vector<int64_t> hidden = {};
  int64_t latent = 2;
  std::string activation = "relu";
  std::string reconstruction = "bce_with_logits";  // or "mse"
  double beta = 1.0;
  uint64_t seed = 0;
};

struct VaeLoss {
  double total = 0.0, reconstruction = 0.0, kl = 0.0;  // batch means
};

class Vae {
 public:
  explicit Vae(const VaeModelOptions& options);

  const VaeModelOptions& options() const noexcept { return options_; }
  Sequential& encoder() noexcept { return encoder_; }
  Sequential& decoder() noexcept { return decoder_; }
  const Sequential& encoder() const noexcept { return encoder_; }
  const Sequential& decoder() const noexcept { return decoder_; }
  const TrainingClock& clock() const noexcept { return clock_; }
  void set_clock(const TrainingClock& c) noexcept { clock_ = c; }
  int64_t num_parameters() const noexcept;
  std::vector<float> parameters() const;  // encoder, then decoder
  void set_parameters(std::span<const float> values);
  std::vector<float> gradients() const;

  // One training forward + backward on x (n, in_features) with the noise of
  // stream `noise_counter` (the same counter gives the same eps); fills
  // gradients(). A non-finite loss is returned without a backward (fit_vae
  // then stops with an error).
  VaeLoss loss_and_backward(const float* x, int64_t n, uint64_t noise_counter);
  // Loss without gradients (evaluation mode) with the noise of
  // `noise_counter`; in blocks of rows.
  VaeLoss loss(View x, uint64_t noise_counter);

  // Evaluation mode: encode gives (mu, logvar), each (n, latent).
  std::pair<std::vector<float>, std::vector<float>> encode(View x);
  // Decoder output for z (n, latent): probabilities (sigmoid) for
  // bce_with_logits, values for mse.
  std::vector<float> decode(View z);
  // decode(mu(x)): the deterministic reconstruction.
  std::vector<float> reconstruct(View x);
  // decode(z) for n draws z ~ N(0, I) from (seed, counter).
  std::vector<float> sample(int64_t n, uint64_t seed);

 private:
  VaeModelOptions options_;
  ReconKind kind_;
  Sequential encoder_, decoder_;
  TrainingClock clock_;
  std::vector<float> h_, mu_, logvar_, eps_, z_, recon_, g_recon_, g_mu_,
      g_logvar_, g_z_, g_h_;
};

// Logs per epoch: train_loss (mean -ELBO for beta = 1), metrics
// "reconstruction", "kl", "elbo" (= -(reconstruction + kl)), and with
// validation data val_loss and "val_reconstruction", "val_kl", "val_elbo"
// (noise from a fixed stream, the same every epoch).
History fit_vae(Vae& model, Optimizer& optimizer, View x,
                const View* validation, const ModelFitOptions& options);

// ---------------------------------------------------------------------------
// GAN (Goodfellow et al. 2014). Generator: MLP noise_dim -> hidden... ->
// data_dim, then sigmoid (data in [0, 1]) or tanh (data in [-1, 1]).
// Discriminator: MLP data_dim -> hidden... -> 1 logit (leaky_relu by
// default). Each step: one discriminator update on a real batch and a fake
// batch (gan_discriminator_loss), then one generator update on fresh noise
// (gan_generator_loss, non-saturating by default) whose gradient reaches the
// generator through the discriminator's backward(grad_y, grad_x); the
// discriminator's parameters are not changed in the generator step.
struct GanModelOptions {
  int64_t noise_dim = 16;
  int64_t data_dim = 0;
  std::vector<int64_t> generator_hidden = {};
  std::vector<int64_t> discriminator_hidden = {};
  std::string generator_activation = "relu";
  std::string discriminator_activation = "leaky_relu";
  double negative_slope = 0.2;          // leaky_relu
  std::string output = "sigmoid";       // "sigmoid" | "tanh"
  std::string loss = "non_saturating";  // a GanKind name
  uint64_t seed = 0;
};

class Gan {
 public:
  explicit Gan(const GanModelOptions& options);

  const GanModelOptions& options() const noexcept { return options_; }
  Sequential& generator() noexcept { return generator_; }
  Sequential& discriminator() noexcept { return discriminator_; }
  const Sequential& generator() const noexcept { return generator_; }
  const Sequential& discriminator() const noexcept { return discriminator_; }
  const TrainingClock& clock() const noexcept { return clock_; }
  void set_clock(const TrainingClock& c) noexcept { clock_ = c; }

  // Noise (n, noise_dim) ~ N(0, I) of stream (seed, counter).
  std::vector<float> noise(int64_t n, uint64_t seed, uint64_t counter) const;
  // Discriminator loss on a real batch (n, data_dim) and the generator's
  // samples of `z` (n, noise_dim); fills discriminator().gradients().
  double discriminator_loss_and_backward(const float* real, const float* z,
                                         int64_t n);
  // Mean discriminator logits on the real / fake halves of the last
  // discriminator_loss_and_backward.
  double last_real_logit() const noexcept { return last_real_; }
  double last_fake_logit() const noexcept { return last_fake_; }
  // Generator loss of noise z (n, noise_dim); fills generator().gradients()
  // through the discriminator (whose gradients() are overwritten but whose
  // parameters are not stepped).
  double generator_loss_and_backward(const float* z, int64_t n);

  std::vector<float> generate(View z);                  // (n, data_dim)
  std::vector<float> sample(int64_t n, uint64_t seed);  // generate(noise)
  std::vector<float> discriminate(View x);              // (n,) logits

 private:
  GanModelOptions options_;
  GanKind kind_;
  Sequential generator_, discriminator_;
  TrainingClock clock_;
  std::vector<float> fake_, both_, d_out_, g_d_, g_fake_;
  double last_real_ = 0.0, last_fake_ = 0.0;
};

// Logs per epoch: train_loss = mean discriminator loss; metrics "d_loss",
// "g_loss", "d_real", "d_fake" (mean logits). A non-finite loss throws.
History fit_gan(Gan& model, Optimizer& generator_optimizer,
                Optimizer& discriminator_optimizer, View x,
                const ModelFitOptions& options);

// ---------------------------------------------------------------------------
// Embedding network: an MLP in -> hidden... -> embedding_dim, optionally
// L2-normalised: e = y / max(||y||, eps), whose Jacobian gives
//   dL/dy = (g - e (e . g)) / ||y||  (g / eps when ||y|| <= eps).
struct EmbeddingNetOptions {
  int64_t in_features = 0;
  std::vector<int64_t> hidden = {};
  int64_t embedding_dim = 32;
  std::string activation = "relu";
  bool normalize = true;
  double eps = 1e-12;
  uint64_t seed = 0;
};

// Losses of fit_embedding on a mini-batch with labels:
//   "triplet": triplet_margin_loss on mined triplets. mining "random": for
//     every anchor with a positive in the batch, a uniformly drawn positive
//     (same label, other row) and negative (other label); "batch_hard":
//     batch_hard_triplet_loss (farthest positive, nearest negative);
//     "batch_all": batch_all_triplet_loss (mean over active triplets).
//   "contrastive": contrastive_loss on pairs. mining "random": every anchor
//     is paired with a uniformly drawn positive with probability 1/2 (when it
//     has one), else with a uniformly drawn negative; "batch_hard": every
//     anchor gives two pairs, its farthest positive and its nearest negative.
struct EmbeddingLossOptions {
  std::string loss = "triplet";   // "triplet" | "contrastive"
  std::string mining = "random";  // see above
  double margin = 1.0;
};

class EmbeddingNet {
 public:
  explicit EmbeddingNet(const EmbeddingNetOptions& options);

  const EmbeddingNetOptions& options() const noexcept { return options_; }
  Sequential& net() noexcept { return net_; }
  const Sequential& net() const noexcept { return net_; }
  const TrainingClock& clock() const noexcept { return clock_; }
  void set_clock(const TrainingClock& c) noexcept { clock_ = c; }
  int64_t num_parameters() const noexcept { return net_.num_parameters(); }

  // Training forward: embeddings (n, embedding_dim) of x, kept for backward.
  const std::vector<float>& forward(const float* x, int64_t n);
  // dL/dembeddings (n, embedding_dim) -> gradients() of net().
  void backward(const float* grad_embeddings);
  // Mean loss of one batch with labels (n,) (int64), with the mining draws
  // of stream (seed, counter); fills net().gradients().
  double loss_and_backward(const float* x, const int64_t* labels, int64_t n,
                           const EmbeddingLossOptions& loss, uint64_t seed,
                           uint64_t counter);

  std::vector<float> embed(View x);  // evaluation mode, (n, embedding_dim)

 private:
  EmbeddingNetOptions options_;
  Sequential net_;
  TrainingClock clock_;
  std::vector<float> y_, e_, norm_, g_e_, g_y_;
  int64_t n_ = 0;
};

// labels: int32 / int64 (n,). Logs: train_loss (mean of the batch losses)
// per epoch.
History fit_embedding(EmbeddingNet& model, Optimizer& optimizer, View x,
                      View labels, const EmbeddingLossOptions& loss,
                      const ModelFitOptions& options);

}  // namespace losslab::train

#endif  // LOSSLAB_TRAIN_MODELS_H_
