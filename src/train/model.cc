// The training engine's layers: Dense through blocked single-threaded
// OpenBLAS GEMMs, activations and dropout as plain loops. See
// include/losslab/train/model.h.
#include "losslab/train/model.h"

#include <cblas.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <string>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "src/train/train_internal.h"

namespace losslab::train {
namespace {

constexpr const char* kFn = "Sequential";
// Fixed GEMM blocks: batch rows per task (forward, dL/dx) and output
// features per task (dL/dW). They never depend on the thread count.
constexpr int64_t kRowBlock = 64;
constexpr int64_t kFeatureBlock = 32;

// Runs fn(begin, end) over [0, n) cut into fixed blocks of `block`.
template <class Fn>
void train_for_blocks(int64_t n, int64_t block, const Fn& fn) {
  const int64_t nb = (n + block - 1) / block;
  parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      fn(b * block, std::min(n, (b + 1) * block));
    }
  });
}

// C = op(A) op(B) + beta C, row-major, float32.
void train_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                 const float* a, int64_t lda, const float* b, int64_t ldb,
                 float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0f, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
              static_cast<int>(ldc));
}

// Uniform [0, 1) with 53 bits from a mt19937_64 draw (portable, unlike
// std::uniform_real_distribution whose algorithm is unspecified).
double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Rounds p[0, n) to the compute precision in place (no-op for kFp32).
void round_buffer(float* p, int64_t n, Precision prec) noexcept {
  // One branch-free loop per precision, so the compiler vectorises it.
  if (prec == Precision::kFp16) {
    for (int64_t i = 0; i < n; ++i) p[i] = detail::round_fp16(p[i]);
  } else if (prec == Precision::kBf16) {
    for (int64_t i = 0; i < n; ++i) p[i] = detail::round_bf16(p[i]);
  }
}

// round_buffer for a gradient tensor, counting the entries that were
// nonzero in float32 and those of them the rounding flushed to zero.
void round_gradient(float* p, int64_t n, Precision prec, uint64_t* nonzero,
                    uint64_t* underflow) noexcept {
  if (prec == Precision::kFp32) return;
  uint64_t nz = 0, uf = 0;
  auto loop = [&](auto round) {
    for (int64_t i = 0; i < n; ++i) {
      const float r = round(p[i]);
      nz += p[i] != 0.0f;
      uf += p[i] != 0.0f && r == 0.0f;
      p[i] = r;
    }
  };
  if (prec == Precision::kFp16) {
    loop(detail::round_fp16);
  } else {
    loop(detail::round_bf16);
  }
  *nonzero += nz;
  *underflow += uf;
}

}  // namespace

std::string_view precision_name(Precision p) noexcept {
  switch (p) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kFp16:
      return "fp16";
  }
  return "?";
}

float round_to_precision(float x, Precision p) noexcept {
  switch (p) {
    case Precision::kFp32:
      return x;
    case Precision::kBf16:
      return detail::round_bf16(x);
    case Precision::kFp16:
      return detail::round_fp16(x);
  }
  return x;
}

std::string_view layer_name(LayerKind kind) noexcept {
  switch (kind) {
    case LayerKind::kDense:
      return "Dense";
    case LayerKind::kReLU:
      return "ReLU";
    case LayerKind::kLeakyReLU:
      return "LeakyReLU";
    case LayerKind::kTanh:
      return "Tanh";
    case LayerKind::kSigmoid:
      return "Sigmoid";
    case LayerKind::kDropout:
      return "Dropout";
  }
  return "?";
}

