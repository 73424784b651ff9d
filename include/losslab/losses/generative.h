// losslab/losses/generative.h: GAN losses on raw discriminator outputs, the
// VAE terms (reconstruction, Gaussian KL, their sum) and PyTorch's
// gaussian_nll_loss. Formulas, sources and the choices where libraries
// differ: docs/losses_generative.md.
//
//   std::vector<float> gr(n), gf(n);
//   double d_loss = losslab::gan_discriminator_loss(
//       losslab::view<float>(d_real, {n}), losslab::view<float>(d_fake, {n}),
//       {.kind = losslab::GanKind::kHinge},
//       {.grad_real = losslab::mutable_view<float>(gr.data(), {n}),
//        .grad_fake = losslab::mutable_view<float>(gf.data(), {n})});
//
// Inputs are float32 or float64; gradients are written to caller-owned
// contiguous views of the matching input's shape and dtype. The value is
// rounded to the input dtype. Values and gradients are bitwise identical for
// any thread count (fixed 2048-element blocks, pairwise combination).
#ifndef LOSSLAB_LOSSES_GENERATIVE_H_
#define LOSSLAB_LOSSES_GENERATIVE_H_

#include <string_view>

#include "losslab/core/reduction.h"
#include "losslab/core/view.h"
#include "losslab/losses/common.h"

namespace losslab {

// GAN objectives on discriminator logits / critic scores (no sigmoid applied
// by the caller). Per element, r = D(x) on real data, f = D(G(z)) on fakes:
//   kind            discriminator               generator
//   minimax         softplus(-r) + softplus(f)  -softplus(f)   [= log(1 - D)]
//   non_saturating  softplus(-r) + softplus(f)  softplus(-f)   [= -log D]
//   hinge           relu(1 - r) + relu(1 + f)   -f
//   wasserstein     -r + f                      -f
//   least_squares   (r - 1)^2/2 + f^2/2         (f - 1)^2/2    [a=0, b=c=1]
// Goodfellow et al. 2014 (minimax, non-saturating), Lim & Ye 2017 and Miyato
// et al. 2018 (hinge), Arjovsky et al. 2017 (Wasserstein critic; the
// Lipschitz constraint is the caller's), Mao et al. 2017 (least squares).
enum class GanKind : uint8_t {
  kMinimax,
  kNonSaturating,
  kHinge,
  kWasserstein,
  kLeastSquares,
};
// Parses "minimax" | "non_saturating" | "hinge" | "wasserstein" |
// "least_squares"; throws losslab::Error naming `function` otherwise.
GanKind parse_gan_kind(std::string_view s, std::string_view function);

// kMean: the real and the fake term are each averaged over their own batch
// and added; kSum: each summed; kNone: out_real / out_fake receive the
// per-element terms (both required).
struct GanOptions {
  GanKind kind = GanKind::kNonSaturating;
  Reduction reduction = Reduction::kMean;
};
struct GanOutputs {
  MutableView out_real = {}, out_fake = {};    // kNone: per-element terms
  MutableView grad_real = {}, grad_fake = {};  // d loss / d real, d fake
  double grad_output = 1.0;                    // upstream (kMean / kSum)
  View grad_output_real = {}, grad_output_fake = {};  // upstream (kNone)
};
double gan_discriminator_loss(View real, View fake,
                              const GanOptions& options = {},
                              const GanOutputs& outputs = {});
// outputs.out / grad_out / grad_output(_elementwise) refer to fake.
double gan_generator_loss(View fake, const GanOptions& options = {},
                          const LossOutputs& outputs = {});

// VAE reconstruction term, summed over the features of each sample (all
// dims but the first) and averaged over the batch (kMean; kSum sums over the
// batch too; kNone: one value per sample, out of shape (N,)):
//   kMse            (recon - x)^2
//   kBce            binary cross-entropy on probabilities (PyTorch's
//                   binary_cross_entropy: logs clamped at -100)
//   kBceWithLogits  binary cross-entropy on logits (softplus form)
// The gradient is w.r.t. recon.
enum class ReconKind : uint8_t { kMse, kBce, kBceWithLogits };
ReconKind parse_recon_kind(std::string_view s, std::string_view function);
struct ReconstructionOptions {
  ReconKind kind = ReconKind::kMse;
  Reduction reduction = Reduction::kMean;
};
// outputs.out (kNone) and grad_output_elementwise have shape (N,).
double reconstruction_loss(View recon, View x,
                           const ReconstructionOptions& options = {},
                           const LossOutputs& outputs = {});

// KL(N(mu, exp(logvar)) || N(0, I)) per sample:
//   -0.5 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)),
// evaluated as sum_j (mu_j^2 / 2 + (expm1(logvar_j) - logvar_j) / 2);
// gradients mu and (exp(logvar) - 1) / 2. mu and logvar: same shape (N, D...);
// reduction as for reconstruction_loss. exp(logvar) overflows past 88.7
// (float32) / 709.8 (float64): the loss is then +inf, never NaN.
struct GaussianKlOptions {
  Reduction reduction = Reduction::kMean;
};
struct GaussianKlOutputs {
  MutableView out = {};  // kNone: (N,)
  MutableView grad_mu = {}, grad_logvar = {};
  double grad_output = 1.0;
  View grad_output_elementwise = {};  // kNone: (N,)
};
double gaussian_kl_loss(View mu, View logvar,
                        const GaussianKlOptions& options = {},
                        const GaussianKlOutputs& outputs = {});

// total = reconstruction + beta * KL, both reduced as above.
struct VaeOptions {
  ReconKind recon_kind = ReconKind::kBceWithLogits;
  double beta = 1.0;  // finite, >= 0
  Reduction reduction = Reduction::kMean;
};
struct VaeOutputs {
  MutableView out = {};  // kNone: per-sample totals (N,)
  MutableView grad_recon = {}, grad_mu = {}, grad_logvar = {};
  double grad_output = 1.0;
  View grad_output_elementwise = {};  // kNone: (N,)
};
struct VaeResult {
  double total, reconstruction, kl;  // total = reconstruction + beta kl
};
VaeResult vae_loss(View recon, View x, View mu, View logvar,
                   const VaeOptions& options = {},
                   const VaeOutputs& outputs = {});

// PyTorch's gaussian_nll_loss:
//   l = 0.5 (log v + (input - target)^2 / v) [+ 0.5 log(2 pi) with full],
//   v = max(var, eps)
// The clamp is applied outside autograd in PyTorch, so the var gradient is
// 0.5 (1/v - (input - target)^2 / v^2) evaluated at the clamped v, also
// where var < eps. var has the input's shape, or is homoscedastic: the
// input's shape without its last dim, or the input's shape with exactly one
// dim of size 1 (its gradient is summed over that dim). var < 0 or NaN is an
// error. Reduction over all elements of the input (kNone: out of the
// input's shape).
struct GaussianNllOptions {
  bool full = false;
  double eps = 1e-6;  // > 0
  Reduction reduction = Reduction::kMean;
};
struct GaussianNllOutputs {
  MutableView out = {};
  MutableView grad_input = {}, grad_var = {};
  double grad_output = 1.0;
  View grad_output_elementwise = {};
};
double gaussian_nll_loss(View input, View target, View var,
                         const GaussianNllOptions& options = {},
                         const GaussianNllOutputs& outputs = {});

}  // namespace losslab

#endif  // LOSSLAB_LOSSES_GENERATIVE_H_
