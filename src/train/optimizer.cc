// Optimizers, clipping and schedules of the training engine, written in
// torch.optim's operation order (2.13, single-tensor path): see
// include/losslab/train/optimizer.h and docs/training.md.
#include "losslab/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"

namespace losslab::train {
namespace {

constexpr int64_t kOptimBlock = 1 << 14;  // elements per optimizer task
constexpr int64_t kNormBlock = 4096;      // elements per partial norm

// torch.lerp on CPU: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w).
inline float torch_lerp(float a, float b, float w) {
  return std::abs(w) < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

void check_option(bool ok, const std::string& fn, const std::string& what) {
  if (!ok) throw_value_error(fn + ": " + what);
}

std::string num(double v) {
  std::string s = std::to_string(v);
  return s;
}

}  // namespace

std::string_view optimizer_name(OptimizerKind kind) noexcept {
  switch (kind) {
    case OptimizerKind::kSgd:
      return "SGD";
    case OptimizerKind::kAdam:
      return "Adam";
    case OptimizerKind::kAdamW:
      return "AdamW";
    case OptimizerKind::kRmsprop:
      return "RMSprop";
  }
  return "?";
}

Optimizer::Optimizer(const OptimizerOptions& o, int64_t num_parameters)
    : options_(o), n_(num_parameters) {
  const std::string fn(optimizer_name(o.kind));
  check_option(std::isfinite(o.lr) && o.lr >= 0.0, fn,
               "lr=" + num(o.lr) + " must be finite and >= 0");
  check_option(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0, fn,
               "weight_decay=" + num(o.weight_decay) + " must be >= 0");
  check_option(num_parameters >= 1, fn,
               "the model has no parameters to optimize");
  const size_t n = static_cast<size_t>(num_parameters);
  switch (o.kind) {
    case OptimizerKind::kSgd:
      check_option(o.momentum >= 0.0, fn,
                   "momentum=" + num(o.momentum) + " must be >= 0");
      check_option(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0), fn,
                   "nesterov=True needs momentum > 0 and dampening = 0 (as "
                   "torch.optim.SGD)");
      if (o.momentum != 0.0) state_.assign(1, std::vector<float>(n, 0.0f));
      break;
    case OptimizerKind::kAdam:
    case OptimizerKind::kAdamW:
      check_option(o.eps >= 0.0, fn, "eps=" + num(o.eps) + " must be >= 0");
      check_option(o.beta1 >= 0.0 && o.beta1 < 1.0, fn,
                   "beta1=" + num(o.beta1) + " must be in [0, 1)");
      check_option(o.beta2 >= 0.0 && o.beta2 < 1.0, fn,
                   "beta2=" + num(o.beta2) + " must be in [0, 1)");
      state_.assign(o.amsgrad ? 3 : 2, std::vector<float>(n, 0.0f));
      break;
    case OptimizerKind::kRmsprop:
      check_option(o.eps >= 0.0, fn, "eps=" + num(o.eps) + " must be >= 0");
      check_option(o.alpha >= 0.0, fn,
                   "alpha=" + num(o.alpha) + " must be >= 0");
      check_option(o.momentum >= 0.0, fn,
                   "momentum=" + num(o.momentum) + " must be >= 0");
      // square_avg, momentum_buffer, grad_avg (always allocated).
      state_.assign(3, std::vector<float>(n, 0.0f));
      break;
  }
}

void Optimizer::step(std::span<float> params, std::span<const float> grads,
                     double lr_d) {
  const std::string fn(optimizer_name(options_.kind));
  if (static_cast<int64_t>(params.size()) != n_ ||
      static_cast<int64_t>(grads.size()) != n_) {
    throw_value_error(fn + ".step: the optimizer was built for " +
                      std::to_string(n_) + " parameters but got " +
                      std::to_string(params.size()) + " parameters and " +
                      std::to_string(grads.size()) +
                      " gradients; build the optimizer for this model");
  }
  const OptimizerOptions& o = options_;
  const bool first = steps_ == 0;
  ++steps_;
  const float lr = static_cast<float>(lr_d);
  const float wd = static_cast<float>(o.weight_decay);
  float* p = params.data();
  const float* gr = grads.data();
  switch (o.kind) {
    case OptimizerKind::kSgd: {
      // g = grad + wd p; buf = g (first step) else momentum buf +
      // (1 - dampening) g; g = nesterov ? g + momentum buf : buf;
      // p -= lr g.
      const float mom = static_cast<float>(o.momentum);
      const float damp = static_cast<float>(1.0 - o.dampening);
      float* buf = state_.empty() ? nullptr : state_[0].data();
      parallel_for(n_, kOptimBlock, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          float g = gr[i];
          if (wd != 0.0f) g = g + wd * p[i];
          if (buf != nullptr) {
            buf[i] = first ? g : buf[i] * mom + damp * g;
            g = o.nesterov ? g + mom * buf[i] : buf[i];
          }
          p[i] = p[i] + (-lr) * g;
        }
      });
      break;
    }
    case OptimizerKind::kAdam:
    case OptimizerKind::kAdamW: {
      // AdamW: p *= 1 - lr wd; Adam: g += wd p. m = lerp(m, g, 1 - b1);
      // v = b2 v + (1 - b2) g^2; denom = sqrt(v) / sqrt(1 - b2^t) + eps;
      // p -= lr / (1 - b1^t) * m / denom (amsgrad: v -> running max of v).
      const bool decoupled = o.kind == OptimizerKind::kAdamW;
      const double t = static_cast<double>(steps_);
      const double bc1 = 1.0 - std::pow(o.beta1, t);
      const double bc2 = 1.0 - std::pow(o.beta2, t);
      const float step_size = static_cast<float>(lr_d / bc1);
      const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
      const float decay = static_cast<float>(1.0 - lr_d * o.weight_decay);
      const float w1 = static_cast<float>(1.0 - o.beta1);
      const float b2 = static_cast<float>(o.beta2);
      const float w2 = static_cast<float>(1.0 - o.beta2);
      const float eps = static_cast<float>(o.eps);
      float* m = state_[0].data();
      float* v = state_[1].data();
      float* vmax = o.amsgrad ? state_[2].data() : nullptr;
      parallel_for(n_, kOptimBlock, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          float g = gr[i];
          if (decoupled) {
            if (o.weight_decay != 0.0) p[i] = p[i] * decay;
          } else if (wd != 0.0f) {
            g = g + wd * p[i];
          }
          m[i] = torch_lerp(m[i], g, w1);
          v[i] = v[i] * b2 + w2 * (g * g);
          float vv = v[i];
          if (vmax != nullptr) {
            vmax[i] = std::max(vmax[i], v[i]);
            vv = vmax[i];
          }
          const float denom = std::sqrt(vv) / bc2_sqrt + eps;
          p[i] = p[i] + (-step_size) * (m[i] / denom);
        }
      });
      break;
    }
    case OptimizerKind::kRmsprop: {
      // g += wd p; sq = alpha sq + (1 - alpha) g^2; centered:
      // ga = lerp(ga, g, 1 - alpha), avg = sqrt(sq - ga^2) + eps, else
      // avg = sqrt(sq) + eps; momentum: buf = momentum buf + g / avg,
      // p -= lr buf; else p -= lr g / avg.
      const float alpha = static_cast<float>(o.alpha);
      const float w = static_cast<float>(1.0 - o.alpha);
      const float eps = static_cast<float>(o.eps);
      const float mom = static_cast<float>(o.momentum);
      float* sq = state_[0].data();
      float* buf = state_[1].data();
      float* ga = state_[2].data();
      parallel_for(n_, kOptimBlock, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          float g = gr[i];
          if (wd != 0.0f) g = g + wd * p[i];
          sq[i] = sq[i] * alpha + w * (g * g);
          float avg;
          if (o.centered) {
            ga[i] = torch_lerp(ga[i], g, w);
            avg = std::sqrt(sq[i] + (-1.0f) * (ga[i] * ga[i]));
          } else {
            avg = std::sqrt(sq[i]);
          }
          avg = avg + eps;
          if (o.momentum > 0.0) {
            buf[i] = buf[i] * mom + g / avg;
            p[i] = p[i] + (-lr) * buf[i];
          } else {
            p[i] = p[i] + (-lr) * (g / avg);
          }
        }
      });
      break;
    }
  }
}

