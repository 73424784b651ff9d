// Classification losses, op layer. The binary losses (BCE, hinge, sigmoid
// focal) and the pointwise KL terms run on the shared elementwise op layer
// (elementwise_op.cc) with kernels from classification-inl.h; cross_entropy
// and nll_loss share the class-index preparation below (shapes, labels, class
// weights, the mean's denominator) and run row kernels over fixed row blocks
// (cross_entropy.h); multi_margin_loss has its own row kernel (hinge.h).
#include "losslab/losses/classification.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "src/core/checks.h"
#include "src/losses/cross_entropy.h"
#include "src/losses/elementwise.h"
#include "src/losses/elementwise_op.h"
#include "src/losses/focal_hessian.h"
#include "src/losses/half_io.h"
#include "src/losses/hinge.h"

namespace losslab {
namespace {

using detail::index_str;
using detail::value_str;

// Class weights and pos_weight: finite and >= 0 (a negative weight turns the
// loss into a reward; NaN is a data bug).
template <class T>
void check_weights_typed(std::string_view fn, std::string_view arg,
                         const View& v) {
  const detail::Contiguous<T> c(v);
  const int64_t n = v.numel();
  for (int64_t i = 0; i < n; ++i) {
    const T w = c.get()[i];
    if (!(w >= T(0) && w <= std::numeric_limits<T>::max())) {
      throw_value_error(std::string(fn) + ": " + std::string(arg) +
                        " must be finite and >= 0; got " +
                        value_str(double(w)) + " at index " +
                        index_str(i, v.shape));
    }
  }
}

void check_weights(std::string_view fn, std::string_view arg, const View& v) {
  if (!v.present()) return;
  if (v.dtype == DType::kFloat32) {
    check_weights_typed<float>(fn, arg, v);
  } else if (v.dtype == DType::kFloat64) {
    check_weights_typed<double>(fn, arg, v);
  }
}

// ---------------------------------------------------------------------------
// float16 / bfloat16 input (cross_entropy with class indices, nll_loss,
// kl_divergence): the input is widened to float32 (exact; row by row inside
// the cross_entropy kernel, see run_class_half) and the float32 path runs on
// it; outputs are written in float32 when the caller's buffer is float32
// (grad_dtype="float32" in Python), else rounded to the input dtype to
// nearest even from the float32 result. Every arithmetic operation and the
// reduction layout are float32's, so a half input gives bit for bit the
// float32 result on its widened values (tests/cpp/losses/half_class_test.cc).

bool is_half(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }

using detail::HalfOut;
using detail::out_dtype;
using detail::widen_half_view;

// ---------------------------------------------------------------------------
// cross_entropy and nll_loss: inputs with a class dimension.

struct ClassSpec {
  std::string_view fn;
  bool softmax;  // cross_entropy (logits) or nll_loss (log-probabilities)
  const View* input;
  const View* target;
  const View* weight;
  int64_t ignore_index;
  double eps;
  Reduction reduction;
  const LossOutputs* outputs;
  double z_loss = 0.0;   // cross_entropy only
  double softcap = 0.0;  // cross_entropy only; 0 = no cap
};

// (N, C, S): the input viewed as batch, classes and the product of the extra
// dims; a 1-D input (C,) is one sample.
struct Dims {
  int64_t n, c, s;
  bool soft = false;  // probability targets of the input's shape
  Shape sample;       // the per-sample shape (input without class dim)
  int64_t rows() const { return n * s; }
};

Dims class_dims(const ClassSpec& cs) {
  const std::string fn(cs.fn);
  const View& x = *cs.input;
  const View& t = *cs.target;
  const bool half = is_half(x.dtype);
  if (!half) detail::require_float(cs.fn, "input", x);
  if (x.shape.ndim() == 0) {
    throw_value_error(fn +
                      ": input must have a class dimension: (N, C), (N, "
                      "C, d1, ...) or (C,); got shape ()");
  }
  const bool soft = cs.softmax && is_floating(t.dtype);  // half included
  if (soft && half) {
    throw_type_error(fn + ": probability targets are not supported for " +
                     std::string(dtype_name(x.dtype)) +
                     " input (a half-precision row cannot be checked to sum "
                     "to 1 within 1e-3); pass int64 class indices, or cast "
                     "input and target to float32");
  }
  if (!soft && !is_integer(t.dtype)) {
    throw_type_error(
        fn + ": target dtype " + std::string(dtype_name(t.dtype)) +
        " is not supported; expected class indices of dtype int64 or int32" +
        (cs.softmax ? std::string(" or class probabilities of the input's "
                                  "shape and dtype")
                    : std::string(" (nll_loss takes no probability "
                                  "targets: use cross_entropy on logits)")));
  }
  if (soft) {
    detail::require_same_dtype(cs.fn, "target", t, "input", x.dtype);
    if (!(t.shape == x.shape)) {
      throw_value_error(
          fn + ": probability target shape " + t.shape.str() +
          " does not match input shape " + x.shape.str() +
          "; a float target holds one probability per class and must have "
          "the input's shape (pass int64 class indices otherwise)");
    }
  } else if (t.dtype != DType::kInt64 && t.dtype != DType::kInt32) {
    throw_type_error(fn + ": target dtype " + std::string(dtype_name(t.dtype)) +
                     " is not supported; cast the class indices to int64");
  }
  Dims d{};
  Shape expect;
  if (x.shape.ndim() == 1) {
    d = {1, x.shape[0], 1, false, {}};
  } else {
    d = {x.shape[0], x.shape[1], 1, false, {}};
    expect.push_back(x.shape[0]);
    for (int k = 2; k < x.shape.ndim(); ++k) {
      d.s *= x.shape[k];
      expect.push_back(x.shape[k]);
    }
  }
  d.soft = soft;
  d.sample = expect;
  if (!soft && !(t.shape == expect)) {
    throw_value_error(fn + ": target shape " + t.shape.str() +
                      " does not match input shape " + x.shape.str() +
                      "; expected " + expect.str() +
                      ": one class index per sample (the input without its "
                      "class dimension 1)");
  }
  if (cs.weight->present()) {
    const View& w = *cs.weight;
    detail::require_same_dtype(cs.fn, "weight", w, "input", x.dtype);
    if (!(w.shape == Shape{d.c})) {
      throw_value_error(fn + ": weight shape " + w.shape.str() + " must be (" +
                        std::to_string(d.c) +
                        ",): one weight per class (input shape " +
                        x.shape.str() + ")");
    }
    check_weights(cs.fn, "weight", w);  // half weights: checked widened
  }
  if (x.numel() == 0) {
    throw_value_error(fn + ": input is empty (shape " + x.shape.str() +
                      "); a loss needs at least one sample and one class (an "
                      "empty batch is an error, not a zero loss)");
  }
  if (x.data == nullptr || t.data == nullptr) {
    throw_value_error(fn + ": input or target has a null data pointer");
  }
  const LossOutputs& o = *cs.outputs;
  if (cs.reduction == Reduction::kBatchMean) {
    throw_value_error(fn +
                      ": reduction='batchmean' is only defined for "
                      "kl_div; use 'mean', 'sum' or 'none'");
  }
  if (cs.reduction == Reduction::kNone && !o.out.present()) {
    throw_value_error(fn +
                      ": reduction='none' needs outputs.out (of the "
                      "target's shape) to receive the per-sample losses");
  }
  // Half input: out and grad_out in the input dtype or float32.
  detail::check_output(cs.fn, "out", o.out, expect, out_dtype(o.out, x.dtype));
  detail::check_output(cs.fn, "grad_out", o.grad_out, x.shape,
                       out_dtype(o.grad_out, x.dtype));
  if (o.hess_out.present()) {
    throw_value_error(fn +
                      ": hess_out is not available: the Hessian of a "
                      "softmax loss is not diagonal (return_hess is for "
                      "elementwise losses)");
  }
  if (o.grad_output_elementwise.present()) {
    if (cs.reduction != Reduction::kNone) {
      throw_value_error(fn +
                        ": an elementwise grad_output needs "
                        "reduction='none'; pass a scalar grad_output for "
                        "'mean' or 'sum'");
    }
    detail::require_same_dtype(cs.fn, "grad_output", o.grad_output_elementwise,
                               "input", x.dtype);
    detail::require_same_shape(cs.fn, "grad_output",
                               o.grad_output_elementwise.shape,
                               soft ? "out" : "target", expect);
  }
  if (!std::isfinite(o.grad_output)) {
    throw_value_error(fn + ": grad_output must be finite; got " +
                      value_str(o.grad_output));
  }
  return d;
}

// NaN in every element of an output, in the output's own dtype (a half
// input's outputs may be half or float32).
template <class T>
void fill_nan(const MutableView& v) {
  if (!v.present() || v.data == nullptr) return;
  const int64_t n = v.numel();
  switch (v.dtype) {
    case DType::kFloat32:
      std::fill(v.as<float>(), v.as<float>() + n,
                std::numeric_limits<float>::quiet_NaN());
      break;
    case DType::kFloat64:
      std::fill(v.as<double>(), v.as<double>() + n,
                std::numeric_limits<double>::quiet_NaN());
      break;
    case DType::kBFloat16:
    case DType::kFloat16: {
      const float nan = std::numeric_limits<float>::quiet_NaN();
      const uint16_t h = v.dtype == DType::kBFloat16 ? detail::f32_to_bf16(nan)
                                                     : detail::f32_to_f16(nan);
      std::fill(v.as<uint16_t>(), v.as<uint16_t>() + n, h);
      break;
    }
    default:
      break;
  }
}

// Labels as int64 in row order, ignored rows as -1. A label that is neither
// ignore_index nor in [0, C) is an error naming its index.
template <class T, class L>
std::vector<int64_t> read_labels(const ClassSpec& cs, const Dims& d) {
  const detail::Contiguous<L> t(*cs.target);
  const int64_t rows = d.rows();
  std::vector<int64_t> y(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t v = int64_t(t.get()[i]);
    if (v == cs.ignore_index) {
      y[size_t(i)] = -1;
    } else if (v < 0 || v >= d.c) {
      fill_nan<T>(cs.outputs->out);
      fill_nan<T>(cs.outputs->grad_out);
      throw_value_error(
          std::string(cs.fn) + ": target contains class " + std::to_string(v) +
          " at index " + index_str(i, cs.target->shape) +
          "; class indices must lie in [0, " + std::to_string(d.c) +
          ") (C = " + std::to_string(d.c) +
          " classes) or equal ignore_index=" + std::to_string(cs.ignore_index));
    } else {
      y[size_t(i)] = v;
    }
  }
  return y;
}

// sum_i w[y_i] (or the count) over rows not ignored, in the row-block layout.
template <class T>
double label_weight_sum(const std::vector<int64_t>& y, const T* w) {
  const int64_t rows = int64_t(y.size());
  const int64_t nb = (rows + detail::kRowBlock - 1) / detail::kRowBlock;
  std::vector<double> partials(static_cast<size_t>(nb), 0.0);
  for (int64_t b = 0; b < nb; ++b) {
    double acc = 0.0;
    const int64_t r1 = std::min(rows, (b + 1) * detail::kRowBlock);
    for (int64_t r = b * detail::kRowBlock; r < r1; ++r) {
      const int64_t k = y[size_t(r)];
      if (k >= 0) acc += w ? double(w[k]) : 1.0;
    }
    partials[size_t(b)] = acc;
  }
  return pairwise_sum(partials.data(), nb);
}

void ce_kernel(const detail::CeRowCall<float>& c, int64_t b0, int64_t b1,
               double* p) {
  detail::ce_blocks_f32(c, b0, b1, p);
}
void ce_kernel(const detail::CeRowCall<double>& c, int64_t b0, int64_t b1,
               double* p) {
  detail::ce_blocks_f64(c, b0, b1, p);
}

// Probability targets in row order ((N, C, S) -> (N*S, C)), checked: every
// value finite and >= 0, every row summing to 1 within 1e-3 (float32) or
// 1e-6 (float64). A bad row is a ValueError naming it (outputs NaN-filled).
template <class T>
std::vector<T> read_soft_targets(const ClassSpec& cs, const Dims& d) {
  const detail::Contiguous<T> t(*cs.target);
  const int64_t rows = d.rows(), C = d.c, S = d.s;
  std::vector<T> q(static_cast<size_t>(rows * C));
  const double tol = std::is_same_v<T, float> ? 1e-3 : 1e-6;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / S, sp = r % S;
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const T v = t.get()[(n * C + c) * S + sp];
      if (!(v >= T(0) && v <= T(1))) {
        fill_nan<T>(cs.outputs->out);
        fill_nan<T>(cs.outputs->grad_out);
        throw_value_error(std::string(cs.fn) + ": probability target " +
                          value_str(double(v)) + " at index " +
                          index_str((n * C + c) * S + sp, cs.target->shape) +
                          " is outside [0, 1]; a float target holds class "
                          "probabilities (pass int64 class indices for "
                          "labels)");
      }
      q[size_t(r * C + c)] = v;
      sum += double(v);
    }
    if (!(std::abs(sum - 1.0) <= tol)) {
      fill_nan<T>(cs.outputs->out);
      fill_nan<T>(cs.outputs->grad_out);
      throw_value_error(
          std::string(cs.fn) + ": probability target row " +
          (d.sample.ndim() == 0 ? std::string("()") : index_str(r, d.sample)) +
          " sums to " + value_str(sum) + ", not 1 (tolerance " +
          value_str(tol) +
          "); normalize each row along the class dimension, e.g. "
          "q / q.sum(1, keepdims=True)");
    }
  }
  return q;
}

