// Ready-made models of the training engine: autoencoder, VAE, GAN and
// embedding network, built from Sequentials, and their training loops. See
// include/losslab/train/models.h and docs/training_models.md.
#include "losslab/train/models.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/losses/embedding.h"
#include "losslab/losses/generative.h"
#include "src/train/train_internal.h"

namespace losslab::train {
namespace {

using detail::splitmix64;

constexpr int64_t kEvalBlock = 1024;  // rows per evaluation forward

// ---- seeded draws ---------------------------------------------------------
// A stream key from (seed, counter); draws are splitmix64(key + index), so
// every draw depends only on its coordinates (portable, thread-free).
uint64_t gen_key(uint64_t seed, uint64_t counter) noexcept {
  return splitmix64(splitmix64(seed ^ 0x6c6f73736c616221ULL) + counter);
}
double gen_uniform01(uint64_t key, uint64_t index) noexcept {
  return static_cast<double>(splitmix64(key + index) >> 11) * 0x1.0p-53;
}
// Uniform integer in [0, n) by the multiply-shift map (Lemire 2019).
int64_t gen_below(uint64_t key, uint64_t index, int64_t n) noexcept {
  const unsigned __int128 p =
      static_cast<unsigned __int128>(splitmix64(key + index)) *
      static_cast<uint64_t>(n);
  return static_cast<int64_t>(p >> 64);
}
// Standard normal by Box-Muller on two uniforms, u1 in (0, 1].
float gen_normal(uint64_t key, uint64_t index) noexcept {
  const double u1 = 1.0 - gen_uniform01(key, 2 * index);
  const double u2 = gen_uniform01(key, 2 * index + 1);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) *
                            std::cos(2.0 * std::numbers::pi * u2));
}

// ---- input checks -------------------------------------------------------
// A (n, cols) float32 / float64 matrix (any strides) copied to float32.
std::vector<float> gen_matrix(std::string_view fn, std::string_view arg,
                              const View& x, int64_t cols) {
  const std::string where = std::string(fn) + ": " + std::string(arg);
  if (!x.present()) throw_type_error(where + " is missing; pass an array");
  if (x.dtype != DType::kFloat32 && x.dtype != DType::kFloat64) {
    throw_type_error(where + " has dtype " + std::string(dtype_name(x.dtype)) +
                     "; expected float32 or float64");
  }
  if (x.shape.ndim() != 2 || x.shape[1] != cols || x.shape[0] < 1) {
    throw_value_error(where + " has shape " + x.shape.str() +
                      "; expected (n, " + std::to_string(cols) +
                      ") with n >= 1");
  }
  const int64_t n = x.shape[0];
  const int64_t s0 = x.strides.ndim() == 0 ? cols : x.strides[0];
  const int64_t s1 = x.strides.ndim() == 0 ? 1 : x.strides[1];
  std::vector<float> out(static_cast<size_t>(n * cols));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t off = i * s0 + j * s1;
      out[i * cols + j] = x.dtype == DType::kFloat32
                              ? x.as<float>()[off]
                              : static_cast<float>(x.as<double>()[off]);
    }
  }
  for (float v : out) {
    if (!std::isfinite(v)) {
      throw_value_error(where + " contains NaN or inf; clean the data first");
    }
  }
  return out;
}

std::vector<int64_t> gen_labels(std::string_view fn, const View& y, int64_t n) {
  const std::string where = std::string(fn) + ": labels";
  if (!y.present()) throw_type_error(where + " is missing; pass an array");
  if (y.dtype != DType::kInt32 && y.dtype != DType::kInt64) {
    throw_type_error(where + " has dtype " + std::string(dtype_name(y.dtype)) +
                     "; expected int32 or int64 class labels");
  }
  if (y.shape.ndim() != 1 || y.shape[0] != n) {
    throw_value_error(where + " has shape " + y.shape.str() + "; expected (" +
                      std::to_string(n) + ",), one label per row of x");
  }
  const int64_t s = y.strides.ndim() == 0 ? 1 : y.strides[0];
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    out[i] = y.dtype == DType::kInt32 ? y.as<int32_t>()[i * s]
                                      : y.as<int64_t>()[i * s];
  }
  return out;
}

void gen_check_positive(std::string_view fn, std::string_view arg, int64_t v) {
  if (v < 1) {
    throw_value_error(std::string(fn) + ": " + std::string(arg) + "=" +
                      std::to_string(v) + "; it must be >= 1");
  }
}

void gen_check_fit(std::string_view fn, const ModelFitOptions& o) {
  if (o.epochs < 0) {
    throw_value_error(std::string(fn) + ": epochs=" + std::to_string(o.epochs) +
                      "; it must be >= 0");
  }
  if (o.batch_size < 0) {
    throw_value_error(std::string(fn) +
                      ": batch_size=" + std::to_string(o.batch_size) +
                      "; use a positive size or 0 for the full batch");
  }
  if (!(o.clip_grad_norm >= 0.0) || !std::isfinite(o.clip_grad_norm)) {
    throw_value_error(std::string(fn) +
                      ": clip_grad_norm must be finite and >= 0 (0: off)");
  }
  if (!(o.clip_grad_value >= 0.0) || !std::isfinite(o.clip_grad_value)) {
    throw_value_error(std::string(fn) +
                      ": clip_grad_value must be finite and >= 0 (0: off)");
  }
  validate_schedule(o.schedule, fn);
}

void gen_check_optimizer(std::string_view fn, std::string_view arg,
                         const Optimizer& opt, int64_t n) {
  if (opt.num_parameters() != n) {
    throw_value_error(std::string(fn) + ": " + std::string(arg) + " holds " +
                      std::to_string(opt.num_parameters()) +
                      " parameters but the model has " + std::to_string(n) +
                      "; build the optimizer for this model");
  }
}

void gen_check_finite(std::string_view fn, std::string_view what, double v,
                      int64_t epoch, int64_t step) {
  if (!std::isfinite(v)) {
    throw_value_error(std::string(fn) + ": the " + std::string(what) + " is " +
                      (std::isnan(v) ? "NaN" : "inf") + " at epoch " +
                      std::to_string(epoch) + ", step " + std::to_string(step) +
                      "; training stopped. Lower the learning rate, clip the "
                      "gradients (clip_grad_norm) or check the data scale");
  }
}

