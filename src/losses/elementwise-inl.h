// The block drivers for elementwise losses: one per SIMD target and its scalar
// twin. A driver walks blocks of ElemCall, asks the loss functor for l, g, h,
// applies weights, the reduction scale and the upstream gradient, writes the
// requested outputs and accumulates the block sum in the fixed 16-lane layout
// described in elementwise.h. It also collects the data checks (NaN target,
// bad weight, non-finite input, domain) in the same pass.

// ---------------------------------------------------------------------------
#ifndef LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_SCALAR_
#define LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_SCALAR_

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "src/losses/elementwise.h"

namespace losslab::detail::ref {

// `fn_at(i)` returns the functor for element i and `y_at(i)` the index of its
// target; the plain form below uses one functor and y[i].
template <class T, class FnAt, class YAt>
uint32_t run_elementwise_indexed(const FnAt& fn_at, const YAt& y_at,
                                 const ElemCall<T>& c, int64_t b0, int64_t b1,
                                 double* partials) {
  using Fn = std::decay_t<decltype(fn_at(int64_t(0)))>;
  const bool want_g = c.grad != nullptr;
  const bool want_h = c.hess != nullptr;
  const bool check_x = (c.opts & kOptCheckInput) != 0;
  const T vmax = std::numeric_limits<T>::max();
  uint32_t flags = 0;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t i0 = b * kBlock;
    const int64_t i1 = std::min(c.n, i0 + kBlock);
    T acc[kVirtualLanes] = {};
    for (int64_t i = i0; i < i1; ++i) {
      const T x = c.x[i];
      const T y = c.y[y_at(i)];
      const Fn& fn = fn_at(i);
      T l, g = 0, h = 0;
      if constexpr (has_aux<Fn>()) {
        fn(x, y, c.aux[i % c.aux_period], l, g, h, want_h);
      } else {
        fn(x, y, l, g, h, want_h);
      }
      if (!std::isfinite(y)) {
        if (!(target_neg_inf_ok<Fn>() &&
              y == -std::numeric_limits<T>::infinity())) {
          flags |= kFlagBadTarget;
        }
      }
      if constexpr (has_target_domain<Fn>()) {
        if (fn.target_bad(y)) flags |= kFlagTargetDomain;
      }
      if (check_x && !std::isfinite(x)) flags |= kFlagBadInput;
      if constexpr (Fn::kHasDomain) {
        if (fn.domain_bad(x)) flags |= kFlagDomain;
      }
      if (c.w) {
        const T w = c.w[i];
        if (!(w >= T(0) && w <= vmax)) flags |= kFlagBadWeight;
        l = l * w;
        g = g * w;
        h = h * w;
      }
      acc[(i - i0) % kVirtualLanes] += l;
      if (c.out) c.out[i] = l;
      if (want_g) {
        g = g * c.gscale;
        if (c.gout) g = g * c.gout[i];
        c.grad[i] = g;
      }
      if (want_h) {
        h = h * c.gscale;
        if (c.gout) h = h * c.gout[i];
        c.hess[i] = h;
      }
    }
    partials[b] = combine_lanes(acc);
  }
  return flags;
}

template <class T, class Fn>
uint32_t run_elementwise(const Fn& fn, const ElemCall<T>& c, int64_t b0,
                         int64_t b1, double* partials) {
  return run_elementwise_indexed([&fn](int64_t) -> const Fn& { return fn; },
                                 [](int64_t i) { return i; }, c, b0, b1,
                                 partials);
}

}  // namespace losslab::detail::ref

#endif  // LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_SCALAR_

// ---------------------------------------------------------------------------
#if defined(LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_ELEMENTWISE_INL_H_TARGET_
#endif

#include <cstring>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "losslab/core/dispatch.h"
#include "src/losses/stream-inl.h"

