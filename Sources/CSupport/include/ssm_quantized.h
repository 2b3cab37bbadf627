#ifndef SSM_QUANTIZED_H
#define SSM_QUANTIZED_H

#include <stdint.h>

/// Int8 weight matrices for the per-frame (matrix × vector) hot path.
///
/// A weight matrix W (rows, cols), row-major, is stored as int8 q (rows, cols) with one float scale per
/// row: W[r][c] ≈ scale[r] · q[r][c], scale[r] = max_c |W[r][c]| / 127 (symmetric, per output
/// channel). A product y = W·x quantises x on the fly to int16 with one scale for the vector
/// (x ≈ xs · xq, xs = max |x| / 32767), multiplies int8 × int16 pairs into int32 (AVX2 `vpmaddwd`),
/// and converts to float every 512 columns, so no int32 sum can overflow whatever `cols` is.
/// The x86-64 AVX2 kernel is chosen at run time; other CPUs get the portable loop (same result up to
/// float summation order).

/// Quantises W (rows, cols) into q (rows, cols) and scale (rows). A zero row gets scale 0.
void ssm_q8_quantize_rows(const float *w, int32_t rows, int32_t cols, int8_t *q, float *scale);

/// y (rows) = W·x (+ y if accumulate), with W given as (q, scale). x (cols). Allocates nothing
/// (the int16 copy of x and the int32 sums live on the stack).
void ssm_q8_gemv(const int8_t *q, const float *scale, int32_t rows, int32_t cols,
                 const float *x, float *y, int32_t accumulate);

/// The same product with the portable loop whatever the CPU (for tests of the AVX2 kernel).
void ssm_q8_gemv_portable(const int8_t *q, const float *scale, int32_t rows, int32_t cols,
                          const float *x, float *y, int32_t accumulate);

/// Whether the AVX2 kernel is in use (1) or the portable loop (0).
int ssm_q8_uses_avx2(void);

#endif
