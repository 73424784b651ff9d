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
  CkptReader(const std::vector<uint8_t>& b, const std::string& path,
             const char* fn = "load_checkpoint",
             const char* what = "losslab checkpoint")
      : b_(b), path_(path), fn_(fn), what_(what) {}
  [[noreturn]] void fail(const std::string& what) const {
    throw_value_error(std::string(fn_) + ": '" + path_ + "' is not a valid " +
                      what_ + ": " + what);
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
    // memcpy from/to a null pointer is undefined even for 0 bytes (an empty
    // vector's data() may be null; found by fuzz/fuzz_checkpoint.cc).
    if (n > 0) std::memcpy(v.data(), b_.data() + pos_, n * sizeof(float));
    pos_ += n * sizeof(float);
    return v;
  }
  size_t pos() const { return pos_; }

 private:
  const std::vector<uint8_t>& b_;
  std::string path_;
  const char* fn_;
  const char* what_;
  size_t pos_ = 0;
};

[[noreturn]] void io_error(const std::string& fn, const std::string& path,
                           const std::string& what) {
  throw_value_error(fn + ": cannot " + what + " '" + path +
                    "': " + std::strerror(errno));
}

// Writes `bytes` to a temporary file next to `path`, fsyncs it and renames
// it over `path`: a crash leaves the old file or the new one.
void write_file_atomic(const char* fn, const std::string& path,
                       const std::vector<uint8_t>& bytes) {
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

// The whole file; its size comes from stat, so nothing read from the file
// sizes an allocation.
std::vector<uint8_t> read_file(const char* fn, const std::string& path) {
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
  return b;
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
  write_file_atomic(fn, path, bytes);
}

Checkpoint load_checkpoint(const std::string& path) {
  constexpr const char* fn = "load_checkpoint";
  const std::vector<uint8_t> b = read_file(fn, path);
  const size_t size = b.size();
  CkptReader r(b, path);
  if (size >= 8 && std::memcmp(b.data(), "LLMODEL", 8) == 0) {
    r.fail(
        "it is a composite-model checkpoint (Autoencoder, VAE, GAN or "
        "EmbeddingNet); load it with load_model_checkpoint "
        "(losslab.models.load in Python)");
  }
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

// ===========================================================================
// Composite-model checkpoints (format in docs/training_models.md).

namespace {

constexpr char kModelMagic[8] = {'L', 'L', 'M', 'O', 'D', 'E', 'L', '\0'};
constexpr uint32_t kModelFlagOptimizer = 1;
constexpr uint32_t kModelFlagSecondOptimizer = 2;
constexpr uint32_t kModelFlagSchedule = 4;
constexpr uint64_t kMaxString = 256;  // option strings are short names
constexpr int64_t kMaxWidth = int64_t(1) << 31;  // as load_checkpoint

void ckm_put_string(CkptWriter& w, const std::string& v) {
  w.put<uint64_t>(v.size());
  for (char c : v) w.put<char>(c);
}
void ckm_put_ints(CkptWriter& w, const std::vector<int64_t>& v) {
  w.put<uint64_t>(v.size());
  for (int64_t x : v) w.put<int64_t>(x);
}
std::string ckm_get_string(CkptReader& r, const char* what) {
  const uint64_t n = r.count(what, 1);
  if (n > kMaxString) {
    r.fail(std::string(what) + " is " + std::to_string(n) +
           " bytes long; option names are at most " +
           std::to_string(kMaxString) + " (corrupt)");
  }
  std::string v(static_cast<size_t>(n), '\0');
  for (auto& c : v) {
    c = r.get<char>(what);
    // Option names are printable ASCII; anything else would also end up
    // undecodable inside the error message of the model's constructor.
    if (c < 0x20 || c > 0x7e) {
      r.fail(std::string(what) + " holds a byte that is not printable ASCII " +
             "(corrupt)");
    }
  }
  return v;
}
std::vector<int64_t> ckm_get_ints(CkptReader& r, const char* what) {
  const uint64_t n = r.count(what, sizeof(int64_t));
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = r.get<int64_t>(what);
  return v;
}

// A Sequential part: layers, precision, dropout state, parameters.
void ckm_put_part(CkptWriter& w, const Sequential& m) {
  w.put<uint64_t>(m.layers().size());
  for (const LayerSpec& l : m.layers()) {
    w.put<uint8_t>(static_cast<uint8_t>(l.kind));
    w.put<int64_t>(l.in);
    w.put<int64_t>(l.out);
    w.put<double>(l.param);
  }
  w.put<uint8_t>(static_cast<uint8_t>(m.precision()));
  w.put<uint64_t>(m.dropout_seed());
  w.put<uint64_t>(m.dropout_counter());
  w.put_floats(m.parameters().data(), m.parameters().size());
}

struct CkmPart {
  std::vector<LayerSpec> layers;
  Precision precision = Precision::kFp32;
  uint64_t dropout_seed = 0, dropout_counter = 0;
  std::vector<float> params;
};

CkmPart ckm_get_part(CkptReader& r, const std::string& name, size_t size) {
  CkmPart p;
  const uint64_t nl = r.count("a layer count", 25);  // 25-byte records
  if (nl == 0) r.fail("the " + name + " has no layers");
  uint64_t need = 0;
  for (uint64_t i = 0; i < nl; ++i) {
    LayerSpec l;
    const uint8_t kind = r.get<uint8_t>("a layer kind");
    if (kind > static_cast<uint8_t>(LayerKind::kDropout)) {
      r.fail("layer " + std::to_string(i) + " of the " + name +
             " has unknown kind " + std::to_string(kind));
    }
    l.kind = static_cast<LayerKind>(kind);
    l.in = r.get<int64_t>("a layer width");
    l.out = r.get<int64_t>("a layer width");
    l.param = r.get<double>("a layer parameter");
    if (l.kind == LayerKind::kDense) {
      if (l.in < 1 || l.out < 1 || l.in > kMaxWidth || l.out > kMaxWidth ||
          static_cast<uint64_t>(l.out) * static_cast<uint64_t>(l.in + 1) >
              size / sizeof(float)) {
        r.fail("layer " + std::to_string(i) + " of the " + name +
               " has sizes in=" + std::to_string(l.in) + ", out=" +
               std::to_string(l.out) + " that the file cannot hold (corrupt)");
      }
      need += static_cast<uint64_t>(l.out) * static_cast<uint64_t>(l.in + 1);
    }
    p.layers.push_back(l);
  }
  const uint8_t prec = r.get<uint8_t>("the precision");
  if (prec > static_cast<uint8_t>(Precision::kFp16)) {
    r.fail("unknown precision code " + std::to_string(prec) + " in the " +
           name);
  }
  p.precision = static_cast<Precision>(prec);
  p.dropout_seed = r.get<uint64_t>("the dropout seed");
  p.dropout_counter = r.get<uint64_t>("the dropout counter");
  p.params = r.floats("the parameter count");
  if (need != p.params.size()) {
    r.fail("the layers of the " + name + " need " + std::to_string(need) +
           " parameters but the file holds " + std::to_string(p.params.size()));
  }
  return p;
}

// The Dense widths of a stored part must be the chain the options give
// (checked before the model is built, so the options cannot ask for more
// memory than the file holds).
void ckm_check_widths(CkptReader& r, const std::string& name, const CkmPart& p,
                      std::vector<int64_t> widths) {
  std::vector<int64_t> got;
  for (const LayerSpec& l : p.layers) {
    if (l.kind != LayerKind::kDense) continue;
    if (got.empty()) got.push_back(l.in);
    if (got.back() != l.in) {
      r.fail("the " + name + " has Dense layers that do not chain (corrupt)");
    }
    got.push_back(l.out);
  }
  if (got != widths) {
    r.fail("the " + name +
           "'s layer widths do not match the model's options (corrupt)");
  }
}

bool ckm_same_layers(const std::vector<LayerSpec>& a,
                     const std::vector<LayerSpec>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].kind != b[i].kind || a[i].in != b[i].in || a[i].out != b[i].out ||
        !(a[i].param == b[i].param)) {
      return false;
    }
  }
  return true;
}

