// Segmentation losses, op layer: validation, target encoding (one-hot and
// the valid-pixel mask), the three kernel passes (probabilities, soft sums,
// gradient; segmentation-inl.h), the per-class scores and the reduction.
// Formulas and conventions: include/losslab/losses/segmentation.h and
// docs/losses_segmentation.md.
#include "losslab/losses/segmentation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "losslab/losses/classification.h"
#include "src/core/checks.h"
#include "src/losses/elementwise.h"
#include "src/losses/segmentation.h"

namespace losslab {
namespace {

using detail::index_str;
using detail::value_str;

enum class SegKind { kDice, kJaccard, kTversky };

struct SegSpec {
  std::string_view fn;
  SegKind kind = SegKind::kDice;
  SegMode mode = SegMode::kMulticlass;
  bool from_logits = true;
  View class_weights = {};
  int64_t ignore_index = -100;
  bool per_image = false;
  double smooth = 1.0, eps = 1e-7;
  double alpha = 0.5, beta = 0.5, gamma = 1.0;
  Reduction reduction = Reduction::kMean;
};

// The options every overlap loss shares.
template <class O>
SegSpec make_spec(std::string_view fn, SegKind kind, const O& o,
                  bool from_logits) {
  SegSpec sp;
  sp.fn = fn;
  sp.kind = kind;
  sp.mode = o.mode;
  sp.from_logits = from_logits;
  sp.class_weights = o.class_weights;
  sp.ignore_index = o.ignore_index;
  sp.per_image = o.per_image;
  sp.smooth = o.smooth;
  sp.eps = o.eps;
  sp.reduction = o.reduction;
  return sp;
}

struct SegDims {
  int64_t n, c, s;
  bool index_target;
  int64_t groups() const { return n * c; }
};

void check_finite_param(std::string_view fn, std::string_view name, double v,
                        double lo, bool lo_open, const std::string& hint) {
  const bool ok = std::isfinite(v) && (lo_open ? v > lo : v >= lo);
  if (!ok) {
    throw_value_error(std::string(fn) + ": " + std::string(name) + "=" +
                      value_str(v) + " must be finite and " +
                      (lo_open ? "> " : ">= ") + value_str(lo) + "; " + hint);
  }
}

void check_options(const SegSpec& sp) {
  check_finite_param(sp.fn, "smooth", sp.smooth, 0.0, false,
                     "1.0 is the usual choice");
  check_finite_param(sp.fn, "eps", sp.eps, 0.0, false,
                     "eps guards the denominator (1e-7 by default)");
  if (sp.smooth == 0.0 && sp.eps == 0.0) {
    throw_value_error(std::string(sp.fn) +
                      ": smooth=0 and eps=0 leave 0/0 for a class that is "
                      "empty in both prediction and target; set smooth > 0 "
                      "or eps > 0");
  }
  if (sp.kind == SegKind::kTversky) {
    check_finite_param(sp.fn, "alpha", sp.alpha, 0.0, false,
                       "alpha weighs false positives (0.5 = Dice)");
    check_finite_param(sp.fn, "beta", sp.beta, 0.0, false,
                       "beta weighs false negatives (0.5 = Dice)");
    check_finite_param(sp.fn, "gamma", sp.gamma, 0.0, true,
                       "gamma = 1 is the plain Tversky loss, 0.75 the "
                       "focal Tversky loss of Abraham & Khan");
  }
}

SegDims seg_dims(const SegSpec& sp, const View& x, const View& t,
                 const LossOutputs& o) {
  const std::string fn(sp.fn);
  detail::require_float(sp.fn, "input", x);
  if (x.shape.ndim() < 2) {
    throw_value_error(fn + ": input shape " + x.shape.str() +
                      " must be (N, C, d1, ...): a batch, a class/channel "
                      "dimension and optional spatial dims");
  }
  if (x.numel() == 0) {
    throw_value_error(fn + ": input is empty (shape " + x.shape.str() +
                      "); an empty batch is an error, not a zero loss");
  }
  SegDims d{x.shape[0], x.shape[1], 1, false};
  Shape index_shape{x.shape[0]};
  for (int k = 2; k < x.shape.ndim(); ++k) {
    d.s *= x.shape[k];
    index_shape.push_back(x.shape[k]);
  }
  if (sp.mode == SegMode::kBinary && d.c != 1) {
    throw_value_error(fn +
                      ": mode='binary' needs one channel (input shape (N, "
                      "1, ...)); got C = " +
                      std::to_string(d.c) + " (input shape " + x.shape.str() +
                      "); use mode='multiclass' or 'multilabel'");
  }
  if (is_integer(t.dtype)) {
    if (t.dtype != DType::kInt64 && t.dtype != DType::kInt32) {
      throw_type_error(fn + ": target dtype " +
                       std::string(dtype_name(t.dtype)) +
                       " is not supported for a class-index map; cast it to "
                       "int64");
    }
    if (sp.mode == SegMode::kMultilabel) {
      throw_value_error(fn +
                        ": mode='multilabel' needs a mask target of the "
                        "input's shape " +
                        x.shape.str() +
                        " (one 0/1 channel per label), not a class-index map");
    }
    if (!(t.shape == index_shape)) {
      throw_value_error(fn + ": target shape " + t.shape.str() +
                        " matches neither the class-index map shape " +
                        index_shape.str() + " nor the mask shape " +
                        x.shape.str() + " (input shape " + x.shape.str() +
                        "); losslab never broadcasts");
    }
    d.index_target = true;
  } else if (is_floating(t.dtype)) {
    detail::require_same_dtype(sp.fn, "target", t, "input", x.dtype);
    if (!(t.shape == x.shape)) {
      throw_value_error(fn + ": mask target shape " + t.shape.str() +
                        " must equal the input shape " + x.shape.str() +
                        " (or pass a class-index map " + index_shape.str() +
                        " of int64); losslab never broadcasts");
    }
  } else {
    throw_type_error(
        fn + ": target dtype " + std::string(dtype_name(t.dtype)) +
        " is not supported; pass class indices (int64) or a "
        "mask of the input's dtype (e.g. mask.astype(input.dtype))");
  }
  const View& w = sp.class_weights;
  if (w.present()) {
    detail::require_same_dtype(sp.fn, "class_weights", w, "input", x.dtype);
    if (!(w.shape == Shape{d.c})) {
      throw_value_error(fn + ": class_weights shape " + w.shape.str() +
                        " must be (" + std::to_string(d.c) +
                        ",): one weight per class (input shape " +
                        x.shape.str() + ")");
    }
  }
  if (x.data == nullptr || t.data == nullptr) {
    throw_value_error(fn + ": input or target has a null data pointer");
  }
  if (sp.reduction == Reduction::kBatchMean) {
    throw_value_error(fn +
                      ": reduction='batchmean' is only defined for kl_div; "
                      "use 'mean', 'sum' or 'none'");
  }
  const Shape out_shape = sp.per_image ? Shape{d.n, d.c} : Shape{d.c};
  if (sp.reduction == Reduction::kNone && !o.out.present()) {
    throw_value_error(fn + ": reduction='none' needs outputs.out of shape " +
                      out_shape.str() + " (one loss per class" +
                      (sp.per_image ? " and image" : "") + ")");
  }
  detail::check_output(sp.fn, "out", o.out, out_shape, x.dtype);
  detail::check_output(sp.fn, "grad_out", o.grad_out, x.shape, x.dtype);
  if (o.hess_out.present()) {
    throw_value_error(fn +
                      ": hess_out is not available: an overlap loss couples "
                      "all pixels, its Hessian is not diagonal");
  }
  if (o.grad_output_elementwise.present()) {
    if (sp.reduction != Reduction::kNone) {
      throw_value_error(fn +
                        ": an elementwise grad_output needs reduction='none'; "
                        "pass a scalar grad_output for 'mean' or 'sum'");
    }
    detail::require_same_dtype(sp.fn, "grad_output", o.grad_output_elementwise,
                               "input", x.dtype);
    detail::require_same_shape(sp.fn, "grad_output",
                               o.grad_output_elementwise.shape, "out",
                               out_shape);
  }
  if (!std::isfinite(o.grad_output)) {
    throw_value_error(fn + ": grad_output must be finite; got " +
                      value_str(o.grad_output));
  }
  return d;
}

template <class T>
void fill_nan(const MutableView& v) {
  if (!v.present() || v.data == nullptr) return;
  std::fill(v.as<T>(), v.as<T>() + v.numel(),
            std::numeric_limits<T>::quiet_NaN());
}

// Kernel dispatch by dtype.
void fwd(const detail::SegFwdCall<float>& c, int64_t b0, int64_t b1) {
  detail::seg_forward_f32(c, b0, b1);
}
void fwd(const detail::SegFwdCall<double>& c, int64_t b0, int64_t b1) {
  detail::seg_forward_f64(c, b0, b1);
}
void sums(const detail::SegSumCall<float>& c, int64_t b0, int64_t b1) {
  detail::seg_sums_f32(c, b0, b1);
}
void sums(const detail::SegSumCall<double>& c, int64_t b0, int64_t b1) {
  detail::seg_sums_f64(c, b0, b1);
}
void bwd(const detail::SegBwdCall<float>& c, int64_t b0, int64_t b1) {
  detail::seg_backward_f32(c, b0, b1);
}
void bwd(const detail::SegBwdCall<double>& c, int64_t b0, int64_t b1) {
  detail::seg_backward_f64(c, b0, b1);
}

// Loss of one group from its soft sums, and the coefficients of
// dl/dp_j = a t_j + b (for a pixel j of that group that is not ignored).
struct GroupResult {
  double loss, a, b;
};

GroupResult group_loss(const SegSpec& sp, double I, double P, double Tt) {
  const double s = sp.smooth;
  GroupResult r{};
  if (sp.kind == SegKind::kDice) {
    // score = (2I + s) / max(P + T + s, eps)
    const double num = 2.0 * I + s, dr = P + Tt + s;
    const double den = std::max(dr, sp.eps);
    const double pass = dr >= sp.eps ? 1.0 : 0.0;  // clamp_min's gradient
    r.loss = 1.0 - num / den;
    r.a = -2.0 / den;
    r.b = pass * num / (den * den);
  } else if (sp.kind == SegKind::kJaccard) {
    // score = (I + s) / max(P + T - I + s, eps); d den/dp_j = 1 - t_j
    const double num = I + s, dr = P + Tt - I + s;
    const double den = std::max(dr, sp.eps);
    const double q = (dr >= sp.eps ? 1.0 : 0.0) * num / (den * den);
    r.loss = 1.0 - num / den;
    r.a = -(1.0 / den + q);
    r.b = q;
  } else {
    // TI = (I + s) / max(I + alpha (P - I) + beta (T - I) + s, eps);
    // d den/dp_j = alpha + t_j (1 - alpha - beta); l = (1 - TI)^gamma.
    const double num = I + s;
    const double dr = I + sp.alpha * (P - I) + sp.beta * (Tt - I) + s;
    const double den = std::max(dr, sp.eps);
    const double ti = num / den;
    double f;  // -dl/dTI
    if (sp.gamma == 1.0) {
      r.loss = 1.0 - ti;
      f = 1.0;
    } else {
      // q >= 0 up to rounding; at q = 0 (the minimum) the gradient is taken
      // as 0 (for gamma < 1 the one-sided derivative is infinite).
      const double q = std::max(1.0 - ti, 0.0);
      r.loss = std::pow(q, sp.gamma);
      f = q > 0.0 ? sp.gamma * std::pow(q, sp.gamma - 1.0) : 0.0;
    }
    const double qd = (dr >= sp.eps ? 1.0 : 0.0) * num / (den * den);
    r.a = f * (-1.0 / den + qd * (1.0 - sp.alpha - sp.beta));
    r.b = f * qd * sp.alpha;
  }
  return r;
}

template <class T>
double run_seg_typed(const SegSpec& sp, const View& x, const View& t,
                     const LossOutputs& o, const SegDims& d) {
  const std::string fn(sp.fn);
  const int64_t N = d.n, C = d.c, S = d.s, NCS = N * C * S;
  const detail::Contiguous<T> xc(x), wc(sp.class_weights),
      go(o.grad_output_elementwise);
  auto fail = [&](const std::string& msg) {
    fill_nan<T>(o.out);
    fill_nan<T>(o.grad_out);
    throw_value_error(msg);
  };
  if (const T* w = wc.get()) {
    for (int64_t c = 0; c < C; ++c) {
      if (!(w[c] >= T(0) && w[c] <= std::numeric_limits<T>::max())) {
        fail(fn + ": class_weights must be finite and >= 0; got " +
             value_str(double(w[c])) + " at index " + std::to_string(c));
      }
    }
  }
  // Input: finite; probabilities in [0, 1].
  for (int64_t i = 0; i < NCS; ++i) {
    const T v = xc.get()[i];
    if (sp.from_logits ? !std::isfinite(v) : !(v >= T(0) && v <= T(1))) {
      fail(fn + ": input has " + value_str(double(v)) + " at index " +
           index_str(i, x.shape) +
           (sp.from_logits
                ? "; logits must be finite"
                : "; with from_logits=False the input holds probabilities "
                  "in [0, 1] (pass logits with from_logits=True)"));
    }
  }
  // Targets as (N, C, S) values (0 at ignored pixels) and the valid mask.
  std::vector<T> tbuf, valid;
  const T* tp = nullptr;
  if (d.index_target) {
    tbuf.assign(size_t(NCS), T(0));
    auto encode = [&](const auto* lab) {
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t s = 0; s < S; ++s) {
          const int64_t v = int64_t(lab[n * S + s]);
          if (v == sp.ignore_index) {
            if (valid.empty()) valid.assign(size_t(N * S), T(1));
            valid[size_t(n * S + s)] = T(0);
            continue;
          }
          const int64_t hi = sp.mode == SegMode::kBinary ? 2 : C;
          if (v < 0 || v >= hi) {
            fail(fn + ": target contains class " + std::to_string(v) +
                 " at index " + index_str(n * S + s, t.shape) +
                 "; labels must lie in [0, " + std::to_string(hi) + ") (" +
                 (sp.mode == SegMode::kBinary
                      ? std::string("mode='binary': 0 or 1")
                      : "C = " + std::to_string(C) + " classes") +
                 ") or equal ignore_index=" + std::to_string(sp.ignore_index));
          }
          if (sp.mode == SegMode::kBinary) {
            tbuf[size_t(n * S + s)] = T(v);
          } else {
            tbuf[size_t((n * C + v) * S + s)] = T(1);
          }
        }
      }
    };
    if (t.dtype == DType::kInt64) {
      const detail::Contiguous<int64_t> lc(t);
      encode(lc.get());
    } else {
      const detail::Contiguous<int32_t> lc(t);
      encode(lc.get());
    }
    tp = tbuf.data();
  } else {
    const detail::Contiguous<T> tc(t);
    for (int64_t i = 0; i < NCS; ++i) {
      const T v = tc.get()[i];
      if (!(v >= T(0) && v <= T(1))) {
        fail(fn + ": mask target has " + value_str(double(v)) + " at index " +
             index_str(i, t.shape) + "; mask values must lie in [0, 1]");
      }
    }
    tbuf.assign(tc.get(), tc.get() + NCS);
    tp = tbuf.data();
  }
  const T* vp = valid.empty() ? nullptr : valid.data();

