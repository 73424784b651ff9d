// linear_cross_entropy: chunked GEMM + cross-entropy row kernel, never
// forming the (T, V) logits. See the header for the algorithm.
#include "losslab/losses/linear_cross_entropy.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "losslab/losses/classification.h"
#include "src/core/checks.h"
#include "src/losses/half_io.h"

namespace losslab {
namespace {

constexpr const char* kFn = "linear_cross_entropy";
// One chunk buffer (the logits, overwritten in place by their gradient) of
// at most this many bytes, and at most 10% of the full (T, V) logits. Larger
// chunks mean fewer passes over weight and grad_weight: with T = 4096,
// V = 128000 the old two 32 MiB buffers held 32 tokens, so W was read and
// grad_weight read and written 128 times (about 130 GB of memory traffic);
// 128 MiB in one buffer holds 262 tokens (16 passes).
constexpr int64_t kChunkBytes = int64_t(128) << 20;
// Fixed GEMM blocks: vocabulary rows and hidden columns per task. Each
// grad_hidden task packs the whole chunk gradient G (tokens x V) again, so
// its blocks are wide: 256 columns (4 tasks at H = 1024) packs G half as
// often as 128 did.
constexpr int64_t kVocabBlock = 512;
constexpr int64_t kHiddenBlock = 256;

// Runs fn(begin, end, scratch) over [0, n) cut into fixed blocks of `block`;
// scratch is a buffer of each thread's run of blocks (the widened weight
// blocks of a float16 / bfloat16 call; see Operand).
template <class T, class Fn>
void for_blocks(int64_t n, int64_t block, const Fn& fn) {
  const int64_t nb = (n + block - 1) / block;
  parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> scratch;
    for (int64_t b = b0; b < b1; ++b) {
      fn(b * block, std::min(n, (b + 1) * block), scratch);
    }
  });
}

// float32 values as the high and low 16 bits of their bits, and back
// (exact both ways).
void split_f32(const float* f, uint16_t* hi, uint16_t* lo, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, f + i, 4);
    hi[i] = uint16_t(u >> 16);
    lo[i] = uint16_t(u);
  }
}
void join_f32(const uint16_t* hi, const uint16_t* lo, float* f, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = (uint32_t(hi[i]) << 16) | lo[i];
    std::memcpy(f + i, &u, 4);
  }
}

// A block of a row-major matrix as the GEMMs read it: pointer and row stride.
template <class T>
struct Block {
  const T* p;
  int64_t ld;
};

// hidden or weight: T storage, or (T = float) float16 / bfloat16 storage
// widened to float32 one block at a time (exact), so that a half call holds
// no float32 copy of either matrix: at T = 4096, V = 128000, H = 1024 the
// widened weight alone was 500 MiB, a quarter of the logits it avoids.
template <class T>
class Operand {
 public:
  explicit Operand(const View& v)
      : half_(detail::is_half_dtype(v.dtype)),
        bf16_(v.dtype == DType::kBFloat16),
        t_(half_ ? View{} : v),
        h_(half_ ? v : View{}) {}
  bool half() const { return half_; }
  // Rows [r0, r1) and columns [c0, c1) of this (rows x ld) matrix: in place
  // for T storage, else widened into scratch.
  Block<T> block(int64_t r0, int64_t r1, int64_t c0, int64_t c1, int64_t ld,
                 std::vector<T>& scratch) const {
    if (!half_) return {t_.get() + r0 * ld + c0, ld};
    const int64_t w = c1 - c0;
    scratch.resize(size_t((r1 - r0) * w));
    if constexpr (std::is_same_v<T, float>) {
      if (w == ld) {
        detail::half_widen(bf16_, h_.get() + r0 * ld, scratch.data(),
                           (r1 - r0) * ld);
      } else {
        for (int64_t r = r0; r < r1; ++r) {
          detail::half_widen(bf16_, h_.get() + r * ld + c0,
                             scratch.data() + (r - r0) * w, w);
        }
      }
    }
    return {scratch.data(), w};
  }

 private:
  bool half_, bf16_;
  detail::Contiguous<T> t_;
  detail::Contiguous<uint16_t> h_;
};

