#if arch(x86_64)
import _Builtin_intrinsics.intel

extension AVX2Kernels {
    /// Decodes the 8 rows of `tile` (every plane, every quad) into the row-interleaved layout a
    /// dot-product loop with one int32 lane per row reads (`vpdpbusd` against 4 broadcast
    /// activation bytes; TritKernelsAVX512):
    ///
    ///     codes[((p · quadsPerRow + q) · 32 + j) · 32 + 4r + b]
    ///         = code w + 1 of plane p, row r of the tile, column 128q + 4j + b
    ///
    ///     one 32-byte vector j of quad q:
    ///     byte   0    1    2    3  |  4    5    6    7  | … | 28   29   30   31
    ///          r0c0 r0c1 r0c2 r0c3 | r1c0 r1c1 r1c2 r1c3 | … | r7c0 r7c1 r7c2 r7c3   (c = 4j + b)
    ///
    /// Columns are in the decoder's order (for base-3 the interleaved order its activations are
    /// permuted to), so column 4j + b pairs with activation byte 4j + b of the quad either way.
    /// Rows past `a.rows` in the last tile decode the padding (code 1, trit 0). Takes
    /// `decodedCount(planes:quadsPerRow:)` bytes, as the per-row tile does.
    public static func decodeRowInterleavedTile(_ a: AVX2LayerArguments, layout: AVX2CodeLayout, tile: Int,
                                                into codes: UnsafeMutablePointer<UInt8>) {
        switch layout {
        case .twoBit: decodeRowInterleavedTile(TwoBitDecoder.self, a, tile, codes)
        case .base3: decodeRowInterleavedTile(Base3Decoder.self, a, tile, codes)
        case .bitmask: decodeRowInterleavedTile(BitmaskDecoder.self, a, tile, codes)
        }
    }

    @inline(never)
    static func decodeRowInterleavedTile<D: QuadDecoder>(_ d: D.Type, _ a: AVX2LayerArguments, _ tile: Int,
                                                         _ codes: UnsafeMutablePointer<UInt8>) {
        let quads = a.quadsPerRow
        for p in 0..<a.planes {
            let base = a.rowPointer(plane: p, row: tile &* 8)
            for q in 0..<quads {
                @inline(__always) func rowCodes(_ r: Int) -> (__m256i, __m256i, __m256i, __m256i) {
                    D.decode(base + r &* a.rowStride, quad: q, unit: a.unitStride)
                }
                let r0 = rowCodes(0), r1 = rowCodes(1), r2 = rowCodes(2), r3 = rowCodes(3)
                let r4 = rowCodes(4), r5 = rowCodes(5), r6 = rowCodes(6), r7 = rowCodes(7)
                let dst = UnsafeMutableRawPointer(codes + (p &* quads &+ q) &* 1024)
                transposeDwords(r0.0, r1.0, r2.0, r3.0, r4.0, r5.0, r6.0, r7.0, into: dst)
                transposeDwords(r0.1, r1.1, r2.1, r3.1, r4.1, r5.1, r6.1, r7.1, into: dst + 256)
                transposeDwords(r0.2, r1.2, r2.2, r3.2, r4.2, r5.2, r6.2, r7.2, into: dst + 512)
                transposeDwords(r0.3, r1.3, r2.3, r3.3, r4.3, r5.3, r6.3, r7.3, into: dst + 768)
            }
        }
    }

    /// 8 × 8 transpose of 32-bit elements: stores vector m = (dword m of r0, …, dword m of r7)
    /// at `dst + 32m` (unpack 32 → unpack 64 → exchange 128-bit halves).
    @inline(__always)
    static func transposeDwords(_ r0: __m256i, _ r1: __m256i, _ r2: __m256i, _ r3: __m256i,
                                _ r4: __m256i, _ r5: __m256i, _ r6: __m256i, _ r7: __m256i,
                                into dst: UnsafeMutableRawPointer) {
        let t0 = _mm256_unpacklo_epi32(r0, r1), t1 = _mm256_unpackhi_epi32(r0, r1)
        let t2 = _mm256_unpacklo_epi32(r2, r3), t3 = _mm256_unpackhi_epi32(r2, r3)
        let t4 = _mm256_unpacklo_epi32(r4, r5), t5 = _mm256_unpackhi_epi32(r4, r5)
        let t6 = _mm256_unpacklo_epi32(r6, r7), t7 = _mm256_unpackhi_epi32(r6, r7)
        // u_k: dwords k (low 128) and k + 4 (high 128) of rows 0–3 (u0…u3) or 4–7 (u4…u7).
        let u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2)
        let u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3)
        let u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6)
        let u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7)
        @inline(__always) func put(_ m: Int, _ lo: __m256i, _ hi: __m256i) {
            store256(dst + 32 &* m, __m256i(lowHalf: lo.lowHalf, highHalf: hi.lowHalf))
            store256(dst + 32 &* (m &+ 4), __m256i(lowHalf: lo.highHalf, highHalf: hi.highHalf))
        }
        put(0, u0, u4); put(1, u1, u5); put(2, u2, u6); put(3, u3, u7)
    }
}
#endif
