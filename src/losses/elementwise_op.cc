#include "src/losses/elementwise_op.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <string>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "src/core/checks.h"
#include "src/losses/classification-inl.h"
#include "src/losses/elementwise-inl.h"
#include "src/losses/regression-inl.h"

namespace losslab::detail {
namespace {

// Below this many blocks per thread, threading costs more than it saves.
constexpr int64_t kMinBlocksPerThread = 8;

template <class T>
uint32_t kernel(const ElemCall<T>& c, int64_t b0, int64_t b1, double* p) {
  if constexpr (std::is_same_v<T, float>) {
    return elementwise_blocks_f32(c, b0, b1, p);
  } else {
    return elementwise_blocks_f64(c, b0, b1, p);
  }
}

// Sum of weights in the same fixed block layout (8 double lanes per block),
// for the weighted mean's denominator.
template <class T>
double weight_sum(const T* w, int64_t n) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<double> partials(size_t(nb), 0.0);
  parallel_for(nb, kMinBlocksPerThread, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kBlock;
      const int64_t i1 = std::min(n, i0 + kBlock);
      double acc[8] = {};
      for (int64_t i = i0; i < i1; ++i) acc[(i - i0) & 7] += double(w[i]);
      partials[size_t(b)] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) +
                            ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
  });
  return pairwise_sum(partials.data(), nb);
}

template <class T>
void fill(const MutableView& v, T value) {
  if (!v.present() || v.data == nullptr) return;
  T* p = v.as<T>();
  const int64_t n = v.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = value;
}

// The kernel saw bad data: find the first offender (the slow scan runs only
// on this error path), poison the outputs and throw.
template <class T>
[[noreturn]] void report(const ElemSpec& s, uint32_t flags, const T* x,
                         const T* y, const T* w, int64_t n, int64_t q,
                         bool row_target) {
  const LossOutputs& o = *s.outputs;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  fill<T>(o.out, nan);
  fill<T>(o.grad_out, nan);
  fill<T>(o.hess_out, nan);
  const std::string fn(s.fn);
  const Shape& shape = s.input->shape;
  if (flags & kFlagBadTarget) {
    const int64_t ny = row_target ? n / q : n;
    const bool neg_inf_ok = s.loss == ElemLossId::kKlDivLogTarget;
    for (int64_t i = 0; i < ny; ++i) {
      if (!std::isfinite(y[i]) &&
          !(neg_inf_ok && y[i] == -std::numeric_limits<T>::infinity())) {
        throw_value_error(
            fn + ": " + std::string(s.target_arg) + " contains " +
            value_str(double(y[i])) + " at index " +
            index_str(i, s.target->shape) +
            "; targets must be finite (a NaN target is a data bug: drop or "
            "impute those rows before computing the loss)");
      }
    }
  }
  if (flags & kFlagBadWeight) {
    for (int64_t i = 0; i < n; ++i) {
      if (!(w[i] >= T(0) && w[i] <= std::numeric_limits<T>::max())) {
        throw_value_error(fn + ": weight must be finite and >= 0; got " +
                          value_str(double(w[i])) + " at index " +
                          index_str(i, shape) +
                          "; fix or drop that sample's weight");
      }
    }
  }
  if (flags & kFlagBadInput) {
    for (int64_t i = 0; i < n; ++i) {
      if (!std::isfinite(x[i])) {
        throw_value_error(fn + ": input contains " + value_str(double(x[i])) +
                          " at index " + index_str(i, shape) +
                          " and nan_policy='raise'; check the model's "
                          "outputs (or use nan_policy='propagate')");
      }
    }
  }
  if (flags & kFlagDomain && s.loss == ElemLossId::kBce) {
    for (int64_t i = 0; i < n; ++i) {
      if (!(x[i] >= T(0) && x[i] <= T(1))) {
        throw_value_error(
            fn + ": input must be probabilities in [0, 1]; got " +
            value_str(double(x[i])) + " at index " + index_str(i, shape) +
            "; if these are logits (raw scores), use "
            "binary_cross_entropy_with_logits, which is also numerically "
            "stable");
      }
    }
  }
  if (flags & kFlagTargetDomain &&
      (s.loss == ElemLossId::kHinge || s.loss == ElemLossId::kSquaredHinge)) {
    for (int64_t i = 0; i < n; ++i) {
      if (!(y[i] == T(1) || y[i] == T(-1) || y[i] == T(0))) {
        throw_value_error(
            fn +
            ": target must hold labels in {-1, 1} ({0, 1} is also "
            "accepted, 0 read as -1); got " +
            value_str(double(y[i])) + " at index " +
            index_str(i, s.target->shape) +
            "; for scores or probabilities threshold them first (e.g. "
            "np.where(y > 0.5, 1, -1))");
      }
    }
  }
  if (flags & kFlagTargetDomain &&
      (s.loss == ElemLossId::kKlDiv || s.loss == ElemLossId::kKlProb)) {
    for (int64_t i = 0; i < n; ++i) {
      if (y[i] < T(0)) {
        throw_value_error(
            fn + ": " + std::string(s.target_arg) +
            " must hold probabilities >= 0; got " + value_str(double(y[i])) +
            " at index " + index_str(i, s.target->shape) +
            (s.loss == ElemLossId::kKlDiv
                 ? "; if the target holds log-probabilities, pass "
                   "log_target=True"
                 : "; pass probabilities (e.g. a softmax), not logits"));
      }
    }
  }
  if (flags & kFlagDomain && s.loss == ElemLossId::kKlProb) {
    for (int64_t i = 0; i < n; ++i) {
      if (x[i] < T(0)) {
        throw_value_error(fn + ": " + std::string(s.input_arg) +
                          " must hold probabilities >= 0; got " +
                          value_str(double(x[i])) + " at index " +
                          index_str(i, shape) +
                          "; pass probabilities (e.g. a softmax), not logits");
      }
    }
  }
  if (flags & kFlagTargetDomain) {
    for (int64_t i = 0; i < n; ++i) {
      if (y[i] < T(0) || y[i] > T(1)) {
        throw_value_error(fn +
                          ": target must lie in [0, 1] (a 0/1 label or a soft "
                          "probability); got " +
                          value_str(double(y[i])) + " at index " +
                          index_str(i, s.target->shape) +
                          "; map {-1, 1} labels to {0, 1} with (y + 1) / 2");
      }
    }
  }
  if (flags & kFlagDomain) {
    for (int64_t i = 0; i < n; ++i) {
      if (x[i] < T(0)) {
        throw_value_error(fn +
                          ": input must be >= 0 when log_input=False "
                          "(it is a rate); got " +
                          value_str(double(x[i])) + " at index " +
                          index_str(i, shape) +
                          "; pass log-rates with log_input=True");
      }
    }
  }
  throw_value_error(fn + ": invalid data");  // unreachable in practice
}

