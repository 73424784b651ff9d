// Shared test helpers: a central-difference gradient checker in double
// precision, a sweep over sizes that hit every tail and block boundary, and
// guards that select a SIMD target or a thread count for one scope.
#ifndef LOSSLAB_TESTS_CPP_TESTING_H_
#define LOSSLAB_TESTS_CPP_TESTING_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "losslab/core/dispatch.h"
#include "losslab/core/error.h"
#include "losslab/core/parallel.h"

namespace losslab::testing {

// ||a - b|| / ||a + b|| (0 when both are 0): the scale-free gradient error.
inline double rel_error(const std::vector<double>& a,
                        const std::vector<double>& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += (a[i] + b[i]) * (a[i] + b[i]);
  }
  return den == 0.0 ? std::sqrt(num) : std::sqrt(num) / std::sqrt(den);
}

// A scratch file path of this process and this test. ctest runs each test
// in its own process, two at a time, and the scalar-target run repeats the
// whole binary beside them, so a fixed name lets one test truncate another's
// file while it reads it.
inline std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test =
      info ? std::string(info->test_suite_name()) + "." + info->name() : "none";
  for (char& c : test)
    if (c == '/') c = '_';
  return ::testing::TempDir() + "losslab_" + std::to_string(::getpid()) + "_" +
         test + "_" + name;
}

// float32 <-> its bits, and the spacing of float32 at a positive finite
// value (the ulp of the float32 nearest the reference): the grids and error
// units of the vector-math accuracy tests.
inline float float_of_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t bits_of_float(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline double float_ulp_at(double ref) {
  const float rf = float(ref);
  return double(std::nextafter(rf, 2.0f * rf + 1.0f)) - double(rf);
}

// Central differences (f(x + h e_i) - f(x - h e_i)) / 2h in double.
inline std::vector<double> numeric_gradient(
    const std::function<double(const std::vector<double>&)>& f,
    std::vector<double> x, double h = 1e-6) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double xi = x[i];
    x[i] = xi + h;
    const double fp = f(x);
    x[i] = xi - h;
    const double fm = f(x);
    x[i] = xi;
    g[i] = (fp - fm) / (2.0 * h);
  }
  return g;
}

// Sizes around the vector widths (4, 8, 16 lanes), the 16-lane group and the
// 2048-element block, plus one large size that spans many blocks.
inline std::vector<int64_t> sweep_sizes() {
  return {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 2047, 2048, 2049, 100003};
}

template <class T>
std::vector<T> random_vector(int64_t n, uint32_t seed, double lo = -3.0,
                             double hi = 3.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) x = T(dist(rng));
  return v;
}

// Every target this machine can run, scalar reference last.
inline std::vector<std::string> all_targets() {
  return available_simd_targets();
}

class ScopedTarget {
 public:
  explicit ScopedTarget(const std::string& name) : saved_(simd_target()) {
    set_simd_target(name);
  }
  ~ScopedTarget() { set_simd_target(saved_); }

 private:
  std::string saved_;
};

// The message of the losslab::Error that f throws ("" when it throws none),
// and its kind into *kind when asked.
inline std::string error_of(const std::function<void()>& f,
                            ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

class ScopedThreads {
 public:
  explicit ScopedThreads(int n) : saved_(get_num_threads()) {
    set_num_threads(n);
  }
  ~ScopedThreads() { set_num_threads(saved_); }

 private:
  int saved_;
};

}  // namespace losslab::testing

#endif  // LOSSLAB_TESTS_CPP_TESTING_H_
