// Run-time choice between the Highway targets compiled into this build and
// the scalar reference kernels.
#include "losslab/core/dispatch.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "hwy/highway.h"
#include "hwy/targets.h"
#include "losslab/core/error.h"

namespace losslab {
namespace {

std::string lower(const char* s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Targets compiled here (HWY_TARGETS of this translation unit equals that of
// the kernel translation units: same flags) and supported by this CPU, read
// once before any override so that the list stays what the machine can do.
int64_t compiled_and_supported() {
  static const int64_t native = hwy::SupportedTargets() & HWY_TARGETS;
  return native;
}

// What HWY_DYNAMIC_DISPATCH picks now (honours SetSupportedTargetsForTest).
int64_t current_best() {
  const int64_t t = hwy::SupportedTargets() & HWY_TARGETS;
  return t & -t;
}

// Highway's own one-lane target is also called "Scalar"; it is a SIMD-code
// target, so it is listed as "hwy_scalar" to keep "scalar" for the reference
// kernels.
std::string target_name(int64_t bit) {
  const std::string n = lower(hwy::TargetName(bit));
  return n == "scalar" ? "hwy_scalar" : n;
}

std::atomic<bool> g_scalar{false};
std::mutex g_mu;
std::once_flag g_env_once;

void apply(const std::string& name) {
  compiled_and_supported();
  if (name == "auto" || name.empty()) {
    hwy::SetSupportedTargetsForTest(0);
    g_scalar = false;
    return;
  }
  if (name == "scalar") {
    g_scalar = true;
    return;
  }
  hwy::SetSupportedTargetsForTest(0);
  for (int64_t t = compiled_and_supported(); t != 0; t &= t - 1) {
    const int64_t bit = t & -t;
    if (target_name(bit) == name) {
      hwy::SetSupportedTargetsForTest(bit);
      g_scalar = false;
      return;
    }
  }
  std::string avail;
  for (const auto& n : available_simd_targets()) avail += " " + n;
  throw_value_error("set_simd_target: target '" + name +
                    "' is not compiled in or not supported by this CPU; "
                    "available:" +
                    avail + " (or 'auto')");
}

void init_from_env() {
  std::call_once(g_env_once, [] {
    if (const char* env = std::getenv("LOSSLAB_FORCE_TARGET")) {
      try {
        apply(lower(env));
      } catch (const Error& e) {
        // A bad value must not abort a training job: warn and run the best
        // target.
        std::fprintf(stderr, "losslab: ignoring LOSSLAB_FORCE_TARGET: %s\n",
                     e.what());
      }
    }
  });
}

}  // namespace

std::vector<std::string> available_simd_targets() {
  std::vector<std::string> out;
  for (int64_t t = compiled_and_supported(); t != 0; t &= t - 1) {
    out.push_back(target_name(t & -t));
  }
  out.push_back("scalar");
  return out;
}

std::string simd_target() {
  init_from_env();
  if (g_scalar) return "scalar";
  const int64_t t = current_best();
  return t ? target_name(t) : "scalar";
}

void set_simd_target(const std::string& name) {
  init_from_env();
  std::lock_guard<std::mutex> lock(g_mu);
  apply(lower(name.c_str()));
}

namespace detail {
bool use_scalar_reference() noexcept {
  init_from_env();
  return g_scalar.load(std::memory_order_relaxed);
}

namespace {
int64_t initial_stream_threshold() {
  if (const char* env = std::getenv("LOSSLAB_STREAM_THRESHOLD")) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && v >= 0) return int64_t(v);
    std::fprintf(stderr,
                 "losslab: ignoring LOSSLAB_STREAM_THRESHOLD='%s' (expected a "
                 "byte count >= 0)\n",
                 env);
  }
  // The kernel's view of this CPU's L3 first: in virtual machines glibc's
  // sysconf can report the whole host socket (320 MiB on the EPYC VM of
  // docs/performance.md, whose L3 is 32 MiB).
  if (std::FILE* f =
          std::fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r")) {
    long long kib = 0;
    char unit = 0;
    const int got = std::fscanf(f, "%lld%c", &kib, &unit);
    std::fclose(f);
    if (got == 2 && kib > 0 && (unit == 'K' || unit == 'k')) {
      return int64_t(kib) << 10;
    }
  }
#ifdef _SC_LEVEL3_CACHE_SIZE
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 > 0) return int64_t(l3);
#endif
  return int64_t(32) << 20;
}

std::atomic<int64_t>& stream_threshold() {
  static std::atomic<int64_t> t{initial_stream_threshold()};
  return t;
}
}  // namespace

int64_t stream_store_threshold() noexcept {
  return stream_threshold().load(std::memory_order_relaxed);
}

void set_stream_store_threshold(int64_t bytes) noexcept {
  stream_threshold().store(bytes < 0 ? 0 : bytes, std::memory_order_relaxed);
}
}  // namespace detail

}  // namespace losslab
