#ifndef SSM_SUPPORT_H
#define SSM_SUPPORT_H

#include "ssm_quantized.h"
#include "ssm_vmath.h"

/// Sets flush-to-zero and denormals-are-zero for the calling thread (x86 MXCSR, AArch64 FPCR.FZ).
///
/// Recurrent SSM states decay geometrically during silence and end up as subnormal floats, which
/// x86 cores process 10-100x slower. Results differ from IEEE only below ~1e-38.
void ssm_enable_flush_to_zero(void);

/// Whether flush-to-zero is on for the calling thread.
int ssm_flush_to_zero_enabled(void);

#endif