// T = float also runs half logits for cross_entropy rows (S = 1, no
// soft-capping; run_class_half): cs.input is then the half view, read row by
// row by the kernel (CeRowCall::xh), and grad_out may be half (CeRowCall::gh)
// or float32.
template <class T>
double run_class_typed(const ClassSpec& cs, const Dims& d) {
  const LossOutputs& o = *cs.outputs;
  const int64_t rows = d.rows(), C = d.c, S = d.s;
  const bool half_x = is_half(cs.input->dtype);
  const bool half_g = o.grad_out.present() && is_half(o.grad_out.dtype);
  std::vector<T> q;
  std::vector<int64_t> y;
  if (d.soft) {
    q = read_soft_targets<T>(cs, d);
  } else {
    y = cs.target->dtype == DType::kInt64 ? read_labels<T, int64_t>(cs, d)
                                          : read_labels<T, int32_t>(cs, d);
  }
  const detail::Contiguous<T> x(half_x ? View{} : *cs.input), w(*cs.weight),
      go(o.grad_output_elementwise);

  double scale = 1.0;
  if (cs.reduction == Reduction::kMean) {
    // Probability targets: PyTorch divides by the number of rows, whatever
    // the class weights.
    const double den = d.soft ? double(rows) : label_weight_sum(y, w.get());
    // Every row ignored (or weighted 0): the documented mean is 0 with a zero
    // gradient, where PyTorch returns 0/0 = NaN.
    scale = den == 0.0 ? 0.0 : 1.0 / den;
  }
  T* out = o.out.present() ? o.out.as<T>() : nullptr;
  T* grad = o.grad_out.present() && !half_g ? o.grad_out.as<T>() : nullptr;
  const T gscale = T(o.grad_output * scale);
  const int64_t nb = (rows + detail::kRowBlock - 1) / detail::kRowBlock;
  std::vector<double> partials(static_cast<size_t>(nb), 0.0);
  // About 64k elements per thread before threading pays.
  const int64_t min_blocks =
      std::max<int64_t>(1, 65536 / (detail::kRowBlock * C));

  if (cs.softmax) {
    // (N, C, S) -> (N*S, C) so that each row's classes are contiguous.
    std::vector<T> xt, gt, th;
    const T* xr = x.get();
    T* gr = grad;
    const bool cap = cs.softcap > 0.0;
    if (S > 1) {
      xt.resize(static_cast<size_t>(rows * C));
      for (int64_t n = 0; n < d.n; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t s = 0; s < S; ++s)
            xt[size_t((n * S + s) * C + c)] = xr[(n * C + c) * S + s];
      xr = xt.data();
    }
    if (cap) {
      // Logit soft-capping (Gemma 2): z -> c tanh(z / c), so every logit
      // lies in (-c, c); dz'/dz = 1 - tanh^2 is applied to the gradient
      // after the row kernel. One scalar std::tanh per logit in this op
      // layer (not a SIMD kernel, so there is no twin to compare).
      const T cv = T(cs.softcap);
      th.resize(static_cast<size_t>(rows * C));
      if (xt.empty()) xt.assign(xr, xr + rows * C);
      for (size_t i = 0; i < th.size(); ++i) {
        th[i] = std::tanh(xt[i] / cv);
        xt[i] = cv * th[i];
      }
      xr = xt.data();
    }
    if (grad && (S > 1 || cap)) {
      gt.resize(static_cast<size_t>(rows * C));
      gr = gt.data();
    }
    T wsum = T(C);
    if (w.get()) {
      double sw = 0.0;
      for (int64_t c = 0; c < C; ++c) sw += double(w.get()[c]);
      wsum = T(sw);
    }
    detail::CeRowCall<T> c{};
    c.x = xr;
    std::optional<detail::Contiguous<uint16_t>> xh;
    if constexpr (std::is_same_v<T, float>) {
      if (half_x) {
        xh.emplace(*cs.input);
        c.xh = xh->get();
        c.half_in = cs.input->dtype == DType::kBFloat16 ? detail::kHalfBf16
                                                        : detail::kHalfF16;
        c.gh = half_g ? o.grad_out.as<uint16_t>() : nullptr;
      }
    }
    c.y = d.soft ? nullptr : y.data();
    c.q = d.soft ? q.data() : nullptr;
    c.zl = T(cs.z_loss);
    c.w = w.get();
    c.gout = go.get();
    c.out = out;
    c.grad = gr;
    c.rows = rows;
    c.classes = C;
    c.gscale = gscale;
    c.eps = T(cs.eps);
    c.wsum = wsum;
    parallel_for(nb, min_blocks, [&](int64_t b0, int64_t b1) {
      ce_kernel(c, b0, b1, partials.data());
    });
    if (grad && cap) {
      for (size_t i = 0; i < gt.size(); ++i) {
        gt[i] = gt[i] * (T(1) - th[i] * th[i]);
      }
    }
    if (grad && (S > 1 || cap)) {
      for (int64_t n = 0; n < d.n; ++n)
        for (int64_t k = 0; k < C; ++k)
          for (int64_t s = 0; s < S; ++s)
            grad[(n * C + k) * S + s] = gt[size_t((n * S + s) * C + k)];
    }
  } else {
    // nll_loss: l = -w[y] x[y]; the gradient is -w[y] at the label, 0
    // elsewhere. A gather, so there is no SIMD kernel to twin.
    const T* xp = x.get();
    const T* wp = w.get();
    const T* gop = go.get();
    parallel_for(nb, min_blocks, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t r0 = b * detail::kRowBlock;
        const int64_t r1 = std::min(rows, r0 + detail::kRowBlock);
        double acc = 0.0;
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t n = r / S, s = r % S, k = y[size_t(r)];
          if (grad) {
            for (int64_t cc = 0; cc < C; ++cc)
              grad[(n * C + cc) * S + s] = T(0);
          }
          T l = T(0);
          if (k >= 0) {
            const T wy = wp ? wp[k] : T(1);
            l = -(wy * xp[(n * C + k) * S + s]);
            if (grad) grad[(n * C + k) * S + s] = -wy * (gop ? gop[r] : gscale);
          }
          if (out) out[r] = l;
          acc += double(l);
        }
        partials[size_t(b)] = acc;
      }
    });
  }
  const double sum = pairwise_sum(partials.data(), nb);
  const double value = cs.reduction == Reduction::kMean
                           ? (scale == 0.0 ? 0.0 : sum * scale)
                           : sum;
  return double(T(value));
}

