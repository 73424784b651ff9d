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
  // Classification (classification-inl.h).
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
};

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

// Runs blocks [b0, b1) of `call`; writes partials[b] and returns flags.
// Defined per SIMD target (elementwise_kernels.cc) and as the scalar twin.
uint32_t elementwise_blocks_f32(const ElemCall<float>& call, int64_t b0,
                                int64_t b1, double* partials);
uint32_t elementwise_blocks_f64(const ElemCall<double>& call, int64_t b0,
                                int64_t b1, double* partials);

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_ELEMENTWISE_H_