// Puts a stored part into the part the options built.
void ckm_restore(CkptReader& r, const std::string& name, CkmPart& p,
                 Sequential& m) {
  if (!ckm_same_layers(p.layers, m.layers())) {
    r.fail("the " + name +
           "'s layers are not those the model's options build (corrupt or "
           "written by another losslab)");
  }
  std::copy(p.params.begin(), p.params.end(), m.parameters().begin());
  m.set_precision(p.precision);
  m.set_dropout_state(p.dropout_seed, p.dropout_counter);
}

// Same record as in save_checkpoint.
void ckm_put_optimizer(CkptWriter& w, const Optimizer& opt) {
  const OptimizerOptions& o = opt.options();
  w.put<uint8_t>(static_cast<uint8_t>(o.kind));
  for (double v : {o.lr, o.weight_decay, o.momentum, o.dampening, o.beta1,
                   o.beta2, o.eps, o.alpha}) {
    w.put<double>(v);
  }
  w.put<uint8_t>(o.nesterov);
  w.put<uint8_t>(o.amsgrad);
  w.put<uint8_t>(o.centered);
  w.put<int64_t>(opt.steps());
  w.put<uint64_t>(opt.state().size());
  for (const auto& s : opt.state()) w.put_floats(s.data(), s.size());
}