GradScaler::GradScaler(const GradScalerOptions& o) : options_(o) {
  const std::string fn = "GradScaler";
  check_option(
      std::isfinite(o.init_scale) && o.init_scale > 0.0 &&
          static_cast<float>(o.init_scale) > 0.0f &&
          std::isfinite(static_cast<float>(o.init_scale)),
      fn,
      "init_scale=" + num(o.init_scale) + " must be finite and > 0 in float32");
  check_option(std::isfinite(o.growth_factor) && o.growth_factor > 1.0, fn,
               "growth_factor=" + num(o.growth_factor) + " must be > 1");
  check_option(
      o.backoff_factor > 0.0 && o.backoff_factor < 1.0, fn,
      "backoff_factor=" + num(o.backoff_factor) + " must be in (0, 1)");
  check_option(
      o.growth_interval >= 1, fn,
      "growth_interval=" + std::to_string(o.growth_interval) + " must be >= 1");
  scale_ =
      o.kind == LossScaleKind::kNone ? 1.0f : static_cast<float>(o.init_scale);
}

float GradScaler::inv_scale() const noexcept {
  // torch: scale.double().reciprocal().float().
  return static_cast<float>(1.0 / static_cast<double>(scale_));
}

void GradScaler::update(bool found_inf) noexcept {
  if (found_inf) ++skipped_;
  if (options_.kind != LossScaleKind::kDynamic) return;
  // torch's _amp_update_scale_ (CPU kernel): float scale times a double
  // factor, stored back as float.
  if (found_inf) {
    scale_ = static_cast<float>(scale_ * options_.backoff_factor);
    growth_tracker_ = 0;
  } else {
    const int64_t successful = growth_tracker_ + 1;
    if (successful == options_.growth_interval) {
      const float grown = static_cast<float>(scale_ * options_.growth_factor);
      if (std::isfinite(grown)) scale_ = grown;
      growth_tracker_ = 0;
    } else {
      growth_tracker_ = successful;
    }
  }
}