// ---- mini-batches ---------------------------------------------------------
// Row order of an epoch: Fisher-Yates with draws from (seed, epoch).
std::vector<int64_t> gen_order(int64_t n, bool shuffle, uint64_t seed,
                               int64_t epoch) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  if (shuffle) {
    const uint64_t key = gen_key(seed ^ 0x7368756666ULL, epoch);
    for (int64_t i = n - 1; i > 0; --i) {
      std::swap(idx[i], idx[gen_below(key, i, i + 1)]);
    }
  }
  return idx;
}

// [begin, end) ranges of the batches of one epoch.
std::vector<std::pair<int64_t, int64_t>> gen_batches(int64_t n,
                                                     const ModelFitOptions& o) {
  const int64_t b = o.batch_size == 0 ? n : std::min(o.batch_size, n);
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t s = 0; s < n; s += b) {
    const int64_t e = std::min(n, s + b);
    if (o.drop_last && e - s < b && !out.empty()) break;
    out.emplace_back(s, e);
  }
  return out;
}

void gen_gather_rows(const std::vector<float>& x, int64_t cols,
                     const int64_t* idx, int64_t n, std::vector<float>& out) {
  out.resize(static_cast<size_t>(n * cols));
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(x.data() + idx[i] * cols, cols, out.data() + i * cols);
  }
}

// ---- parameters of several Sequentials -------------------------------------
int64_t gen_count(std::initializer_list<const Sequential*> parts) {
  int64_t n = 0;
  for (const Sequential* p : parts) n += p->num_parameters();
  return n;
}
std::vector<float> gen_concat_params(
    std::initializer_list<const Sequential*> parts) {
  std::vector<float> out;
  for (const Sequential* p : parts) {
    out.insert(out.end(), p->parameters().begin(), p->parameters().end());
  }
  return out;
}
std::vector<float> gen_concat_grads(
    std::initializer_list<const Sequential*> parts) {
  std::vector<float> out;
  for (const Sequential* p : parts) {
    out.insert(out.end(), p->gradients().begin(), p->gradients().end());
  }
  return out;
}
void gen_set_params(std::string_view fn,
                    std::initializer_list<Sequential*> parts,
                    std::span<const float> v) {
  int64_t total = 0;
  for (Sequential* p : parts) total += p->num_parameters();
  if (static_cast<int64_t>(v.size()) != total) {
    throw_value_error(std::string(fn) + ".set_parameters: got " +
                      std::to_string(v.size()) + " values; the model has " +
                      std::to_string(total) + " parameters");
  }
  size_t o = 0;
  for (Sequential* p : parts) {
    std::span<float> dst = p->parameters();
    std::copy_n(v.data() + o, dst.size(), dst.data());
    o += dst.size();
  }
}

// One optimizer step over the concatenated parts: gathered into one flat
// buffer, optionally clipped (by value, then by the global norm, the order
// of fit()), stepped, and the parameters scattered back.
// One part is stepped in place.
double gen_step(Optimizer& opt, std::initializer_list<Sequential*> parts,
                const ModelFitOptions& o, std::vector<float>& pbuf,
                std::vector<float>& gbuf) {
  const double lr = scheduled_lr(opt.options().lr, o.schedule, opt.steps());
  if (parts.size() == 1) {
    Sequential* m = *parts.begin();
    if (o.clip_grad_value > 0.0) {
      clip_grad_value(m->gradients(), o.clip_grad_value);
    }
    if (o.clip_grad_norm > 0.0) {
      clip_grad_norm(m->gradients(), o.clip_grad_norm);
    }
    opt.step(m->parameters(), m->gradients(), lr);
    return lr;
  }
  pbuf.clear();
  gbuf.clear();
  for (Sequential* p : parts) {
    pbuf.insert(pbuf.end(), p->parameters().begin(), p->parameters().end());
    gbuf.insert(gbuf.end(), p->gradients().begin(), p->gradients().end());
  }
  if (o.clip_grad_value > 0.0) clip_grad_value(gbuf, o.clip_grad_value);
  if (o.clip_grad_norm > 0.0) clip_grad_norm(gbuf, o.clip_grad_norm);
  opt.step(pbuf, gbuf, lr);
  size_t off = 0;
  for (Sequential* p : parts) {
    std::span<float> dst = p->parameters();
    std::copy_n(pbuf.data() + off, dst.size(), dst.data());
    off += dst.size();
  }
  return lr;
}

// Evaluation-mode forward in blocks of rows.
void gen_eval(Sequential& m, const float* x, int64_t n, float* y) {
  for (int64_t r = 0; r < n; r += kEvalBlock) {
    const int64_t e = std::min(n, r + kEvalBlock);
    m.forward(x + r * m.in_features(), e - r, y + r * m.out_features(), false);
  }
}

void gen_sigmoid_inplace(std::vector<float>& v) {
  for (float& t : v) {
    t = t >= 0.0f ? 1.0f / (1.0f + std::exp(-t))
                  : std::exp(t) / (1.0f + std::exp(t));
  }
}

std::vector<LayerSpec> gen_mlp_layers(int64_t in,
                                      const std::vector<int64_t>& hidden,
                                      int64_t out, const std::string& act,
                                      double slope) {
  return mlp({.in_features = in,
              .hidden = hidden,
              .out_features = out,
              .activation = act,
              .negative_slope = slope})
      .layers();
}

ReconKind gen_recon_kind(std::string_view fn, const std::string& s) {
  if (s == "mse") return ReconKind::kMse;
  if (s == "bce_with_logits") return ReconKind::kBceWithLogits;
  throw_value_error(std::string(fn) + ": reconstruction '" + s +
                    "' is not known; use 'mse' or 'bce_with_logits' (the "
                    "decoder outputs logits, so 'bce' is not offered)");
}

EpochLog gen_log(int64_t epoch, double lr) {
  EpochLog log;
  log.epoch = epoch;
  log.lr = lr;
  log.val_loss = std::numeric_limits<double>::quiet_NaN();
  return log;
}

