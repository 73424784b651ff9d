// losslab/train/model.h: layers and the Sequential model of the training
// engine.
//
// Every parameter of a model lives in one flat float32 buffer (and its
// gradient in a second one of the same size), so an optimizer, a clip or a
// checkpoint is a loop over one array. A Dense layer stores its weight as
// (out, in) row-major followed by its bias (out,), the layout of
// torch.nn.Linear, so weights can be copied to and from PyTorch.
//
//   losslab::train::Sequential model = losslab::train::mlp(
//       {.in_features = 64, .hidden = {32}, .out_features = 10, .seed = 0});
//   model.forward(x.data(), n, y.data(), /*training=*/true);
//   model.backward(dy.data());          // writes model.gradients()
//
// Matrix products run through single-threaded OpenBLAS on fixed blocks of
// rows (or output features) that losslab's pool distributes, so every output
// and gradient is bitwise identical at any thread count (docs/training.md).
#ifndef LOSSLAB_TRAIN_MODEL_H_
#define LOSSLAB_TRAIN_MODEL_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace losslab::train {

enum class LayerKind : uint8_t {
  kDense,      // y = x W^T + b
  kReLU,       // y = max(x, 0); dy/dx = [x > 0]
  kLeakyReLU,  // y = x for x > 0, slope x otherwise
  kTanh,       // y = tanh x; dy/dx = 1 - y^2
  kSigmoid,    // y = 1 / (1 + e^-x); dy/dx = y (1 - y)
  kDropout,    // training: y = x m / (1 - p), m ~ Bernoulli(1 - p); eval: y = x
};

// One layer. Dense uses in/out; LeakyReLU's `param` is the negative slope;
// Dropout's `param` is the drop probability p in [0, 1).
struct LayerSpec {
  LayerKind kind = LayerKind::kDense;
  int64_t in = 0;
  int64_t out = 0;
  double param = 0.0;
};

std::string_view layer_name(LayerKind kind) noexcept;

// Compute precision of forward / backward (docs/training.md, "Mixed
// precision"). The master parameters always stay float32; with kBf16 or
// kFp16 the engine emulates a half-precision pass on the CPU: the weights
// are rounded to the compute dtype at every forward, and every activation
// (the input, each layer's output) and every gradient tensor (dL/doutput,
// each back-propagated dL/dactivation, dL/dW and dL/db) is rounded to it,
// round-to-nearest-even (fp16: subnormals kept, |x| >= 65520 -> inf; bf16:
// float32's range, 8 bits of significand). The products inside a GEMM and
// the bias sums accumulate in float32, as tensor cores do.
enum class Precision : uint8_t { kFp32, kBf16, kFp16 };

std::string_view precision_name(Precision p) noexcept;

// x rounded to the precision's grid, returned as float (identity for
// kFp32; NaN stays NaN, infinities stay).
float round_to_precision(float x, Precision p) noexcept;

// Weight initialisation of Dense layers (biases start at 0):
//   kXavierUniform: U(-a, a), a = sqrt(6 / (in + out))  (Glorot & Bengio 2010)
//   kHeUniform:     U(-a, a), a = sqrt(6 / in)          (He et al. 2015)
//   kAuto: He for a Dense followed by ReLU / LeakyReLU, Xavier otherwise.
// The uniform draws come from std::mt19937_64 (whose output the C++ standard
// fixes) mapped to [0, 1) with 53 bits, so weights are the same everywhere.
enum class Init : uint8_t { kAuto, kXavierUniform, kHeUniform };

class Sequential {
 public:
  Sequential() = default;
  // Validates the chain (each Dense's `in` equals the width before it) and
  // initialises the parameters from `seed`. Throws losslab::Error.
  Sequential(std::vector<LayerSpec> layers, uint64_t seed = 0,
             Init init = Init::kAuto);

