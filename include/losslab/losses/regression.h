// losslab/losses/regression.h: regression losses.
//
// Every function takes the prediction `input` and the `target` (same shape,
// float32 or float64), an options struct written with designated
// initializers, and optional caller-owned outputs:
//
//   std::vector<float> grad(n);
//   double loss = losslab::huber_loss(
//       losslab::view<float>(pred.data(), {n}),
//       losslab::view<float>(y.data(), {n}),
//       {.delta = 2.0, .reduction = losslab::Reduction::kSum},
//       {.grad_out = losslab::mutable_view<float>(grad.data(), {n})});
//
// The return value is the reduced loss (for kNone: the sum of the per-element
// losses written to `outputs.out`), rounded to the input dtype. The gradient
// is that of the reduced loss: for kMean it includes the 1/N (or 1/sum(w)).
// A weighted mean divides by the sum of the weights; when that sum is 0 the
// loss is 0 with a zero gradient. Formulas, gradients, Hessians, conventions
// at kinks and sources: docs/losses.md.
#ifndef LOSSLAB_LOSSES_REGRESSION_H_
#define LOSSLAB_LOSSES_REGRESSION_H_

#include <vector>

#include "losslab/core/reduction.h"
#include "losslab/core/view.h"
#include "losslab/losses/common.h"

namespace losslab {

// l = (x - y)^2. PyTorch: torch.nn.functional.mse_loss.
struct MseOptions {
  View weight = {};
  Reduction reduction = Reduction::kMean;
  NanPolicy nan_policy = NanPolicy::kPropagate;
};
double mse_loss(View input, View target, const MseOptions& options = {},
                const LossOutputs& outputs = {});

// l = |x - y|; gradient sign(x - y) with 0 at 0. PyTorch: l1_loss.
struct L1Options {
  View weight = {};
  Reduction reduction = Reduction::kMean;
  NanPolicy nan_policy = NanPolicy::kPropagate;
};
double l1_loss(View input, View target, const L1Options& options = {},
               const LossOutputs& outputs = {});

// Huber (1964): 0.5 d^2 for |d| < delta, delta (|d| - 0.5 delta) otherwise.
// delta > 0. PyTorch: huber_loss; equals delta * smooth_l1_loss(beta=delta).
struct HuberOptions {
  double delta = 1.0;
  View weight = {};
  Reduction reduction = Reduction::kMean;
  NanPolicy nan_policy = NanPolicy::kPropagate;
};
double huber_loss(View input, View target, const HuberOptions& options = {},
                  const LossOutputs& outputs = {});

// 0.5 d^2 / beta for |d| < beta, |d| - 0.5 beta otherwise; beta = 0 is L1.
// beta >= 0. PyTorch: smooth_l1_loss (Girshick 2015, Fast R-CNN).
struct SmoothL1Options {
  double beta = 1.0;
  View weight = {};
  Reduction reduction = Reduction::kMean;
  NanPolicy nan_policy = NanPolicy::kPropagate;
};
double smooth_l1_loss(View input, View target,
                      const SmoothL1Options& options = {},
                      const LossOutputs& outputs = {});

// Pinball loss (Koenker & Bassett 1978): e = target - input,
// l = max(tau e, (tau - 1) e), tau in (0, 1). With several quantiles the
// input is (N, Q), quantile has Q entries (column j uses quantile[j]) and the
// target is (N, Q) or (N,) (one target per row, shared by its Q predictions).
struct QuantileOptions {
  std::vector<double> quantile = {0.5};
  View weight = {};
  Reduction reduction = Reduction::kMean;
  NanPolicy nan_policy = NanPolicy::kPropagate;
};
double quantile_loss(View input, View target,
                     const QuantileOptions& options = {},
                     const LossOutputs& outputs = {});

// l = log cosh(x - y), computed without overflow or cancellation.
struct LogCoshOptions {
  View weight = {};
  Reduction reduction = Reduction::kMean;
  NanPolicy nan_policy = NanPolicy::kPropagate;
};
double log_cosh_loss(View input, View target,
                     const LogCoshOptions& options = {},
                     const LossOutputs& outputs = {});

// Pseudo-Huber (Charbonnier et al. 1994; Hartley & Zisserman 2003):
// l = delta^2 (sqrt(1 + (d/delta)^2) - 1), delta > 0.
struct PseudoHuberOptions {
  double delta = 1.0;
  View weight = {};
  Reduction reduction = Reduction::kMean;
  NanPolicy nan_policy = NanPolicy::kPropagate;
};
double pseudo_huber_loss(View input, View target,
                         const PseudoHuberOptions& options = {},
                         const LossOutputs& outputs = {});

// Poisson negative log-likelihood, PyTorch poisson_nll_loss semantics:
// log_input: exp(x) - y x; else x - y log(x + eps) (x must be >= 0).
// full adds the Stirling term y log y - y + 0.5 log(2 pi y) where y > 1.
struct PoissonNllOptions {
  bool log_input = true;
  bool full = false;
  double eps = 1e-8;
  View weight = {};
  Reduction reduction = Reduction::kMean;
  NanPolicy nan_policy = NanPolicy::kPropagate;
};
double poisson_nll_loss(View input, View target,
                        const PoissonNllOptions& options = {},
                        const LossOutputs& outputs = {});

}  // namespace losslab

#endif  // LOSSLAB_LOSSES_REGRESSION_H_