// Half input (class indices only; class_dims rejects probability targets).
// cross_entropy rows (S = 1, no soft-capping) stream: the kernel widens one
// row at a time into float32 scratch and rounds the gradient back, so the
// extra memory is one row per thread. Otherwise (nll_loss, (N, C, d1, ...)
// input, logit_softcap) the float32 path runs on a widened copy of the input.
// Either way: weights and upstream gradient widened, outputs rounded once.
double run_class_half(const ClassSpec& cs, const Dims& d) {
  const LossOutputs& o = *cs.outputs;
  if (cs.softmax && d.s == 1 && cs.softcap == 0.0) {
    const std::vector<float> w = widen_half_view(*cs.weight),
                             go = widen_half_view(o.grad_output_elementwise);
    const View wv =
        w.empty() ? View{} : view<float>(w.data(), cs.weight->shape);
    if (wv.present()) check_weights(cs.fn, "weight", wv);
    HalfOut out;
    out.bind(o.out);
    LossOutputs fo;
    fo.grad_output = o.grad_output;
    if (!go.empty()) {
      fo.grad_output_elementwise =
          view<float>(go.data(), o.grad_output_elementwise.shape);
    }
    fo.out = out.f32;
    fo.grad_out = o.grad_out;  // half or float32: written by the kernel
    ClassSpec fs = cs;
    fs.weight = &wv;
    fs.outputs = &fo;
    double value;
    try {
      value = run_class_typed<float>(fs, d);
    } catch (const Error&) {
      out.fill_nan();
      throw;
    }
    out.finish();
    return value;
  }
  const std::vector<float> x = widen_half_view(*cs.input),
                           w = widen_half_view(*cs.weight),
                           go = widen_half_view(o.grad_output_elementwise);
  const View xv = view<float>(x.data(), cs.input->shape);
  const View wv = w.empty() ? View{} : view<float>(w.data(), cs.weight->shape);
  if (wv.present()) check_weights(cs.fn, "weight", wv);
  HalfOut out, grad;
  out.bind(o.out);
  grad.bind(o.grad_out);
  LossOutputs fo;
  fo.grad_output = o.grad_output;
  if (!go.empty()) {
    fo.grad_output_elementwise =
        view<float>(go.data(), o.grad_output_elementwise.shape);
  }
  fo.out = out.f32;
  fo.grad_out = grad.f32;
  ClassSpec fs = cs;
  fs.input = &xv;
  fs.weight = &wv;
  fs.outputs = &fo;
  double value;
  try {
    value = run_class_typed<float>(fs, d);
  } catch (const Error&) {
    out.fill_nan();
    grad.fill_nan();
    throw;
  }
  out.finish();
  grad.finish();
  return value;
}