// Appends the log, tracks the best epoch (lowest val_loss, or train_loss
// without validation) and runs the callback; false stops.
bool gen_finish_epoch(History& h, EpochLog log, const ModelFitOptions& o) {
  const auto key = [](const EpochLog& l) {
    return std::isnan(l.val_loss) ? l.train_loss : l.val_loss;
  };
  h.epochs.push_back(std::move(log));
  const EpochLog& cur = h.epochs.back();
  if (h.best_epoch == 0 || key(cur) < key(h.epochs[h.best_epoch - 1])) {
    h.best_epoch = cur.epoch;
  }
  if (o.callback && !o.callback(cur)) {
    h.stopped_early = true;
    return false;
  }
  return true;
}

}  // namespace

// ===========================================================================
// Autoencoder

Autoencoder::Autoencoder(const AutoencoderOptions& o)
    : options_(o), kind_(gen_recon_kind("Autoencoder", o.reconstruction)) {
  gen_check_positive("Autoencoder", "in_features", o.in_features);
  gen_check_positive("Autoencoder", "latent", o.latent);
  std::vector<int64_t> rev(o.hidden.rbegin(), o.hidden.rend());
  encoder_ = mlp({.in_features = o.in_features,
                  .hidden = o.hidden,
                  .out_features = o.latent,
                  .activation = o.activation,
                  .seed = o.seed});
  decoder_ = mlp({.in_features = o.latent,
                  .hidden = rev,
                  .out_features = o.in_features,
                  .activation = o.activation,
                  .seed = splitmix64(o.seed + 1)});
}

int64_t Autoencoder::num_parameters() const noexcept {
  return encoder_.num_parameters() + decoder_.num_parameters();
}
std::vector<float> Autoencoder::parameters() const {
  return gen_concat_params({&encoder_, &decoder_});
}
void Autoencoder::set_parameters(std::span<const float> v) {
  gen_set_params("Autoencoder", {&encoder_, &decoder_}, v);
}
std::vector<float> Autoencoder::gradients() const {
  return gen_concat_grads({&encoder_, &decoder_});
}

double Autoencoder::loss_and_backward(const float* x, int64_t n) {
  const int64_t d = options_.in_features, L = options_.latent;
  z_.resize(static_cast<size_t>(n * L));
  out_.resize(static_cast<size_t>(n * d));
  g_out_.resize(out_.size());
  g_z_.resize(z_.size());
  encoder_.forward(x, n, z_.data(), true);
  decoder_.forward(z_.data(), n, out_.data(), true);
  const double loss = reconstruction_loss(
      view<float>(out_.data(), {n, d}), view<float>(x, {n, d}),
      {.kind = kind_, .reduction = Reduction::kMean},
      {.grad_out = mutable_view<float>(g_out_.data(), {n, d})});
  decoder_.backward(g_out_.data(), g_z_.data());
  encoder_.backward(g_z_.data(), nullptr);
  return loss;
}

std::vector<float> Autoencoder::encode(View x) {
  const std::vector<float> xs =
      gen_matrix("Autoencoder.encode", "x", x, options_.in_features);
  const int64_t n = x.shape[0];
  std::vector<float> z(static_cast<size_t>(n * options_.latent));
  gen_eval(encoder_, xs.data(), n, z.data());
  return z;
}

std::vector<float> Autoencoder::decode(View z) {
  const std::vector<float> zs =
      gen_matrix("Autoencoder.decode", "z", z, options_.latent);
  const int64_t n = z.shape[0];
  std::vector<float> y(static_cast<size_t>(n * options_.in_features));
  gen_eval(decoder_, zs.data(), n, y.data());
  if (kind_ == ReconKind::kBceWithLogits) gen_sigmoid_inplace(y);
  return y;
}

double Autoencoder::loss(View x) {
  const int64_t d = options_.in_features, L = options_.latent;
  const std::vector<float> xs = gen_matrix("Autoencoder.loss", "x", x, d);
  const int64_t n = x.shape[0];
  std::vector<float> z(static_cast<size_t>(n * L)),
      y(static_cast<size_t>(n * d));
  gen_eval(encoder_, xs.data(), n, z.data());
  gen_eval(decoder_, z.data(), n, y.data());
  return reconstruction_loss(view<float>(y.data(), {n, d}),
                             view<float>(xs.data(), {n, d}),
                             {.kind = kind_, .reduction = Reduction::kSum}) /
         static_cast<double>(n);
}

History fit_autoencoder(Autoencoder& model, Optimizer& optimizer, View x,
                        const View* validation, const ModelFitOptions& o) {
  constexpr std::string_view fn = "fit_autoencoder";
  gen_check_fit(fn, o);
  gen_check_optimizer(fn, "optimizer", optimizer, model.num_parameters());
  const int64_t d = model.options().in_features;
  const std::vector<float> xs = gen_matrix(fn, "x", x, d);
  const int64_t n = x.shape[0];
  if (validation != nullptr) gen_matrix(fn, "validation", *validation, d);
  History h;
  std::vector<float> batch, pbuf, gbuf;
  // The model's clock continues across fits and checkpoints (models.h).
  const TrainingClock clock = model.clock();
  int64_t step = clock.steps;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const std::vector<int64_t> order =
        gen_order(n, o.shuffle, o.seed, clock.epochs + epoch);
    double sum = 0.0, lr = optimizer.options().lr;
    int64_t rows = 0;
    for (const auto& [s, e] : gen_batches(n, o)) {
      gen_gather_rows(xs, d, order.data() + s, e - s, batch);
      const double l = model.loss_and_backward(batch.data(), e - s);
      gen_check_finite(fn, "reconstruction loss", l, epoch, step);
      lr = gen_step(optimizer, {&model.encoder(), &model.decoder()}, o, pbuf,
                    gbuf);
      sum += l * static_cast<double>(e - s);
      rows += e - s;
      ++step;
      model.set_clock({.epochs = clock.epochs + epoch - 1, .steps = step});
    }
    model.set_clock({.epochs = clock.epochs + epoch, .steps = step});
    EpochLog log = gen_log(epoch, lr);
    log.train_loss = rows > 0 ? sum / static_cast<double>(rows) : 0.0;
    if (validation != nullptr) log.val_loss = model.loss(*validation);
    if (!gen_finish_epoch(h, std::move(log), o)) break;
  }
  return h;
}

