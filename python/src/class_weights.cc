// Python binding of class_weights (losslab/losses/class_weights.h). No math
// lives here.
#include "losslab/losses/class_weights.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "arrays.h"
#include "losslab/core/error.h"
#include "registry.h"

namespace losslab::python {

void bind_class_weights(nb::module_& m) {
  m.def(
      "class_weights",
      [](nb::handle labels, const std::string& scheme, double beta,
         std::optional<int64_t> num_classes, const std::string& missing) {
        constexpr std::string_view fn = "class_weights";
        const Input y = to_input(fn, "labels", labels);
        if (!y.view.present()) {
          throw_type_error("class_weights: labels must be an array, not None");
        }
        if (num_classes && *num_classes < 1) {
          throw_value_error(
              "class_weights: num_classes must be >= 1 or None; got " +
              std::to_string(*num_classes));
        }
        const ClassWeightOptions o{
            .scheme = parse_class_weight_scheme(scheme, fn),
            .beta = beta,
            .num_classes = num_classes.value_or(0),
            .missing = parse_missing_class(missing, fn)};
        std::vector<double> w;
        {
          nb::gil_scoped_release release;
          w = class_weights(y.view, o);
        }
        void* data;
        nb::object a =
            new_array(Shape{int64_t(w.size())}, DType::kFloat64, &data);
        std::memcpy(data, w.data(), w.size() * sizeof(double));
        return a;
      },
      nb::arg("labels").none(), nb::arg("scheme") = "inverse_frequency",
      nb::kw_only(), nb::arg("beta") = 0.999,
      nb::arg("num_classes") = nb::none(), nb::arg("missing") = "error",
      R"(Per-class weights for imbalanced data, e.g. the weight= of
cross_entropy.

scheme="inverse_frequency" (default): w_c = N / (C n_c), sklearn's
compute_class_weight("balanced") (a 95/5 split gives the minority class 19
times the weight of the majority class).
scheme="effective_number": w_c proportional to (1 - beta) / (1 - beta^n_c),
normalized so that the weights sum to C (Cui et al., CVPR 2019,
"Class-Balanced Loss Based on Effective Number of Samples").

Arguments:
    labels: class indices >= 0 of any shape (every element counts): int64,
        int32, other integers, bool, or 0/1 floats (binary).
    scheme: "inverse_frequency" or "effective_number".
    beta: 0 <= beta < 1 (effective_number only; beta=0 gives equal weights,
        beta -> 1 approaches inverse frequency).
    num_classes: C; None: max label + 1.
    missing: a class in [0, C) without samples is a ValueError naming it
        ("error", default, as sklearn) or gets weight 0 ("zero").

Returns:
    (C,) float64 array. Per-sample weights: weights[labels].)");
}

LOSSLAB_PY_REGISTER(class_weights, bind_class_weights);

}  // namespace losslab::python
