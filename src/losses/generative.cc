// Generative losses, op layer: validation, the reduction scale, and calls of
// the elementwise kernels (generative_kernels.cc) or of the elementwise
// driver of mse_loss / binary_cross_entropy[_with_logits] for the
// reconstruction term. Per-sample sums (reduction 'none') add the per-element
// values of a row in order, in double, so they do not depend on threads.
#include "losslab/losses/generative.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "src/core/checks.h"
#include "src/losses/elementwise_op.h"
#include "src/losses/generative.h"

namespace losslab {
namespace {

using detail::ElemCall;
using detail::GenFnId;
using detail::value_str;

// One elementwise term: functor id and its parameters.
struct Term {
  GenFnId id;
  double p0 = 0.0, p1 = 0.0;
};

uint32_t blocks(GenFnId id, const ElemCall<float>& c, int64_t b0, int64_t b1,
                double* p) {
  return detail::gen_blocks_f32(id, c, b0, b1, p);
}
uint32_t blocks(GenFnId id, const ElemCall<double>& c, int64_t b0, int64_t b1,
                double* p) {
  return detail::gen_blocks_f64(id, c, b0, b1, p);
}

// Runs one term over n elements; returns the plain sum of the per-element
// losses (fixed blocks, pairwise). gscale multiplies the gradient (and the
// `hess` slot); gout, when present, too.
template <class T>
double run_term(const Term& t, const T* x, const T* y, int64_t n, T gscale,
                const T* gout, T* out, T* grad, T* hess = nullptr,
                const T* aux = nullptr, int64_t aux_period = 0) {
  ElemCall<T> c{};
  c.x = x;
  c.y = y ? y : x;
  c.gout = gout;
  c.out = out;
  c.grad = grad;
  c.hess = hess;
  c.n = n;
  c.gscale = gscale;
  c.p0 = t.p0;
  c.p1 = t.p1;
  c.aux = aux;
  c.aux_period = aux_period;
  const int64_t nb = (n + detail::kBlock - 1) / detail::kBlock;
  std::vector<double> partials(static_cast<size_t>(nb), 0.0);
  parallel_for(nb, 8, [&](int64_t b0, int64_t b1) {
    (void)blocks(t.id, c, b0, b1, partials.data());
  });
  return pairwise_sum(partials.data(), nb);
}

void check_reduction(std::string_view fn, Reduction r) {
  if (r == Reduction::kBatchMean) {
    throw_value_error(std::string(fn) +
                      ": reduction='batchmean' is only defined for kl_div; "
                      "use 'mean', 'sum' or 'none'");
  }
}

void check_upstream(std::string_view fn, Reduction r, double go, const View& ge,
                    const Shape& shape, DType dtype,
                    std::string_view arg = "grad_output") {
  if (!std::isfinite(go)) {
    throw_value_error(std::string(fn) + ": grad_output must be finite; got " +
                      value_str(go));
  }
  if (!ge.present()) return;
  if (r != Reduction::kNone) {
    throw_value_error(std::string(fn) + ": an elementwise " + std::string(arg) +
                      " needs reduction='none'; pass a scalar grad_output for "
                      "'mean' or 'sum'");
  }
  detail::require_same_dtype(fn, arg, ge, "input", dtype);
  detail::require_same_shape(fn, arg, ge.shape, "loss", shape);
}

// A float input with at least one element.
void check_input(std::string_view fn, std::string_view arg, const View& v) {
  detail::require_float(fn, arg, v);
  detail::require_nonempty(fn, arg, v);
  if (v.data == nullptr) {
    throw_value_error(std::string(fn) + ": " + std::string(arg) +
                      " has a null data pointer");
  }
}

// ---------------------------------------------------------------------------
// GAN.

struct GanTerms {
  Term real, fake, gen;
};

GanTerms gan_terms(GanKind k) {
  switch (k) {
    case GanKind::kMinimax:
      // D: softplus(-r) + softplus(f); G: log(1 - sigma(f)) = -softplus(f).
      return {{GenFnId::kSoftplus, -1, 1},
              {GenFnId::kSoftplus, 1, 1},
              {GenFnId::kSoftplus, 1, -1}};
    case GanKind::kNonSaturating:
      return {{GenFnId::kSoftplus, -1, 1},
              {GenFnId::kSoftplus, 1, 1},
              {GenFnId::kSoftplus, -1, 1}};
    case GanKind::kHinge:
      return {{GenFnId::kHinge, -1, 1},
              {GenFnId::kHinge, 1, 1},
              {GenFnId::kLinear, -1, 0}};
    case GanKind::kWasserstein:
      return {{GenFnId::kLinear, -1, 0},
              {GenFnId::kLinear, 1, 0},
              {GenFnId::kLinear, -1, 0}};
    case GanKind::kLeastSquares:
      // Mao et al.: a = 0 (fake label), b = 1 (real label), c = 1.
      return {{GenFnId::kHalfSq, 1, 0},
              {GenFnId::kHalfSq, 0, 0},
              {GenFnId::kHalfSq, 1, 0}};
  }
  return {};
}

template <class T>
double gan_side(const Term& t, const View& x, Reduction r, double go,
                const View& ge, const MutableView& out,
                const MutableView& grad) {
  const detail::Contiguous<T> xc(x), gc(ge);
  const int64_t n = x.numel();
  const double scale = r == Reduction::kMean ? 1.0 / double(n) : 1.0;
  const double s = run_term<T>(t, xc.get(), nullptr, n, T(go * scale), gc.get(),
                               out.present() ? out.as<T>() : nullptr,
                               grad.present() ? grad.as<T>() : nullptr);
  return s * scale;
}

// ---------------------------------------------------------------------------
// Per-sample losses (reconstruction, KL): the sum over the features of each
// sample. Shapes (N, F...) with F = numel / N.

// Row sums of per-element values e (N x F), in order, in double.
template <class T>
void row_sums(const std::vector<T>& e, int64_t N, int64_t F,
              std::vector<double>& acc) {
  for (int64_t i = 0; i < N; ++i) {
    double s = 0.0;
    for (int64_t j = 0; j < F; ++j) s += double(e[size_t(i * F + j)]);
    acc[size_t(i)] += s;
  }
}

template <class T>
std::vector<T> expand_rows(const View& ge, int64_t N, int64_t F) {
  const detail::Contiguous<T> gc(ge);
  std::vector<T> g(static_cast<size_t>(N * F));
  for (int64_t i = 0; i < N; ++i) {
    std::fill(g.begin() + i * F, g.begin() + (i + 1) * F, gc.get()[i]);
  }
  return g;
}

// KL terms into per-sample sums (none) or the reduced value.
template <class T>
double kl_typed(const View& mu, const View& lv, Reduction r, double go,
                const View& ge, T* out_ps, T* gmu, T* glv,
                std::vector<double>* per_sample) {
  const int64_t N = mu.shape[0], n = mu.numel(), F = n / N;
  const detail::Contiguous<T> mc(mu), lc(lv);
  if (r == Reduction::kNone) {
    std::vector<T> e1(static_cast<size_t>(n)), e2(static_cast<size_t>(n));
    std::vector<T> gfull;
    if (ge.present()) gfull = expand_rows<T>(ge, N, F);
    const T gs = T(go);
    run_term<T>({GenFnId::kHalfSq, 0, 0}, mc.get(), nullptr, n, gs,
                ge.present() ? gfull.data() : nullptr, e1.data(), gmu);
    run_term<T>({GenFnId::kKlLogvar}, lc.get(), nullptr, n, gs,
                ge.present() ? gfull.data() : nullptr, e2.data(), glv);
    std::vector<double> acc(static_cast<size_t>(N), 0.0);
    row_sums(e1, N, F, acc);
    row_sums(e2, N, F, acc);
    double total = 0.0;
    for (int64_t i = 0; i < N; ++i) {
      if (out_ps) out_ps[i] = T(acc[size_t(i)]);
      total += double(T(acc[size_t(i)]));
    }
    if (per_sample) *per_sample = acc;
    return total;
  }
  const double scale = r == Reduction::kMean ? 1.0 / double(N) : 1.0;
  const T gs = T(go * scale);
  const double a = run_term<T>({GenFnId::kHalfSq, 0, 0}, mc.get(), nullptr, n,
                               gs, nullptr, nullptr, gmu);
  const double b = run_term<T>({GenFnId::kKlLogvar}, lc.get(), nullptr, n, gs,
                               nullptr, nullptr, glv);
  return (a + b) * scale;
}

void check_batch_input(std::string_view fn, std::string_view arg,
                       const View& v) {
  check_input(fn, arg, v);
  if (v.shape.ndim() < 1) {
    throw_value_error(std::string(fn) + ": " + std::string(arg) +
                      " must have a batch dimension (N, ...); got shape ()");
  }
}

void check_kl_args(std::string_view fn, const View& mu, const View& lv,
                   Reduction r, const MutableView& out, const MutableView& gmu,
                   const MutableView& glv, double go, const View& ge) {
  check_reduction(fn, r);
  check_batch_input(fn, "mu", mu);
  detail::require_float(fn, "logvar", lv);
  detail::require_same_dtype(fn, "logvar", lv, "mu", mu.dtype);
  detail::require_same_shape(fn, "logvar", lv.shape, "mu", mu.shape);
  detail::check_output(fn, "grad_mu", gmu, mu.shape, mu.dtype);
  detail::check_output(fn, "grad_logvar", glv, mu.shape, mu.dtype);
  const Shape ps{mu.shape[0]};
  if (r == Reduction::kNone && !out.present()) {
    throw_value_error(std::string(fn) +
                      ": reduction='none' needs out of shape " + ps.str() +
                      " (one value per sample)");
  }
  if (out.present()) detail::check_output(fn, "out", out, ps, mu.dtype);
  check_upstream(fn, r, go, ge, ps, mu.dtype);
}

// Reconstruction through the public elementwise losses.
template <class T>
double recon_typed(std::string_view fn, const View& recon, const View& x,
                   ReconKind kind, Reduction r, double go, const View& ge,
                   T* out_ps, const MutableView& grad,
                   std::vector<double>* per_sample) {
  const int64_t N = recon.shape[0], n = recon.numel(), F = n / N;
  // The elementwise driver of mse_loss / binary_cross_entropy[_with_logits],
  // called with this function's name and argument names, so that a bad x
  // reads "vae_loss: x contains nan ..." and not the inner loss's message.
  const View no_weight{};
  auto call = [&](Reduction rr, const LossOutputs& o) {
    detail::ElemSpec s{};
    s.fn = fn;
    switch (kind) {
      case ReconKind::kMse:
        s.loss = detail::ElemLossId::kMse;
        break;
      case ReconKind::kBce:
        s.loss = detail::ElemLossId::kBce;
        break;
      case ReconKind::kBceWithLogits:
        s.loss = detail::ElemLossId::kBceLogits;
        break;
    }
    s.input = &recon;
    s.target = &x;
    s.weight = &no_weight;
    s.reduction = rr;
    s.nan_policy = NanPolicy::kPropagate;
    s.outputs = &o;
    s.input_arg = "recon";
    s.target_arg = "x";
    return detail::run_elementwise_loss(s);
  };
  if (r == Reduction::kNone) {
    std::vector<T> e(static_cast<size_t>(n)), gfull;
    LossOutputs o{};
    o.out = MutableView{e.data(), recon.dtype, recon.shape, {}};
    o.grad_out = grad;
    o.grad_output = go;
    if (ge.present()) {
      gfull = expand_rows<T>(ge, N, F);
      o.grad_output_elementwise =
          View{gfull.data(), recon.dtype, recon.shape, {}};
    }
    call(Reduction::kNone, o);
    std::vector<double> acc(static_cast<size_t>(N), 0.0);
    row_sums(e, N, F, acc);
    double total = 0.0;
    for (int64_t i = 0; i < N; ++i) {
      if (out_ps) out_ps[i] = T(acc[size_t(i)]);
      total += double(T(acc[size_t(i)]));
    }
    if (per_sample) *per_sample = acc;
    return total;
  }
  const double scale = r == Reduction::kMean ? 1.0 / double(N) : 1.0;
  LossOutputs o{};
  o.grad_out = grad;
  o.grad_output = go * scale;
  return call(Reduction::kSum, o) * scale;
}

void check_recon_args(std::string_view fn, const View& recon, const View& x,
                      Reduction r, const MutableView& out, double go,
                      const View& ge) {
  check_reduction(fn, r);
  check_batch_input(fn, "recon", recon);
  detail::require_float(fn, "x", x);
  detail::require_same_dtype(fn, "x", x, "recon", recon.dtype);
  detail::require_same_shape(fn, "x", x.shape, "recon", recon.shape);
  const Shape ps{recon.shape[0]};
  if (r == Reduction::kNone && !out.present()) {
    throw_value_error(std::string(fn) +
                      ": reduction='none' needs out of shape " + ps.str() +
                      " (one value per sample)");
  }
  if (out.present()) detail::check_output(fn, "out", out, ps, recon.dtype);
  check_upstream(fn, r, go, ge, ps, recon.dtype);
}

}  // namespace

GanKind parse_gan_kind(std::string_view s, std::string_view function) {
  if (s == "minimax") return GanKind::kMinimax;
  if (s == "non_saturating") return GanKind::kNonSaturating;
  if (s == "hinge") return GanKind::kHinge;
  if (s == "wasserstein") return GanKind::kWasserstein;
  if (s == "least_squares") return GanKind::kLeastSquares;
  throw_value_error(std::string(function) + ": kind '" + std::string(s) +
                    "' is not one of 'minimax', 'non_saturating', 'hinge', "
                    "'wasserstein', 'least_squares'");
}

ReconKind parse_recon_kind(std::string_view s, std::string_view function) {
  if (s == "mse") return ReconKind::kMse;
  if (s == "bce") return ReconKind::kBce;
  if (s == "bce_with_logits") return ReconKind::kBceWithLogits;
  throw_value_error(std::string(function) + ": kind '" + std::string(s) +
                    "' is not one of 'mse', 'bce', 'bce_with_logits'");
}

double gan_discriminator_loss(View real, View fake, const GanOptions& opt,
                              const GanOutputs& o) {
  constexpr std::string_view fn = "gan_discriminator_loss";
  check_reduction(fn, opt.reduction);
  check_input(fn, "real", real);
  check_input(fn, "fake", fake);
  detail::require_same_dtype(fn, "fake", fake, "real", real.dtype);
  if (opt.reduction == Reduction::kNone &&
      !(o.out_real.present() && o.out_fake.present())) {
    throw_value_error(std::string(fn) +
                      ": reduction='none' needs out_real and out_fake (of "
                      "the shapes of real and fake)");
  }
  detail::check_output(fn, "out_real", o.out_real, real.shape, real.dtype);
  detail::check_output(fn, "out_fake", o.out_fake, fake.shape, real.dtype);
  detail::check_output(fn, "grad_real", o.grad_real, real.shape, real.dtype);
  detail::check_output(fn, "grad_fake", o.grad_fake, fake.shape, real.dtype);
  check_upstream(fn, opt.reduction, o.grad_output, o.grad_output_real,
                 real.shape, real.dtype, "grad_output_real");
  check_upstream(fn, opt.reduction, o.grad_output, o.grad_output_fake,
                 fake.shape, real.dtype, "grad_output_fake");
  const GanTerms t = gan_terms(opt.kind);
  if (real.dtype == DType::kFloat32) {
    const double v =
        gan_side<float>(t.real, real, opt.reduction, o.grad_output,
                        o.grad_output_real, o.out_real, o.grad_real) +
        gan_side<float>(t.fake, fake, opt.reduction, o.grad_output,
                        o.grad_output_fake, o.out_fake, o.grad_fake);
    return double(float(v));
  }
  return gan_side<double>(t.real, real, opt.reduction, o.grad_output,
                          o.grad_output_real, o.out_real, o.grad_real) +
         gan_side<double>(t.fake, fake, opt.reduction, o.grad_output,
                          o.grad_output_fake, o.out_fake, o.grad_fake);
}

double gan_generator_loss(View fake, const GanOptions& opt,
                          const LossOutputs& o) {
  constexpr std::string_view fn = "gan_generator_loss";
  check_reduction(fn, opt.reduction);
  check_input(fn, "fake", fake);
  if (opt.reduction == Reduction::kNone && !o.out.present()) {
    throw_value_error(std::string(fn) +
                      ": reduction='none' needs out (of fake's shape)");
  }
  detail::check_output(fn, "out", o.out, fake.shape, fake.dtype);
  detail::check_output(fn, "grad_out", o.grad_out, fake.shape, fake.dtype);
  if (o.hess_out.present()) {
    throw_value_error(std::string(fn) + ": hess_out is not available");
  }
  check_upstream(fn, opt.reduction, o.grad_output, o.grad_output_elementwise,
                 fake.shape, fake.dtype);
  const Term t = gan_terms(opt.kind).gen;
  if (fake.dtype == DType::kFloat32) {
    return double(
        float(gan_side<float>(t, fake, opt.reduction, o.grad_output,
                              o.grad_output_elementwise, o.out, o.grad_out)));
  }
  return gan_side<double>(t, fake, opt.reduction, o.grad_output,
                          o.grad_output_elementwise, o.out, o.grad_out);
}

double reconstruction_loss(View recon, View x, const ReconstructionOptions& opt,
                           const LossOutputs& o) {
  constexpr std::string_view fn = "reconstruction_loss";
  check_recon_args(fn, recon, x, opt.reduction, o.out, o.grad_output,
                   o.grad_output_elementwise);
  detail::check_output(fn, "grad_out", o.grad_out, recon.shape, recon.dtype);
  if (o.hess_out.present()) {
    throw_value_error(std::string(fn) + ": hess_out is not available");
  }
  if (recon.dtype == DType::kFloat32) {
    return double(float(recon_typed<float>(
        fn, recon, x, opt.kind, opt.reduction, o.grad_output,
        o.grad_output_elementwise,
        o.out.present() ? o.out.as<float>() : nullptr, o.grad_out, nullptr)));
  }
  return recon_typed<double>(fn, recon, x, opt.kind, opt.reduction,
                             o.grad_output, o.grad_output_elementwise,
                             o.out.present() ? o.out.as<double>() : nullptr,
                             o.grad_out, nullptr);
}

double gaussian_kl_loss(View mu, View logvar, const GaussianKlOptions& opt,
                        const GaussianKlOutputs& o) {
  constexpr std::string_view fn = "gaussian_kl_loss";
  check_kl_args(fn, mu, logvar, opt.reduction, o.out, o.grad_mu, o.grad_logvar,
                o.grad_output, o.grad_output_elementwise);
  if (mu.dtype == DType::kFloat32) {
    return double(float(kl_typed<float>(
        mu, logvar, opt.reduction, o.grad_output, o.grad_output_elementwise,
        o.out.present() ? o.out.as<float>() : nullptr,
        o.grad_mu.present() ? o.grad_mu.as<float>() : nullptr,
        o.grad_logvar.present() ? o.grad_logvar.as<float>() : nullptr,
        nullptr)));
  }
  return kl_typed<double>(
      mu, logvar, opt.reduction, o.grad_output, o.grad_output_elementwise,
      o.out.present() ? o.out.as<double>() : nullptr,
      o.grad_mu.present() ? o.grad_mu.as<double>() : nullptr,
      o.grad_logvar.present() ? o.grad_logvar.as<double>() : nullptr, nullptr);
}

namespace {
template <class T>
VaeResult vae_typed(const View& recon, const View& x, const View& mu,
                    const View& lv, const VaeOptions& opt,
                    const VaeOutputs& o) {
  const bool none = opt.reduction == Reduction::kNone;
  std::vector<double> rs, ks;
  const double rv = recon_typed<T>(
      "vae_loss", recon, x, opt.recon_kind, opt.reduction, o.grad_output,
      o.grad_output_elementwise, nullptr, o.grad_recon, none ? &rs : nullptr);
  // beta scales the KL gradient through its upstream gradient.
  std::vector<T> gb;
  View geb;
  if (o.grad_output_elementwise.present()) {
    const detail::Contiguous<T> gc(o.grad_output_elementwise);
    const int64_t N = o.grad_output_elementwise.numel();
    gb.resize(size_t(N));
    for (int64_t i = 0; i < N; ++i) gb[size_t(i)] = T(opt.beta * gc.get()[i]);
    geb = View{gb.data(), mu.dtype, o.grad_output_elementwise.shape, {}};
  }
  const double kv =
      kl_typed<T>(mu, lv, opt.reduction, opt.beta * o.grad_output, geb, nullptr,
                  o.grad_mu.present() ? o.grad_mu.as<T>() : nullptr,
                  o.grad_logvar.present() ? o.grad_logvar.as<T>() : nullptr,
                  none ? &ks : nullptr);
  double total = 0.0;
  if (none) {
    for (size_t i = 0; i < rs.size(); ++i) {
      const T v = T(T(rs[i]) + T(opt.beta) * T(ks[i]));
      if (o.out.present()) o.out.as<T>()[i] = v;
      total += double(v);
    }
  } else {
    total = double(T(rv)) + double(T(opt.beta)) * double(T(kv));
  }
  return {double(T(total)), double(T(rv)), double(T(kv))};
}
}  // namespace

VaeResult vae_loss(View recon, View x, View mu, View logvar,
                   const VaeOptions& opt, const VaeOutputs& o) {
  constexpr std::string_view fn = "vae_loss";
  if (!(std::isfinite(opt.beta) && opt.beta >= 0.0)) {
    throw_value_error(std::string(fn) + ": beta=" + value_str(opt.beta) +
                      " must be finite and >= 0 (1.0 is the plain VAE)");
  }
  check_recon_args(fn, recon, x, opt.reduction, o.out, o.grad_output,
                   o.grad_output_elementwise);
  detail::check_output(fn, "grad_recon", o.grad_recon, recon.shape,
                       recon.dtype);
  // The per-sample totals (kNone) are checked against the batch like the KL
  // term's own output would be.
  check_kl_args(fn, mu, logvar, opt.reduction, o.out, o.grad_mu, o.grad_logvar,
                o.grad_output, o.grad_output_elementwise);
  detail::require_same_dtype(fn, "mu", mu, "recon", recon.dtype);
  if (mu.shape[0] != recon.shape[0]) {
    throw_value_error(std::string(fn) + ": mu shape " + mu.shape.str() +
                      " and recon shape " + recon.shape.str() +
                      " must have the same batch size (dim 0)");
  }
  if (recon.dtype == DType::kFloat32) {
    return vae_typed<float>(recon, x, mu, logvar, opt, o);
  }
  return vae_typed<double>(recon, x, mu, logvar, opt, o);
}

namespace {

// var's relation to the input: same shape, or broadcast along one dim `dim`
// (var has size 1 there, or lacks the last dim).
struct VarLayout {
  int dim = -1;  // -1: same shape
  int64_t outer = 1, len = 1, inner = 1;
};

VarLayout var_layout(std::string_view fn, const Shape& in, const Shape& var) {
  VarLayout L;
  if (var == in) return L;
  const int nd = in.ndim();
  auto set = [&](int k) {
    L.dim = k;
    for (int j = 0; j < k; ++j) L.outer *= in[j];
    L.len = in[k];
    for (int j = k + 1; j < nd; ++j) L.inner *= in[j];
  };
  if (nd >= 1 && var.ndim() == nd - 1) {
    bool ok = true;
    for (int j = 0; j < nd - 1; ++j) ok = ok && var[j] == in[j];
    if (ok) {
      set(nd - 1);
      return L;
    }
  }
  if (var.ndim() == nd) {
    int mism = -1, count = 0;
    for (int j = 0; j < nd; ++j) {
      if (var[j] != in[j]) {
        ++count;
        mism = j;
      }
    }
    if (count == 1 && var[mism] == 1) {
      set(mism);
      return L;
    }
  }
  throw_value_error(std::string(fn) + ": var shape " + var.str() +
                    " does not fit input shape " + in.str() +
                    "; pass var of the input's shape, of the input's shape "
                    "without its last dim (homoscedastic), or with exactly "
                    "one dim of size 1 (PyTorch's rule)");
}

template <class T>
double gnll_typed(const View& x, const View& y, const View& var,
                  const VarLayout& L, const GaussianNllOptions& opt,
                  const GaussianNllOutputs& o) {
  const int64_t n = x.numel();
  const detail::Contiguous<T> xc(x), yc(y), vc(var),
      gc(o.grad_output_elementwise);
  for (int64_t i = 0; i < var.numel(); ++i) {
    const T v = vc.get()[i];
    if (!(v >= T(0) && v <= std::numeric_limits<T>::max())) {
      throw_value_error("gaussian_nll_loss: var has " + value_str(double(v)) +
                        " at index " + detail::index_str(i, var.shape) +
                        "; variances must be finite and >= 0 (values below "
                        "eps are clamped to eps)");
    }
  }
  // The variance per element, as the driver's aux (period n, plus 16
  // repeated values so a vector at any offset reads with one load).
  std::vector<T> aux(static_cast<size_t>(n + detail::kVirtualLanes));
  for (int64_t i = 0; i < n; ++i) {
    int64_t vi = i;
    if (L.dim >= 0) vi = (i / (L.len * L.inner)) * L.inner + i % L.inner;
    aux[size_t(i)] = vc.get()[vi];
  }
  for (int64_t k = 0; k < detail::kVirtualLanes; ++k) {
    aux[size_t(n + k)] = aux[size_t(k % n)];
  }
  const double scale =
      opt.reduction == Reduction::kMean ? 1.0 / double(n) : 1.0;
  std::vector<T> gv_full;
  T* gv = nullptr;
  if (o.grad_var.present()) {
    if (L.dim < 0) {
      gv = o.grad_var.as<T>();
    } else {
      gv_full.resize(size_t(n));
      gv = gv_full.data();
    }
  }
  const double c = opt.full ? 0.5 * std::log(2.0 * std::numbers::pi) : 0.0;
  const double s =
      run_term<T>({GenFnId::kGaussNll, opt.eps, double(T(c))}, xc.get(),
                  yc.get(), n, T(o.grad_output * scale), gc.get(),
                  o.out.present() ? o.out.as<T>() : nullptr,
                  o.grad_input.present() ? o.grad_input.as<T>() : nullptr, gv,
                  aux.data(), n);
  if (gv && L.dim >= 0) {
    // Sum over the broadcast dim, in order.
    T* g = o.grad_var.as<T>();
    for (int64_t a = 0; a < L.outer; ++a) {
      for (int64_t b = 0; b < L.inner; ++b) {
        double acc = 0.0;
        for (int64_t k = 0; k < L.len; ++k) {
          acc += double(gv_full[size_t((a * L.len + k) * L.inner + b)]);
        }
        g[a * L.inner + b] = T(acc);
      }
    }
  }
  return double(T(s * scale));
}

}  // namespace

double gaussian_nll_loss(View input, View target, View var,
                         const GaussianNllOptions& opt,
                         const GaussianNllOutputs& o) {
  constexpr std::string_view fn = "gaussian_nll_loss";
  if (!(std::isfinite(opt.eps) && opt.eps > 0.0)) {
    throw_value_error(std::string(fn) + ": eps=" + value_str(opt.eps) +
                      " must be finite and > 0 (1e-6 by default)");
  }
  check_reduction(fn, opt.reduction);
  check_input(fn, "input", input);
  detail::require_float(fn, "target", target);
  detail::require_same_dtype(fn, "target", target, "input", input.dtype);
  detail::require_same_shape(fn, "target", target.shape, "input", input.shape);
  detail::require_float(fn, "var", var);
  detail::require_same_dtype(fn, "var", var, "input", input.dtype);
  const VarLayout L = var_layout(fn, input.shape, var.shape);
  if (opt.reduction == Reduction::kNone && !o.out.present()) {
    throw_value_error(std::string(fn) +
                      ": reduction='none' needs out (of the input's shape)");
  }
  detail::check_output(fn, "out", o.out, input.shape, input.dtype);
  detail::check_output(fn, "grad_input", o.grad_input, input.shape,
                       input.dtype);
  detail::check_output(fn, "grad_var", o.grad_var, var.shape, input.dtype);
  check_upstream(fn, opt.reduction, o.grad_output, o.grad_output_elementwise,
                 input.shape, input.dtype);
  if (input.dtype == DType::kFloat32) {
    return gnll_typed<float>(input, target, var, L, opt, o);
  }
  return gnll_typed<double>(input, target, var, L, opt, o);
}

}  // namespace losslab
