#include "ssm_support.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define SSM_MXCSR_FTZ_DAZ 0x8040u
void ssm_enable_flush_to_zero(void) { _mm_setcsr(_mm_getcsr() | SSM_MXCSR_FTZ_DAZ); }
int ssm_flush_to_zero_enabled(void) { return (_mm_getcsr() & SSM_MXCSR_FTZ_DAZ) == SSM_MXCSR_FTZ_DAZ; }
#elif defined(__aarch64__)
#include <stdint.h>
void ssm_enable_flush_to_zero(void) {
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    fpcr |= (1ull << 24);
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
}
int ssm_flush_to_zero_enabled(void) {
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return (fpcr >> 24) & 1;
}
#else
void ssm_enable_flush_to_zero(void) {}
int ssm_flush_to_zero_enabled(void) { return 0; }
#endif