// ===========================================================================
// VAE

Vae::Vae(const VaeModelOptions& o)
    : options_(o), kind_(gen_recon_kind("Vae", o.reconstruction)) {
  gen_check_positive("Vae", "in_features", o.in_features);
  gen_check_positive("Vae", "latent", o.latent);
  if (!(o.beta >= 0.0) || !std::isfinite(o.beta)) {
    throw_value_error("Vae: beta must be finite and >= 0");
  }
  std::vector<int64_t> rev(o.hidden.rbegin(), o.hidden.rend());
  encoder_ = mlp({.in_features = o.in_features,
                  .hidden = o.hidden,
                  .out_features = 2 * o.latent,
                  .activation = o.activation,
                  .seed = o.seed});
  decoder_ = mlp({.in_features = o.latent,
                  .hidden = rev,
                  .out_features = o.in_features,
                  .activation = o.activation,
                  .seed = splitmix64(o.seed + 1)});
}

int64_t Vae::num_parameters() const noexcept {
  return encoder_.num_parameters() + decoder_.num_parameters();
}
std::vector<float> Vae::parameters() const {
  return gen_concat_params({&encoder_, &decoder_});
}
void Vae::set_parameters(std::span<const float> v) {
  gen_set_params("Vae", {&encoder_, &decoder_}, v);
}
std::vector<float> Vae::gradients() const {
  return gen_concat_grads({&encoder_, &decoder_});
}

VaeLoss Vae::loss_and_backward(const float* x, int64_t n,
                               uint64_t noise_counter) {
  const int64_t d = options_.in_features, L = options_.latent;
  const size_t nl = static_cast<size_t>(n * L);
  h_.resize(2 * nl);
  mu_.resize(nl);
  logvar_.resize(nl);
  eps_.resize(nl);
  z_.resize(nl);
  recon_.resize(static_cast<size_t>(n * d));
  g_recon_.resize(recon_.size());
  g_mu_.resize(nl);
  g_logvar_.resize(nl);
  g_z_.resize(nl);
  g_h_.resize(2 * nl);
  encoder_.forward(x, n, h_.data(), true);
  const uint64_t key = gen_key(options_.seed, noise_counter);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < L; ++j) {
      const int64_t k = i * L + j;
      mu_[k] = h_[i * 2 * L + j];
      logvar_[k] = h_[i * 2 * L + L + j];
      eps_[k] = gen_normal(key, static_cast<uint64_t>(k));
      // z = mu + sigma eps, sigma = exp(logvar / 2)
      z_[k] = mu_[k] + std::exp(0.5f * logvar_[k]) * eps_[k];
    }
  }
  decoder_.forward(z_.data(), n, recon_.data(), true);
  const VaeResult r = vae_loss(
      view<float>(recon_.data(), {n, d}), view<float>(x, {n, d}),
      view<float>(mu_.data(), {n, L}), view<float>(logvar_.data(), {n, L}),
      {.recon_kind = kind_,
       .beta = options_.beta,
       .reduction = Reduction::kMean},
      {.grad_recon = mutable_view<float>(g_recon_.data(), {n, d}),
       .grad_mu = mutable_view<float>(g_mu_.data(), {n, L}),
       .grad_logvar = mutable_view<float>(g_logvar_.data(), {n, L})});
  if (!std::isfinite(r.total)) return {r.total, r.reconstruction, r.kl};
  decoder_.backward(g_recon_.data(), g_z_.data());
  // Chain through z = mu + exp(logvar / 2) eps, plus the KL terms that
  // vae_loss already put in g_mu / g_logvar:
  //   dL/dmu = dL/dz + g_mu, dL/dlogvar = dL/dz eps exp(logvar/2)/2 + g_logvar
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < L; ++j) {
      const int64_t k = i * L + j;
      g_h_[i * 2 * L + j] = g_z_[k] + g_mu_[k];
      g_h_[i * 2 * L + L + j] =
          g_z_[k] * eps_[k] * 0.5f * std::exp(0.5f * logvar_[k]) + g_logvar_[k];
    }
  }
  encoder_.backward(g_h_.data(), nullptr);
  return {r.total, r.reconstruction, r.kl};
}

VaeLoss Vae::loss(View x, uint64_t noise_counter) {
  const int64_t d = options_.in_features, L = options_.latent;
  const std::vector<float> xs = gen_matrix("Vae.loss", "x", x, d);
  const int64_t n = x.shape[0];
  std::vector<float> h(static_cast<size_t>(n * 2 * L));
  gen_eval(encoder_, xs.data(), n, h.data());
  std::vector<float> mu(static_cast<size_t>(n * L)), lv(mu.size()),
      z(mu.size()), y(static_cast<size_t>(n * d));
  const uint64_t key = gen_key(options_.seed, noise_counter);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < L; ++j) {
      const int64_t k = i * L + j;
      mu[k] = h[i * 2 * L + j];
      lv[k] = h[i * 2 * L + L + j];
      z[k] = mu[k] +
             std::exp(0.5f * lv[k]) * gen_normal(key, static_cast<uint64_t>(k));
    }
  }
  gen_eval(decoder_, z.data(), n, y.data());
  const VaeResult r =
      vae_loss(view<float>(y.data(), {n, d}), view<float>(xs.data(), {n, d}),
               view<float>(mu.data(), {n, L}), view<float>(lv.data(), {n, L}),
               {.recon_kind = kind_,
                .beta = options_.beta,
                .reduction = Reduction::kSum});
  const double inv = 1.0 / static_cast<double>(n);
  return {r.total * inv, r.reconstruction * inv, r.kl * inv};
}

