// losslab/losses/class_weights.h: per-class weights for imbalanced data, to
// pass as the `weight` of cross_entropy / nll_loss (or, indexed by the
// labels, as per-sample weights).
//
//   std::vector<double> w = losslab::class_weights(
//       losslab::view<int64_t>(labels.data(), {n}),
//       {.scheme = losslab::ClassWeightScheme::kEffectiveNumber,
//        .beta = 0.999});
//
// Definitions, sources and choices: docs/metrics.md (class_weights).
#ifndef LOSSLAB_LOSSES_CLASS_WEIGHTS_H_
#define LOSSLAB_LOSSES_CLASS_WEIGHTS_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "losslab/core/view.h"

namespace losslab {

enum class ClassWeightScheme : uint8_t {
  // w_c = N / (C n_c): scikit-learn's compute_class_weight("balanced").
  kInverseFrequency,
  // w_c proportional to (1 - beta) / (1 - beta^{n_c}), scaled so that the
  // weights sum to C (Cui et al., CVPR 2019, "Class-Balanced Loss Based on
  // Effective Number of Samples", eq. 3 and their reference code).
  kEffectiveNumber,
};
std::string_view class_weight_scheme_name(ClassWeightScheme s) noexcept;
// "inverse_frequency" | "effective_number"; Error naming `function` else.
ClassWeightScheme parse_class_weight_scheme(std::string_view s,
                                            std::string_view function);

// What to do with a class in [0, C) that has no sample.
enum class MissingClass : uint8_t {
  kError,  // ValueError naming the class (as sklearn's compute_class_weight)
  kZero,   // weight 0 (the class cannot contribute to a loss on these data)
};
std::string_view missing_class_name(MissingClass m) noexcept;
// "error" | "zero"; Error naming `function` else.
MissingClass parse_missing_class(std::string_view s, std::string_view function);

struct ClassWeightOptions {
  ClassWeightScheme scheme = ClassWeightScheme::kInverseFrequency;
  double beta = 0.999;      // kEffectiveNumber only: 0 <= beta < 1
  int64_t num_classes = 0;  // C; 0: max label + 1
  MissingClass missing = MissingClass::kError;
};

// labels: class indices >= 0 of any shape (every element counts; int64,
// int32, other integers, bool, or 0/1 floats for binary labels), non-empty.
// Returns the (C,) weights in double precision.
std::vector<double> class_weights(View labels,
                                  const ClassWeightOptions& options = {});

}  // namespace losslab

#endif  // LOSSLAB_LOSSES_CLASS_WEIGHTS_H_
