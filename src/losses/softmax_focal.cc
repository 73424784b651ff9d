// softmax_focal_loss, op layer: validates shapes, labels and alpha, lays the
// (N, C, d...) logits out as (N*d, C) rows, runs the row kernel
// (softmax_focal-inl.h) over fixed row blocks and reduces the block partials
// with pairwise_sum, so the value and gradient are bitwise identical for any
// thread count.
#include "src/losses/softmax_focal.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "losslab/losses/classification.h"
#include "src/core/checks.h"

namespace losslab {
namespace {

constexpr std::string_view kFocalFn = "softmax_focal_loss";

template <class T>
void focal_fill_nan(const MutableView& v) {
  if (!v.present() || v.data == nullptr) return;
  std::fill(v.as<T>(), v.as<T>() + v.numel(),
            std::numeric_limits<T>::quiet_NaN());
}

// Labels as int64 in row order, ignored rows as -1; a label outside [0, C)
// that is not ignore_index names its index (outputs NaN-filled).
template <class T, class L>
std::vector<int64_t> focal_labels(const View& target, int64_t C,
                                  int64_t ignore_index,
                                  const LossOutputs& out) {
  const detail::Contiguous<L> t(target);
  const int64_t rows = target.numel();
  std::vector<int64_t> y(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t v = int64_t(t.get()[i]);
    if (v == ignore_index) {
      y[size_t(i)] = -1;
    } else if (v < 0 || v >= C) {
      focal_fill_nan<T>(out.out);
      focal_fill_nan<T>(out.grad_out);
      throw_value_error(
          std::string(kFocalFn) + ": target contains class " +
          std::to_string(v) + " at index " +
          detail::index_str(i, target.shape) +
          "; class indices must lie in [0, " + std::to_string(C) +
          ") or equal ignore_index=" + std::to_string(ignore_index));
    } else {
      y[size_t(i)] = v;
    }
  }
  return y;
}

void focal_kernel(const detail::SoftmaxFocalRowCall<float>& c, int64_t b0,
                  int64_t b1, double* p) {
  detail::softmax_focal_blocks_f32(c, b0, b1, p);
}
void focal_kernel(const detail::SoftmaxFocalRowCall<double>& c, int64_t b0,
                  int64_t b1, double* p) {
  detail::softmax_focal_blocks_f64(c, b0, b1, p);
}

template <class T>
double run_focal_typed(const View& input, const View& target,
                       const SoftmaxFocalOptions& o, const LossOutputs& out,
                       int64_t N, int64_t C, int64_t S) {
  const std::vector<int64_t> y =
      target.dtype == DType::kInt64
          ? focal_labels<T, int64_t>(target, C, o.ignore_index, out)
          : focal_labels<T, int32_t>(target, C, o.ignore_index, out);
  const detail::Contiguous<T> x(input), a(o.alpha_per_class),
      go(out.grad_output_elementwise);
  const int64_t rows = N * S;
  const int64_t nb = (rows + detail::kRowBlock - 1) / detail::kRowBlock;
  double scale = 1.0;
  if (o.reduction == Reduction::kMean) {
    // Rows not ignored, counted in the row-block layout (exact integers).
    const auto count =
        std::count_if(y.begin(), y.end(), [](int64_t v) { return v >= 0; });
    scale = count == 0 ? 0.0 : 1.0 / double(count);
  }
  T* grad = out.grad_out.present() ? out.grad_out.as<T>() : nullptr;
  std::vector<T> xt, gt;
  const T* xr = x.get();
  T* gr = grad;
  if (S > 1) {  // (N, C, S) -> (N*S, C)
    xt.resize(static_cast<size_t>(rows * C));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t s = 0; s < S; ++s)
          xt[size_t((n * S + s) * C + c)] = xr[(n * C + c) * S + s];
    xr = xt.data();
    if (grad) {
      gt.resize(static_cast<size_t>(rows * C));
      gr = gt.data();
    }
  }
  detail::SoftmaxFocalRowCall<T> c{};
  c.x = xr;
  c.y = y.data();
  c.alpha = a.get();
  c.gout = go.get();
  c.out = out.out.present() ? out.out.as<T>() : nullptr;
  c.grad = gr;
  c.rows = rows;
  c.classes = C;
  c.alpha_all = o.alpha ? T(*o.alpha) : T(1);
  c.gscale = T(out.grad_output * scale);
  c.gamma = T(o.gamma);
  std::vector<double> partials(static_cast<size_t>(nb), 0.0);
  const int64_t min_blocks =
      std::max<int64_t>(1, 65536 / (detail::kRowBlock * C));
  parallel_for(nb, min_blocks, [&](int64_t b0, int64_t b1) {
    focal_kernel(c, b0, b1, partials.data());
  });
  if (grad && S > 1) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < C; ++k)
        for (int64_t s = 0; s < S; ++s)
          grad[(n * C + k) * S + s] = gt[size_t((n * S + s) * C + k)];
  }
  const double sum = pairwise_sum(partials.data(), nb);
  const double value = o.reduction == Reduction::kMean
                           ? (scale == 0.0 ? 0.0 : sum * scale)
                           : sum;
  return double(T(value));
}

