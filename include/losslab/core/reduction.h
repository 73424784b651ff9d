// losslab/core/reduction.h: how per-element losses become one number.
#ifndef LOSSLAB_CORE_REDUCTION_H_
#define LOSSLAB_CORE_REDUCTION_H_

#include <cstdint>
#include <string_view>

namespace losslab {

// kNone writes one loss per element; kMean divides the (weighted) sum by the
// element count, or by the sum of the weights when weights are given; kSum
// returns the (weighted) sum. kBatchMean divides by the batch size (dim 0) and
// exists only where it has a meaning (KL divergence).
enum class Reduction : uint8_t { kNone, kMean, kSum, kBatchMean };

// How non-finite values in the *input* (predictions) are treated. NaN in a
// target or weight is always an error: it is a data bug.
enum class NanPolicy : uint8_t {
  kPropagate,  // IEEE arithmetic, as PyTorch does
  kRaise,      // error naming the first non-finite index
};

std::string_view reduction_name(Reduction r) noexcept;
// Parses "none" | "mean" | "sum" | "batchmean"; throws losslab::Error naming
// `function` otherwise.
Reduction parse_reduction(std::string_view s, std::string_view function);
NanPolicy parse_nan_policy(std::string_view s, std::string_view function);

}  // namespace losslab

#endif  // LOSSLAB_CORE_REDUCTION_H_