std::pair<std::vector<float>, std::vector<float>> Vae::encode(View x) {
  const int64_t d = options_.in_features, L = options_.latent;
  const std::vector<float> xs = gen_matrix("Vae.encode", "x", x, d);
  const int64_t n = x.shape[0];
  std::vector<float> h(static_cast<size_t>(n * 2 * L));
  gen_eval(encoder_, xs.data(), n, h.data());
  std::vector<float> mu(static_cast<size_t>(n * L)), lv(mu.size());
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(h.data() + i * 2 * L, L, mu.data() + i * L);
    std::copy_n(h.data() + i * 2 * L + L, L, lv.data() + i * L);
  }
  return {std::move(mu), std::move(lv)};
}

std::vector<float> Vae::decode(View z) {
  const std::vector<float> zs =
      gen_matrix("Vae.decode", "z", z, options_.latent);
  const int64_t n = z.shape[0];
  std::vector<float> y(static_cast<size_t>(n * options_.in_features));
  gen_eval(decoder_, zs.data(), n, y.data());
  if (kind_ == ReconKind::kBceWithLogits) gen_sigmoid_inplace(y);
  return y;
}

std::vector<float> Vae::reconstruct(View x) {
  auto [mu, lv] = encode(x);
  return decode(view<float>(mu.data(), {x.shape[0], options_.latent}));
}

std::vector<float> Vae::sample(int64_t n, uint64_t seed) {
  gen_check_positive("Vae.sample", "n", n);
  const int64_t L = options_.latent;
  std::vector<float> z(static_cast<size_t>(n * L));
  const uint64_t key = gen_key(seed ^ 0x73616d706c65ULL, 0);
  for (int64_t k = 0; k < n * L; ++k) z[k] = gen_normal(key, k);
  return decode(view<float>(z.data(), {n, L}));
}

History fit_vae(Vae& model, Optimizer& optimizer, View x,
                const View* validation, const ModelFitOptions& o) {
  constexpr std::string_view fn = "fit_vae";
  gen_check_fit(fn, o);
  gen_check_optimizer(fn, "optimizer", optimizer, model.num_parameters());
  const int64_t d = model.options().in_features;
  const std::vector<float> xs = gen_matrix(fn, "x", x, d);
  const int64_t n = x.shape[0];
  if (validation != nullptr) gen_matrix(fn, "validation", *validation, d);
  // Training noise: stream (seed, step) of the model's seed mixed with the
  // fit seed; validation noise: one fixed stream.
  const uint64_t noise_base = splitmix64(o.seed ^ 0x766165ULL);
  History h;
  std::vector<float> batch, pbuf, gbuf;
  // The model's clock continues across fits and checkpoints (models.h).
  const TrainingClock clock = model.clock();
  int64_t step = clock.steps;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const std::vector<int64_t> order =
        gen_order(n, o.shuffle, o.seed, clock.epochs + epoch);
    double tot = 0.0, rec = 0.0, kl = 0.0, lr = optimizer.options().lr;
    int64_t rows = 0;
    for (const auto& [s, e] : gen_batches(n, o)) {
      gen_gather_rows(xs, d, order.data() + s, e - s, batch);
      const VaeLoss l = model.loss_and_backward(
          batch.data(), e - s, noise_base + static_cast<uint64_t>(step));
      gen_check_finite(fn, "VAE loss", l.total, epoch, step);
      lr = gen_step(optimizer, {&model.encoder(), &model.decoder()}, o, pbuf,
                    gbuf);
      const double w = static_cast<double>(e - s);
      tot += l.total * w;
      rec += l.reconstruction * w;
      kl += l.kl * w;
      rows += e - s;
      ++step;
      model.set_clock({.epochs = clock.epochs + epoch - 1, .steps = step});
    }
    model.set_clock({.epochs = clock.epochs + epoch, .steps = step});
    EpochLog log = gen_log(epoch, lr);
    const double inv = rows > 0 ? 1.0 / static_cast<double>(rows) : 0.0;
    log.train_loss = tot * inv;
    log.metrics["reconstruction"] = rec * inv;
    log.metrics["kl"] = kl * inv;
    log.metrics["elbo"] = -(rec + kl) * inv;
    if (validation != nullptr) {
      const VaeLoss v = model.loss(*validation, ~uint64_t{0});
      log.val_loss = v.total;
      log.metrics["val_reconstruction"] = v.reconstruction;
      log.metrics["val_kl"] = v.kl;
      log.metrics["val_elbo"] = -(v.reconstruction + v.kl);
    }
    if (!gen_finish_epoch(h, std::move(log), o)) break;
  }
  return h;
}

// ===========================================================================
// GAN

Gan::Gan(const GanModelOptions& o)
    : options_(o), kind_(parse_gan_kind(o.loss, "Gan")) {
  gen_check_positive("Gan", "noise_dim", o.noise_dim);
  gen_check_positive("Gan", "data_dim", o.data_dim);
  LayerKind out_kind;
  if (o.output == "sigmoid") {
    out_kind = LayerKind::kSigmoid;
  } else if (o.output == "tanh") {
    out_kind = LayerKind::kTanh;
  } else {
    throw_value_error("Gan: output '" + o.output +
                      "' is not known; use 'sigmoid' (data in [0, 1]) or "
                      "'tanh' (data in [-1, 1])");
  }
  std::vector<LayerSpec> g =
      gen_mlp_layers(o.noise_dim, o.generator_hidden, o.data_dim,
                     o.generator_activation, o.negative_slope);
  g.push_back({.kind = out_kind});
  generator_ = Sequential(std::move(g), o.seed);
  discriminator_ =
      Sequential(gen_mlp_layers(o.data_dim, o.discriminator_hidden, 1,
                                o.discriminator_activation, o.negative_slope),
                 splitmix64(o.seed + 1));
}

std::vector<float> Gan::noise(int64_t n, uint64_t seed,
                              uint64_t counter) const {
  gen_check_positive("Gan.noise", "n", n);
  std::vector<float> z(static_cast<size_t>(n * options_.noise_dim));
  const uint64_t key = gen_key(seed ^ 0x6e6f697365ULL, counter);
  for (size_t k = 0; k < z.size(); ++k) z[k] = gen_normal(key, k);
  return z;
}