double run_class_loss(const ClassSpec& cs) {
  if (!(cs.eps >= 0.0 && cs.eps <= 1.0)) {
    throw_value_error(std::string(cs.fn) +
                      ": label_smoothing=" + value_str(cs.eps) +
                      " must lie in [0, 1] (0.1 is a common choice)");
  }
  if (!(cs.z_loss >= 0.0 && std::isfinite(cs.z_loss))) {
    throw_value_error(std::string(cs.fn) + ": z_loss=" + value_str(cs.z_loss) +
                      " must be finite and >= 0 (1e-4 is the PaLM choice; 0 "
                      "disables it)");
  }
  const Dims d = class_dims(cs);
  if (is_half(cs.input->dtype)) return run_class_half(cs, d);
  if (cs.input->dtype == DType::kFloat32) return run_class_typed<float>(cs, d);
  return run_class_typed<double>(cs, d);
}

// ---------------------------------------------------------------------------
// multi_margin_loss: (N, C) or (C,) scores with class indices.

void check_finite_param(std::string_view fn, std::string_view name, double v) {
  if (!std::isfinite(v)) {
    throw_value_error(std::string(fn) + ": " + std::string(name) +
                      " must be finite; got " + value_str(v));
  }
}

template <class L>
std::vector<int64_t> read_plain_labels(std::string_view fn, const View& t,
                                       int64_t C) {
  const detail::Contiguous<L> tc(t);
  const int64_t n = t.numel();
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = int64_t(tc.get()[i]);
    if (v < 0 || v >= C) {
      throw_value_error(std::string(fn) + ": target contains class " +
                        std::to_string(v) + " at index " +
                        index_str(i, t.shape) +
                        "; class indices must lie in [0, " + std::to_string(C) +
                        ") (C = " + std::to_string(C) + " classes)");
    }
    y[size_t(i)] = v;
  }
  return y;
}

