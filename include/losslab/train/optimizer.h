// losslab/train/optimizer.h: optimizers, gradient clipping and learning-rate
// schedules, matching torch.optim 2.13 step by step.
//
// Optimizers work on the flat parameter / gradient buffers of a model (an
// update is elementwise, so this equals torch's per-tensor loop). Arithmetic
// is float32 in torch's operation order (single-tensor implementation, the
// CPU default); the update rules are written out in docs/training.md.
#ifndef LOSSLAB_TRAIN_OPTIMIZER_H_
#define LOSSLAB_TRAIN_OPTIMIZER_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace losslab::train {

enum class OptimizerKind : uint8_t { kSgd, kAdam, kAdamW, kRmsprop };

std::string_view optimizer_name(OptimizerKind kind) noexcept;

// Hyper-parameters of every kind; each kind reads its own (torch names).
struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::kAdam;
  double lr = 1e-3;
  double weight_decay = 0.0;  // L2 term in the gradient; AdamW: decoupled
  // SGD and RMSprop
  double momentum = 0.0;
  double dampening = 0.0;  // SGD
  bool nesterov = false;   // SGD
  // Adam / AdamW
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  bool amsgrad = false;
  // RMSprop
  double alpha = 0.99;
  bool centered = false;
};

class Optimizer {
 public:
  Optimizer() = default;
  // Validates the options (torch's checks: lr >= 0, eps >= 0, betas in
  // [0, 1), ...) and allocates the state for `num_parameters`.
  Optimizer(const OptimizerOptions& options, int64_t num_parameters);

  // One update of `params` from `grads` with learning rate `lr` (the
  // schedule's value for this step; pass options().lr for none).
  void step(std::span<float> params, std::span<const float> grads, double lr);

  const OptimizerOptions& options() const noexcept { return options_; }
  int64_t num_parameters() const noexcept { return n_; }
  int64_t steps() const noexcept { return steps_; }
  // State buffers (momentum, exp_avg, exp_avg_sq, ...), for checkpoints.
  std::vector<std::vector<float>>& state() noexcept { return state_; }
  const std::vector<std::vector<float>>& state() const noexcept {
    return state_;
  }
  void set_steps(int64_t steps) noexcept { steps_ = steps; }

 private:
  OptimizerOptions options_;
  int64_t n_ = 0;
  int64_t steps_ = 0;
  std::vector<std::vector<float>> state_;
};

// Loss scaling with torch.amp.GradScaler's semantics (torch 2.13,
// _amp_update_scale_). The loss (hence dL/doutput) is multiplied by scale()
// before the backward pass; the gradients are multiplied by the float32
// inv_scale() = float(1 / double(scale)) afterwards. update(found_inf) is
// called once per step with whether any gradient was inf/NaN:
//   found_inf: scale *= backoff_factor, growth_tracker = 0 (the step is
//              skipped: skipped_steps += 1)
//   else:      growth_tracker += 1; when it reaches growth_interval,
//              scale *= growth_factor (kept only if finite), tracker = 0.
// The scale is float32 as torch's scale tensor, and so is the arithmetic.
// kStatic keeps the scale fixed (and still counts skipped steps); kNone is
// scale 1 (fp32 training: non-finite steps are still skipped and counted).
enum class LossScaleKind : uint8_t { kNone, kStatic, kDynamic };
struct GradScalerOptions {
  LossScaleKind kind = LossScaleKind::kDynamic;
  double init_scale = 65536.0;  // 2^16
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class GradScaler {
 public:
  GradScaler() = default;
  // Validates the options (init_scale > 0 and finite, growth_factor > 1,
  // backoff_factor in (0, 1), growth_interval >= 1, as torch requires).
  explicit GradScaler(const GradScalerOptions& options);

  const GradScalerOptions& options() const noexcept { return options_; }
  bool enabled() const noexcept {
    return options_.kind != LossScaleKind::kNone;
  }
  float scale() const noexcept { return scale_; }
  float inv_scale() const noexcept;
  int64_t growth_tracker() const noexcept { return growth_tracker_; }
  int64_t skipped_steps() const noexcept { return skipped_; }
  void update(bool found_inf) noexcept;
  void count_skipped() noexcept { ++skipped_; }
  // For checkpoints; validates like the constructor.
  void set_state(float scale, int64_t growth_tracker, int64_t skipped);

 private:
  GradScalerOptions options_;
  float scale_ = 65536.0f;
  int64_t growth_tracker_ = 0;
  int64_t skipped_ = 0;
};

// torch.nn.utils.clip_grad_norm_ (norm_type 2): total = ||g||_2 over every
// parameter; g *= min(1, max_norm / (total + 1e-6)). Returns total (the norm
// before clipping). The norm is a fixed-order blocked sum in double, so it is
// the same at any thread count. max_norm > 0.
double clip_grad_norm(std::span<float> grads, double max_norm);
// torch.nn.utils.clip_grad_value_: g = clamp(g, -clip, clip). clip > 0.
void clip_grad_value(std::span<float> grads, double clip);

// Learning-rate schedule, as a factor of the base lr at optimizer step t
// (t = 0 for the first step). Warm-up and decay compose by multiplication,
// the decay clock starting when the warm-up ends:
//   lr(t) = lr0 * w(t) * d(max(0, t - warmup_steps))
//   w(t) = start + (1 - start) t / warmup_steps for t < warmup_steps, else 1
//          (torch LinearLR(start_factor=start, total_iters=warmup_steps))
//   d: kConstant 1; kStep gamma^floor(s / step_size) (StepLR);
//      kExponential gamma^s (ExponentialLR); kCosine
//      (eta_min + (lr0 - eta_min)(1 + cos(pi min(s, t_max) / t_max)) / 2) / lr0
//      (the closed form of CosineAnnealingLR, held at eta_min after t_max).
enum class ScheduleKind : uint8_t { kConstant, kStep, kExponential, kCosine };
struct Schedule {
  ScheduleKind kind = ScheduleKind::kConstant;
  int64_t warmup_steps = 0;
  double warmup_start_factor = 0.0;
  int64_t step_size = 1;  // kStep
  double gamma = 0.1;     // kStep, kExponential
  int64_t t_max = 1;      // kCosine
  double eta_min = 0.0;   // kCosine, an absolute learning rate
};
// Throws losslab::Error naming `function` for invalid fields.
void validate_schedule(const Schedule& s, std::string_view function);
double scheduled_lr(double base_lr, const Schedule& s, int64_t step);

}  // namespace losslab::train

#endif  // LOSSLAB_TRAIN_OPTIMIZER_H_
