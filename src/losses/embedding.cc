// Embedding losses, op layer: validation, the per-row / per-anchor math that
// is not a SIMD row primitive, reductions and threading. The row primitives
// (dot products, distance sums, gradient updates) are in embedding-inl.h with
// their scalar twins.
//
// Determinism. Pair/triplet losses cut rows into blocks of kRows; each row's
// loss and gradient rows are computed by one thread, the block partial adds
// the row losses in row order in double, and partials are combined by
// pairwise_sum. Batch losses compute the distance / similarity matrix row by
// row (each entry by one row primitive), then per-anchor work in blocks, and
// the gradient row k as sum_j W_kj (x_k - x_j) (or sum_j G_kj z_j) in
// ascending j: every entry has one fixed order of operations, so values and
// gradients are bitwise identical for any thread count.
#include "losslab/losses/embedding.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "src/core/checks.h"
#include "src/losses/embedding.h"

namespace losslab {
namespace {

using detail::Contiguous;
using detail::EmbNorm;
using detail::index_str;
using detail::value_str;

constexpr int64_t kRows = 64;  // rows (or anchors) per reduction block

std::string str(std::string_view s) { return std::string(s); }

int64_t blocks_of(int64_t n) { return (n + kRows - 1) / kRows; }

// At least ~64k multiply-adds per thread before threading pays.
int64_t min_blocks(int64_t work_per_row) {
  return std::max<int64_t>(1,
                           65536 / std::max<int64_t>(1, kRows * work_per_row));
}

// The input's shape without its last (embedding) dimension.
Shape sample_shape(const Shape& s) {
  Shape o;
  for (int k = 0; k + 1 < s.ndim(); ++k) o.push_back(s[k]);
  return o;
}

// Float embeddings of equal dtype and shape (..., D), D >= 1, non-empty.
void check_embeddings(std::string_view fn, const char* const* names,
                      const View* const* xs, int count) {
  const std::string f = str(fn);
  for (int i = 0; i < count; ++i) detail::require_float(fn, names[i], *xs[i]);
  for (int i = 1; i < count; ++i) {
    detail::require_same_dtype(fn, names[i], *xs[i], names[0], xs[0]->dtype);
  }
  for (int i = 1; i < count; ++i) {
    detail::require_same_shape(fn, names[i], xs[i]->shape, names[0],
                               xs[0]->shape);
  }
  const View& x = *xs[0];
  if (x.shape.ndim() == 0) {
    throw_value_error(f + ": " + names[0] +
                      " must have an embedding dimension: shape (N, D) or "
                      "(D,); got shape ()");
  }
  if (x.numel() == 0) {
    throw_value_error(f + ": " + names[0] + " is empty (shape " +
                      x.shape.str() +
                      "); a loss needs at least one sample with D >= 1 (an "
                      "empty batch is an error, not a zero loss)");
  }
  for (int i = 0; i < count; ++i) {
    if (xs[i]->data == nullptr) {
      throw_value_error(f + ": " + names[i] + " has a null data pointer");
    }
  }
}

void check_reduction(std::string_view fn, Reduction r, bool has_out) {
  if (r == Reduction::kBatchMean) {
    throw_value_error(str(fn) +
                      ": reduction='batchmean' is only defined for kl_div; "
                      "use 'mean', 'sum' or 'none'");
  }
  if (r == Reduction::kNone && !has_out) {
    throw_value_error(str(fn) +
                      ": reduction='none' needs an `out` array (one loss "
                      "per sample) to receive the per-sample losses");
  }
}

void check_upstream(std::string_view fn, Reduction r, double go,
                    const View& go_elem, const Shape& sample, DType dt) {
  if (!std::isfinite(go)) {
    throw_value_error(str(fn) + ": grad_output must be finite; got " +
                      value_str(go));
  }
  if (!go_elem.present()) return;
  if (r != Reduction::kNone) {
    throw_value_error(str(fn) +
                      ": an elementwise grad_output needs reduction='none'; "
                      "pass a scalar grad_output for 'mean' or 'sum'");
  }
  detail::require_same_dtype(fn, "grad_output", go_elem, "input", dt);
  if (!(go_elem.shape == sample)) {
    throw_value_error(str(fn) + ": grad_output shape " + go_elem.shape.str() +
                      " must be " + sample.str() +
                      ": one upstream gradient per sample (the loss's "
                      "reduction='none' shape)");
  }
}

void check_margin(std::string_view fn, double margin) {
  if (!(margin >= 0.0 && std::isfinite(margin))) {
    throw_value_error(str(fn) + ": margin=" + value_str(margin) +
                      " must be finite and >= 0 (1.0 is the default)");
  }
}

// Per-sample weights: the sample shape, the input dtype, finite and >= 0.
template <class T>
void check_weight_values(std::string_view fn, const View& w) {
  const Contiguous<T> c(w);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const T v = c.get()[i];
    if (!(v >= T(0) && v <= std::numeric_limits<T>::max())) {
      throw_value_error(str(fn) + ": weight must be finite and >= 0; got " +
                        value_str(double(v)) + " at index " +
                        index_str(i, w.shape));
    }
  }
}
void check_weight(std::string_view fn, const View& w, const Shape& sample,
                  DType dt) {
  if (!w.present()) return;
  detail::require_same_dtype(fn, "weight", w, "input", dt);
  if (!(w.shape == sample)) {
    throw_value_error(str(fn) + ": weight shape " + w.shape.str() +
                      " must be " + sample.str() +
                      ": one weight per sample (the input's shape without "
                      "its last, embedding, dimension)");
  }
  if (w.data == nullptr) {
    throw_value_error(str(fn) + ": weight has a null data pointer");
  }
  if (dt == DType::kFloat32) {
    check_weight_values<float>(fn, w);
  } else {
    check_weight_values<double>(fn, w);
  }
}

// Pair targets as doubles, each in `allowed` (two values).
template <class L>
std::vector<double> read_target_typed(const View& t) {
  const Contiguous<L> c(t);
  std::vector<double> y(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) y[size_t(i)] = double(c.get()[i]);
  return y;
}
std::vector<double> read_pair_target(std::string_view fn, const View& t,
                                     const Shape& sample, DType dt, double v0,
                                     double v1) {
  const std::string f = str(fn);
  const std::string allowed = "{" + value_str(v0) + ", " + value_str(v1) + "}";
  if (!t.present()) {
    throw_value_error(f + ": target is required (values in " + allowed + ")");
  }
  const bool ok_dtype = t.dtype == DType::kInt64 || t.dtype == DType::kInt32 ||
                        t.dtype == DType::kBool || t.dtype == dt;
  if (!ok_dtype) {
    throw_type_error(f + ": target dtype " + str(dtype_name(t.dtype)) +
                     " is not supported; expected int64, int32, bool or the "
                     "input's dtype " +
                     str(dtype_name(dt)) + " holding values in " + allowed);
  }
  if (!(t.shape == sample)) {
    throw_value_error(f + ": target shape " + t.shape.str() + " must be " +
                      sample.str() +
                      ": one target per pair (the input's shape without its "
                      "last, embedding, dimension)");
  }
  if (t.data == nullptr) {
    throw_value_error(f + ": target has a null data pointer");
  }
  std::vector<double> y;
  switch (t.dtype) {
    case DType::kInt64:
      y = read_target_typed<int64_t>(t);
      break;
    case DType::kInt32:
      y = read_target_typed<int32_t>(t);
      break;
    case DType::kBool:
      y = read_target_typed<uint8_t>(t);  // numpy bool: one byte, 0 or 1
      break;
    case DType::kFloat32:
      y = read_target_typed<float>(t);
      break;
    default:
      y = read_target_typed<double>(t);
      break;
  }
  for (size_t i = 0; i < y.size(); ++i) {
    if (!(y[i] == v0 || y[i] == v1)) {
      throw_value_error(f + ": target must hold only " + allowed + "; got " +
                        value_str(y[i]) + " at index " +
                        index_str(int64_t(i), t.shape));
    }
  }
  return y;
}

// Integer labels (N,) of a batch-mining loss.
std::vector<int64_t> read_labels(std::string_view fn, const View& t,
                                 int64_t n) {
  const std::string f = str(fn);
  if (!t.present()) throw_value_error(f + ": labels are required, shape (N,)");
  if (t.dtype != DType::kInt64 && t.dtype != DType::kInt32) {
    throw_type_error(f + ": labels dtype " + str(dtype_name(t.dtype)) +
                     " is not supported; expected integer class labels of "
                     "dtype int64 or int32 (cast with .astype(numpy.int64))");
  }
  if (!(t.shape == Shape{n})) {
    throw_value_error(
        f + ": labels shape " + t.shape.str() + " must be (" +
        std::to_string(n) +
        ",): one label per row of embeddings (N = " + std::to_string(n) + ")");
  }
  if (t.data == nullptr) {
    throw_value_error(f + ": labels has a null data pointer");
  }
  std::vector<int64_t> y(static_cast<size_t>(n));
  if (t.dtype == DType::kInt64) {
    const Contiguous<int64_t> c(t);
    for (int64_t i = 0; i < n; ++i) y[size_t(i)] = c.get()[i];
  } else {
    const Contiguous<int32_t> c(t);
    for (int64_t i = 0; i < n; ++i) y[size_t(i)] = c.get()[i];
  }
  return y;
}

// max(x, 0) keeping NaN (torch.clamp_min).
template <class T>
T relu_nan(T x) {
  return x > T(0) ? x : (x != x ? x : T(0));
}

// The shared row driver of the pair / triplet losses. row(r, coef) returns
// the unweighted loss of row r and, when gradients are wanted, writes its
// gradient rows scaled by coef = upstream * reduction scale * weight.
template <class T, class RowFn>
double run_rows(int64_t rows, int64_t d, Reduction red, const T* w,
                const T* gout, double grad_output, T* out, const RowFn& row) {
  const int64_t nb = blocks_of(rows);
  double scale = 1.0;
  if (red == Reduction::kMean) {
    double den = double(rows);
    if (w) {
      std::vector<double> ws(static_cast<size_t>(nb), 0.0);
      for (int64_t b = 0; b < nb; ++b) {
        double acc = 0.0;
        for (int64_t r = b * kRows; r < std::min(rows, (b + 1) * kRows); ++r) {
          acc += double(w[r]);
        }
        ws[size_t(b)] = acc;
      }
      den = pairwise_sum(ws.data(), nb);
    }
    // All weights 0: the documented mean is 0 with a zero gradient.
    scale = den == 0.0 ? 0.0 : 1.0 / den;
  }
  const T gscale = T(grad_output * scale);
  std::vector<double> partials(static_cast<size_t>(nb), 0.0);
  parallel_for(nb, min_blocks(3 * d), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double acc = 0.0;
      for (int64_t r = b * kRows; r < std::min(rows, (b + 1) * kRows); ++r) {
        const T wr = w ? w[r] : T(1);
        const T coef = (gout ? gout[r] : gscale) * wr;
        const T l = row(r, coef);
        const T lw = w ? wr * l : l;
        if (out) out[r] = lw;
        acc += double(lw);
      }
      partials[size_t(b)] = acc;
    }
  });
  const double sum = pairwise_sum(partials.data(), nb);
  if (red == Reduction::kMean)
    return double(T(scale == 0.0 ? 0.0 : sum * scale));
  return double(T(sum));
}

