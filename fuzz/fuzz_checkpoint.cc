// libFuzzer target for the checkpoint loaders (issue 9): the fuzzed bytes are
// written to a file and loaded with losslab::train::load_checkpoint, or with
// load_model_checkpoint when they start with the composite models' magic
// "LLMODEL\0" (the loaders take a path; there is no from-bytes API).
//
// Each input is loaded twice: as it is, and with its last 8 bytes replaced by
// the FNV-1a checksum of the bytes before them, so that the fuzzer also
// reaches what comes after the checksum test (successful loads) without
// having to guess a 64-bit hash.
//
// Checks (any failure aborts, and libFuzzer keeps the input):
// - the only exception that escapes is losslab::Error, and its message
//   starts with a function name and ": " (load_checkpoint, or the model /
//   optimizer / scaler constructor that validated a value of the file);
// - no sanitizer report (ASan+UBSan build), no crash, no hang;
// - no allocation larger than the file implies: malloc is capped by
//   -malloc_limit_mb (the Makefile passes 64 MB; the seeds are < 1 KB and
//   -max_len is 4096), so a loader that believed a corrupt count fails here
//   with "out-of-memory (malloc(...))";
// - a file that loads saves back, and that saved file loads to the same
//   parameters, optimizer state and precision and saves to the same bytes
//   (save(load(f)) is a fixed point after one round); for a model
//   checkpoint, the same kind and the same saved bytes.
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "losslab/core/error.h"
#include "losslab/train/checkpoint.h"

namespace {

namespace tr = losslab::train;

std::string scratch(const char* tag) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/losslab_fuzz_ckpt_" +
         std::to_string(::getpid()) + "_" + tag;
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_checkpoint: %s: %s\n", what, detail.c_str());
  std::abort();
}

// "<name>: ..." with a plain identifier as the name.
bool has_function_prefix(const std::string& msg) {
  const size_t colon = msg.find(": ");
  if (colon == std::string::npos || colon == 0) return false;
  for (size_t i = 0; i < colon; ++i) {
    const char c = msg[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) {
      return false;
    }
  }
  return true;
}

void save(const std::string& path, const tr::Checkpoint& ck) {
  tr::save_checkpoint(path, ck.model, ck.optimizer ? &*ck.optimizer : nullptr,
                      ck.scaler ? &*ck.scaler : nullptr,
                      ck.schedule ? &*ck.schedule : nullptr);
}

void same_state(const tr::Checkpoint& a, const tr::Checkpoint& b) {
  const auto pa = a.model.parameters(), pb = b.model.parameters();
  if (pa.size() != pb.size() ||
      std::memcmp(pa.data(), pb.data(), pa.size() * sizeof(float)) != 0) {
    fail("round trip", "parameters differ");
  }
  if (a.model.precision() != b.model.precision()) {
    fail("round trip", "precision differs");
  }
  if (a.optimizer.has_value() != b.optimizer.has_value() ||
      a.scaler.has_value() != b.scaler.has_value() ||
      a.schedule.has_value() != b.schedule.has_value()) {
    fail("round trip", "a section appeared or vanished");
  }
  if (a.optimizer) {
    if (a.optimizer->steps() != b.optimizer->steps()) {
      fail("round trip", "optimizer steps differ");
    }
    const auto& sa = a.optimizer->state();
    const auto& sb = b.optimizer->state();
    if (sa.size() != sb.size()) fail("round trip", "optimizer buffers differ");
    for (size_t i = 0; i < sa.size(); ++i) {
      if (sa[i].size() != sb[i].size() ||
          std::memcmp(sa[i].data(), sb[i].data(),
                      sa[i].size() * sizeof(float)) != 0) {
        fail("round trip", "optimizer state differs");
      }
    }
  }
}

// A composite-model checkpoint (magic "LLMODEL\0") saved back with the
// overload of its kind.
void save_model(const std::string& path, const tr::ModelCheckpoint& ck) {
  const tr::Optimizer* opt = ck.optimizer ? &*ck.optimizer : nullptr;
  const tr::Schedule* sch = ck.schedule ? &*ck.schedule : nullptr;
  switch (ck.kind) {
    case tr::ModelKind::kAutoencoder:
      tr::save_model_checkpoint(path, *ck.autoencoder, opt, sch);
      return;
    case tr::ModelKind::kVae:
      tr::save_model_checkpoint(path, *ck.vae, opt, sch);
      return;
    case tr::ModelKind::kGan:
      tr::save_model_checkpoint(
          path, *ck.gan, opt,
          ck.discriminator_optimizer ? &*ck.discriminator_optimizer : nullptr,
          sch);
      return;
    case tr::ModelKind::kEmbeddingNet:
      tr::save_model_checkpoint(path, *ck.embedding_net, opt, sch);
      return;
  }
  fail("load_model_checkpoint", "a model kind outside the enum loaded");
}

// load_model_checkpoint: a file that loads must save, load back and save to
// the same bytes (the saved bytes hold every part, optimizer and schedule).
void load_model_one(const std::string& path, const std::string& again,
                    const std::string& third) {
  const tr::ModelCheckpoint ck = tr::load_model_checkpoint(path);
  save_model(again, ck);
  const tr::ModelCheckpoint ck2 = tr::load_model_checkpoint(again);
  if (ck2.kind != ck.kind) fail("round trip", "model kind differs");
  save_model(third, ck2);
  if (read_file(again) != read_file(third)) {
    fail("round trip", "model: save(load(save(load(f)))) != save(load(f))");
  }
}

void load_one(const uint8_t* data, size_t size) {
  const std::string path = scratch("in"), again = scratch("again"),
                    third = scratch("third");
  write_file(path, data, size);
  try {
    if (size >= 8 && std::memcmp(data, "LLMODEL", 8) == 0) {
      load_model_one(path, again, third);
      return;
    }
    const tr::Checkpoint ck = tr::load_checkpoint(path);
    // It loaded: it must save, load back to the same state, and the second
    // save must give the same bytes as the first.
    save(again, ck);
    const tr::Checkpoint ck2 = tr::load_checkpoint(again);
    same_state(ck, ck2);
    save(third, ck2);
    if (read_file(again) != read_file(third)) {
      fail("round trip", "save(load(save(load(f)))) != save(load(f))");
    }
  } catch (const losslab::Error& e) {
    if (!has_function_prefix(e.what()))
      fail("message without prefix", e.what());
  } catch (const std::exception& e) {
    fail("an exception other than losslab::Error", e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load_one(data, size);
  if (size >= 8) {
    std::vector<uint8_t> fixed(data, data + size);
    const uint64_t h = fnv1a(fixed.data(), size - 8);
    std::memcpy(fixed.data() + size - 8, &h, 8);
    load_one(fixed.data(), size);
  }
  return 0;
}