  // Pass 1: probabilities.
  const int64_t nsb = (S + detail::kBlock - 1) / detail::kBlock;
  const int64_t min_items =
      std::max<int64_t>(1, 65536 / (std::min(S, detail::kBlock) * C));
  std::vector<T> pbuf(static_cast<size_t>(NCS));
  const detail::SegAct act = !sp.from_logits ? detail::SegAct::kIdentity
                             : sp.mode == SegMode::kMulticlass
                                 ? detail::SegAct::kSoftmax
                                 : detail::SegAct::kSigmoid;
  detail::SegFwdCall<T> fc{xc.get(), vp, pbuf.data(), N, C, S, act};
  parallel_for(N * nsb, min_items,
               [&](int64_t b0, int64_t b1) { fwd(fc, b0, b1); });

  // Pass 2: soft sums per plane block.
  std::vector<double> part(size_t(3 * N * C * nsb));
  detail::SegSumCall<T> sc{pbuf.data(), tp, N, C, S, part.data()};
  const int64_t min_planes =
      std::max<int64_t>(1, 65536 / std::min(S, detail::kBlock));
  parallel_for(N * C * nsb, min_planes,
               [&](int64_t b0, int64_t b1) { sums(sc, b0, b1); });

  // Per group (class, or (image, class)): pairwise sums in (image, block)
  // order, then the loss and its coefficients.
  const int64_t G = sp.per_image ? N * C : C;
  std::vector<GroupResult> res(static_cast<size_t>(G));
  std::vector<double> list[3];
  for (int64_t g = 0; g < G; ++g) {
    for (auto& l : list) l.clear();
    const int64_t c = g % C;
    const int64_t n0 = sp.per_image ? g / C : 0;
    const int64_t n1 = sp.per_image ? n0 + 1 : N;
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t sb = 0; sb < nsb; ++sb) {
        const size_t item = size_t((n * C + c) * nsb + sb);
        for (int k = 0; k < 3; ++k) list[k].push_back(part[3 * item + k]);
      }
    }
    const int64_t m = int64_t(list[0].size());
    res[size_t(g)] = group_loss(sp, pairwise_sum(list[0].data(), m),
                                pairwise_sum(list[1].data(), m),
                                pairwise_sum(list[2].data(), m));
  }

  // Reduction.
  const T* w = wc.get();
  auto weight_of = [&](int64_t g) { return w ? double(w[g % C]) : 1.0; };
  double wsum = 0.0, total = 0.0;
  for (int64_t g = 0; g < G; ++g) {
    wsum += weight_of(g);
    const T lw = T(weight_of(g) * res[size_t(g)].loss);
    if (o.out.present()) o.out.as<T>()[g] = lw;
    total += double(lw);
  }
  double scale = 1.0;
  if (sp.reduction == Reduction::kMean) scale = wsum == 0.0 ? 0.0 : 1.0 / wsum;
  const double value = total * scale;

  // Pass 3: the gradient.
  if (o.grad_out.present()) {
    std::vector<T> A(size_t(N * C)), B(size_t(N * C));
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t c = 0; c < C; ++c) {
        const int64_t g = sp.per_image ? n * C + c : c;
        const double up = go.get() ? double(go.get()[g]) : o.grad_output;
        const double f = weight_of(g) * scale * up;
        A[size_t(n * C + c)] = T(res[size_t(g)].a * f);
        B[size_t(n * C + c)] = T(res[size_t(g)].b * f);
      }
    }
    detail::SegBwdCall<T> bc{pbuf.data(),        tp, vp, A.data(), B.data(),
                             o.grad_out.as<T>(), N,  C,  S,        act};
    parallel_for(N * nsb, min_items,
                 [&](int64_t b0, int64_t b1) { bwd(bc, b0, b1); });
  }
  return double(T(value));
}