// A gradient output, or scratch when the caller wants only some of them.
template <class T>
T* grad_ptr(const MutableView& v, bool want, std::vector<T>& scratch,
            int64_t n) {
  if (v.present()) return v.as<T>();
  if (!want) return nullptr;
  scratch.assign(static_cast<size_t>(n), T(0));
  return scratch.data();
}

// ---------------------------------------------------------------------------
// triplet_margin_loss

template <class T>
double triplet_typed(const View& A, const View& P, const View& Ng,
                     const TripletMarginOptions& o, const TripletOutputs& to) {
  const int64_t d = A.shape[A.shape.ndim() - 1];
  const int64_t rows = A.numel() / d;
  const Contiguous<T> a(A), p(P), ng(Ng), w(o.weight),
      go(to.grad_output_elementwise);
  const EmbNorm kind = o.p == 1.0   ? EmbNorm::kL1
                       : o.p == 2.0 ? EmbNorm::kL2
                                    : EmbNorm::kGeneral;
  const T eps = T(o.eps), pp = T(o.p), margin = T(o.margin);
  const T inv_p = T(1) / pp;
  const bool want = to.grad_anchor.present() || to.grad_positive.present() ||
                    to.grad_negative.present();
  std::vector<T> s1, s2, s3;
  T* ga = grad_ptr(to.grad_anchor, want, s1, A.numel());
  T* gp = grad_ptr(to.grad_positive, want, s2, A.numel());
  T* gn = grad_ptr(to.grad_negative, want, s3, A.numel());
  // ||x||_p from sum_k phi(x_k).
  auto dist = [&](T s) -> T {
    if (kind == EmbNorm::kL2) return std::sqrt(s);
    if (kind == EmbNorm::kL1) return s;
    return std::pow(s, inv_p);
  };
  // The per-row scale of d||x||_p/dx = phi'(x) * scale (torch norm_backward:
  // x / n for p = 2, sign(x) for p = 1, sign(x)|x|^(p-1) / n^(p-1) for
  // p > 1 and sign(x)|x|^(p-1) n^(1-p) for p < 1; 0 where n = 0).
  auto nscale = [&](T n, T k) -> T {
    if (kind == EmbNorm::kL1) return k;
    if (kind == EmbNorm::kL2) return n == T(0) ? T(0) : k / n;
    if (pp < T(1)) return k * std::pow(n, T(1) - pp);
    return n == T(0) ? T(0) : k / std::pow(n, pp - T(1));
  };
  // One pair (u, v) of rows: x = u - v + eps. For a general p the norm is
  // taken as ||x||_p = m ||x / m||_p with m = max_k |x_k|, so |x_k / m|^p
  // stays in [0, 1] and a large p neither overflows nor underflows the sum
  // to 0 (which gave NaN for finite input: fuzz/regressions/known). The
  // gradient phi'(x) / n^(p-1) is homogeneous of degree 0 in x, so it is
  // computed on the scaled rows as is. A NaN or infinite x keeps the plain
  // path (and its NaN / inf semantics).
  struct PairNorm {
    const T* u;
    const T* v;
    T e;       // eps, or 0 for a scaled row (eps is inside it)
    T scaled;  // ||x / m||_p
    T norm;    // m ||x / m||_p
  };
  auto pair_norm = [&](const T* u, const T* v, std::vector<T>& su,
                       std::vector<T>& sv) -> PairNorm {
    T m = T(1), e = eps;
    // p = 1, 2 keep the plain (bitwise cross-target) sums unless a term
    // could overflow them: |x| above sqrt(max) / d (e.g. eps = 1e30 in
    // float32 squared to inf, then inf - inf = NaN in the loss).
    const T big = std::sqrt(std::numeric_limits<T>::max()) / T(d);
    T mx = T(0);
    for (int64_t k = 0; k < d; ++k) {
      const T ax = std::abs((u[k] - v[k]) + eps);
      mx = (ax > mx || ax != ax) ? ax : mx;
    }
    if (kind == EmbNorm::kGeneral || mx > big) {
      if (mx > T(0) && std::isfinite(mx)) {
        // The scaled difference itself, x_k / m (|x_k / m| <= 1 exactly, as
        // rounding is monotonic), against a zero row: scaling u and v
        // separately could round a term above 1, and 1.0000001^1e30 = inf.
        m = mx;
        su.resize(size_t(d));
        sv.assign(size_t(d), T(0));
        for (int64_t k = 0; k < d; ++k) {
          su[size_t(k)] = ((u[k] - v[k]) + eps) / m;
        }
        u = su.data();
        v = sv.data();
        e = T(0);
      }
    }
    const T n = dist(detail::emb_diff_sum(u, v, d, e, pp, kind));
    return {u, v, e, n, m == T(1) ? n : m * n};
  };
  return run_rows<T>(
      rows, d, o.reduction, w.get(), go.get(), to.grad_output,
      to.out.present() ? to.out.as<T>() : nullptr, [&](int64_t r, T coef) {
        const T* ar = a.get() + r * d;
        const T* pr = p.get() + r * d;
        const T* nr = ng.get() + r * d;
        std::vector<T> bufs[6];
        const PairNorm np = pair_norm(ar, pr, bufs[0], bufs[1]);
        const PairNorm nn = pair_norm(ar, nr, bufs[2], bufs[3]);
        const T dp = np.norm, dn = nn.norm;
        T ds = dn, dneg = dn;
        PairNorm ns{};
        if (o.swap) {
          ns = pair_norm(pr, nr, bufs[4], bufs[5]);
          ds = ns.norm;
          dneg = (dn != dn || ds != ds) ? dn + ds : std::min(dn, ds);
        }
        const T x = (margin + dp) - dneg;
        if (ga) {
          T* gar = ga + r * d;
          T* gpr = gp + r * d;
          T* gnr = gn + r * d;
          std::fill(gar, gar + d, T(0));
          std::fill(gpr, gpr + d, T(0));
          std::fill(gnr, gnr + d, T(0));
          // torch.clamp_min passes the gradient where x >= 0.
          if (x >= T(0)) {
            detail::emb_diff_grad(np.u, np.v, d, np.e, pp, kind,
                                  nscale(np.scaled, coef), gar, gpr);
            // torch.minimum: a tie splits the gradient in halves.
            const T kn = (o.swap && dn == ds) ? -coef / T(2) : -coef;
            if (!o.swap || dn <= ds) {
              detail::emb_diff_grad(nn.u, nn.v, d, nn.e, pp, kind,
                                    nscale(nn.scaled, kn), gar, gnr);
            }
            if (o.swap && ds <= dn) {
              detail::emb_diff_grad(ns.u, ns.v, d, ns.e, pp, kind,
                                    nscale(ns.scaled, kn), gpr, gnr);
            }
          }
        }
        return relu_nan(x);
      });
}