void margin_kernel(const detail::MarginRowCall<float>& c, int64_t b0,
                   int64_t b1, double* p) {
  detail::margin_blocks_f32(c, b0, b1, p);
}
void margin_kernel(const detail::MarginRowCall<double>& c, int64_t b0,
                   int64_t b1, double* p) {
  detail::margin_blocks_f64(c, b0, b1, p);
}

template <class T>
double run_margin_typed(const View& input, const View& target,
                        const MultiMarginOptions& o, const LossOutputs& out,
                        int64_t N, int64_t C) {
  constexpr std::string_view fn = "multi_margin_loss";
  std::vector<int64_t> y;
  try {
    y = target.dtype == DType::kInt64
            ? read_plain_labels<int64_t>(fn, target, C)
            : read_plain_labels<int32_t>(fn, target, C);
  } catch (const Error&) {
    fill_nan<T>(out.out);
    fill_nan<T>(out.grad_out);
    throw;
  }
  const detail::Contiguous<T> x(input), w(o.weight),
      go(out.grad_output_elementwise);
  const double scale = o.reduction == Reduction::kMean ? 1.0 / double(N) : 1.0;
  detail::MarginRowCall<T> c{};
  c.x = x.get();
  c.y = y.data();
  c.w = w.get();
  c.gout = go.get();
  c.out = out.out.present() ? out.out.as<T>() : nullptr;
  c.grad = out.grad_out.present() ? out.grad_out.as<T>() : nullptr;
  c.rows = N;
  c.classes = C;
  c.gscale = T(out.grad_output * scale);
  c.margin = T(o.margin);
  c.p = o.p;
  const int64_t nb = (N + detail::kRowBlock - 1) / detail::kRowBlock;
  std::vector<double> partials(static_cast<size_t>(nb), 0.0);
  const int64_t min_blocks =
      std::max<int64_t>(1, 65536 / (detail::kRowBlock * C));
  parallel_for(nb, min_blocks, [&](int64_t b0, int64_t b1) {
    margin_kernel(c, b0, b1, partials.data());
  });
  const double sum = pairwise_sum(partials.data(), nb);
  return double(T(o.reduction == Reduction::kMean ? sum * scale : sum));
}

// ---------------------------------------------------------------------------
// kl_divergence: rows along the last dimension, on the elementwise kernel.

// The elementwise call of kl_divergence (float and half paths alike): the
// per-element terms p (log p - log q) with the mean over `rows`. The views
// must outlive the returned spec.
detail::ElemSpec kl_elem_spec(const View& p, const View& q,
                              const View& none_weight,
                              const KlDivergenceOptions& o,
                              const LossOutputs& eo, int64_t rows) {
  detail::ElemSpec s{};
  s.fn = "kl_divergence";
  s.loss = detail::ElemLossId::kKlProb;
  s.input = &q;
  s.target = &p;
  s.weight = &none_weight;
  s.reduction = o.reduction;
  s.nan_policy = NanPolicy::kPropagate;
  s.outputs = &eo;
  s.input_arg = "q";
  s.target_arg = "p";
  s.mean_count = rows;
  return s;
}

