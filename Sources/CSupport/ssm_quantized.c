// Int8 weights × int16 activations matrix-vector product (see include/ssm_quantized.h).
// Reference for the arithmetic: per-channel symmetric weight quantisation with dynamic activation
// scales, as in PyTorch's dynamic quantisation (torch.ao.nn.quantized.dynamic.Linear), with int16
// instead of uint8 activations so the activation error (≈ 1.5e-5 of max |x|) stays far below the
// weight error (≈ 0.4 % of a row's largest weight).
#include "ssm_quantized.h"

#include <math.h>
#include <stddef.h>

#define SSM_Q8_BLOCK 512  // columns per int32 block: 512 · 127 · 32767 < 2^31, so no sum overflows

void ssm_q8_quantize_rows(const float *w, int32_t rows, int32_t cols, int8_t *q, float *scale) {
    for (int32_t r = 0; r < rows; r++) {
        const float *row = w + (size_t)r * cols;
        float m = 0;
        for (int32_t c = 0; c < cols; c++) m = fmaxf(m, fabsf(row[c]));
        float s = m / 127.0f;
        scale[r] = s;
        float inv = s > 0 ? 1.0f / s : 0.0f;
        for (int32_t c = 0; c < cols; c++) {
            float v = nearbyintf(row[c] * inv);
            q[(size_t)r * cols + c] = (int8_t)(v > 127 ? 127 : (v < -127 ? -127 : v));
        }
    }
}

/// x (n) → xq (n) int16 with x ≈ xs · xq; returns xs: 0 for an all-zero x, NaN if x has a NaN or ±Inf
/// (so that the product is NaN, as it would be in float arithmetic).
static float quantize_vector(const float *x, int32_t n, int16_t *xq) {
    float m = 0;
    int finite = 1;
    for (int32_t i = 0; i < n; i++) {
        finite &= isfinite(x[i]) ? 1 : 0;
        m = fmaxf(m, fabsf(x[i]));
    }
    if (!finite) return NAN;
    if (!(m > 0)) return 0.0f;
    float inv = 32767.0f / m;
    for (int32_t i = 0; i < n; i++) xq[i] = (int16_t)nearbyintf(x[i] * inv);
    return m / 32767.0f;
}

static void gemv_block_portable(const int8_t *q, int32_t rows, int32_t cols, int32_t c0, int32_t n,
                                const int16_t *xq, float *acc) {
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *row = q + (size_t)r * cols + c0;
        int32_t s = 0;
        for (int32_t c = 0; c < n; c++) s += (int32_t)row[c] * (int32_t)xq[c];
        acc[r] += (float)s;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2"))) static inline int32_t hsum_epi32(__m256i v) {
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
    return _mm_cvtsi128_si32(h);
}

/// quantize_vector with AVX2: the same values (cvtps rounds to nearest even, like nearbyintf).
__attribute__((target("avx2"))) static float quantize_vector_avx2(const float *x, int32_t n, int16_t *xq) {
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 m8 = _mm256_setzero_ps(), bad8 = _mm256_setzero_ps();
    int32_t n16 = n & ~15, i = 0;
    for (; i < n16; i += 8) {
        __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + i), absMask);
        bad8 = _mm256_or_ps(bad8, _mm256_cmp_ps(a, _mm256_set1_ps(3.402823466e38f), _CMP_NLE_UQ)); // Inf or NaN
        m8 = _mm256_max_ps(m8, a);
    }
    if (_mm256_movemask_ps(bad8)) return NAN;
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float m = _mm_cvtss_f32(h);
    for (; i < n; i++) {
        if (!isfinite(x[i])) return NAN;
        m = fmaxf(m, fabsf(x[i]));
    }
    if (!(m > 0)) return 0.0f;
    float inv = 32767.0f / m;
    __m256 iv = _mm256_set1_ps(inv);
    for (i = 0; i < n16; i += 16) {
        __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), iv));
        __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), iv));
        __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8); // undo the per-lane interleave
        _mm256_storeu_si256((__m256i *)(xq + i), p);
    }
    for (; i < n; i++) xq[i] = (int16_t)nearbyintf(x[i] * inv);
    return m / 32767.0f;
}

