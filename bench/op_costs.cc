// What one more 512-bit instruction per vector costs inside a real loss
// loop, by kind: the BCE-with-logits functor (the SIMD kernel of
// binary_cross_entropy_with_logits, from classification-inl.h) over 256K
// float32 elements in cache, 1 thread, with eight more instructions of one
// kind per vector on two chains whose results feed the loss. The cost of
// a kind is (its time - the time with eight XORs) / 8 per vector; XOR is
// the cheapest kind (no FP pipe contention), so the baseline is the functor
// plus the chains' fixed overhead. Each variant's time is the best of 300
// runs, all variants in one process. Used to choose between formulations
// of the compute-bound kernels (BCE, focal): docs/performance.md, "Cost of
// an instruction".
//
// Built only for x86-64 with AVX-512 (compiled for skylake-avx512, statically
// dispatched); it exits with a message on a CPU without AVX-512F.
//   build/perf2/bench/losslab_bench_op_costs
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "hwy/highway.h"
#include "src/losses/classification-inl.h"

namespace hn = hwy::HWY_NAMESPACE;
using losslab::HWY_NAMESPACE::BceLogitsV;

namespace {

using D = hn::Full512<float>;
using V = hn::Vec<D>;
using VI = hn::Vec<hn::RebindToSigned<D>>;

enum Kind {
  kXor,
  kAdd,
  kMaxMin,
  kAddRoundDown,
  kFma,
  kMul,
  kRcp14,
  kScalef,
  kPermps,
  kPermt2ps,
  kPaddd,
  kShift,
  kBlend,
  kNaNSelect,
  kCmpSelect,
  kNumKinds
};
constexpr const char* kNames[kNumKinds] = {
    "vxorps (baseline)", "vaddps",           "vmaxps/vminps",
    "vaddps {rd-sae}",   "vfmadd",           "vmulps",
    "vrcp14ps",          "vscalefps",        "vpermps",
    "vpermt2ps",         "vpaddd",           "vpslld/vpsrld",
    "vblendmps",         "vfpclassps+blend", "vcmpps+blend"};

template <int kKind>
HWY_INLINE V Step(V a, V b, V c1, V c2, hn::Mask<D> m) {
  const D d;
  const hn::RebindToSigned<D> di;
  if constexpr (kKind == kXor) return hn::Xor(a, c2);
  if constexpr (kKind == kAdd) return hn::Add(a, c2);
  if constexpr (kKind == kMaxMin) return hn::Max(a, c2);
  if constexpr (kKind == kAddRoundDown) {
    return V{_mm512_add_round_ps(a.raw, c2.raw,
                                 _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)};
  }
  if constexpr (kKind == kFma) return hn::MulAdd(a, c1, c2);
  if constexpr (kKind == kMul) return hn::Mul(a, c2);
  if constexpr (kKind == kRcp14) return V{_mm512_rcp14_ps(a.raw)};
  if constexpr (kKind == kScalef) return V{_mm512_scalef_ps(a.raw, c2.raw)};
  if constexpr (kKind == kPermps) {
    return V{_mm512_permutexvar_ps(hn::BitCast(di, b).raw, a.raw)};
  }
  if constexpr (kKind == kPermt2ps) {
    return V{_mm512_permutex2var_ps(a.raw, hn::BitCast(di, b).raw, c1.raw)};
  }
  if constexpr (kKind == kPaddd) {
    return hn::BitCast(d, hn::Add(hn::BitCast(di, a), hn::BitCast(di, c2)));
  }
  if constexpr (kKind == kShift) {
    return hn::BitCast(d, hn::ShiftLeft<1>(hn::BitCast(di, a)));
  }
  // A merge of two vectors under the vector's mask (the label selects).
  if constexpr (kKind == kBlend) return hn::IfThenElse(m, a, b);
  // PropagateNaNInput's pattern: a class test and a merge.
  if constexpr (kKind == kNaNSelect) return hn::IfThenElse(hn::IsNaN(a), b, a);
  // The same merge under an ordered compare (Ne(a, a) is IsNaN this way).
  if constexpr (kKind == kCmpSelect) return hn::IfThenElse(hn::Lt(a, c2), b, a);
  return a;
}

template <int kKind>
__attribute__((noinline)) float Run(const float* x, const float* y, float* g,
                                    size_t n) {
  const D d;
  const BceLogitsV<D> fn;
  const V c1 = hn::Set(d, 1.0001f), c2 = hn::Set(d, 0.999f);
  const V gs = hn::Set(d, 1e-3f);
  V acc = hn::Zero(d), h = hn::Zero(d);
  for (size_t i = 0; i < n; i += hn::Lanes(d)) {
    const V xv = hn::LoadU(d, x + i), yv = hn::LoadU(d, y + i);
    V l, gv;
    fn(d, xv, yv, l, gv, h, false);
    V a = hn::Mul(xv, c1), b = hn::Mul(yv, c1);
    const auto m = hn::Gt(yv, c2);
    for (int k = 0; k < 4; ++k) {
      a = Step<kKind>(a, b, c1, c2, m);
      b = Step<kKind>(b, a, c1, c2, m);
    }
    acc = hn::Add(acc, hn::Add(l, hn::Add(a, b)));
    hn::StoreU(hn::Mul(gv, gs), d, g + i);
  }
  return hn::GetLane(hn::SumOfLanes(d, acc));
}

template <int kKind>
double BestMs(const float* x, const float* y, float* g, size_t n) {
  volatile float sink = 0;
  double best = 1e30;
  for (int r = 0; r < 300; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    sink = sink + Run<kKind>(x, y, g, n);
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    if (t < best) best = t;
  }
  return best * 1e3;
}

template <int... kKinds>
void All(const float* x, const float* y, float* g, size_t n, double* ms,
         std::integer_sequence<int, kKinds...>) {
  ((ms[kKinds] = BestMs<kKinds>(x, y, g, n)), ...);
}

}  // namespace

int main() {
  if (!__builtin_cpu_supports("avx512f")) {
    std::fprintf(stderr, "losslab_bench_op_costs: this CPU has no AVX-512F\n");
    return 1;
  }
  const size_t n = 262144;
  std::vector<float> x(n), y(n), g(n);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> ux(-3, 3), uy(0, 1);
  for (size_t i = 0; i < n; ++i) {
    x[i] = ux(rng);
    y[i] = uy(rng) < 0.5f ? 0.0f : 1.0f;
  }
  double ms[kNumKinds];
  All(x.data(), y.data(), g.data(), n, ms,
      std::make_integer_sequence<int, kNumKinds>());
  const double vectors = double(n / hn::Lanes(D()));
  std::printf(
      "bce_with_logits functor, 256K float32 in cache, 1 thread, "
      "+8 instructions per 16 elements\n");
  std::printf("%-20s %9s %14s %12s\n", "kind", "ms", "ns/instr/vec",
              "vs vfmadd");
  const double fma_ns = (ms[kFma] - ms[kXor]) * 1e6 / vectors / 8;
  for (int k = 0; k < kNumKinds; ++k) {
    const double ns = (ms[k] - ms[kXor]) * 1e6 / vectors / 8;
    std::printf("%-20s %9.4f %14.3f %12.2f\n", kNames[k], ms[k], ns,
                ns / fma_ns);
  }
  return 0;
}
