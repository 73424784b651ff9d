// libFuzzer target over the public C++ op layer (issue 9).
//
// Each input picks a loss, a dtype (float32/float64), a shape, a reduction,
// the loss's options (valid or not), optional caller-owned outputs, sometimes
// a strided (non-contiguous) input view, and the values: ordinary numbers,
// NaN, +-Inf, denormals, +-1e30, 0, or raw bits. Asserted for every call:
//   1. no crash, no sanitizer report, no exception other than losslab::Error;
//   2. on a losslab::Error, every caller-provided output is either untouched
//      or entirely NaN (docs/losses.md, "Outputs on error": never
//      half-written);
//   3. when every float input is finite and moderate (|v| <= 1e3, so that no
//      documented overflow to Inf can happen), options are valid enough for
//      the call to succeed, the returned value and the gradients are not NaN
//      ("finite input never yields NaN"). Overflow to +-Inf is allowed
//      (docs: e.g. gaussian_kl_loss past log(FLT_MAX), kl_divergence at q = 0).
//      Set LOSSLAB_FUZZ_STRICT=1 to apply 3 to extreme finite values too.
//
// Build: fuzz/CMakeLists.txt (make fuzz / make fuzz-ci).
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "losslab/losslab.h"

namespace {

using losslab::DType;
using losslab::MutableView;
using losslab::Reduction;
using losslab::Shape;
using losslab::View;

bool g_strict = false;

// A float array (float32 or float64) or an int64 label array, owning its
// storage; optionally strided (every other element of a 2x buffer).
struct Arr {
  DType dtype = DType::kFloat64;
  Shape shape;
  bool strided = false;
  std::vector<double> f64;
  std::vector<float> f32;
  std::vector<int64_t> i64;
  bool finite = true;    // every value finite
  bool moderate = true;  // every value finite with |v| <= 1e3

  int64_t numel() const { return shape.numel(); }
  void* data() {
    if (dtype == DType::kFloat64) return f64.data();
    if (dtype == DType::kFloat32) return f32.data();
    return i64.data();
  }
  Shape strides() const {
    if (!strided) return {};
    Shape s;
    int64_t st = 2;
    std::vector<int64_t> v(static_cast<size_t>(shape.ndim()));
    for (int i = shape.ndim() - 1; i >= 0; --i) {
      v[static_cast<size_t>(i)] = st;
      st *= shape[i];
    }
    for (int64_t x : v) s.push_back(x);
    return s;
  }
  View view() { return View{data(), dtype, shape, strides()}; }
  MutableView mview() { return MutableView{data(), dtype, shape, {}}; }
  double get(int64_t i) const {
    const int64_t k = strided ? 2 * i : i;
    if (dtype == DType::kFloat64) return f64[static_cast<size_t>(k)];
    if (dtype == DType::kFloat32) return f32[static_cast<size_t>(k)];
    return static_cast<double>(i64[static_cast<size_t>(k)]);
  }
};

double pick_value(FuzzedDataProvider& fdp, double lo, double hi) {
  switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
    case 0:
      return std::numeric_limits<double>::quiet_NaN();
    case 1:
      return std::numeric_limits<double>::infinity();
    case 2:
      return -std::numeric_limits<double>::infinity();
    case 3:
      return 1e30;
    case 4:
      return -1e30;
    case 5:
      return 1e-40;  // float32 denormal
    case 6:
      return 5e-320;  // float64 denormal
    case 7:
      return 0.0;
    case 8: {
      uint64_t bits = fdp.ConsumeIntegral<uint64_t>();
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return d;
    }
    default:
      return fdp.ConsumeFloatingPointInRange<double>(lo, hi);
  }
}

// Kinds of value an argument holds when the fuzzer keeps it "plausible".
enum class Kind { kReal, kProb, kPositive, kPm1, kLogProb };

