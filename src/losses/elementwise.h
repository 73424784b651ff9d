// Internal: the call record shared by every elementwise loss kernel, and the
// fixed reduction layout that makes results independent of the SIMD width and
// of the thread count.
//
// Layout. Elements are cut into blocks of kBlock; block b covers
// [b*kBlock, min(n, (b+1)*kBlock)). Inside a block, element i is added to
// virtual lane (i mod 16) in the input dtype; the 16 lanes are then combined
// by a fixed tree and the block sum is widened to double. Block sums are
// combined by pairwise_sum. A SIMD kernel with N lanes (N divides 16) keeps
// 16/N accumulator vectors, so the scalar twin and every target add the same
// numbers in the same order.
#ifndef LOSSLAB_SRC_LOSSES_ELEMENTWISE_H_
#define LOSSLAB_SRC_LOSSES_ELEMENTWISE_H_

#include <cstdint>

namespace losslab::detail {

inline constexpr int64_t kBlock = 2048;
inline constexpr int kVirtualLanes = 16;
static_assert(kBlock % kVirtualLanes == 0);

// Which elementwise loss a kernel call computes.
enum class ElemLossId : int32_t {
  kMse,
  kL1,
  kHuber,
  kSmoothL1,
  kQuantile,
  kLogCosh,
  kPseudoHuber,
  kPoissonNll,
  // Classification (classification-inl.h); these stay last, from kBceLogits
  // on (is_classification below).
  kBceLogits,       // binary_cross_entropy_with_logits without pos_weight
  kBceLogitsPosW,   // ... with pos_weight (read through ElemCall::aux)
  kBce,             // binary_cross_entropy on probabilities
  kHinge,           // hinge_loss, labels {-1, 1} (0 read as -1); p0 = margin
  kSquaredHinge,    // squared_hinge_loss; p0 = margin
  kKlDiv,           // kl_div on log-probabilities, probability target
  kKlDivLogTarget,  // kl_div(log_target=True)
  kKlProb,          // kl_divergence term p log(p / q): input q, target p
  kSigmoidFocal,    // sigmoid_focal_loss; p0 = alpha (< 0: none), p1 = gamma
};

// The classification losses (from kBceLogits on), whose SIMD kernels are
// compiled in classification_kernels.cc.
constexpr bool is_classification(ElemLossId id) {
  return int(id) >= int(ElemLossId::kBceLogits);
}

// Bits of ElemCall::opts.
enum : uint32_t {
  kOptCheckInput = 1u << 0,  // nan_policy="raise": flag non-finite input
  kOptLogInput = 1u << 1,    // poisson_nll_loss(log_input=True)
  kOptFull = 1u << 2,        // poisson_nll_loss(full=True)
};

// Bits a kernel returns: what it saw that the op layer must report.
enum : uint32_t {
  kFlagBadTarget = 1u << 0,     // NaN/Inf target
  kFlagBadWeight = 1u << 1,     // NaN/Inf/negative weight
  kFlagBadInput = 1u << 2,      // non-finite input under nan_policy="raise"
  kFlagDomain = 1u << 3,        // input outside the loss's domain
  kFlagTargetDomain = 1u << 4,  // finite target outside the loss's range
};

// A loss functor may declare
//   kHasAux:          it takes a per-element parameter a (pos_weight), read
//                     as ElemCall::aux[i % aux_period];
//   kHasTargetDomain: it flags targets outside its range (e.g. [0, 1]).
//   kTargetNegInfOk:  a -inf target is valid data (a log-probability of 0),
//                     not a NaN/Inf data bug.
// Functors that do not declare them get false.
template <class Fn>
constexpr bool has_aux() {
  if constexpr (requires { Fn::kHasAux; }) {
    return Fn::kHasAux;
  } else {
    return false;
  }
}
template <class Fn>
constexpr bool has_target_domain() {
  if constexpr (requires { Fn::kHasTargetDomain; }) {
    return Fn::kHasTargetDomain;
  } else {
    return false;
  }
}

// kTargetUnitInterval: its TargetBad is exactly "y outside [0, 1]", which
// the SIMD driver then checks with a block minimum and maximum instead of
// compares (see RunElementwise).
template <class Fn>
constexpr bool target_unit_interval() {
  if constexpr (requires { Fn::kTargetUnitInterval; }) {
    return Fn::kTargetUnitInterval;
  } else {
    return false;
  }
}

template <class Fn>
constexpr bool target_neg_inf_ok() {
  if constexpr (requires { Fn::kTargetNegInfOk; }) {
    return Fn::kTargetNegInfOk;
  } else {
    return false;
  }
}

template <class T>
struct ElemCall {
  ElemLossId loss;
  const T* x;     // input (prediction)
  const T* y;     // target
  const T* w;     // per-element weight, or null
  const T* gout;  // per-element upstream gradient, or null
  T* out;         // per-element (weighted) loss, or null
  T* grad;        // d(reduced loss)/d input, or null
  T* hess;        // diagonal of the Hessian, or null
  int64_t n;
  T gscale;       // 1/N, 1/sum(w), 1 ... times the scalar upstream gradient
  double p0, p1;  // loss parameters (delta, beta, quantile, eps)
  uint32_t opts;
  // Per-element parameter with period aux_period (pos_weight, one value per
  // class of the last dimension): element i uses aux[i % aux_period]. The
  // buffer holds aux_period + kVirtualLanes values (the period repeated), so
  // a vector starting at any phase reads its lanes with one unaligned load.
  const T* aux = nullptr;
  int64_t aux_period = 0;
  // float16 / bfloat16 storage, read and written by the SIMD drivers only
  // (float32 calls; the scalar reference widens blocks instead, see
  // elementwise_op.cc): half_in = kHalfBf16 or kHalfF16 means x, y, w and
  // gout point at uint16_t values of that format, converted in registers;
  // bits kHalfOut* of half_out mark out / grad / hess as uint16_t outputs of
  // the same format (rounded to nearest even), the others being float32.
  uint8_t half_in = 0;
  uint8_t half_out = 0;
};

inline constexpr uint8_t kHalfBf16 = 1;
inline constexpr uint8_t kHalfF16 = 2;
inline constexpr uint8_t kHalfOutOut = 1;
inline constexpr uint8_t kHalfOutGrad = 2;
inline constexpr uint8_t kHalfOutHess = 4;

// Sum of the 16 virtual lanes by a fixed tree, widened to double.
template <class T>
inline double combine_lanes(const T* lanes) {
  T a[8], b[4];
  for (int j = 0; j < 8; ++j) a[j] = lanes[j] + lanes[j + 8];
  for (int j = 0; j < 4; ++j) b[j] = a[j] + a[j + 4];
  const T c0 = b[0] + b[2];
  const T c1 = b[1] + b[3];
  return static_cast<double>(c0 + c1);
}

// ---------------------------------------------------------------------------
// float16 / bfloat16 storage. Half inputs are widened to float32 block by
// block and run through the float32 kernels (SIMD or scalar twin): every
// arithmetic operation of a loss happens in float32, with the float32 lane
// layout above. The conversions below are exact (half -> float32) or
// correctly rounded to nearest-even (float32 -> half, as torch's .to()), and
// are pure integer/IEEE bit manipulation, so they give the same bits on every
// SIMD target and in the scalar path; the compiler vectorizes the loops.

inline uint32_t half_bits_of(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  return u;
}
inline float half_float_of(uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

// bfloat16 is the top 16 bits of a float32: widening is a shift.
inline float bf16_to_f32(uint16_t h) {
  return half_float_of(uint32_t(h) << 16);
}

// Round to nearest even on the 16 dropped bits; NaN stays a quiet NaN with
// its sign (adding the rounding bias could turn a NaN payload into Inf).
inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = half_bits_of(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
    return uint16_t((u >> 16) | 0x0040u);
  }
  const uint32_t lsb = (u >> 16) & 1u;
  return uint16_t((u + 0x7FFFu + lsb) >> 16);
}

// IEEE binary16 -> float32, exact (subnormals, Inf and NaN included).
// Normal numbers: re-bias the exponent by 2^-112 scaling; subnormals: build
// 0.5 + m * 2^-24 ... as a float and subtract the 0.5 (both exact).
inline float f16_to_f32(uint16_t h) {
  const uint32_t w = uint32_t(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const float normalized =
      half_float_of((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float denormalized = half_float_of((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t r = two_w < (1u << 27) ? half_bits_of(denormalized)
                                        : half_bits_of(normalized);
  return half_float_of(sign | r);
}

// float32 -> IEEE binary16, round to nearest even; overflow gives Inf, NaN a
// quiet NaN. The rounding is done by one float32 addition of a power of two
// aligned with the binary16 LSB (the FP16 library's method), which needs the
// default rounding mode and no flush-to-zero (losslab never changes either).
inline uint16_t f32_to_f16(float f) {
  float base = (__builtin_fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t w = half_bits_of(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = half_float_of((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = half_bits_of(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return uint16_t((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// Conversions of n contiguous values (bf16: true for bfloat16, false for
// float16), compiled per SIMD target (elementwise_kernels.cc: the loops above,
// vectorized by the compiler for the target's ISA) with these same functions
// as the scalar path; integer/IEEE-exact, so every target gives the same bits.
void half_widen(bool bf16, const uint16_t* src, float* dst, int64_t n);
void half_narrow(bool bf16, const float* src, uint16_t* dst, int64_t n);

// log1p(e) for e in [0, 1] through the kernels' own Log1pUnit (math-inl.h)
// on the current SIMD target, or log1p_unit under the scalar reference: for
// the accuracy tests of that polynomial (out[i] = log1p(e[i])).
void log1p_unit_f32(const float* e, float* out, int64_t n);

// exp(x) for x <= 0 or NaN through the kernels' ExpNonPos (math-inl.h) on
// the current SIMD target, or std::exp under the scalar reference: for the
// accuracy tests of the vector exp (out[i] = exp(x[i])).
void exp_nonpos_f32(const float* x, float* out, int64_t n);

// exp(x) for every float32 x through the kernels' ExpIeee (regression-inl.h:
// +inf above log(max), 0 far below; a NaN lane is left to the caller) on the
// current SIMD target, or std::exp under the scalar reference: for its
// accuracy test.
void exp_ieee_f32(const float* x, float* out, int64_t n);

// 1 / a for a in [1, 2] through the kernels' Reciprocal1To2 (math-inl.h) on
// the current SIMD target, or the division under the scalar reference: for
// the accuracy test of the refined VRCP14PS.
void reciprocal_1to2_f32(const float* a, float* out, int64_t n);

// Runs blocks [b0, b1) of `call`; writes partials[b] and returns flags.
// Defined per SIMD target (elementwise_kernels.cc) and as the scalar twin.
uint32_t elementwise_blocks_f32(const ElemCall<float>& call, int64_t b0,
                                int64_t b1, double* partials);
uint32_t elementwise_blocks_f64(const ElemCall<double>& call, int64_t b0,
                                int64_t b1, double* partials);

// The same for the classification losses on the current SIMD target
// (classification_kernels.cc); called by the two above.
uint32_t classification_blocks_f32(const ElemCall<float>& call, int64_t b0,
                                   int64_t b1, double* partials);
uint32_t classification_blocks_f64(const ElemCall<double>& call, int64_t b0,
                                   int64_t b1, double* partials);

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_ELEMENTWISE_H_
