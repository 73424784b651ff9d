// Streaming (non-temporal) stores of an output array written as consecutive
// full vectors, at any alignment of its base.
//
// A kernel that reads two arrays and writes one moves 16 bytes per float
// element with normal stores, since each written line is first read into the
// cache (read for ownership), and 12 with streaming stores. Streaming stores
// need a vector-aligned address, but callers' arrays are not (NumPy and
// malloc give 16 bytes). StreamWriter keeps the loss's vector boundaries (so
// lanes, sums and results stay those of the normal path) and realigns the
// data instead: with `a` elements from the base to the first aligned address,
// the aligned vector ending at element j + a is the last N - a lanes of the
// previous vector and the first a lanes of the current one (one VPERMT2PS).
// The partial vectors at the two ends of a run are written with masked normal
// stores, so the bytes before the run's first element and after its last one
// are never touched. Only full AVX-512 vectors stream; other targets store
// normally. Finish() must be called after the last Put of a run, and the
// caller calls hwy::FlushStream() before the output is handed on.
#if defined(LOSSLAB_SRC_LOSSES_STREAM_INL_H_TARGET_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef LOSSLAB_SRC_LOSSES_STREAM_INL_H_TARGET_
#undef LOSSLAB_SRC_LOSSES_STREAM_INL_H_TARGET_
#else
#define LOSSLAB_SRC_LOSSES_STREAM_INL_H_TARGET_
#endif

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "hwy/highway.h"
#include "losslab/core/dispatch.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {

// True when this target can stream full vectors of D (StreamWriter below).
template <class D>
constexpr bool CanStream() {
#if HWY_TARGET <= HWY_AVX3
  using T = hwy::HWY_NAMESPACE::TFromD<D>;
  return (std::is_same_v<T, float> || std::is_same_v<T, double>)&&std::
      is_same_v<std::remove_cv_t<D>, hwy::HWY_NAMESPACE::Full512<T>>;
#else
  return false;
#endif
}

// Whether an output of `bytes` bytes at p is written with streaming stores
// (detail::stream_store_threshold: arrays larger than the last-level cache).
template <class D>
bool WantStream(const hwy::HWY_NAMESPACE::TFromD<D>* p, int64_t bytes) {
  using T = hwy::HWY_NAMESPACE::TFromD<D>;
  return CanStream<D>() && p != nullptr &&
         reinterpret_cast<uintptr_t>(p) % sizeof(T) == 0 &&
         bytes >= detail::stream_store_threshold();
}

template <class D>
class StreamWriter {
  using T = hwy::HWY_NAMESPACE::TFromD<D>;
  using V = hwy::HWY_NAMESPACE::Vec<D>;

 public:
  // p: the array's base; elements are addressed from it by Put's j.
  StreamWriter(D d, T* p) : d_(d), p_(p) {
    namespace hn = hwy::HWY_NAMESPACE;
    const size_t N = hn::Lanes(d);
    const size_t mis = reinterpret_cast<uintptr_t>(p) % (N * sizeof(T));
    a_ = mis == 0 ? 0 : (N * sizeof(T) - mis) / sizeof(T);
    if constexpr (CanStream<D>()) {
      const hn::RebindToSigned<D> di;
      idx_ =
          hn::Add(hn::Iota(di, 0), hn::Set(di, hn::TFromD<decltype(di)>(a_)));
    }
  }

  // Elements [j, j + N) of the array are v; consecutive calls of a run must
  // have consecutive j (j, j + N, j + 2N, ...).
  HWY_INLINE void Put(V v, size_t j) {
    namespace hn = hwy::HWY_NAMESPACE;
    const size_t N = hn::Lanes(d_);
    if constexpr (CanStream<D>()) {
      if (a_ == 0) {
        hn::Stream(v, d_, p_ + j);
        return;
      }
      if (!started_) {
        // Lanes [0, a) end the aligned vector that starts before j.
        hn::BlendedStore(v, hn::FirstN(d_, a_), d_, p_ + j);
        started_ = true;
      } else {
        hn::Stream(Combine(prev_, v), d_, p_ + j - N + a_);
      }
      prev_ = v;
      last_j_ = j;
    } else {
      hn::StoreU(v, d_, p_ + j);
    }
  }

  // Writes the lanes [a, N) of the run's last vector (masked normal store)
  // and starts a new run.
  HWY_INLINE void Finish() {
    namespace hn = hwy::HWY_NAMESPACE;
    if constexpr (CanStream<D>()) {
      if (a_ != 0 && started_) {
        hn::BlendedStore(prev_, hn::Not(hn::FirstN(d_, a_)), d_, p_ + last_j_);
      }
    }
    started_ = false;
  }

 private:
  // Lanes [a, N) of lo followed by lanes [0, a) of hi.
  HWY_INLINE V Combine(V lo, V hi) const {
#if HWY_TARGET <= HWY_AVX3
    if constexpr (std::is_same_v<T, float>) {
      return V{_mm512_permutex2var_ps(lo.raw, idx_.raw, hi.raw)};
    } else {
      return V{_mm512_permutex2var_pd(lo.raw, idx_.raw, hi.raw)};
    }
#else
    (void)hi;
    return lo;
#endif
  }

  D d_;
  T* p_;
  size_t a_ = 0;
  bool started_ = false;
  size_t last_j_ = 0;
  V prev_{};
  hwy::HWY_NAMESPACE::Vec<hwy::HWY_NAMESPACE::RebindToSigned<D>> idx_{};
};

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