Arr make_float(FuzzedDataProvider& fdp, DType dt, Shape shape, Kind kind,
               bool wild, bool strided) {
  Arr a;
  a.dtype = dt;
  a.shape = shape;
  a.strided = strided;
  const int64_t n = shape.numel();
  const size_t cap = static_cast<size_t>(strided ? 2 * n : n);
  if (dt == DType::kFloat64) a.f64.assign(cap, -7.0);
  if (dt == DType::kFloat32) a.f32.assign(cap, -7.0f);
  for (int64_t i = 0; i < n; ++i) {
    double v;
    if (wild && fdp.ConsumeIntegralInRange<int>(0, 3) == 0) {
      v = pick_value(fdp, -10, 10);
    } else {
      const double u = fdp.ConsumeProbability<double>();
      switch (kind) {
        case Kind::kProb:
          v = u;
          break;
        case Kind::kPositive:
          v = 0.05 + 4 * u;
          break;
        case Kind::kPm1:
          v = u < 0.5 ? -1.0 : 1.0;
          break;
        case Kind::kLogProb:
          v = std::log(0.01 + u);
          break;
        default:
          v = 8 * u - 4;
      }
    }
    const size_t k = static_cast<size_t>(strided ? 2 * i : i);
    if (dt == DType::kFloat64) {
      a.f64[k] = v;
    } else {
      a.f32[k] = static_cast<float>(v);
      v = a.f32[k];
    }
    if (!std::isfinite(v)) a.finite = false;
    if (!(std::fabs(v) <= 1e3)) a.moderate = false;
  }
  return a;
}

Arr make_labels(FuzzedDataProvider& fdp, Shape shape, int64_t classes,
                bool wild) {
  Arr a;
  a.dtype = DType::kInt64;
  a.shape = shape;
  a.i64.resize(static_cast<size_t>(shape.numel()));
  for (auto& v : a.i64) {
    if (wild && fdp.ConsumeIntegralInRange<int>(0, 7) == 0) {
      const int64_t choices[] = {-100, -1, classes, INT64_MIN, INT64_MAX};
      v = choices[fdp.ConsumeIntegralInRange<int>(0, 4)];
    } else {
      v = fdp.ConsumeIntegralInRange<int64_t>(0, classes - 1);
    }
  }
  return a;
}

// A caller-owned output, pre-filled with a sentinel.
struct Out {
  Arr a;
  bool used = false;
  static constexpr double kSentinel = 12345.0;
  void init(DType dt, Shape shape) {
    used = true;
    a.dtype = dt;
    a.shape = shape;
    const auto n = static_cast<size_t>(shape.numel());
    if (dt == DType::kFloat64) a.f64.assign(n, kSentinel);
    if (dt == DType::kFloat32) a.f32.assign(n, static_cast<float>(kSentinel));
  }
  MutableView mv() { return used ? a.mview() : MutableView{}; }
  // 0: untouched, 1: all NaN, 2: mixed (half-written).
  int state() const {
    if (!used) return 0;
    bool all_s = true, all_nan = true;
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double v = a.get(i);
      all_s &= v == kSentinel;
      all_nan &= std::isnan(v);
    }
    if (all_s) return 0;
    if (all_nan) return 1;
    return 2;
  }
  bool has_nan() const {
    if (!used) return false;
    for (int64_t i = 0; i < a.numel(); ++i)
      if (std::isnan(a.get(i))) return true;
    return false;
  }
};

[[noreturn]] void fail(const char* loss, const char* what) {
  std::fprintf(stderr, "fuzz_losses: %s: %s\n", loss, what);
  std::abort();
}

Reduction pick_reduction(FuzzedDataProvider& fdp) {
  const Reduction r[] = {Reduction::kMean, Reduction::kSum, Reduction::kNone,
                         Reduction::kBatchMean};
  return r[fdp.ConsumeIntegralInRange<int>(0, 3)];
}

double pick_option(FuzzedDataProvider& fdp, double lo, double hi, bool wild) {
  if (wild && fdp.ConsumeIntegralInRange<int>(0, 4) == 0)
    return pick_value(fdp, -5, 5);
  return fdp.ConsumeFloatingPointInRange<double>(lo, hi);
}

constexpr int kLosses = 32;

