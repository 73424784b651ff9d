// The training loop and the loss registry of the training engine. See
// include/losslab/train/trainer.h.
#include "losslab/train/trainer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "losslab/losses/classification.h"
#include "losslab/losses/regression.h"
#include "losslab/losses/segmentation.h"
#include "losslab/metrics.h"
#include "losslab/metrics_classification.h"

namespace losslab::train {
namespace {

constexpr const char* kFit = "fit";
constexpr int64_t kPredictBlock = 4096;

bool int_target_loss(const std::string& name) {
  return name == "cross_entropy" || name == "multi_margin_loss";
}

bool segmentation_loss(const std::string& name) {
  return name == "dice_loss" || name == "jaccard_loss" ||
         name == "tversky_loss" || name == "dice_cross_entropy_loss";
}

// Reads the scalar options of `spec`, refusing any the loss does not take.
class TrainOptionReader {
 public:
  TrainOptionReader(const LossSpec& spec, std::set<std::string> allowed)
      : spec_(spec) {
    for (const auto& [k, v] : spec.options) {
      if (!allowed.count(k)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        throw_value_error(spec.name + ": unknown option '" + k +
                          "' for training; this loss takes: " +
                          (list.empty() ? "no options" : list));
      }
    }
  }
  double get(const std::string& k, double dflt) const {
    auto it = spec_.options.find(k);
    return it == spec_.options.end() ? dflt : it->second;
  }

