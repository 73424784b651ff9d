// Per-target compilation of the embedding row primitives and the dispatch
// points that pick a target (or the scalar twin) at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/losses/embedding_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "src/losses/embedding-inl.h"

HWY_BEFORE_NAMESPACE();
namespace losslab::HWY_NAMESPACE {

float EmbDotF32(const float* a, const float* b, int64_t n) {
  return EmbDot(a, b, n);
}
double EmbDotF64(const double* a, const double* b, int64_t n) {
  return EmbDot(a, b, n);
}
float EmbDiffSumF32(const float* a, const float* b, int64_t n, float eps,
                    float p, detail::EmbNorm kind) {
  return EmbDiffSum(a, b, n, eps, p, kind);
}
double EmbDiffSumF64(const double* a, const double* b, int64_t n, double eps,
                     double p, detail::EmbNorm kind) {
  return EmbDiffSum(a, b, n, eps, p, kind);
}
void EmbDiffGradF32(const float* a, const float* b, int64_t n, float eps,
                    float p, detail::EmbNorm kind, float scale, float* ga,
                    float* gb) {
  EmbDiffGrad(a, b, n, eps, p, kind, scale, ga, gb);
}
void EmbDiffGradF64(const double* a, const double* b, int64_t n, double eps,
                    double p, detail::EmbNorm kind, double scale, double* ga,
                    double* gb) {
  EmbDiffGrad(a, b, n, eps, p, kind, scale, ga, gb);
}
void EmbAxpyF32(float* y, float s, const float* x, int64_t n) {
  EmbAxpy(y, s, x, n);
}
void EmbAxpyF64(double* y, double s, const double* x, int64_t n) {
  EmbAxpy(y, s, x, n);
}

}  // namespace losslab::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "losslab/core/dispatch.h"

namespace losslab::detail {

HWY_EXPORT(EmbDotF32);
HWY_EXPORT(EmbDotF64);
HWY_EXPORT(EmbDiffSumF32);
HWY_EXPORT(EmbDiffSumF64);
HWY_EXPORT(EmbDiffGradF32);
HWY_EXPORT(EmbDiffGradF64);
HWY_EXPORT(EmbAxpyF32);
HWY_EXPORT(EmbAxpyF64);

float emb_dot(const float* a, const float* b, int64_t n) {
  if (use_scalar_reference()) return ref::emb_dot(a, b, n);
  return HWY_DYNAMIC_DISPATCH(EmbDotF32)(a, b, n);
}
double emb_dot(const double* a, const double* b, int64_t n) {
  if (use_scalar_reference()) return ref::emb_dot(a, b, n);
  return HWY_DYNAMIC_DISPATCH(EmbDotF64)(a, b, n);
}
float emb_diff_sum(const float* a, const float* b, int64_t n, float eps,
                   float p, EmbNorm kind) {
  if (use_scalar_reference()) return ref::emb_diff_sum(a, b, n, eps, p, kind);
  return HWY_DYNAMIC_DISPATCH(EmbDiffSumF32)(a, b, n, eps, p, kind);
}
double emb_diff_sum(const double* a, const double* b, int64_t n, double eps,
                    double p, EmbNorm kind) {
  if (use_scalar_reference()) return ref::emb_diff_sum(a, b, n, eps, p, kind);
  return HWY_DYNAMIC_DISPATCH(EmbDiffSumF64)(a, b, n, eps, p, kind);
}
void emb_diff_grad(const float* a, const float* b, int64_t n, float eps,
                   float p, EmbNorm kind, float scale, float* ga, float* gb) {
  if (use_scalar_reference()) {
    return ref::emb_diff_grad(a, b, n, eps, p, kind, scale, ga, gb);
  }
  HWY_DYNAMIC_DISPATCH(EmbDiffGradF32)(a, b, n, eps, p, kind, scale, ga, gb);
}
void emb_diff_grad(const double* a, const double* b, int64_t n, double eps,
                   double p, EmbNorm kind, double scale, double* ga,
                   double* gb) {
  if (use_scalar_reference()) {
    return ref::emb_diff_grad(a, b, n, eps, p, kind, scale, ga, gb);
  }
  HWY_DYNAMIC_DISPATCH(EmbDiffGradF64)(a, b, n, eps, p, kind, scale, ga, gb);
}
void emb_axpy(float* y, float s, const float* x, int64_t n) {
  if (use_scalar_reference()) return ref::emb_axpy(y, s, x, n);
  HWY_DYNAMIC_DISPATCH(EmbAxpyF32)(y, s, x, n);
}
void emb_axpy(double* y, double s, const double* x, int64_t n) {
  if (use_scalar_reference()) return ref::emb_axpy(y, s, x, n);
  HWY_DYNAMIC_DISPATCH(EmbAxpyF64)(y, s, x, n);
}

}  // namespace losslab::detail
#endif  // HWY_ONCE