template <class T>
double run_typed(const ElemSpec& s) {
  const LossOutputs& o = *s.outputs;
  const int64_t n = s.input->numel();
  const Contiguous<T> x(*s.input), y(*s.target), w(*s.weight),
      go(o.grad_output_elementwise);
  const int64_t q = s.quantiles ? int64_t(s.quantiles->size()) : 1;
  const bool row_target = q > 1 && s.target->shape.ndim() == 1;

  double scale = 1.0;
  if (s.reduction == Reduction::kBatchMean) {
    scale = 1.0 / double(s.input->shape.ndim() > 0 ? s.input->shape[0] : 1);
  } else if (s.reduction == Reduction::kMean && s.mean_count > 0 && !w.get()) {
    scale = 1.0 / double(s.mean_count);
  } else if (s.reduction == Reduction::kMean) {
    if (w.get()) {
      const double sw = weight_sum(w.get(), n);
      if (sw == 0.0) {
        // Every weight is 0: the documented mean is 0 with a zero gradient
        // (the kernel still runs, so bad data is still reported).
        scale = 0.0;
      } else {
        scale = 1.0 / sw;
      }
    } else {
      scale = 1.0 / double(n);
    }
  }

  ElemCall<T> c{};
  c.loss = s.loss;
  c.x = x.get();
  c.y = y.get();
  c.w = w.get();
  c.gout = go.get();
  c.out = o.out.present() ? o.out.as<T>() : nullptr;
  c.grad = o.grad_out.present() ? o.grad_out.as<T>() : nullptr;
  c.hess = o.hess_out.present() ? o.hess_out.as<T>() : nullptr;
  c.n = n;
  c.gscale = T(o.grad_output * scale);
  c.p0 = s.p0;
  c.p1 = s.p1;
  c.opts = s.opts |
           (s.nan_policy == NanPolicy::kRaise ? uint32_t(kOptCheckInput) : 0u);
  // pos_weight: the (C,) values tiled to C + 16 so that a vector starting at
  // any class phase reads its lanes with one load (see ElemCall::aux). This
  // keeps the SIMD path for multi-label inputs; the multi-quantile case uses
  // the scalar indexed driver instead, since its functor itself changes.
  std::vector<T> aux;
  if (s.pos_weight && s.pos_weight->present()) {
    const Contiguous<T> pw(*s.pos_weight);
    const int64_t period = s.pos_weight->numel();
    aux.resize(size_t(period + kVirtualLanes));
    for (size_t k = 0; k < aux.size(); ++k) aux[k] = pw.get()[k % period];
    c.aux = aux.data();
    c.aux_period = period;
  }

  const int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<double> partials(size_t(nb), 0.0);
  std::atomic<uint32_t> flags{0};
  if (q > 1) {
    std::vector<ref::Quantile<T>> fns;
    for (double tau : *s.quantiles) fns.push_back({T(tau), T(tau) - T(1)});
    parallel_for(nb, kMinBlocksPerThread, [&](int64_t b0, int64_t b1) {
      flags.fetch_or(ref::run_elementwise_indexed(
          [&](int64_t i) -> const ref::Quantile<T>& { return fns[i % q]; },
          [&](int64_t i) { return row_target ? i / q : i; }, c, b0, b1,
          partials.data()));
    });
  } else {
    parallel_for(nb, kMinBlocksPerThread, [&](int64_t b0, int64_t b1) {
      flags.fetch_or(kernel(c, b0, b1, partials.data()));
    });
  }
  if (const uint32_t f = flags.load()) {
    report(s, f, x.get(), y.get(), w.get(), n, q, row_target);
  }
  const double sum = pairwise_sum(partials.data(), nb);
  double value = sum;
  if (s.reduction == Reduction::kMean || s.reduction == Reduction::kBatchMean) {
    value = sum * scale;
  }
  if (s.reduction == Reduction::kMean && w.get() && scale == 0.0) value = 0.0;
  return double(T(value));
}

}  // namespace