double Gan::discriminator_loss_and_backward(const float* real, const float* z,
                                            int64_t n) {
  const int64_t D = options_.data_dim;
  fake_.resize(static_cast<size_t>(n * D));
  generator_.forward(z, n, fake_.data(), false);
  // One discriminator pass over [real; fake] so that backward sees both.
  both_.resize(static_cast<size_t>(2 * n * D));
  std::copy_n(real, n * D, both_.data());
  std::copy_n(fake_.data(), n * D, both_.data() + n * D);
  d_out_.resize(static_cast<size_t>(2 * n));
  g_d_.resize(d_out_.size());
  discriminator_.forward(both_.data(), 2 * n, d_out_.data(), true);
  const double loss = gan_discriminator_loss(
      view<float>(d_out_.data(), {n}), view<float>(d_out_.data() + n, {n}),
      {.kind = kind_, .reduction = Reduction::kMean},
      {.grad_real = mutable_view<float>(g_d_.data(), {n}),
       .grad_fake = mutable_view<float>(g_d_.data() + n, {n})});
  discriminator_.backward(g_d_.data(), nullptr);
  double sr = 0.0, sf = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    sr += d_out_[i];
    sf += d_out_[n + i];
  }
  last_real_ = sr / static_cast<double>(n);
  last_fake_ = sf / static_cast<double>(n);
  return loss;
}

double Gan::generator_loss_and_backward(const float* z, int64_t n) {
  const int64_t D = options_.data_dim;
  fake_.resize(static_cast<size_t>(n * D));
  g_fake_.resize(fake_.size());
  d_out_.resize(static_cast<size_t>(n));
  g_d_.resize(d_out_.size());
  generator_.forward(z, n, fake_.data(), true);
  discriminator_.forward(fake_.data(), n, d_out_.data(), true);
  const double loss =
      gan_generator_loss(view<float>(d_out_.data(), {n}),
                         {.kind = kind_, .reduction = Reduction::kMean},
                         {.grad_out = mutable_view<float>(g_d_.data(), {n})});
  // dL/dfake through the discriminator; its parameter gradients are a side
  // effect that the generator step ignores.
  discriminator_.backward(g_d_.data(), g_fake_.data());
  generator_.backward(g_fake_.data(), nullptr);
  return loss;
}

std::vector<float> Gan::generate(View z) {
  const std::vector<float> zs =
      gen_matrix("Gan.generate", "z", z, options_.noise_dim);
  const int64_t n = z.shape[0];
  std::vector<float> y(static_cast<size_t>(n * options_.data_dim));
  gen_eval(generator_, zs.data(), n, y.data());
  return y;
}

std::vector<float> Gan::sample(int64_t n, uint64_t seed) {
  const std::vector<float> z = noise(n, seed ^ 0x73616d706c65ULL, 0);
  return generate(view<float>(z.data(), {n, options_.noise_dim}));
}

std::vector<float> Gan::discriminate(View x) {
  const std::vector<float> xs =
      gen_matrix("Gan.discriminate", "x", x, options_.data_dim);
  const int64_t n = x.shape[0];
  std::vector<float> y(static_cast<size_t>(n));
  gen_eval(discriminator_, xs.data(), n, y.data());
  return y;
}

History fit_gan(Gan& model, Optimizer& g_opt, Optimizer& d_opt, View x,
                const ModelFitOptions& o) {
  constexpr std::string_view fn = "fit_gan";
  gen_check_fit(fn, o);
  gen_check_optimizer(fn, "generator_optimizer", g_opt,
                      model.generator().num_parameters());
  gen_check_optimizer(fn, "discriminator_optimizer", d_opt,
                      model.discriminator().num_parameters());
  const int64_t D = model.options().data_dim;
  const std::vector<float> xs = gen_matrix(fn, "x", x, D);
  const int64_t n = x.shape[0];
  History h;
  std::vector<float> batch, pbuf, gbuf;
  // The model's clock continues across fits and checkpoints (models.h).
  const TrainingClock clock = model.clock();
  int64_t step = clock.steps;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const std::vector<int64_t> order =
        gen_order(n, o.shuffle, o.seed, clock.epochs + epoch);
    double dl = 0.0, gl = 0.0, dr = 0.0, df = 0.0, lr = g_opt.options().lr;
    int64_t batches = 0;
    for (const auto& [s, e] : gen_batches(n, o)) {
      const int64_t b = e - s;
      gen_gather_rows(xs, D, order.data() + s, b, batch);
      const uint64_t c = 2 * static_cast<uint64_t>(step);
      const std::vector<float> z1 = model.noise(b, o.seed, c);
      const double ld =
          model.discriminator_loss_and_backward(batch.data(), z1.data(), b);
      gen_check_finite(fn, "discriminator loss", ld, epoch, step);
      dr += model.last_real_logit();
      df += model.last_fake_logit();
      gen_step(d_opt, {&model.discriminator()}, o, pbuf, gbuf);
      const std::vector<float> z2 = model.noise(b, o.seed, c + 1);
      const double lg = model.generator_loss_and_backward(z2.data(), b);
      gen_check_finite(fn, "generator loss", lg, epoch, step);
      lr = gen_step(g_opt, {&model.generator()}, o, pbuf, gbuf);
      dl += ld;
      gl += lg;
      ++batches;
      ++step;
      model.set_clock({.epochs = clock.epochs + epoch - 1, .steps = step});
    }
    model.set_clock({.epochs = clock.epochs + epoch, .steps = step});
    EpochLog log = gen_log(epoch, lr);
    const double inv = batches > 0 ? 1.0 / static_cast<double>(batches) : 0.0;
    log.train_loss = dl * inv;
    log.metrics["d_loss"] = dl * inv;
    log.metrics["g_loss"] = gl * inv;
    log.metrics["d_real"] = dr * inv;
    log.metrics["d_fake"] = df * inv;
    if (!gen_finish_epoch(h, std::move(log), o)) break;
  }
  return h;
}

// ===========================================================================
// Embedding network