/// acc[r] += Σ_{c<n} q[r][c0+c] · xq[c], four rows at a time, 16 columns per instruction.
__attribute__((target("avx2"))) static void gemv_block_avx2(const int8_t *q, int32_t rows, int32_t cols,
                                                           int32_t c0, int32_t n, const int16_t *xq, float *acc) {
    int32_t n16 = n & ~15;
    int32_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const int8_t *w0 = q + (size_t)r * cols + c0, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int32_t c = 0; c < n16; c += 16) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + c));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w0 + c))), xv));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w1 + c))), xv));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w2 + c))), xv));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w3 + c))), xv));
        }
        int32_t s0 = hsum_epi32(a0), s1 = hsum_epi32(a1), s2 = hsum_epi32(a2), s3 = hsum_epi32(a3);
        for (int32_t c = n16; c < n; c++) {
            int32_t xv = xq[c];
            s0 += w0[c] * xv; s1 += w1[c] * xv; s2 += w2[c] * xv; s3 += w3[c] * xv;
        }
        acc[r] += (float)s0; acc[r + 1] += (float)s1; acc[r + 2] += (float)s2; acc[r + 3] += (float)s3;
    }
    if (r < rows) gemv_block_portable(q + (size_t)r * cols, rows - r, cols, c0, n, xq, acc + r);
}

// Decided once when the library loads, so threads never race on it.
static int cpu_has_avx2 = 0;
__attribute__((constructor)) static void detect_avx2(void) {
    __builtin_cpu_init();
    cpu_has_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
}
static int have_avx2(void) { return cpu_has_avx2; }
#else
static int have_avx2(void) { return 0; }
#endif

int ssm_q8_uses_avx2(void) { return have_avx2(); }

static void q8_gemv(const int8_t *q, const float *scale, int32_t rows, int32_t cols,
                    const float *x, float *y, int32_t accumulate, int avx2) {
    enum { SLAB = 256 };  // rows per pass, so the int32 sums fit in a small stack buffer
    float acc[SLAB];
    int16_t xq[SSM_Q8_BLOCK];
    if (!accumulate) for (int32_t r = 0; r < rows; r++) y[r] = 0;
    for (int32_t c0 = 0; c0 < cols; c0 += SSM_Q8_BLOCK) {
        int32_t n = cols - c0 < SSM_Q8_BLOCK ? cols - c0 : SSM_Q8_BLOCK;
#if defined(__x86_64__)
        float xs = avx2 ? quantize_vector_avx2(x + c0, n, xq) : quantize_vector(x + c0, n, xq);
#else
        float xs = quantize_vector(x + c0, n, xq);
#endif
        if (xs == 0) continue;  // an all-zero block adds nothing
        for (int32_t r0 = 0; r0 < rows; r0 += SLAB) {
            int32_t nr = rows - r0 < SLAB ? rows - r0 : SLAB;
            for (int32_t r = 0; r < nr; r++) acc[r] = 0;
#if defined(__x86_64__)
            if (avx2) gemv_block_avx2(q + (size_t)r0 * cols, nr, cols, c0, n, xq, acc);
            else
#else
            (void)avx2;
#endif
                gemv_block_portable(q + (size_t)r0 * cols, nr, cols, c0, n, xq, acc);
            for (int32_t r = 0; r < nr; r++) y[r0 + r] += acc[r] * xs * scale[r0 + r];
        }
    }
}

void ssm_q8_gemv(const int8_t *q, const float *scale, int32_t rows, int32_t cols,
                 const float *x, float *y, int32_t accumulate) {
    q8_gemv(q, scale, rows, cols, x, y, accumulate, have_avx2());
}

void ssm_q8_gemv_portable(const int8_t *q, const float *scale, int32_t rows, int32_t cols,
                          const float *x, float *y, int32_t accumulate) {
    q8_gemv(q, scale, rows, cols, x, y, accumulate, 0);
}
