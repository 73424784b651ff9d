#include "src/losses/elementwise_op.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>

#include "losslab/core/dispatch.h"
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
        throw_value_error(fn + ": " + std::string(s.input_arg) + " contains " +
                          value_str(double(x[i])) + " at index " +
                          index_str(i, shape) +
                          " and nan_policy='raise'; check the model's "
                          "outputs (or use nan_policy='propagate')");
      }
    }
  }
  if (flags & kFlagDomain && s.loss == ElemLossId::kBce) {
    for (int64_t i = 0; i < n; ++i) {
      if (!(x[i] >= T(0) && x[i] <= T(1))) {
        throw_value_error(
            fn + ": " + std::string(s.input_arg) +
            " must be probabilities in [0, 1]; got " + value_str(double(x[i])) +
            " at index " + index_str(i, shape) +
            "; if these are logits (raw scores), use " +
            (std::string_view(s.input_arg) == "recon"
                 ? std::string(fn == "vae_loss" ? "recon_kind" : "kind") +
                       "='bce_with_logits'"
                 : std::string("binary_cross_entropy_with_logits")) +
            ", which is also numerically stable");
      }
    }
  }
  if (flags & kFlagTargetDomain &&
      (s.loss == ElemLossId::kHinge || s.loss == ElemLossId::kSquaredHinge)) {
    for (int64_t i = 0; i < n; ++i) {
      if (!(y[i] == T(1) || y[i] == T(-1) || y[i] == T(0))) {
        throw_value_error(
            fn + ": " + std::string(s.target_arg) +
            " must hold labels in {-1, 1} ({0, 1} is also "
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
        throw_value_error(fn + ": " + std::string(s.target_arg) +
                          " must lie in [0, 1] (a 0/1 label or a soft "
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
        throw_value_error(fn + ": " + std::string(s.input_arg) +
                          " must be >= 0 when log_input=False "
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

// ---------------------------------------------------------------------------
// float16 / bfloat16 inputs. On SIMD targets the driver reads the half arrays
// and converts in registers (elementwise-inl.h, RunElementwise with kHalf);
// under the scalar reference each block of kBlock elements is widened into
// float32 scratch (exact), run through the scalar twin as a one-block call,
// and its outputs are rounded back to the output dtype (nearest even) or
// written as float32 directly. The conversions are the same bits either way.
// The block layout is the float32 one, so the value and the gradients are the
// float32 results on the widened inputs, bitwise, for any thread count.

template <bool kBf16>
inline float half_to_f32(uint16_t h) {
  if constexpr (kBf16) {
    return bf16_to_f32(h);
  } else {
    return f16_to_f32(h);
  }
}
template <bool kBf16>
inline uint16_t f32_to_half(float f) {
  if constexpr (kBf16) {
    return f32_to_bf16(f);
  } else {
    return f32_to_f16(f);
  }
}

template <bool kBf16>
void widen_half(const uint16_t* src, float* dst, int64_t n) {
  half_widen(kBf16, src, dst, n);
}
template <bool kBf16>
void narrow_half(const float* src, uint16_t* dst, int64_t n) {
  half_narrow(kBf16, src, dst, n);
}

// A whole (possibly strided) half view widened to float32; empty if absent.
template <bool kBf16>
std::vector<float> widen_view(const View& v) {
  std::vector<float> f;
  if (!v.present()) return f;
  const Contiguous<uint16_t> c(v);
  f.resize(static_cast<size_t>(v.numel()));
  widen_half<kBf16>(c.get(), f.data(), v.numel());
  return f;
}

// One output of a half-precision call: float32 (written directly) or the
// input's half dtype (rounded from a float32 scratch block).
struct HalfSink {
  float* f32 = nullptr;
  uint16_t* h = nullptr;
  bool present() const { return f32 != nullptr || h != nullptr; }
};
HalfSink half_sink(const MutableView& v) {
  HalfSink k;
  if (!v.present() || v.data == nullptr) return k;
  if (v.dtype == DType::kFloat32) {
    k.f32 = v.as<float>();
  } else {
    k.h = v.as<uint16_t>();
  }
  return k;
}

template <bool kBf16>
void fill_nan_half(const MutableView& v) {
  const HalfSink k = half_sink(v);
  const int64_t n = v.numel();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t i = 0; i < n; ++i) {
    if (k.f32) k.f32[i] = nan;
    if (k.h) k.h[i] = f32_to_half<kBf16>(nan);
  }
}

// Several quantiles (a scalar indexed driver whose functor and target index
// depend on the absolute element index) or a data error: widen everything,
// run the float32 path on the copies, round the outputs back.
template <bool kBf16>
double run_half_widened(const ElemSpec& s) {
  const LossOutputs& o = *s.outputs;
  const Shape& shape = s.input->shape;
  const int64_t n = s.input->numel();
  const std::vector<float> x = widen_view<kBf16>(*s.input),
                           y = widen_view<kBf16>(*s.target),
                           w = widen_view<kBf16>(*s.weight),
                           go = widen_view<kBf16>(o.grad_output_elementwise);
  std::vector<float> pw;
  View pwv{};
  if (s.pos_weight && s.pos_weight->present()) {
    pw = widen_view<kBf16>(*s.pos_weight);
    pwv = view<float>(pw.data(), s.pos_weight->shape);
  }
  const View xv = view<float>(x.data(), shape);
  const View yv = view<float>(y.data(), s.target->shape);
  const View wv = w.empty() ? View{} : view<float>(w.data(), shape);
  std::vector<float> ob, gb, hb;
  LossOutputs fo;
  fo.grad_output = o.grad_output;
  if (!go.empty()) fo.grad_output_elementwise = view<float>(go.data(), shape);
  auto prep = [&](const MutableView& v, std::vector<float>& buf,
                  MutableView& dst) {
    if (!v.present()) return;
    buf.resize(static_cast<size_t>(n));
    dst = mutable_view<float>(buf.data(), shape);
  };
  prep(o.out, ob, fo.out);
  prep(o.grad_out, gb, fo.grad_out);
  prep(o.hess_out, hb, fo.hess_out);
  ElemSpec fs = s;
  fs.input = &xv;
  fs.target = &yv;
  fs.weight = &wv;
  fs.outputs = &fo;
  if (s.pos_weight && s.pos_weight->present()) fs.pos_weight = &pwv;
  auto store = [&](const std::vector<float>& buf, const MutableView& v) {
    const HalfSink k = half_sink(v);
    if (k.f32) std::copy(buf.begin(), buf.end(), k.f32);
    if (k.h) narrow_half<kBf16>(buf.data(), k.h, n);
  };
  double value;
  try {
    value = run_typed<float>(fs);
  } catch (const Error&) {
    fill_nan_half<kBf16>(o.out);
    fill_nan_half<kBf16>(o.grad_out);
    fill_nan_half<kBf16>(o.hess_out);
    throw;
  }
  store(ob, o.out);
  store(gb, o.grad_out);
  store(hb, o.hess_out);
  return value;
}

template <bool kBf16>
double run_half(const ElemSpec& s) {
  if (s.quantiles && s.quantiles->size() > 1) return run_half_widened<kBf16>(s);
  const LossOutputs& o = *s.outputs;
  const int64_t n = s.input->numel();
  const Contiguous<uint16_t> x(*s.input), y(*s.target), w(*s.weight),
      go(o.grad_output_elementwise);
  const int64_t nb = (n + kBlock - 1) / kBlock;

  double scale = 1.0;
  if (s.reduction == Reduction::kBatchMean) {
    scale = 1.0 / double(s.input->shape.ndim() > 0 ? s.input->shape[0] : 1);
  } else if (s.reduction == Reduction::kMean && s.mean_count > 0 && !w.get()) {
    scale = 1.0 / double(s.mean_count);
  } else if (s.reduction == Reduction::kMean) {
    if (w.get()) {
      // weight_sum's layout on the widened weights.
      std::vector<double> wp(static_cast<size_t>(nb), 0.0);
      parallel_for(nb, kMinBlocksPerThread, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t i0 = b * kBlock;
          const int64_t i1 = std::min(n, i0 + kBlock);
          double acc[8] = {};
          for (int64_t i = i0; i < i1; ++i) {
            acc[(i - i0) & 7] += double(half_to_f32<kBf16>(w.get()[i]));
          }
          wp[size_t(b)] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) +
                          ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        }
      });
      const double sw = pairwise_sum(wp.data(), nb);
      scale = sw == 0.0 ? 0.0 : 1.0 / sw;
    } else {
      scale = 1.0 / double(n);
    }
  }

  ElemCall<float> base{};
  base.loss = s.loss;
  base.gscale = float(o.grad_output * scale);
  base.p0 = s.p0;
  base.p1 = s.p1;
  base.opts =
      s.opts |
      (s.nan_policy == NanPolicy::kRaise ? uint32_t(kOptCheckInput) : 0u);
  // pos_weight tiled to 2 * period + 16: a block starting at class phase
  // i0 % period reads it from aux + phase (see ElemCall::aux).
  std::vector<float> aux;
  int64_t period = 0;
  if (s.pos_weight && s.pos_weight->present()) {
    const std::vector<float> pw = widen_view<kBf16>(*s.pos_weight);
    period = s.pos_weight->numel();
    aux.resize(static_cast<size_t>(2 * period + kVirtualLanes));
    for (size_t k = 0; k < aux.size(); ++k) aux[k] = pw[k % size_t(period)];
    base.aux_period = period;
  }
  const HalfSink out = half_sink(o.out), grad = half_sink(o.grad_out),
                 hess = half_sink(o.hess_out);

  std::vector<double> partials(static_cast<size_t>(nb), 0.0);
  std::atomic<uint32_t> flags{0};
  if (!use_scalar_reference()) {
    // SIMD targets: the driver converts in registers (RunElementwise with
    // kHalf): each element is read and written once, in its own format.
    ElemCall<float> c = base;
    c.x = reinterpret_cast<const float*>(x.get());
    c.y = reinterpret_cast<const float*>(y.get());
    c.w = reinterpret_cast<const float*>(w.get());
    c.gout = reinterpret_cast<const float*>(go.get());
    c.out = out.f32 ? out.f32 : reinterpret_cast<float*>(out.h);
    c.grad = grad.f32 ? grad.f32 : reinterpret_cast<float*>(grad.h);
    c.hess = hess.f32 ? hess.f32 : reinterpret_cast<float*>(hess.h);
    c.half_in = kBf16 ? kHalfBf16 : kHalfF16;
    c.half_out =
        uint8_t((out.h ? kHalfOutOut : 0) | (grad.h ? kHalfOutGrad : 0) |
                (hess.h ? kHalfOutHess : 0));
    c.n = n;
    if (period > 0) c.aux = aux.data();  // absolute phase: i % period
    parallel_for(nb, kMinBlocksPerThread, [&](int64_t b0, int64_t b1) {
      flags.fetch_or(elementwise_blocks_f32(c, b0, b1, partials.data()));
    });
  } else {
    parallel_for(nb, kMinBlocksPerThread, [&](int64_t b0, int64_t b1) {
      // Scratch for one block: x, y, w, gout, out, grad, hess. The buffers
      // are staggered by 48 floats (192 bytes): at a plain 8 KiB stride every
      // x[j], y[j], grad[j] share their low 12 address bits, and the loads
      // stall on the stores (4K aliasing; it made bf16 2.4x slower than f32).
      constexpr int64_t kStride = kBlock + 48;
      std::vector<float> buf(static_cast<size_t>(7 * kStride));
      float* xb = buf.data();
      float* yb = xb + kStride;
      float* wb = yb + kStride;
      float* gob = wb + kStride;
      float* ob = gob + kStride;
      float* gb = ob + kStride;
      float* hb = gb + kStride;
      uint32_t f = 0;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t i0 = b * kBlock;
        const int64_t m = std::min(kBlock, n - i0);
        widen_half<kBf16>(x.get() + i0, xb, m);
        widen_half<kBf16>(y.get() + i0, yb, m);
        if (w.get()) widen_half<kBf16>(w.get() + i0, wb, m);
        if (go.get()) widen_half<kBf16>(go.get() + i0, gob, m);
        ElemCall<float> c = base;
        c.x = xb;
        c.y = yb;
        c.w = w.get() ? wb : nullptr;
        c.gout = go.get() ? gob : nullptr;
        c.out = out.f32 ? out.f32 + i0 : (out.h ? ob : nullptr);
        c.grad = grad.f32 ? grad.f32 + i0 : (grad.h ? gb : nullptr);
        c.hess = hess.f32 ? hess.f32 + i0 : (hess.h ? hb : nullptr);
        c.n = m;
        if (period > 0) c.aux = aux.data() + i0 % period;
        f |= elementwise_blocks_f32(c, 0, 1, partials.data() + b);
        if (out.h) narrow_half<kBf16>(ob, out.h + i0, m);
        if (grad.h) narrow_half<kBf16>(gb, grad.h + i0, m);
        if (hess.h) narrow_half<kBf16>(hb, hess.h + i0, m);
      }
      flags.fetch_or(f);
    });
  }
  if (flags.load()) {
    // Bad data: the widened float32 path finds the first offender, poisons
    // every output and throws the same message as for float32 input.
    run_half_widened<kBf16>(s);
    throw_value_error(std::string(s.fn) + ": invalid data");  // unreachable
  }
  const double sum = pairwise_sum(partials.data(), nb);
  double value = sum;
  if (s.reduction == Reduction::kMean || s.reduction == Reduction::kBatchMean) {
    value = sum * scale;
  }
  if (s.reduction == Reduction::kMean && w.get() && scale == 0.0) value = 0.0;
  return double(float(value));
}

// Outputs of a half input may be in the input dtype or float32
// (grad_dtype="float32" in Python); float32/float64 inputs need their own.
void check_half_output(std::string_view fn, std::string_view arg,
                       const MutableView& v, const Shape& shape, DType dtype) {
  check_output(
      fn, arg, v, shape,
      v.present() && v.dtype == DType::kFloat32 ? DType::kFloat32 : dtype);
}

}  // namespace

