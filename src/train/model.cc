// The training engine's layers: Dense through blocked single-threaded
// OpenBLAS GEMMs, activations and dropout as plain loops. See
// include/losslab/train/model.h.
#include "losslab/train/model.h"

#include <cblas.h>

#include <algorithm>
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

}  // namespace

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
  // Training keeps the input of every layer for backward(); evaluation
  // ping-pongs between two buffers.
  std::vector<float> ping, pong;
  if (training) {
    acts_.resize(L);
    masks_.assign(L, {});
    acts_[0].assign(x, x + n * in_features_);
    batch_ = 0;
  }
  const float* cur = training ? acts_[0].data() : x;
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
        const float* w = params_.data() + offsets_[i];
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
  std::vector<float> g(grad_y, grad_y + n * out_features_), gin;
  for (size_t ii = L; ii-- > 0;) {
    const LayerSpec& l = layers_[ii];
    const float* x = acts_[ii].data();
    const bool need_gin = ii > 0 || grad_x != nullptr;
    gin.resize(static_cast<size_t>(n * l.in));
    switch (l.kind) {
      case LayerKind::kDense: {
        const float* w = params_.data() + offsets_[ii];
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
