// losslab/train/checkpoint.h: saving and loading a model with its optimizer,
// loss scaler and learning-rate schedule.
//
// Format (version 2, little-endian, docs/training.md has the table):
//   "LLTRAIN\0" magic, u32 version, u32 flags (bit 0: optimizer present,
//   bit 1: scaler present, bit 2: schedule present),
//   u64 layer count, per layer {u8 kind, i64 in, i64 out, f64 param},
//   u64 dropout seed, u64 dropout counter, u64 parameter count, f32 params,
//   [optimizer: u8 kind, 8 f64 hyper-parameters, 3 u8 flags, i64 steps,
//    u64 buffer count, per buffer {u64 length, f32 values}],
//   version 2 only: u8 precision,
//   [scaler: u8 kind, f64 init_scale, f64 growth_factor, f64 backoff_factor,
//    i64 growth_interval, f32 scale, i64 growth_tracker, i64 skipped_steps],
//   [schedule: u8 kind, i64 warmup_steps, f64 warmup_start_factor,
//    i64 step_size, f64 gamma, i64 t_max, f64 eta_min],
//   u64 FNV-1a hash of every byte before it.
// Version 1 files (no precision, scaler or schedule) still load (fp32).
// Every count is checked against the bytes left in the file before anything
// is allocated, so a truncated, corrupt or foreign file gives a
// losslab::Error (ValueError) that says what is wrong, never a crash or a
// huge allocation. The schedule is a function of the optimizer's step
// count: its parameters are saved, and its position is the restored step.
// Saving writes a temporary file in the same directory, fsyncs it and renames
// it over `path`: a crash leaves the old file or the new one, never a mix.
#ifndef LOSSLAB_TRAIN_CHECKPOINT_H_
#define LOSSLAB_TRAIN_CHECKPOINT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "losslab/train/model.h"
#include "losslab/train/models.h"
#include "losslab/train/optimizer.h"

namespace losslab::train {

inline constexpr uint32_t kCheckpointVersion = 2;

struct Checkpoint {
  Sequential model;  // with its precision
  std::optional<Optimizer> optimizer;
  std::optional<GradScaler> scaler;
  std::optional<Schedule> schedule;
};

// optimizer, scaler and schedule may be null (not saved). Throws
// losslab::Error on I/O errors.
void save_checkpoint(const std::string& path, const Sequential& model,
                     const Optimizer* optimizer = nullptr,
                     const GradScaler* scaler = nullptr,
                     const Schedule* schedule = nullptr);
Checkpoint load_checkpoint(const std::string& path);

// ---------------------------------------------------------------------------
// Checkpoints of the composite models (models.h): magic "LLMODEL\0", its own
// version (kModelCheckpointVersion), the model kind and options, the
// training clock, every Sequential part (layer specs, precision, dropout
// state, parameters), then the optimizer(s) and the schedule, each in the
// records of the Sequential format above; u64 FNV-1a hash last. The table is
// in docs/training_models.md. The same safety as load_checkpoint: the hash
// and every count are checked before anything is allocated or built, and a
// damaged or foreign file gives losslab::Error (ValueError).
inline constexpr uint32_t kModelCheckpointVersion = 1;

enum class ModelKind : uint8_t {
  kAutoencoder = 1,
  kVae = 2,
  kGan = 3,
  kEmbeddingNet = 4
};
// "Autoencoder", "VAE", "GAN", "EmbeddingNet" (the Python class names).
std::string_view model_kind_name(ModelKind kind) noexcept;

// Exactly one of the models is set (the one `kind` names). optimizer is the
// model's optimizer (the GAN's generator optimizer);
// discriminator_optimizer is the GAN's second one.
struct ModelCheckpoint {
  ModelKind kind = ModelKind::kAutoencoder;
  std::optional<Autoencoder> autoencoder;
  std::optional<Vae> vae;
  std::optional<Gan> gan;
  std::optional<EmbeddingNet> embedding_net;
  std::optional<Optimizer> optimizer;
  std::optional<Optimizer> discriminator_optimizer;
  std::optional<Schedule> schedule;
};

// Optimizers and schedule may be null (not saved); an optimizer must have
// been built for the part it steps. Atomic like save_checkpoint.
void save_model_checkpoint(const std::string& path, const Autoencoder& model,
                           const Optimizer* optimizer = nullptr,
                           const Schedule* schedule = nullptr);
void save_model_checkpoint(const std::string& path, const Vae& model,
                           const Optimizer* optimizer = nullptr,
                           const Schedule* schedule = nullptr);
void save_model_checkpoint(const std::string& path, const Gan& model,
                           const Optimizer* generator_optimizer = nullptr,
                           const Optimizer* discriminator_optimizer = nullptr,
                           const Schedule* schedule = nullptr);
void save_model_checkpoint(const std::string& path, const EmbeddingNet& model,
                           const Optimizer* optimizer = nullptr,
                           const Schedule* schedule = nullptr);
// With `expected`, a file holding another kind of model is refused with a
// message naming both kinds.
ModelCheckpoint load_model_checkpoint(
    const std::string& path, std::optional<ModelKind> expected = std::nullopt);

}  // namespace losslab::train

#endif  // LOSSLAB_TRAIN_CHECKPOINT_H_
