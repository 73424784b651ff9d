// losslab/core/view.h: non-owning views over caller memory.
//
// A View is a pointer, a dtype, a shape and strides (in elements). losslab
// never owns caller memory and never broadcasts: two views take part in one
// loss only when their shapes are equal (or a loss documents otherwise).
#ifndef LOSSLAB_CORE_VIEW_H_
#define LOSSLAB_CORE_VIEW_H_

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

#include "losslab/core/dtype.h"

namespace losslab {

inline constexpr int kMaxDims = 8;

// A small fixed-capacity shape (or strides) vector.
class Shape {
 public:
  constexpr Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  Shape(const int64_t* dims, int ndim);

  constexpr int ndim() const noexcept { return ndim_; }
  constexpr int64_t operator[](int i) const noexcept { return dims_[i]; }
  constexpr int64_t& operator[](int i) noexcept { return dims_[i]; }
  const int64_t* begin() const noexcept { return dims_.data(); }
  const int64_t* end() const noexcept { return dims_.data() + ndim_; }
  void push_back(int64_t d);

  // Product of the dims (1 for a 0-d shape).
  int64_t numel() const noexcept;
  // "(32, 1)", "(32,)", "()": the numpy spelling, used in errors.
  std::string str() const;

  friend bool operator==(const Shape& a, const Shape& b) noexcept;

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

// Read-only view. An empty `strides` means C-contiguous.
struct View {
  const void* data = nullptr;
  DType dtype = DType::kFloat32;
  Shape shape;
  Shape strides;  // in elements; empty = contiguous

  // True when the view holds an array (optional arguments use a null view).
  bool present() const noexcept { return data != nullptr || shape.ndim() > 0; }
  int64_t numel() const noexcept { return shape.numel(); }
  bool is_contiguous() const noexcept;
  template <class T>
  const T* as() const noexcept {
    return static_cast<const T*>(data);
  }
};

// Writable view. Outputs must be contiguous.
struct MutableView {
  void* data = nullptr;
  DType dtype = DType::kFloat32;
  Shape shape;
  Shape strides;

  bool present() const noexcept { return data != nullptr || shape.ndim() > 0; }
  int64_t numel() const noexcept { return shape.numel(); }
  bool is_contiguous() const noexcept;
  template <class T>
  T* as() const noexcept {
    return static_cast<T*>(data);
  }
  operator View() const noexcept { return {data, dtype, shape, strides}; }
};

// Convenience constructors for C++ callers.
template <class T>
View view(const T* data, Shape shape) {
  return View{data, dtype_of_v<T>, shape, {}};
}
template <class T>
View view(std::span<const T> data) {
  return View{data.data(), dtype_of_v<T>, Shape{int64_t(data.size())}, {}};
}
template <class T>
View view(std::span<T> data) {
  return view(std::span<const T>(data));
}
template <class T>
MutableView mutable_view(T* data, Shape shape) {
  return MutableView{data, dtype_of_v<T>, shape, {}};
}
template <class T>
MutableView mutable_view(std::span<T> data) {
  return MutableView{
      data.data(), dtype_of_v<T>, Shape{int64_t(data.size())}, {}};
}

}  // namespace losslab

#endif  // LOSSLAB_CORE_VIEW_H_
