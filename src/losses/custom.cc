// The op layer of losslab::elementwise_loss (include/losslab/custom.h): the
// argument checks, the reduction scale, threading and the error reports of
// the built-in elementwise losses (src/losses/elementwise_op.cc), around a
// block runner instantiated in the caller's translation unit.
#include "losslab/custom.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "src/core/checks.h"
#include "src/losses/elementwise.h"

namespace losslab::detail {
namespace {

// The layout must be the library's, or custom losses would not reproduce the
// built-in ones bit for bit.
static_assert(kCustomBlock == kBlock && kCustomLanes == kVirtualLanes);

// Below this many blocks per thread, threading costs more than it saves.
constexpr int64_t kMinBlocksPerThread = 8;

// Sum of weights in the built-in losses' layout (8 double lanes per block,
// blocks combined pairwise), for the weighted mean's denominator.
template <class T>
double custom_weight_sum(const T* w, int64_t n) {
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
void fill_nan(const MutableView& v) {
  if (!v.present() || v.data == nullptr) return;
  T* p = v.as<T>();
  const int64_t n = v.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = std::numeric_limits<T>::quiet_NaN();
}

// Bad data: find the first offender (only on this error path), poison the
// outputs and throw.
template <class T>
[[noreturn]] void report(const std::string& fn, uint32_t flags, const T* x,
                         const T* y, const T* w, int64_t n, const Shape& shape,
                         const LossOutputs& o, int64_t domain_index) {
  fill_nan<T>(o.out);
  fill_nan<T>(o.grad_out);
  fill_nan<T>(o.hess_out);
  if (flags & kCustomBadTarget) {
    for (int64_t i = 0; i < n; ++i) {
      if (!std::isfinite(y[i])) {
        throw_value_error(fn + ": target contains " + value_str(double(y[i])) +
                          " at index " + index_str(i, shape) +
                          "; targets must be finite (a NaN target is a data "
                          "bug: drop or impute those rows first)");
      }
    }
  }
  if (flags & kCustomBadWeight) {
    for (int64_t i = 0; i < n; ++i) {
      if (!(w[i] >= T(0) && w[i] <= std::numeric_limits<T>::max())) {
        throw_value_error(fn + ": weight must be finite and >= 0; got " +
                          value_str(double(w[i])) + " at index " +
                          index_str(i, shape) +
                          "; fix or drop that sample's weight");
      }
    }
  }
  if (flags & kCustomBadInput) {
    for (int64_t i = 0; i < n; ++i) {
      if (!std::isfinite(x[i])) {
        throw_value_error(fn + ": input contains " + value_str(double(x[i])) +
                          " at index " + index_str(i, shape) +
                          " and nan_policy='raise'; check the model's "
                          "outputs (or use NanPolicy::kPropagate)");
      }
    }
  }
  throw_value_error(fn + ": input " + value_str(double(x[domain_index])) +
                    " at index " + index_str(domain_index, shape) +
                    " is outside the loss's domain (its functor's "
                    "domain_bad(x) is true there); check the inputs against "
                    "the loss's definition");
}

template <class T>
CustomBlocksFn<T> runner(const CustomKernels& k) {
  if constexpr (std::is_same_v<T, float>) {
    return k.f32;
  } else {
    return k.f64;
  }
}

template <class T>
double run_typed(const std::string& fn, const View& input, const View& target,
                 const View& weight, Reduction reduction, bool check_input,
                 const LossOutputs& o, const CustomKernels& k) {
  const CustomBlocksFn<T> run = runner<T>(k);
  if (run == nullptr) {
    throw_type_error(fn + ": this loss's functor has no " +
                     std::string(dtype_name(dtype_of_v<T>)) +
                     " operator(); pass " + (k.f32 ? "float32" : "float64") +
                     " arrays or make operator() a template on T");
  }
  const int64_t n = input.numel();
  const Contiguous<T> x(input), y(target), w(weight),
      go(o.grad_output_elementwise);
  double scale = 1.0;
  if (reduction == Reduction::kMean) {
    if (w.get()) {
      const double sw = custom_weight_sum(w.get(), n);
      scale = sw == 0.0 ? 0.0 : 1.0 / sw;
    } else {
      scale = 1.0 / double(n);
    }
  }
  CustomBlockCall<T> c{};
  c.x = x.get();
  c.y = y.get();
  c.w = w.get();
  c.gout = go.get();
  c.out = o.out.present() ? o.out.as<T>() : nullptr;
  c.grad = o.grad_out.present() ? o.grad_out.as<T>() : nullptr;
  c.hess = o.hess_out.present() ? o.hess_out.as<T>() : nullptr;
  c.n = n;
  c.gscale = T(o.grad_output * scale);
  c.check_input = check_input;

  const int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<double> partials(size_t(nb), 0.0);
  std::atomic<uint32_t> flags{0};
  parallel_for(nb, kMinBlocksPerThread, [&](int64_t b0, int64_t b1) {
    flags.fetch_or(run(k.functor, c, b0, b1, partials.data()));
  });
  if (const uint32_t f = flags.load()) {
    // The functor's domain_bad lives in the caller's translation unit: find
    // the first offender by running the block runner on one element at a
    // time, with no outputs (error path only).
    int64_t domain_index = 0;
    if (f & kCustomDomain) {
      CustomBlockCall<T> one{};
      one.n = 1;
      double p = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        one.x = c.x + i;
        one.y = c.y + i;
        if (run(k.functor, one, 0, 1, &p) & kCustomDomain) {
          domain_index = i;
          break;
        }
      }
    }
    report(fn, f, x.get(), y.get(), w.get(), n, input.shape, o, domain_index);
  }
  const double sum = pairwise_sum(partials.data(), nb);
  double value = reduction == Reduction::kMean ? sum * scale : sum;
  if (reduction == Reduction::kMean && w.get() && scale == 0.0) value = 0.0;
  return double(T(value));
}

// float16 / bfloat16: every array widened to float32 (exact), the float32
// path on the copies, outputs rounded back to the half dtype (nearest even)
// or written as float32 when the output view is float32.
double run_half(const std::string& fn, const View& input, const View& target,
                const View& weight, Reduction reduction, bool check_input,
                const LossOutputs& o, const CustomKernels& k) {
  const bool bf16 = input.dtype == DType::kBFloat16;
  const int64_t n = input.numel();
  const Shape& shape = input.shape;
  auto widen = [&](const View& v) {
    std::vector<float> f;
    if (!v.present()) return f;
    const Contiguous<uint16_t> c(v);
    f.resize(size_t(v.numel()));
    half_widen(bf16, c.get(), f.data(), v.numel());
    return f;
  };
  const std::vector<float> x = widen(input), y = widen(target),
                           w = widen(weight),
                           go = widen(o.grad_output_elementwise);
  std::vector<float> ob, gb, hb;
  LossOutputs fo;
  fo.grad_output = o.grad_output;
  if (!go.empty()) fo.grad_output_elementwise = view<float>(go.data(), shape);
  auto prep = [&](const MutableView& v, std::vector<float>& buf,
                  MutableView& dst) {
    if (!v.present()) return;
    buf.resize(size_t(n));
    dst = mutable_view<float>(buf.data(), shape);
  };
  prep(o.out, ob, fo.out);
  prep(o.grad_out, gb, fo.grad_out);
  prep(o.hess_out, hb, fo.hess_out);
  auto store = [&](const std::vector<float>& buf, const MutableView& v) {
    if (!v.present() || v.data == nullptr) return;
    if (v.dtype == DType::kFloat32) {
      std::copy(buf.begin(), buf.end(), v.as<float>());
    } else {
      half_narrow(bf16, buf.data(), v.as<uint16_t>(), n);
    }
  };
  const View xv = view<float>(x.data(), shape);
  const View yv = view<float>(y.data(), shape);
  const View wv = w.empty() ? View{} : view<float>(w.data(), shape);
  double value = 0.0;
  try {
    value = run_typed<float>(fn, xv, yv, wv, reduction, check_input, fo, k);
  } catch (const Error&) {
    // Poison the caller's outputs (the float32 scratch holds NaN).
    store(ob, o.out);
    store(gb, o.grad_out);
    store(hb, o.hess_out);
    throw;
  }
  store(ob, o.out);
  store(gb, o.grad_out);
  store(hb, o.hess_out);
  return value;
}

void check_custom_output(std::string_view fn, std::string_view arg,
                         const MutableView& v, const Shape& shape, DType dtype,
                         bool half) {
  check_output(fn, arg, v, shape,
               half && v.present() && v.dtype == DType::kFloat32
                   ? DType::kFloat32
                   : dtype);
}

}  // namespace

double run_custom_elementwise(View input, View target,
                              const ElementwiseLossOptions& options,
                              const LossOutputs& o, const CustomKernels& k) {
  const std::string fn(options.name.empty()
                           ? std::string_view("elementwise_loss")
                           : options.name);
  const View& weight = options.weight;
  const bool half =
      input.dtype == DType::kFloat16 || input.dtype == DType::kBFloat16;
  if (!half) require_float(fn, "input", input);
  if (half && k.f32 == nullptr) {
    throw_type_error(fn + ": " + std::string(dtype_name(input.dtype)) +
                     " input runs the float32 functor, and this loss's "
                     "functor has none; make operator() a template on T");
  }
  require_same_dtype(fn, "target", target, "input", input.dtype);
  if (weight.present()) {
    require_same_dtype(fn, "weight", weight, "input", input.dtype);
  }
  if (input.data == nullptr && input.numel() > 0) {
    throw_value_error(fn + ": input has a null data pointer");
  }
  require_same_shape(fn, "target", target.shape, "input", input.shape);
  if (weight.present()) {
    require_same_shape(fn, "weight", weight.shape, "input", input.shape);
  }
  require_nonempty(fn, "input", input);
  if (options.reduction == Reduction::kBatchMean) {
    throw_value_error(fn +
                      ": reduction='batchmean' is only defined for kl_div; "
                      "use kMean, kSum or kNone");
  }
  if (options.reduction == Reduction::kNone && !o.out.present()) {
    throw_value_error(fn +
                      ": Reduction::kNone needs outputs.out to receive the "
                      "per-element losses");
  }
  check_custom_output(fn, "out", o.out, input.shape, input.dtype, half);
  check_custom_output(fn, "grad_out", o.grad_out, input.shape, input.dtype,
                      half);
  check_custom_output(fn, "hess_out", o.hess_out, input.shape, input.dtype,
                      half);
  if (o.grad_output_elementwise.present()) {
    if (options.reduction != Reduction::kNone) {
      throw_value_error(fn +
                        ": an elementwise grad_output needs Reduction::kNone; "
                        "pass a scalar grad_output for kMean or kSum");
    }
    require_same_dtype(fn, "grad_output", o.grad_output_elementwise, "input",
                       input.dtype);
    require_same_shape(fn, "grad_output", o.grad_output_elementwise.shape,
                       "input", input.shape);
  }
  if (!std::isfinite(o.grad_output)) {
    throw_value_error(fn + ": grad_output must be finite; got " +
                      value_str(o.grad_output));
  }
  const bool check = options.nan_policy == NanPolicy::kRaise;
  if (half) {
    return run_half(fn, input, target, weight, options.reduction, check, o, k);
  }
  if (input.dtype == DType::kFloat32) {
    return run_typed<float>(fn, input, target, weight, options.reduction, check,
                            o, k);
  }
  return run_typed<double>(fn, input, target, weight, options.reduction, check,
                           o, k);
}

}  // namespace losslab::detail