// The drivers' per-vector lambdas must inline into their loops: GCC's
// heuristics left `step` as a call for the larger functors (sigmoid focal,
// and every half-precision driver), which spilled every vector argument.
// Sanitizer builds leave the choice to the compiler: forced inlining of
// every driver instantiation made GCC's ASan+UBSan build of
// elementwise_kernels.cc run for over 20 minutes and 6 GB.
// Sanitizer builds also compile one main loop per driver instead of two
// (streaming and plain; see RunElementwise): with the split, CI's ASan
// stage, which builds from scratch, went from 489 to 662 s. For the same
// reason they compile one driver for calls with and without a gradient
// (kGrad = true, with the gradient's stores skipped at run time when
// c.grad is null) instead of two.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LOSSLAB_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LOSSLAB_SANITIZER_BUILD 1
#endif
#endif
#ifndef LOSSLAB_LAMBDA_INLINE
#ifdef LOSSLAB_SANITIZER_BUILD
#define LOSSLAB_LAMBDA_INLINE
#endif
#endif
#ifndef LOSSLAB_LAMBDA_INLINE
#if defined(__GNUC__) || defined(__clang__)
#define LOSSLAB_LAMBDA_INLINE __attribute__((always_inline))
#else
#define LOSSLAB_LAMBDA_INLINE
#endif
#endif

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// float16 / bfloat16 <-> float32 in registers: the vector forms of
// detail::bf16_to_f32, f16_to_f32, f32_to_bf16 and f32_to_f16
// (elementwise.h), with the same integer / IEEE operations, so they give the
// same bits as the scalar conversions on every target. kHalf is
// detail::kHalfBf16 or detail::kHalfF16.
template <int kHalf, class D>
HWY_INLINE hn::Vec<D> LoadHalfAsF32(D d, const uint16_t* HWY_RESTRICT p) {
  const hn::RebindToUnsigned<D> du;
  const hn::Rebind<uint16_t, D> d16;
  const auto w = hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, p)));
  if constexpr (kHalf == detail::kHalfBf16) {
    return hn::BitCast(d, w);
  } else {
    const auto sign = hn::And(w, hn::Set(du, 0x80000000u));
    const auto two_w = hn::Add(w, w);
    const auto normalized =
        hn::Mul(hn::BitCast(d, hn::Add(hn::ShiftRight<4>(two_w),
                                       hn::Set(du, uint32_t(0xE0u) << 23))),
                hn::Set(d, 0x1.0p-112f));
    const auto denormalized =
        hn::Sub(hn::BitCast(d, hn::Or(hn::ShiftRight<17>(two_w),
                                      hn::Set(du, uint32_t(126u) << 23))),
                hn::Set(d, 0.5f));
    // two_w < 2^27 (unsigned): the top 5 bits are 0.
    const auto sub = hn::Eq(hn::ShiftRight<27>(two_w), hn::Zero(du));
    const auto r = hn::IfThenElse(sub, hn::BitCast(du, denormalized),
                                  hn::BitCast(du, normalized));
    return hn::BitCast(d, hn::Or(sign, r));
  }
}

template <int kHalf, class D>
HWY_INLINE void StoreF32AsHalf(D d, hn::Vec<D> v, uint16_t* HWY_RESTRICT p) {
  const hn::RebindToUnsigned<D> du;
  const hn::RebindToSigned<D> di;
  const hn::Rebind<uint16_t, D> d16;
  const auto u = hn::BitCast(du, v);
  const auto nan = hn::RebindMask(du, hn::IsNaN(v));
  hn::Vec<decltype(du)> r;
  if constexpr (kHalf == detail::kHalfBf16) {
    const auto lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
    r = hn::ShiftRight<16>(hn::Add(hn::Add(u, hn::Set(du, 0x7FFFu)), lsb));
    r = hn::IfThenElse(nan, hn::Or(hn::ShiftRight<16>(u), hn::Set(du, 0x40u)),
                       r);
  } else {
    auto base = hn::Mul(hn::Mul(hn::Abs(v), hn::Set(d, 0x1.0p+112f)),
                        hn::Set(d, 0x1.0p-110f));
    const auto shl1_w = hn::Add(u, u);
    const auto sign = hn::And(u, hn::Set(du, 0x80000000u));
    const auto bias = hn::Max(hn::And(shl1_w, hn::Set(du, 0xFF000000u)),
                              hn::Set(du, 0x71000000u));
    base = hn::Add(hn::BitCast(d, hn::Add(hn::ShiftRight<1>(bias),
                                          hn::Set(du, 0x07800000u))),
                   base);
    const auto bits = hn::BitCast(du, base);
    const auto exp_bits =
        hn::And(hn::ShiftRight<13>(bits), hn::Set(du, 0x00007C00u));
    const auto mantissa_bits = hn::And(bits, hn::Set(du, 0x00000FFFu));
    const auto nonsign = hn::Add(exp_bits, mantissa_bits);
    r = hn::Or(hn::ShiftRight<16>(sign),
               hn::IfThenElse(nan, hn::Set(du, 0x7E00u), nonsign));
  }
  // Every lane is below 2^16: the saturating demotion is exact.
  hn::StoreU(hn::DemoteTo(d16, hn::BitCast(di, r)), d16, p);
}