// C = op(A) op(B) + beta C, row-major, single-threaded OpenBLAS. OpenBLAS's
// own threading does not give bitwise-identical results across thread
// counts (measured), so the products below are cut into fixed blocks that do
// not depend on the thread count, and losslab's pool runs the blocks.
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.0f, a,
              int(lda), b, int(ldb), beta, c, int(ldc));
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.0, a,
              int(lda), b, int(ldb), beta, c, int(ldc));
}

void require_2d(std::string_view arg, const View& v, std::string_view form) {
  if (v.shape.ndim() != 2) {
    throw_value_error(std::string(kFn) + ": " + std::string(arg) +
                      " must be 2-D " + std::string(form) + "; got shape " +
                      v.shape.str());
  }
}

template <class I>
int64_t label_at(const View& target, int64_t i) {
  return int64_t(target.as<I>()[i]);
}

template <class T>
double run(const View& hidden, const View& weight, const View& target,
           const LinearCrossEntropyOptions& o,
           const LinearCrossEntropyOutputs& out) {
  const int64_t T_ = hidden.shape[0], H = hidden.shape[1], V = weight.shape[0];
  const Operand<T> h(hidden), w(weight);
  const bool half = h.half();
  const detail::Contiguous<T> bias(o.bias), wpc(o.weight_per_class);
  std::vector<int64_t> labels(static_cast<size_t>(T_));
  {
    const bool i64 = target.dtype == DType::kInt64;
    const View packed = target;  // targets are read once, here
    if (!packed.is_contiguous()) {
      throw_value_error(std::string(kFn) + ": target must be contiguous");
    }
    for (int64_t i = 0; i < T_; ++i) {
      const int64_t y =
          i64 ? label_at<int64_t>(packed, i) : label_at<int32_t>(packed, i);
      if (y != o.ignore_index && (y < 0 || y >= V)) {
        throw_value_error(std::string(kFn) + ": target " + std::to_string(y) +
                          " at index " + std::to_string(i) +
                          " is not a class of the vocabulary (weight has V = " +
                          std::to_string(V) + " rows) nor ignore_index=" +
                          std::to_string(o.ignore_index));
      }
      labels[size_t(i)] = y;
    }
  }
  const bool want_gh = out.grad_hidden.present();
  const bool want_gw = out.grad_weight.present();
  const bool want_gb = out.grad_bias.present();
  const bool want_g = want_gh || want_gw || want_gb;
  // A half grad_hidden (half input only) is written a chunk of rows at a
  // time from float32 (each row's sum over V is whole within its chunk).
  const bool gh_half = want_gh && detail::is_half_dtype(out.grad_hidden.dtype);
  T* gh = want_gh && !gh_half ? out.grad_hidden.as<T>() : nullptr;
  // A half grad_weight accumulates over the token chunks in float32 held as
  // two 16-bit halves: the high half of each float's bits in the caller's
  // array (V x H 16-bit elements, free until the result is written), the
  // low half in gw_lo. That is the float32 accumulation bit for bit, at half
  // the memory of a float32 copy (250 MiB at V = 128000, H = 1024); the
  // result is rounded into the caller's dtype at the end.
  const bool gw_half = want_gw && detail::is_half_dtype(out.grad_weight.dtype);
  T* gw = want_gw && !gw_half ? out.grad_weight.as<T>() : nullptr;
  uint16_t* const gw_hi = gw_half ? out.grad_weight.as<uint16_t>() : nullptr;
  std::vector<uint16_t> gw_lo(gw_half ? size_t(V * H) : 0);
  T* gb = want_gb ? out.grad_bias.as<T>() : nullptr;

  // Mean: PyTorch divides by sum over non-ignored tokens of w[y] (or their
  // count); both the NLL and the smoothing term share that denominator, so
  // per-chunk sums with the gradient scaled by 1/den are exact.
  double den = 0.0;
  for (int64_t y : labels) {
    if (y == o.ignore_index) continue;
    den += wpc.get() ? double(wpc.get()[y]) : 1.0;
  }
  double gscale = out.grad_output;
  if (o.reduction == Reduction::kMean) {
    if (den == 0.0) {
      // Every token ignored: loss 0 and zero gradients (documented).
      if (gh) std::fill(gh, gh + T_ * H, T(0));
      if (gh_half) {
        uint16_t* p = out.grad_hidden.as<uint16_t>();
        std::fill(p, p + T_ * H, uint16_t(0));  // +0 in both formats
      }
      if (gw) std::fill(gw, gw + V * H, T(0));
      if (gw_half) std::fill(gw_hi, gw_hi + V * H, uint16_t(0));
      if (gb) std::fill(gb, gb + V, T(0));
      return 0.0;
    }
    gscale /= den;
  }

  int64_t tc = o.chunk_tokens;
  if (tc <= 0) {
    const int64_t row_bytes = V * int64_t(sizeof(T));
    tc = std::max<int64_t>(1, kChunkBytes / row_bytes);
    // The buffer never takes more than 10% of what the full logits would.
    tc = std::min(tc, std::max<int64_t>(1, T_ / 10));
  }
  tc = std::min(tc, T_);
  // The cross-entropy row kernel writes the gradient over the logits
  // (cross_entropy.h: CeRowCall::grad may alias x), so one buffer serves as
  // both: the chunk's logits, then G.
  std::vector<T> logits(size_t(tc * V));
  T* const grad = logits.data();
  // Half input: the chunk's hidden rows widened, and a half grad_hidden's
  // chunk rows in float32.
  std::vector<T> hbuf(half ? size_t(tc * H) : 0);
  std::vector<T> ghbuf(gh_half ? size_t(tc * H) : 0);
  openblas_set_num_threads(1);

  const Reduction chunk_reduction =
      o.reduction == Reduction::kNone ? Reduction::kNone : Reduction::kSum;
  double total = 0.0;
  for (int64_t t0 = 0; t0 < T_; t0 += tc) {
    const int64_t n = std::min(tc, T_ - t0);
    const T* const hc = h.block(t0, t0 + n, 0, H, H, hbuf).p;
    // logits[:, v0:v1] = hc @ weight[v0:v1]^T
    for_blocks<T>(V, kVocabBlock,
                  [&](int64_t v0, int64_t v1, std::vector<T>& scratch) {
                    const Block<T> wb = w.block(v0, v1, 0, H, H, scratch);
                    gemm(false, true, n, v1 - v0, H, hc, H, wb.p, wb.ld, T(0),
                         logits.data() + v0, V);
                  });
    if (bias.get()) {
      for (int64_t r = 0; r < n; ++r) {
        T* row = logits.data() + r * V;
        for (int64_t c = 0; c < V; ++c) row[c] += bias.get()[c];
      }
    }
    LossOutputs co;
    if (want_g) co.grad_out = mutable_view<T>(grad, {n, V});
    if (o.reduction == Reduction::kNone) {
      co.out = mutable_view<T>(out.out.as<T>() + t0, {n});
      if (out.grad_output_elementwise.present()) {
        co.grad_output_elementwise =
            view<T>(out.grad_output_elementwise.as<T>() + t0, {n});
      }
    } else {
      co.grad_output = gscale;
    }
    total +=
        cross_entropy(view<T>(logits.data(), {n, V}),
                      View{labels.data() + t0, DType::kInt64, Shape{n}, {}},
                      {.weight = wpc.get() ? view<T>(wpc.get(), {V}) : View{},
                       .ignore_index = o.ignore_index,
                       .label_smoothing = o.label_smoothing,
                       .reduction = chunk_reduction,
                       .z_loss = o.z_loss,
                       .logit_softcap = o.logit_softcap},
                      co);
    // grad_hidden[:, k0:k1] = G @ weight[:, k0:k1] (the sum over V is whole)
    if (want_gh) {
      T* const ghc = gh_half ? ghbuf.data() : gh + t0 * H;
      for_blocks<T>(H, kHiddenBlock,
                    [&](int64_t k0, int64_t k1, std::vector<T>& scratch) {
                      if (!half) {
                        const Block<T> wb = w.block(0, V, k0, k1, H, scratch);
                        gemm(false, false, n, k1 - k0, V, grad, V, wb.p, wb.ld,
                             T(0), ghc + k0, H);
                        return;
                      }
                      // Half weight: the sum over V by vocabulary blocks, each
                      // widened (a fixed order, so results do not depend on the
                      // threads).
                      for (int64_t v0 = 0; v0 < V; v0 += kVocabBlock) {
                        const int64_t v1 = std::min(V, v0 + kVocabBlock);
                        const Block<T> wb = w.block(v0, v1, k0, k1, H, scratch);
                        gemm(false, false, n, k1 - k0, v1 - v0, grad + v0, V,
                             wb.p, wb.ld, v0 == 0 ? T(0) : T(1), ghc + k0, H);
                      }
                    });
      if constexpr (std::is_same_v<T, float>) {
        if (gh_half) {
          detail::half_narrow(out.grad_hidden.dtype == DType::kBFloat16,
                              ghbuf.data(),
                              out.grad_hidden.as<uint16_t>() + t0 * H, n * H);
        }
      }
    }
    // grad_weight[v0:v1] += G[:, v0:v1]^T @ hc, chunks added in token order
    if (gw_half) {
      if constexpr (std::is_same_v<T, float>) {
        for_blocks<T>(V, kVocabBlock,
                      [&](int64_t v0, int64_t v1, std::vector<T>& acc) {
                        const int64_t m = (v1 - v0) * H, off = v0 * H;
                        acc.resize(size_t(m));
                        if (t0 > 0) {
                          join_f32(gw_hi + off, &gw_lo[off], acc.data(), m);
                        }
                        gemm(true, false, v1 - v0, H, n, grad + v0, V, hc, H,
                             t0 == 0 ? T(0) : T(1), acc.data(), H);
                        split_f32(acc.data(), gw_hi + off, &gw_lo[off], m);
                      });
      }
    }
    if (gw) {
      for_blocks<T>(V, kVocabBlock,
                    [&](int64_t v0, int64_t v1, std::vector<T>&) {
                      gemm(true, false, v1 - v0, H, n, grad + v0, V, hc, H,
                           t0 == 0 ? T(0) : T(1), gw + v0 * H, H);
                    });
    }
    if (gb) {
      if (t0 == 0) std::fill(gb, gb + V, T(0));
      for (int64_t r = 0; r < n; ++r) {
        const T* row = grad + r * V;
        for (int64_t c = 0; c < V; ++c) gb[c] += row[c];
      }
    }
  }
  if constexpr (std::is_same_v<T, float>) {
    if (gw_half) {
      // The float32 sums, rounded into the caller's dtype (in place: each
      // block is joined into scratch first).
      const bool bf16 = out.grad_weight.dtype == DType::kBFloat16;
      for_blocks<T>(V, kVocabBlock,
                    [&](int64_t v0, int64_t v1, std::vector<T>& acc) {
                      const int64_t m = (v1 - v0) * H, off = v0 * H;
                      acc.resize(size_t(m));
                      join_f32(gw_hi + off, &gw_lo[off], acc.data(), m);
                      detail::half_narrow(bf16, acc.data(), gw_hi + off, m);
                    });
    }
  }
  const double value = o.reduction == Reduction::kMean ? total / den : total;
  return double(T(value));
}

