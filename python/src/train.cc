// Python binding of the training engine (losslab/train/*.h): the classes
// behind losslab.nn, losslab.optim and losslab.fit. No math lives here.
#include <nanobind/nanobind.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "arrays.h"
#include "losslab/core/error.h"
#include "losslab/train/checkpoint.h"
#include "losslab/train/model.h"
#include "losslab/train/optimizer.h"
#include "losslab/train/trainer.h"
#include "registry.h"
#include "schedule_dict.h"

namespace losslab::python {
namespace {

using train::LayerKind;
using train::LayerSpec;
using train::Optimizer;
using train::OptimizerKind;
using train::OptimizerOptions;
using train::Sequential;

using PyLayer = std::tuple<std::string, int64_t, int64_t, double>;

LayerKind train_layer_kind(const std::string& s) {
  if (s == "dense") return LayerKind::kDense;
  if (s == "relu") return LayerKind::kReLU;
  if (s == "leaky_relu") return LayerKind::kLeakyReLU;
  if (s == "tanh") return LayerKind::kTanh;
  if (s == "sigmoid") return LayerKind::kSigmoid;
  if (s == "dropout") return LayerKind::kDropout;
  throw_value_error("Sequential: layer kind '" + s +
                    "' is not known; use dense, relu, leaky_relu, tanh, "
                    "sigmoid or dropout");
}

std::string train_layer_str(LayerKind k) {
  switch (k) {
    case LayerKind::kDense:
      return "dense";
    case LayerKind::kReLU:
      return "relu";
    case LayerKind::kLeakyReLU:
      return "leaky_relu";
    case LayerKind::kTanh:
      return "tanh";
    case LayerKind::kSigmoid:
      return "sigmoid";
    case LayerKind::kDropout:
      return "dropout";
  }
  return "?";
}

train::Init train_init(const std::string& s) {
  if (s == "auto") return train::Init::kAuto;
  if (s == "xavier_uniform") return train::Init::kXavierUniform;
  if (s == "he_uniform") return train::Init::kHeUniform;
  throw_value_error("Sequential: init '" + s +
                    "' is not known; use 'auto', 'xavier_uniform' or "
                    "'he_uniform'");
}

OptimizerKind train_opt_kind(const std::string& s) {
  if (s == "sgd") return OptimizerKind::kSgd;
  if (s == "adam") return OptimizerKind::kAdam;
  if (s == "adamw") return OptimizerKind::kAdamW;
  if (s == "rmsprop") return OptimizerKind::kRmsprop;
  throw_value_error("Optimizer: kind '" + s +
                    "' is not known; use sgd, adam, adamw or rmsprop");
}

std::string train_opt_str(OptimizerKind k) {
  switch (k) {
    case OptimizerKind::kSgd:
      return "sgd";
    case OptimizerKind::kAdam:
      return "adam";
    case OptimizerKind::kAdamW:
      return "adamw";
    case OptimizerKind::kRmsprop:
      return "rmsprop";
  }
  return "?";
}

// A schedule field as the caller wrote it, for messages: whole numbers
// below 1e20 in full (2**63 as 9223372036854775808), anything else in the
// fewest digits that read back as the same double (as Python's repr).
std::string train_schedule_num(double v) {
  char buf[64];
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == std::trunc(v) && std::abs(v) < 1e20) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// An integer field of a schedule dict: the value must be a whole number
// that int64 holds, checked before the cast (casting NaN, inf or a double
// outside [-2^63, 2^63) to int64 is undefined behaviour).
int64_t train_schedule_int(const std::string& caller, const std::string& key,
                           double v) {
  // 2^63 is exactly representable; every double below it and >= -2^63
  // converts to int64 without overflow.
  constexpr double kTwo63 = 9223372036854775808.0;
  if (!std::isfinite(v) || v != std::trunc(v) || v < -kTwo63 || v >= kTwo63) {
    throw_value_error(caller + ": schedule " + key + "=" +
                      train_schedule_num(v) +
                      " is not a whole number in the int64 range; pass an "
                      "integer (e.g. losslab.optim.schedule(" +
                      key + "=100))");
  }
  return static_cast<int64_t>(v);
}

// The dict of losslab.optim.schedule(...) as a train::Schedule; `caller` is
// the Python function that got it (fit, scheduled_lr, Sequential.save), so
// messages name it.
train::Schedule train_schedule(const std::map<std::string, double>& d,
                               const std::string& caller) {
  train::Schedule s;
  for (const auto& [k, v] : d) {
    if (k == "kind") {
      if (!(v == 0.0 || v == 1.0 || v == 2.0 || v == 3.0)) {
        throw_value_error(caller + ": schedule kind=" + train_schedule_num(v) +
                          " is not a schedule kind code (0 constant, 1 step, "
                          "2 exponential, 3 cosine); build the schedule with "
                          "losslab.optim.schedule(kind, ...)");
      }
      s.kind = static_cast<train::ScheduleKind>(static_cast<int>(v));
    } else if (k == "warmup_steps") {
      s.warmup_steps = train_schedule_int(caller, k, v);
    } else if (k == "warmup_start_factor") {
      s.warmup_start_factor = v;
    } else if (k == "step_size") {
      s.step_size = train_schedule_int(caller, k, v);
    } else if (k == "gamma") {
      s.gamma = v;
    } else if (k == "t_max") {
      s.t_max = train_schedule_int(caller, k, v);
    } else if (k == "eta_min") {
      s.eta_min = v;
    } else {
      throw_value_error(caller + ": schedule has an unknown field '" + k +
                        "'; use kind, warmup_steps, warmup_start_factor, "
                        "step_size, gamma, t_max, eta_min");
    }
  }
  train::validate_schedule(s, caller + ": schedule");
  return s;
}

nb::object train_float_array(const float* p, Shape shape) {
  void* data;
  nb::object a = new_array(shape, DType::kFloat32, &data);
  std::memcpy(data, p, static_cast<size_t>(shape.numel()) * sizeof(float));
  return a;
}

// A writable C-contiguous float32 CPU array (never a converted copy: the
// parameter is declared noconvert()).
using TrainFloatArray = nb::ndarray<float, nb::c_contig, nb::device::cpu>;

std::span<float> train_span(std::string_view fn, std::string_view arg,
                            TrainFloatArray& a, int64_t n) {
  if (n >= 0 && static_cast<int64_t>(a.size()) != n) {
    throw_value_error(std::string(fn) + ": " + std::string(arg) + " has " +
                      std::to_string(a.size()) + " elements; expected " +
                      std::to_string(n));
  }
  return std::span<float>(a.data(), a.size());
}

std::vector<float> train_read_floats(std::string_view fn, std::string_view arg,
                                     nb::handle h, int64_t n) {
  const Input in = to_input(fn, arg, h);
  if (in.view.numel() != n ||
      (in.view.dtype != DType::kFloat32 && in.view.dtype != DType::kFloat64)) {
    throw_value_error(std::string(fn) + ": " + std::string(arg) + " has " +
                      std::to_string(in.view.numel()) + " elements of " +
                      std::string(dtype_name(in.view.dtype)) + "; expected " +
                      std::to_string(n) + " float values");
  }
  // Read through the strides of any layout.
  std::vector<float> v(static_cast<size_t>(n));
  const View& x = in.view;
  std::vector<int64_t> idx(static_cast<size_t>(x.shape.ndim()), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    if (x.strides.ndim() == 0) {
      off = i;
    } else {
      for (int d = 0; d < x.shape.ndim(); ++d) off += idx[d] * x.strides[d];
      for (int d = x.shape.ndim() - 1; d >= 0; --d) {
        if (++idx[d] < x.shape[d]) break;
        idx[d] = 0;
      }
    }
    v[i] = x.dtype == DType::kFloat32 ? x.as<float>()[off]
                                      : static_cast<float>(x.as<double>()[off]);
  }
  return v;
}

train::Precision train_precision(const std::string& s) {
  if (s == "fp32") return train::Precision::kFp32;
  if (s == "bf16") return train::Precision::kBf16;
  if (s == "fp16") return train::Precision::kFp16;
  throw_value_error("precision '" + s +
                    "' is not known; use 'fp32', 'bf16' or 'fp16'");
}

train::LossScaleKind train_scale_kind(const std::string& s) {
  if (s == "none") return train::LossScaleKind::kNone;
  if (s == "static") return train::LossScaleKind::kStatic;
  if (s == "dynamic") return train::LossScaleKind::kDynamic;
  throw_value_error("GradScaler: kind '" + s +
                    "' is not known; use 'dynamic', 'static' or 'none'");
}

std::string train_scale_kind_str(train::LossScaleKind k) {
  switch (k) {
    case train::LossScaleKind::kNone:
      return "none";
    case train::LossScaleKind::kStatic:
      return "static";
    case train::LossScaleKind::kDynamic:
      return "dynamic";
  }
  return "?";
}

std::map<std::string, double> train_schedule_dict(const train::Schedule& s) {
  return {{"kind", static_cast<double>(s.kind)},
          {"warmup_steps", static_cast<double>(s.warmup_steps)},
          {"warmup_start_factor", s.warmup_start_factor},
          {"step_size", static_cast<double>(s.step_size)},
          {"gamma", s.gamma},
          {"t_max", static_cast<double>(s.t_max)},
          {"eta_min", s.eta_min}};
}

nb::dict train_log_dict(const train::EpochLog& log) {
  nb::dict d;
  d["epoch"] = log.epoch;
  d["lr"] = log.lr;
  d["train_loss"] = log.train_loss;
  d["val_loss"] = log.val_loss;
  d["skipped_steps"] = log.skipped_steps;
  d["loss_scale"] = log.loss_scale;
  d["underflow_fraction"] = log.underflow_fraction;
  for (const auto& [k, v] : log.metrics) d[k.c_str()] = v;
  return d;
}

nb::dict train_options_dict(const OptimizerOptions& o) {
  nb::dict d;
  d["kind"] = train_opt_str(o.kind);
  d["lr"] = o.lr;
  d["weight_decay"] = o.weight_decay;
  d["momentum"] = o.momentum;
  d["dampening"] = o.dampening;
  d["nesterov"] = o.nesterov;
  d["beta1"] = o.beta1;
  d["beta2"] = o.beta2;
  d["eps"] = o.eps;
  d["amsgrad"] = o.amsgrad;
  d["alpha"] = o.alpha;
  d["centered"] = o.centered;
  return d;
}

}  // namespace

train::Schedule schedule_from_dict(const std::map<std::string, double>& d,
                                   const std::string& caller) {
  return train_schedule(d, caller);
}

void bind_train(nb::module_& m) {
  nb::class_<Sequential>(m, "_TrainModel")
      .def(
          "__init__",
          [](Sequential* self, const std::vector<PyLayer>& layers,
             uint64_t seed, const std::string& init) {
            std::vector<LayerSpec> specs;
            for (const auto& [kind, in, out, param] : layers) {
              specs.push_back({train_layer_kind(kind), in, out, param});
            }
            new (self) Sequential(std::move(specs), seed, train_init(init));
          },
          nb::arg("layers"), nb::arg("seed") = 0, nb::arg("init") = "auto")
      .def_prop_ro("in_features", &Sequential::in_features)
      .def_prop_ro("out_features", &Sequential::out_features)
      .def_prop_ro("num_parameters", &Sequential::num_parameters)
      .def_prop_ro("layers",
                   [](const Sequential& s) {
                     std::vector<PyLayer> out;
                     for (const auto& l : s.layers()) {
                       out.emplace_back(train_layer_str(l.kind), l.in, l.out,
                                        l.param);
                     }
                     return out;
                   })
      .def_prop_rw(
          "precision",
          [](const Sequential& s) {
            return std::string(train::precision_name(s.precision()));
          },
          [](Sequential& s, const std::string& p) {
            s.set_precision(train_precision(p));
          })
      .def("parameter_offset", &Sequential::parameter_offset)
      .def("get_parameters",
           [](const Sequential& s) {
             return train_float_array(s.parameters().data(),
                                      Shape{s.num_parameters()});
           })
      .def("get_gradients",
           [](const Sequential& s) {
             return train_float_array(s.gradients().data(),
                                      Shape{s.num_parameters()});
           })
      .def("set_parameters",
           [](Sequential& s, nb::handle values) {
             const std::vector<float> v = train_read_floats(
                 "set_parameters", "values", values, s.num_parameters());
             std::copy(v.begin(), v.end(), s.parameters().begin());
           })
      .def(
          "forward",
          [](Sequential& s, nb::handle x, bool training) {
            const Input in = to_input("forward", "x", x);
            if (!training) {
              std::vector<float> y;
              {
                nb::gil_scoped_release release;
                y = train::predict(s, in.view);
              }
              return train_float_array(
                  y.data(), Shape{in.view.shape[0], s.out_features()});
            }
            if (in.view.dtype != DType::kFloat32 || !in.view.is_contiguous() ||
                in.view.shape.ndim() != 2 ||
                in.view.shape[1] != s.in_features()) {
              throw_type_error(
                  "forward: with training=True x must be a contiguous "
                  "float32 array of shape (n, " +
                  std::to_string(s.in_features()) + "); got " +
                  std::string(dtype_name(in.view.dtype)) + " " +
                  in.view.shape.str());
            }
            const int64_t n = in.view.shape[0];
            void* data;
            nb::object out =
                new_array(Shape{n, s.out_features()}, DType::kFloat32, &data);
            {
              nb::gil_scoped_release release;
              s.forward(in.view.as<float>(), n, static_cast<float*>(data),
                        true);
            }
            return out;
          },
          nb::arg("x"), nb::arg("training") = false)
      .def(
          "backward",
          [](Sequential& s, nb::handle grad_y) {
            const Input g = to_input("backward", "grad_output", grad_y);
            if (g.view.dtype != DType::kFloat32 || !g.view.is_contiguous() ||
                g.view.shape.ndim() != 2 ||
                g.view.shape[1] != s.out_features()) {
              throw_type_error(
                  "backward: grad_output must be a contiguous float32 array "
                  "of shape (n, " +
                  std::to_string(s.out_features()) +
                  ") of the last "
                  "training forward; got " +
                  std::string(dtype_name(g.view.dtype)) + " " +
                  g.view.shape.str());
            }
            const int64_t n = g.view.shape[0];
            void* data;
            nb::object gx =
                new_array(Shape{n, s.in_features()}, DType::kFloat32, &data);
            {
              nb::gil_scoped_release release;
              s.backward(g.view.as<float>(), static_cast<float*>(data));
            }
            return gx;
          },
          nb::arg("grad_output"));

  m.def(
      "_train_mlp",
      [](int64_t in_features, const std::vector<int64_t>& hidden,
         int64_t out_features, const std::string& activation,
         double negative_slope, double dropout, uint64_t seed,
         const std::string& init) {
        return train::mlp({.in_features = in_features,
                           .hidden = hidden,
                           .out_features = out_features,
                           .activation = activation,
                           .negative_slope = negative_slope,
                           .dropout = dropout,
                           .seed = seed,
                           .init = train_init(init)});
      },
      nb::arg("in_features"), nb::arg("hidden"), nb::arg("out_features"),
      nb::arg("activation"), nb::arg("negative_slope"), nb::arg("dropout"),
      nb::arg("seed"), nb::arg("init"));

  nb::class_<Optimizer>(m, "_TrainOptimizer")
      .def(
          "__init__",
          [](Optimizer* self, const std::string& kind, int64_t num_parameters,
             double lr, double weight_decay, double momentum, double dampening,
             bool nesterov, double beta1, double beta2, double eps,
             bool amsgrad, double alpha, bool centered) {
            new (self) Optimizer({.kind = train_opt_kind(kind),
                                  .lr = lr,
                                  .weight_decay = weight_decay,
                                  .momentum = momentum,
                                  .dampening = dampening,
                                  .nesterov = nesterov,
                                  .beta1 = beta1,
                                  .beta2 = beta2,
                                  .eps = eps,
                                  .amsgrad = amsgrad,
                                  .alpha = alpha,
                                  .centered = centered},
                                 num_parameters);
          },
          nb::arg("kind"), nb::arg("num_parameters"), nb::arg("lr"),
          nb::arg("weight_decay"), nb::arg("momentum"), nb::arg("dampening"),
          nb::arg("nesterov"), nb::arg("beta1"), nb::arg("beta2"),
          nb::arg("eps"), nb::arg("amsgrad"), nb::arg("alpha"),
          nb::arg("centered"))
      .def_prop_ro("steps", &Optimizer::steps)
      .def_prop_ro("num_parameters", &Optimizer::num_parameters)
      .def_prop_ro(
          "options",
          [](const Optimizer& o) { return train_options_dict(o.options()); })
      .def("get_state",
           [](const Optimizer& o) {
             nb::list out;
             for (const auto& s : o.state()) {
               out.append(train_float_array(
                   s.data(), Shape{static_cast<int64_t>(s.size())}));
             }
             return out;
           })
      .def(
          "step",
          [](Optimizer& o, Sequential& model, std::optional<double> lr) {
            nb::gil_scoped_release release;
            o.step(model.parameters(), model.gradients(),
                   lr.value_or(o.options().lr));
          },
          nb::arg("model"), nb::arg("lr") = nb::none())
      .def(
          "step_arrays",
          [](Optimizer& o, TrainFloatArray params, nb::handle grads,
             double lr) {
            const std::span<float> p = train_span(
                "Optimizer.step_arrays", "params", params, o.num_parameters());
            const std::vector<float> g = train_read_floats(
                "Optimizer.step_arrays", "grads", grads, o.num_parameters());
            nb::gil_scoped_release release;
            o.step(p, g, lr);
          },
          nb::arg("params").noconvert(), nb::arg("grads"), nb::arg("lr"));

  nb::class_<train::GradScaler>(m, "_TrainGradScaler")
      .def(
          "__init__",
          [](train::GradScaler* self, const std::string& kind,
             double init_scale, double growth_factor, double backoff_factor,
             int64_t growth_interval) {
            new (self) train::GradScaler({.kind = train_scale_kind(kind),
                                          .init_scale = init_scale,
                                          .growth_factor = growth_factor,
                                          .backoff_factor = backoff_factor,
                                          .growth_interval = growth_interval});
          },
          nb::arg("kind"), nb::arg("init_scale"), nb::arg("growth_factor"),
          nb::arg("backoff_factor"), nb::arg("growth_interval"))
      .def_prop_ro("scale", &train::GradScaler::scale)
      .def_prop_ro("growth_tracker", &train::GradScaler::growth_tracker)
      .def_prop_ro("skipped_steps", &train::GradScaler::skipped_steps)
      .def_prop_ro("options",
                   [](const train::GradScaler& g) {
                     nb::dict d;
                     d["kind"] = train_scale_kind_str(g.options().kind);
                     d["init_scale"] = g.options().init_scale;
                     d["growth_factor"] = g.options().growth_factor;
                     d["backoff_factor"] = g.options().backoff_factor;
                     d["growth_interval"] = g.options().growth_interval;
                     return d;
                   })
      .def("update", &train::GradScaler::update, nb::arg("found_inf"))
      .def("set_state", &train::GradScaler::set_state, nb::arg("scale"),
           nb::arg("growth_tracker"), nb::arg("skipped_steps"));

  m.def(
      "_train_round",
      [](nb::handle x, const std::string& precision) {
        const train::Precision p = train_precision(precision);
        const Input in = to_input("round_to_precision", "x", x);
        const int64_t n = in.view.numel();
        std::vector<float> v =
            train_read_floats("round_to_precision", "x", x, n);
        for (float& f : v) f = train::round_to_precision(f, p);
        return train_float_array(v.data(), Shape{n});
      },
      nb::arg("x"), nb::arg("precision"));

  m.def(
      "_train_clip_grad_norm",
      [](TrainFloatArray grads, double max_norm) {
        return train::clip_grad_norm(
            train_span("clip_grad_norm", "grads", grads, -1), max_norm);
      },
      nb::arg("grads").noconvert(), nb::arg("max_norm"));
  m.def(
      "_train_clip_grad_value",
      [](TrainFloatArray grads, double clip) {
        train::clip_grad_value(
            train_span("clip_grad_value", "grads", grads, -1), clip);
      },
      nb::arg("grads").noconvert(), nb::arg("clip_value"));
  m.def(
      "_train_clip_model",
      [](Sequential& model, double max_norm, double clip_value) {
        if (clip_value > 0.0)
          train::clip_grad_value(model.gradients(), clip_value);
        if (max_norm > 0.0)
          return train::clip_grad_norm(model.gradients(), max_norm);
        return 0.0;
      },
      nb::arg("model"), nb::arg("max_norm"), nb::arg("clip_value"));
  m.def(
      "_train_scheduled_lr",
      [](double base_lr, const std::map<std::string, double>& schedule,
         int64_t step) {
        return train::scheduled_lr(
            base_lr, train_schedule(schedule, "scheduled_lr"), step);
      },
      nb::arg("base_lr"), nb::arg("schedule"), nb::arg("step"));
  m.def("_train_losses", &train::trainable_losses);

  m.def(
      "_train_fit",
      [](Sequential& model, Optimizer& opt, const std::string& loss,
         const std::map<std::string, double>& loss_options,
         const std::vector<double>& quantile,
         const std::vector<double>& class_weight,
         const std::vector<double>& pos_weight, nb::handle x, nb::handle y,
         nb::handle sample_weight, nb::handle val_x, nb::handle val_y,
         nb::handle val_weight, int64_t epochs, int64_t batch_size,
         bool shuffle, bool drop_last, uint64_t seed, double clip_norm,
         double clip_value, const std::map<std::string, double>& schedule,
         const std::vector<std::string>& metrics, const std::string& monitor,
         int64_t patience, double min_delta, bool restore_best,
         nb::object callback, const std::string& precision,
         train::GradScaler* scaler) {
        const Input xi = to_input("fit", "X", x), yi = to_input("fit", "y", y),
                    wi = to_input("fit", "sample_weight", sample_weight),
                    vxi = to_input("fit", "validation X", val_x),
                    vyi = to_input("fit", "validation y", val_y),
                    vwi =
                        to_input("fit", "validation sample_weight", val_weight);
        train::FitOptions o{.epochs = epochs,
                            .batch_size = batch_size,
                            .shuffle = shuffle,
                            .drop_last = drop_last,
                            .seed = seed,
                            .clip_grad_norm = clip_norm,
                            .clip_grad_value = clip_value,
                            .schedule = train_schedule(schedule, "fit"),
                            .metrics = metrics,
                            .monitor = monitor,
                            .patience = patience,
                            .min_delta = min_delta,
                            .restore_best = restore_best,
                            .precision = train_precision(precision),
                            .scaler = scaler};
        if (!callback.is_none()) {
          o.callback = [callback](const train::EpochLog& log) {
            nb::gil_scoped_acquire acquire;
            nb::object r = callback(train_log_dict(log));
            return r.is_none() || nb::cast<bool>(nb::bool_(r));
          };
        }
        const train::LossSpec spec{.name = loss,
                                   .options = loss_options,
                                   .quantile = quantile,
                                   .class_weight = class_weight,
                                   .pos_weight = pos_weight};
        const train::Dataset tr{xi.view, yi.view, wi.view};
        const train::Dataset va{vxi.view, vyi.view, vwi.view};
        train::History h;
        {
          nb::gil_scoped_release release;
          h = train::fit(model, opt, spec, tr,
                         vxi.view.present() ? &va : nullptr, o);
        }
        nb::list epochs_out;
        for (const auto& log : h.epochs) epochs_out.append(train_log_dict(log));
        return nb::make_tuple(epochs_out, h.best_epoch, h.stopped_early,
                              h.skipped_steps, h.loss_scale);
      },
      nb::arg("model"), nb::arg("optimizer"), nb::arg("loss"),
      nb::arg("loss_options"), nb::arg("quantile"), nb::arg("class_weight"),
      nb::arg("pos_weight"), nb::arg("x"), nb::arg("y"),
      nb::arg("sample_weight").none(), nb::arg("val_x").none(),
      nb::arg("val_y").none(), nb::arg("val_weight").none(), nb::arg("epochs"),
      nb::arg("batch_size"), nb::arg("shuffle"), nb::arg("drop_last"),
      nb::arg("seed"), nb::arg("clip_grad_norm"), nb::arg("clip_grad_value"),
      nb::arg("schedule"), nb::arg("metrics"), nb::arg("monitor"),
      nb::arg("patience"), nb::arg("min_delta"), nb::arg("restore_best"),
      nb::arg("callback").none(), nb::arg("precision"),
      nb::arg("scaler").none());

  m.def(
      "_train_save",
      [](const std::string& path, const Sequential& model, const Optimizer* opt,
         const train::GradScaler* scaler,
         std::optional<std::map<std::string, double>> schedule) {
        std::optional<train::Schedule> sch;
        if (schedule) sch = train_schedule(*schedule, "Sequential.save");
        nb::gil_scoped_release release;
        train::save_checkpoint(path, model, opt, scaler, sch ? &*sch : nullptr);
      },
      nb::arg("path"), nb::arg("model"), nb::arg("optimizer").none(),
      nb::arg("scaler").none() = nb::none(),
      nb::arg("schedule").none() = nb::none());
  m.def(
      "_train_load",
      [](const std::string& path) {
        train::Checkpoint ck;
        {
          nb::gil_scoped_release release;
          ck = train::load_checkpoint(path);
        }
        nb::object opt = nb::none(), scaler = nb::none(), sch = nb::none();
        if (ck.optimizer) opt = nb::cast(std::move(*ck.optimizer));
        if (ck.scaler) scaler = nb::cast(std::move(*ck.scaler));
        if (ck.schedule) sch = nb::cast(train_schedule_dict(*ck.schedule));
        return nb::make_tuple(nb::cast(std::move(ck.model)), opt, scaler, sch);
      },
      nb::arg("path"));
}

LOSSLAB_PY_REGISTER(train, bind_train);

}  // namespace losslab::python