Optimizer ckm_get_optimizer(CkptReader& r, const std::string& name,
                            int64_t num_parameters) {
  OptimizerOptions o;
  const uint8_t kind = r.get<uint8_t>("the optimizer kind");
  if (kind > static_cast<uint8_t>(OptimizerKind::kRmsprop)) {
    r.fail("unknown optimizer kind " + std::to_string(kind) + " for the " +
           name);
  }
  o.kind = static_cast<OptimizerKind>(kind);
  double* fields[] = {&o.lr,    &o.weight_decay, &o.momentum, &o.dampening,
                      &o.beta1, &o.beta2,        &o.eps,      &o.alpha};
  for (double* f : fields) *f = r.get<double>("an optimizer setting");
  o.nesterov = r.get<uint8_t>("an optimizer flag") != 0;
  o.amsgrad = r.get<uint8_t>("an optimizer flag") != 0;
  o.centered = r.get<uint8_t>("an optimizer flag") != 0;
  const int64_t steps = r.get<int64_t>("the step count");
  if (steps < 0) r.fail("negative step count in the " + name);
  Optimizer opt;
  try {
    opt = Optimizer(o, num_parameters);
  } catch (const Error& e) {
    r.fail("the " + name + " is invalid: " + e.what());
  }
  const uint64_t ns = r.count("the optimizer buffer count", 8);
  if (ns != opt.state().size()) {
    r.fail("the " + name + " has " + std::to_string(ns) + " state buffers; " +
           std::string(optimizer_name(o.kind)) + " with these settings has " +
           std::to_string(opt.state().size()));
  }
  for (auto& s : opt.state()) {
    std::vector<float> v = r.floats("an optimizer buffer length");
    if (v.size() != s.size()) {
      r.fail("a buffer of the " + name + " holds " + std::to_string(v.size()) +
             " values for " + std::to_string(s.size()) + " parameters");
    }
    s.swap(v);
  }
  opt.set_steps(steps);
  return opt;
}

void ckm_put_schedule(CkptWriter& w, const Schedule& s) {
  w.put<uint8_t>(static_cast<uint8_t>(s.kind));
  w.put<int64_t>(s.warmup_steps);
  w.put<double>(s.warmup_start_factor);
  w.put<int64_t>(s.step_size);
  w.put<double>(s.gamma);
  w.put<int64_t>(s.t_max);
  w.put<double>(s.eta_min);
}

Schedule ckm_get_schedule(CkptReader& r) {
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
  } catch (const Error& e) {
    r.fail(std::string("the schedule is invalid: ") + e.what());
  }
  return sch;
}

void ckm_check_optimizer(const char* fn, const char* arg, const Optimizer* opt,
                         const Sequential* a, const Sequential* b) {
  if (opt == nullptr) return;
  const int64_t n = a->num_parameters() + (b ? b->num_parameters() : 0);
  if (opt->num_parameters() != n) {
    throw_value_error(std::string(fn) + ": " + arg + " holds " +
                      std::to_string(opt->num_parameters()) +
                      " parameters but the model part it steps has " +
                      std::to_string(n) +
                      "; pass the optimizer built for this model");
  }
}