template <class T>
void check_alpha_values(const View& v) {
  const detail::Contiguous<T> c(v);
  for (int64_t i = 0; i < v.numel(); ++i) {
    const T w = c.get()[i];
    if (!(w >= T(0) && w <= std::numeric_limits<T>::max())) {
      throw_value_error(std::string(kFocalFn) +
                        ": alpha must be finite and >= 0; got " +
                        detail::value_str(double(w)) + " at index " +
                        detail::index_str(i, v.shape));
    }
  }
}

}  // namespace

double softmax_focal_loss(View input, View target, const SoftmaxFocalOptions& o,
                          const LossOutputs& out) {
  const std::string f(kFocalFn);
  detail::require_float(kFocalFn, "input", input);
  if (!(o.gamma >= 0.0 && std::isfinite(o.gamma))) {
    throw_value_error(f + ": gamma=" + detail::value_str(o.gamma) +
                      " must be finite and >= 0 (2 is the usual choice; 0 "
                      "gives cross-entropy)");
  }
  if (o.alpha && o.alpha_per_class.present()) {
    throw_value_error(f +
                      ": pass either a scalar alpha or alpha_per_class, "
                      "not both");
  }
  if (o.alpha && !(*o.alpha >= 0.0 && std::isfinite(*o.alpha))) {
    throw_value_error(f + ": alpha=" + detail::value_str(*o.alpha) +
                      " must be finite and >= 0, or None to disable it");
  }
  if (input.shape.ndim() == 0) {
    throw_value_error(f +
                      ": input must have a class dimension: (N, C), (N, C, "
                      "d1, ...) or (C,); got shape ()");
  }
  if (target.dtype != DType::kInt64 && target.dtype != DType::kInt32) {
    throw_type_error(f + ": target dtype " +
                     std::string(dtype_name(target.dtype)) +
                     " is not supported; expected class indices of dtype "
                     "int64 or int32");
  }
  int64_t N = 1, C = input.shape[0], S = 1;
  Shape expect;
  if (input.shape.ndim() > 1) {
    N = input.shape[0];
    C = input.shape[1];
    expect.push_back(N);
    for (int k = 2; k < input.shape.ndim(); ++k) {
      S *= input.shape[k];
      expect.push_back(input.shape[k]);
    }
  }
  if (!(target.shape == expect)) {
    throw_value_error(f + ": target shape " + target.shape.str() +
                      " does not match input shape " + input.shape.str() +
                      "; expected " + expect.str() +
                      ": one class index per sample (the input without its "
                      "class dimension 1)");
  }
  if (o.alpha_per_class.present()) {
    detail::require_same_dtype(kFocalFn, "alpha", o.alpha_per_class, "input",
                               input.dtype);
    if (!(o.alpha_per_class.shape == Shape{C})) {
      throw_value_error(f + ": alpha shape " + o.alpha_per_class.shape.str() +
                        " must be (" + std::to_string(C) +
                        ",): one alpha per class (input shape " +
                        input.shape.str() + "), or pass a scalar");
    }
    if (input.dtype == DType::kFloat32) {
      check_alpha_values<float>(o.alpha_per_class);
    } else {
      check_alpha_values<double>(o.alpha_per_class);
    }
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
  detail::check_output(kFocalFn, "out", out.out, expect, input.dtype);
  detail::check_output(kFocalFn, "grad_out", out.grad_out, input.shape,
                       input.dtype);
  if (out.hess_out.present()) {
    throw_value_error(f +
                      ": hess_out is not available: the Hessian of a "
                      "softmax loss is not diagonal");
  }
  if (out.grad_output_elementwise.present()) {
    if (o.reduction != Reduction::kNone) {
      throw_value_error(f +
                        ": an elementwise grad_output needs "
                        "reduction='none'; pass a scalar grad_output for "
                        "'mean' or 'sum'");
    }
    detail::require_same_dtype(kFocalFn, "grad_output",
                               out.grad_output_elementwise, "input",
                               input.dtype);
    detail::require_same_shape(kFocalFn, "grad_output",
                               out.grad_output_elementwise.shape, "target",
                               expect);
  }
  if (!std::isfinite(out.grad_output)) {
    throw_value_error(f + ": grad_output must be finite; got " +
                      detail::value_str(out.grad_output));
  }
  if (input.dtype == DType::kFloat32) {
    return run_focal_typed<float>(input, target, o, out, N, C, S);
  }
  return run_focal_typed<double>(input, target, o, out, N, C, S);
}

}  // namespace losslab
