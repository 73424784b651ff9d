// float16 / bfloat16 arguments of the non-elementwise losses (cross_entropy's
// float32 fallbacks, linear_cross_entropy): inputs widened to float32 copies,
// outputs written by the float32 path into float32 scratch and rounded to the
// caller's half arrays (nearest even), or straight into a float32 output when
// the caller asked for one. The widening and rounding are exact / IEEE
// round-to-nearest-even (elementwise.h: half_widen, half_narrow).
#ifndef LOSSLAB_SRC_LOSSES_HALF_IO_H_
#define LOSSLAB_SRC_LOSSES_HALF_IO_H_

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "losslab/core/dtype.h"
#include "losslab/core/view.h"
#include "src/core/checks.h"
#include "src/losses/elementwise.h"

namespace losslab::detail {

inline bool is_half_dtype(DType t) {
  return t == DType::kFloat16 || t == DType::kBFloat16;
}

// The dtype an output must have: float32 is accepted for half input.
inline DType out_dtype(const MutableView& v, DType input) {
  return is_half_dtype(input) && v.present() && v.dtype == DType::kFloat32
             ? DType::kFloat32
             : input;
}

// A half view widened to a contiguous float32 copy (empty if absent).
inline std::vector<float> widen_half_view(const View& v) {
  std::vector<float> f;
  if (!v.present()) return f;
  const Contiguous<uint16_t> c(v);
  f.resize(static_cast<size_t>(v.numel()));
  half_widen(v.dtype == DType::kBFloat16, c.get(), f.data(), v.numel());
  return f;
}

// One output of a half call: the caller's float32 buffer, or float32 scratch
// rounded into the caller's half buffer by finish().
struct HalfOut {
  const MutableView* dst = nullptr;
  std::vector<float> buf;
  MutableView f32;  // what the float32 path writes
  void bind(const MutableView& v) {
    dst = &v;
    if (!v.present()) return;
    if (v.dtype == DType::kFloat32) {
      f32 = v;
      return;
    }
    buf.resize(static_cast<size_t>(v.numel()));
    f32 = mutable_view<float>(buf.data(), v.shape);
  }
  void finish() const {
    if (buf.empty()) return;
    half_narrow(dst->dtype == DType::kBFloat16, buf.data(), dst->as<uint16_t>(),
                int64_t(buf.size()));
  }
  void fill_nan() {
    if (buf.empty()) return;
    std::fill(buf.begin(), buf.end(), std::numeric_limits<float>::quiet_NaN());
    finish();
  }
};

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_HALF_IO_H_
