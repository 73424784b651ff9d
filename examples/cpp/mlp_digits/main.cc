// Trains an MLP on the bundled digits (data/digits.csv.gz: 1797 8x8 images,
// 64 pixels 0..16 then the label) with losslab's training engine and prints
// the test accuracy. Usage: mlp_digits path/to/digits.csv.gz
#include <zlib.h>  // gzgets also reads an uncompressed file

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "losslab/losslab.h"

int main(int argc, char** argv) {
  gzFile f = gzopen(argc > 1 ? argv[1] : "data/digits.csv.gz", "rb");
  if (!f) return std::fprintf(stderr, "usage: mlp_digits digits.csv.gz\n"), 1;
  std::vector<float> x;
  std::vector<int64_t> y;
  for (char line[1024]; gzgets(f, line, sizeof line);) {
    char* p = line;
    for (int j = 0; j < 64; ++j) x.push_back(std::strtof(p, &p) / 16.0f), ++p;
    y.push_back(std::strtoll(p, nullptr, 10));
  }
  gzclose(f);
  const int64_t n = int64_t(y.size()), n_train = n * 3 / 4,
                n_test = n - n_train;
  namespace T = losslab::train;
  T::Dataset train{.x = losslab::view<float>(x.data(), {n_train, 64}),
                   .y = losslab::view<int64_t>(y.data(), {n_train})};
  T::Dataset test{
      .x = losslab::view<float>(x.data() + n_train * 64, {n_test, 64}),
      .y = losslab::view<int64_t>(y.data() + n_train, {n_test})};
  T::Sequential model =
      T::mlp({.in_features = 64, .hidden = {64}, .out_features = 10});
  T::Optimizer adam({.kind = T::OptimizerKind::kAdam, .lr = 3e-3},
                    model.num_parameters());
  T::History h = T::fit(
      model, adam, {.name = "cross_entropy"}, train, &test,
      {.epochs = 30, .batch_size = 32, .seed = 0, .metrics = {"accuracy"}});
  const T::EpochLog& last = h.epochs.back();
  std::printf("train loss %.4f  test loss %.4f\n", last.train_loss,
              last.val_loss);
  std::printf("test accuracy = %.4f\n", last.metrics.at("val_accuracy"));
  return 0;
}
