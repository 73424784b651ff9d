// Internal: argument checks shared by every op. Each throws losslab::Error
// with a message that names the function, the argument, what was given, what
// was expected and the likely fix.
#ifndef LOSSLAB_SRC_CORE_CHECKS_H_
#define LOSSLAB_SRC_CORE_CHECKS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/view.h"

namespace losslab::detail {

// "17" for 1-D shapes, "(3, 1)" otherwise: where a bad value sits.
std::string index_str(int64_t flat, const Shape& shape);
// Shortest round-trip decimal of a value for messages.
std::string value_str(double v);

// float32 / float64 only (TypeError otherwise).
void require_float(std::string_view fn, std::string_view arg, const View& v);
void require_same_dtype(std::string_view fn, std::string_view arg,
                        const View& v, std::string_view ref_arg, DType ref);
void require_same_shape(std::string_view fn, std::string_view arg,
                        const Shape& shape, std::string_view ref_arg,
                        const Shape& ref);
void require_nonempty(std::string_view fn, std::string_view arg, const View& v);
// Present output: contiguous, of the given shape and dtype.
void check_output(std::string_view fn, std::string_view arg,
                  const MutableView& v, const Shape& shape, DType dtype);

// A contiguous pointer to a view's data: the view itself when it is
// contiguous, else a packed copy owned by this object.
template <class T>
class Contiguous {
 public:
  explicit Contiguous(const View& v) {
    if (!v.present()) return;
    if (v.is_contiguous()) {
      ptr_ = v.as<T>();
      return;
    }
    const int64_t n = v.numel();
    copy_.resize(size_t(n));
    const int nd = v.shape.ndim();
    int64_t idx[kMaxDims] = {};
    const T* base = v.as<T>();
    for (int64_t i = 0; i < n; ++i) {
      int64_t off = 0;
      for (int k = 0; k < nd; ++k) off += idx[k] * v.strides[k];
      copy_[size_t(i)] = base[off];
      for (int k = nd - 1; k >= 0; --k) {
        if (++idx[k] < v.shape[k]) break;
        idx[k] = 0;
      }
    }
    ptr_ = copy_.data();
  }
  const T* get() const { return ptr_; }

 private:
  const T* ptr_ = nullptr;
  std::vector<T> copy_;
};

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_CORE_CHECKS_H_