// ---------------------------------------------------------------------------
// contrastive_loss and cosine_embedding_loss

template <class T>
double contrastive_typed(const View& X1, const View& X2,
                         const std::vector<double>& y,
                         const ContrastiveOptions& o, const PairOutputs& po) {
  const int64_t d = X1.shape[X1.shape.ndim() - 1];
  const int64_t rows = X1.numel() / d;
  const Contiguous<T> x1(X1), x2(X2), w(o.weight),
      go(po.grad_output_elementwise);
  const bool want = po.grad_x1.present() || po.grad_x2.present();
  std::vector<T> s1, s2;
  T* g1 = grad_ptr(po.grad_x1, want, s1, X1.numel());
  T* g2 = grad_ptr(po.grad_x2, want, s2, X1.numel());
  const T margin = T(o.margin);
  return run_rows<T>(
      rows, d, o.reduction, w.get(), go.get(), po.grad_output,
      po.out.present() ? po.out.as<T>() : nullptr, [&](int64_t r, T coef) {
        const T* ar = x1.get() + r * d;
        const T* br = x2.get() + r * d;
        // s = d^2 summed directly (no cancellation), d = sqrt(s).
        const T s = detail::emb_diff_sum(ar, br, d, T(0), T(2), EmbNorm::kL2);
        T l, k;
        if (y[size_t(r)] == 1.0) {
          // 0.5 d^2: gradient (x1 - x2) w.r.t. x1.
          l = T(0.5) * s;
          k = coef;
        } else {
          // 0.5 max(0, m - d)^2: gradient -(m - d) (x1 - x2) / d; at d = 0
          // the direction is undefined and the subgradient 0 is used.
          const T dist = std::sqrt(s);
          const T h = margin - dist;
          l = h > T(0) ? T(0.5) * (h * h) : relu_nan(h);
          k = (h > T(0) && dist > T(0)) ? -(coef * h) / dist : T(0);
        }
        if (g1) {
          T* g1r = g1 + r * d;
          T* g2r = g2 + r * d;
          std::fill(g1r, g1r + d, T(0));
          std::fill(g2r, g2r + d, T(0));
          if (k != T(0)) {
            detail::emb_diff_grad(ar, br, d, T(0), T(2), EmbNorm::kL2, k, g1r,
                                  g2r);
          }
        }
        return l;
      });
}