// kHalf: 0 for T storage, else detail::kHalfBf16 / kHalfF16 storage of x, y,
// w, gout (and of the outputs marked in c.half_out), converted in registers:
// the loss math is the float32 path's, operation for operation, so a half
// call gives bitwise the float32 result on the widened values.
template <class D, class Fn, bool kGrad, int kHalf>
HWY_NOINLINE uint32_t RunElementwise(D d, const Fn& fn_in,
                                     const detail::ElemCall<hn::TFromD<D>>& c,
                                     int64_t b0, int64_t b1, double* partials) {
  // A local copy: the loss's parameters (float members such as focal's alpha
  // and gamma) could alias the float outputs through the reference, so the
  // compiler would reload them and rebuild their vectors after every store.
  const Fn fn = fn_in;
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  using M = hn::Mask<D>;
  static_assert(kHalf == 0 || sizeof(T) == 4);
  constexpr int64_t kL = detail::kVirtualLanes;
  const size_t N = hn::Lanes(d);
  const size_t nv = kL / N;
  const bool want_h = c.hess != nullptr;
  const bool check_x = (c.opts & detail::kOptCheckInput) != 0;
  const bool half_o = kHalf != 0 && (c.half_out & detail::kHalfOutOut);
  const bool half_g = kHalf != 0 && (c.half_out & detail::kHalfOutGrad);
  const bool half_h = kHalf != 0 && (c.half_out & detail::kHalfOutHess);
  const V zero = hn::Zero(d);
  const V vmax = hn::Set(d, hwy::HighestValue<T>());
  const V gscale = hn::Set(d, c.gscale);
  M bad_y = hn::FirstN(d, 0), bad_w = bad_y, bad_x = bad_y, bad_dom = bad_y,
    bad_ty = bad_y;

  // Element j of an input array in its storage format.
  auto load = [&](const T* p, size_t j) HWY_ATTR LOSSLAB_LAMBDA_INLINE -> V {
    if constexpr (kHalf == 0) {
      return hn::LoadU(d, p + j);
    } else {
      return LoadHalfAsF32<kHalf>(d, reinterpret_cast<const uint16_t*>(p) + j);
    }
  };
  // Outputs of at least detail::stream_store_threshold() bytes are written by
  // streaming stores (stream-inl.h) from the main loop, whose full vectors
  // run consecutively through the blocks [b0, b1); the padded tail stores
  // normally.
  const int64_t n_bytes = c.n * int64_t(sizeof(T));
  const bool nt_o = kHalf == 0 && WantStream<D>(c.out, n_bytes);
  // grad: whether this call writes a gradient. kGrad = false drops the
  // gradient's code at compile time; sanitizer builds instantiate only
  // kGrad = true and test c.grad here.
#ifdef LOSSLAB_SANITIZER_BUILD
  const bool grad = kGrad && c.grad != nullptr;
#else
  constexpr bool grad = kGrad;
#endif
  const bool nt_g = kHalf == 0 && grad && WantStream<D>(c.grad, n_bytes);
  const bool nt_h = kHalf == 0 && WantStream<D>(c.hess, n_bytes);
  StreamWriter<D> sw_o(d, c.out), sw_g(d, c.grad), sw_h(d, c.hess);
  // sw: the output's StreamWriter when this store streams, else null.
  auto store = [&](V v, T* p, size_t j, bool half,
                   StreamWriter<D>* sw) HWY_ATTR LOSSLAB_LAMBDA_INLINE {
    if constexpr (kHalf != 0) {
      if (half) {
        StoreF32AsHalf<kHalf>(d, v, reinterpret_cast<uint16_t*>(p) + j);
        return;
      }
    }
    if (sw) {
      sw->Put(v, j);
    } else {
      hn::StoreU(v, d, p + j);
    }
  };

  // One vector of elements at offset j of the given arrays; returns the
  // (weighted) loss for the accumulator. `ap` points at this vector's
  // per-element parameters (losses with kHasAux only).
  // kStream: whether this vector is in the main loop of a call whose outputs
  // stream (a compile-time choice, so that the loop of a call that does not
  // stream holds plain stores and no branches on the writers' state).
  // kCheap: the target (and, under nan_policy="raise", the input) checks of
  // the main loop only accumulate a block sum of y (and of x), and for
  // targets in [0, 1] a block minimum and maximum: an add and two MIN/MAX
  // per vector, against a VFPCLASSPS and two compares into masks, which on
  // Zen 4 cost about 1.2 FMAs each (losslab_bench_op_costs); the
  // BCE-with-logits loop runs 4% faster in cache. A NaN or infinite y makes
  // the sum NaN or infinite for good; a block whose sum is not finite (also
  // when finite values overflow) or whose range leaves [0, 1] is rescanned
  // with the exact checks below, so the flags are the same as checking
  // every vector (tests/cpp/losses/elementwise_checks_test.cc).
  constexpr bool kCheapChecks =
      !detail::target_neg_inf_ok<Fn>() &&
      (!detail::has_target_domain<Fn>() || detail::target_unit_interval<Fn>());
  V ysum = zero, ymin = zero, ymax = zero, xsum = zero;
  auto exact_checks = [&](V x, V y) HWY_ATTR LOSSLAB_LAMBDA_INLINE {
    if constexpr (detail::target_neg_inf_ok<Fn>()) {
      bad_y = hn::Or(bad_y, hn::AndNot(hn::Eq(y, hn::Neg(hn::Inf(d))),
                                       hn::Not(hn::IsFinite(y))));
    } else {
      bad_y = hn::Or(bad_y, hn::Not(hn::IsFinite(y)));
    }
    if constexpr (detail::has_target_domain<Fn>()) {
      bad_ty = hn::Or(bad_ty, fn.TargetBad(d, y));
    }
    if (check_x) bad_x = hn::Or(bad_x, hn::Not(hn::IsFinite(x)));
  };

  auto step = [&]<bool kStream, bool kCheap>(
                  std::bool_constant<kStream>, std::bool_constant<kCheap>,
                  size_t j, const T* xp, const T* yp, const T* wp, const T* gop,
                  T* op, T* gp, T* hp,
                  const T* ap) HWY_ATTR LOSSLAB_LAMBDA_INLINE {
    const V x = load(xp, j);
    const V y = load(yp, j);
    V l, g = zero, h = zero;
    if constexpr (detail::has_aux<Fn>()) {
      fn(d, x, y, hn::LoadU(d, ap), l, g, h, want_h);
    } else {
      fn(d, x, y, l, g, h, want_h);
    }
    if constexpr (kCheap) {
      ysum = hn::Add(ysum, y);
      if constexpr (detail::target_unit_interval<Fn>()) {
        ymin = hn::Min(ymin, y);
        ymax = hn::Max(ymax, y);
      }
      if (check_x) xsum = hn::Add(xsum, x);
    } else {
      exact_checks(x, y);
    }
    if constexpr (Fn::kHasDomain) bad_dom = hn::Or(bad_dom, fn.DomainBad(d, x));
    if (wp) {
      const V w = load(wp, j);
      bad_w = hn::Or(bad_w, hn::Not(hn::And(hn::Ge(w, zero), hn::Le(w, vmax))));
      l = hn::Mul(l, w);
      if (grad) g = hn::Mul(g, w);
      if (want_h) h = hn::Mul(h, w);
    }
    if (op) store(l, op, j, half_o, kStream && nt_o ? &sw_o : nullptr);
    if (grad) {
      g = hn::Mul(g, gscale);
      if (gop) g = hn::Mul(g, load(gop, j));
      store(g, gp, j, half_g, kStream && nt_g ? &sw_g : nullptr);
    }
    if (want_h) {
      h = hn::Mul(h, gscale);
      if (gop) h = hn::Mul(h, load(gop, j));
      store(h, hp, j, half_h, kStream && nt_h ? &sw_h : nullptr);
    }
    return l;
  };

  // Bytes of element storage: inputs, and each output.
  constexpr size_t kIn = kHalf != 0 ? 2 : sizeof(T);
  const size_t so = half_o ? 2 : sizeof(T), sg = half_g ? 2 : sizeof(T),
               sh = half_h ? 2 : sizeof(T);
  auto at = [](const void* p, int64_t i, size_t size) {
    return static_cast<const char*>(p) + i * int64_t(size);
  };
  auto at_mut = [](void* p, int64_t i, size_t size) {
    return static_cast<char*>(p) + i * int64_t(size);
  };

  // The arrays as locals: the compiler keeps them in registers through the
  // loop instead of reloading them from c after every store.
  const T* const xx = c.x;
  const T* const xy = c.y;
  const T* const xw = c.w;
  const T* const xgo = c.gout;
  const T* const xa = c.aux;
  T* const xo = c.out;
  T* const xg = c.grad;
  T* const xh = c.hess;
  const bool any_stream = nt_o || nt_g || nt_h;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t i0 = b * detail::kBlock;
    const int64_t i1 = HWY_MIN(c.n, i0 + detail::kBlock);
    V acc[kL];
    for (size_t k = 0; k < nv; ++k) acc[k] = zero;
    if constexpr (kCheapChecks) {
      ysum = xsum = zero;
      ymin = ymax = hn::Set(d, T(0.5));
    }
    int64_t i = i0;
    auto main_loop =
        [&]<bool kStream>(std::bool_constant<kStream> st)
            HWY_ATTR LOSSLAB_LAMBDA_INLINE {
              for (; i + kL <= i1; i += kL) {
                for (size_t k = 0; k < nv; ++k) {
                  const size_t j = size_t(i) + k * N;
                  const T* ap = nullptr;
                  if constexpr (detail::has_aux<Fn>()) {
                    ap = xa + int64_t(j) % c.aux_period;
                  }
                  acc[k] = hn::Add(
                      acc[k], step(st, std::bool_constant<kCheapChecks>(), j,
                                   xx, xy, xw, xgo, xo, xg, xh, ap));
                }
              }
            };
#ifdef LOSSLAB_SANITIZER_BUILD
    // The streaming loop serves both: its stores check nt_* at run time.
    main_loop(std::true_type());
#else
    if (any_stream) {
      main_loop(std::true_type());
    } else {
      main_loop(std::false_type());
    }
#endif
    if constexpr (kCheapChecks) {
      bool suspect = !hn::AllTrue(d, hn::IsFinite(ysum));
      if constexpr (detail::target_unit_interval<Fn>()) {
        suspect = suspect || !hn::AllFalse(d, hn::Lt(ymin, zero)) ||
                  !hn::AllFalse(d, hn::Gt(ymax, hn::Set(d, T(1))));
      }
      if (check_x) suspect = suspect || !hn::AllTrue(d, hn::IsFinite(xsum));
      if (suspect) {
        for (int64_t j = i0; j < i; j += int64_t(N)) {
          exact_checks(load(xx, size_t(j)), load(xy, size_t(j)));
        }
      }
    }
    if (i < i1) {
      // Tail: run the same vectors on padded copies (in the storage format),
      // mask the padding out of the sums and copy back only the real
      // elements. Padding (x = y = w = 1) is valid for every loss, so it
      // never raises a flag.
      const size_t r = size_t(i1 - i);
      alignas(64) T xb[kL], yb[kL], wb[kL], gob[kL], ob[kL], gb[kL], hb[kL],
          ab[kL];
      if constexpr (kHalf == 0) {
        for (int64_t k = 0; k < kL; ++k) {
          xb[k] = yb[k] = wb[k] = gob[k] = ab[k] = T(1);
        }
      } else {
        const uint16_t one = kHalf == detail::kHalfBf16 ? 0x3F80u : 0x3C00u;
        for (T* buf : {xb, yb, wb, gob}) {
          uint16_t* hb16 = reinterpret_cast<uint16_t*>(buf);
          for (int64_t k = 0; k < kL; ++k) hb16[k] = one;
        }
        for (int64_t k = 0; k < kL; ++k) ab[k] = T(1);
      }
      if constexpr (detail::has_aux<Fn>()) {
        for (size_t k = 0; k < r; ++k) {
          ab[k] = c.aux[(i + int64_t(k)) % c.aux_period];
        }
      }
      std::memcpy(xb, at(c.x, i, kIn), r * kIn);
      std::memcpy(yb, at(c.y, i, kIn), r * kIn);
      if (c.w) std::memcpy(wb, at(c.w, i, kIn), r * kIn);
      if (c.gout) std::memcpy(gob, at(c.gout, i, kIn), r * kIn);
      for (size_t k = 0; k < nv; ++k) {
        const size_t off = k * N;
        const M m = hn::FirstN(d, r > off ? r - off : 0);
        const V l = step(std::false_type(), std::false_type(), off, xb, yb,
                         c.w ? wb : nullptr, c.gout ? gob : nullptr,
                         c.out ? ob : nullptr, grad ? gb : nullptr,
                         c.hess ? hb : nullptr, ab + off);
        acc[k] = hn::Add(acc[k], hn::IfThenElseZero(m, l));
      }
      if (c.out) std::memcpy(at_mut(c.out, i, so), ob, r * so);
      if (grad) std::memcpy(at_mut(c.grad, i, sg), gb, r * sg);
      if (c.hess) std::memcpy(at_mut(c.hess, i, sh), hb, r * sh);
    }
    alignas(64) T lanes[kL];
    for (size_t k = 0; k < nv; ++k) hn::Store(acc[k], d, lanes + k * N);
    partials[b] = detail::combine_lanes(lanes);
  }
  if (any_stream) {
    sw_o.Finish();
    sw_g.Finish();
    sw_h.Finish();
    hwy::FlushStream();
  }
  uint32_t flags = 0;
  if (!hn::AllFalse(d, bad_y)) flags |= detail::kFlagBadTarget;
  if (!hn::AllFalse(d, bad_w)) flags |= detail::kFlagBadWeight;
  if (!hn::AllFalse(d, bad_x)) flags |= detail::kFlagBadInput;
  if (!hn::AllFalse(d, bad_dom)) flags |= detail::kFlagDomain;
  if (!hn::AllFalse(d, bad_ty)) flags |= detail::kFlagTargetDomain;
  return flags;
}

