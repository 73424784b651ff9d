// Computes a Huber loss and its gradient with the installed losslab package.
#include <cstdio>
#include <vector>

#include "losslab/losslab.h"

int main() {
  const std::vector<float> pred = {0.5f, -1.5f, 2.0f, 0.0f};
  const std::vector<float> target = {0.0f, 0.0f, 0.0f, 0.0f};
  std::vector<float> grad(pred.size());
  const int64_t n = int64_t(pred.size());
  // 0.125 + 1.0 + 1.5 + 0 = 2.625, mean 0.65625; grad = clamp(d, -1, 1) / 4
  const double loss = losslab::huber_loss(
      losslab::view<float>(pred.data(), {n}),
      losslab::view<float>(target.data(), {n}), {.delta = 1.0},
      {.grad_out = losslab::mutable_view<float>(grad.data(), {n})});
  std::printf("huber_loss = %g\ngrad = [%g, %g, %g, %g]\n", loss, grad[0],
              grad[1], grad[2], grad[3]);
  return 0;
}