 private:
  const LossSpec& spec_;
};

// The segmentation losses for a model with one logit per row (a pixel): the
// batch is one image of n pixels, viewed as (1, 1, n) in binary mode, so the
// soft sums I, P, T run over the mini-batch; dL/dlogit comes back through
// the sigmoid (from_logits). dice_cross_entropy_loss adds the mean BCE.
double segmentation_train_loss(const LossSpec& loss, const float* output,
                               int64_t n, int64_t k, const float* target,
                               float* grad) {
  const std::string& name = loss.name;
  if (k != 1) {
    throw_value_error(name +
                      ": training takes a model with one output (a "
                      "logit per pixel row); this model gives " +
                      std::to_string(k));
  }
  const Shape sh{1, 1, n};
  const View in = view<float>(output, sh), tgt = view<float>(target, sh);
  LossOutputs outs;
  if (grad != nullptr) outs.grad_out = mutable_view<float>(grad, sh);
  if (name == "dice_loss") {
    TrainOptionReader r(loss, {"smooth", "eps"});
    return dice_loss(in, tgt,
                     {.mode = SegMode::kBinary,
                      .smooth = r.get("smooth", 1.0),
                      .eps = r.get("eps", 1e-7)},
                     outs);
  }
  if (name == "jaccard_loss") {
    TrainOptionReader r(loss, {"smooth", "eps"});
    return jaccard_loss(in, tgt,
                        {.mode = SegMode::kBinary,
                         .smooth = r.get("smooth", 1.0),
                         .eps = r.get("eps", 1e-7)},
                        outs);
  }
  if (name == "tversky_loss") {
    TrainOptionReader r(loss, {"alpha", "beta", "gamma", "smooth", "eps"});
    return tversky_loss(in, tgt,
                        {.mode = SegMode::kBinary,
                         .alpha = r.get("alpha", 0.5),
                         .beta = r.get("beta", 0.5),
                         .gamma = r.get("gamma", 1.0),
                         .smooth = r.get("smooth", 1.0),
                         .eps = r.get("eps", 1e-7)},
                        outs);
  }
  TrainOptionReader r(loss, {"smooth", "eps", "dice_weight", "ce_weight"});
  return dice_cross_entropy_loss(in, tgt,
                                 {.mode = SegMode::kBinary,
                                  .smooth = r.get("smooth", 1.0),
                                  .eps = r.get("eps", 1e-7),
                                  .dice_weight = r.get("dice_weight", 1.0),
                                  .ce_weight = r.get("ce_weight", 1.0)},
                                 outs);
}

// The loss functions take their weight vectors in the input's dtype; the
// model's outputs are float32, so the double options are rounded into
// `storage` (which must outlive the call).
View vec_view(const std::vector<double>& v, std::vector<float>& storage) {
  if (v.empty()) return {};
  storage.assign(v.begin(), v.end());
  return view<float>(storage.data(),
                     Shape{static_cast<int64_t>(storage.size())});
}

// Copies a 1-D or 2-D float32/float64 view (any strides) to float32
// row-major. `cols` is 1 for a 1-D view.
std::vector<float> to_float_matrix(const View& v, const char* arg,
                                   int64_t* rows, int64_t* cols) {
  if (v.dtype != DType::kFloat32 && v.dtype != DType::kFloat64) {
    throw_type_error(std::string(kFit) + ": " + arg + " has dtype " +
                     std::string(dtype_name(v.dtype)) +
                     "; pass float32 or float64");
  }
  if (v.shape.ndim() != 1 && v.shape.ndim() != 2) {
    throw_value_error(std::string(kFit) + ": " + arg + " has shape " +
                      v.shape.str() + "; pass a 2-D array (n, features)");
  }
  const int64_t r = v.shape[0], c = v.shape.ndim() == 2 ? v.shape[1] : 1;
  int64_t s0, s1;
  if (v.strides.ndim() == 0) {
    s0 = c;
    s1 = 1;
  } else {
    s0 = v.strides[0];
    s1 = v.strides.ndim() == 2 ? v.strides[1] : 1;
  }
  std::vector<float> out(static_cast<size_t>(r * c));
  for (int64_t i = 0; i < r; ++i) {
    for (int64_t j = 0; j < c; ++j) {
      const int64_t at = i * s0 + j * s1;
      out[i * c + j] = v.dtype == DType::kFloat32
                           ? v.as<float>()[at]
                           : static_cast<float>(v.as<double>()[at]);
    }
  }
  *rows = r;
  *cols = c;
  return out;
}

std::vector<int64_t> to_labels(const View& v, const char* arg) {
  if (v.dtype != DType::kInt64 && v.dtype != DType::kInt32) {
    throw_type_error(std::string(kFit) + ": " + arg + " has dtype " +
                     std::string(dtype_name(v.dtype)) +
                     "; this loss takes class indices as int64 or int32");
  }
  if (v.shape.ndim() != 1) {
    throw_value_error(std::string(kFit) + ": " + arg + " has shape " +
                      v.shape.str() + "; pass class indices of shape (n,)");
  }
  const int64_t n = v.shape[0];
  const int64_t s = v.strides.ndim() == 0 ? 1 : v.strides[0];
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    out[i] = v.dtype == DType::kInt64 ? v.as<int64_t>()[i * s]
                                      : v.as<int32_t>()[i * s];
  }
  return out;
}

// A dataset in the engine's layout: x (n, in) float32; y float32 (n, k) or
// int64 (n,); weights (n,) or empty.
struct TrainData {
  int64_t n = 0;
  std::vector<float> x, yf, w;
  std::vector<int64_t> yi;
};

TrainData prepare(const Dataset& d, const Sequential& model,
                  const LossSpec& loss, const char* which) {
  TrainData t;
  const std::string xname = std::string(which) + " x";
  const std::string yname = std::string(which) + " y";
  if (!d.x.present() || !d.y.present()) {
    throw_value_error(std::string(kFit) + ": " + which +
                      " data needs both x and y");
  }
  int64_t rows, cols;
  t.x = to_float_matrix(d.x, xname.c_str(), &rows, &cols);
  if (d.x.shape.ndim() != 2 || cols != model.in_features()) {
    throw_value_error(std::string(kFit) + ": " + xname + " has shape " +
                      d.x.shape.str() + " but the model takes (n, " +
                      std::to_string(model.in_features()) + ")");
  }
  if (rows < 1) {
    throw_value_error(std::string(kFit) + ": " + xname +
                      " is empty; pass at least one row");
  }
  t.n = rows;
  const int64_t k = model.out_features();
  if (int_target_loss(loss.name)) {
    t.yi = to_labels(d.y, yname.c_str());
    if (static_cast<int64_t>(t.yi.size()) != rows) {
      throw_value_error(std::string(kFit) + ": " + yname + " has " +
                        std::to_string(t.yi.size()) + " labels but x has " +
                        std::to_string(rows) + " rows");
    }
  } else {
    int64_t yr, yc;
    t.yf = to_float_matrix(d.y, yname.c_str(), &yr, &yc);
    if (yr != rows) {
      throw_value_error(std::string(kFit) + ": " + yname + " has shape " +
                        d.y.shape.str() + " but x has " + std::to_string(rows) +
                        " rows");
    }
    if (yc == 1 && k > 1 && loss.name == "quantile_loss") {
      // One target per row shared by the Q quantile outputs.
      std::vector<float> e(static_cast<size_t>(rows * k));
      for (int64_t i = 0; i < rows; ++i) {
        std::fill(e.begin() + i * k, e.begin() + (i + 1) * k, t.yf[i]);
      }
      t.yf.swap(e);
    } else if (yc != k) {
      throw_value_error(std::string(kFit) + ": " + yname + " has shape " +
                        d.y.shape.str() + " but the model gives " +
                        std::to_string(k) + " outputs per row; pass (n, " +
                        std::to_string(k) + ")" + (k == 1 ? " or (n,)" : ""));
    }
  }
  if (d.sample_weight.present()) {
    int64_t wr, wc;
    t.w = to_float_matrix(d.sample_weight,
                          (std::string(which) + " sample_weight").c_str(), &wr,
                          &wc);
    if (d.sample_weight.shape.ndim() != 1 || wr != rows) {
      throw_value_error(std::string(kFit) + ": " + which +
                        " sample_weight has shape " +
                        d.sample_weight.shape.str() + "; pass (" +
                        std::to_string(rows) + ",)");
    }
    for (int64_t i = 0; i < rows; ++i) {
      if (!(t.w[i] >= 0.0f) || !std::isfinite(t.w[i])) {
        throw_value_error(std::string(kFit) + ": " + which + " sample_weight[" +
                          std::to_string(i) +
                          "] is negative or not finite; weights must be "
                          "finite and >= 0");
      }
    }
  }
  return t;
}

// Evaluates the loss (no gradient) of the model on all of `d`.
double eval_loss(const LossSpec& loss, const std::vector<float>& out,
                 const TrainData& d, int64_t k) {
  const void* y = d.yi.empty() ? static_cast<const void*>(d.yf.data())
                               : static_cast<const void*>(d.yi.data());
  return compute_loss(loss, out.data(), d.n, k, y,
                      d.w.empty() ? nullptr : d.w.data(), nullptr);
}

std::vector<float> predict_rows(Sequential& model, const std::vector<float>& x,
                                int64_t n) {
  const int64_t in = model.in_features(), k = model.out_features();
  std::vector<float> out(static_cast<size_t>(n * k));
  for (int64_t r = 0; r < n; r += kPredictBlock) {
    const int64_t m = std::min(kPredictBlock, n - r);
    model.forward(x.data() + r * in, m, out.data() + r * k, false);
  }
  return out;
}

double metric_value(const std::string& name, const std::vector<float>& out,
                    const TrainData& d, int64_t k) {
  const View w = d.w.empty() ? View{} : view<float>(d.w.data(), Shape{d.n});
  if (name == "accuracy") {
    std::vector<int64_t> pred(static_cast<size_t>(d.n)), truth;
    for (int64_t i = 0; i < d.n; ++i) {
      if (k == 1) {
        pred[i] = out[i] > 0.0f ? 1 : 0;
      } else {
        pred[i] =
            std::max_element(out.begin() + i * k, out.begin() + (i + 1) * k) -
            (out.begin() + i * k);
      }
    }
    if (!d.yi.empty()) {
      truth = d.yi;
    } else {
      if (k != 1) {
        throw_value_error(
            "fit: metric 'accuracy' needs class-index targets or a single "
            "logit output");
      }
      truth.resize(static_cast<size_t>(d.n));
      for (int64_t i = 0; i < d.n; ++i) truth[i] = d.yf[i] >= 0.5f ? 1 : 0;
    }
    return accuracy(view<int64_t>(pred.data(), Shape{d.n}),
                    view<int64_t>(truth.data(), Shape{d.n}),
                    {.sample_weight = w});
  }
  if (d.yf.empty()) {
    throw_value_error("fit: metric '" + name +
                      "' needs float targets; use 'accuracy' for class "
                      "indices");
  }
  const View p = view<float>(out.data(), Shape{d.n, k});
  const View t = view<float>(d.yf.data(), Shape{d.n, k});
  if (name == "rmse") return rmse(p, t, {.sample_weight = w});
  if (name == "mae") return mae(p, t, {.sample_weight = w});
  if (name == "r2") return r2_score(p, t, {.sample_weight = w});
  throw_value_error("fit: metric '" + name +
                    "' is not known; use 'rmse', 'mae', 'r2' or 'accuracy'");
}

bool higher_is_better(const std::string& monitor) {
  return monitor.ends_with("accuracy") || monitor.ends_with("r2");
}

// Evaluates the loss (no gradient) and every metric of zero outputs
// against all of `d`, for their checks only (the values are dropped).
void check_loss_and_metrics(const LossSpec& loss,
                            const std::vector<std::string>& metrics,
                            const TrainData& d, int64_t k) {
  const std::vector<float> zeros(static_cast<size_t>(d.n * k), 0.0f);
  eval_loss(loss, zeros, d, k);
  for (const auto& m : metrics) metric_value(m, zeros, d, k);
}

// Sets the model's precision for a fit() and puts the previous one back on
// destruction unless commit() was called (so a fit that throws leaves it).
class PrecisionGuard {
 public:
  PrecisionGuard(Sequential& model, Precision p)
      : model_(model), previous_(model.precision()) {
    model_.set_precision(p);
  }
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;
  ~PrecisionGuard() {
    if (!committed_) model_.set_precision(previous_);
  }
  void commit() noexcept { committed_ = true; }

