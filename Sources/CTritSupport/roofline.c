#include "CTritRoofline.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2")))
uint64_t tritbench_stream_read_avx2(const void *data, size_t bytes, size_t passes) {
    const __m256i *p = (const __m256i *)data;
    size_t n = bytes / 32;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t pass = 0; pass < passes; pass++) {
        for (size_t i = 0; i + 4 <= n; i += 4) {
            a0 = _mm256_xor_si256(a0, _mm256_load_si256(p + i));
            a1 = _mm256_xor_si256(a1, _mm256_load_si256(p + i + 1));
            a2 = _mm256_xor_si256(a2, _mm256_load_si256(p + i + 2));
            a3 = _mm256_xor_si256(a3, _mm256_load_si256(p + i + 3));
        }
        /* Keep passes distinct so the compiler cannot fold repeated passes into one. */
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3));
    }
    __m256i s = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, s);
    return out[0] ^ out[1] ^ out[2] ^ out[3];
}

/* The peak probes' loop: 12 independent chains, each step a true dependency through its
   chain's register, so the loop runs at the instruction's throughput once 12 ≥ latency ×
   throughput (vpmaddubsw: 3 cycles × 2 per cycle on Zen 3; vpdpbusd: ~4–5 × 2 on Zen 4).
   STEP(c) is the chain's next value; the xor of all chains is returned so nothing is dead. */
#define TRITBENCH_PEAK_CHAINS(INIT, STEP)                                                  \
    __m256i c[12];                                                                          \
    for (int k = 0; k < 12; k++) c[k] = INIT(k + 1);                                        \
    for (uint64_t i = 0; i < iterations; i++) {                                             \
        for (int k = 0; k < 12; k++) c[k] = STEP(c[k]);                                     \
    }                                                                                       \
    __m256i s = c[0];                                                                       \
    for (int k = 1; k < 12; k++) s = _mm256_xor_si256(s, c[k]);                             \
    uint64_t out[4];                                                                        \
    _mm256_storeu_si256((__m256i *)out, s);                                                 \
    return out[0] ^ out[1] ^ out[2] ^ out[3];

__attribute__((target("avx2")))
uint64_t tritbench_maddubs_peak_avx2(uint64_t iterations) {
    /* The result feeds the next multiply as the unsigned operand. */
    const __m256i w = _mm256_set1_epi8(3);
#define MADDUBS_INIT(k) _mm256_set1_epi8((char)(k))
#define MADDUBS_STEP(x) _mm256_maddubs_epi16((x), w)
    TRITBENCH_PEAK_CHAINS(MADDUBS_INIT, MADDUBS_STEP)
}

__attribute__((target("avx2,avx512f,avx512vl,avx512vnni")))
uint64_t tritbench_dpbusd_peak_avx512vnni(uint64_t iterations) {
    /* vpdpbusd accumulates into its destination: the chain runs through the accumulator. */
    const __m256i w = _mm256_set1_epi8(3), x = _mm256_set1_epi8(-2);
#define DPBUSD_INIT(k) _mm256_set1_epi32(k)
#define DPBUSD_STEP(a) _mm256_dpbusd_epi32((a), w, x)
    TRITBENCH_PEAK_CHAINS(DPBUSD_INIT, DPBUSD_STEP)
}
#else
uint64_t tritbench_dpbusd_peak_avx512vnni(uint64_t iterations) {
    return tritbench_int8_mac_peak_portable(iterations);
}
uint64_t tritbench_stream_read_avx2(const void *data, size_t bytes, size_t passes) {
    return tritbench_stream_read_portable(data, bytes, passes);
}
uint64_t tritbench_maddubs_peak_avx2(uint64_t iterations) {
    return tritbench_int8_mac_peak_portable(iterations);
}
#endif

uint64_t tritbench_stream_read_portable(const void *data, size_t bytes, size_t passes) {
    const uint64_t *p = (const uint64_t *)data;
    size_t n = bytes / 8;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t pass = 0; pass < passes; pass++) {
        for (size_t i = 0; i + 4 <= n; i += 4) {
            a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
        }
        __asm__ volatile("" : "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3));
    }
    return a0 ^ a1 ^ a2 ^ a3;
}

uint64_t tritbench_int8_mac_peak_portable(uint64_t iterations) {
    int32_t acc[12];
    int8_t w[32], x[64];
    for (int k = 0; k < 32; k++) w[k] = (int8_t)(k - 16);
    for (int k = 0; k < 64; k++) x[k] = (int8_t)(3 * k - 90);
    for (int c = 0; c < 12; c++) acc[c] = c;
    for (uint64_t i = 0; i < iterations; i++) {
        for (int c = 0; c < 12; c++) {
            int32_t s = acc[c];
            for (int k = 0; k < 32; k++) s += (int32_t)w[k] * (int32_t)x[k + c];
            acc[c] = s;
        }
        /* The memory clobber makes the compiler reload w and x, so every iteration really
           performs its 384 multiply-adds instead of reusing the previous dot products. */
        __asm__ volatile("" : : "r"(acc), "r"(w), "r"(x) : "memory");
    }
    uint64_t out = 0;
    for (int c = 0; c < 12; c++) out = out * 31 + (uint32_t)acc[c];
    return out;
}
