// Internal: readers shared by the classification metrics
// (src/metrics_classification.cc) and class_weights
// (src/losses/class_weights.cc). They turn any label or score view into a
// std::vector (metrics are not hot paths) and throw losslab::Error with
// messages that name the function, the argument, the offending index and the
// fix.
#ifndef LOSSLAB_SRC_METRICS_CLASSIFICATION_INTERNAL_H_
#define LOSSLAB_SRC_METRICS_CLASSIFICATION_INTERNAL_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/view.h"
#include "src/core/checks.h"

namespace losslab::detail {

inline std::string arg_prefix(std::string_view fn, std::string_view arg) {
  return std::string(fn) + ": " + std::string(arg);
}

inline void require_present(std::string_view fn, std::string_view arg,
                            const View& v) {
  if (!v.present() || v.data == nullptr) {
    throw_type_error(arg_prefix(fn, arg) + " must be an array, not None");
  }
}

template <class T>
void append_as_double(const View& v, std::vector<double>& out) {
  const Contiguous<T> c(v);
  const int64_t n = v.numel();
  out.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i) out.push_back(double(c.get()[i]));
}

// Calls f((T*)nullptr) with the C++ type of a real-valued dtype (integers,
// bool as uint8_t, float32, float64); false for other dtypes.
template <class F>
bool visit_dtype(DType d, F&& f) {
  switch (d) {
    case DType::kInt8:
      f((int8_t*)nullptr);
      return true;
    case DType::kInt16:
      f((int16_t*)nullptr);
      return true;
    case DType::kInt32:
      f((int32_t*)nullptr);
      return true;
    case DType::kInt64:
      f((int64_t*)nullptr);
      return true;
    case DType::kUInt8:
    case DType::kBool:  // one byte holding 0 or 1
      f((uint8_t*)nullptr);
      return true;
    case DType::kUInt16:
      f((uint16_t*)nullptr);
      return true;
    case DType::kUInt32:
      f((uint32_t*)nullptr);
      return true;
    case DType::kUInt64:
      f((uint64_t*)nullptr);
      return true;
    case DType::kFloat32:
      f((float*)nullptr);
      return true;
    case DType::kFloat64:
      f((double*)nullptr);
      return true;
    default:
      return false;
  }
}

// Class labels as int64. Integer and bool dtypes are read as they are;
// float32/float64 labels are accepted when every value is 0.0 or 1.0 (binary
// labels, as scikit-learn accepts them). A negative label, a non-integral
// float or NaN is a ValueError naming its index; other dtypes a TypeError.
inline std::vector<int64_t> read_labels(std::string_view fn,
                                        std::string_view arg, const View& v) {
  require_present(fn, arg, v);
  require_nonempty(fn, arg, v);
  const int64_t n = v.numel();
  std::vector<int64_t> out(static_cast<size_t>(n));
  const bool ok = visit_dtype(v.dtype, [&]<class T>(T*) {
    const Contiguous<T> c(v);
    for (int64_t i = 0; i < n; ++i) {
      const T x = c.get()[i];
      if constexpr (std::is_floating_point_v<T>) {
        if (!(x == T(0) || x == T(1))) {
          throw_value_error(
              arg_prefix(fn, arg) + " is a float array with the value " +
              value_str(double(x)) + " at index " + index_str(i, v.shape) +
              "; float labels must be 0.0 or 1.0 (binary): pass class "
              "indices as an int64 array");
        }
      } else if constexpr (std::is_same_v<T, uint64_t>) {
        if (x > uint64_t(INT64_MAX)) {
          throw_value_error(arg_prefix(fn, arg) + " has the label " +
                            std::to_string(x) + " at index " +
                            index_str(i, v.shape) +
                            ", beyond int64; labels are class indices");
        }
      }
      out[size_t(i)] = int64_t(x);
    }
  });
  if (!ok) {
    throw_type_error(arg_prefix(fn, arg) + " has dtype " +
                     std::string(dtype_name(v.dtype)) +
                     "; expected integer class labels (int64, int32, bool) "
                     "or 0/1 floats");
  }
  for (int64_t i = 0; i < n; ++i) {
    if (out[size_t(i)] < 0) {
      throw_value_error(arg_prefix(fn, arg) + " has the negative label " +
                        std::to_string(out[size_t(i)]) + " at index " +
                        index_str(i, v.shape) +
                        "; labels are class indices >= 0 (drop ignored "
                        "entries such as -100 first)");
    }
  }
  return out;
}

// A float32/float64 array as doubles; NaN is a ValueError naming its index
// (infinities pass: callers that need finite values check them).
inline std::vector<double> read_floats(std::string_view fn,
                                       std::string_view arg, const View& v) {
  require_present(fn, arg, v);
  require_float(fn, arg, v);
  require_nonempty(fn, arg, v);
  std::vector<double> out;
  if (v.dtype == DType::kFloat32) {
    append_as_double<float>(v, out);
  } else {
    append_as_double<double>(v, out);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(out[i])) {
      throw_value_error(arg_prefix(fn, arg) + " contains NaN at index " +
                        index_str(int64_t(i), v.shape) +
                        "; drop or impute missing values first");
    }
  }
  return out;
}

// Optional sample_weight of shape (n,): finite and >= 0. Absent: all ones.
inline std::vector<double> read_sample_weight(std::string_view fn,
                                              const View& w, int64_t n) {
  if (!w.present()) return std::vector<double>(size_t(n), 1.0);
  require_float(fn, "sample_weight", w);
  const Shape rows{n};
  if (!(w.shape == rows)) {
    throw_value_error(std::string(fn) + ": sample_weight shape " +
                      w.shape.str() + " must be " + rows.str() +
                      ", one weight per sample");
  }
  std::vector<double> out;
  if (w.dtype == DType::kFloat32) {
    append_as_double<float>(w, out);
  } else {
    append_as_double<double>(w, out);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!(out[i] >= 0.0 && std::isfinite(out[i]))) {
      throw_value_error(std::string(fn) +
                        ": sample_weight must be finite and >= 0; got " +
                        value_str(out[i]) + " at index " + std::to_string(i));
    }
  }
  return out;
}

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_METRICS_CLASSIFICATION_INTERNAL_H_