  const std::vector<LayerSpec>& layers() const noexcept { return layers_; }
  int64_t in_features() const noexcept { return in_features_; }
  int64_t out_features() const noexcept { return out_features_; }
  int64_t num_parameters() const noexcept {
    return static_cast<int64_t>(params_.size());
  }
  std::span<float> parameters() noexcept { return params_; }
  std::span<const float> parameters() const noexcept { return params_; }
  std::span<float> gradients() noexcept { return grads_; }
  std::span<const float> gradients() const noexcept { return grads_; }
  // Offset of layer i's parameters in parameters() (Dense only; else -1).
  int64_t parameter_offset(size_t layer) const;

  // x: (n, in_features) float32 row-major; y: (n, out_features). `training`
  // turns dropout on and keeps what backward() needs. n >= 1. An evaluation
  // forward (training=false) writes no member, so several threads may run
  // evaluation forwards on one model at once (but not beside a training
  // forward, backward() or a parameter / precision change).
  void forward(const float* x, int64_t n, float* y, bool training);
  // Back-propagates dL/dy (n, out_features) of the last training forward:
  // *overwrites* gradients() with dL/dparameters, and writes dL/dx (n, in)
  // when grad_x is not null. Throws when no training forward preceded it.
  void backward(const float* grad_y, float* grad_x = nullptr);

  // Dropout masks are a hash of (seed, draw counter, element index), so they
  // do not depend on the thread count; the counter is saved in checkpoints.
  uint64_t dropout_seed() const noexcept { return dropout_seed_; }
  uint64_t dropout_counter() const noexcept { return dropout_counter_; }
  void set_dropout_state(uint64_t seed, uint64_t counter) noexcept {
    dropout_seed_ = seed;
    dropout_counter_ = counter;
  }

  // Compute precision of forward() and backward() (kFp32 by default; fit()
  // sets it from FitOptions::precision, and it is saved in checkpoints).
  Precision precision() const noexcept { return precision_; }
  void set_precision(Precision p) noexcept { precision_ = p; }
  // Half precision only: gradient entries rounded by backward() since the
  // last reset that were nonzero in float32 (`nonzero`), and those among
  // them that the rounding flushed to zero (`underflowed`): dL/doutput, the
  // back-propagated activation gradients and dL/dW, dL/db all count.
  uint64_t grad_nonzero_count() const noexcept { return grad_nonzero_; }
  uint64_t grad_underflow_count() const noexcept { return grad_underflow_; }
  void reset_underflow_counts() noexcept {
    grad_nonzero_ = grad_underflow_ = 0;
  }

 private:
  std::vector<LayerSpec> layers_;
  std::vector<int64_t> offsets_;  // per layer, -1 when it has no parameters
  int64_t in_features_ = 0, out_features_ = 0;
  std::vector<float> params_, grads_;
  uint64_t dropout_seed_ = 0, dropout_counter_ = 0;
  Precision precision_ = Precision::kFp32;
  // Half precision: the parameters rounded to the compute dtype by the last
  // training forward (backward uses the same weights). Evaluation forwards
  // leave it alone, so they may run concurrently on one model.
  std::vector<float> half_params_;
  uint64_t grad_nonzero_ = 0, grad_underflow_ = 0;
  // Saved by a training forward: the input of every layer, plus masks.
  std::vector<std::vector<float>> acts_;
  std::vector<std::vector<uint8_t>> masks_;
  int64_t batch_ = 0;
};

// A multi-layer perceptron: Dense(in, h0), act, [Dropout], ..., Dense(., out).
// No hidden layer gives linear / logistic / softmax regression (pick the
// loss accordingly). activation: "relu", "leaky_relu", "tanh", "sigmoid".
struct MlpOptions {
  int64_t in_features = 0;
  std::vector<int64_t> hidden = {};
  int64_t out_features = 1;
  std::string activation = "relu";
  double negative_slope = 0.01;  // leaky_relu
  double dropout = 0.0;          // after every hidden activation when > 0
  uint64_t seed = 0;
  Init init = Init::kAuto;
};
Sequential mlp(const MlpOptions& options);

}  // namespace losslab::train

#endif  // LOSSLAB_TRAIN_MODEL_H_