template <class T>
double cosine_typed(const View& X1, const View& X2,
                    const std::vector<double>& y,
                    const CosineEmbeddingOptions& o, const PairOutputs& po) {
  const int64_t d = X1.shape[X1.shape.ndim() - 1];
  const int64_t rows = X1.numel() / d;
  const Contiguous<T> x1(X1), x2(X2), w(o.weight),
      go(po.grad_output_elementwise);
  const bool want = po.grad_x1.present() || po.grad_x2.present();
  std::vector<T> s1, s2;
  T* g1 = grad_ptr(po.grad_x1, want, s1, X1.numel());
  T* g2 = grad_ptr(po.grad_x2, want, s2, X1.numel());
  const T margin = T(o.margin);
  const T kEps = T(1e-12);  // torch's EPSILON in cosine_embedding_loss
  return run_rows<T>(
      rows, d, o.reduction, w.get(), go.get(), po.grad_output,
      po.out.present() ? po.out.as<T>() : nullptr, [&](int64_t r, T coef) {
        const T* ar = x1.get() + r * d;
        const T* br = x2.get() + r * d;
        const T s12 = detail::emb_dot(ar, br, d);
        const T m1 = detail::emb_dot(ar, ar, d) + kEps;
        const T m2 = detail::emb_dot(br, br, d) + kEps;
        const T den = std::sqrt(m1 * m2);
        const T c = s12 / den;
        T l, k;  // k = dl/dcos * coef
        if (y[size_t(r)] == 1.0) {
          l = T(1) - c;
          k = -coef;
        } else {
          const T x = c - margin;
          l = relu_nan(x);
          k = x >= T(0) ? coef : T(0);  // torch.clamp_min: x >= 0 passes
        }
        if (g1) {
          // dcos/dx1 = x2 / den - cos x1 / m1, dcos/dx2 = x1 / den - cos x2 /
          // m2.
          T* g1r = g1 + r * d;
          T* g2r = g2 + r * d;
          std::fill(g1r, g1r + d, T(0));
          std::fill(g2r, g2r + d, T(0));
          if (k != T(0)) {
            const T kd = k / den, kc = k * c;
            detail::emb_axpy(g1r, kd, br, d);
            detail::emb_axpy(g1r, -(kc / m1), ar, d);
            detail::emb_axpy(g2r, kd, ar, d);
            detail::emb_axpy(g2r, -(kc / m2), br, d);
          }
        }
        return l;
      });
}