// Header, kind, options (written by `options`), clock, parts, optimizers,
// schedule, hash; then the atomic write.
template <class WriteOptions>
void ckm_save(const std::string& path, ModelKind kind, WriteOptions&& options,
              const TrainingClock& clock,
              std::initializer_list<const Sequential*> parts,
              const Optimizer* opt1, const Optimizer* opt2,
              const Schedule* schedule) {
  constexpr const char* fn = "save_model_checkpoint";
  if (schedule != nullptr) validate_schedule(*schedule, fn);
  CkptWriter w;
  for (char c : kModelMagic) w.put<char>(c);
  w.put<uint32_t>(kModelCheckpointVersion);
  w.put<uint32_t>((opt1 != nullptr ? kModelFlagOptimizer : 0) |
                  (opt2 != nullptr ? kModelFlagSecondOptimizer : 0) |
                  (schedule != nullptr ? kModelFlagSchedule : 0));
  w.put<uint8_t>(static_cast<uint8_t>(kind));
  options(w);
  w.put<int64_t>(clock.epochs);
  w.put<int64_t>(clock.steps);
  w.put<uint64_t>(parts.size());
  for (const Sequential* p : parts) ckm_put_part(w, *p);
  if (opt1 != nullptr) ckm_put_optimizer(w, *opt1);
  if (opt2 != nullptr) ckm_put_optimizer(w, *opt2);
  if (schedule != nullptr) ckm_put_schedule(w, *schedule);
  std::vector<uint8_t>& bytes = w.bytes();
  w.put<uint64_t>(fnv1a(bytes.data(), bytes.size()));
  write_file_atomic(fn, path, bytes);
}

std::vector<int64_t> ckm_chain(int64_t in, const std::vector<int64_t>& hidden,
                               int64_t out) {
  std::vector<int64_t> v{in};
  v.insert(v.end(), hidden.begin(), hidden.end());
  v.push_back(out);
  return v;
}

}  // namespace

std::string_view model_kind_name(ModelKind kind) noexcept {
  switch (kind) {
    case ModelKind::kAutoencoder:
      return "Autoencoder";
    case ModelKind::kVae:
      return "VAE";
    case ModelKind::kGan:
      return "GAN";
    case ModelKind::kEmbeddingNet:
      return "EmbeddingNet";
  }
  return "unknown";
}

void save_model_checkpoint(const std::string& path, const Autoencoder& model,
                           const Optimizer* optimizer,
                           const Schedule* schedule) {
  ckm_check_optimizer("save_model_checkpoint", "optimizer", optimizer,
                      &model.encoder(), &model.decoder());
  const AutoencoderOptions& o = model.options();
  ckm_save(
      path, ModelKind::kAutoencoder,
      [&](CkptWriter& w) {
        w.put<int64_t>(o.in_features);
        ckm_put_ints(w, o.hidden);
        w.put<int64_t>(o.latent);
        ckm_put_string(w, o.activation);
        ckm_put_string(w, o.reconstruction);
        w.put<uint64_t>(o.seed);
      },
      model.clock(), {&model.encoder(), &model.decoder()}, optimizer, nullptr,
      schedule);
}

void save_model_checkpoint(const std::string& path, const Vae& model,
                           const Optimizer* optimizer,
                           const Schedule* schedule) {
  ckm_check_optimizer("save_model_checkpoint", "optimizer", optimizer,
                      &model.encoder(), &model.decoder());
  const VaeModelOptions& o = model.options();
  ckm_save(
      path, ModelKind::kVae,
      [&](CkptWriter& w) {
        w.put<int64_t>(o.in_features);
        ckm_put_ints(w, o.hidden);
        w.put<int64_t>(o.latent);
        ckm_put_string(w, o.activation);
        ckm_put_string(w, o.reconstruction);
        w.put<double>(o.beta);
        w.put<uint64_t>(o.seed);
      },
      model.clock(), {&model.encoder(), &model.decoder()}, optimizer, nullptr,
      schedule);
}