Sequential::Sequential(std::vector<LayerSpec> layers, uint64_t seed, Init init)
    : layers_(std::move(layers)), dropout_seed_(seed) {
  if (layers_.empty()) {
    throw_value_error(std::string(kFn) +
                      ": layers is empty; pass at least one Dense layer");
  }
  int64_t width = -1, total = 0;
  offsets_.assign(layers_.size(), -1);
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerSpec& l = layers_[i];
    const std::string where = std::string(kFn) + ": layer " +
                              std::to_string(i) + " (" +
                              std::string(layer_name(l.kind)) + ")";
    if (l.kind == LayerKind::kDense) {
      if (l.in < 1 || l.out < 1) {
        throw_value_error(where + " has in=" + std::to_string(l.in) + ", out=" +
                          std::to_string(l.out) + "; both must be >= 1");
      }
      if (width >= 0 && l.in != width) {
        throw_value_error(where + " expects " + std::to_string(l.in) +
                          " inputs but the layer before it gives " +
                          std::to_string(width) +
                          "; make in equal the previous width");
      }
      if (width < 0) in_features_ = l.in;
      offsets_[i] = total;
      total += l.out * (l.in + 1);
      width = l.out;
    } else {
      if (width < 0) {
        throw_value_error(where +
                          " comes before any Dense layer; start the model "
                          "with a Dense layer");
      }
      l.in = l.out = width;
      if (l.kind == LayerKind::kDropout && !(l.param >= 0.0 && l.param < 1.0)) {
        throw_value_error(where + " has p=" + std::to_string(l.param) +
                          "; the drop probability must be in [0, 1)");
      }
      if (l.kind == LayerKind::kLeakyReLU && !std::isfinite(l.param)) {
        throw_value_error(where + " has a non-finite negative_slope");
      }
    }
  }
  out_features_ = width;
  params_.assign(static_cast<size_t>(total), 0.0f);
  grads_.assign(static_cast<size_t>(total), 0.0f);
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& l = layers_[i];
    if (l.kind != LayerKind::kDense) continue;
    Init how = init;
    if (how == Init::kAuto) {
      const bool relu_next = i + 1 < layers_.size() &&
                             (layers_[i + 1].kind == LayerKind::kReLU ||
                              layers_[i + 1].kind == LayerKind::kLeakyReLU);
      how = relu_next ? Init::kHeUniform : Init::kXavierUniform;
    }
    const double a = how == Init::kHeUniform
                         ? std::sqrt(6.0 / static_cast<double>(l.in))
                         : std::sqrt(6.0 / static_cast<double>(l.in + l.out));
    float* w = params_.data() + offsets_[i];
    for (int64_t j = 0; j < l.out * l.in; ++j) {
      w[j] = static_cast<float>(a * (2.0 * uniform01(rng) - 1.0));
    }
  }
}

int64_t Sequential::parameter_offset(size_t layer) const {
  if (layer >= layers_.size()) {
    throw_value_error(std::string(kFn) + ": layer index " +
                      std::to_string(layer) + " out of range; the model has " +
                      std::to_string(layers_.size()) + " layers");
  }
  return offsets_[layer];
}

