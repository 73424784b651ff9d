// A loss losslab does not ship, written as a functor: the Cauchy (Lorentzian)
// loss l = c^2/2 log(1 + (d/c)^2), d = prediction - target, whose gradient
// d / (1 + (d/c)^2) fades for large residuals, so outliers barely pull the
// fit. losslab::elementwise_loss gives it weights, reductions, gradients,
// checks, threads and the deterministic reduction of the built-in losses.
//
// The program fits y = a x + b by gradient descent on data whose right half
// has 20 % gross outliers, once with mse_loss and once with the Cauchy loss:
// least squares is pulled to slope ~3.2, Cauchy stays at the true 2.
#include <cmath>
#include <cstdio>
#include <vector>

#include "losslab/custom.h"
#include "losslab/losslab.h"

struct Cauchy {
  double c = 1.0;
  // l, g = dl/dx and (when asked) h = d^2l/dx^2, for T = float and double.
  template <class T>
  void operator()(T x, T y, T& l, T& g, T& h, bool want_h) const {
    const T d = x - y, r = d / T(c), q = T(1) + r * r;
    l = T(0.5 * c * c) * std::log1p(r * r);
    g = d / q;
    if (want_h) h = (T(1) - r * r) / (q * q);
  }
};

int main() {
  const int64_t n = 1000;
  std::vector<double> x(n), y(n), pred(n), grad(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = -1.0 + 2.0 * double(i) / double(n - 1);
    y[i] = 2.0 * x[i] + 0.5 + 0.05 * std::sin(37.0 * double(i));  // the line
    if (i % 5 == 0 && x[i] > 0) y[i] += 8.0;                      // outliers
  }
  const auto pv = losslab::view<double>(pred.data(), {n});
  const auto yv = losslab::view<double>(y.data(), {n});
  const losslab::LossOutputs out{
      .grad_out = losslab::mutable_view<double>(grad.data(), {n})};
  for (const char* name : {"mse_loss", "cauchy_loss"}) {
    double a = 0.0, b = 0.0, loss = 0.0;
    for (int step = 0; step < 2000; ++step) {
      for (int64_t i = 0; i < n; ++i) pred[i] = a * x[i] + b;
      loss = name[0] == 'm'
                 ? losslab::mse_loss(pv, yv, {}, out)
                 : losslab::elementwise_loss(Cauchy{.c = 0.5}, pv, yv,
                                             {.name = "cauchy_loss"}, out);
      double ga = 0.0, gb = 0.0;  // chain rule: dL/da = sum dL/dpred_i x_i
      for (int64_t i = 0; i < n; ++i) {
        ga += grad[i] * x[i];
        gb += grad[i];
      }
      a -= 0.5 * ga;
      b -= 0.5 * gb;
    }
    std::printf("%-11s loss = %.6f  slope = %.4f  intercept = %.4f\n", name,
                loss, a, b);
  }
  return 0;
}