 private:
  Sequential& model_;
  Precision previous_;
  bool committed_ = false;
};

// Unbiased integer in [0, bound) from a 64-bit draw (Lemire's multiply-shift;
// the bias is below 2^-40 for any data set size losslab handles).
uint64_t draw_below(std::mt19937_64& rng, uint64_t bound) {
  return static_cast<uint64_t>(
      (static_cast<unsigned __int128>(rng()) * bound) >> 64);
}

}  // namespace

std::vector<std::string> trainable_losses() {
  return {"binary_cross_entropy_with_logits",
          "cross_entropy",
          "dice_cross_entropy_loss",
          "dice_loss",
          "hinge_loss",
          "huber_loss",
          "jaccard_loss",
          "l1_loss",
          "log_cosh_loss",
          "mse_loss",
          "multi_margin_loss",
          "poisson_nll_loss",
          "pseudo_huber_loss",
          "quantile_loss",
          "sigmoid_focal_loss",
          "smooth_l1_loss",
          "squared_hinge_loss",
          "tversky_loss"};
}

double compute_loss(const LossSpec& loss, const float* output, int64_t n,
                    int64_t k, const void* target, const float* sample_weight,
                    float* grad) {
  const std::string& name = loss.name;
  std::vector<float> wbuf;  // float32 copy of pos_weight / class weights
  if (segmentation_loss(name)) {
    if (sample_weight != nullptr) {
      throw_value_error(
          name +
          ": sample weights are not supported (the soft overlap is not a "
          "sum of per-pixel terms); drop sample_weight or use "
          "binary_cross_entropy_with_logits");
    }
    return segmentation_train_loss(loss, output, n, k,
                                   static_cast<const float*>(target), grad);
  }
  const bool rows = int_target_loss(name);
  const View in = view<float>(output, Shape{n, k});
  const View tgt =
      rows ? view<int64_t>(static_cast<const int64_t*>(target), Shape{n})
           : view<float>(static_cast<const float*>(target), Shape{n, k});
  // Without sample weights: reduction mean. With them: reduction none and
  // an upstream gradient u = w_i / sum(w) per loss term, so the value
  // sum(u l) is the weighted mean and the gradient follows.
  const int64_t terms = rows ? n : n * k;
  std::vector<float> per, up;
  LossOutputs outs;
  Reduction red = Reduction::kMean;
  double denom = 0.0;
  if (sample_weight != nullptr) {
    red = Reduction::kNone;
    per.resize(static_cast<size_t>(terms));
    up.resize(static_cast<size_t>(terms));
    const int64_t per_row = rows ? 1 : k;
    // Row losses carry their class weight c[y_i] in `per`: divide by
    // sum_i w_i c[y_i] (ignored rows count 0), the weighted-mean rule.
    const int64_t ignore = static_cast<int64_t>(
        loss.options.count("ignore_index") ? loss.options.at("ignore_index")
                                           : -100.0);
    for (int64_t i = 0; i < n; ++i) {
      double c = 1.0;
      if (rows) {
        const int64_t y = static_cast<const int64_t*>(target)[i];
        if (name == "cross_entropy" && y == ignore) {
          c = 0.0;
        } else if (!loss.class_weight.empty() && y >= 0 &&
                   y < static_cast<int64_t>(loss.class_weight.size()) &&
                   name == "cross_entropy") {
          c = loss.class_weight[y];
        }
      }
      denom += static_cast<double>(sample_weight[i]) * c * per_row;
    }
    const double inv = denom > 0.0 ? 1.0 / denom : 0.0;
    for (int64_t i = 0; i < terms; ++i) {
      up[i] = static_cast<float>(sample_weight[i / per_row] * inv);
    }
    outs.out = mutable_view<float>(per.data(), rows ? Shape{n} : Shape{n, k});
    outs.grad_output_elementwise =
        view<float>(up.data(), rows ? Shape{n} : Shape{n, k});
  }
  if (grad != nullptr) outs.grad_out = mutable_view<float>(grad, Shape{n, k});

  double value = 0.0;
  if (name == "mse_loss") {
    TrainOptionReader r(loss, {});
    value = mse_loss(in, tgt, {.reduction = red}, outs);
  } else if (name == "l1_loss") {
    TrainOptionReader r(loss, {});
    value = l1_loss(in, tgt, {.reduction = red}, outs);
  } else if (name == "huber_loss") {
    TrainOptionReader r(loss, {"delta"});
    value = huber_loss(in, tgt,
                       {.delta = r.get("delta", 1.0), .reduction = red}, outs);
  } else if (name == "smooth_l1_loss") {
    TrainOptionReader r(loss, {"beta"});
    value = smooth_l1_loss(
        in, tgt, {.beta = r.get("beta", 1.0), .reduction = red}, outs);
  } else if (name == "pseudo_huber_loss") {
    TrainOptionReader r(loss, {"delta"});
    value = pseudo_huber_loss(
        in, tgt, {.delta = r.get("delta", 1.0), .reduction = red}, outs);
  } else if (name == "log_cosh_loss") {
    TrainOptionReader r(loss, {});
    value = log_cosh_loss(in, tgt, {.reduction = red}, outs);
  } else if (name == "quantile_loss") {
    TrainOptionReader r(loss, {});
    QuantileOptions o{.reduction = red};
    if (!loss.quantile.empty()) o.quantile = loss.quantile;
    if (static_cast<int64_t>(o.quantile.size()) != k) {
      throw_value_error("quantile_loss: " + std::to_string(o.quantile.size()) +
                        " quantile(s) for a model with " + std::to_string(k) +
                        " outputs; give one quantile per output");
    }
    value = quantile_loss(in, tgt, o, outs);
  } else if (name == "poisson_nll_loss") {
    TrainOptionReader r(loss, {"log_input", "full", "eps"});
    value = poisson_nll_loss(in, tgt,
                             {.log_input = r.get("log_input", 1.0) != 0.0,
                              .full = r.get("full", 0.0) != 0.0,
                              .eps = r.get("eps", 1e-8),
                              .reduction = red},
                             outs);
  } else if (name == "binary_cross_entropy_with_logits") {
    TrainOptionReader r(loss, {});
    value = binary_cross_entropy_with_logits(
        in, tgt,
        {.pos_weight = vec_view(loss.pos_weight, wbuf), .reduction = red},
        outs);
  } else if (name == "sigmoid_focal_loss") {
    TrainOptionReader r(loss, {"alpha", "gamma"});
    const double a = r.get("alpha", 0.25);
    // torchvision: alpha < 0 means no alpha weighting.
    value = sigmoid_focal_loss(
        in, tgt,
        {.alpha = a < 0.0 ? std::nullopt : std::optional<double>(a),
         .gamma = r.get("gamma", 2.0),
         .reduction = red},
        outs);
  } else if (name == "hinge_loss" || name == "squared_hinge_loss") {
    TrainOptionReader r(loss, {"margin"});
    const HingeOptions o{.margin = r.get("margin", 1.0), .reduction = red};
    value = name == "hinge_loss" ? hinge_loss(in, tgt, o, outs)
                                 : squared_hinge_loss(in, tgt, o, outs);
  } else if (name == "cross_entropy") {
    TrainOptionReader r(loss, {"label_smoothing", "ignore_index"});
    value = cross_entropy(
        in, tgt,
        {.weight = vec_view(loss.class_weight, wbuf),
         .ignore_index = static_cast<int64_t>(r.get("ignore_index", -100.0)),
         .label_smoothing = r.get("label_smoothing", 0.0),
         .reduction = red},
        outs);
  } else if (name == "multi_margin_loss") {
    TrainOptionReader r(loss, {"p", "margin"});
    value = multi_margin_loss(in, tgt,
                              {.p = static_cast<int>(r.get("p", 1.0)),
                               .margin = r.get("margin", 1.0),
                               .weight = vec_view(loss.class_weight, wbuf),
                               .reduction = red},
                              outs);
  } else {
    std::string list;
    for (const auto& s : trainable_losses())
      list += (list.empty() ? "" : ", ") + s;
    throw_value_error("fit: loss '" + name +
                      "' is not available for training; use one of: " + list);
  }
  if (sample_weight != nullptr) {
    // kNone returned the plain sum; the weighted mean is sum(u l) in a fixed
    // order (the loss kernels already wrote per-term values).
    std::vector<double> terms_d(static_cast<size_t>(terms));
    for (int64_t i = 0; i < terms; ++i) {
      terms_d[i] = static_cast<double>(up[i]) * per[i];
    }
    value = pairwise_sum(terms_d.data(), terms);
  }
  return value;
}