double run_seg(const SegSpec& sp, const View& x, const View& t,
               const LossOutputs& o) {
  check_options(sp);
  const SegDims d = seg_dims(sp, x, t, o);
  if (x.dtype == DType::kFloat32) return run_seg_typed<float>(sp, x, t, o, d);
  return run_seg_typed<double>(sp, x, t, o, d);
}

// ---------------------------------------------------------------------------
// Hard overlap metrics.

template <class A>
void count_masks(const View& p, const View& t, int64_t ignore, int64_t K,
                 std::vector<int64_t>& inter, std::vector<int64_t>& ps,
                 std::vector<int64_t>& ts, std::string_view fn) {
  const detail::Contiguous<A> pc(p), tc(t);
  const int64_t n = p.numel();
  for (int64_t i = 0; i < n; ++i) {
    const A a = pc.get()[i], b = tc.get()[i];
    if (K == 0) {
      if (a != a || b != b) {
        throw_value_error(std::string(fn) + ": NaN in " +
                          (a != a ? "pred" : "target") + " at index " +
                          index_str(i, p.shape) + "; masks must be 0/1");
      }
      const bool pa = a != A(0), tb = b != A(0);
      inter[0] += pa && tb;
      ps[0] += pa;
      ts[0] += tb;
    } else {
      const int64_t lb = int64_t(b), la = int64_t(a);
      if (lb == ignore) continue;
      if (lb < 0 || lb >= K || la < 0 || la >= K) {
        throw_value_error(
            std::string(fn) + ": " + (lb < 0 || lb >= K ? "target" : "pred") +
            " contains class " + std::to_string(lb < 0 || lb >= K ? lb : la) +
            " at index " + index_str(i, p.shape) +
            "; labels must lie in [0, num_classes=" + std::to_string(K) + ")");
      }
      inter[size_t(la)] += la == lb;
      ps[size_t(la)] += 1;
      ts[size_t(lb)] += 1;
    }
  }
}

