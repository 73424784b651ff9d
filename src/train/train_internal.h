// Internal helpers of the training engine shared by src/train/*.cc.
#ifndef LOSSLAB_SRC_TRAIN_TRAIN_INTERNAL_H_
#define LOSSLAB_SRC_TRAIN_TRAIN_INTERNAL_H_

#include <bit>
#include <cmath>
#include <cstdint>

#include "losslab/train/model.h"

namespace losslab::train::detail {

// SplitMix64 (Steele, Lea & Flood 2014): a bijective 64-bit mixer, used as a
// counter-based generator for dropout masks (portable and thread-free).
inline uint64_t splitmix64(uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// x rounded to bf16 (round-to-nearest-even), as a float: add 0x7fff plus
// the lowest kept bit to the bits and truncate the low 16. A carry into the
// exponent is the correct rounding (past bf16's largest finite value: inf).
// NaN is returned as is. Branch-free, so loops over it vectorise.
inline float round_bf16(float x) noexcept {
  uint32_t u = std::bit_cast<uint32_t>(x);
  u += 0x7fffu + ((u >> 16) & 1u);
  const float r = std::bit_cast<float>(u & 0xffff0000u);
  return x != x ? x : r;
}

// x rounded to IEEE fp16 (round-to-nearest-even), as a float:
//   normal range |x| >= 2^-14: keep 10 of the 23 fraction bits (add 0xfff
//     plus the lowest kept bit, truncate);
//   subnormal range |x| < 2^-14: a multiple of 2^-24, by (x + 0.75) - 0.75:
//     0.75's ulp is 2^-24, so the float32 addition rounds x to that grid
//     with ties to even (0.75 / 2^-24 is even, so the tie rule is the same
//     for negative x); the sign is put back (so -tiny gives -0);
//   |x| >= 65520 -> inf: 65504 is the largest finite fp16 and 65520 the
//     tie to 2^16, which rounds to the even side, i.e. overflows.
// NaN is returned as is. Branch-free (selects), so loops vectorise.
inline float round_fp16(float x) noexcept {
  uint32_t u = std::bit_cast<uint32_t>(x);
  u += 0xfffu + ((u >> 13) & 1u);
  const float normal = std::bit_cast<float>(u & 0xffffe000u);
  const float sub = std::copysign((x + 0.75f) - 0.75f, x);
  const float a = std::fabs(x);
  float r = a < 0x1p-14f ? sub : normal;
  r = a >= 65520.0f ? std::copysign(HUGE_VALF, x) : r;
  return x != x ? x : r;
}

// y = f(x) elementwise:
//   ReLU max(x, 0); LeakyReLU x > 0 ? x : slope x; Tanh tanh x;
//   Sigmoid 1 / (1 + e^-x), written as e^x / (1 + e^x) for x < 0 so that
//   neither branch overflows.
inline void activation_forward(LayerKind kind, float slope, const float* x,
                               float* y, int64_t n) noexcept {
  switch (kind) {
    case LayerKind::kReLU:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case LayerKind::kLeakyReLU:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
      break;
    case LayerKind::kTanh:
      for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      break;
    case LayerKind::kSigmoid:
      for (int64_t i = 0; i < n; ++i) {
        if (x[i] >= 0.0f) {
          y[i] = 1.0f / (1.0f + std::exp(-x[i]));
        } else {
          const float e = std::exp(x[i]);
          y[i] = e / (1.0f + e);
        }
      }
      break;
    default:
      break;
  }
}

// dL/dx = dL/dy * f'(x) with x the saved layer input:
//   ReLU [x > 0] (0 at 0, as torch); LeakyReLU 1 or slope (slope at 0);
//   Tanh 1 - tanh(x)^2; Sigmoid s (1 - s).
inline void activation_backward(LayerKind kind, float slope, const float* x,
                                const float* gy, float* gx,
                                int64_t n) noexcept {
  switch (kind) {
    case LayerKind::kReLU:
      for (int64_t i = 0; i < n; ++i) gx[i] = x[i] > 0.0f ? gy[i] : 0.0f;
      break;
    case LayerKind::kLeakyReLU:
      for (int64_t i = 0; i < n; ++i) {
        gx[i] = x[i] > 0.0f ? gy[i] : gy[i] * slope;
      }
      break;
    case LayerKind::kTanh:
      for (int64_t i = 0; i < n; ++i) {
        const float t = std::tanh(x[i]);
        gx[i] = gy[i] * (1.0f - t * t);
      }
      break;
    case LayerKind::kSigmoid:
      for (int64_t i = 0; i < n; ++i) {
        float s;
        if (x[i] >= 0.0f) {
          s = 1.0f / (1.0f + std::exp(-x[i]));
        } else {
          const float e = std::exp(x[i]);
          s = e / (1.0f + e);
        }
        gx[i] = gy[i] * s * (1.0f - s);
      }
      break;
    default:
      break;
  }
}

}  // namespace losslab::train::detail

#endif  // LOSSLAB_SRC_TRAIN_TRAIN_INTERNAL_H_
