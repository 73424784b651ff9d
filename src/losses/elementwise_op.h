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
};

double run_elementwise_loss(const ElemSpec& spec);

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_ELEMENTWISE_OP_H_