double overlap_score(std::string_view fn, bool dice, const View& p,
                     const View& t, const OverlapScoreOptions& o,
                     const MutableView& per_class) {
  const std::string f(fn);
  if (o.num_classes < 0) {
    throw_value_error(f + ": num_classes=" + std::to_string(o.num_classes) +
                      " must be >= 0 (0 = binary masks)");
  }
  detail::require_same_shape(fn, "target", t.shape, "pred", p.shape);
  if (p.dtype != t.dtype) {
    throw_type_error(f + ": pred dtype " + std::string(dtype_name(p.dtype)) +
                     " does not match target dtype " +
                     std::string(dtype_name(t.dtype)) + "; cast one of them");
  }
  detail::require_nonempty(fn, "pred", p);
  const int64_t K = o.num_classes;
  if (K > 0 && p.dtype != DType::kInt64 && p.dtype != DType::kInt32) {
    throw_type_error(f +
                     ": with num_classes > 0, pred and target are "
                     "class-index maps of dtype int64 or int32; got " +
                     std::string(dtype_name(p.dtype)));
  }
  const int64_t C = K > 0 ? K : 1;
  detail::check_output(fn, "per_class", per_class, Shape{C}, DType::kFloat64);
  std::vector<int64_t> inter(static_cast<size_t>(C)),
      ps(static_cast<size_t>(C)), ts(static_cast<size_t>(C));
  switch (p.dtype) {
    case DType::kFloat32:
      count_masks<float>(p, t, o.ignore_index, K, inter, ps, ts, fn);
      break;
    case DType::kFloat64:
      count_masks<double>(p, t, o.ignore_index, K, inter, ps, ts, fn);
      break;
    case DType::kInt64:
      count_masks<int64_t>(p, t, o.ignore_index, K, inter, ps, ts, fn);
      break;
    case DType::kInt32:
      count_masks<int32_t>(p, t, o.ignore_index, K, inter, ps, ts, fn);
      break;
    case DType::kUInt8:
      count_masks<uint8_t>(p, t, o.ignore_index, K, inter, ps, ts, fn);
      break;
    case DType::kBool:  // one byte, 0 or 1
      count_masks<uint8_t>(p, t, o.ignore_index, K, inter, ps, ts, fn);
      break;
    default:
      throw_type_error(f + ": dtype " + std::string(dtype_name(p.dtype)) +
                       " is not supported; pass bool, uint8, int32, int64, "
                       "float32 or float64 masks");
  }
  double mean = 0.0;
  for (int64_t c = 0; c < C; ++c) {
    const double i = double(inter[size_t(c)]);
    const double a = double(ps[size_t(c)]), b = double(ts[size_t(c)]);
    double s;
    if (a + b == 0.0) {
      s = 1.0;  // empty in both: a perfect prediction of absence
    } else {
      s = dice ? 2.0 * i / (a + b) : i / (a + b - i);
    }
    if (per_class.present()) per_class.as<double>()[c] = s;
    mean += s;
  }
  return mean / double(C);
}

}  // namespace

