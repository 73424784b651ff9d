// losslab/train/checkpoint.h: saving and loading a model with its optimizer.
//
// Format (version 1, little-endian, docs/training.md has the table):
//   "LLTRAIN\0" magic, u32 version, u32 flags (bit 0: optimizer present),
//   u64 layer count, per layer {u8 kind, i64 in, i64 out, f64 param},
//   u64 dropout seed, u64 dropout counter, u64 parameter count, f32 params,
//   [optimizer: u8 kind, 8 f64 hyper-parameters, 3 u8 flags, i64 steps,
//    u64 buffer count, per buffer {u64 length, f32 values}],
//   u64 FNV-1a hash of every byte before it.
// Every count is checked against the bytes left in the file before anything
// is allocated, so a truncated, corrupt or foreign file gives a
// losslab::Error (ValueError) that says what is wrong, never a crash or a
// huge allocation. The schedule position is the optimizer's step count
// (schedules are functions of it), so it is restored with the optimizer.
// Saving writes a temporary file in the same directory, fsyncs it and renames
// it over `path`: a crash leaves the old file or the new one, never a mix.
#ifndef LOSSLAB_TRAIN_CHECKPOINT_H_
#define LOSSLAB_TRAIN_CHECKPOINT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "losslab/train/model.h"
#include "losslab/train/optimizer.h"

namespace losslab::train {

inline constexpr uint32_t kCheckpointVersion = 1;

struct Checkpoint {
  Sequential model;
  std::optional<Optimizer> optimizer;
};

// optimizer may be null (model only). Throws losslab::Error on I/O errors.
void save_checkpoint(const std::string& path, const Sequential& model,
                     const Optimizer* optimizer = nullptr);
Checkpoint load_checkpoint(const std::string& path);

}  // namespace losslab::train

#endif  // LOSSLAB_TRAIN_CHECKPOINT_H_
