// Class weights (losslab/losses/class_weights.h): a counting pass and C
// closed-form weights in double precision, on one thread (the result does
// not depend on the thread count or the SIMD target).
#include "losslab/losses/class_weights.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "src/core/checks.h"
#include "src/metrics_classification_internal.h"

namespace losslab {
namespace {

constexpr std::string_view kFn = "class_weights";
// More classes than this from an inferred C is almost surely a label bug.
constexpr int64_t kMaxClasses = int64_t(1) << 24;

}  // namespace

std::string_view class_weight_scheme_name(ClassWeightScheme s) noexcept {
  return s == ClassWeightScheme::kInverseFrequency ? "inverse_frequency"
                                                   : "effective_number";
}

ClassWeightScheme parse_class_weight_scheme(std::string_view s,
                                            std::string_view function) {
  if (s == "inverse_frequency") return ClassWeightScheme::kInverseFrequency;
  if (s == "effective_number") return ClassWeightScheme::kEffectiveNumber;
  throw_value_error(std::string(function) +
                    ": scheme must be 'inverse_frequency' or "
                    "'effective_number'; got '" +
                    std::string(s) + "'");
}

std::string_view missing_class_name(MissingClass m) noexcept {
  return m == MissingClass::kError ? "error" : "zero";
}

MissingClass parse_missing_class(std::string_view s,
                                 std::string_view function) {
  if (s == "error") return MissingClass::kError;
  if (s == "zero") return MissingClass::kZero;
  throw_value_error(std::string(function) +
                    ": missing must be 'error' or 'zero'; got '" +
                    std::string(s) + "'");
}

std::vector<double> class_weights(View labels, const ClassWeightOptions& o) {
  if (o.num_classes < 0 || o.num_classes > kMaxClasses) {
    throw_value_error(std::string(kFn) + ": num_classes must be in [1, " +
                      std::to_string(kMaxClasses) +
                      "] (or 0 / None to infer it); got " +
                      std::to_string(o.num_classes));
  }
  const bool effective = o.scheme == ClassWeightScheme::kEffectiveNumber;
  if (effective && !(o.beta >= 0.0 && o.beta < 1.0)) {
    throw_value_error(std::string(kFn) +
                      ": beta must be in [0, 1) for scheme='effective_number' "
                      "(typical: 0.9, 0.99, 0.999, 0.9999); got " +
                      detail::value_str(o.beta));
  }
  const std::vector<int64_t> y = detail::read_labels(kFn, "labels", labels);
  int64_t c = o.num_classes;
  if (c == 0) {
    int64_t max_label = 0;
    for (int64_t v : y) max_label = std::max(max_label, v);
    if (max_label >= kMaxClasses) {
      throw_value_error(std::string(kFn) + ": the largest label is " +
                        std::to_string(max_label) +
                        "; remap the labels to 0..C-1 or pass num_classes");
    }
    c = max_label + 1;
  }
  std::vector<int64_t> count(size_t(c), 0);
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] >= c) {
      throw_value_error(std::string(kFn) + ": labels has the label " +
                        std::to_string(y[i]) + " at index " +
                        detail::index_str(int64_t(i), labels.shape) +
                        ", outside [0, " + std::to_string(c) +
                        ") for num_classes=" + std::to_string(c) +
                        "; raise num_classes or fix the labels");
    }
    ++count[size_t(y[i])];
  }
  if (o.missing == MissingClass::kError) {
    for (int64_t k = 0; k < c; ++k) {
      if (count[size_t(k)] == 0) {
        throw_value_error(
            std::string(kFn) + ": class " + std::to_string(k) + " of " +
            std::to_string(c) +
            " has no sample, so its weight is undefined; pass "
            "missing='zero' to give it weight 0, or a smaller num_classes");
      }
    }
  }
  const double n = double(y.size());
  std::vector<double> w(size_t(c), 0.0);
  if (!effective) {
    // sklearn compute_class_weight("balanced"): N / (C n_c), so that
    // sum_c n_c w_c = N (the weighted sample count equals the plain one).
    for (int64_t k = 0; k < c; ++k) {
      const int64_t nk = count[size_t(k)];
      if (nk > 0) w[size_t(k)] = n / (double(c) * double(nk));
    }
    return w;
  }
  // Cui et al.: E_n = (1 - beta^n) / (1 - beta) is the effective number of
  // n samples, w_c = 1 / E_{n_c}. 1 - beta^n = -expm1(n log(beta)) keeps
  // its digits for beta near 1; beta = 0 gives log 0 = -inf and w_c = 1.
  const double log_beta = std::log(o.beta);
  double total = 0.0;
  for (int64_t k = 0; k < c; ++k) {
    const int64_t nk = count[size_t(k)];
    if (nk == 0) continue;
    w[size_t(k)] = (1.0 - o.beta) / -std::expm1(double(nk) * log_beta);
    total += w[size_t(k)];
  }
  // Normalized so that the weights (missing classes at 0) sum to C, as the
  // reference code of Cui et al. does.
  for (double& v : w) v *= double(c) / total;
  return w;
}

}  // namespace losslab
