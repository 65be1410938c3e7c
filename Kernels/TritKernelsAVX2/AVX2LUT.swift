#if arch(x86_64)
import _Builtin_intrinsics.intel
import CTritSupport

extension AVX2Kernels {
    /// LUT kernel over tiles of 32 rows (`LUTTernaryMatrix` layout): per column group of 4, one
    /// 32-byte load gives the b0 and b1 nibble indices of 32 rows; `vpshufb` looks them up in
    /// the token's low-byte and high-byte tables; `vpmaddubsw` with (1, 2) pairs forms
    /// lo0 + 2·lo1 and hi0 + 2·hi1 per row in int16. Exact: equals Σ code·q.
    ///
    /// int16 bounds: a low-byte step adds ≤ 3·255 = 765, so ≤ 42 column groups fit before
    /// widening (`depth`); high-byte steps are tiny. Widening adds into scratch [token][sub-tile][group][8].
    public static func lutTiles(_ a: AVX2LayerArguments, tiles: Range<Int>, scratch: UnsafeMutablePointer<Int32>) {
        guard let tables = a.tables else { return }
        let columnGroups = a.tileStride / 32
        let groupColumns = a.quadsPerGroup  // column groups (of 4) per scale group, for this kernel
        for tile in tiles {
            var t0 = 0
            while t0 < a.tokens {
                let nc = min(a.tokenBlock, a.tokens - t0)
                scratch.update(repeating: 0, count: nc * 4 * a.groups * 8)
                let w = a.weights + tile * a.tileStride
                if nc == 2 {
                    lutBlock(a, w, tables + t0 * a.tableStride, 2, columnGroups, groupColumns, scratch)
                } else {
                    for n in 0..<nc {
                        lutBlock(a, w, tables + (t0 + n) * a.tableStride, 1, columnGroups, groupColumns,
                                 scratch + n * 4 * a.groups * 8)
                    }
                }
                for n in 0..<nc {
                    for s in 0..<4 where (tile * 4 + s) * 8 < a.rows {
                        epilogue(a, tile * 4 + s, t0 + n, scratch + (n * 4 + s) * a.groups * 8)
                    }
                }
                t0 += nc
            }
        }
    }

    @inline(__always)
    static func lutBlock(_ a: AVX2LayerArguments, _ w: UnsafePointer<UInt8>, _ tables: UnsafePointer<UInt8>,
                         _ nc: Int, _ columnGroups: Int, _ groupColumns: Int, _ scratch: UnsafeMutablePointer<Int32>) {
        let low = _mm256_set1_epi8(0x0F)
        let pairs = _mm256_set1_epi16(0x0201)  // bytes (1, 2): b0 table entry ×1, b1 entry ×2
        let pf = a.prefetchBytes
        for g in 0..<a.groups {
            let m0 = g * groupColumns, m1 = min(m0 + groupColumns, columnGroups)
            var lo = Acc4(), hi = Acc4()   // token 0: v0 v1 (lo a/b) ; token 1: v2 v3
            var m = m0, since = 0
            while m < m1 {
                if pf > 0 { tritbench_prefetch(w + (m &* 32 &+ pf)) }
                let idx = load256(w + m * 32)
                let i0 = _mm256_and_si256(idx, low)
                let i1 = _mm256_and_si256(_mm256_srli_epi16(idx, 4), low)
                for n in 0..<nc {
                    let t = UnsafeRawPointer(tables + n * a.tableStride + m * 32)
                    let tlo = _mm256_broadcastsi128_si256(load128(t))
                    let thi = _mm256_broadcastsi128_si256(load128(t + 16))
                    let l0 = _mm256_shuffle_epi8(tlo, i0), l1 = _mm256_shuffle_epi8(tlo, i1)
                    let h0 = _mm256_shuffle_epi8(thi, i0), h1 = _mm256_shuffle_epi8(thi, i1)
                    lo[2 * n] = _mm256_add_epi16(lo[2 * n], _mm256_maddubs_epi16(_mm256_unpacklo_epi8(l0, l1), pairs))
                    lo[2 * n + 1] = _mm256_add_epi16(lo[2 * n + 1], _mm256_maddubs_epi16(_mm256_unpackhi_epi8(l0, l1), pairs))
                    hi[2 * n] = _mm256_add_epi16(hi[2 * n], _mm256_maddubs_epi16(pairs, _mm256_unpacklo_epi8(h0, h1)))
                    hi[2 * n + 1] = _mm256_add_epi16(hi[2 * n + 1], _mm256_maddubs_epi16(pairs, _mm256_unpackhi_epi8(h0, h1)))
                }
                m += 1; since += 1
                if since == a.depth || m == m1 {
                    for n in 0..<nc {
                        // lo[2n] lanes: rows 0–7 | 16–23; lo[2n+1]: rows 8–15 | 24–31 (unpack order).
                        let dst = scratch + n * 4 * a.groups * 8 + g * 8
                        widen(lo[2 * n], hi[2 * n], dst, dst + 2 * a.groups * 8)
                        widen(lo[2 * n + 1], hi[2 * n + 1], dst + a.groups * 8, dst + 3 * a.groups * 8)
                        lo[2 * n] = _mm256_setzero_si256(); lo[2 * n + 1] = _mm256_setzero_si256()
                        hi[2 * n] = _mm256_setzero_si256(); hi[2 * n + 1] = _mm256_setzero_si256()
                    }
                    since = 0
                }
            }
        }
    }

    /// Adds lo + 256·hi (int16 lanes; lo non-negative) of 16 rows into two 8-row scratch slots.
    @inline(__always)
    static func widen(_ lo: __m256i, _ hi: __m256i, _ first: UnsafeMutablePointer<Int32>, _ second: UnsafeMutablePointer<Int32>) {
        let a = _mm256_add_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(lo)),
                                 _mm256_slli_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(hi)), 8))
        let b = _mm256_add_epi32(_mm256_cvtepu16_epi32(high128(lo)),
                                 _mm256_slli_epi32(_mm256_cvtepi16_epi32(high128(hi)), 8))
        store256(first, _mm256_add_epi32(load256(first), a))
        store256(second, _mm256_add_epi32(load256(second), b))
    }
}
#endif