double run_elementwise_loss(const ElemSpec& s) {
  const std::string_view fn = s.fn;
  const View& input = *s.input;
  const View& target = *s.target;
  const View& weight = *s.weight;
  const LossOutputs& o = *s.outputs;

  const std::string_view xa = s.input_arg, ya = s.target_arg;
  require_float(fn, xa, input);
  require_same_dtype(fn, ya, target, xa, input.dtype);
  if (weight.present()) {
    require_same_dtype(fn, "weight", weight, xa, input.dtype);
  }
  if (input.data == nullptr && input.numel() > 0) {
    throw_value_error(std::string(fn) + ": input has a null data pointer");
  }
  if (s.quantiles && s.quantiles->size() > 1) {
    const int64_t q = int64_t(s.quantiles->size());
    if (input.shape.ndim() != 2 || input.shape[1] != q) {
      throw_value_error(std::string(fn) + ": with " + std::to_string(q) +
                        " quantiles the input must have shape (N, " +
                        std::to_string(q) + "), one column per quantile; got " +
                        input.shape.str());
    }
    const Shape rows{input.shape[0]};
    if (!(target.shape == input.shape) && !(target.shape == rows)) {
      throw_value_error(std::string(fn) + ": target shape " +
                        target.shape.str() + " must be " + input.shape.str() +
                        " or " + rows.str() +
                        " (one target per row, shared by its " +
                        std::to_string(q) + " quantile predictions)");
    }
  } else {
    require_same_shape(fn, ya, target.shape, xa, input.shape);
  }
  if (s.pos_weight && s.pos_weight->present()) {
    const View& pw = *s.pos_weight;
    require_same_dtype(fn, "pos_weight", pw, "input", input.dtype);
    const int64_t classes =
        input.shape.ndim() > 0 ? input.shape[input.shape.ndim() - 1] : 1;
    if (pw.shape.ndim() != 1 || (pw.shape[0] != classes && pw.shape[0] != 1)) {
      throw_value_error(
          std::string(fn) + ": pos_weight shape " + pw.shape.str() +
          " must be (" + std::to_string(classes) +
          ",), one weight per class of the input's last dimension (input "
          "shape " +
          input.shape.str() +
          "), or (1,) for one weight shared "
          "by all elements");
    }
    if (pw.data == nullptr) {
      throw_value_error(std::string(fn) +
                        ": pos_weight has a null data pointer");
    }
  }
  if (weight.present()) {
    require_same_shape(fn, "weight", weight.shape, "input", input.shape);
  }
  require_nonempty(fn, xa, input);
  if (s.reduction == Reduction::kBatchMean && !s.allow_batchmean) {
    throw_value_error(std::string(fn) +
                      ": reduction='batchmean' is only defined for kl_div; "
                      "use 'mean', 'sum' or 'none'");
  }
  if (s.reduction == Reduction::kNone && !o.out.present()) {
    throw_value_error(std::string(fn) +
                      ": reduction='none' needs outputs.out to receive the "
                      "per-element losses");
  }
  check_output(fn, "out", o.out, input.shape, input.dtype);
  check_output(fn, "grad_out", o.grad_out, input.shape, input.dtype);
  check_output(fn, "hess_out", o.hess_out, input.shape, input.dtype);
  if (o.grad_output_elementwise.present()) {
    if (s.reduction != Reduction::kNone) {
      throw_value_error(std::string(fn) +
                        ": an elementwise grad_output needs reduction='none'; "
                        "pass a scalar grad_output for 'mean' or 'sum'");
    }
    require_same_dtype(fn, "grad_output", o.grad_output_elementwise, "input",
                       input.dtype);
    require_same_shape(fn, "grad_output", o.grad_output_elementwise.shape,
                       "input", input.shape);
  }
  if (!std::isfinite(o.grad_output)) {
    throw_value_error(std::string(fn) + ": grad_output must be finite; got " +
                      value_str(o.grad_output));
  }
  if (input.dtype == DType::kFloat32) return run_typed<float>(s);
  return run_typed<double>(s);
}

}  // namespace losslab::detail