void save_model_checkpoint(const std::string& path, const Gan& model,
                           const Optimizer* generator_optimizer,
                           const Optimizer* discriminator_optimizer,
                           const Schedule* schedule) {
  ckm_check_optimizer("save_model_checkpoint", "generator_optimizer",
                      generator_optimizer, &model.generator(), nullptr);
  ckm_check_optimizer("save_model_checkpoint", "discriminator_optimizer",
                      discriminator_optimizer, &model.discriminator(), nullptr);
  if (generator_optimizer == nullptr && discriminator_optimizer != nullptr) {
    throw_value_error(
        "save_model_checkpoint: a GAN checkpoint with a discriminator "
        "optimizer needs the generator optimizer too; pass both or neither");
  }
  const GanModelOptions& o = model.options();
  ckm_save(
      path, ModelKind::kGan,
      [&](CkptWriter& w) {
        w.put<int64_t>(o.noise_dim);
        w.put<int64_t>(o.data_dim);
        ckm_put_ints(w, o.generator_hidden);
        ckm_put_ints(w, o.discriminator_hidden);
        ckm_put_string(w, o.generator_activation);
        ckm_put_string(w, o.discriminator_activation);
        w.put<double>(o.negative_slope);
        ckm_put_string(w, o.output);
        ckm_put_string(w, o.loss);
        w.put<uint64_t>(o.seed);
      },
      model.clock(), {&model.generator(), &model.discriminator()},
      generator_optimizer, discriminator_optimizer, schedule);
}

void save_model_checkpoint(const std::string& path, const EmbeddingNet& model,
                           const Optimizer* optimizer,
                           const Schedule* schedule) {
  ckm_check_optimizer("save_model_checkpoint", "optimizer", optimizer,
                      &model.net(), nullptr);
  const EmbeddingNetOptions& o = model.options();
  ckm_save(
      path, ModelKind::kEmbeddingNet,
      [&](CkptWriter& w) {
        w.put<int64_t>(o.in_features);
        ckm_put_ints(w, o.hidden);
        w.put<int64_t>(o.embedding_dim);
        ckm_put_string(w, o.activation);
        w.put<uint8_t>(o.normalize);
        w.put<double>(o.eps);
        w.put<uint64_t>(o.seed);
      },
      model.clock(), {&model.net()}, optimizer, nullptr, schedule);
}