void Sequential::forward(const float* x, int64_t n, float* y, bool training) {
  if (layers_.empty()) {
    throw_value_error(std::string(kFn) +
                      ".forward: the model has no layers; build it first");
  }
  if (n < 1) {
    throw_value_error(std::string(kFn) + ".forward: batch of " +
                      std::to_string(n) + " rows; pass at least one row");
  }
  const size_t L = layers_.size();
  const bool half = precision_ != Precision::kFp32;
  // Half precision: this pass's weights are the master weights rounded. A
  // training forward keeps them in half_params_ for backward(); an
  // evaluation forward rounds into a local buffer and writes no member, so
  // concurrent evaluation forwards on one model (predict() from several
  // threads; the bindings release the GIL) do not race.
  const float* params = params_.data();
  std::vector<float> eval_params;
  if (half) {
    std::vector<float>& rounded = training ? half_params_ : eval_params;
    rounded.assign(params_.begin(), params_.end());
    round_buffer(rounded.data(), num_parameters(), precision_);
    params = rounded.data();
  } else if (training) {
    half_params_.clear();
  }
  // Training keeps the input of every layer for backward(); evaluation
  // ping-pongs between two buffers.
  std::vector<float> ping, pong, xin;
  if (training) {
    acts_.resize(L);
    masks_.assign(L, {});
    acts_[0].assign(x, x + n * in_features_);
    round_buffer(acts_[0].data(), n * in_features_, precision_);
    batch_ = 0;
  } else if (half) {
    xin.assign(x, x + n * in_features_);
    round_buffer(xin.data(), n * in_features_, precision_);
  }
  const float* cur = training ? acts_[0].data() : half ? xin.data() : x;
  for (size_t i = 0; i < L; ++i) {
    const LayerSpec& l = layers_[i];
    float* out;
    if (i + 1 == L) {
      out = y;
    } else if (training) {
      acts_[i + 1].resize(static_cast<size_t>(n * l.out));
      out = acts_[i + 1].data();
    } else {
      std::vector<float>& next = cur == ping.data() ? pong : ping;
      next.resize(static_cast<size_t>(n * l.out));
      out = next.data();
    }
    switch (l.kind) {
      case LayerKind::kDense: {
        const float* w = params + offsets_[i];
        const float* b = w + l.out * l.in;
        train_for_blocks(n, kRowBlock, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            std::copy(b, b + l.out, out + r * l.out);
          }
          train_sgemm(false, true, r1 - r0, l.out, l.in, cur + r0 * l.in, l.in,
                      w, l.in, 1.0f, out + r0 * l.out, l.out);
        });
        break;
      }
      case LayerKind::kReLU:
      case LayerKind::kLeakyReLU:
      case LayerKind::kTanh:
      case LayerKind::kSigmoid:
        detail::activation_forward(l.kind, static_cast<float>(l.param), cur,
                                   out, n * l.in);
        break;
      case LayerKind::kDropout: {
        const int64_t m = n * l.in;
        if (!training || l.param == 0.0) {
          std::copy(cur, cur + m, out);
          break;
        }
        masks_[i].resize(static_cast<size_t>(m));
        const uint64_t key =
            dropout_seed_ ^
            detail::splitmix64(++dropout_counter_ + 0x632be59bd9b4e019ULL * i);
        const float scale = static_cast<float>(1.0 / (1.0 - l.param));
        for (int64_t j = 0; j < m; ++j) {
          const double u =
              static_cast<double>(detail::splitmix64(key + j) >> 11) *
              0x1.0p-53;
          const uint8_t keep = u >= l.param ? 1 : 0;
          masks_[i][j] = keep;
          out[j] = keep ? cur[j] * scale : 0.0f;
        }
        break;
      }
    }
    // Every activation is stored in the compute dtype.
    round_buffer(out, n * l.out, precision_);
    cur = out;
  }
  if (training) batch_ = n;
}