double validate_and_run(const View& hidden, const View& weight,
                        const View& target, const LinearCrossEntropyOptions& o,
                        const LinearCrossEntropyOutputs& out, DType dt);

// float16 / bfloat16 hidden and weight: run by the float32 path, which
// widens their blocks as the GEMMs need them (Operand; exact) and whose
// GEMMs and softmax accumulate in float32. The outputs are rounded to the
// input dtype (nearest even) or written in float32 when the caller's array
// is float32. bias, weight_per_class and an elementwise grad_output may be
// float32 or the input's dtype (widened here: V or T elements). Memory
// beyond the float32 path's chunk buffer: the chunk's hidden rows in float32
// and, for a half grad_hidden, their gradient; for a half grad_weight, the
// low 16 bits of its float32 accumulator (V x H 16-bit values; see run:
// the chunks add into grad_weight in float32, since rounding each chunk's
// sum to bfloat16 would lose up to 8 bits over 16 chunks), which a float32
// grad_weight avoids.
double run_half(const View& hidden, const View& weight, const View& target,
                const LinearCrossEntropyOptions& o,
                const LinearCrossEntropyOutputs& out) {
  const std::string fn = kFn;
  const DType dt = hidden.dtype;
  detail::require_same_dtype(fn, "weight", weight, "hidden", dt);
  // Every other array (given or output) is the input's dtype or float32.
  auto half_or_f32 = [&](std::string_view arg, bool present, DType t,
                         std::string_view fix) {
    if (present && t != dt && t != DType::kFloat32) {
      throw_type_error(fn + ": " + std::string(arg) + " dtype " +
                       std::string(dtype_name(t)) + " must be " +
                       std::string(dtype_name(dt)) + " (hidden's) or float32" +
                       std::string(fix));
    }
  };
  const std::string_view cast = "; cast it with .astype";
  half_or_f32("bias", o.bias.present(), o.bias.dtype, cast);
  half_or_f32("weight_per_class", o.weight_per_class.present(),
              o.weight_per_class.dtype, cast);
  half_or_f32("grad_output", out.grad_output_elementwise.present(),
              out.grad_output_elementwise.dtype, cast);
  auto widen = [&](const View& v, std::vector<float>& buf) -> View {
    if (!v.present()) return v;
    if (v.dtype == DType::kFloat32) return v;
    buf = detail::widen_half_view(v);
    return View{buf.data(), DType::kFloat32, v.shape, {}};
  };
  std::vector<float> bf, cf, gof;
  LinearCrossEntropyOptions o32 = o;
  o32.bias = widen(o.bias, bf);
  o32.weight_per_class = widen(o.weight_per_class, cf);
  const MutableView* outs[] = {&out.out, &out.grad_hidden, &out.grad_weight,
                               &out.grad_bias};
  const char* names[] = {"out", "grad_hidden", "grad_weight", "grad_bias"};
  for (int i = 0; i < 4; ++i) {
    half_or_f32(names[i], outs[i]->present(), outs[i]->dtype, "");
  }
  // out and grad_bias through float32 scratch (T or V elements); run writes
  // grad_hidden and grad_weight in the caller's dtype itself.
  detail::HalfOut ho_out, ho_gb;
  ho_out.bind(out.out);
  ho_gb.bind(out.grad_bias);
  LinearCrossEntropyOutputs out32 = out;
  out32.out = ho_out.f32;
  out32.grad_bias = ho_gb.f32;
  out32.grad_output_elementwise = widen(out.grad_output_elementwise, gof);
  const double value =
      validate_and_run(hidden, weight, target, o32, out32, DType::kFloat32);
  ho_out.finish();
  ho_gb.finish();
  return value;
}

