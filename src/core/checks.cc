#include "src/core/checks.h"

#include <charconv>
#include <string>

namespace losslab::detail {

std::string index_str(int64_t flat, const Shape& shape) {
  if (shape.ndim() <= 1) return std::to_string(flat);
  int64_t idx[kMaxDims];
  for (int k = shape.ndim() - 1; k >= 0; --k) {
    const int64_t extent = shape[k] > 0 ? shape[k] : 1;
    idx[k] = flat % extent;
    flat /= extent;
  }
  std::string s = "(";
  for (int k = 0; k < shape.ndim(); ++k) {
    if (k) s += ", ";
    s += std::to_string(idx[k]);
  }
  return s + ")";
}

std::string value_str(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

void require_float(std::string_view fn, std::string_view arg, const View& v) {
  if (v.dtype == DType::kFloat32 || v.dtype == DType::kFloat64) return;
  throw_type_error(std::string(fn) + ": " + std::string(arg) + " dtype " +
                   std::string(dtype_name(v.dtype)) +
                   " is not supported; expected float32 or float64 (cast with "
                   ".astype(numpy.float32) or tensor.float())");
}

void require_same_dtype(std::string_view fn, std::string_view arg,
                        const View& v, std::string_view ref_arg, DType ref) {
  if (v.dtype == ref) return;
  throw_type_error(std::string(fn) + ": " + std::string(arg) + " dtype " +
                   std::string(dtype_name(v.dtype)) + " does not match " +
                   std::string(ref_arg) + " dtype " +
                   std::string(dtype_name(ref)) + "; cast " + std::string(arg) +
                   " to " + std::string(dtype_name(ref)));
}

void require_same_shape(std::string_view fn, std::string_view arg,
                        const Shape& shape, std::string_view ref_arg,
                        const Shape& ref) {
  if (shape == ref) return;
  throw_value_error(std::string(fn) + ": " + std::string(ref_arg) + " shape " +
                    ref.str() + " does not match " + std::string(arg) +
                    " shape " + shape.str() +
                    "; pass arrays of the same shape (losslab never "
                    "broadcasts implicitly)");
}

void require_nonempty(std::string_view fn, std::string_view arg,
                      const View& v) {
  if (v.numel() > 0) return;
  throw_value_error(std::string(fn) + ": " + std::string(arg) +
                    " is empty (shape " + v.shape.str() +
                    "); a loss needs at least one element (an empty batch is "
                    "an error, not a zero loss)");
}

void check_output(std::string_view fn, std::string_view arg,
                  const MutableView& v, const Shape& shape, DType dtype) {
  if (!v.present()) return;
  if (v.data == nullptr) {
    throw_value_error(std::string(fn) + ": " + std::string(arg) +
                      " has a null data pointer");
  }
  if (v.dtype != dtype) {
    throw_type_error(std::string(fn) + ": " + std::string(arg) + " dtype " +
                     std::string(dtype_name(v.dtype)) + " must be " +
                     std::string(dtype_name(dtype)) +
                     " (the input dtype); allocate it with the input's dtype");
  }
  if (!(v.shape == shape)) {
    throw_value_error(std::string(fn) + ": " + std::string(arg) + " shape " +
                      v.shape.str() + " must be " + shape.str() +
                      " (the input shape); allocate it like the input");
  }
  if (!v.is_contiguous()) {
    throw_value_error(std::string(fn) + ": " + std::string(arg) +
                      " must be C-contiguous and writable; pass a fresh "
                      "array such as numpy.empty_like(input)");
  }
}

}  // namespace losslab::detail