std::vector<float> predict(Sequential& model, View x) {
  int64_t r, c;
  const std::vector<float> xf = to_float_matrix(x, "x", &r, &c);
  if (x.shape.ndim() != 2 || c != model.in_features() || r < 1) {
    throw_value_error("predict: x has shape " + x.shape.str() +
                      " but the model takes (n, " +
                      std::to_string(model.in_features()) + ") with n >= 1");
  }
  return predict_rows(model, xf, r);
}

History fit(Sequential& model, Optimizer& opt, const LossSpec& loss,
            const Dataset& train, const Dataset* validation,
            const FitOptions& o) {
  if (model.num_parameters() == 0) {
    throw_value_error("fit: the model has no layers; build it first");
  }
  if (opt.num_parameters() != model.num_parameters()) {
    throw_value_error("fit: the optimizer was built for " +
                      std::to_string(opt.num_parameters()) +
                      " parameters but the model has " +
                      std::to_string(model.num_parameters()) +
                      "; build the optimizer from this model");
  }
  if (o.epochs < 1) {
    throw_value_error("fit: epochs=" + std::to_string(o.epochs) +
                      " must be >= 1");
  }
  if (o.batch_size < 0) {
    throw_value_error("fit: batch_size=" + std::to_string(o.batch_size) +
                      " must be >= 1 (or 0 for the full batch)");
  }
  if (o.clip_grad_norm < 0.0 || o.clip_grad_value < 0.0) {
    throw_value_error(
        "fit: clip_grad_norm and clip_grad_value must be >= 0 "
        "(0 turns clipping off)");
  }
  validate_schedule(o.schedule, kFit);
  const bool has_val = validation != nullptr && validation->x.present();
  if (o.patience > 0 && o.monitor.starts_with("val_") && !has_val) {
    throw_value_error("fit: early stopping monitors '" + o.monitor +
                      "' but no validation data was given; pass validation "
                      "data or monitor 'train_loss'");
  }
  for (const auto& m : o.metrics) {
    if (m != "rmse" && m != "mae" && m != "r2" && m != "accuracy") {
      throw_value_error("fit: metric '" + m +
                        "' is not known; use 'rmse', 'mae', 'r2' or "
                        "'accuracy'");
    }
  }
  if (o.monitor != "val_loss" && o.monitor != "train_loss") {
    bool ok = false;
    for (const auto& m : o.metrics) {
      ok = ok || o.monitor == "val_" + m || o.monitor == "train_" + m;
    }
    if (!ok) {
      throw_value_error("fit: monitor '" + o.monitor +
                        "' is neither 'val_loss', 'train_loss' nor a "
                        "requested metric with a train_/val_ prefix");
    }
  }
  const TrainData tr = prepare(train, model, loss, "train");
  TrainData va;
  if (has_val) va = prepare(*validation, model, loss, "validation");
  // The loss options and the targets (a NaN, a class index out of range, a
  // target a loss refuses) are checked by the loss functions, and the
  // metrics' needs by metric_value(): run both once on zero outputs over all
  // of the data now, so a bad call throws before the model is touched
  // (precision, dropout state, weights) rather than at the first batch or
  // the end of the first epoch.
  check_loss_and_metrics(loss, o.metrics, tr, model.out_features());
  if (has_val) {
    check_loss_and_metrics(loss, o.metrics, va, model.out_features());
  }

  const int64_t n = tr.n, in = model.in_features(), k = model.out_features();
  const int64_t bs = o.batch_size == 0 ? n : std::min(o.batch_size, n);
  if (o.drop_last && o.batch_size > n) {
    throw_value_error("fit: batch_size=" + std::to_string(o.batch_size) +
                      " is larger than the " + std::to_string(n) +
                      " training rows with drop_last=True, so no batch "
                      "remains; lower batch_size or set drop_last=False");
  }
  const int64_t nbatches = o.drop_last ? n / bs : (n + bs - 1) / bs;
  const bool rows_target = !tr.yi.empty();
  const int64_t ycols = rows_target ? 1 : k;

  // Loss scaling: the caller's scaler (state carried across calls), or a
  // fresh one from o.loss_scale.
  GradScaler local_scaler = o.scaler != nullptr
                                ? GradScaler({.kind = LossScaleKind::kNone})
                                : GradScaler(o.loss_scale);
  GradScaler& scaler = o.scaler != nullptr ? *o.scaler : local_scaler;
  // The run's precision stays set when fit returns; if anything below throws
  // (the callback, an allocation) the model gets its previous one back.
  PrecisionGuard precision_guard(model, o.precision);
  const bool half = o.precision != Precision::kFp32;
  int64_t skipped = 0;

  std::mt19937_64 rng(o.seed);
  model.set_dropout_state(o.seed ^ 0xd1b54a32d192ed03ULL, 0);
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::vector<float> bx(static_cast<size_t>(bs * in)),
      by(rows_target ? 0 : static_cast<size_t>(bs * ycols)),
      bw(tr.w.empty() ? 0 : static_cast<size_t>(bs)),
      out(static_cast<size_t>(bs * k)), g(static_cast<size_t>(bs * k));
  std::vector<int64_t> byi(rows_target ? static_cast<size_t>(bs) : 0);

  History h;
  const bool maximize = higher_is_better(o.monitor);
  double best = maximize ? -std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::infinity();
  int64_t since_best = 0;
  std::vector<float> best_params;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    if (o.shuffle) {
      for (int64_t i = n - 1; i > 0; --i) {
        const int64_t j =
            static_cast<int64_t>(draw_below(rng, static_cast<uint64_t>(i + 1)));
        std::swap(order[i], order[j]);
      }
    }
    std::vector<double> batch_sum, batch_wt;
    double lr = opt.options().lr;
    model.reset_underflow_counts();
    for (int64_t b = 0; b < nbatches; ++b) {
      const int64_t r0 = b * bs, m = std::min(bs, n - r0);
      double wsum = 0.0;
      for (int64_t r = 0; r < m; ++r) {
        const int64_t src = order[r0 + r];
        std::copy(tr.x.begin() + src * in, tr.x.begin() + (src + 1) * in,
                  bx.begin() + r * in);
        if (rows_target) {
          byi[r] = tr.yi[src];
        } else {
          std::copy(tr.yf.begin() + src * ycols,
                    tr.yf.begin() + (src + 1) * ycols, by.begin() + r * ycols);
        }
        if (!tr.w.empty()) {
          bw[r] = tr.w[src];
          wsum += bw[r];
        }
      }
      model.forward(bx.data(), m, out.data(), true);
      const void* yt = rows_target ? static_cast<const void*>(byi.data())
                                   : static_cast<const void*>(by.data());
      // A fault (an inf/NaN output, loss or gradient: a NaN in the data, an
      // fp16 overflow, a diverging run) skips the optimizer step and counts
      // it. The loss is not evaluated on non-finite outputs (some losses
      // reject them), and the scaler backs off as torch's would, since the
      // gradients of a non-finite loss are non-finite.
      bool finite = std::all_of(out.begin(), out.begin() + m * k,
                                [](float v) { return std::isfinite(v); });
      double l = std::numeric_limits<double>::quiet_NaN();
      if (finite) {
        l = compute_loss(loss, out.data(), m, k, yt,
                         tr.w.empty() ? nullptr : bw.data(), g.data());
        finite = std::isfinite(l);
      }
      if (finite) {
        // Scaled backward: dL/doutput * scale (float32), rounded to the
        // compute dtype inside backward(); then unscale in float32.
        const float scale = scaler.scale();
        if (scale != 1.0f) {
          for (int64_t i = 0; i < m * k; ++i) g[i] *= scale;
        }
        model.backward(g.data());
        const std::span<float> grads = model.gradients();
        if (scale != 1.0f) {
          const float inv = scaler.inv_scale();
          for (float& v : grads) v *= inv;
        }
        finite = std::all_of(grads.begin(), grads.end(),
                             [](float v) { return std::isfinite(v); });
      }
      lr = scheduled_lr(opt.options().lr, o.schedule, opt.steps());
      if (finite) {
        if (o.clip_grad_value > 0.0) {
          clip_grad_value(model.gradients(), o.clip_grad_value);
        }
        if (o.clip_grad_norm > 0.0) {
          clip_grad_norm(model.gradients(), o.clip_grad_norm);
        }
        opt.step(model.parameters(), model.gradients(), lr);
      } else {
        ++skipped;
      }
      scaler.update(!finite);
      if (std::isfinite(l)) {
        // train_loss averages the batches whose loss is finite.
        const double bwt = tr.w.empty() ? static_cast<double>(m) : wsum;
        batch_sum.push_back(l * bwt);
        batch_wt.push_back(bwt);
      }
    }
    EpochLog log;
    log.epoch = epoch;
    log.lr = lr;
    const double tw =
        pairwise_sum(batch_wt.data(), static_cast<int64_t>(batch_wt.size()));
    log.train_loss =
        batch_wt.empty() ? nan
        : tw > 0.0       ? pairwise_sum(batch_sum.data(),
                                        static_cast<int64_t>(batch_sum.size())) /
                         tw
                   : 0.0;
    log.val_loss = nan;
    log.skipped_steps = skipped;
    log.loss_scale = scaler.scale();
    log.underflow_fraction =
        !half ? nan
        : model.grad_nonzero_count() == 0
            ? 0.0
            : static_cast<double>(model.grad_underflow_count()) /
                  static_cast<double>(model.grad_nonzero_count());
    model.reset_underflow_counts();
    if (!o.metrics.empty()) {
      const std::vector<float> p = predict_rows(model, tr.x, tr.n);
      for (const auto& m : o.metrics) {
        log.metrics["train_" + m] = metric_value(m, p, tr, k);
      }
    }
    if (has_val) {
      const std::vector<float> p = predict_rows(model, va.x, va.n);
      log.val_loss = eval_loss(loss, p, va, k);
      for (const auto& m : o.metrics) {
        log.metrics["val_" + m] = metric_value(m, p, va, k);
      }
    }
    h.epochs.push_back(log);
    const double cur = o.monitor == "val_loss"     ? log.val_loss
                       : o.monitor == "train_loss" ? log.train_loss
                                                   : log.metrics[o.monitor];
    const bool better =
        maximize ? cur > best + o.min_delta : cur < best - o.min_delta;
    if (better || h.best_epoch == 0) {
      if (better) best = cur;
      h.best_epoch = epoch;
      since_best = 0;
      if (o.restore_best) {
        best_params.assign(model.parameters().begin(),
                           model.parameters().end());
      }
    } else {
      ++since_best;
    }
    bool stop = false;
    if (o.callback && !o.callback(log)) stop = true;
    if (o.patience > 0 && since_best >= o.patience) stop = true;
    if (stop) {
      h.stopped_early = epoch < o.epochs;
      break;
    }
  }
  if (o.restore_best && !best_params.empty()) {
    std::copy(best_params.begin(), best_params.end(),
              model.parameters().begin());
  }
  h.skipped_steps = skipped;
  h.loss_scale = scaler.scale();
  precision_guard.commit();
  return h;
}

}  // namespace losslab::train
