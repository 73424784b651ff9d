// Python binding of the ready-made models (losslab/train/models.h): the
// classes behind losslab.models. No math lives here.
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "arrays.h"
#include "losslab/core/error.h"
#include "losslab/train/checkpoint.h"
#include "losslab/train/model.h"
#include "losslab/train/models.h"
#include "losslab/train/optimizer.h"
#include "registry.h"
#include "schedule_dict.h"

namespace losslab::python {
namespace {

using train::EpochLog;
using train::History;
using train::ModelFitOptions;
using train::Optimizer;
using train::Sequential;

nb::object models_array(const std::vector<float>& v, Shape shape) {
  void* data;
  nb::object a = new_array(shape, DType::kFloat32, &data);
  std::memcpy(data, v.data(), v.size() * sizeof(float));
  return a;
}
// A float vector from any 1-D-able float array of exactly n values.
std::vector<float> models_floats(std::string_view fn, nb::handle h, int64_t n) {
  const Input in = to_required_input(fn, "values", h);
  const View& v = in.view;
  if (v.numel() != n ||
      (v.dtype != DType::kFloat32 && v.dtype != DType::kFloat64) ||
      !v.is_contiguous()) {
    throw_value_error(
        std::string(fn) + ": values has " + std::to_string(v.numel()) +
        " elements of " + std::string(dtype_name(v.dtype)) + "; expected " +
        std::to_string(n) +
        " contiguous float values (parameters() gives the layout)");
  }
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    out[i] = v.dtype == DType::kFloat32 ? v.as<float>()[i]
                                        : static_cast<float>(v.as<double>()[i]);
  }
  return out;
}

std::map<std::string, double> models_schedule_dict(const train::Schedule& s) {
  return {{"kind", static_cast<double>(s.kind)},
          {"warmup_steps", static_cast<double>(s.warmup_steps)},
          {"warmup_start_factor", s.warmup_start_factor},
          {"step_size", static_cast<double>(s.step_size)},
          {"gamma", s.gamma},
          {"t_max", static_cast<double>(s.t_max)},
          {"eta_min", s.eta_min}};
}

// The training clock as (epochs, steps).
template <class M>
nb::tuple models_clock(const M& m) {
  return nb::make_tuple(m.clock().epochs, m.clock().steps);
}

nb::dict models_log_dict(const EpochLog& log) {
  nb::dict d;
  d["epoch"] = log.epoch;
  d["lr"] = log.lr;
  d["train_loss"] = log.train_loss;
  d["val_loss"] = log.val_loss;
  for (const auto& [k, v] : log.metrics) d[k.c_str()] = v;
  return d;
}

// The fit options shared by every model's fit, from Python.
ModelFitOptions models_fit_options(int64_t epochs, int64_t batch_size,
                                   bool shuffle, bool drop_last, uint64_t seed,
                                   double clip_grad_norm,
                                   double clip_grad_value,
                                   const std::map<std::string, double>& sched,
                                   nb::object callback) {
  ModelFitOptions o{.epochs = epochs,
                    .batch_size = batch_size,
                    .shuffle = shuffle,
                    .drop_last = drop_last,
                    .seed = seed,
                    .clip_grad_norm = clip_grad_norm,
                    .clip_grad_value = clip_grad_value,
                    .schedule = schedule_from_dict(sched, "fit")};
  if (!callback.is_none()) {
    o.callback = [callback](const EpochLog& log) {
      nb::gil_scoped_acquire acquire;
      nb::object r = callback(models_log_dict(log));
      return r.is_none() || nb::cast<bool>(nb::bool_(r));
    };
  }
  return o;
}

nb::tuple models_history(const History& h) {
  nb::list out;
  for (const auto& log : h.epochs) out.append(models_log_dict(log));
  return nb::make_tuple(out, h.best_epoch, h.stopped_early);
}

#define LOSSLAB_MODELS_FIT_ARGS                                         \
  nb::arg("epochs"), nb::arg("batch_size"), nb::arg("shuffle"),         \
      nb::arg("drop_last"), nb::arg("seed"), nb::arg("clip_grad_norm"), \
      nb::arg("clip_grad_value"), nb::arg("schedule"),                  \
      nb::arg("callback").none()

// Shared parameter accessors of the two-part models (autoencoder, VAE).
template <class M, class C>
void models_bind_params(C& c) {
  c.def_prop_ro("num_parameters", &M::num_parameters)
      .def("get_parameters",
           [](const M& m) {
             const std::vector<float> p = m.parameters();
             return models_array(p, Shape{static_cast<int64_t>(p.size())});
           })
      .def("get_gradients",
           [](const M& m) {
             const std::vector<float> g = m.gradients();
             return models_array(g, Shape{static_cast<int64_t>(g.size())});
           })
      .def("set_parameters",
           [](M& m, nb::handle v) {
             m.set_parameters(
                 models_floats("set_parameters", v, m.num_parameters()));
           })
      .def_prop_ro("encoder", nb::overload_cast<>(&M::encoder),
                   nb::rv_policy::reference_internal)
      .def_prop_ro("decoder", nb::overload_cast<>(&M::decoder),
                   nb::rv_policy::reference_internal)
      .def_prop_ro("clock", &models_clock<M>);
}

void bind_train_models(nb::module_& m) {
  // ---- autoencoder ----
  nb::class_<train::Autoencoder> ae(m, "_TrainAutoencoder");
  ae.def(
      "__init__",
      [](train::Autoencoder* self, int64_t in_features,
         const std::vector<int64_t>& hidden, int64_t latent,
         const std::string& activation, const std::string& reconstruction,
         uint64_t seed) {
        new (self) train::Autoencoder({.in_features = in_features,
                                       .hidden = hidden,
                                       .latent = latent,
                                       .activation = activation,
                                       .reconstruction = reconstruction,
                                       .seed = seed});
      },
      nb::arg("in_features"), nb::arg("hidden"), nb::arg("latent"),
      nb::arg("activation"), nb::arg("reconstruction"), nb::arg("seed"));
  models_bind_params<train::Autoencoder>(ae);
  ae.def("encode",
         [](train::Autoencoder& a, nb::handle x) {
           const Input in = to_required_input("Autoencoder.encode", "x", x);
           std::vector<float> z;
           {
             nb::gil_scoped_release r;
             z = a.encode(in.view);
           }
           return models_array(z, Shape{in.view.shape[0], a.options().latent});
         })
      .def("decode",
           [](train::Autoencoder& a, nb::handle z) {
             const Input in = to_required_input("Autoencoder.decode", "z", z);
             std::vector<float> y;
             {
               nb::gil_scoped_release r;
               y = a.decode(in.view);
             }
             return models_array(
                 y, Shape{in.view.shape[0], a.options().in_features});
           })
      .def("loss", [](train::Autoencoder& a, nb::handle x) {
        const Input in = to_required_input("Autoencoder.loss", "x", x);
        nb::gil_scoped_release r;
        return a.loss(in.view);
      });
  m.def(
      "_train_fit_autoencoder",
      [](train::Autoencoder& model, Optimizer& opt, nb::handle x,
         nb::handle val, int64_t epochs, int64_t batch_size, bool shuffle,
         bool drop_last, uint64_t seed, double clip, double clip_value,
         const std::map<std::string, double>& sched, nb::object callback) {
        const Input xi = to_required_input("fit", "X", x);
        const Input vi = to_input("fit", "validation", val);
        const ModelFitOptions o =
            models_fit_options(epochs, batch_size, shuffle, drop_last, seed,
                               clip, clip_value, sched, callback);
        History h;
        {
          nb::gil_scoped_release r;
          h = train::fit_autoencoder(model, opt, xi.view,
                                     vi.view.present() ? &vi.view : nullptr, o);
        }
        return models_history(h);
      },
      nb::arg("model"), nb::arg("optimizer"), nb::arg("x"),
      nb::arg("validation").none(), LOSSLAB_MODELS_FIT_ARGS);

  // ---- VAE ----
  nb::class_<train::Vae> vae(m, "_TrainVae");
  vae.def(
      "__init__",
      [](train::Vae* self, int64_t in_features,
         const std::vector<int64_t>& hidden, int64_t latent,
         const std::string& activation, const std::string& reconstruction,
         double beta, uint64_t seed) {
        new (self) train::Vae({.in_features = in_features,
                               .hidden = hidden,
                               .latent = latent,
                               .activation = activation,
                               .reconstruction = reconstruction,
                               .beta = beta,
                               .seed = seed});
      },
      nb::arg("in_features"), nb::arg("hidden"), nb::arg("latent"),
      nb::arg("activation"), nb::arg("reconstruction"), nb::arg("beta"),
      nb::arg("seed"));
  models_bind_params<train::Vae>(vae);
  vae.def("encode",
          [](train::Vae& v, nb::handle x) {
            const Input in = to_required_input("VAE.encode", "x", x);
            std::pair<std::vector<float>, std::vector<float>> r;
            {
              nb::gil_scoped_release rel;
              r = v.encode(in.view);
            }
            const Shape s{in.view.shape[0], v.options().latent};
            return nb::make_tuple(models_array(r.first, s),
                                  models_array(r.second, s));
          })
      .def("decode",
           [](train::Vae& v, nb::handle z) {
             const Input in = to_required_input("VAE.decode", "z", z);
             std::vector<float> y;
             {
               nb::gil_scoped_release r;
               y = v.decode(in.view);
             }
             return models_array(
                 y, Shape{in.view.shape[0], v.options().in_features});
           })
      .def("reconstruct",
           [](train::Vae& v, nb::handle x) {
             const Input in = to_required_input("VAE.reconstruct", "x", x);
             std::vector<float> y;
             {
               nb::gil_scoped_release r;
               y = v.reconstruct(in.view);
             }
             return models_array(
                 y, Shape{in.view.shape[0], v.options().in_features});
           })
      .def(
          "sample",
          [](train::Vae& v, int64_t n, uint64_t seed) {
            std::vector<float> y;
            {
              nb::gil_scoped_release r;
              y = v.sample(n, seed);
            }
            return models_array(y, Shape{n, v.options().in_features});
          },
          nb::arg("n"), nb::arg("seed"))
      .def(
          "loss",
          [](train::Vae& v, nb::handle x, uint64_t counter) {
            const Input in = to_required_input("VAE.loss", "x", x);
            train::VaeLoss l;
            {
              nb::gil_scoped_release r;
              l = v.loss(in.view, counter);
            }
            nb::dict d;
            d["loss"] = l.total;
            d["reconstruction"] = l.reconstruction;
            d["kl"] = l.kl;
            d["elbo"] = -(l.reconstruction + l.kl);
            return d;
          },
          nb::arg("x"), nb::arg("noise_seed"));
  m.def(
      "_train_fit_vae",
      [](train::Vae& model, Optimizer& opt, nb::handle x, nb::handle val,
         int64_t epochs, int64_t batch_size, bool shuffle, bool drop_last,
         uint64_t seed, double clip, double clip_value,
         const std::map<std::string, double>& sched, nb::object callback) {
        const Input xi = to_required_input("fit", "X", x);
        const Input vi = to_input("fit", "validation", val);
        const ModelFitOptions o =
            models_fit_options(epochs, batch_size, shuffle, drop_last, seed,
                               clip, clip_value, sched, callback);
        History h;
        {
          nb::gil_scoped_release r;
          h = train::fit_vae(model, opt, xi.view,
                             vi.view.present() ? &vi.view : nullptr, o);
        }
        return models_history(h);
      },
      nb::arg("model"), nb::arg("optimizer"), nb::arg("x"),
      nb::arg("validation").none(), LOSSLAB_MODELS_FIT_ARGS);

  // ---- GAN ----
  nb::class_<train::Gan> gan(m, "_TrainGan");
  gan.def(
         "__init__",
         [](train::Gan* self, int64_t noise_dim, int64_t data_dim,
            const std::vector<int64_t>& g_hidden,
            const std::vector<int64_t>& d_hidden, const std::string& g_act,
            const std::string& d_act, double slope, const std::string& output,
            const std::string& loss, uint64_t seed) {
           new (self) train::Gan({.noise_dim = noise_dim,
                                  .data_dim = data_dim,
                                  .generator_hidden = g_hidden,
                                  .discriminator_hidden = d_hidden,
                                  .generator_activation = g_act,
                                  .discriminator_activation = d_act,
                                  .negative_slope = slope,
                                  .output = output,
                                  .loss = loss,
                                  .seed = seed});
         },
         nb::arg("noise_dim"), nb::arg("data_dim"), nb::arg("generator_hidden"),
         nb::arg("discriminator_hidden"), nb::arg("generator_activation"),
         nb::arg("discriminator_activation"), nb::arg("negative_slope"),
         nb::arg("output"), nb::arg("loss"), nb::arg("seed"))
      .def_prop_ro("generator", nb::overload_cast<>(&train::Gan::generator),
                   nb::rv_policy::reference_internal)
      .def_prop_ro("discriminator",
                   nb::overload_cast<>(&train::Gan::discriminator),
                   nb::rv_policy::reference_internal)
      .def_prop_ro("clock", &models_clock<train::Gan>)
      .def(
          "noise",
          [](const train::Gan& g, int64_t n, uint64_t seed, uint64_t counter) {
            return models_array(g.noise(n, seed, counter),
                                Shape{n, g.options().noise_dim});
          },
          nb::arg("n"), nb::arg("seed"), nb::arg("counter") = 0)
      .def("generate",
           [](train::Gan& g, nb::handle z) {
             const Input in = to_required_input("GAN.generate", "z", z);
             std::vector<float> y;
             {
               nb::gil_scoped_release r;
               y = g.generate(in.view);
             }
             return models_array(y,
                                 Shape{in.view.shape[0], g.options().data_dim});
           })
      .def(
          "sample",
          [](train::Gan& g, int64_t n, uint64_t seed) {
            std::vector<float> y;
            {
              nb::gil_scoped_release r;
              y = g.sample(n, seed);
            }
            return models_array(y, Shape{n, g.options().data_dim});
          },
          nb::arg("n"), nb::arg("seed"))
      .def("discriminate", [](train::Gan& g, nb::handle x) {
        const Input in = to_required_input("GAN.discriminate", "x", x);
        std::vector<float> y;
        {
          nb::gil_scoped_release r;
          y = g.discriminate(in.view);
        }
        return models_array(y, Shape{in.view.shape[0]});
      });
  m.def(
      "_train_fit_gan",
      [](train::Gan& model, Optimizer& g_opt, Optimizer& d_opt, nb::handle x,
         int64_t epochs, int64_t batch_size, bool shuffle, bool drop_last,
         uint64_t seed, double clip, double clip_value,
         const std::map<std::string, double>& sched, nb::object callback) {
        const Input xi = to_required_input("fit", "X", x);
        const ModelFitOptions o =
            models_fit_options(epochs, batch_size, shuffle, drop_last, seed,
                               clip, clip_value, sched, callback);
        History h;
        {
          nb::gil_scoped_release r;
          h = train::fit_gan(model, g_opt, d_opt, xi.view, o);
        }
        return models_history(h);
      },
      nb::arg("model"), nb::arg("generator_optimizer"),
      nb::arg("discriminator_optimizer"), nb::arg("x"),
      LOSSLAB_MODELS_FIT_ARGS);

  // ---- embedding net ----
  nb::class_<train::EmbeddingNet>(m, "_TrainEmbeddingNet")
      .def(
          "__init__",
          [](train::EmbeddingNet* self, int64_t in_features,
             const std::vector<int64_t>& hidden, int64_t embedding_dim,
             const std::string& activation, bool normalize, uint64_t seed) {
            new (self) train::EmbeddingNet({.in_features = in_features,
                                            .hidden = hidden,
                                            .embedding_dim = embedding_dim,
                                            .activation = activation,
                                            .normalize = normalize,
                                            .seed = seed});
          },
          nb::arg("in_features"), nb::arg("hidden"), nb::arg("embedding_dim"),
          nb::arg("activation"), nb::arg("normalize"), nb::arg("seed"))
      .def_prop_ro("net", nb::overload_cast<>(&train::EmbeddingNet::net),
                   nb::rv_policy::reference_internal)
      .def_prop_ro("clock", &models_clock<train::EmbeddingNet>)
      .def("embed", [](train::EmbeddingNet& e, nb::handle x) {
        const Input in = to_required_input("EmbeddingNet.embed", "x", x);
        std::vector<float> y;
        {
          nb::gil_scoped_release r;
          y = e.embed(in.view);
        }
        return models_array(y,
                            Shape{in.view.shape[0], e.options().embedding_dim});
      });
  m.def(
      "_train_fit_embedding",
      [](train::EmbeddingNet& model, Optimizer& opt, nb::handle x,
         nb::handle labels, const std::string& loss, const std::string& mining,
         double margin, int64_t epochs, int64_t batch_size, bool shuffle,
         bool drop_last, uint64_t seed, double clip, double clip_value,
         const std::map<std::string, double>& sched, nb::object callback) {
        const Input xi = to_required_input("fit", "X", x);
        const Input yi = to_required_input("fit", "labels", labels);
        const ModelFitOptions o =
            models_fit_options(epochs, batch_size, shuffle, drop_last, seed,
                               clip, clip_value, sched, callback);
        History h;
        {
          nb::gil_scoped_release r;
          h = train::fit_embedding(
              model, opt, xi.view, yi.view,
              {.loss = loss, .mining = mining, .margin = margin}, o);
        }
        return models_history(h);
      },
      nb::arg("model"), nb::arg("optimizer"), nb::arg("x"), nb::arg("labels"),
      nb::arg("loss"), nb::arg("mining"), nb::arg("margin"),
      LOSSLAB_MODELS_FIT_ARGS);

  // ---- checkpoints ----
  m.def(
      "_train_save_model",
      [](const std::string& path, nb::handle model, const Optimizer* opt,
         const Optimizer* opt2,
         std::optional<std::map<std::string, double>> schedule) {
        std::optional<train::Schedule> sch;
        if (schedule) sch = schedule_from_dict(*schedule, "save");
        const train::Schedule* sp = sch ? &*sch : nullptr;
        if (nb::isinstance<train::Gan>(model)) {
          const auto& g = nb::cast<const train::Gan&>(model);
          nb::gil_scoped_release r;
          train::save_model_checkpoint(path, g, opt, opt2, sp);
          return;
        }
        if (opt2 != nullptr) {
          throw_value_error(
              "save: only a GAN has a discriminator optimizer; pass "
              "optimizer= only");
        }
        if (nb::isinstance<train::Autoencoder>(model)) {
          const auto& a = nb::cast<const train::Autoencoder&>(model);
          nb::gil_scoped_release r;
          train::save_model_checkpoint(path, a, opt, sp);
        } else if (nb::isinstance<train::Vae>(model)) {
          const auto& v = nb::cast<const train::Vae&>(model);
          nb::gil_scoped_release r;
          train::save_model_checkpoint(path, v, opt, sp);
        } else if (nb::isinstance<train::EmbeddingNet>(model)) {
          const auto& e = nb::cast<const train::EmbeddingNet&>(model);
          nb::gil_scoped_release r;
          train::save_model_checkpoint(path, e, opt, sp);
        } else {
          throw_type_error(
              "save: model must be a losslab.models Autoencoder, VAE, GAN or "
              "EmbeddingNet");
        }
      },
      nb::arg("path"), nb::arg("model"), nb::arg("optimizer").none(),
      nb::arg("discriminator_optimizer").none(),
      nb::arg("schedule").none() = nb::none());
  m.def(
      "_train_load_model",
      [](const std::string& path, std::optional<std::string> expected) {
        std::optional<train::ModelKind> want;
        if (expected) {
          for (auto k :
               {train::ModelKind::kAutoencoder, train::ModelKind::kVae,
                train::ModelKind::kGan, train::ModelKind::kEmbeddingNet}) {
            if (train::model_kind_name(k) == *expected) want = k;
          }
          if (!want) throw_value_error("load: unknown model kind " + *expected);
        }
        train::ModelCheckpoint ck;
        {
          nb::gil_scoped_release r;
          ck = train::load_model_checkpoint(path, want);
        }
        nb::object model;
        if (ck.autoencoder) model = nb::cast(std::move(*ck.autoencoder));
        if (ck.vae) model = nb::cast(std::move(*ck.vae));
        if (ck.gan) model = nb::cast(std::move(*ck.gan));
        if (ck.embedding_net) model = nb::cast(std::move(*ck.embedding_net));
        nb::object opt = nb::none(), opt2 = nb::none(), sch = nb::none();
        if (ck.optimizer) opt = nb::cast(std::move(*ck.optimizer));
        if (ck.discriminator_optimizer) {
          opt2 = nb::cast(std::move(*ck.discriminator_optimizer));
        }
        if (ck.schedule) sch = nb::cast(models_schedule_dict(*ck.schedule));
        return nb::make_tuple(std::string(train::model_kind_name(ck.kind)),
                              model, opt, opt2, sch);
      },
      nb::arg("path"), nb::arg("expected").none() = nb::none());
}

}  // namespace

LOSSLAB_PY_REGISTER(train_models, bind_train_models);

}  // namespace losslab::python
