// losslab/train/trainer.h: the training loop.
//
//   auto model = losslab::train::mlp({.in_features = 64, .hidden = {64},
//                                     .out_features = 10});
//   losslab::train::Optimizer opt({.kind =
//   losslab::train::OptimizerKind::kAdam,
//                                  .lr = 1e-3}, model.num_parameters());
//   losslab::train::History h = losslab::train::fit(
//       model, opt, {.name = "cross_entropy"},
//       {.x = losslab::view<float>(x.data(), {n, 64}),
//        .y = losslab::view<int64_t>(y.data(), {n})},
//       nullptr, {.epochs = 20, .batch_size = 32, .seed = 0});
//
// Every mini-batch: forward (training mode, in the compute precision), the
// loss's mean value and dL/doutput from the public loss functions (times the
// loss scale), backward, unscaling, a check for inf/NaN (the step is then
// skipped and counted), optional clipping, one optimizer step at the
// scheduled learning rate, the scaler's update. The same seed gives
// bitwise-identical weights at any thread count (docs/training.md).
#ifndef LOSSLAB_TRAIN_TRAINER_H_
#define LOSSLAB_TRAIN_TRAINER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "losslab/core/view.h"
#include "losslab/train/model.h"
#include "losslab/train/optimizer.h"

namespace losslab::train {

// A loss by its losslab name with its options. Scalar options by their
// Python names (delta, beta, alpha, gamma, label_smoothing, margin,
// log_input, full, eps, ignore_index); `quantile`, `class_weight` (the
// `weight` of cross_entropy) and `pos_weight` as vectors.
struct LossSpec {
  std::string name = "mse_loss";
  std::map<std::string, double> options = {};
  std::vector<double> quantile = {};
  std::vector<double> class_weight = {};
  std::vector<double> pos_weight = {};
};

// Names fit() accepts. Losses on class indices (cross_entropy,
// multi_margin_loss) take int32/int64 targets (n,); the others float
// targets of the output's shape ((n,) is accepted for one output). The
// segmentation losses (dice_loss, jaccard_loss, tversky_loss,
// dice_cross_entropy_loss) take one logit per row (a pixel) and a 0/1 mask;
// the soft overlap sums run over the whole mini-batch (binary mode, logits),
// and they take no sample weights.
std::vector<std::string> trainable_losses();

// Value of the loss (mean over the batch; with sample weights w_i the
// weighted mean sum_i w_i l_i / sum_i w_i) and its gradient w.r.t. the model
// output (n, k) into grad (may be null). target is float32 (n, k) or int64
// (n,) per the loss. Throws losslab::Error for unknown names or options.
double compute_loss(const LossSpec& loss, const float* output, int64_t n,
                    int64_t k, const void* target, const float* sample_weight,
                    float* grad);

struct Dataset {
  View x;                   // (n, in_features), float32 or float64
  View y;                   // targets (see trainable_losses)
  View sample_weight = {};  // (n,) >= 0, optional
};

struct EpochLog {
  int64_t epoch = 0;          // 1-based
  double lr = 0.0;            // learning rate of the epoch's last step
  double train_loss = 0.0;    // weighted mean of the batch losses
  double val_loss = 0.0;      // NaN without validation data
  int64_t skipped_steps = 0;  // skipped (non-finite) steps so far in this fit
  double loss_scale = 1.0;    // the scaler's scale at the end of the epoch
  // Half precision: the share of the epoch's gradient entries that were
  // nonzero in float32 and rounded to zero (Sequential::grad_*_count); NaN
  // in fp32.
  double underflow_fraction = 0.0;
  // "train_<metric>" / "val_<metric>" for each requested metric.
  std::map<std::string, double> metrics = {};
};

struct History {
  std::vector<EpochLog> epochs;
  int64_t best_epoch = 0;      // 1-based epoch of the best monitored value
  bool stopped_early = false;  // by patience or by the callback
  int64_t skipped_steps = 0;   // steps skipped for inf/NaN in this fit
  double loss_scale = 1.0;     // the scaler's final scale
};

struct FitOptions {
  int64_t epochs = 10;
  int64_t batch_size = 32;  // 0: full batch
  bool shuffle = true;      // a seeded Fisher-Yates shuffle per epoch
  bool drop_last = false;
  uint64_t seed = 0;
  double clip_grad_norm = 0.0;   // > 0: clip_grad_norm before each step
  double clip_grad_value = 0.0;  // > 0: clip_grad_value before each step
  Schedule schedule = {};
  // Metrics computed at the end of each epoch on train and validation
  // data: "rmse", "mae", "r2" (regression outputs), "accuracy" (argmax of
  // the outputs, or output > 0 for a single logit).
  std::vector<std::string> metrics = {};
  // Early stopping on "val_loss" (or "train_loss", or "val_<metric>"):
  // stop after `patience` epochs without improvement (0: never);
  // restore_best puts back the weights of the best epoch.
  std::string monitor = "val_loss";
  int64_t patience = 0;
  double min_delta = 0.0;
  bool restore_best = false;
  // Called after every epoch; return false to stop.
  std::function<bool(const EpochLog&)> callback = {};
  // Mixed precision (model.h, Precision): fit sets the model's precision
  // to this for the run (it stays set: predictions use it too; a fit that
  // throws puts the previous precision back).
  Precision precision = Precision::kFp32;
  // Loss scaling for this run (kNone: none). `scaler`, when not null,
  // replaces it and carries its state across fit() calls and checkpoints;
  // it is updated in place.
  GradScalerOptions loss_scale = {.kind = LossScaleKind::kNone};
  GradScaler* scaler = nullptr;
};

// Trains `model` in place. Bad options or data (including loss options,
// targets the loss refuses and metrics the targets cannot give: the loss
// and metrics are evaluated once on zero outputs over all the data first)
// throw losslab::Error before the model, optimizer or scaler change. An
// exception during training (e.g. from the callback) leaves the steps taken
// so far in the weights and restores the model's previous precision.
History fit(Sequential& model, Optimizer& optimizer, const LossSpec& loss,
            const Dataset& train, const Dataset* validation,
            const FitOptions& options);

// Model outputs (n, out_features) for x (n, in_features) in evaluation mode,
// in blocks of rows so the memory stays bounded.
std::vector<float> predict(Sequential& model, View x);

}  // namespace losslab::train

#endif  // LOSSLAB_TRAIN_TRAINER_H_
