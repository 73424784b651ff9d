// Internal: the row primitives of the embedding losses. Each exists as a
// scalar twin (embedding-inl.h, namespace ref) and as a Highway SIMD kernel
// compiled per target (embedding_kernels.cc); the functions below pick one at
// run time (the twin when the "scalar" target is selected).
//
// Layout. A row reduction over D adds element k into virtual lane k mod 16 in
// the input dtype and combines the lanes with combine_lanes (elementwise.h),
// so the twin and every SIMD target add the same numbers in the same order:
// dot and the p = 1 / p = 2 distance sums are bitwise identical on every
// target; the general-p sum (|x|^p through exp/log) agrees within a few ulp.
#ifndef LOSSLAB_SRC_LOSSES_EMBEDDING_H_
#define LOSSLAB_SRC_LOSSES_EMBEDDING_H_

#include <cstdint>

namespace losslab::detail {

// How a difference x enters a distance: |x| (p = 1), x^2 (p = 2), |x|^p.
enum class EmbNorm : int32_t { kGeneral = 0, kL1 = 1, kL2 = 2 };

// sum_k a_k b_k.
float emb_dot(const float* a, const float* b, int64_t d);
double emb_dot(const double* a, const double* b, int64_t d);

// sum_k phi(a_k - b_k + eps) with phi = |x|, x^2 or |x|^p (kind).
float emb_diff_sum(const float* a, const float* b, int64_t d, float eps,
                   float p, EmbNorm kind);
double emb_diff_sum(const double* a, const double* b, int64_t d, double eps,
                    double p, EmbNorm kind);

// With x_k = a_k - b_k + eps and t_k = scale * phi'(x_k), phi'(x) = sign(x)
// (p = 1, sign(0) = 0), x (p = 2: the derivative of x^2 / 2) or
// sign(x) |x|^(p - 1) (general, 0 at x = 0):  ga_k += t_k and, when gb is not
// null, gb_k -= t_k.
void emb_diff_grad(const float* a, const float* b, int64_t d, float eps,
                   float p, EmbNorm kind, float scale, float* ga, float* gb);
void emb_diff_grad(const double* a, const double* b, int64_t d, double eps,
                   double p, EmbNorm kind, double scale, double* ga,
                   double* gb);

// y_k += s * x_k.
void emb_axpy(float* y, float s, const float* x, int64_t d);
void emb_axpy(double* y, double s, const double* x, int64_t d);

}  // namespace losslab::detail

#endif  // LOSSLAB_SRC_LOSSES_EMBEDDING_H_
