// Tiny C helpers for things Swift cannot express: CPUID and XGETBV.
#ifndef TRITBENCH_CTRITSUPPORT_H
#define TRITBENCH_CTRITSUPPORT_H
#include <stdint.h>

/// Executes CPUID(leaf, subleaf) into out[0..3] = eax, ebx, ecx, edx.
/// Returns 0 on non-x86 builds (out is zeroed) or when the leaf is above the maximum.
int tritbench_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/// XGETBV(0): which register states the OS saves (bit 1 SSE, bit 2 AVX, bits 5-7 AVX-512).
/// Returns 0 when OSXSAVE is not set or on non-x86 builds.
uint64_t tritbench_xgetbv0(void);

/// getauxval(AT_HWCAP) on Linux, 0 elsewhere (used for NEON/ASIMD detection on arm64).
unsigned long tritbench_hwcap(void);

/// A read prefetch of the cache line holding p into every level (prefetcht0). Static inline so
/// Swift callers get the single instruction, not a call.
static inline void tritbench_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
#include "CTritRoofline.h"
#endif
