// Python bindings of the generative losses (losslab/losses/generative.h).
// Losses with several differentiable inputs return (loss, (grad_a, grad_b,
// ...)) in argument order. No math lives here.
#include "losslab/losses/generative.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <string>

#include "arrays.h"
#include "losslab/core/error.h"
#include "registry.h"

namespace losslab::python {
namespace {

bool is_float(const View& v) {
  return v.dtype == DType::kFloat32 || v.dtype == DType::kFloat64;
}

// A new array like `like` (shape, dtype) when wanted and the dtype is usable.
nb::object alloc(bool wanted, const Shape& shape, const View& like,
                 MutableView* mv) {
  if (!wanted || !is_float(like)) return nb::none();
  void* p;
  nb::object o = new_array(shape, like.dtype, &p);
  *mv = MutableView{p, like.dtype, shape, {}};
  return o;
}

Shape batch_shape(const View& v) {
  return v.shape.ndim() >= 1 ? Shape{v.shape[0]} : Shape{1};
}

constexpr const char* kCommon = R"(
    reduction: "mean" (default), "sum" or "none".
    return_grad: also return the gradient(s).
    grad_output: upstream gradient: a number, or for "none" an array of the
        "none" result's shape.)";

}  // namespace

void bind_generative(nb::module_& m) {
  m.def(
      "gan_discriminator_loss",
      [](nb::handle real, nb::handle fake, const std::string& kind,
         const std::string& reduction, bool return_grad,
         nb::handle grad_output) {
        constexpr std::string_view fn = "gan_discriminator_loss";
        const Input r = to_required_input(fn, "real", real);
        const Input f = to_required_input(fn, "fake", fake);
        const GanOptions opt{parse_gan_kind(kind, fn),
                             parse_reduction(reduction, fn)};
        GanOutputs o;
        Input gr, gf;
        if (!grad_output.is_none() && nb::isinstance<nb::tuple>(grad_output)) {
          nb::tuple t = nb::borrow<nb::tuple>(grad_output);
          if (t.size() != 2) {
            throw_value_error(std::string(fn) +
                              ": grad_output must be a number or a pair "
                              "(grad_real, grad_fake) of arrays");
          }
          gr = to_grad_output(fn, "grad_output_real", t[0], &o.grad_output,
                              &o.grad_output_real);
          gf = to_grad_output(fn, "grad_output_fake", t[1], &o.grad_output,
                              &o.grad_output_fake);
        } else {
          gr = to_grad_output(fn, "grad_output", grad_output, &o.grad_output,
                              &o.grad_output_real);
        }
        const bool none = opt.reduction == Reduction::kNone;
        nb::object orr = alloc(none, r.view.shape, r.view, &o.out_real);
        nb::object off = alloc(none, f.view.shape, r.view, &o.out_fake);
        nb::object grr = alloc(return_grad, r.view.shape, r.view, &o.grad_real);
        nb::object gff = alloc(return_grad, f.view.shape, r.view, &o.grad_fake);
        double v;
        {
          nb::gil_scoped_release rel;
          v = gan_discriminator_loss(r.view, f.view, opt, o);
        }
        nb::object loss = none ? nb::object(nb::make_tuple(orr, off))
                               : nb::object(nb::float_(v));
        if (return_grad)
          return nb::object(nb::make_tuple(loss, nb::make_tuple(grr, gff)));
        return loss;
      },
      nb::arg("real"), nb::arg("fake"), nb::kw_only(),
      nb::arg("kind") = "non_saturating", nb::arg("reduction") = "mean",
      nb::arg("return_grad") = false, nb::arg("grad_output") = nb::none(),
      (std::string(
           "GAN discriminator loss on raw outputs (logits / critic scores) "
           "of real and fake samples. kind: 'minimax' and 'non_saturating' "
           "softplus(-r) + softplus(f); 'hinge' relu(1 - r) + relu(1 + f); "
           "'wasserstein' -r + f; 'least_squares' (r - 1)^2/2 + f^2/2 "
           "(a=0, b=1). 'mean' averages each term over its own batch and "
           "adds them; 'none' returns (loss_real, loss_fake) arrays.\n"
           "Returns loss, or (loss, (grad_real, grad_fake)) with return_grad."
           " grad_output for 'none': a pair (for_real, for_fake).") +
       kCommon)
          .c_str());

  m.def(
      "gan_generator_loss",
      [](nb::handle fake, const std::string& kind, const std::string& reduction,
         bool return_grad, nb::handle grad_output) {
        constexpr std::string_view fn = "gan_generator_loss";
        const Input f = to_required_input(fn, "fake", fake);
        const GanOptions opt{parse_gan_kind(kind, fn),
                             parse_reduction(reduction, fn)};
        LossOutputs o;
        const Input go =
            to_grad_output(fn, "grad_output", grad_output, &o.grad_output,
                           &o.grad_output_elementwise);
        const bool none = opt.reduction == Reduction::kNone;
        nb::object out = alloc(none, f.view.shape, f.view, &o.out);
        nb::object g = alloc(return_grad, f.view.shape, f.view, &o.grad_out);
        double v;
        {
          nb::gil_scoped_release rel;
          v = gan_generator_loss(f.view, opt, o);
        }
        nb::object loss = none ? out : nb::object(nb::float_(v));
        if (return_grad) return nb::object(nb::make_tuple(loss, g));
        return loss;
      },
      nb::arg("fake"), nb::kw_only(), nb::arg("kind") = "non_saturating",
      nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
      nb::arg("grad_output") = nb::none(),
      (std::string(
           "GAN generator loss on the discriminator's raw outputs f of fake "
           "samples. kind: 'minimax' -softplus(f) (= log(1 - D), "
           "minimized); 'non_saturating' softplus(-f) (= -log D); 'hinge' "
           "and 'wasserstein' -f; 'least_squares' (f - 1)^2/2 (c=1).\n"
           "Returns loss, or (loss, grad) with return_grad.") +
       kCommon)
          .c_str());

  m.def(
      "reconstruction_loss",
      [](nb::handle recon, nb::handle x, const std::string& kind,
         const std::string& reduction, bool return_grad,
         nb::handle grad_output) {
        constexpr std::string_view fn = "reconstruction_loss";
        const Input r = to_required_input(fn, "recon", recon);
        const Input t = to_required_input(fn, "x", x);
        const ReconstructionOptions opt{parse_recon_kind(kind, fn),
                                        parse_reduction(reduction, fn)};
        LossOutputs o;
        const Input go =
            to_grad_output(fn, "grad_output", grad_output, &o.grad_output,
                           &o.grad_output_elementwise);
        const bool none = opt.reduction == Reduction::kNone;
        nb::object out = alloc(none, batch_shape(r.view), r.view, &o.out);
        nb::object g = alloc(return_grad, r.view.shape, r.view, &o.grad_out);
        double v;
        {
          nb::gil_scoped_release rel;
          v = reconstruction_loss(r.view, t.view, opt, o);
        }
        nb::object loss = none ? out : nb::object(nb::float_(v));
        if (return_grad) return nb::object(nb::make_tuple(loss, g));
        return loss;
      },
      nb::arg("recon"), nb::arg("x"), nb::kw_only(), nb::arg("kind") = "mse",
      nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
      nb::arg("grad_output") = nb::none(),
      (std::string(
           "VAE reconstruction term: summed over the features of each sample "
           "(all dims but the first), averaged over the batch ('mean'), "
           "summed ('sum') or per sample ('none', shape (N,)). kind: 'mse' "
           "(recon - x)^2; 'bce' binary cross-entropy on probabilities "
           "(torch's binary_cross_entropy); 'bce_with_logits' on logits.\n"
           "Returns loss, or (loss, grad_recon) with return_grad.") +
       kCommon)
          .c_str());

  m.def(
      "gaussian_kl_loss",
      [](nb::handle mu, nb::handle logvar, const std::string& reduction,
         bool return_grad, nb::handle grad_output) {
        constexpr std::string_view fn = "gaussian_kl_loss";
        const Input a = to_required_input(fn, "mu", mu);
        const Input b = to_required_input(fn, "logvar", logvar);
        const GaussianKlOptions opt{parse_reduction(reduction, fn)};
        GaussianKlOutputs o;
        const Input go =
            to_grad_output(fn, "grad_output", grad_output, &o.grad_output,
                           &o.grad_output_elementwise);
        const bool none = opt.reduction == Reduction::kNone;
        nb::object out = alloc(none, batch_shape(a.view), a.view, &o.out);
        nb::object gm = alloc(return_grad, a.view.shape, a.view, &o.grad_mu);
        nb::object gl =
            alloc(return_grad, a.view.shape, a.view, &o.grad_logvar);
        double v;
        {
          nb::gil_scoped_release rel;
          v = gaussian_kl_loss(a.view, b.view, opt, o);
        }
        nb::object loss = none ? out : nb::object(nb::float_(v));
        if (return_grad)
          return nb::object(nb::make_tuple(loss, nb::make_tuple(gm, gl)));
        return loss;
      },
      nb::arg("mu"), nb::arg("logvar"), nb::kw_only(),
      nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
      nb::arg("grad_output") = nb::none(),
      (std::string(
           "KL(N(mu, exp(logvar)) || N(0, I)) = -0.5 sum (1 + logvar - mu^2 "
           "- exp(logvar)) over the latent dims of each sample, averaged "
           "over the batch ('mean'), summed or per sample ('none', (N,)).\n"
           "Returns loss, or (loss, (grad_mu, grad_logvar)) with "
           "return_grad.") +
       kCommon)
          .c_str());

  m.def(
      "vae_loss",
      [](nb::handle recon, nb::handle x, nb::handle mu, nb::handle logvar,
         const std::string& recon_kind, double beta,
         const std::string& reduction, bool return_grad,
         nb::handle grad_output) {
        constexpr std::string_view fn = "vae_loss";
        const Input r = to_required_input(fn, "recon", recon);
        const Input t = to_required_input(fn, "x", x);
        const Input a = to_required_input(fn, "mu", mu);
        const Input b = to_required_input(fn, "logvar", logvar);
        const VaeOptions opt{parse_recon_kind(recon_kind, fn), beta,
                             parse_reduction(reduction, fn)};
        VaeOutputs o;
        const Input go =
            to_grad_output(fn, "grad_output", grad_output, &o.grad_output,
                           &o.grad_output_elementwise);
        const bool none = opt.reduction == Reduction::kNone;
        nb::object out = alloc(none, batch_shape(r.view), r.view, &o.out);
        nb::object gr = alloc(return_grad, r.view.shape, r.view, &o.grad_recon);
        nb::object gm = alloc(return_grad, a.view.shape, a.view, &o.grad_mu);
        nb::object gl =
            alloc(return_grad, a.view.shape, a.view, &o.grad_logvar);
        VaeResult v;
        {
          nb::gil_scoped_release rel;
          v = vae_loss(r.view, t.view, a.view, b.view, opt, o);
        }
        nb::dict d;
        d["loss"] = none ? out : nb::object(nb::float_(v.total));
        d["reconstruction"] = nb::float_(v.reconstruction);
        d["kl"] = nb::float_(v.kl);
        if (return_grad) {
          return nb::object(nb::make_tuple(d, nb::make_tuple(gr, gm, gl)));
        }
        return nb::object(d);
      },
      nb::arg("recon"), nb::arg("x"), nb::arg("mu"), nb::arg("logvar"),
      nb::kw_only(), nb::arg("recon_kind") = "bce_with_logits",
      nb::arg("beta") = 1.0, nb::arg("reduction") = "mean",
      nb::arg("return_grad") = false, nb::arg("grad_output") = nb::none(),
      (std::string(
           "VAE loss: reconstruction_loss(recon, x, kind=recon_kind) + beta "
           "* gaussian_kl_loss(mu, logvar), both with the same reduction.\n"
           "Returns a dict {'loss': total (an (N,) array for 'none'), "
           "'reconstruction': float, 'kl': float} (for 'none' the two terms "
           "are their sums over the batch); with return_grad "
           "(dict, (grad_recon, grad_mu, grad_logvar)).") +
       kCommon)
          .c_str());

  m.def(
      "gaussian_nll_loss",
      [](nb::handle input, nb::handle target, nb::handle var, bool full,
         double eps, const std::string& reduction, bool return_grad,
         nb::handle grad_output) {
        constexpr std::string_view fn = "gaussian_nll_loss";
        const Input x = to_required_input(fn, "input", input);
        const Input y = to_required_input(fn, "target", target);
        const Input v = to_required_input(fn, "var", var);
        const GaussianNllOptions opt{full, eps, parse_reduction(reduction, fn)};
        GaussianNllOutputs o;
        const Input go =
            to_grad_output(fn, "grad_output", grad_output, &o.grad_output,
                           &o.grad_output_elementwise);
        const bool none = opt.reduction == Reduction::kNone;
        nb::object out = alloc(none, x.view.shape, x.view, &o.out);
        nb::object gx = alloc(return_grad, x.view.shape, x.view, &o.grad_input);
        nb::object gv = alloc(return_grad, v.view.shape, x.view, &o.grad_var);
        double r;
        {
          nb::gil_scoped_release rel;
          r = gaussian_nll_loss(x.view, y.view, v.view, opt, o);
        }
        nb::object loss = none ? out : nb::object(nb::float_(r));
        if (return_grad)
          return nb::object(nb::make_tuple(loss, nb::make_tuple(gx, gv)));
        return loss;
      },
      nb::arg("input"), nb::arg("target"), nb::arg("var"), nb::kw_only(),
      nb::arg("full") = false, nb::arg("eps") = 1e-6,
      nb::arg("reduction") = "mean", nb::arg("return_grad") = false,
      nb::arg("grad_output") = nb::none(),
      (std::string(
           "Gaussian negative log-likelihood with PyTorch semantics: 0.5 "
           "(log v + (input - target)^2 / v) [+ 0.5 log(2 pi) with full], v "
           "= max(var, eps) (clamped outside autograd, so the var gradient "
           "is evaluated at v). var: the input's shape, the input's shape "
           "without the last dim, or with one dim of size 1.\nReturns loss, "
           "or (loss, (grad_input, grad_var)) with return_grad.") +
       kCommon)
          .c_str());
}

LOSSLAB_PY_REGISTER(generative, bind_generative);

}  // namespace losslab::python
