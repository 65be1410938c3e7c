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

__attribute__((target("avx2")))
uint64_t tritbench_maddubs_peak_avx2(uint64_t iterations) {
    /* 12 chains: vpmaddubsw has 3-cycle latency and 2 per cycle throughput on Zen 3, so at
       least 6 chains are needed to saturate it; 12 covers cores with longer latency. The
       result feeds the next multiply as the unsigned operand, a true dependency per chain. */
    const __m256i w = _mm256_set1_epi8(3);
    __m256i x0 = _mm256_set1_epi8(1), x1 = _mm256_set1_epi8(2), x2 = _mm256_set1_epi8(3),
            x3 = _mm256_set1_epi8(4), x4 = _mm256_set1_epi8(5), x5 = _mm256_set1_epi8(6),
            x6 = _mm256_set1_epi8(7), x7 = _mm256_set1_epi8(8), x8 = _mm256_set1_epi8(9),
            x9 = _mm256_set1_epi8(10), x10 = _mm256_set1_epi8(11), x11 = _mm256_set1_epi8(12);
    for (uint64_t i = 0; i < iterations; i++) {
        x0 = _mm256_maddubs_epi16(x0, w); x1 = _mm256_maddubs_epi16(x1, w);
        x2 = _mm256_maddubs_epi16(x2, w); x3 = _mm256_maddubs_epi16(x3, w);
        x4 = _mm256_maddubs_epi16(x4, w); x5 = _mm256_maddubs_epi16(x5, w);
        x6 = _mm256_maddubs_epi16(x6, w); x7 = _mm256_maddubs_epi16(x7, w);
        x8 = _mm256_maddubs_epi16(x8, w); x9 = _mm256_maddubs_epi16(x9, w);
        x10 = _mm256_maddubs_epi16(x10, w); x11 = _mm256_maddubs_epi16(x11, w);
    }
    __m256i s = _mm256_xor_si256(_mm256_xor_si256(_mm256_xor_si256(x0, x1), _mm256_xor_si256(x2, x3)),
                                 _mm256_xor_si256(_mm256_xor_si256(x4, x5), _mm256_xor_si256(x6, x7)));
    s = _mm256_xor_si256(s, _mm256_xor_si256(_mm256_xor_si256(x8, x9), _mm256_xor_si256(x10, x11)));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, s);
    return out[0] ^ out[1] ^ out[2] ^ out[3];
}
#else
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
