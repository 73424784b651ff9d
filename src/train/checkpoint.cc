// Binary checkpoints of the training engine. See
// include/losslab/train/checkpoint.h for the format.
#include "losslab/train/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "losslab/core/error.h"

namespace losslab::train {
namespace {

static_assert(std::endian::native == std::endian::little,
              "checkpoints are written little-endian");

constexpr char kMagic[8] = {'L', 'L', 'T', 'R', 'A', 'I', 'N', '\0'};
constexpr uint32_t kFlagOptimizer = 1;
constexpr uint32_t kFlagScaler = 2;
constexpr uint32_t kFlagSchedule = 4;

// FNV-1a, 64-bit.
uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

class CkptWriter {
 public:
  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    buf_.insert(buf_.end(), p, p + sizeof(T));
  }
  void put_floats(const float* p, size_t n) {
    put<uint64_t>(n);
    const auto* b = reinterpret_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n * sizeof(float));
  }
  std::vector<uint8_t>& bytes() { return buf_; }

 private:
  std::vector<uint8_t> buf_;
};

class CkptReader {
 public:
  CkptReader(const std::vector<uint8_t>& b, const std::string& path)
      : b_(b), path_(path) {}
  [[noreturn]] void fail(const std::string& what) const {
    throw_value_error("load_checkpoint: '" + path_ +
                      "' is not a valid losslab checkpoint: " + what);
  }
  size_t left() const { return b_.size() - pos_; }
  template <class T>
  T get(const char* what) {
    if (left() < sizeof(T)) {
      fail(std::string("the file ends inside ") + what + " (truncated?)");
    }
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  // A count of `elem`-byte items, checked against the bytes left before
  // anything is allocated.
  uint64_t count(const char* what, size_t elem) {
    const uint64_t c = get<uint64_t>(what);
    if (elem > 0 && c > left() / elem) {
      fail(std::string(what) + " says " + std::to_string(c) +
           " entries but only " + std::to_string(left()) +
           " bytes remain (truncated or corrupt)");
    }
    return c;
  }
  std::vector<float> floats(const char* what) {
    const uint64_t n = count(what, sizeof(float));
    std::vector<float> v(static_cast<size_t>(n));
    std::memcpy(v.data(), b_.data() + pos_, n * sizeof(float));
    pos_ += n * sizeof(float);
    return v;
  }
  size_t pos() const { return pos_; }

 private:
  const std::vector<uint8_t>& b_;
  std::string path_;
  size_t pos_ = 0;
};

[[noreturn]] void io_error(const std::string& fn, const std::string& path,
                           const std::string& what) {
  throw_value_error(fn + ": cannot " + what + " '" + path +
                    "': " + std::strerror(errno));
}

}  // namespace

void save_checkpoint(const std::string& path, const Sequential& model,
                     const Optimizer* opt, const GradScaler* scaler,
                     const Schedule* schedule) {
  constexpr const char* fn = "save_checkpoint";
  if (model.layers().empty()) {
    throw_value_error(std::string(fn) + ": the model has no layers");
  }
  CkptWriter w;
  for (char c : kMagic) w.put<char>(c);
  w.put<uint32_t>(kCheckpointVersion);
  if (schedule != nullptr) validate_schedule(*schedule, fn);
  w.put<uint32_t>((opt != nullptr ? kFlagOptimizer : 0) |
                  (scaler != nullptr ? kFlagScaler : 0) |
                  (schedule != nullptr ? kFlagSchedule : 0));
  w.put<uint64_t>(model.layers().size());
  for (const LayerSpec& l : model.layers()) {
    w.put<uint8_t>(static_cast<uint8_t>(l.kind));
    w.put<int64_t>(l.in);
    w.put<int64_t>(l.out);
    w.put<double>(l.param);
  }
  w.put<uint64_t>(model.dropout_seed());
  w.put<uint64_t>(model.dropout_counter());
  w.put_floats(model.parameters().data(), model.parameters().size());
  if (opt != nullptr) {
    const OptimizerOptions& o = opt->options();
    w.put<uint8_t>(static_cast<uint8_t>(o.kind));
    for (double v : {o.lr, o.weight_decay, o.momentum, o.dampening, o.beta1,
                     o.beta2, o.eps, o.alpha}) {
      w.put<double>(v);
    }
    w.put<uint8_t>(o.nesterov);
    w.put<uint8_t>(o.amsgrad);
    w.put<uint8_t>(o.centered);
    w.put<int64_t>(opt->steps());
    w.put<uint64_t>(opt->state().size());
    for (const auto& s : opt->state()) w.put_floats(s.data(), s.size());
  }
  w.put<uint8_t>(static_cast<uint8_t>(model.precision()));
  if (scaler != nullptr) {
    const GradScalerOptions& o = scaler->options();
    w.put<uint8_t>(static_cast<uint8_t>(o.kind));
    w.put<double>(o.init_scale);
    w.put<double>(o.growth_factor);
    w.put<double>(o.backoff_factor);
    w.put<int64_t>(o.growth_interval);
    w.put<float>(scaler->scale());
    w.put<int64_t>(scaler->growth_tracker());
    w.put<int64_t>(scaler->skipped_steps());
  }
  if (schedule != nullptr) {
    w.put<uint8_t>(static_cast<uint8_t>(schedule->kind));
    w.put<int64_t>(schedule->warmup_steps);
    w.put<double>(schedule->warmup_start_factor);
    w.put<int64_t>(schedule->step_size);
    w.put<double>(schedule->gamma);
    w.put<int64_t>(schedule->t_max);
    w.put<double>(schedule->eta_min);
  }
  std::vector<uint8_t>& bytes = w.bytes();
  w.put<uint64_t>(fnv1a(bytes.data(), bytes.size()));

  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) io_error(fn, tmp, "create");
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t k = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (k < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      ::unlink(tmp.c_str());
      io_error(fn, tmp, "write");
    }
    done += static_cast<size_t>(k);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    io_error(fn, tmp, "fsync");
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    io_error(fn, path, "rename a temporary file to");
  }
}