// ---------------------------------------------------------------------------
// Batch losses on (N, D) with labels (N,)

struct BatchSpec {
  std::string_view fn;
  const View* x;
  const View* labels;
  Reduction reduction;
  const LossOutputs* outputs;
};

// Validates a batch loss call; returns the labels.
std::vector<int64_t> check_batch(const BatchSpec& s) {
  const std::string f = str(s.fn);
  const char* names[] = {"embeddings"};
  const View* xs[] = {s.x};
  check_embeddings(s.fn, names, xs, 1);
  if (s.x->shape.ndim() != 2) {
    throw_value_error(f + ": embeddings must have shape (N, D); got " +
                      s.x->shape.str());
  }
  const int64_t n = s.x->shape[0];
  std::vector<int64_t> y = read_labels(s.fn, *s.labels, n);
  const LossOutputs& o = *s.outputs;
  check_reduction(s.fn, s.reduction, o.out.present());
  const Shape sample{n};
  detail::check_output(s.fn, "out", o.out, sample, s.x->dtype);
  detail::check_output(s.fn, "grad_out", o.grad_out, s.x->shape, s.x->dtype);
  if (o.hess_out.present()) {
    throw_value_error(f +
                      ": hess_out is not available: the Hessian of a batch "
                      "loss is not diagonal");
  }
  check_upstream(s.fn, s.reduction, o.grad_output, o.grad_output_elementwise,
                 sample, s.x->dtype);
  return y;
}

// d_ij = ||x_i - x_j||_2 for all i, j (0 on the diagonal), row-parallel.
template <class T>
std::vector<T> pair_distances(const T* x, int64_t n, int64_t d) {
  std::vector<T> dm(static_cast<size_t>(n * n), T(0));
  parallel_for(n, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, n * d)),
               [&](int64_t i0, int64_t i1) {
                 for (int64_t i = i0; i < i1; ++i) {
                   for (int64_t j = 0; j < n; ++j) {
                     if (j == i) continue;
                     dm[size_t(i * n + j)] = std::sqrt(detail::emb_diff_sum(
                         x + i * d, x + j * d, d, T(0), T(2), EmbNorm::kL2));
                   }
                 }
               });
  return dm;
}

// grad_k = sum_j (W_kj + W_jk) (x_k - x_j), j ascending, row-parallel: the
// gradient of sum_ij W_ij d_ij when W_ij already holds coefficient / d_ij.
template <class T>
void grad_from_pair_weights(const T* x, int64_t n, int64_t d,
                            const std::vector<T>& W, T* g) {
  parallel_for(n, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, n * d)),
               [&](int64_t k0, int64_t k1) {
                 for (int64_t k = k0; k < k1; ++k) {
                   T* gk = g + k * d;
                   std::fill(gk, gk + d, T(0));
                   for (int64_t j = 0; j < n; ++j) {
                     const T wkj = W[size_t(k * n + j)] + W[size_t(j * n + k)];
                     if (j == k || wkj == T(0)) continue;
                     detail::emb_diff_grad(x + k * d, x + j * d, d, T(0), T(2),
                                           EmbNorm::kL2, wkj, gk, nullptr);
                   }
                 }
               });
}

// Sum of per-anchor values in blocks of kRows anchors, pairwise combined.
template <class T>
double anchor_sum(const std::vector<T>& l) {
  const int64_t n = int64_t(l.size());
  const int64_t nb = blocks_of(n);
  std::vector<double> partials(static_cast<size_t>(nb), 0.0);
  for (int64_t b = 0; b < nb; ++b) {
    double acc = 0.0;
    for (int64_t i = b * kRows; i < std::min(n, (b + 1) * kRows); ++i) {
      acc += double(l[size_t(i)]);
    }
    partials[size_t(b)] = acc;
  }
  return pairwise_sum(partials.data(), nb);
}

