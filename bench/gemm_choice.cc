// Which GEMM for the training engine and linear_cross_entropy? Times
// single-threaded OpenBLAS cblas_sgemm against Eigen 3 (Debian libeigen3-dev)
// on the shapes losslab multiplies, in one process, and prints the ratio.
// Both run on one thread because losslab distributes fixed blocks over its
// own pool (bitwise-identical results at any thread count, docs/training.md).
//
//   cmake --preset release && cmake --build --preset release \
//     --target losslab_bench_gemm && build/release/bench/losslab_bench_gemm
#include <cblas.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

namespace {

using RowMat =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Shape {
  const char* what;
  int m, n, k;
  bool b_transposed;  // C = A B^T (forward, logits) or C = A B
};

template <class F>
double best_seconds(F&& f, double min_total = 0.3) {
  f();  // warm-up
  double best = 1e30, total = 0.0;
  int reps = 0;
  while (total < min_total || reps < 5) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    best = std::min(best, s);
    total += s;
    ++reps;
  }
  return best;
}

}  // namespace

int main() {
  openblas_set_num_threads(1);
  Eigen::setNbThreads(1);
  const Shape shapes[] = {
      {"MLP forward 128x784 . 256x784^T", 128, 256, 784, true},
      {"MLP dW 256x128 . 128x784", 256, 784, 128, false},
      {"MLP forward 64x256 . 128x256^T", 64, 128, 256, true},
      {"LCE chunk logits 128x1024 . 512x1024^T", 128, 512, 1024, true},
      {"LCE dH 128x512 . 512x1024", 128, 1024, 512, false},
  };
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::printf("%-42s %12s %12s %10s\n", "shape (single thread)", "OpenBLAS",
              "Eigen", "Eigen/OB");
  for (const Shape& s : shapes) {
    const int brows = s.b_transposed ? s.n : s.k;
    const int bcols = s.b_transposed ? s.k : s.n;
    std::vector<float> a(size_t(s.m) * s.k), b(size_t(brows) * bcols),
        c(size_t(s.m) * s.n);
    for (float& x : a) x = u(rng);
    for (float& x : b) x = u(rng);
    const double ob = best_seconds([&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans,
                  s.b_transposed ? CblasTrans : CblasNoTrans, s.m, s.n, s.k,
                  1.0f, a.data(), s.k, b.data(), bcols, 0.0f, c.data(), s.n);
    });
    Eigen::Map<const RowMat> A(a.data(), s.m, s.k);
    Eigen::Map<const RowMat> B(b.data(), brows, bcols);
    Eigen::Map<RowMat> C(c.data(), s.m, s.n);
    const double ei = best_seconds([&] {
      if (s.b_transposed) {
        C.noalias() = A * B.transpose();
      } else {
        C.noalias() = A * B;
      }
    });
    const double flop = 2.0 * s.m * s.n * s.k;
    std::printf("%-42s %8.1f GF/s %8.1f GF/s %9.2fx\n", s.what,
                flop / ob * 1e-9, flop / ei * 1e-9, ei / ob);
  }
  return 0;
}