Checkpoint load_checkpoint(const std::string& path) {
  constexpr const char* fn = "load_checkpoint";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) io_error(fn, path, "open");
  if (!S_ISREG(st.st_mode)) {
    throw_value_error(std::string(fn) + ": '" + path +
                      "' is not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  std::vector<uint8_t> b(size);
  {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) io_error(fn, path, "open");
    const size_t got = size == 0 ? 0 : std::fread(b.data(), 1, size, f);
    std::fclose(f);
    if (got != size) io_error(fn, path, "read");
  }
  CkptReader r(b, path);
  if (size < sizeof(kMagic) || std::memcmp(b.data(), kMagic, 8) != 0) {
    r.fail(
        "the file does not start with the magic 'LLTRAIN' (a foreign "
        "file?)");
  }
  for (int i = 0; i < 8; ++i) (void)r.get<char>("the magic");
  const uint32_t version = r.get<uint32_t>("the version");
  if (version != 1 && version != kCheckpointVersion) {
    r.fail("version " + std::to_string(version) +
           " is not supported by this losslab (it reads versions 1 to " +
           std::to_string(kCheckpointVersion) + ")");
  }
  if (size < 8 + 4 + 4 + 8) r.fail("the file is too short (truncated)");
  const uint32_t flags = r.get<uint32_t>("the flags");
  const uint32_t known = version == 1
                             ? kFlagOptimizer
                             : (kFlagOptimizer | kFlagScaler | kFlagSchedule);
  if ((flags & ~known) != 0) {
    r.fail("unknown flags " + std::to_string(flags) + " for version " +
           std::to_string(version));
  }
  // A layer record is 25 bytes.
  const uint64_t nl = r.count("the layer count", 25);
  if (nl == 0) r.fail("the model has no layers");
  std::vector<LayerSpec> layers;
  for (uint64_t i = 0; i < nl; ++i) {
    LayerSpec l;
    const uint8_t kind = r.get<uint8_t>("a layer kind");
    if (kind > static_cast<uint8_t>(LayerKind::kDropout)) {
      r.fail("layer " + std::to_string(i) + " has unknown kind " +
             std::to_string(kind));
    }
    l.kind = static_cast<LayerKind>(kind);
    l.in = r.get<int64_t>("a layer width");
    l.out = r.get<int64_t>("a layer width");
    l.param = r.get<double>("a layer parameter");
    if (l.kind == LayerKind::kDense &&
        (l.in < 1 || l.out < 1 || l.in > (int64_t(1) << 31) ||
         l.out > (int64_t(1) << 31) ||
         static_cast<uint64_t>(l.out) * static_cast<uint64_t>(l.in + 1) >
             size / sizeof(float))) {
      r.fail("layer " + std::to_string(i) + " has sizes in=" +
             std::to_string(l.in) + ", out=" + std::to_string(l.out) +
             " that the file cannot hold (corrupt)");
    }
    layers.push_back(l);
  }
  const uint64_t dseed = r.get<uint64_t>("the dropout seed");
  const uint64_t dcount = r.get<uint64_t>("the dropout counter");
  std::vector<float> params = r.floats("the parameter count");
  Checkpoint ck;
  {
    uint64_t need = 0;
    for (const auto& l : layers) {
      if (l.kind == LayerKind::kDense) {
        need += static_cast<uint64_t>(l.out) * static_cast<uint64_t>(l.in + 1);
      }
    }
    if (need != params.size()) {
      r.fail("the layers need " + std::to_string(need) +
             " parameters but the file holds " + std::to_string(params.size()));
    }
  }
  // The model's and the optimizer's own checks run on the stored values;
  // their messages are put in the checkpoint's words (naming the file).
  try {
    ck.model = Sequential(layers, 0);
  } catch (const Error& e) {
    r.fail(std::string("the model is invalid: ") + e.what());
  }
  std::copy(params.begin(), params.end(), ck.model.parameters().begin());
  ck.model.set_dropout_state(dseed, dcount);
  if (flags & kFlagOptimizer) {
    OptimizerOptions o;
    const uint8_t kind = r.get<uint8_t>("the optimizer kind");
    if (kind > static_cast<uint8_t>(OptimizerKind::kRmsprop)) {
      r.fail("unknown optimizer kind " + std::to_string(kind));
    }
    o.kind = static_cast<OptimizerKind>(kind);
    double* fields[] = {&o.lr,    &o.weight_decay, &o.momentum, &o.dampening,
                        &o.beta1, &o.beta2,        &o.eps,      &o.alpha};
    for (double* f : fields) *f = r.get<double>("an optimizer setting");
    o.nesterov = r.get<uint8_t>("an optimizer flag") != 0;
    o.amsgrad = r.get<uint8_t>("an optimizer flag") != 0;
    o.centered = r.get<uint8_t>("an optimizer flag") != 0;
    const int64_t steps = r.get<int64_t>("the step count");
    if (steps < 0) r.fail("negative step count");
    Optimizer opt;
    try {
      opt = Optimizer(o, static_cast<int64_t>(params.size()));
    } catch (const Error& e) {
      r.fail(std::string("the optimizer is invalid: ") + e.what());
    }
    const uint64_t ns = r.count("the optimizer buffer count", 8);
    if (ns != opt.state().size()) {
      r.fail("the optimizer has " + std::to_string(ns) + " state buffers; " +
             std::string(optimizer_name(o.kind)) + " with these settings has " +
             std::to_string(opt.state().size()));
    }
    for (auto& s : opt.state()) {
      std::vector<float> v = r.floats("an optimizer buffer length");
      if (v.size() != s.size()) {
        r.fail("an optimizer buffer holds " + std::to_string(v.size()) +
               " values for " + std::to_string(s.size()) + " parameters");
      }
      s.swap(v);
    }
    opt.set_steps(steps);
    ck.optimizer = std::move(opt);
  }
  if (version >= 2) {
    const uint8_t prec = r.get<uint8_t>("the precision");
    if (prec > static_cast<uint8_t>(Precision::kFp16)) {
      r.fail("unknown precision code " + std::to_string(prec));
    }
    ck.model.set_precision(static_cast<Precision>(prec));
    // The library's own validation of the scaler and schedule fields, its
    // message put in the checkpoint's words.
    if (flags & kFlagScaler) {
      GradScalerOptions o;
      const uint8_t kind = r.get<uint8_t>("the scaler kind");
      if (kind > static_cast<uint8_t>(LossScaleKind::kDynamic)) {
        r.fail("unknown loss-scale kind " + std::to_string(kind));
      }
      o.kind = static_cast<LossScaleKind>(kind);
      o.init_scale = r.get<double>("the scaler settings");
      o.growth_factor = r.get<double>("the scaler settings");
      o.backoff_factor = r.get<double>("the scaler settings");
      o.growth_interval = r.get<int64_t>("the scaler settings");
      const float scale = r.get<float>("the scaler state");
      const int64_t tracker = r.get<int64_t>("the scaler state");
      const int64_t skipped = r.get<int64_t>("the scaler state");
      try {
        GradScaler sc(o);
        sc.set_state(scale, tracker, skipped);
        ck.scaler = sc;
      } catch (const Error& e) {
        r.fail(std::string("the scaler is invalid: ") + e.what());
      }
    }
    if (flags & kFlagSchedule) {
      Schedule sch;
      const uint8_t kind = r.get<uint8_t>("the schedule kind");
      if (kind > static_cast<uint8_t>(ScheduleKind::kCosine)) {
        r.fail("unknown schedule kind " + std::to_string(kind));
      }
      sch.kind = static_cast<ScheduleKind>(kind);
      sch.warmup_steps = r.get<int64_t>("the schedule");
      sch.warmup_start_factor = r.get<double>("the schedule");
      sch.step_size = r.get<int64_t>("the schedule");
      sch.gamma = r.get<double>("the schedule");
      sch.t_max = r.get<int64_t>("the schedule");
      sch.eta_min = r.get<double>("the schedule");
      try {
        validate_schedule(sch, "schedule");
        ck.schedule = sch;
      } catch (const Error& e) {
        r.fail(std::string("the schedule is invalid: ") + e.what());
      }
    }
  }
  const uint64_t stored = r.get<uint64_t>("the checksum");
  if (r.left() != 0) {
    r.fail(std::to_string(r.left()) + " unexpected bytes after the checksum");
  }
  if (stored != fnv1a(b.data(), size - 8)) {
    r.fail("the checksum does not match (the file is corrupt)");
  }
  return ck;
}

}  // namespace losslab::train