// The checks of every argument, then the run. dt: the arithmetic dtype
// (hidden's, or float32 for half hidden), which bias, weight_per_class, the
// outputs but grad_hidden and an elementwise grad_output have here.
double validate_and_run(const View& hidden, const View& weight,
                        const View& target, const LinearCrossEntropyOptions& o,
                        const LinearCrossEntropyOutputs& out, DType dt) {
  using detail::check_output;
  const std::string fn = kFn;
  require_2d("hidden", hidden, "(T, H)");
  require_2d("weight", weight, "(V, H)");
  if (weight.shape[1] != hidden.shape[1]) {
    throw_value_error(
        fn + ": weight shape " + weight.shape.str() +
        " must be (V, H) with H = " + std::to_string(hidden.shape[1]) +
        " (hidden's last dim); is weight transposed?");
  }
  detail::require_nonempty(fn, "hidden", hidden);
  detail::require_nonempty(fn, "weight", weight);
  if (target.dtype != DType::kInt64 && target.dtype != DType::kInt32) {
    throw_type_error(fn + ": target dtype " +
                     std::string(dtype_name(target.dtype)) +
                     " must be int64 or int32 (class indices); cast with "
                     ".astype(numpy.int64)");
  }
  const Shape tokens{hidden.shape[0]};
  detail::require_same_shape(fn, "target", target.shape, "tokens of hidden",
                             tokens);
  const Shape vocab{weight.shape[0]};
  if (o.bias.present()) {
    detail::require_same_dtype(fn, "bias", o.bias, "hidden", dt);
    detail::require_same_shape(fn, "bias", o.bias.shape, "vocabulary", vocab);
  }
  if (o.weight_per_class.present()) {
    detail::require_same_dtype(fn, "weight_per_class", o.weight_per_class,
                               "hidden", dt);
    detail::require_same_shape(fn, "weight_per_class", o.weight_per_class.shape,
                               "vocabulary", vocab);
  }
  if (o.chunk_tokens < 0) {
    throw_value_error(fn + ": chunk_tokens=" + std::to_string(o.chunk_tokens) +
                      " must be >= 0 (0 chooses the chunk size)");
  }
  if (o.weight_per_class.present() && o.weight_per_class.is_contiguous()) {
    // Checked here so the message names this function and argument (the
    // per-chunk cross_entropy would call it `weight`).
    for (int64_t c = 0; c < weight.shape[0]; ++c) {
      const double v = o.weight_per_class.dtype == DType::kFloat32
                           ? double(o.weight_per_class.as<float>()[c])
                           : o.weight_per_class.as<double>()[c];
      if (!(v >= 0.0 && std::isfinite(v))) {
        throw_value_error(fn +
                          ": weight_per_class must be finite and >= 0; "
                          "got " +
                          detail::value_str(v) + " at index " +
                          std::to_string(c));
      }
    }
  }
  if (!(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0)) {
    throw_value_error(
        fn + ": label_smoothing=" + detail::value_str(o.label_smoothing) +
        " must lie in [0, 1]");
  }
  if (!(o.z_loss >= 0.0 && std::isfinite(o.z_loss))) {
    throw_value_error(fn + ": z_loss=" + detail::value_str(o.z_loss) +
                      " must be finite and >= 0 (1e-4 is the PaLM choice; 0 "
                      "disables it)");
  }
  if (o.logit_softcap &&
      !(*o.logit_softcap > 0.0 && std::isfinite(*o.logit_softcap))) {
    throw_value_error(fn +
                      ": logit_softcap=" + detail::value_str(*o.logit_softcap) +
                      " must be finite and > 0 (30 is Gemma 2's choice), or "
                      "None to disable capping");
  }
  if (o.reduction == Reduction::kBatchMean) {
    throw_value_error(fn +
                      ": reduction='batchmean' is only defined for "
                      "kl_div; use 'mean', 'sum' or 'none'");
  }
  if (o.reduction == Reduction::kNone && !out.out.present()) {
    throw_value_error(fn +
                      ": reduction='none' needs outputs.out (T,) to "
                      "receive the per-token losses");
  }
  if (out.grad_bias.present() && !o.bias.present()) {
    throw_value_error(fn + ": grad_bias needs a bias");
  }
  check_output(fn, "out", out.out, tokens, dt);
  check_output(fn, "grad_hidden", out.grad_hidden, hidden.shape,
               detail::out_dtype(out.grad_hidden, hidden.dtype));
  check_output(fn, "grad_weight", out.grad_weight, weight.shape,
               detail::out_dtype(out.grad_weight, hidden.dtype));
  check_output(fn, "grad_bias", out.grad_bias, vocab, dt);
  if (out.grad_output_elementwise.present()) {
    if (o.reduction != Reduction::kNone) {
      throw_value_error(fn +
                        ": an elementwise grad_output needs "
                        "reduction='none'");
    }
    detail::require_same_dtype(fn, "grad_output", out.grad_output_elementwise,
                               "hidden", dt);
    detail::require_same_shape(
        fn, "grad_output", out.grad_output_elementwise.shape, "tokens", tokens);
  }
  if (!std::isfinite(out.grad_output)) {
    throw_value_error(fn + ": grad_output must be finite");
  }
  if (dt == DType::kFloat32) {
    return run<float>(hidden, weight, target, o, out);
  }
  return run<double>(hidden, weight, target, o, out);
}

}  // namespace

double linear_cross_entropy(View hidden, View weight, View target,
                            const LinearCrossEntropyOptions& o,
                            const LinearCrossEntropyOutputs& out) {
  if (detail::is_half_dtype(hidden.dtype)) {
    return run_half(hidden, weight, target, o, out);
  }
  detail::require_float(kFn, "hidden", hidden);
  detail::require_same_dtype(kFn, "weight", weight, "hidden", hidden.dtype);
  return validate_and_run(hidden, weight, target, o, out, hidden.dtype);
}

}  // namespace losslab
