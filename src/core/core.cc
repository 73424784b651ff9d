// dtype names, Shape, View helpers, errors and reduction parsing.
#include <string>

#include "losslab/core/dtype.h"
#include "losslab/core/error.h"
#include "losslab/core/reduction.h"
#include "losslab/core/view.h"

namespace losslab {

std::string_view dtype_name(DType dtype) noexcept {
  switch (dtype) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
    case DType::kFloat16:
      return "float16";
    case DType::kBFloat16:
      return "bfloat16";
    case DType::kInt8:
      return "int8";
    case DType::kInt16:
      return "int16";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
    case DType::kUInt8:
      return "uint8";
    case DType::kUInt16:
      return "uint16";
    case DType::kUInt32:
      return "uint32";
    case DType::kUInt64:
      return "uint64";
    case DType::kBool:
      return "bool";
    case DType::kComplex64:
      return "complex64";
    case DType::kComplex128:
      return "complex128";
    case DType::kUnknown:
      break;
  }
  return "unknown";
}

std::size_t dtype_size(DType dtype) noexcept {
  switch (dtype) {
    case DType::kFloat32:
    case DType::kInt32:
    case DType::kUInt32:
      return 4;
    case DType::kFloat64:
    case DType::kInt64:
    case DType::kUInt64:
    case DType::kComplex64:
      return 8;
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kInt16:
    case DType::kUInt16:
      return 2;
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kBool:
      return 1;
    case DType::kComplex128:
      return 16;
    case DType::kUnknown:
      break;
  }
  return 0;
}

Shape::Shape(std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) push_back(d);
}

Shape::Shape(const int64_t* dims, int ndim) {
  for (int i = 0; i < ndim; ++i) push_back(dims[i]);
}

void Shape::push_back(int64_t d) {
  if (ndim_ >= kMaxDims) {
    throw_value_error("losslab: arrays with more than " +
                      std::to_string(kMaxDims) +
                      " dimensions are not supported; reshape the array");
  }
  dims_[ndim_++] = d;
}

int64_t Shape::numel() const noexcept {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= dims_[i];
  return n;
}

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < ndim_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  if (ndim_ == 1) s += ",";
  return s + ")";
}

bool operator==(const Shape& a, const Shape& b) noexcept {
  if (a.ndim_ != b.ndim_) return false;
  for (int i = 0; i < a.ndim_; ++i) {
    if (a.dims_[i] != b.dims_[i]) return false;
  }
  return true;
}

namespace {
bool contiguous(const Shape& shape, const Shape& strides) {
  if (strides.ndim() == 0) return true;
  int64_t expect = 1;
  for (int i = shape.ndim() - 1; i >= 0; --i) {
    // A dimension of extent 1 may carry any stride.
    if (shape[i] != 1 && strides[i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}
}  // namespace

bool View::is_contiguous() const noexcept { return contiguous(shape, strides); }
bool MutableView::is_contiguous() const noexcept {
  return contiguous(shape, strides);
}

void throw_value_error(const std::string& message) {
  throw Error(ErrorKind::kValue, message);
}
void throw_type_error(const std::string& message) {
  throw Error(ErrorKind::kType, message);
}

std::string_view reduction_name(Reduction r) noexcept {
  switch (r) {
    case Reduction::kNone:
      return "none";
    case Reduction::kMean:
      return "mean";
    case Reduction::kSum:
      return "sum";
    case Reduction::kBatchMean:
      return "batchmean";
  }
  return "?";
}

Reduction parse_reduction(std::string_view s, std::string_view function) {
  if (s == "mean") return Reduction::kMean;
  if (s == "sum") return Reduction::kSum;
  if (s == "none") return Reduction::kNone;
  if (s == "batchmean") return Reduction::kBatchMean;
  throw_value_error(std::string(function) + ": reduction='" + std::string(s) +
                    "' is not one of 'none', 'mean', 'sum'");
}

NanPolicy parse_nan_policy(std::string_view s, std::string_view function) {
  if (s == "propagate") return NanPolicy::kPropagate;
  if (s == "raise") return NanPolicy::kRaise;
  throw_value_error(std::string(function) + ": nan_policy='" + std::string(s) +
                    "' is not one of 'propagate', 'raise'");
}

}  // namespace losslab