template <class T>
double batch_hard_typed(const BatchSpec& s, const std::vector<int64_t>& y,
                        double margin_d) {
  const LossOutputs& o = *s.outputs;
  const int64_t n = s.x->shape[0], d = s.x->shape[1];
  const Contiguous<T> xc(*s.x), go(o.grad_output_elementwise);
  const T* x = xc.get();
  const T margin = T(margin_d);
  const std::vector<T> dm = pair_distances(x, n, d);
  // Hardest positive: max d_ij over j != i with y_j = y_i; hardest negative:
  // min d_ij over y_j != y_i; ties keep the smallest index.
  std::vector<int64_t> hp(static_cast<size_t>(n), -1),
      hn(static_cast<size_t>(n), -1);
  std::vector<T> l(static_cast<size_t>(n), T(0));
  parallel_for(blocks_of(n), min_blocks(n), [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0 * kRows; i < std::min(n, b1 * kRows); ++i) {
      const T* di = dm.data() + i * n;
      int64_t p = -1, q = -1;
      for (int64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        if (y[size_t(j)] == y[size_t(i)]) {
          if (p < 0 || di[j] > di[p]) p = j;
        } else if (q < 0 || di[j] < di[q]) {
          q = j;
        }
      }
      hp[size_t(i)] = p;
      hn[size_t(i)] = q;
      if (p >= 0 && q >= 0) l[size_t(i)] = relu_nan((margin + di[p]) - di[q]);
    }
  });
  int64_t valid = 0;
  for (int64_t i = 0; i < n; ++i)
    valid += (hp[size_t(i)] >= 0 && hn[size_t(i)] >= 0);
  const double scale = s.reduction == Reduction::kMean
                           ? (valid == 0 ? 0.0 : 1.0 / double(valid))
                           : 1.0;
  if (o.out.present()) std::copy(l.begin(), l.end(), o.out.as<T>());
  if (o.grad_out.present()) {
    const T gscale = T(o.grad_output * scale);
    std::vector<T> W(static_cast<size_t>(n * n), T(0));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = hp[size_t(i)], q = hn[size_t(i)];
      if (p < 0 || q < 0 || !(l[size_t(i)] > T(0))) continue;  // relu: l > 0
      const T c = go.get() ? go.get()[i] : gscale;
      const T dp = dm[size_t(i * n + p)], dq = dm[size_t(i * n + q)];
      if (dp > T(0)) W[size_t(i * n + p)] += c / dp;
      if (dq > T(0)) W[size_t(i * n + q)] -= c / dq;
    }
    grad_from_pair_weights(x, n, d, W, o.grad_out.as<T>());
  }
  const double sum = anchor_sum(l);
  return double(
      T(s.reduction == Reduction::kMean ? (valid ? sum * scale : 0.0) : sum));
}

template <class T>
double batch_all_typed(const BatchSpec& s, const std::vector<int64_t>& y,
                       double margin_d) {
  const LossOutputs& o = *s.outputs;
  const int64_t n = s.x->shape[0], d = s.x->shape[1];
  const Contiguous<T> xc(*s.x), go(o.grad_output_elementwise);
  const T* x = xc.get();
  const T margin = T(margin_d);
  const std::vector<T> dm = pair_distances(x, n, d);
  // cnt[a][j]: the number of active triplets (l > 0) that use the pair
  // (a, j), j as positive or as negative.
  std::vector<int32_t> cnt(static_cast<size_t>(n * n), 0);
  std::vector<T> l(static_cast<size_t>(n), T(0));
  std::vector<int64_t> active(static_cast<size_t>(n), 0);
  parallel_for(
      blocks_of(n), min_blocks(n * n / 4 + 1), [&](int64_t b0, int64_t b1) {
        std::vector<int64_t> pos, neg;
        for (int64_t a = b0 * kRows; a < std::min(n, b1 * kRows); ++a) {
          pos.clear();
          neg.clear();
          for (int64_t j = 0; j < n; ++j) {
            if (j == a) continue;
            (y[size_t(j)] == y[size_t(a)] ? pos : neg).push_back(j);
          }
          const T* da = dm.data() + a * n;
          int32_t* ca = cnt.data() + a * n;
          double acc = 0.0;
          int64_t act = 0;
          for (const int64_t p : pos) {
            const T mp = margin + da[p];
            for (const int64_t q : neg) {
              const T t = mp - da[q];
              if (t > T(0)) {
                acc += double(t);
                ++act;
                ++ca[p];
                ++ca[q];
              } else if (t != t) {
                acc += double(t);  // NaN propagates
              }
            }
          }
          l[size_t(a)] = T(acc);
          active[size_t(a)] = act;
        }
      });
  int64_t total = 0;
  for (int64_t a = 0; a < n; ++a) total += active[size_t(a)];
  const double scale = s.reduction == Reduction::kMean
                           ? (total == 0 ? 0.0 : 1.0 / double(total))
                           : 1.0;
  if (o.out.present()) std::copy(l.begin(), l.end(), o.out.as<T>());
  if (o.grad_out.present()) {
    const T gscale = T(o.grad_output * scale);
    std::vector<T> W(static_cast<size_t>(n * n), T(0));
    for (int64_t a = 0; a < n; ++a) {
      const T c = go.get() ? go.get()[a] : gscale;
      for (int64_t j = 0; j < n; ++j) {
        const int32_t k = cnt[size_t(a * n + j)];
        const T dj = dm[size_t(a * n + j)];
        if (k == 0 || !(dj > T(0))) continue;
        const T wj = (c * T(k)) / dj;
        W[size_t(a * n + j)] = y[size_t(j)] == y[size_t(a)] ? wj : -wj;
      }
    }
    grad_from_pair_weights(x, n, d, W, o.grad_out.as<T>());
  }
  const double sum = anchor_sum(l);
  return double(
      T(s.reduction == Reduction::kMean ? (total ? sum * scale : 0.0) : sum));
}