void Sequential::backward(const float* grad_y, float* grad_x) {
  if (batch_ < 1 || acts_.size() != layers_.size()) {
    throw_value_error(std::string(kFn) +
                      ".backward: no training forward to back-propagate; "
                      "call forward(..., training=true) first");
  }
  const int64_t n = batch_;
  const size_t L = layers_.size();
  const bool half = precision_ != Precision::kFp32;
  if (half && half_params_.size() != params_.size()) {
    throw_value_error(std::string(kFn) +
                      ".backward: the precision changed since the training "
                      "forward; run forward(..., training=true) again");
  }
  const float* params = half ? half_params_.data() : params_.data();
  std::vector<float> g(grad_y, grad_y + n * out_features_), gin;
  // dL/doutput enters the backward pass in the compute dtype.
  round_gradient(g.data(), n * out_features_, precision_, &grad_nonzero_,
                 &grad_underflow_);
  for (size_t ii = L; ii-- > 0;) {
    const LayerSpec& l = layers_[ii];
    const float* x = acts_[ii].data();
    const bool need_gin = ii > 0 || grad_x != nullptr;
    gin.resize(static_cast<size_t>(n * l.in));
    switch (l.kind) {
      case LayerKind::kDense: {
        const float* w = params + offsets_[ii];
        float* gw = grads_.data() + offsets_[ii];
        float* gb = gw + l.out * l.in;
        // dL/dW = g^T x over the whole batch, blocked by output feature;
        // dL/db[o] = sum_r g[r, o] in a fixed (sequential) order.
        train_for_blocks(l.out, kFeatureBlock, [&](int64_t o0, int64_t o1) {
          train_sgemm(true, false, o1 - o0, l.in, n, g.data() + o0, l.out, x,
                      l.in, 0.0f, gw + o0 * l.in, l.in);
          for (int64_t o = o0; o < o1; ++o) {
            double s = 0.0;
            for (int64_t r = 0; r < n; ++r) s += g[r * l.out + o];
            gb[o] = static_cast<float>(s);
          }
        });
        round_gradient(gw, l.out * (l.in + 1), precision_, &grad_nonzero_,
                       &grad_underflow_);
        if (need_gin) {
          // dL/dx = g W.
          train_for_blocks(n, kRowBlock, [&](int64_t r0, int64_t r1) {
            train_sgemm(false, false, r1 - r0, l.in, l.out,
                        g.data() + r0 * l.out, l.out, w, l.in, 0.0f,
                        gin.data() + r0 * l.in, l.in);
          });
        }
        break;
      }
      case LayerKind::kReLU:
      case LayerKind::kLeakyReLU:
      case LayerKind::kTanh:
      case LayerKind::kSigmoid:
        detail::activation_backward(l.kind, static_cast<float>(l.param), x,
                                    g.data(), gin.data(), n * l.in);
        break;
      case LayerKind::kDropout: {
        const int64_t m = n * l.in;
        if (masks_[ii].empty()) {
          std::copy(g.begin(), g.end(), gin.begin());
          break;
        }
        const float scale = static_cast<float>(1.0 / (1.0 - l.param));
        for (int64_t j = 0; j < m; ++j) {
          gin[j] = masks_[ii][j] ? g[j] * scale : 0.0f;
        }
        break;
      }
    }
    if (need_gin) {
      round_gradient(gin.data(), n * l.in, precision_, &grad_nonzero_,
                     &grad_underflow_);
    }
    g.swap(gin);
  }
  if (grad_x != nullptr) std::copy(g.begin(), g.end(), grad_x);
}

Sequential mlp(const MlpOptions& o) {
  LayerKind act;
  if (o.activation == "relu") {
    act = LayerKind::kReLU;
  } else if (o.activation == "leaky_relu") {
    act = LayerKind::kLeakyReLU;
  } else if (o.activation == "tanh") {
    act = LayerKind::kTanh;
  } else if (o.activation == "sigmoid") {
    act = LayerKind::kSigmoid;
  } else {
    throw_value_error("mlp: activation '" + o.activation +
                      "' is not known; use 'relu', 'leaky_relu', 'tanh' or "
                      "'sigmoid'");
  }
  if (o.in_features < 1 || o.out_features < 1) {
    throw_value_error("mlp: in_features=" + std::to_string(o.in_features) +
                      " and out_features=" + std::to_string(o.out_features) +
                      " must both be >= 1");
  }
  std::vector<LayerSpec> layers;
  int64_t width = o.in_features;
  for (size_t i = 0; i < o.hidden.size(); ++i) {
    if (o.hidden[i] < 1) {
      throw_value_error("mlp: hidden[" + std::to_string(i) +
                        "] = " + std::to_string(o.hidden[i]) +
                        "; every hidden width must be >= 1");
    }
    layers.push_back({LayerKind::kDense, width, o.hidden[i], 0.0});
    layers.push_back({act, 0, 0, o.negative_slope});
    if (o.dropout > 0.0)
      layers.push_back({LayerKind::kDropout, 0, 0, o.dropout});
    width = o.hidden[i];
  }
  layers.push_back({LayerKind::kDense, width, o.out_features, 0.0});
  return Sequential(std::move(layers), o.seed, o.init);
}

}  // namespace losslab::train
