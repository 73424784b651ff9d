// Throughput of single 512-bit instructions, alone and beside FMAs: which
// instructions compete with the FMAs for the same pipes. Each loop runs ten
// independent chains of one kind (and, for "fma + X", ten FMA chains beside
// them), so latency never limits; the result is cycles per loop iteration,
// from the clock of a chain of dependent scalar adds (1 cycle each) measured
// first. "fma" alone is the reference: 10 cycles means one 512-bit FMA per
// cycle, and "fma + X" at 10 means X ran beside the FMAs, at 20 that each X
// took an FMA's slot. Complements losslab_bench_op_costs, which measures the
// same kinds inside the bce_with_logits loop: docs/performance.md, "Cost of
// an instruction".
//
// Built only for x86-64 with AVX-512 (compiled for skylake-avx512); it exits
// with a message on a CPU without AVX-512F.
//   build/perf2/bench/losslab_bench_op_throughput
#include <immintrin.h>

#include <chrono>
#include <cstdio>

namespace {

double Seconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Clock in GHz: four dependent adds per iteration, one cycle each.
double ClockGhz() {
  const long n = 400000000;
  long x = 0;
  const double t0 = Seconds();
  for (long i = 0; i < n; ++i) {
    __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                     : "+r"(x));
  }
  return 4.0 * double(n) / (Seconds() - t0) / 1e9;
}

#define LL_TEN(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)
#define LL_DECL(k)                                \
  __m512 a##k = _mm512_set1_ps(1.0f + k * 1e-3f); \
  __m512 b##k = _mm512_set1_ps(0.5f + k * 1e-3f);
// Keeps each chain's register live and opaque, so nothing is hoisted or
// merged across iterations.
#define LL_KEEP(k) __asm__ volatile("" : "+v"(a##k), "+v"(b##k));
#define LL_SUM(k) s += _mm512_reduce_add_ps(a##k) + _mm512_reduce_add_ps(b##k);

volatile float g_sink;

// Cycles per iteration of BODY (ten instructions of each kind in it).
#define LL_BENCH(name, BODY)                                           \
  {                                                                    \
    LL_TEN(LL_DECL)                                                    \
    const double t0 = Seconds();                                       \
    for (long i = 0; i < iters; ++i) {                                 \
      BODY LL_TEN(LL_KEEP)                                             \
    }                                                                  \
    const double t = Seconds() - t0;                                   \
    float s = 0;                                                       \
    LL_TEN(LL_SUM)                                                     \
    g_sink = s;                                                        \
    std::printf("%-26s %6.2f\n", name, t / double(iters) * ghz * 1e9); \
  }

}  // namespace

int main() {
  if (!__builtin_cpu_supports("avx512f")) {
    std::fprintf(stderr,
                 "losslab_bench_op_throughput: this CPU has no AVX-512F\n");
    return 1;
  }
  const double ghz = ClockGhz();
  const long iters = 50000000;
  const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-5f),
               z = _mm512_set1_ps(0.7f);
  const __m512i idx = _mm512_set1_epi32(3);
  std::printf(
      "clock %.2f GHz (dependent scalar adds); cycles per iteration "
      "of 10 instructions of each kind\n",
      ghz);
#define LL_FMA(k) a##k = _mm512_fmadd_ps(a##k, m, c);
#define LL_ADD(k) b##k = _mm512_add_ps(b##k, c);
#define LL_MAX(k) b##k = _mm512_max_ps(b##k, c);
#define LL_XOR(k) \
  b##k = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(b##k), idx));
#define LL_SHIFT(k) \
  b##k = _mm512_castsi512_ps(_mm512_srai_epi32(_mm512_castps_si512(b##k), 3));
#define LL_BLEND(k) b##k = _mm512_mask_blend_ps(__mmask16(0x5555), b##k, c);
#define LL_GETEXP(k) b##k = _mm512_getexp_ps(b##k);
#define LL_PERM(k) b##k = _mm512_permutexvar_ps(idx, b##k);
#define LL_RCP(k) b##k = _mm512_rcp14_ps(b##k);
#define LL_SCALEF(k) b##k = _mm512_scalef_ps(b##k, c);
#define LL_TERNLOG(k)                                   \
  b##k = _mm512_castsi512_ps(_mm512_ternarylogic_epi32( \
      _mm512_castps_si512(b##k), idx, _mm512_castps_si512(c), 0xca));
#define LL_CMP(k) \
  b##k = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b##k, z, _CMP_GE_OQ), b##k, c);
#define LL_MOVM(k) \
  b##k =           \
      _mm512_maskz_mov_ps(_mm512_movepi32_mask(_mm512_castps_si512(b##k)), c);
#define LL_TEST(k)             \
  b##k = _mm512_mask_blend_ps( \
      _mm512_test_epi32_mask(_mm512_castps_si512(b##k), idx), b##k, c);
  LL_BENCH("fma", LL_TEN(LL_FMA))
  LL_BENCH("fma + fma", LL_TEN(LL_FMA) LL_TEN(LL_FMA))
  LL_BENCH("fma + vaddps", LL_TEN(LL_FMA) LL_TEN(LL_ADD))
  LL_BENCH("fma + vmaxps", LL_TEN(LL_FMA) LL_TEN(LL_MAX))
  LL_BENCH("fma + vpxord", LL_TEN(LL_FMA) LL_TEN(LL_XOR))
  LL_BENCH("fma + vpsrad", LL_TEN(LL_FMA) LL_TEN(LL_SHIFT))
  LL_BENCH("fma + vblendmps", LL_TEN(LL_FMA) LL_TEN(LL_BLEND))
  LL_BENCH("fma + vgetexpps", LL_TEN(LL_FMA) LL_TEN(LL_GETEXP))
  LL_BENCH("fma + vpermps", LL_TEN(LL_FMA) LL_TEN(LL_PERM))
  LL_BENCH("vrcp14ps", LL_TEN(LL_RCP))
  LL_BENCH("fma + vrcp14ps", LL_TEN(LL_FMA) LL_TEN(LL_RCP))
  LL_BENCH("vscalefps", LL_TEN(LL_SCALEF))
  LL_BENCH("fma + vscalefps", LL_TEN(LL_FMA) LL_TEN(LL_SCALEF))
  LL_BENCH("fma + vpternlogd", LL_TEN(LL_FMA) LL_TEN(LL_TERNLOG))
  LL_BENCH("fma + vcmpps+blend", LL_TEN(LL_FMA) LL_TEN(LL_CMP))
  LL_BENCH("fma + vpmovd2m+blend", LL_TEN(LL_FMA) LL_TEN(LL_MOVM))
  LL_BENCH("fma + vptestmd+blend", LL_TEN(LL_FMA) LL_TEN(LL_TEST))
  return 0;
}