template <class T>
double nt_xent_typed(const BatchSpec& s, const std::vector<int64_t>& y,
                     const NtXentOptions& opt) {
  const LossOutputs& o = *s.outputs;
  const int64_t n = s.x->shape[0], d = s.x->shape[1];
  const Contiguous<T> xc(*s.x), go(o.grad_output_elementwise);
  const T* x = xc.get();
  const T eps = T(opt.eps), tau = T(opt.temperature);
  // z_i = x_i / max(||x_i||, eps), as torch.nn.functional.normalize.
  std::vector<T> nrm(static_cast<size_t>(n)), den(static_cast<size_t>(n)),
      z(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) {
    const T* xi = x + i * d;
    nrm[size_t(i)] = std::sqrt(detail::emb_dot(xi, xi, d));
    den[size_t(i)] = std::max(nrm[size_t(i)], eps);
    for (int64_t k = 0; k < d; ++k)
      z[size_t(i * d + k)] = xi[k] / den[size_t(i)];
  }
  // Logits s_ik = z_i.z_k / tau, row-parallel (the diagonal is unused).
  std::vector<T> S(static_cast<size_t>(n * n), T(0));
  const int64_t grain =
      std::max<int64_t>(1, 65536 / std::max<int64_t>(1, n * d));
  parallel_for(n, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      for (int64_t k = 0; k < n; ++k) {
        if (k == i) continue;
        S[size_t(i * n + k)] =
            detail::emb_dot(z.data() + i * d, z.data() + k * d, d) / tau;
      }
    }
  });
  // Per anchor: lse_i = log sum_{k != i} exp(s_ik) (max-shifted) and
  // l_i = lse_i - mean_{p in P(i)} s_ip.
  std::vector<T> l(static_cast<size_t>(n), T(0)),
      lse(static_cast<size_t>(n), T(0));
  std::vector<int64_t> npos(static_cast<size_t>(n), 0);
  parallel_for(blocks_of(n), min_blocks(n), [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0 * kRows; i < std::min(n, b1 * kRows); ++i) {
      const T* si = S.data() + i * n;
      T m = -std::numeric_limits<T>::infinity();
      int64_t np = 0;
      T ps = T(0);
      for (int64_t k = 0; k < n; ++k) {
        if (k == i) continue;
        m = std::max(m, si[k]);
        if (y[size_t(k)] == y[size_t(i)]) {
          ps += si[k];
          ++np;
        }
      }
      npos[size_t(i)] = np;
      if (np == 0) continue;
      T acc = T(0);
      for (int64_t k = 0; k < n; ++k) {
        if (k != i) acc += std::exp(si[k] - m);
      }
      lse[size_t(i)] = m + std::log(acc);
      l[size_t(i)] = lse[size_t(i)] - ps / T(np);
    }
  });
  int64_t valid = 0;
  for (int64_t i = 0; i < n; ++i) valid += npos[size_t(i)] > 0;
  const double scale = s.reduction == Reduction::kMean
                           ? (valid == 0 ? 0.0 : 1.0 / double(valid))
                           : 1.0;
  if (o.out.present()) std::copy(l.begin(), l.end(), o.out.as<T>());
  if (o.grad_out.present()) {
    // dL/ds_ik = c_i (softmax_ik - [k in P(i)] / |P(i)|), ds_ik/dz = z / tau.
    const T gscale = T(o.grad_output * scale);
    std::vector<T> G(static_cast<size_t>(n * n), T(0));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t np = npos[size_t(i)];
      if (np == 0) continue;
      const T c = (go.get() ? go.get()[i] : gscale) / tau;
      const T inv_np = T(1) / T(np);
      for (int64_t k = 0; k < n; ++k) {
        if (k == i) continue;
        const T pk = std::exp(S[size_t(i * n + k)] - lse[size_t(i)]);
        const T q = y[size_t(k)] == y[size_t(i)] ? inv_np : T(0);
        G[size_t(i * n + k)] = c * (pk - q);
      }
    }
    T* g = o.grad_out.as<T>();
    parallel_for(n, grain, [&](int64_t k0, int64_t k1) {
      std::vector<T> gz(static_cast<size_t>(d));
      for (int64_t k = k0; k < k1; ++k) {
        std::fill(gz.begin(), gz.end(), T(0));
        for (int64_t j = 0; j < n; ++j) {
          const T w = G[size_t(k * n + j)] + G[size_t(j * n + k)];
          if (j == k || w == T(0)) continue;
          detail::emb_axpy(gz.data(), w, z.data() + j * d, d);
        }
        // Through normalize: (gz - (gz.z) z) / ||x|| when ||x|| >= eps
        // (clamp_min passes), gz / eps otherwise (all-zero rows stay finite).
        T* gk = g + k * d;
        const T dk = den[size_t(k)];
        for (int64_t t = 0; t < d; ++t) gk[t] = gz[size_t(t)] / dk;
        if (nrm[size_t(k)] >= eps && nrm[size_t(k)] > T(0)) {
          const T* zk = z.data() + k * d;
          const T proj = detail::emb_dot(gz.data(), zk, d);
          detail::emb_axpy(gk, -(proj / dk), zk, d);
        }
      }
    });
  }
  const double sum = anchor_sum(l);
  return double(
      T(s.reduction == Reduction::kMean ? (valid ? sum * scale : 0.0) : sum));
}

// Shared validation of the pair losses (two inputs and a target).
void check_pair(std::string_view fn, const View& x1, const View& x2,
                const View& weight, Reduction r, const PairOutputs& po) {
  const char* names[] = {"x1", "x2"};
  const View* xs[] = {&x1, &x2};
  check_embeddings(fn, names, xs, 2);
  const Shape sample = sample_shape(x1.shape);
  check_reduction(fn, r, po.out.present());
  check_weight(fn, weight, sample, x1.dtype);
  detail::check_output(fn, "out", po.out, sample, x1.dtype);
  detail::check_output(fn, "grad_x1", po.grad_x1, x1.shape, x1.dtype);
  detail::check_output(fn, "grad_x2", po.grad_x2, x1.shape, x1.dtype);
  check_upstream(fn, r, po.grad_output, po.grad_output_elementwise, sample,
                 x1.dtype);
}

}  // namespace

