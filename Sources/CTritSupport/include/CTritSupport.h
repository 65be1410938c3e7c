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
/// prefetcht1: into L2 (and L3), not L1: far-ahead stream prefetches that would otherwise hold L1 fill buffers.
static inline void tritbench_prefetch_l2(const void *p) { __builtin_prefetch(p, 0, 2); }

/// The spin-wait hint (x86 `pause`, arm64 `yield`): a spinning thread leaves the core's
/// execution resources and the memory bus alone between polls. Swift cannot emit it.
static inline void tritbench_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#if defined(__x86_64__)
#include <immintrin.h>
/// GF2P8AFFINEQB with a zero constant: bit i of each result byte = parity(a.byte[7 − i] AND the
/// source byte), i.e. a per-byte bit permutation when each row of `a` has one bit set. The
/// intrinsic is a macro (its constant is an immediate), which Swift cannot import; callers are
/// compiled for GFNI and check CPUID first.
static inline __attribute__((target("avx512f,avx512bw,gfni")))
__m512i tritbench_gf2p8affine(__m512i x, __m512i a) { return _mm512_gf2p8affine_epi64_epi8(x, a, 0); }
#endif
#if defined(__GLIBC__)
#include <malloc.h>
/// Pins glibc's mmap threshold at its maximum (32 MiB) and never trims the heap, so memory freed
/// by one training step is reused by the next instead of coming back as fresh zeroed pages.
/// Returns 1 when both settings were taken (mallopt's own convention).
static inline int tritbench_keep_freed_heap(void) {
    return mallopt(M_MMAP_THRESHOLD, 32 << 20) && mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}
#else
static inline int tritbench_keep_freed_heap(void) { return 0; }
#endif
/// Each kernel target's clang flags as Package.swift compiles it:
/// "TritKernelsAVX2=-mavx2 -mfma …;TritKernelsAVX512=…" (empty where the targets take none).
const char *tritbench_kernel_flags(void);

/// The build stamp, defined by the TritBuildStamp target (generated at build time by
/// Scripts/build-stamp.sh through BuildStampPlugin). Declared here rather than imported as a
/// Swift module so that a new stamp, which every commit makes, relinks the binaries instead of
/// recompiling every module that reads it. Every executable and test bundle links the target.
const char *tritbench_stamp_kernels_content_hash(void);
long tritbench_stamp_kernel_file_count(void);
const char *tritbench_stamp_git_revision(void);
int tritbench_stamp_git_dirty(void);
const char *tritbench_stamp_compiler_version(void);
#include "CTritRoofline.h"
#endif