double run_elementwise_loss(const ElemSpec& s) {
  const std::string_view fn = s.fn;
  const View& input = *s.input;
  const View& target = *s.target;
  const View& weight = *s.weight;
  const LossOutputs& o = *s.outputs;

  const std::string_view xa = s.input_arg, ya = s.target_arg;
  const bool half =
      input.dtype == DType::kFloat16 || input.dtype == DType::kBFloat16;
  if (!half) require_float(fn, xa, input);
  require_same_dtype(fn, ya, target, xa, input.dtype);
  if (weight.present()) {
    require_same_dtype(fn, "weight", weight, xa, input.dtype);
  }
  if (input.data == nullptr && input.numel() > 0) {
    throw_value_error(std::string(fn) + ": " + std::string(xa) +
                      " has a null data pointer");
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
    require_same_dtype(fn, "pos_weight", pw, xa, input.dtype);
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
    require_same_shape(fn, "weight", weight.shape, xa, input.shape);
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
  const auto check_out = half ? check_half_output : check_output;
  check_out(fn, "out", o.out, input.shape, input.dtype);
  check_out(fn, "grad_out", o.grad_out, input.shape, input.dtype);
  check_out(fn, "hess_out", o.hess_out, input.shape, input.dtype);
  if (o.grad_output_elementwise.present()) {
    if (s.reduction != Reduction::kNone) {
      throw_value_error(std::string(fn) +
                        ": an elementwise grad_output needs reduction='none'; "
                        "pass a scalar grad_output for 'mean' or 'sum'");
    }
    require_same_dtype(fn, "grad_output", o.grad_output_elementwise, xa,
                       input.dtype);
    require_same_shape(fn, "grad_output", o.grad_output_elementwise.shape, xa,
                       input.shape);
  }
  if (!std::isfinite(o.grad_output)) {
    throw_value_error(std::string(fn) + ": grad_output must be finite; got " +
                      value_str(o.grad_output));
  }
  if (input.dtype == DType::kBFloat16) return run_half<true>(s);
  if (input.dtype == DType::kFloat16) return run_half<false>(s);
  if (input.dtype == DType::kFloat32) return run_typed<float>(s);
  return run_typed<double>(s);
}

}  // namespace losslab::detail