template <class T>
double run_kl_divergence_typed(const View& p, const View& q,
                               const KlDivergenceOptions& o,
                               const LossOutputs& out, int64_t rows,
                               int64_t C) {
  const int64_t n = q.numel();
  // Per-element terms land in a scratch buffer and are summed per row; the
  // per-row upstream gradient of kNone is expanded to one per element.
  std::vector<T> terms, gexp;
  LossOutputs eo;
  eo.grad_out = out.grad_out;
  eo.hess_out = out.hess_out;
  eo.grad_output = out.grad_output;
  if (out.out.present()) {
    terms.resize(size_t(n));
    eo.out = mutable_view<T>(terms.data(), q.shape);
  }
  if (out.grad_output_elementwise.present()) {
    const detail::Contiguous<T> go(out.grad_output_elementwise);
    gexp.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) gexp[size_t(i)] = go.get()[i / C];
    eo.grad_output_elementwise = view<T>(gexp.data(), q.shape);
  }
  const View none_weight{};
  const detail::ElemSpec s = kl_elem_spec(p, q, none_weight, o, eo, rows);
  double value;
  try {
    value = detail::run_elementwise_loss(s);
  } catch (const Error&) {
    fill_nan<T>(out.out);
    throw;
  }
  if (out.out.present()) {
    T* dst = out.out.as<T>();
    for (int64_t r = 0; r < rows; ++r) {
      double acc = 0.0;
      for (int64_t k = 0; k < C; ++k) acc += double(terms[size_t(r * C + k)]);
      dst[r] = T(acc);
    }
  }
  return value;
}

// Half p and q: the elementwise kernel takes them directly (its half path is
// the float32 kernel on widened blocks); the per-element terms land in a
// float32 scratch and each row sum is rounded once into a half `out`. The
// per-row upstream gradient is expanded in its own half dtype.
double run_kl_divergence_half(const View& p, const View& q,
                              const KlDivergenceOptions& o,
                              const LossOutputs& out, int64_t rows, int64_t C) {
  const int64_t n = q.numel();
  std::vector<float> terms;
  std::vector<uint16_t> gexp;
  LossOutputs eo;
  eo.grad_out = out.grad_out;
  eo.hess_out = out.hess_out;
  eo.grad_output = out.grad_output;
  if (out.out.present()) {
    terms.resize(size_t(n));
    eo.out = mutable_view<float>(terms.data(), q.shape);
  }
  if (out.grad_output_elementwise.present()) {
    const detail::Contiguous<uint16_t> go(out.grad_output_elementwise);
    gexp.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) gexp[size_t(i)] = go.get()[i / C];
    eo.grad_output_elementwise = View{gexp.data(), q.dtype, q.shape, {}};
  }
  const View none_weight{};
  const detail::ElemSpec s = kl_elem_spec(p, q, none_weight, o, eo, rows);
  HalfOut ho;
  ho.bind(out.out);
  double value;
  try {
    value = detail::run_elementwise_loss(s);
  } catch (const Error&) {
    ho.fill_nan();
    if (out.out.present() && out.out.dtype == DType::kFloat32) {
      fill_nan<float>(out.out);
    }
    throw;
  }
  if (out.out.present()) {
    float* dst = ho.f32.as<float>();
    for (int64_t r = 0; r < rows; ++r) {
      double acc = 0.0;
      for (int64_t k = 0; k < C; ++k) acc += double(terms[size_t(r * C + k)]);
      dst[r] = float(acc);
    }
    ho.finish();
  }
  return value;
}

void focal_hess_kernel(const detail::FocalHessCall<float>& c, int64_t i0,
                       int64_t i1) {
  detail::focal_hess_f32(c, i0, i1);
}
void focal_hess_kernel(const detail::FocalHessCall<double>& c, int64_t i0,
                       int64_t i1) {
  detail::focal_hess_f64(c, i0, i1);
}

// The sigmoid focal loss's diagonal Hessian of the reduced loss: the
// per-element second derivative times the weight and the same scale as the
// gradient (grad_output / sum(weight) or / n for the mean, per element for
// 'none'). Called after the elementwise op validated the arguments.
template <class T>
void focal_hessian_typed(const View& input, const View& target,
                         const SigmoidFocalOptions& o, const LossOutputs& out) {
  const int64_t n = input.numel();
  const detail::Contiguous<T> x(input), y(target), w(o.weight),
      go(out.grad_output_elementwise);
  double scale = out.grad_output;
  if (o.reduction == Reduction::kMean) {
    double den = double(n);
    if (w.get()) {
      den = 0.0;
      for (int64_t i = 0; i < n; ++i) den += double(w.get()[i]);
    }
    scale = den == 0.0 ? 0.0 : out.grad_output / den;
  }
  detail::FocalHessCall<T> c{};
  c.x = x.get();
  c.y = y.get();
  c.w = w.get();
  c.gout = o.reduction == Reduction::kNone ? go.get() : nullptr;
  c.hess = out.hess_out.as<T>();
  c.scale = T(scale);
  c.alpha = o.alpha ? T(*o.alpha) : T(-1);
  c.gamma = T(o.gamma);
  constexpr int64_t kBlock = 2048;
  const int64_t nb = (n + kBlock - 1) / kBlock;
  parallel_for(nb, 16, [&](int64_t b0, int64_t b1) {
    focal_hess_kernel(c, b0 * kBlock, std::min(n, b1 * kBlock));
  });
}

}  // namespace

double binary_cross_entropy_with_logits(View input, View target,
                                        const BceWithLogitsOptions& o,
                                        const LossOutputs& out) {
  constexpr std::string_view fn = "binary_cross_entropy_with_logits";
  detail::ElemSpec s{};
  s.fn = fn;
  s.input = &input;
  s.target = &target;
  s.weight = &o.weight;
  s.reduction = o.reduction;
  s.nan_policy = o.nan_policy;
  s.outputs = &out;
  if (o.pos_weight.present()) {
    s.loss = detail::ElemLossId::kBceLogitsPosW;
    s.pos_weight = &o.pos_weight;
    if (o.pos_weight.dtype == input.dtype) {
      check_weights(fn, "pos_weight", o.pos_weight);
    }
  } else {
    s.loss = detail::ElemLossId::kBceLogits;
  }
  return detail::run_elementwise_loss(s);
}

