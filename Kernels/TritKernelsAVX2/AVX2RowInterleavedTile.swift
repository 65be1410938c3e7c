#if arch(x86_64)
import _Builtin_intrinsics.intel

extension AVX2Kernels {
    /// Decodes the 8 rows of `tile` (every plane, every quad) into the row-interleaved layout a
    /// dot-product loop with two int32 lanes per row reads (`vpdpbusd zmm` against 8 activation
    /// bytes broadcast as a qword; TritKernelsAVX512):
    ///
    ///     codes[((p · quadsPerRow + q) · 16 + k) · 64 + 8r + b]
    ///         = code w + 1 of plane p, row r of the tile, column 128q + 8k + b
    ///
    ///     one 64-byte block k of quad q:
    ///     byte   0    1   …   7   |  8    9   …  15   | … | 56   57  …  63
    ///          r0c0 r0c1 … r0c7   | r1c0 r1c1 … r1c7  | … | r7c0 r7c1 … r7c7   (c = 8k + b)
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
                transposeQwords(r0.0, r1.0, r2.0, r3.0, r4.0, r5.0, r6.0, r7.0, into: dst)
                transposeQwords(r0.1, r1.1, r2.1, r3.1, r4.1, r5.1, r6.1, r7.1, into: dst + 256)
                transposeQwords(r0.2, r1.2, r2.2, r3.2, r4.2, r5.2, r6.2, r7.2, into: dst + 512)
                transposeQwords(r0.3, r1.3, r2.3, r3.3, r4.3, r5.3, r6.3, r7.3, into: dst + 768)
            }
        }
    }

    /// 8 × 4 transpose of 64-bit elements: stores block m = (qword m of r0, …, qword m of r7)
    /// at `dst + 64m` (unpack 64 pairs rows; the 128-bit halves then go to blocks m and m + 2).
    @inline(__always)
    static func transposeQwords(_ r0: __m256i, _ r1: __m256i, _ r2: __m256i, _ r3: __m256i,
                                _ r4: __m256i, _ r5: __m256i, _ r6: __m256i, _ r7: __m256i,
                                into dst: UnsafeMutableRawPointer) {
        // lo: [qword 0 of both rows | qword 2 of both]; hi: [qword 1 | qword 3].
        let lo01 = _mm256_unpacklo_epi64(r0, r1), hi01 = _mm256_unpackhi_epi64(r0, r1)
        let lo23 = _mm256_unpacklo_epi64(r2, r3), hi23 = _mm256_unpackhi_epi64(r2, r3)
        let lo45 = _mm256_unpacklo_epi64(r4, r5), hi45 = _mm256_unpackhi_epi64(r4, r5)
        let lo67 = _mm256_unpacklo_epi64(r6, r7), hi67 = _mm256_unpackhi_epi64(r6, r7)
        @inline(__always) func put(_ m: Int, _ high: Bool, _ a: __m256i, _ b: __m256i, _ c: __m256i, _ d: __m256i) {
            @inline(__always) func half(_ v: __m256i) -> __m128i { high ? v.highHalf : v.lowHalf }
            store256(dst + 64 &* m, __m256i(lowHalf: half(a), highHalf: half(b)))
            store256(dst + (64 &* m &+ 32), __m256i(lowHalf: half(c), highHalf: half(d)))
        }
        put(0, false, lo01, lo23, lo45, lo67); put(2, true, lo01, lo23, lo45, lo67)
        put(1, false, hi01, hi23, hi45, hi67); put(3, true, hi01, hi23, hi45, hi67)
    }
}
#endif