SegMode parse_seg_mode(std::string_view s, std::string_view function) {
  if (s == "binary") return SegMode::kBinary;
  if (s == "multiclass") return SegMode::kMulticlass;
  if (s == "multilabel") return SegMode::kMultilabel;
  throw_value_error(std::string(function) + ": mode '" + std::string(s) +
                    "' is not one of 'binary', 'multiclass', 'multilabel'");
}

double dice_loss(View input, View target, const DiceOptions& o,
                 const LossOutputs& out) {
  SegSpec sp = make_spec("dice_loss", SegKind::kDice, o, o.from_logits);
  return run_seg(sp, input, target, out);
}

double jaccard_loss(View input, View target, const JaccardOptions& o,
                    const LossOutputs& out) {
  SegSpec sp = make_spec("jaccard_loss", SegKind::kJaccard, o, o.from_logits);
  return run_seg(sp, input, target, out);
}

double tversky_loss(View input, View target, const TverskyOptions& o,
                    const LossOutputs& out) {
  SegSpec sp = make_spec("tversky_loss", SegKind::kTversky, o, o.from_logits);
  sp.alpha = o.alpha;
  sp.beta = o.beta;
  sp.gamma = o.gamma;
  sp.reduction = o.reduction;
  return run_seg(sp, input, target, out);
}

