// Internal: the op layer shared by every elementwise loss. It validates the
// arguments, makes strided inputs contiguous, computes the reduction scale,
// runs the block kernels on the thread pool, turns kernel flags into errors
// and applies the reduction.
#ifndef LOSSLAB_SRC_LOSSES_ELEMENTWISE_OP_H_
#define LOSSLAB_SRC_LOSSES_ELEMENTWISE_OP_H_

#include <string_view>
#include <vector>

#include "losslab/core/reduction.h"
#include "losslab/core/view.h"
#include "losslab/losses/common.h"
#include "src/losses/elementwise.h"

namespace losslab::detail {

struct ElemSpec {
  std::string_view fn;  // public name, for messages
  ElemLossId loss;
  double p0 = 0.0;
  uint32_t opts = 0;
  const View* input;
  const View* target;
  const View* weight;
  Reduction reduction;
  NanPolicy nan_policy;
  const LossOutputs* outputs;
  // quantile_loss with several quantiles: the input is (N, Q); the target is
  // (N, Q) or (N,).
  const std::vector<double>* quantiles = nullptr;
  // binary_cross_entropy_with_logits: pos_weight of shape (C,) for an input
  // whose last dimension is C (or (1,)); absent: null or a null view.
  const View* pos_weight = nullptr;
  // Second loss parameter (sigmoid_focal_loss: gamma).
  double p1 = 0.0;
  // Argument names in messages (kl_divergence calls them q and p).
  std::string_view input_arg = "input";
  std::string_view target_arg = "target";
  // kl_div: reduction='batchmean' divides the sum by the input's dim 0 (1 for
  // a 0-d input). Every other loss rejects it.
  bool allow_batchmean = false;
  // > 0: 'mean' divides the (unweighted) sum by this count instead of the
  // element count (kl_divergence: the number of distributions).
  int64_t mean_count = 0;
};

double run_elementwise_loss(const ElemSpec& spec);

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_ELEMENTWISE_OP_H_
