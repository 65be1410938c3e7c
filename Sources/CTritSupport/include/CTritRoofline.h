// Roofline probe loops: streaming reads and peak int8 multiply-add, in C so the instruction mix
// is exactly what the probe claims (no bounds checks, no auto-vectoriser guesswork).
#ifndef TRITBENCH_CTRITROOFLINE_H
#define TRITBENCH_CTRITROOFLINE_H
#include <stddef.h>
#include <stdint.h>

/// Reads `bytes` (a multiple of 128, 32-byte aligned) `passes` times with 256-bit loads and four
/// independent accumulators; returns a checksum so the reads cannot be optimised away.
/// AVX2 only: call it when CPUID reports AVX2 and the OS saves YMM state.
uint64_t tritbench_stream_read_avx2(const void *data, size_t bytes, size_t passes);

/// Portable streaming read: 64-bit loads, four accumulators. Same contract as the AVX2 loop.
uint64_t tritbench_stream_read_portable(const void *data, size_t bytes, size_t passes);

/// Issues `iterations` × 12 independent `vpmaddubsw` (u8 × s8 → pairwise-summed s16, 32
/// multiply-adds each): the peak int8 multiply-add throughput of one core. AVX2 only.
/// Returns a checksum of the accumulators.
uint64_t tritbench_maddubs_peak_avx2(uint64_t iterations);

/// The same with `vpdpbusd ymm` (u8 × s8, four products summed into an s32 lane, 32
/// multiply-adds each): the peak of the AVX-512 VNNI GEMM loop. Call it only when CPUID reports
/// AVX512-VNNI and AVX512VL and the OS saves the ZMM state.
uint64_t tritbench_dpbusd_peak_avx512vnni(uint64_t iterations);

/// Portable stand-in: `iterations` × 12 × 32 scalar int8 multiply-adds in 12 independent chains.
uint64_t tritbench_int8_mac_peak_portable(uint64_t iterations);

/// Multiply-adds one call of each peak loop performs per iteration (12 × 32).
#define TRITBENCH_PEAK_MACS_PER_ITERATION 384
#endif