double binary_cross_entropy(View input, View target, const BceOptions& o,
                            const LossOutputs& out) {
  detail::ElemSpec s{};
  s.fn = "binary_cross_entropy";
  s.loss = detail::ElemLossId::kBce;
  s.input = &input;
  s.target = &target;
  s.weight = &o.weight;
  s.reduction = o.reduction;
  s.nan_policy = NanPolicy::kPropagate;
  s.outputs = &out;
  return detail::run_elementwise_loss(s);
}

double cross_entropy(View input, View target, const CrossEntropyOptions& o,
                     const LossOutputs& out) {
  ClassSpec cs{"cross_entropy",   true,        &input,
               &target,           &o.weight,   o.ignore_index,
               o.label_smoothing, o.reduction, &out};
  cs.z_loss = o.z_loss;
  if (o.logit_softcap) {
    const double cap = *o.logit_softcap;
    if (!(cap > 0.0 && std::isfinite(cap))) {
      throw_value_error("cross_entropy: logit_softcap=" + value_str(cap) +
                        " must be finite and > 0 (30 is Gemma 2's choice), "
                        "or None to disable capping");
    }
    cs.softcap = cap;
  }
  return run_class_loss(cs);
}

double nll_loss(View input, View target, const NllOptions& o,
                const LossOutputs& out) {
  return run_class_loss({"nll_loss", false, &input, &target, &o.weight,
                         o.ignore_index, 0.0, o.reduction, &out});
}

namespace {

double run_hinge(std::string_view fn, detail::ElemLossId id, View& input,
                 View& target, const HingeOptions& o, const LossOutputs& out) {
  check_finite_param(fn, "margin", o.margin);
  detail::ElemSpec s{};
  s.fn = fn;
  s.loss = id;
  s.p0 = o.margin;
  s.input = &input;
  s.target = &target;
  s.weight = &o.weight;
  s.reduction = o.reduction;
  s.nan_policy = o.nan_policy;
  s.outputs = &out;
  return detail::run_elementwise_loss(s);
}

}  // namespace

double hinge_loss(View input, View target, const HingeOptions& o,
                  const LossOutputs& out) {
  return run_hinge("hinge_loss", detail::ElemLossId::kHinge, input, target, o,
                   out);
}

double squared_hinge_loss(View input, View target, const HingeOptions& o,
                          const LossOutputs& out) {
  return run_hinge("squared_hinge_loss", detail::ElemLossId::kSquaredHinge,
                   input, target, o, out);
}

double multi_margin_loss(View input, View target, const MultiMarginOptions& o,
                         const LossOutputs& out) {
  constexpr std::string_view fn = "multi_margin_loss";
  const std::string f(fn);
  detail::require_float(fn, "input", input);
  if (o.p != 1 && o.p != 2) {
    throw_value_error(f + ": p must be 1 or 2; got " + std::to_string(o.p));
  }
  check_finite_param(fn, "margin", o.margin);
  if (input.shape.ndim() != 1 && input.shape.ndim() != 2) {
    throw_value_error(f + ": input must have shape (N, C) or (C,); got " +
                      input.shape.str());
  }
  if (target.dtype != DType::kInt64 && target.dtype != DType::kInt32) {
    throw_type_error(f + ": target dtype " +
                     std::string(dtype_name(target.dtype)) +
                     " is not supported; expected class indices of dtype "
                     "int64 or int32");
  }
  const bool batched = input.shape.ndim() == 2;
  const int64_t N = batched ? input.shape[0] : 1;
  const int64_t C = input.shape[input.shape.ndim() - 1];
  const Shape expect = batched ? Shape{N} : Shape{};
  if (!(target.shape == expect)) {
    throw_value_error(f + ": target shape " + target.shape.str() +
                      " does not match input shape " + input.shape.str() +
                      "; expected " + expect.str() +
                      ": one class index per sample");
  }
  if (o.weight.present()) {
    detail::require_same_dtype(fn, "weight", o.weight, "input", input.dtype);
    if (!(o.weight.shape == Shape{C})) {
      throw_value_error(f + ": weight shape " + o.weight.shape.str() +
                        " must be (" + std::to_string(C) +
                        ",): one weight per class (input shape " +
                        input.shape.str() + ")");
    }
    check_weights(fn, "weight", o.weight);
  }
  if (input.numel() == 0) {
    throw_value_error(f + ": input is empty (shape " + input.shape.str() +
                      "); a loss needs at least one sample and one class (an "
                      "empty batch is an error, not a zero loss)");
  }
  if (input.data == nullptr || target.data == nullptr) {
    throw_value_error(f + ": input or target has a null data pointer");
  }
  if (o.reduction == Reduction::kBatchMean) {
    throw_value_error(f +
                      ": reduction='batchmean' is only defined for kl_div; "
                      "use 'mean', 'sum' or 'none'");
  }
  if (o.reduction == Reduction::kNone && !out.out.present()) {
    throw_value_error(f +
                      ": reduction='none' needs outputs.out (of the target's "
                      "shape) to receive the per-sample losses");
  }
  detail::check_output(fn, "out", out.out, target.shape, input.dtype);
  detail::check_output(fn, "grad_out", out.grad_out, input.shape, input.dtype);
  if (out.hess_out.present()) {
    throw_value_error(f +
                      ": hess_out is not available (the Hessian is zero "
                      "almost everywhere and not diagonal at the label)");
  }
  if (out.grad_output_elementwise.present()) {
    if (o.reduction != Reduction::kNone) {
      throw_value_error(f +
                        ": an elementwise grad_output needs "
                        "reduction='none'; pass a scalar grad_output for "
                        "'mean' or 'sum'");
    }
    detail::require_same_dtype(fn, "grad_output", out.grad_output_elementwise,
                               "input", input.dtype);
    detail::require_same_shape(fn, "grad_output",
                               out.grad_output_elementwise.shape, "target",
                               target.shape);
  }
  if (!std::isfinite(out.grad_output)) {
    throw_value_error(f + ": grad_output must be finite; got " +
                      value_str(out.grad_output));
  }
  if (input.dtype == DType::kFloat32) {
    return run_margin_typed<float>(input, target, o, out, N, C);
  }
  return run_margin_typed<double>(input, target, o, out, N, C);
}