double dice_cross_entropy_loss(View input, View target,
                               const DiceCrossEntropyOptions& o,
                               const LossOutputs& out) {
  constexpr std::string_view fn = "dice_cross_entropy_loss";
  const std::string f(fn);
  check_finite_param(fn, "dice_weight", o.dice_weight, 0.0, false,
                     "1.0 by default");
  check_finite_param(fn, "ce_weight", o.ce_weight, 0.0, false,
                     "1.0 by default");
  if (o.reduction != Reduction::kMean && o.reduction != Reduction::kSum) {
    throw_value_error(f + ": reduction='" +
                      std::string(reduction_name(o.reduction)) +
                      "' is not available: the Dice term is per class and "
                      "the cross-entropy per pixel; use 'mean' or 'sum'");
  }
  if (o.mode == SegMode::kMulticlass && !is_integer(target.dtype)) {
    throw_value_error(f +
                      ": mode='multiclass' needs a class-index target (N, "
                      "d1, ...) of int64 for the cross-entropy term; got "
                      "dtype " +
                      std::string(dtype_name(target.dtype)) +
                      " (convert a one-hot mask with mask.argmax(1))");
  }
  if (out.out.present() || out.hess_out.present() ||
      out.grad_output_elementwise.present()) {
    throw_value_error(f +
                      ": only grad_out and a scalar grad_output are "
                      "available (reduction is 'mean' or 'sum')");
  }
  SegSpec sp = make_spec(fn, SegKind::kDice, o, true);
  const double dice = run_seg(sp, input, target,
                              {.grad_out = out.grad_out,
                               .grad_output = o.dice_weight * out.grad_output});
  // The inputs are valid now (run_seg checked shapes, labels and dtypes).
  const bool f32 = input.dtype == DType::kFloat32;
  const int64_t n = input.numel();
  std::vector<float> gf;
  std::vector<double> gd;
  MutableView tmp;
  if (out.grad_out.present()) {
    if (f32) {
      gf.resize(size_t(n));
      tmp = MutableView{gf.data(), input.dtype, input.shape, {}};
    } else {
      gd.resize(size_t(n));
      tmp = MutableView{gd.data(), input.dtype, input.shape, {}};
    }
  }
  const LossOutputs ce_out{.grad_out = tmp,
                           .grad_output = o.ce_weight * out.grad_output};
  double ce;
  if (o.mode == SegMode::kMulticlass) {
    ce = cross_entropy(input, target,
                       {.weight = o.class_weights,
                        .ignore_index = o.ignore_index,
                        .reduction = o.reduction},
                       ce_out);
  } else if (!is_integer(target.dtype)) {
    ce = binary_cross_entropy_with_logits(input, target,
                                          {.reduction = o.reduction}, ce_out);
  } else {
    // Binary class-index map: 0/1 labels as a float mask; ignored pixels get
    // weight 0 (the mean divides by the number of pixels not ignored).
    std::vector<float> yf, wf;
    std::vector<double> yd, wdd;
    const int64_t m = target.numel();
    std::vector<int64_t> lab(static_cast<size_t>(m));
    if (target.dtype == DType::kInt64) {
      const detail::Contiguous<int64_t> c(target);
      for (int64_t i = 0; i < m; ++i) lab[size_t(i)] = c.get()[i];
    } else {
      const detail::Contiguous<int32_t> c(target);
      for (int64_t i = 0; i < m; ++i) lab[size_t(i)] = c.get()[i];
    }
    auto fill = [&](auto& y, auto& w) {
      y.resize(size_t(m));
      w.resize(size_t(m));
      for (int64_t i = 0; i < m; ++i) {
        const bool ign = lab[size_t(i)] == o.ignore_index;
        y[size_t(i)] = ign ? 0 : lab[size_t(i)];
        w[size_t(i)] = ign ? 0 : 1;
      }
    };
    View yv, wv;
    if (f32) {
      fill(yf, wf);
      yv = View{yf.data(), input.dtype, input.shape, {}};
      wv = View{wf.data(), input.dtype, input.shape, {}};
    } else {
      fill(yd, wdd);
      yv = View{yd.data(), input.dtype, input.shape, {}};
      wv = View{wdd.data(), input.dtype, input.shape, {}};
    }
    ce = binary_cross_entropy_with_logits(
        input, yv, {.weight = wv, .reduction = o.reduction}, ce_out);
  }
  if (out.grad_out.present()) {
    if (f32) {
      float* g = out.grad_out.as<float>();
      for (int64_t i = 0; i < n; ++i) g[i] = g[i] + gf[size_t(i)];
    } else {
      double* g = out.grad_out.as<double>();
      for (int64_t i = 0; i < n; ++i) g[i] = g[i] + gd[size_t(i)];
    }
  }
  const double v = o.dice_weight * dice + o.ce_weight * ce;
  return f32 ? double(float(v)) : v;
}

double dice_score(View pred, View target, const OverlapScoreOptions& o,
                  MutableView per_class) {
  return overlap_score("dice_score", true, pred, target, o, per_class);
}

double iou_score(View pred, View target, const OverlapScoreOptions& o,
                 MutableView per_class) {
  return overlap_score("iou_score", false, pred, target, o, per_class);
}

}  // namespace losslab
