// losslab/core/dtype.h: the element types that cross the public API.
#ifndef LOSSLAB_CORE_DTYPE_H_
#define LOSSLAB_CORE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace losslab {

// Element type of a View. Losses compute in float32 or float64; integer types
// appear as class-index targets; bool as masks. float16/bfloat16 are named so
// that errors can say what was passed (the kernels for them come later).
enum class DType : uint8_t {
  kFloat32,
  kFloat64,
  kFloat16,
  kBFloat16,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kBool,
  kComplex64,
  kComplex128,
  kUnknown,
};

// numpy-style name ("float32", "int64", ...), used in every error message.
std::string_view dtype_name(DType dtype) noexcept;

// Size of one element in bytes (0 for kUnknown).
std::size_t dtype_size(DType dtype) noexcept;

inline constexpr bool is_floating(DType dtype) noexcept {
  return dtype == DType::kFloat32 || dtype == DType::kFloat64 ||
         dtype == DType::kFloat16 || dtype == DType::kBFloat16;
}

inline constexpr bool is_integer(DType dtype) noexcept {
  return dtype >= DType::kInt8 && dtype <= DType::kUInt64;
}

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::kFloat32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::kFloat64;
};
template <>
struct dtype_of<int32_t> {
  static constexpr DType value = DType::kInt32;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::kInt64;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr DType value = DType::kUInt8;
};
template <>
struct dtype_of<bool> {
  static constexpr DType value = DType::kBool;
};
template <class T>
inline constexpr DType dtype_of_v = dtype_of<T>::value;

}  // namespace losslab

#endif  // LOSSLAB_CORE_DTYPE_H_