double kl_div(View input, View target, const KlDivOptions& o,
              const LossOutputs& out) {
  const View none_weight{};
  detail::ElemSpec s{};
  s.fn = "kl_div";
  s.loss = o.log_target ? detail::ElemLossId::kKlDivLogTarget
                        : detail::ElemLossId::kKlDiv;
  s.input = &input;
  s.target = &target;
  s.weight = &none_weight;
  s.reduction = o.reduction;
  s.nan_policy = NanPolicy::kPropagate;
  s.outputs = &out;
  s.allow_batchmean = true;
  return detail::run_elementwise_loss(s);
}

double kl_divergence(View p, View q, const KlDivergenceOptions& o,
                     const LossOutputs& out) {
  constexpr std::string_view fn = "kl_divergence";
  const std::string f(fn);
  if (!is_half(q.dtype)) detail::require_float(fn, "q", q);
  detail::require_same_dtype(fn, "p", p, "q", q.dtype);
  detail::require_same_shape(fn, "p", p.shape, "q", q.shape);
  if (q.shape.ndim() == 0) {
    throw_value_error(f +
                      ": p and q must have a class dimension (the last one); "
                      "got shape ()");
  }
  detail::require_nonempty(fn, "q", q);
  if (o.reduction == Reduction::kBatchMean) {
    throw_value_error(f +
                      ": reduction='batchmean' is not used here: 'mean' "
                      "already divides by the number of distributions (rows)");
  }
  const int64_t C = q.shape[q.shape.ndim() - 1];
  const int64_t rows = q.numel() / C;
  Shape row_shape;
  for (int k = 0; k + 1 < q.shape.ndim(); ++k) row_shape.push_back(q.shape[k]);
  if (o.reduction == Reduction::kNone && !out.out.present()) {
    throw_value_error(f +
                      ": reduction='none' needs outputs.out (one value per "
                      "distribution, shape " +
                      row_shape.str() + ")");
  }
  detail::check_output(fn, "out", out.out, row_shape,
                       out_dtype(out.out, q.dtype));
  if (out.grad_output_elementwise.present()) {
    if (o.reduction != Reduction::kNone) {
      throw_value_error(f +
                        ": an elementwise grad_output needs "
                        "reduction='none'; pass a scalar grad_output for "
                        "'mean' or 'sum'");
    }
    detail::require_same_dtype(fn, "grad_output", out.grad_output_elementwise,
                               "q", q.dtype);
    detail::require_same_shape(
        fn, "grad_output", out.grad_output_elementwise.shape, "out", row_shape);
  }
  if (is_half(q.dtype)) return run_kl_divergence_half(p, q, o, out, rows, C);
  if (q.dtype == DType::kFloat32) {
    return run_kl_divergence_typed<float>(p, q, o, out, rows, C);
  }
  return run_kl_divergence_typed<double>(p, q, o, out, rows, C);
}

double sigmoid_focal_loss(View input, View target, const SigmoidFocalOptions& o,
                          const LossOutputs& out) {
  constexpr std::string_view fn = "sigmoid_focal_loss";
  const std::string f(fn);
  if (o.alpha && !(*o.alpha >= 0.0 && *o.alpha <= 1.0)) {
    throw_value_error(f + ": alpha=" + value_str(*o.alpha) +
                      " must lie in [0, 1] (the weight of the positive "
                      "class), or be None to disable the weighting");
  }
  if (!(o.gamma >= 0.0 && std::isfinite(o.gamma))) {
    throw_value_error(f + ": gamma=" + value_str(o.gamma) +
                      " must be finite and >= 0 (2 is the usual choice; 0 "
                      "gives binary cross-entropy)");
  }
  const bool want_h = out.hess_out.present();
  if (want_h) {
    detail::require_float(fn, "input", input);
    detail::check_output(fn, "hess_out", out.hess_out, input.shape,
                         input.dtype);
  }
  // The loss's functor gives l and g; the Hessian comes from its own kernel
  // (focal_hessian-inl.h) once the op has validated everything.
  LossOutputs eo = out;
  eo.hess_out = MutableView{};
  detail::ElemSpec s{};
  s.fn = fn;
  s.loss = detail::ElemLossId::kSigmoidFocal;
  s.p0 = o.alpha ? *o.alpha : -1.0;
  s.p1 = o.gamma;
  s.input = &input;
  s.target = &target;
  s.weight = &o.weight;
  s.reduction = o.reduction;
  s.nan_policy = o.nan_policy;
  s.outputs = &eo;
  const double value = detail::run_elementwise_loss(s);
  if (want_h) {
    if (input.dtype == DType::kFloat32) {
      focal_hessian_typed<float>(input, target, o, out);
    } else {
      focal_hessian_typed<double>(input, target, o, out);
    }
  }
  return value;
}

}  // namespace losslab