ModelCheckpoint load_model_checkpoint(const std::string& path,
                                      std::optional<ModelKind> expected) {
  constexpr const char* fn = "load_model_checkpoint";
  const std::vector<uint8_t> b = read_file(fn, path);
  const size_t size = b.size();
  CkptReader r(b, path, fn, "losslab model checkpoint");
  if (size >= 8 && std::memcmp(b.data(), kMagic, 8) == 0) {
    r.fail(
        "it is a Sequential checkpoint (losslab.nn); load it with "
        "load_checkpoint (losslab.nn.load in Python)");
  }
  if (size < 8 || std::memcmp(b.data(), kModelMagic, 8) != 0) {
    r.fail(
        "the file does not start with the magic 'LLMODEL' (a foreign "
        "file?)");
  }
  for (int i = 0; i < 8; ++i) (void)r.get<char>("the magic");
  const uint32_t version = r.get<uint32_t>("the version");
  if (version != kModelCheckpointVersion) {
    r.fail("version " + std::to_string(version) +
           " is not supported by this losslab (it reads version " +
           std::to_string(kModelCheckpointVersion) + ")");
  }
  // The hash first: a truncated or damaged file is named as such before any
  // field is trusted (the field checks below still guard a forged hash).
  if (size < 8 + 4 + 4 + 1 + 8) r.fail("the file is too short (truncated)");
  uint64_t stored = 0;
  std::memcpy(&stored, b.data() + size - 8, 8);
  if (stored != fnv1a(b.data(), size - 8)) {
    r.fail("the checksum does not match (the file is truncated or corrupt)");
  }
  const uint32_t flags = r.get<uint32_t>("the flags");
  if ((flags & ~(kModelFlagOptimizer | kModelFlagSecondOptimizer |
                 kModelFlagSchedule)) != 0) {
    r.fail("unknown flags " + std::to_string(flags));
  }
  const uint8_t kind_code = r.get<uint8_t>("the model kind");
  if (kind_code < 1 || kind_code > 4) {
    r.fail("unknown model kind " + std::to_string(kind_code));
  }
  ModelCheckpoint ck;
  ck.kind = static_cast<ModelKind>(kind_code);
  if (expected && *expected != ck.kind) {
    throw_value_error(
        std::string(fn) + ": '" + path + "' holds a " +
        std::string(model_kind_name(ck.kind)) + " checkpoint, not a " +
        std::string(model_kind_name(*expected)) + "; load it with " +
        std::string(model_kind_name(ck.kind)) + ".load or losslab.models.load");
  }
  const bool two = ck.kind == ModelKind::kGan;
  if ((flags & kModelFlagSecondOptimizer) &&
      (!two || !(flags & kModelFlagOptimizer))) {
    r.fail("a second optimizer is stored for a " +
           std::string(model_kind_name(ck.kind)));
  }
  const auto width = [&](const char* what) {
    const int64_t v = r.get<int64_t>(what);
    if (v < 1 || v > kMaxWidth) {
      r.fail(std::string(what) + "=" + std::to_string(v) +
             " is out of range (corrupt)");
    }
    return v;
  };
  const auto widths = [&](const char* what) {
    std::vector<int64_t> v = ckm_get_ints(r, what);
    for (int64_t x : v) {
      if (x < 1 || x > kMaxWidth) {
        r.fail(std::string(what) + " holds " + std::to_string(x) +
               ", out of range (corrupt)");
      }
    }
    return v;
  };
  // Options.
  AutoencoderOptions ao;
  VaeModelOptions vo;
  GanModelOptions go;
  EmbeddingNetOptions eo;
  switch (ck.kind) {
    case ModelKind::kAutoencoder:
      ao.in_features = width("in_features");
      ao.hidden = widths("hidden");
      ao.latent = width("latent");
      ao.activation = ckm_get_string(r, "activation");
      ao.reconstruction = ckm_get_string(r, "reconstruction");
      ao.seed = r.get<uint64_t>("the seed");
      break;
    case ModelKind::kVae:
      vo.in_features = width("in_features");
      vo.hidden = widths("hidden");
      vo.latent = width("latent");
      vo.activation = ckm_get_string(r, "activation");
      vo.reconstruction = ckm_get_string(r, "reconstruction");
      vo.beta = r.get<double>("beta");
      vo.seed = r.get<uint64_t>("the seed");
      break;
    case ModelKind::kGan:
      go.noise_dim = width("noise_dim");
      go.data_dim = width("data_dim");
      go.generator_hidden = widths("generator_hidden");
      go.discriminator_hidden = widths("discriminator_hidden");
      go.generator_activation = ckm_get_string(r, "generator_activation");
      go.discriminator_activation =
          ckm_get_string(r, "discriminator_activation");
      go.negative_slope = r.get<double>("negative_slope");
      go.output = ckm_get_string(r, "output");
      go.loss = ckm_get_string(r, "loss");
      go.seed = r.get<uint64_t>("the seed");
      break;
    case ModelKind::kEmbeddingNet:
      eo.in_features = width("in_features");
      eo.hidden = widths("hidden");
      eo.embedding_dim = width("embedding_dim");
      eo.activation = ckm_get_string(r, "activation");
      eo.normalize = r.get<uint8_t>("normalize") != 0;
      eo.eps = r.get<double>("eps");
      eo.seed = r.get<uint64_t>("the seed");
      break;
  }
  TrainingClock clock;
  clock.epochs = r.get<int64_t>("the training clock");
  clock.steps = r.get<int64_t>("the training clock");
  if (clock.epochs < 0 || clock.steps < 0) {
    r.fail("the training clock is negative (corrupt)");
  }
  const uint64_t np = r.count("the part count", 25);
  if (np != (ck.kind == ModelKind::kEmbeddingNet ? 1u : 2u)) {
    r.fail("a " + std::string(model_kind_name(ck.kind)) + " has " +
           (ck.kind == ModelKind::kEmbeddingNet ? "1 part" : "2 parts") +
           " but the file stores " + std::to_string(np));
  }
  static const char* kPartNames[4][2] = {{"encoder", "decoder"},
                                         {"encoder", "decoder"},
                                         {"generator", "discriminator"},
                                         {"net", ""}};
  const auto names = kPartNames[kind_code - 1];
  std::vector<CkmPart> parts;
  for (uint64_t i = 0; i < np; ++i) {
    parts.push_back(ckm_get_part(r, names[i], size));
  }
  // The widths the options imply, checked before anything is built.
  const auto rev = [](const std::vector<int64_t>& v) {
    return std::vector<int64_t>(v.rbegin(), v.rend());
  };
  // Builds the model from its options (the constructor's own checks, put in
  // the checkpoint's words) and puts the stored parts into it.
  const auto build = [&](auto make) {
    try {
      return make();
    } catch (const Error& e) {
      r.fail(std::string("the model options are invalid: ") + e.what());
    }
  };
  std::vector<Sequential*> built;
  switch (ck.kind) {
    case ModelKind::kAutoencoder:
      ckm_check_widths(r, names[0], parts[0],
                       ckm_chain(ao.in_features, ao.hidden, ao.latent));
      ckm_check_widths(r, names[1], parts[1],
                       ckm_chain(ao.latent, rev(ao.hidden), ao.in_features));
      ck.autoencoder.emplace(build([&] { return Autoencoder(ao); }));
      ck.autoencoder->set_clock(clock);
      built = {&ck.autoencoder->encoder(), &ck.autoencoder->decoder()};
      break;
    case ModelKind::kVae:
      ckm_check_widths(r, names[0], parts[0],
                       ckm_chain(vo.in_features, vo.hidden, 2 * vo.latent));
      ckm_check_widths(r, names[1], parts[1],
                       ckm_chain(vo.latent, rev(vo.hidden), vo.in_features));
      ck.vae.emplace(build([&] { return Vae(vo); }));
      ck.vae->set_clock(clock);
      built = {&ck.vae->encoder(), &ck.vae->decoder()};
      break;
    case ModelKind::kGan:
      ckm_check_widths(
          r, names[0], parts[0],
          ckm_chain(go.noise_dim, go.generator_hidden, go.data_dim));
      ckm_check_widths(r, names[1], parts[1],
                       ckm_chain(go.data_dim, go.discriminator_hidden, 1));
      ck.gan.emplace(build([&] { return Gan(go); }));
      ck.gan->set_clock(clock);
      built = {&ck.gan->generator(), &ck.gan->discriminator()};
      break;
    case ModelKind::kEmbeddingNet:
      ckm_check_widths(r, names[0], parts[0],
                       ckm_chain(eo.in_features, eo.hidden, eo.embedding_dim));
      ck.embedding_net.emplace(build([&] { return EmbeddingNet(eo); }));
      ck.embedding_net->set_clock(clock);
      built = {&ck.embedding_net->net()};
      break;
  }
  for (size_t i = 0; i < built.size(); ++i) {
    ckm_restore(r, names[i], parts[i], *built[i]);
  }
  if (flags & kModelFlagOptimizer) {
    // The model's optimizer steps both parts of an autoencoder / VAE; the
    // GAN's first optimizer steps the generator.
    const int64_t n1 =
        two || built.size() == 1
            ? built[0]->num_parameters()
            : built[0]->num_parameters() + built[1]->num_parameters();
    ck.optimizer =
        ckm_get_optimizer(r, two ? "generator optimizer" : "optimizer", n1);
  }
  if (flags & kModelFlagSecondOptimizer) {
    ck.discriminator_optimizer = ckm_get_optimizer(r, "discriminator optimizer",
                                                   built[1]->num_parameters());
  }
  if (flags & kModelFlagSchedule) ck.schedule = ckm_get_schedule(r);
  (void)r.get<uint64_t>("the checksum");
  if (r.left() != 0) {
    r.fail(std::to_string(r.left()) + " unexpected bytes after the checksum");
  }
  return ck;
}

}  // namespace losslab::train
