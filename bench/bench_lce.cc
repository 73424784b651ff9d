// Where linear_cross_entropy's time goes, against the three GEMMs it needs
// with the same GEMM (Debian OpenBLAS, single-threaded per block, blocks run
// by losslab's pool as in src/losses/linear_cross_entropy.cc).
//
//   build/<dir>/bench/losslab_bench_lce [T V H threads chunk_tokens]
//
// Prints: the loss itself; its phases replayed one by one over the same
// chunks (logits GEMM, cross_entropy on the chunk, G @ W, G^T @ h); and the
// three whole products (T x V x H each) blocked the same way, the floor
// "with the same GEMM" of issue 5.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "losslab/core/parallel.h"
#include "losslab/losslab.h"

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

template <class Fn>
void for_blocks(int64_t n, int64_t block, const Fn& fn) {
  const int64_t nb = (n + block - 1) / block;
  losslab::parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      fn(b * block, std::min(n, (b + 1) * block));
  });
}

void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.0f, a,
              int(lda), b, int(ldb), beta, c, int(ldc));
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t T = argc > 1 ? std::atoll(argv[1]) : 2048;
  const int64_t V = argc > 2 ? std::atoll(argv[2]) : 32000;
  const int64_t H = argc > 3 ? std::atoll(argv[3]) : 1024;
  const int threads = argc > 4 ? std::atoi(argv[4]) : 2;
  const int64_t chunk = argc > 5 ? std::atoll(argv[5]) : 0;
  losslab::set_num_threads(threads);
  openblas_set_num_threads(1);
  std::mt19937 rng(0);
  std::normal_distribution<float> dist;
  std::vector<float> h(size_t(T * H)), w(size_t(V * H)), gh(size_t(T * H)),
      gw(size_t(V * H));
  for (auto& v : h) v = dist(rng);
  for (auto& v : w) v = dist(rng) / 32.0f;
  std::vector<int64_t> y(static_cast<size_t>(T));
  for (auto& v : y) v = int64_t(rng() % uint32_t(V));
  const losslab::View hv = losslab::view<float>(h.data(), {T, H});
  const losslab::View wv = losslab::view<float>(w.data(), {V, H});
  const losslab::View yv = losslab::view<int64_t>(y.data(), {T});

  auto t0 = Clock::now();
  losslab::linear_cross_entropy(
      hv, wv, yv, {.chunk_tokens = chunk},
      {.grad_hidden = losslab::mutable_view<float>(gh.data(), {T, H}),
       .grad_weight = losslab::mutable_view<float>(gw.data(), {V, H})});
  const double t_loss = secs(t0, Clock::now());

  // The phases over the loss's own chunk size (chunk_tokens=0: one buffer
  // of at most 128 MiB and T / 10 tokens; see linear_cross_entropy.cc).
  int64_t tc = chunk;
  if (tc <= 0) {
    tc = std::max<int64_t>(1, (int64_t(128) << 20) / (V * 4));
    tc = std::min(tc, std::max<int64_t>(1, T / 10));
  }
  tc = std::min(tc, T);
  // One buffer: the gradient is written over the logits, as in the loss.
  std::vector<float> logits(size_t(tc * V));
  float* const grad_p = logits.data();
  double t_fwd = 0, t_ce = 0, t_gh = 0, t_gw = 0;
  for (int64_t s = 0; s < T; s += tc) {
    const int64_t n = std::min(tc, T - s);
    const float* hc = h.data() + s * H;
    auto a = Clock::now();
    for_blocks(V, 512, [&](int64_t v0, int64_t v1) {
      sgemm(false, true, n, v1 - v0, H, hc, H, w.data() + v0 * H, H, 0.0f,
            logits.data() + v0, V);
    });
    auto b = Clock::now();
    losslab::cross_entropy(
        losslab::view<float>(logits.data(), {n, V}),
        losslab::view<int64_t>(y.data() + s, {n}),
        {.reduction = losslab::Reduction::kSum},
        {.grad_out = losslab::mutable_view<float>(grad_p, {n, V})});
    auto c = Clock::now();
    for_blocks(H, 256, [&](int64_t k0, int64_t k1) {
      sgemm(false, false, n, k1 - k0, V, grad_p, V, w.data() + k0, H, 0.0f,
            gh.data() + s * H + k0, H);
    });
    auto d = Clock::now();
    for_blocks(V, 512, [&](int64_t v0, int64_t v1) {
      sgemm(true, false, v1 - v0, H, n, grad_p + v0, V, hc, H,
            s == 0 ? 0.0f : 1.0f, gw.data() + v0 * H, H);
    });
    auto e = Clock::now();
    t_fwd += secs(a, b);
    t_ce += secs(b, c);
    t_gh += secs(c, d);
    t_gw += secs(d, e);
  }

  // The three whole products, same GEMM, same blocking over the pool. G is a
  // (T, V) array (the full logits: 4 T V bytes), reused for all three.
  std::vector<float> G(size_t(T * V));
  auto a = Clock::now();
  for_blocks(V, 512, [&](int64_t v0, int64_t v1) {
    sgemm(false, true, T, v1 - v0, H, h.data(), H, w.data() + v0 * H, H, 0.0f,
          G.data() + v0, V);
  });
  auto b = Clock::now();
  for_blocks(H, 256, [&](int64_t k0, int64_t k1) {
    sgemm(false, false, T, k1 - k0, V, G.data(), V, w.data() + k0, H, 0.0f,
          gh.data() + k0, H);
  });
  auto c = Clock::now();
  for_blocks(V, 512, [&](int64_t v0, int64_t v1) {
    sgemm(true, false, v1 - v0, H, T, G.data() + v0, V, h.data(), H, 0.0f,
          gw.data() + v0 * H, H);
  });
  auto d = Clock::now();
  const double g1 = secs(a, b), g2 = secs(b, c), g3 = secs(c, d);
  const double floor = g1 + g2 + g3;

  std::printf("T=%lld V=%lld H=%lld threads=%d chunk=%lld tokens\n",
              (long long)T, (long long)V, (long long)H, threads, (long long)tc);
  std::printf("linear_cross_entropy            %8.3f s  (%.2fx the 3 GEMMs)\n",
              t_loss, t_loss / floor);
  std::printf("phases replayed over chunks:    %8.3f s\n",
              t_fwd + t_ce + t_gh + t_gw);
  std::printf("  logits = h W^T (chunked)      %8.3f s\n", t_fwd);
  std::printf("  cross_entropy on the chunk    %8.3f s\n", t_ce);
  std::printf("  grad_h = G W (chunked)        %8.3f s\n", t_gh);
  std::printf("  grad_W += G^T h (chunked)     %8.3f s\n", t_gw);
  std::printf("3 whole GEMMs, same blocking:   %8.3f s  (%.3f + %.3f + %.3f)\n",
              floor, g1, g2, g3);
  return 0;
}
