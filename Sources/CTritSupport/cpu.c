#include "CTritSupport.h"
#include <string.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

int tritbench_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
    memset(out, 0, 4 * sizeof(uint32_t));
    unsigned int maxLeaf = __get_cpuid_max(leaf & 0x80000000u, 0);
    if (maxLeaf == 0 || leaf > maxLeaf) return 0;
    unsigned int a, b, c, d;
    __cpuid_count(leaf, subleaf, a, b, c, d);
    out[0] = a; out[1] = b; out[2] = c; out[3] = d;
    return 1;
}

uint64_t tritbench_xgetbv0(void) {
    uint32_t r[4];
    if (!tritbench_cpuid(1, 0, r) || !(r[2] & (1u << 27))) return 0; /* OSXSAVE */
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#else
int tritbench_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
    (void)leaf; (void)subleaf; memset(out, 0, 4 * sizeof(uint32_t)); return 0;
}
uint64_t tritbench_xgetbv0(void) { return 0; }
#endif

unsigned long tritbench_hwcap(void) {
#if defined(__linux__)
    return getauxval(AT_HWCAP);
#else
    return 0;
#endif
}