double triplet_margin_loss(View anchor, View positive, View negative,
                           const TripletMarginOptions& o,
                           const TripletOutputs& to) {
  constexpr std::string_view fn = "triplet_margin_loss";
  const char* names[] = {"anchor", "positive", "negative"};
  const View* xs[] = {&anchor, &positive, &negative};
  check_embeddings(fn, names, xs, 3);
  check_margin(fn, o.margin);
  if (!(o.p > 0.0 && std::isfinite(o.p))) {
    throw_value_error(str(fn) + ": p=" + value_str(o.p) +
                      " must be finite and > 0 (2 is the Euclidean distance)");
  }
  if (!(o.eps >= 0.0 && std::isfinite(o.eps))) {
    throw_value_error(str(fn) + ": eps=" + value_str(o.eps) +
                      " must be finite and >= 0 (default 1e-6)");
  }
  const Shape sample = sample_shape(anchor.shape);
  check_reduction(fn, o.reduction, to.out.present());
  check_weight(fn, o.weight, sample, anchor.dtype);
  detail::check_output(fn, "out", to.out, sample, anchor.dtype);
  detail::check_output(fn, "grad_anchor", to.grad_anchor, anchor.shape,
                       anchor.dtype);
  detail::check_output(fn, "grad_positive", to.grad_positive, anchor.shape,
                       anchor.dtype);
  detail::check_output(fn, "grad_negative", to.grad_negative, anchor.shape,
                       anchor.dtype);
  check_upstream(fn, o.reduction, to.grad_output, to.grad_output_elementwise,
                 sample, anchor.dtype);
  if (anchor.dtype == DType::kFloat32) {
    return triplet_typed<float>(anchor, positive, negative, o, to);
  }
  return triplet_typed<double>(anchor, positive, negative, o, to);
}

double contrastive_loss(View x1, View x2, View target,
                        const ContrastiveOptions& o, const PairOutputs& po) {
  constexpr std::string_view fn = "contrastive_loss";
  check_pair(fn, x1, x2, o.weight, o.reduction, po);
  check_margin(fn, o.margin);
  const std::vector<double> y =
      read_pair_target(fn, target, sample_shape(x1.shape), x1.dtype, 0.0, 1.0);
  if (x1.dtype == DType::kFloat32) {
    return contrastive_typed<float>(x1, x2, y, o, po);
  }
  return contrastive_typed<double>(x1, x2, y, o, po);
}

double cosine_embedding_loss(View x1, View x2, View target,
                             const CosineEmbeddingOptions& o,
                             const PairOutputs& po) {
  constexpr std::string_view fn = "cosine_embedding_loss";
  check_pair(fn, x1, x2, o.weight, o.reduction, po);
  if (x1.shape.ndim() > 2) {
    throw_value_error(str(fn) + ": x1 must have shape (N, D) or (D,); got " +
                      x1.shape.str() +
                      " (reshape to (-1, D) and flatten the target)");
  }
  if (!(o.margin >= -1.0 && o.margin <= 1.0)) {
    throw_value_error(str(fn) + ": margin=" + value_str(o.margin) +
                      " must lie in [-1, 1] (a cosine); 0 to 0.5 is usual");
  }
  const std::vector<double> y =
      read_pair_target(fn, target, sample_shape(x1.shape), x1.dtype, 1.0, -1.0);
  if (x1.dtype == DType::kFloat32) return cosine_typed<float>(x1, x2, y, o, po);
  return cosine_typed<double>(x1, x2, y, o, po);
}

double batch_hard_triplet_loss(View embeddings, View labels,
                               const BatchTripletOptions& o,
                               const LossOutputs& out) {
  const BatchSpec s{"batch_hard_triplet_loss", &embeddings, &labels,
                    o.reduction, &out};
  const std::vector<int64_t> y = check_batch(s);
  check_margin(s.fn, o.margin);
  if (embeddings.dtype == DType::kFloat32) {
    return batch_hard_typed<float>(s, y, o.margin);
  }
  return batch_hard_typed<double>(s, y, o.margin);
}

double batch_all_triplet_loss(View embeddings, View labels,
                              const BatchTripletOptions& o,
                              const LossOutputs& out) {
  const BatchSpec s{"batch_all_triplet_loss", &embeddings, &labels, o.reduction,
                    &out};
  const std::vector<int64_t> y = check_batch(s);
  check_margin(s.fn, o.margin);
  if (embeddings.dtype == DType::kFloat32) {
    return batch_all_typed<float>(s, y, o.margin);
  }
  return batch_all_typed<double>(s, y, o.margin);
}

double nt_xent_loss(View embeddings, View labels, const NtXentOptions& o,
                    const LossOutputs& out) {
  const BatchSpec s{"nt_xent_loss", &embeddings, &labels, o.reduction, &out};
  const std::vector<int64_t> y = check_batch(s);
  if (!(o.temperature > 0.0 && std::isfinite(o.temperature))) {
    throw_value_error(str(s.fn) + ": temperature=" + value_str(o.temperature) +
                      " must be finite and > 0 (SimCLR uses 0.07 to 0.5)");
  }
  if (!(o.eps > 0.0 && std::isfinite(o.eps))) {
    throw_value_error(str(s.fn) + ": eps=" + value_str(o.eps) +
                      " must be finite and > 0 (default 1e-12, as "
                      "torch.nn.functional.normalize)");
  }
  if (embeddings.dtype == DType::kFloat32) {
    return nt_xent_typed<float>(s, y, o);
  }
  return nt_xent_typed<double>(s, y, o);
}

}  // namespace losslab