EmbeddingNet::EmbeddingNet(const EmbeddingNetOptions& o) : options_(o) {
  gen_check_positive("EmbeddingNet", "in_features", o.in_features);
  gen_check_positive("EmbeddingNet", "embedding_dim", o.embedding_dim);
  if (!(o.eps > 0.0) || !std::isfinite(o.eps)) {
    throw_value_error("EmbeddingNet: eps must be finite and > 0");
  }
  net_ = mlp({.in_features = o.in_features,
              .hidden = o.hidden,
              .out_features = o.embedding_dim,
              .activation = o.activation,
              .seed = o.seed});
}

namespace {
// e_i = y_i / max(||y_i||, eps); norm[i] keeps max(||y_i||, eps).
void gen_normalize(const float* y, int64_t n, int64_t d, double eps, float* e,
                   float* norm) {
  for (int64_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (int64_t j = 0; j < d; ++j) s += double(y[i * d + j]) * y[i * d + j];
    const double r = std::max(std::sqrt(s), eps);
    if (norm != nullptr) norm[i] = static_cast<float>(r);
    for (int64_t j = 0; j < d; ++j) {
      e[i * d + j] = static_cast<float>(y[i * d + j] / r);
    }
  }
}
}  // namespace

const std::vector<float>& EmbeddingNet::forward(const float* x, int64_t n) {
  const int64_t d = options_.embedding_dim;
  n_ = n;
  y_.resize(static_cast<size_t>(n * d));
  net_.forward(x, n, y_.data(), true);
  if (!options_.normalize) return y_;
  e_.resize(y_.size());
  norm_.resize(static_cast<size_t>(n));
  gen_normalize(y_.data(), n, d, options_.eps, e_.data(), norm_.data());
  return e_;
}

void EmbeddingNet::backward(const float* g) {
  const int64_t n = n_, d = options_.embedding_dim;
  if (!options_.normalize) {
    net_.backward(g, nullptr);
    return;
  }
  // e = y / r, r = ||y||: de/dy = (I - e e^T) / r, so
  // dL/dy = (g - e (e . g)) / r. Below eps, r = eps is a constant: g / eps.
  g_y_.resize(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) {
    const float* e = e_.data() + i * d;
    const float* gi = g + i * d;
    const bool clamped = norm_[i] <= static_cast<float>(options_.eps);
    double dot = 0.0;
    if (!clamped) {
      for (int64_t j = 0; j < d; ++j) dot += double(e[j]) * gi[j];
    }
    for (int64_t j = 0; j < d; ++j) {
      g_y_[i * d + j] =
          static_cast<float>((gi[j] - e[j] * dot) / double(norm_[i]));
    }
  }
  net_.backward(g_y_.data(), nullptr);
}

double EmbeddingNet::loss_and_backward(const float* x, const int64_t* labels,
                                       int64_t n,
                                       const EmbeddingLossOptions& lo,
                                       uint64_t seed, uint64_t counter) {
  const int64_t d = options_.embedding_dim;
  const std::vector<float>& e = forward(x, n);
  g_e_.assign(static_cast<size_t>(n * d), 0.0f);
  const View lab = view<int64_t>(labels, {n});
  double loss = 0.0;
  const bool triplet = lo.loss == "triplet";
  if (triplet && lo.mining == "batch_hard") {
    loss = batch_hard_triplet_loss(
        view<float>(e.data(), {n, d}), lab, {.margin = lo.margin},
        {.grad_out = mutable_view<float>(g_e_.data(), {n, d})});
  } else if (triplet && lo.mining == "batch_all") {
    loss = batch_all_triplet_loss(
        view<float>(e.data(), {n, d}), lab, {.margin = lo.margin},
        {.grad_out = mutable_view<float>(g_e_.data(), {n, d})});
  } else if ((triplet && lo.mining == "random") || lo.loss == "contrastive") {
    // Random mining: uniform draws of a positive (same label, another row)
    // and a negative (another label) by rejection, bounded; rows without one
    // are skipped.
    const uint64_t key = gen_key(seed ^ 0x6d696e65ULL, counter);
    uint64_t draw = 0;
    const auto pick = [&](int64_t i, bool positive) -> int64_t {
      for (int t = 0; t < 64; ++t) {
        const int64_t j = gen_below(key, draw++, n);
        if (j != i && (labels[j] == labels[i]) == positive) return j;
      }
      // Rare: scan from a random start for the first qualifying row.
      const int64_t s = gen_below(key, draw++, n);
      for (int64_t t = 0; t < n; ++t) {
        const int64_t j = (s + t) % n;
        if (j != i && (labels[j] == labels[i]) == positive) return j;
      }
      return -1;
    };
    std::vector<int64_t> ia, ib, ic, tgt;
    // Hard pairs: every anchor with its farthest positive and its nearest
    // negative (squared distances in double within the batch).
    const bool hard_pairs = !triplet && lo.mining == "batch_hard";
    for (int64_t i = 0; i < n && hard_pairs; ++i) {
      int64_t fp = -1, nn = -1;
      double dfp = -1.0, dnn = std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        double s2 = 0.0;
        for (int64_t k = 0; k < d; ++k) {
          const double t = double(e[i * d + k]) - e[j * d + k];
          s2 += t * t;
        }
        if (labels[j] == labels[i] && s2 > dfp) {
          dfp = s2;
          fp = j;
        } else if (labels[j] != labels[i] && s2 < dnn) {
          dnn = s2;
          nn = j;
        }
      }
      for (const auto& [j, t] : {std::pair{fp, 1}, std::pair{nn, 0}}) {
        if (j < 0) continue;
        ia.push_back(i);
        ib.push_back(j);
        tgt.push_back(t);
      }
    }
    for (int64_t i = 0; i < n && !hard_pairs; ++i) {
      if (triplet) {
        const int64_t p = pick(i, true);
        const int64_t q = p < 0 ? -1 : pick(i, false);
        if (p < 0 || q < 0) continue;
        ia.push_back(i);
        ib.push_back(p);
        ic.push_back(q);
      } else {
        const bool want_pos = gen_uniform01(key, ~uint64_t{0} - i) < 0.5;
        int64_t j = pick(i, want_pos);
        bool pos = want_pos;
        if (j < 0) {
          j = pick(i, !want_pos);
          pos = !want_pos;
        }
        if (j < 0) continue;
        ia.push_back(i);
        ib.push_back(j);
        tgt.push_back(pos ? 1 : 0);
      }
    }
    const int64_t t = static_cast<int64_t>(ia.size());
    if (t > 0) {
      std::vector<float> a(static_cast<size_t>(t * d)), b(a.size()),
          ga(a.size()), gb(a.size()), c, gc;
      for (int64_t k = 0; k < t; ++k) {
        std::copy_n(e.data() + ia[k] * d, d, a.data() + k * d);
        std::copy_n(e.data() + ib[k] * d, d, b.data() + k * d);
      }
      if (triplet) {
        c.resize(a.size());
        gc.resize(a.size());
        for (int64_t k = 0; k < t; ++k) {
          std::copy_n(e.data() + ic[k] * d, d, c.data() + k * d);
        }
        loss = triplet_margin_loss(
            view<float>(a.data(), {t, d}), view<float>(b.data(), {t, d}),
            view<float>(c.data(), {t, d}), {.margin = lo.margin},
            {.grad_anchor = mutable_view<float>(ga.data(), {t, d}),
             .grad_positive = mutable_view<float>(gb.data(), {t, d}),
             .grad_negative = mutable_view<float>(gc.data(), {t, d})});
      } else {
        loss = contrastive_loss(
            view<float>(a.data(), {t, d}), view<float>(b.data(), {t, d}),
            view<int64_t>(tgt.data(), {t}), {.margin = lo.margin},
            {.grad_x1 = mutable_view<float>(ga.data(), {t, d}),
             .grad_x2 = mutable_view<float>(gb.data(), {t, d})});
      }
      // Rows used several times accumulate their gradients.
      for (int64_t k = 0; k < t; ++k) {
        for (int64_t j = 0; j < d; ++j) {
          g_e_[ia[k] * d + j] += ga[k * d + j];
          g_e_[ib[k] * d + j] += gb[k * d + j];
          if (triplet) g_e_[ic[k] * d + j] += gc[k * d + j];
        }
      }
    }
  } else {
    throw_value_error("EmbeddingNet: loss '" + lo.loss + "' with mining '" +
                      lo.mining +
                      "' is not known; use loss 'triplet' (mining 'random', "
                      "'batch_hard' or 'batch_all') or 'contrastive'");
  }
  backward(g_e_.data());
  return loss;
}