void run_one(FuzzedDataProvider& fdp) {
  const int which = fdp.ConsumeIntegralInRange<int>(0, kLosses - 1);
  const DType dt = fdp.ConsumeBool() ? DType::kFloat64 : DType::kFloat32;
  const bool wild = fdp.ConsumeIntegralInRange<int>(0, 2) == 0;
  // Batch 0 now and then (must be an error, never a crash).
  const int64_t n = fdp.ConsumeIntegralInRange<int64_t>(wild ? 0 : 1, 40);
  const int64_t c = fdp.ConsumeIntegralInRange<int64_t>(1, 7);
  const Reduction red = pick_reduction(fdp);
  const bool strided = fdp.ConsumeBool();
  const bool want_grad = fdp.ConsumeBool();
  // Thread count: 1 or 2 (the pool must survive any mix).
  losslab::set_num_threads(fdp.ConsumeBool() ? 1 : 2);
  // The Highway kernel or its scalar twin.
  losslab::set_simd_target(fdp.ConsumeBool() ? "scalar" : "auto");

  std::vector<Arr> ins;  // float inputs (finiteness feeds check 3)
  ins.reserve(8);        // flt() hands out references: never reallocate
  Out out, g1, g2, g3;
  double value = 0.0;
  const char* name = "?";
  bool expect_finite = true;  // a loss documented NaN-free for finite input

  auto flt = [&](Shape s, Kind k, bool str = false) -> Arr& {
    ins.push_back(make_float(fdp, dt, s, k, wild, str && strided));
    return ins.back();
  };
  auto outs_like = [&](Out& o, Shape s) {
    if (want_grad) o.init(dt, s);
  };
  auto none_out = [&](Shape s) {
    if (red == Reduction::kNone || fdp.ConsumeBool()) out.init(dt, s);
  };

  try {
    if (which < 8 || (which >= 8 && which <= 9) || which == 12 || which == 13 ||
        which == 17) {
      // Elementwise: input and target of one shape.
      const Shape s = fdp.ConsumeBool() ? Shape{n} : Shape{n, c};
      Kind xk = Kind::kReal, yk = Kind::kReal;
      if (which == 7) yk = Kind::kPositive;
      if (which == 8 || which == 17) yk = Kind::kProb;
      if (which == 9) xk = Kind::kProb, yk = Kind::kProb;
      if (which == 12 || which == 13) yk = Kind::kPm1;
      Arr& x = flt(s, xk, true);
      Arr& y = flt(s, yk);
      Arr w;
      const bool weighted = fdp.ConsumeBool();
      if (weighted) w = flt(s, Kind::kPositive);
      losslab::LossOutputs lo;
      none_out(s);
      outs_like(g1, s);
      if (fdp.ConsumeBool()) outs_like(g2, s);  // hessian
      lo.out = out.mv();
      lo.grad_out = g1.mv();
      lo.hess_out = g2.mv();
      lo.grad_output = pick_option(fdp, -2, 2, wild);
      const View xv = x.view(), yv = y.view();
      const View wv = weighted ? w.view() : View{};
      const double d = pick_option(fdp, 0.01, 5, wild);
      switch (which) {
        case 0:
          name = "mse_loss";
          value =
              losslab::mse_loss(xv, yv, {.weight = wv, .reduction = red}, lo);
          break;
        case 1:
          name = "l1_loss";
          value =
              losslab::l1_loss(xv, yv, {.weight = wv, .reduction = red}, lo);
          break;
        case 2:
          name = "huber_loss";
          value = losslab::huber_loss(
              xv, yv, {.delta = d, .weight = wv, .reduction = red}, lo);
          break;
        case 3:
          name = "smooth_l1_loss";
          value = losslab::smooth_l1_loss(
              xv, yv, {.beta = d, .weight = wv, .reduction = red}, lo);
          break;
        case 4:
          name = "quantile_loss";
          value = losslab::quantile_loss(
              xv, yv,
              {.quantile = {pick_option(fdp, 0.01, 0.99, wild)},
               .weight = wv,
               .reduction = red},
              lo);
          break;
        case 5:
          name = "log_cosh_loss";
          value = losslab::log_cosh_loss(xv, yv,
                                         {.weight = wv, .reduction = red}, lo);
          break;
        case 6:
          name = "pseudo_huber_loss";
          value = losslab::pseudo_huber_loss(
              xv, yv, {.delta = d, .weight = wv, .reduction = red}, lo);
          break;
        case 7:
          name = "poisson_nll_loss";
          value = losslab::poisson_nll_loss(
              xv, yv,
              {.log_input = fdp.ConsumeBool(),
               .full = fdp.ConsumeBool(),
               .eps = pick_option(fdp, 1e-8, 1e-2, wild),
               .weight = wv,
               .reduction = red},
              lo);
          break;
        case 8:
          name = "binary_cross_entropy_with_logits";
          value = losslab::binary_cross_entropy_with_logits(
              xv, yv, {.weight = wv, .reduction = red}, lo);
          break;
        case 9:
          name = "binary_cross_entropy";
          value = losslab::binary_cross_entropy(
              xv, yv, {.weight = wv, .reduction = red}, lo);
          break;
        case 12:
          name = "hinge_loss";
          value = losslab::hinge_loss(
              xv, yv, {.margin = d, .weight = wv, .reduction = red}, lo);
          break;
        case 13:
          name = "squared_hinge_loss";
          value = losslab::squared_hinge_loss(
              xv, yv, {.margin = d, .weight = wv, .reduction = red}, lo);
          break;
        case 17: {
          name = "sigmoid_focal_loss";
          std::optional<double> alpha;
          if (fdp.ConsumeBool()) alpha = pick_option(fdp, 0, 1, wild);
          value = losslab::sigmoid_focal_loss(
              xv, yv,
              {.alpha = alpha,
               .gamma = pick_option(fdp, 0, 4, wild),
               .weight = wv,
               .reduction = red},
              lo);
          break;
        }
      }
    } else if (which == 10 || which == 11 || which == 14) {
      // Rows of C scores with int64 labels.
      Arr& x =
          flt(Shape{n, c}, which == 11 ? Kind::kLogProb : Kind::kReal, true);
      Arr y = make_labels(fdp, Shape{n}, c, wild);
      Arr w;
      const bool weighted = fdp.ConsumeBool();
      if (weighted) w = flt(Shape{c}, Kind::kPositive);
      const View wv = weighted ? w.view() : View{};
      losslab::LossOutputs lo;
      none_out(Shape{n});
      outs_like(g1, Shape{n, c});
      lo.out = out.mv();
      lo.grad_out = g1.mv();
      lo.grad_output = pick_option(fdp, -2, 2, wild);
      const int64_t ignore = fdp.ConsumeBool() ? -100 : 0;
      if (which == 10) {
        name = "cross_entropy";
        value = losslab::cross_entropy(
            x.view(), y.view(),
            {.weight = wv,
             .ignore_index = ignore,
             .label_smoothing = pick_option(fdp, 0, 1, wild),
             .reduction = red},
            lo);
      } else if (which == 11) {
        name = "nll_loss";
        value = losslab::nll_loss(
            x.view(), y.view(),
            {.weight = wv, .ignore_index = ignore, .reduction = red}, lo);
      } else {
        name = "multi_margin_loss";
        value = losslab::multi_margin_loss(
            x.view(), y.view(),
            {.p = fdp.ConsumeIntegralInRange<int>(wild ? 0 : 1, wild ? 3 : 2),
             .margin = pick_option(fdp, -1, 2, wild),
             .weight = wv,
             .reduction = red},
            lo);
      }
    } else if (which == 15 || which == 16) {
      const Shape s{n, c};
      Arr& a = flt(s, which == 15 ? Kind::kLogProb : Kind::kProb, true);
      Arr& b = flt(s, Kind::kProb);
      losslab::LossOutputs lo;
      none_out(s);
      outs_like(g1, s);
      lo.out = out.mv();
      lo.grad_out = g1.mv();
      if (which == 15) {
        name = "kl_div";
        value = losslab::kl_div(a.view(), b.view(),
                                {.log_target = false, .reduction = red}, lo);
      } else {
        name = "kl_divergence";
        // q = 0 where p > 0 is +inf by definition (documented).
        expect_finite = false;
        value =
            losslab::kl_divergence(b.view(), a.view(), {.reduction = red}, lo);
      }
    } else if (which == 18) {
      name = "triplet_margin_loss";
      const Shape s{n, c};
      Arr& a = flt(s, Kind::kReal, true);
      Arr& p = flt(s, Kind::kReal);
      Arr& q = flt(s, Kind::kReal);
      losslab::TripletOutputs to;
      if (red == Reduction::kNone) out.init(dt, Shape{n});
      outs_like(g1, s);
      outs_like(g2, s);
      outs_like(g3, s);
      to.out = out.mv();
      to.grad_anchor = g1.mv();
      to.grad_positive = g2.mv();
      to.grad_negative = g3.mv();
      value =
          losslab::triplet_margin_loss(a.view(), p.view(), q.view(),
                                       {.margin = pick_option(fdp, 0, 2, wild),
                                        .p = pick_option(fdp, 0.5, 3, wild),
                                        .eps = pick_option(fdp, 0, 1e-3, wild),
                                        .swap = fdp.ConsumeBool(),
                                        .reduction = red},
                                       to);
    } else if (which == 19 || which == 20) {
      const Shape s{n, c};
      Arr& a = flt(s, Kind::kReal, true);
      Arr& b = flt(s, Kind::kReal);
      Arr y = make_labels(fdp, Shape{n}, 2, wild);
      if (which == 20)
        for (auto& v : y.i64)
          if (v == 0) v = -1;
      losslab::PairOutputs po;
      if (red == Reduction::kNone) out.init(dt, Shape{n});
      outs_like(g1, s);
      outs_like(g2, s);
      po.out = out.mv();
      po.grad_x1 = g1.mv();
      po.grad_x2 = g2.mv();
      if (which == 19) {
        name = "contrastive_loss";
        value = losslab::contrastive_loss(
            a.view(), b.view(), y.view(),
            {.margin = pick_option(fdp, 0, 2, wild), .reduction = red}, po);
      } else {
        name = "cosine_embedding_loss";
        value = losslab::cosine_embedding_loss(
            a.view(), b.view(), y.view(),
            {.margin = pick_option(fdp, -1, 1, wild), .reduction = red}, po);
      }
    } else if (which >= 21 && which <= 23) {
      const Shape s{n, c};
      Arr& e = flt(s, Kind::kReal, true);
      Arr y = make_labels(fdp, Shape{n}, 3, false);
      losslab::LossOutputs lo;
      if (red == Reduction::kNone) out.init(dt, Shape{n});
      outs_like(g1, s);
      lo.out = out.mv();
      lo.grad_out = g1.mv();
      if (which == 21) {
        name = "batch_hard_triplet_loss";
        value = losslab::batch_hard_triplet_loss(
            e.view(), y.view(),
            {.margin = pick_option(fdp, 0, 2, wild), .reduction = red}, lo);
      } else if (which == 22) {
        name = "batch_all_triplet_loss";
        value = losslab::batch_all_triplet_loss(
            e.view(), y.view(),
            {.margin = pick_option(fdp, 0, 2, wild), .reduction = red}, lo);
      } else {
        name = "nt_xent_loss";
        value = losslab::nt_xent_loss(
            e.view(), y.view(),
            {.temperature = pick_option(fdp, 0.05, 2, wild),
             .eps = 1e-12,
             .reduction = red},
            lo);
      }
    } else if (which >= 24 && which <= 26) {
      const int64_t h = fdp.ConsumeIntegralInRange<int64_t>(1, 4);
      const bool binary = fdp.ConsumeBool();
      const int64_t cc = binary ? 1 : c;
      const Shape s{n, cc, h, 2};
      Arr& x = flt(s, Kind::kReal, true);
      Arr y = make_labels(fdp, Shape{n, h, 2}, binary ? 2 : cc, wild);
      losslab::LossOutputs lo;
      if (red == Reduction::kNone) out.init(dt, Shape{cc});
      outs_like(g1, s);
      lo.out = out.mv();
      lo.grad_out = g1.mv();
      const auto mode =
          binary ? losslab::SegMode::kBinary : losslab::SegMode::kMulticlass;
      const double smooth = pick_option(fdp, 0, 2, wild);
      const bool per_image = fdp.ConsumeBool();
      if (per_image && red == Reduction::kNone) out.init(dt, Shape{n, cc});
      lo.out = out.mv();
      if (which == 24) {
        name = "dice_loss";
        value = losslab::dice_loss(x.view(), y.view(),
                                   {.mode = mode,
                                    .per_image = per_image,
                                    .smooth = smooth,
                                    .reduction = red},
                                   lo);
      } else if (which == 25) {
        name = "jaccard_loss";
        value = losslab::jaccard_loss(x.view(), y.view(),
                                      {.mode = mode,
                                       .per_image = per_image,
                                       .smooth = smooth,
                                       .reduction = red},
                                      lo);
      } else {
        name = "tversky_loss";
        value = losslab::tversky_loss(x.view(), y.view(),
                                      {.mode = mode,
                                       .per_image = per_image,
                                       .alpha = pick_option(fdp, 0, 1, wild),
                                       .beta = pick_option(fdp, 0, 1, wild),
                                       .gamma = pick_option(fdp, 0.5, 3, wild),
                                       .smooth = smooth,
                                       .reduction = red},
                                      lo);
      }
    } else if (which == 27 || which == 28) {
      const auto kind =
          static_cast<losslab::GanKind>(fdp.ConsumeIntegralInRange<int>(0, 4));
      const int64_t m = fdp.ConsumeIntegralInRange<int64_t>(1, 40);
      Arr& f = flt(Shape{m}, Kind::kReal, true);
      if (which == 27) {
        name = "gan_discriminator_loss";
        Arr& r = flt(Shape{n}, Kind::kReal);
        losslab::GanOutputs go;
        Out of;
        if (red == Reduction::kNone) out.init(dt, Shape{n}), of.init(dt, {m});
        outs_like(g1, Shape{n});
        outs_like(g2, Shape{m});
        go.out_real = out.mv();
        go.out_fake = of.mv();
        go.grad_real = g1.mv();
        go.grad_fake = g2.mv();
        value = losslab::gan_discriminator_loss(
            r.view(), f.view(), {.kind = kind, .reduction = red}, go);
      } else {
        name = "gan_generator_loss";
        losslab::LossOutputs lo;
        if (red == Reduction::kNone) out.init(dt, Shape{m});
        outs_like(g1, Shape{m});
        lo.out = out.mv();
        lo.grad_out = g1.mv();
        value = losslab::gan_generator_loss(
            f.view(), {.kind = kind, .reduction = red}, lo);
      }
    } else if (which == 29) {
      name = "reconstruction_loss";
      const auto kind = static_cast<losslab::ReconKind>(
          fdp.ConsumeIntegralInRange<int>(0, 2));
      const Shape s{n, c};
      Arr& r =
          flt(s, kind == losslab::ReconKind::kBce ? Kind::kProb : Kind::kReal,
              true);
      Arr& x = flt(s, Kind::kProb);
      losslab::LossOutputs lo;
      if (red == Reduction::kNone) out.init(dt, Shape{n});
      outs_like(g1, s);
      lo.out = out.mv();
      lo.grad_out = g1.mv();
      value = losslab::reconstruction_loss(
          r.view(), x.view(), {.kind = kind, .reduction = red}, lo);
    } else if (which == 30) {
      name = "gaussian_kl_loss";
      const Shape s{n, c};
      Arr& mu = flt(s, Kind::kReal, true);
      Arr& lv = flt(s, Kind::kReal);
      losslab::GaussianKlOutputs ko;
      if (red == Reduction::kNone) out.init(dt, Shape{n});
      outs_like(g1, s);
      outs_like(g2, s);
      ko.out = out.mv();
      ko.grad_mu = g1.mv();
      ko.grad_logvar = g2.mv();
      value = losslab::gaussian_kl_loss(mu.view(), lv.view(),
                                        {.reduction = red}, ko);
    } else {
      name = "gaussian_nll_loss";
      const Shape s{n, c};
      Arr& x = flt(s, Kind::kReal, true);
      Arr& y = flt(s, Kind::kReal);
      Arr& v = flt(s, Kind::kPositive);
      losslab::GaussianNllOutputs no;
      if (red == Reduction::kNone) out.init(dt, s);
      outs_like(g1, s);
      outs_like(g2, s);
      no.out = out.mv();
      no.grad_input = g1.mv();
      no.grad_var = g2.mv();
      value =
          losslab::gaussian_nll_loss(x.view(), y.view(), v.view(),
                                     {.full = fdp.ConsumeBool(),
                                      .eps = pick_option(fdp, 1e-8, 1e-2, wild),
                                      .reduction = red},
                                     no);
    }
  } catch (const losslab::Error& e) {
    // A refused call: outputs untouched or all NaN, never half-written.
    for (const Out* o : {&out, &g1, &g2, &g3})
      if (o->state() == 2) fail(name, "output half-written on error");
    if (std::strncmp(e.what(), name, std::strlen(name)) != 0 &&
        std::strcmp(name, "?") != 0) {
      std::fprintf(stderr, "message: %s\n", e.what());
      fail(name, "error message does not start with the function name");
    }
    return;
  }
  // A successful call with finite (moderate) inputs: no NaN anywhere.
  bool finite = true, moderate = true;
  for (const Arr& a : ins) finite &= a.finite, moderate &= a.moderate;
  if (expect_finite && finite && (moderate || g_strict)) {
    if (std::isnan(value)) fail(name, "NaN value from finite input");
    for (const Out* o : {&out, &g1, &g2, &g3})
      if (o->has_nan()) fail(name, "NaN output/gradient from finite input");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* s = std::getenv("LOSSLAB_FUZZ_STRICT");
  g_strict = s != nullptr && s[0] == '1';
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  run_one(fdp);
  return 0;
}