void GradScaler::set_state(float scale, int64_t growth_tracker,
                           int64_t skipped) {
  check_option(std::isfinite(scale) && scale > 0.0f, "GradScaler",
               "scale must be finite and > 0");
  check_option(
      growth_tracker >= 0 &&
          growth_tracker < std::max<int64_t>(options_.growth_interval, 1),
      "GradScaler", "growth_tracker must be in [0, growth_interval)");
  check_option(skipped >= 0, "GradScaler", "skipped_steps must be >= 0");
  scale_ = scale;
  growth_tracker_ = growth_tracker;
  skipped_ = skipped;
}

double clip_grad_norm(std::span<float> grads, double max_norm) {
  if (!(max_norm > 0.0) || !std::isfinite(max_norm)) {
    throw_value_error("clip_grad_norm: max_norm=" + num(max_norm) +
                      " must be finite and > 0");
  }
  const int64_t n = static_cast<int64_t>(grads.size());
  const int64_t nb = (n + kNormBlock - 1) / kNormBlock;
  std::vector<double> part(static_cast<size_t>(std::max<int64_t>(nb, 1)), 0.0);
  const float* g = grads.data();
  parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double s = 0.0;
      for (int64_t i = b * kNormBlock; i < std::min(n, (b + 1) * kNormBlock);
           ++i) {
        s += static_cast<double>(g[i]) * g[i];
      }
      part[b] = s;
    }
  });
  const double total = std::sqrt(pairwise_sum(part.data(), nb));
  // torch: clip_coef = max_norm / (total + 1e-6), clamped to at most 1.
  const float coef =
      static_cast<float>(std::min(1.0, max_norm / (total + 1e-6)));
  if (coef < 1.0f) {
    for (float& x : grads) x *= coef;
  }
  return total;
}

void clip_grad_value(std::span<float> grads, double clip) {
  if (!(clip > 0.0) || !std::isfinite(clip)) {
    throw_value_error("clip_grad_value: clip_value=" + num(clip) +
                      " must be finite and > 0");
  }
  const float c = static_cast<float>(clip);
  for (float& x : grads) x = std::clamp(x, -c, c);
}

void validate_schedule(const Schedule& s, std::string_view function) {
  const std::string fn(function);
  check_option(
      s.warmup_steps >= 0, fn,
      "warmup_steps=" + std::to_string(s.warmup_steps) + " must be >= 0");
  check_option(s.warmup_start_factor >= 0.0 && s.warmup_start_factor <= 1.0, fn,
               "warmup_start_factor=" + num(s.warmup_start_factor) +
                   " must be in [0, 1]");
  switch (s.kind) {
    case ScheduleKind::kConstant:
      break;
    case ScheduleKind::kStep:
      check_option(
          s.step_size >= 1, fn,
          "step_size=" + std::to_string(s.step_size) + " must be >= 1");
      [[fallthrough]];
    case ScheduleKind::kExponential:
      check_option(s.gamma > 0.0 && std::isfinite(s.gamma), fn,
                   "gamma=" + num(s.gamma) + " must be finite and > 0");
      break;
    case ScheduleKind::kCosine:
      check_option(s.t_max >= 1, fn,
                   "t_max=" + std::to_string(s.t_max) + " must be >= 1");
      check_option(s.eta_min >= 0.0 && std::isfinite(s.eta_min), fn,
                   "eta_min=" + num(s.eta_min) + " must be finite and >= 0");
      break;
  }
}

double scheduled_lr(double base_lr, const Schedule& s, int64_t step) {
  double w = 1.0;
  if (step < s.warmup_steps) {
    w = s.warmup_start_factor + (1.0 - s.warmup_start_factor) *
                                    static_cast<double>(step) /
                                    static_cast<double>(s.warmup_steps);
  }
  const int64_t t = std::max<int64_t>(0, step - s.warmup_steps);
  switch (s.kind) {
    case ScheduleKind::kConstant:
      return base_lr * w;
    case ScheduleKind::kStep:
      return base_lr * w *
             std::pow(s.gamma, static_cast<double>(t / s.step_size));
    case ScheduleKind::kExponential:
      return base_lr * w * std::pow(s.gamma, static_cast<double>(t));
    case ScheduleKind::kCosine: {
      const double tc = static_cast<double>(std::min(t, s.t_max));
      const double c =
          s.eta_min + (base_lr - s.eta_min) *
                          (1.0 + std::cos(std::numbers::pi * tc /
                                          static_cast<double>(s.t_max))) /
                          2.0;
      return c * w;
    }
  }
  return base_lr * w;
}

}  // namespace losslab::train
