#ifndef SSM_VMATH_H
#define SSM_VMATH_H

#include <stdint.h>

/// Element-wise functions over float arrays, in place, vectorised with AVX2 + FMA where the CPU has
/// them (chosen at load time) and plain libm loops elsewhere. The AVX2 versions are polynomial
/// approximations (Cephes expf/logf; Abramowitz & Stegun 7.1.26 for erf), within a few float32 ulps
/// of libm except erf (absolute error ≤ 1.5e-7); `VectorMathTests` checks them against float64.

/// x ← exp(x)
void ssm_vexp(float *x, int32_t n);
/// x ← GELU(x) = 0.5·x·(1 + erf(x/√2)) (PyTorch's exact GELU)
void ssm_vgelu(float *x, int32_t n);
/// x ← SiLU(x) = x / (1 + exp(−x))
void ssm_vsilu(float *x, int32_t n);
/// x ← σ(x) = 1 / (1 + exp(−x))
void ssm_vsigmoid(float *x, int32_t n);
/// x ← softplus(x) = log(1 + exp(x)), and x itself above 20 (PyTorch's threshold)
void ssm_vsoftplus(float *x, int32_t n);

/// One step of Mamba's selective scan for E channels with N states each (the recurrence of
/// `selective_state_update_ref`, state-spaces/mamba `mamba_ssm/ops/triton/selective_state_update.py`):
///   h[c,s] ← exp(dt[c]·A[c,s])·h[c,s] + dt[c]·B[s]·x[c]
///   y[c]    = (Σ_s h[c,s]·C[s] + D[c]·x[c]) · gate[c]
/// h (E, N) in place; A (E, N); dt, x, D, gate, y (E); B, C (N). dt is after softplus, gate after SiLU.
void ssm_selective_scan_step(float *h, const float *A, const float *dt, const float *x, const float *B,
                             const float *C, const float *D, const float *gate, float *y, int32_t E, int32_t N);

/// Whether the AVX2 versions are in use.
int ssm_vmath_uses_avx2(void);

/// The plain libm versions whatever the CPU (for tests of the AVX2 ones).
void ssm_vexp_portable(float *x, int32_t n);
void ssm_vgelu_portable(float *x, int32_t n);
void ssm_vsilu_portable(float *x, int32_t n);
void ssm_vsoftplus_portable(float *x, int32_t n);
void ssm_vsigmoid_portable(float *x, int32_t n);
void ssm_selective_scan_step_portable(float *h, const float *A, const float *dt, const float *x, const float *B,
                                      const float *C, const float *D, const float *gate, float *y, int32_t E,
                                      int32_t N);

#endif