std::vector<float> EmbeddingNet::embed(View x) {
  const int64_t d = options_.embedding_dim;
  const std::vector<float> xs =
      gen_matrix("EmbeddingNet.embed", "x", x, options_.in_features);
  const int64_t n = x.shape[0];
  std::vector<float> y(static_cast<size_t>(n * d));
  gen_eval(net_, xs.data(), n, y.data());
  if (options_.normalize) {
    gen_normalize(y.data(), n, d, options_.eps, y.data(), nullptr);
  }
  return y;
}

History fit_embedding(EmbeddingNet& model, Optimizer& optimizer, View x,
                      View labels, const EmbeddingLossOptions& lo,
                      const ModelFitOptions& o) {
  constexpr std::string_view fn = "fit_embedding";
  gen_check_fit(fn, o);
  gen_check_optimizer(fn, "optimizer", optimizer, model.num_parameters());
  if (lo.loss != "triplet" && lo.loss != "contrastive") {
    throw_value_error(std::string(fn) + ": loss '" + lo.loss +
                      "' is not known; use 'triplet' or 'contrastive'");
  }
  if (lo.loss == "triplet" && lo.mining != "random" &&
      lo.mining != "batch_hard" && lo.mining != "batch_all") {
    throw_value_error(std::string(fn) + ": mining '" + lo.mining +
                      "' is not known for triplet; use 'random', "
                      "'batch_hard' or 'batch_all'");
  }
  if (lo.loss == "contrastive" && lo.mining != "random" &&
      lo.mining != "batch_hard") {
    throw_value_error(std::string(fn) + ": mining '" + lo.mining +
                      "' is not known for contrastive; use 'random' or "
                      "'batch_hard'");
  }
  if (!(lo.margin >= 0.0) || !std::isfinite(lo.margin)) {
    throw_value_error(std::string(fn) + ": margin must be finite and >= 0");
  }
  const int64_t din = model.options().in_features;
  const std::vector<float> xs = gen_matrix(fn, "x", x, din);
  const int64_t n = x.shape[0];
  const std::vector<int64_t> ys = gen_labels(fn, labels, n);
  History h;
  std::vector<float> batch, pbuf, gbuf;
  std::vector<int64_t> by;
  // The model's clock continues across fits and checkpoints (models.h).
  const TrainingClock clock = model.clock();
  int64_t step = clock.steps;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const std::vector<int64_t> order =
        gen_order(n, o.shuffle, o.seed, clock.epochs + epoch);
    double sum = 0.0, lr = optimizer.options().lr;
    int64_t batches = 0;
    for (const auto& [s, e] : gen_batches(n, o)) {
      const int64_t b = e - s;
      gen_gather_rows(xs, din, order.data() + s, b, batch);
      by.resize(static_cast<size_t>(b));
      for (int64_t i = 0; i < b; ++i) by[i] = ys[order[s + i]];
      const double l = model.loss_and_backward(
          batch.data(), by.data(), b, lo, o.seed, static_cast<uint64_t>(step));
      gen_check_finite(fn, "embedding loss", l, epoch, step);
      lr = gen_step(optimizer, {&model.net()}, o, pbuf, gbuf);
      sum += l;
      ++batches;
      ++step;
      model.set_clock({.epochs = clock.epochs + epoch - 1, .steps = step});
    }
    model.set_clock({.epochs = clock.epochs + epoch, .steps = step});
    EpochLog log = gen_log(epoch, lr);
    log.train_loss = batches > 0 ? sum / static_cast<double>(batches) : 0.0;
    if (!gen_finish_epoch(h, std::move(log), o)) break;
  }
  return h;
}

}  // namespace losslab::train
