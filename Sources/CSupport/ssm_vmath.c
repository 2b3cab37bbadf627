// Vectorised element-wise math for the recurrent hot path (see include/ssm_vmath.h).
//
// exp and log follow the Cephes single-precision algorithms (S. L. Moshier, cephes/single/expf.c
// and logf.c): range reduction by powers of two, then a short minimax polynomial. erf is
// Abramowitz & Stegun formula 7.1.26. The portable versions call libm and define the reference.
#include "ssm_vmath.h"

#include <math.h>
#include <stddef.h>

// ---- portable (libm) ----

void ssm_vexp_portable(float *x, int32_t n) { for (int32_t i = 0; i < n; i++) x[i] = expf(x[i]); }
void ssm_vgelu_portable(float *x, int32_t n) {
    for (int32_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}
void ssm_vsilu_portable(float *x, int32_t n) { for (int32_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i])); }
void ssm_vsigmoid_portable(float *x, int32_t n) { for (int32_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i])); }
void ssm_vsoftplus_portable(float *x, int32_t n) {
    for (int32_t i = 0; i < n; i++) x[i] = x[i] > 20.0f ? x[i] : log1pf(expf(x[i]));
}
void ssm_selective_scan_step_portable(float *h, const float *A, const float *dt, const float *x, const float *B,
                                      const float *C, const float *D, const float *gate, float *y, int32_t E,
                                      int32_t N) {
    for (int32_t c = 0; c < E; c++) {
        float d = dt[c], dx = d * x[c], acc = 0;
        float *hr = h + (size_t)c * N;
        const float *ar = A + (size_t)c * N;
        for (int32_t s = 0; s < N; s++) {
            float v = hr[s] * expf(d * ar[s]) + dx * B[s];
            hr[s] = v;
            acc += v * C[s];
        }
        y[c] = (acc + D[c] * x[c]) * gate[c];
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

/// exp of 8 floats (Cephes expf): x = k·ln2 + r, |r| ≤ ln2/2; e^r by a degree-6 polynomial; 2^k from
/// the exponent bits. Inputs are clamped to ±88.376; below about −87.3 the result flushes to 0; NaN
/// stays NaN.
AVX2 static inline __m256 exp8(__m256 x) {
    // operand order keeps a NaN a NaN (max/min return their second operand when either is NaN)
    x = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), _mm256_max_ps(_mm256_set1_ps(-88.3762626647949f), x));
    __m256 k = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    // r = x − k·ln2, with ln2 split in two so the product is exact
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/// Natural log of 8 positive normal floats (Cephes logf): x = m·2^e with m in [√½, √2), log(m) by a
/// degree-9 polynomial in m − 1.
AVX2 static inline __m256 log8(__m256 x) {
    __m256i bits = _mm256_castps_si256(x);
    __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
    // mantissa in [0.5, 1)
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)),
                                                   _mm256_set1_epi32(0x3F000000)));
    __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    e = _mm256_sub_ps(e, _mm256_and_ps(small, _mm256_set1_ps(1.0f)));
    m = _mm256_add_ps(_mm256_sub_ps(m, _mm256_set1_ps(1.0f)), _mm256_and_ps(small, m)); // m−1, or 2m−1
    __m256 z = _mm256_mul_ps(m, m);
    __m256 p = _mm256_set1_ps(7.0376836292e-2f);
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(-1.1514610310e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(1.1676998740e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(-1.2420140846e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(1.4249322787e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(-1.6668057665e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(2.0000714765e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(-2.4999993993e-1f));
    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(3.3333331174e-1f));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, m), z);
    y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
    y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), y);
    return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(m, y));
}

/// log(1 + u) for u ≥ 0, accurate for small u: log(w)·u/(w − 1) with w = 1 + u (Goldberg's trick).
AVX2 static inline __m256 log1p8(__m256 u) {
    __m256 w = _mm256_add_ps(u, _mm256_set1_ps(1.0f));
    __m256 d = _mm256_sub_ps(w, _mm256_set1_ps(1.0f));
    __m256 exact = _mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_EQ_OQ);
    __m256 v = _mm256_div_ps(_mm256_mul_ps(log8(w), u), _mm256_blendv_ps(d, _mm256_set1_ps(1.0f), exact));
    return _mm256_blendv_ps(v, u, exact);
}

/// erf of 8 floats (Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7).
AVX2 static inline __m256 erf8(__m256 x) {
    __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(a, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 y = _mm256_fnmadd_ps(p, exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), a)), _mm256_set1_ps(1.0f));
    return _mm256_or_ps(y, sign);
}

AVX2 static inline __m256 silu8(__m256 x) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

