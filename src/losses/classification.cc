// Classification losses, op layer. The binary losses run on the shared
// elementwise op layer (elementwise_op.cc) with kernels from
// classification-inl.h; cross_entropy and nll_loss share the class-index
// preparation below (shapes, labels, class weights, the mean's denominator)
// and run row kernels over fixed row blocks (cross_entropy.h).
#include "losslab/losses/classification.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "src/core/checks.h"
#include "src/losses/cross_entropy.h"
#include "src/losses/elementwise_op.h"

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
};

// (N, C, S): the input viewed as batch, classes and the product of the extra
// dims; a 1-D input (C,) is one sample.
struct Dims {
  int64_t n, c, s;
  int64_t rows() const { return n * s; }
};

Dims class_dims(const ClassSpec& cs) {
  const std::string fn(cs.fn);
  const View& x = *cs.input;
  const View& t = *cs.target;
  detail::require_float(cs.fn, "input", x);
  if (x.shape.ndim() == 0) {
    throw_value_error(fn +
                      ": input must have a class dimension: (N, C), (N, "
                      "C, d1, ...) or (C,); got shape ()");
  }
  if (!is_integer(t.dtype)) {
    throw_type_error(
        fn + ": target dtype " + std::string(dtype_name(t.dtype)) +
        " is not supported; expected class indices of dtype int64 or int32 "
        "(class-probability targets are not implemented yet: pass labels, "
        "e.g. probs.argmax(1))");
  }
  if (t.dtype != DType::kInt64 && t.dtype != DType::kInt32) {
    throw_type_error(fn + ": target dtype " + std::string(dtype_name(t.dtype)) +
                     " is not supported; cast the class indices to int64");
  }
  Dims d{};
  Shape expect;
  if (x.shape.ndim() == 1) {
    d = {1, x.shape[0], 1};
  } else {
    d = {x.shape[0], x.shape[1], 1};
    expect.push_back(x.shape[0]);
    for (int k = 2; k < x.shape.ndim(); ++k) {
      d.s *= x.shape[k];
      expect.push_back(x.shape[k]);
    }
  }
  if (!(t.shape == expect)) {
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
    check_weights(cs.fn, "weight", w);
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
  detail::check_output(cs.fn, "out", o.out, t.shape, x.dtype);
  detail::check_output(cs.fn, "grad_out", o.grad_out, x.shape, x.dtype);
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
                               o.grad_output_elementwise.shape, "target",
                               t.shape);
  }
  if (!std::isfinite(o.grad_output)) {
    throw_value_error(fn + ": grad_output must be finite; got " +
                      value_str(o.grad_output));
  }
  return d;
}

template <class T>
void fill_nan(const MutableView& v) {
  if (!v.present() || v.data == nullptr) return;
  std::fill(v.as<T>(), v.as<T>() + v.numel(),
            std::numeric_limits<T>::quiet_NaN());
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

template <class T>
double run_class_typed(const ClassSpec& cs, const Dims& d) {
  const LossOutputs& o = *cs.outputs;
  const std::vector<int64_t> y = cs.target->dtype == DType::kInt64
                                     ? read_labels<T, int64_t>(cs, d)
                                     : read_labels<T, int32_t>(cs, d);
  const detail::Contiguous<T> x(*cs.input), w(*cs.weight),
      go(o.grad_output_elementwise);
  const int64_t rows = d.rows(), C = d.c, S = d.s;

  double scale = 1.0;
  if (cs.reduction == Reduction::kMean) {
    const double den = label_weight_sum(y, w.get());
    // Every row ignored (or weighted 0): the documented mean is 0 with a zero
    // gradient, where PyTorch returns 0/0 = NaN.
    scale = den == 0.0 ? 0.0 : 1.0 / den;
  }
  T* out = o.out.present() ? o.out.as<T>() : nullptr;
  T* grad = o.grad_out.present() ? o.grad_out.as<T>() : nullptr;
  const T gscale = T(o.grad_output * scale);
  const int64_t nb = (rows + detail::kRowBlock - 1) / detail::kRowBlock;
  std::vector<double> partials(static_cast<size_t>(nb), 0.0);
  // About 64k elements per thread before threading pays.
  const int64_t min_blocks =
      std::max<int64_t>(1, 65536 / (detail::kRowBlock * C));

  if (cs.softmax) {
    // (N, C, S) -> (N*S, C) so that each row's classes are contiguous.
    std::vector<T> xt, gt;
    const T* xr = x.get();
    T* gr = grad;
    if (S > 1) {
      xt.resize(static_cast<size_t>(rows * C));
      for (int64_t n = 0; n < d.n; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t s = 0; s < S; ++s)
            xt[size_t((n * S + s) * C + c)] = xr[(n * C + c) * S + s];
      xr = xt.data();
      if (grad) {
        gt.resize(static_cast<size_t>(rows * C));
        gr = gt.data();
      }
    }
    T wsum = T(C);
    if (w.get()) {
      double sw = 0.0;
      for (int64_t c = 0; c < C; ++c) sw += double(w.get()[c]);
      wsum = T(sw);
    }
    detail::CeRowCall<T> c{};
    c.x = xr;
    c.y = y.data();
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
    if (grad && S > 1) {
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

double run_class_loss(const ClassSpec& cs) {
  if (!(cs.eps >= 0.0 && cs.eps <= 1.0)) {
    throw_value_error(std::string(cs.fn) +
                      ": label_smoothing=" + value_str(cs.eps) +
                      " must lie in [0, 1] (0.1 is a common choice)");
  }
  const Dims d = class_dims(cs);
  if (cs.input->dtype == DType::kFloat32) return run_class_typed<float>(cs, d);
  return run_class_typed<double>(cs, d);
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
  return run_class_loss({"cross_entropy", true, &input, &target, &o.weight,
                         o.ignore_index, o.label_smoothing, o.reduction, &out});
}

double nll_loss(View input, View target, const NllOptions& o,
                const LossOutputs& out) {
  return run_class_loss({"nll_loss", false, &input, &target, &o.weight,
                         o.ignore_index, 0.0, o.reduction, &out});
}

}  // namespace losslab
