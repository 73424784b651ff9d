// Google Benchmark for the loss kernels: value + gradient into a caller-owned
// buffer, reported as bytes moved (input, target, gradient) per second, next
// to a STREAM-style triad a[i] = b[i] + s c[i] on the same sizes.
//   build/release/bench/losslab_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "losslab/losslab.h"

namespace {

struct Arrays {
  std::vector<float> x, y, g;
  explicit Arrays(int64_t n) : x(size_t(n)), y(size_t(n)), g(size_t(n)) {
    std::mt19937 rng(0);
    std::normal_distribution<float> dist;
    for (auto& v : x) v = dist(rng);
    for (auto& v : y) v = dist(rng);
  }
};

template <class Call>
void run(benchmark::State& state, Call call) {
  const int64_t n = state.range(0);
  losslab::set_num_threads(int(state.range(1)));
  Arrays a(n);
  const losslab::View x = losslab::view<float>(a.x.data(), {n});
  const losslab::View y = losslab::view<float>(a.y.data(), {n});
  const losslab::LossOutputs out{
      .grad_out = losslab::mutable_view<float>(a.g.data(), {n})};
  for (auto _ : state) benchmark::DoNotOptimize(call(x, y, out));
  state.SetBytesProcessed(state.iterations() * 3 * n * int64_t(sizeof(float)));
  state.counters["ns/elem"] = benchmark::Counter(
      double(n) * double(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  losslab::set_num_threads(0);
}

void BM_Triad(benchmark::State& state) {
  const int64_t n = state.range(0);
  Arrays a(n);
  const float s = 0.5f;
  for (auto _ : state) {
    float* __restrict g = a.g.data();
    const float* __restrict x = a.x.data();
    const float* __restrict y = a.y.data();
    for (int64_t i = 0; i < n; ++i) g[i] = x[i] + s * y[i];
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 3 * n * int64_t(sizeof(float)));
}

void BM_Mse(benchmark::State& s) {
  run(s, [](auto x, auto y, const auto& o) {
    return losslab::mse_loss(x, y, {}, o);
  });
}
void BM_L1(benchmark::State& s) {
  run(s, [](auto x, auto y, const auto& o) {
    return losslab::l1_loss(x, y, {}, o);
  });
}
void BM_Huber(benchmark::State& s) {
  run(s, [](auto x, auto y, const auto& o) {
    return losslab::huber_loss(x, y, {.delta = 1.0}, o);
  });
}
void BM_SmoothL1(benchmark::State& s) {
  run(s, [](auto x, auto y, const auto& o) {
    return losslab::smooth_l1_loss(x, y, {.beta = 1.0}, o);
  });
}
void BM_Quantile(benchmark::State& s) {
  run(s, [](auto x, auto y, const auto& o) {
    return losslab::quantile_loss(x, y, {.quantile = {0.9}}, o);
  });
}
void BM_LogCosh(benchmark::State& s) {
  run(s, [](auto x, auto y, const auto& o) {
    return losslab::log_cosh_loss(x, y, {}, o);
  });
}
void BM_PoissonNll(benchmark::State& s) {
  run(s, [](auto x, auto y, const auto& o) {
    return losslab::poisson_nll_loss(x, y, {}, o);
  });
}

// Losses on 0/1 labels: the target is (y > 0).
template <class Call>
void run_labels(benchmark::State& state, Call call) {
  const int64_t n = state.range(0);
  losslab::set_num_threads(int(state.range(1)));
  Arrays a(n);
  for (auto& v : a.y) v = v > 0 ? 1.0f : 0.0f;
  const losslab::View x = losslab::view<float>(a.x.data(), {n});
  const losslab::View y = losslab::view<float>(a.y.data(), {n});
  const losslab::LossOutputs out{
      .grad_out = losslab::mutable_view<float>(a.g.data(), {n})};
  for (auto _ : state) benchmark::DoNotOptimize(call(x, y, out));
  state.SetBytesProcessed(state.iterations() * 3 * n * int64_t(sizeof(float)));
  losslab::set_num_threads(0);
}

void BM_BceWithLogits(benchmark::State& s) {
  run_labels(s, [](auto x, auto y, const auto& o) {
    return losslab::binary_cross_entropy_with_logits(x, y, {}, o);
  });
}
void BM_SigmoidFocal(benchmark::State& s) {
  run_labels(s, [](auto x, auto y, const auto& o) {
    return losslab::sigmoid_focal_loss(x, y, {}, o);
  });
}

// bfloat16 input, target and gradient (2 bytes each): converted in registers
// inside the kernel (float32 arithmetic).
void BM_MseBf16(benchmark::State& state) {
  const int64_t n = state.range(0);
  losslab::set_num_threads(int(state.range(1)));
  Arrays a(n);
  std::vector<uint16_t> x(a.x.size()), y(a.y.size()), g(a.g.size());
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t u, v;
    std::memcpy(&u, &a.x[i], 4);
    std::memcpy(&v, &a.y[i], 4);
    x[i] = uint16_t(u >> 16);
    y[i] = uint16_t(v >> 16);
  }
  const losslab::View xv{x.data(), losslab::DType::kBFloat16, {n}, {}};
  const losslab::View yv{y.data(), losslab::DType::kBFloat16, {n}, {}};
  const losslab::LossOutputs out{
      .grad_out = {g.data(), losslab::DType::kBFloat16, {n}, {}}};
  for (auto _ : state) {
    benchmark::DoNotOptimize(losslab::mse_loss(xv, yv, {}, out));
  }
  state.SetBytesProcessed(state.iterations() * 3 * n * 2);
  losslab::set_num_threads(0);
}

// cross_entropy on (rows, 32768) logits with int64 labels, the gradient into
// a caller-owned buffer; bytes = logits read + gradient written. bf16: the
// same in bfloat16 (2 bytes each way), widened row by row in the kernel.
template <bool kBf16>
void run_ce(benchmark::State& state) {
  const int64_t rows = state.range(0), C = 32768, n = rows * C;
  losslab::set_num_threads(int(state.range(1)));
  Arrays a(n);
  std::vector<int64_t> y(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) y[size_t(r)] = (r * 7919) % C;
  const losslab::View yv = losslab::view<int64_t>(y.data(), {rows});
  std::vector<uint16_t> xh, gh;
  losslab::View xv = losslab::view<float>(a.x.data(), {rows, C});
  losslab::MutableView gv = losslab::mutable_view<float>(a.g.data(), {rows, C});
  if constexpr (kBf16) {
    xh.resize(size_t(n));
    gh.resize(size_t(n));
    for (size_t i = 0; i < xh.size(); ++i) {
      uint32_t u;
      std::memcpy(&u, &a.x[i], 4);
      xh[i] = uint16_t(u >> 16);
    }
    xv = {xh.data(), losslab::DType::kBFloat16, {rows, C}, {}};
    gv = {gh.data(), losslab::DType::kBFloat16, {rows, C}, {}};
  }
  const losslab::LossOutputs out{.grad_out = gv};
  for (auto _ : state) {
    benchmark::DoNotOptimize(losslab::cross_entropy(xv, yv, {}, out));
  }
  state.SetBytesProcessed(state.iterations() * 2 * n * (kBf16 ? 2 : 4));
  losslab::set_num_threads(0);
}
void BM_CrossEntropy(benchmark::State& s) { run_ce<false>(s); }
void BM_CrossEntropyBf16(benchmark::State& s) { run_ce<true>(s); }

void CeArgs(benchmark::internal::Benchmark* b) {
  for (int64_t rows : {int64_t(8), int64_t(2048)}) {  // 1 MiB and 256 MiB
    for (int64_t t : {1, 2}) b->Args({rows, t});
  }
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}

// Sizes: in cache (256K) and far beyond the L3 (64M); 1 and 2 threads.
void Args(benchmark::internal::Benchmark* b) {
  for (int64_t n : {int64_t(1) << 18, int64_t(1) << 26}) {
    for (int64_t t : {1, 2}) b->Args({n, t});
  }
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(BM_Triad)->Arg(1 << 18)->Arg(1 << 26)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Mse)->Apply(Args);
BENCHMARK(BM_L1)->Apply(Args);
BENCHMARK(BM_Huber)->Apply(Args);
BENCHMARK(BM_SmoothL1)->Apply(Args);
BENCHMARK(BM_Quantile)->Apply(Args);
BENCHMARK(BM_LogCosh)->Apply(Args);
BENCHMARK(BM_PoissonNll)->Apply(Args);
BENCHMARK(BM_BceWithLogits)->Apply(Args);
BENCHMARK(BM_SigmoidFocal)->Apply(Args);
BENCHMARK(BM_MseBf16)->Apply(Args);
BENCHMARK(BM_CrossEntropy)->Apply(CeArgs);
BENCHMARK(BM_CrossEntropyBf16)->Apply(CeArgs);