template <class D, class Fn>
HWY_INLINE uint32_t RunElementwise(D d, const Fn& fn,
                                   const detail::ElemCall<hn::TFromD<D>>& c,
                                   int64_t b0, int64_t b1, double* partials) {
  // The driver for this call's storage; sanitizer builds have one for calls
  // with and without a gradient (see LOSSLAB_SANITIZER_BUILD).
  auto run = [&]<int kHalf>(std::integral_constant<int, kHalf>) HWY_ATTR {
#ifdef LOSSLAB_SANITIZER_BUILD
    return RunElementwise<D, Fn, true, kHalf>(d, fn, c, b0, b1, partials);
#else
    return c.grad
               ? RunElementwise<D, Fn, true, kHalf>(d, fn, c, b0, b1, partials)
               : RunElementwise<D, Fn, false, kHalf>(d, fn, c, b0, b1,
                                                     partials);
#endif
  };
  if constexpr (sizeof(hn::TFromD<D>) == 4) {
    if (c.half_in == detail::kHalfBf16) {
      return run(std::integral_constant<int, detail::kHalfBf16>());
    }
    if (c.half_in == detail::kHalfF16) {
      return run(std::integral_constant<int, detail::kHalfF16>());
    }
  }
  return run(std::integral_constant<int, 0>());
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