AVX2 static inline __m256 sigmoid8(__m256 x) {
    return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

AVX2 static inline __m256 gelu8(__m256 x) {
    __m256 e = erf8(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/// softplus(x) = max(x, 0) + log1p(exp(−|x|)); x itself above 20.
AVX2 static inline __m256 softplus8(__m256 x) {
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    __m256 v = _mm256_add_ps(_mm256_max_ps(_mm256_setzero_ps(), x), log1p8(exp8(_mm256_sub_ps(_mm256_setzero_ps(), a))));
    return _mm256_blendv_ps(v, x, _mm256_cmp_ps(x, _mm256_set1_ps(20.0f), _CMP_GT_OQ));
}

// Whole arrays: 8 at a time, and the tail through a zero-padded register (same arithmetic).
#define SSM_MAP(name, f8)                                                            \
    AVX2 static void name##_avx2(float *x, int32_t n) {                             \
        int32_t i = 0;                                                              \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, f8(_mm256_loadu_ps(x + i))); \
        if (i < n) {                                                                \
            float tmp[8] = {0};                                                     \
            for (int32_t k = 0; k < n - i; k++) tmp[k] = x[i + k];                  \
            _mm256_storeu_ps(tmp, f8(_mm256_loadu_ps(tmp)));                        \
            for (int32_t k = 0; k < n - i; k++) x[i + k] = tmp[k];                  \
        }                                                                           \
    }
SSM_MAP(ssm_vexp, exp8)
SSM_MAP(ssm_vgelu, gelu8)
SSM_MAP(ssm_vsilu, silu8)
SSM_MAP(ssm_vsoftplus, softplus8)
SSM_MAP(ssm_vsigmoid, sigmoid8)

AVX2 static inline float hsum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

AVX2 static void scan_step_avx2(float *h, const float *A, const float *dt, const float *x, const float *B,
                                const float *C, const float *D, const float *gate, float *y, int32_t E, int32_t N) {
    int32_t n8 = N & ~7;
    for (int32_t c = 0; c < E; c++) {
        float *hr = h + (size_t)c * N;
        const float *ar = A + (size_t)c * N;
        __m256 d = _mm256_set1_ps(dt[c]), dx = _mm256_set1_ps(dt[c] * x[c]), acc = _mm256_setzero_ps();
        for (int32_t s = 0; s < n8; s += 8) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(hr + s), exp8(_mm256_mul_ps(d, _mm256_loadu_ps(ar + s))));
            v = _mm256_fmadd_ps(dx, _mm256_loadu_ps(B + s), v);
            _mm256_storeu_ps(hr + s, v);
            acc = _mm256_fmadd_ps(v, _mm256_loadu_ps(C + s), acc);
        }
        float sum = hsum8(acc);
        if (n8 < N) { // tail through a zero-padded register
            float hv[8] = {0}, av[8] = {0}, bv[8] = {0}, cv[8] = {0};
            for (int32_t s = n8; s < N; s++) { hv[s - n8] = hr[s]; av[s - n8] = ar[s]; bv[s - n8] = B[s]; cv[s - n8] = C[s]; }
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(hv), exp8(_mm256_mul_ps(d, _mm256_loadu_ps(av))));
            v = _mm256_fmadd_ps(dx, _mm256_loadu_ps(bv), v);
            _mm256_storeu_ps(hv, v);
            sum += hsum8(_mm256_mul_ps(v, _mm256_loadu_ps(cv)));
            for (int32_t s = n8; s < N; s++) hr[s] = hv[s - n8];
        }
        y[c] = (sum + D[c] * x[c]) * gate[c];
    }
}

static int cpu_has_avx2_fma = 0;
__attribute__((constructor)) static void detect_avx2_fma(void) {
    __builtin_cpu_init();
    cpu_has_avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#define USE_AVX2 cpu_has_avx2_fma
#else
#define USE_AVX2 0
#endif

int ssm_vmath_uses_avx2(void) { return USE_AVX2; }

#if defined(__x86_64__)
#define DISPATCH(name, ...) do { if (USE_AVX2) name##_avx2(__VA_ARGS__); else name##_portable(__VA_ARGS__); } while (0)
#else
#define DISPATCH(name, ...) name##_portable(__VA_ARGS__)
#endif

void ssm_vexp(float *x, int32_t n) { DISPATCH(ssm_vexp, x, n); }
void ssm_vgelu(float *x, int32_t n) { DISPATCH(ssm_vgelu, x, n); }
void ssm_vsilu(float *x, int32_t n) { DISPATCH(ssm_vsilu, x, n); }
void ssm_vsoftplus(float *x, int32_t n) { DISPATCH(ssm_vsoftplus, x, n); }
void ssm_vsigmoid(float *x, int32_t n) { DISPATCH(ssm_vsigmoid, x, n); }
void ssm_selective_scan_step(float *h, const float *A, const float *dt, const float *x, const float *B,
                             const float *C, const float *D, const float *gate, float *y, int32_t E, int32_t N) {
#if defined(__x86_64__)
    if (USE_AVX2) { scan_step_avx2(h, A, dt, x, B, C, D, gate, y, E, N); return; }
#endif
    ssm_selective_scan_step_portable(h, A, dt, x, B, C, D, gate, y, E, N);
}
