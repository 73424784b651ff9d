// losslab/core/dispatch.h: choosing the SIMD target at run time.
//
// Kernels are compiled once per CPU target (Highway's foreach_target) and
// called through HWY_DYNAMIC_DISPATCH. "scalar" selects the plain C++
// reference kernels that sit beside every SIMD kernel. The environment
// variable LOSSLAB_FORCE_TARGET ("scalar", "auto", or a name from
// available_simd_targets()) sets the initial choice, so the test suite can
// run once on the scalar path.
#ifndef LOSSLAB_CORE_DISPATCH_H_
#define LOSSLAB_CORE_DISPATCH_H_

#include <cstdint>
#include <string>
#include <vector>

namespace losslab {

// The target kernels run on now: "avx3", "avx2", "sse4", "hwy_scalar" (Highway's
// one-lane SIMD-code target) or "scalar" (the reference kernels).
std::string simd_target();
// Targets this build has and this CPU runs, best first, then "scalar".
std::vector<std::string> available_simd_targets();
// Selects a target by name ("auto" = best available). Throws losslab::Error
// for an unknown or unavailable target.
void set_simd_target(const std::string& name);

namespace detail {
// True when the scalar reference kernels are selected.
bool use_scalar_reference() noexcept;

// Size in bytes of one output array (gradient, per-element loss) at or above
// which the SIMD kernels write it with non-temporal (streaming) stores, as
// glibc's memcpy does above its threshold: an array larger than the last-level
// cache would be evicted before its reader gets to it anyway, and a streaming
// store saves the read of each line that a normal store makes first (a third
// less memory traffic for a kernel that reads two arrays and writes one).
// Default: the L3 size from sysconf (32 MiB if unknown); the environment
// variable LOSSLAB_STREAM_THRESHOLD (bytes) overrides it, and tests set it to
// 0 to run the streaming path on small arrays. Values do not change.
int64_t stream_store_threshold() noexcept;
void set_stream_store_threshold(int64_t bytes) noexcept;
}  // namespace detail

}  // namespace losslab

#endif  // LOSSLAB_CORE_DISPATCH_H_
