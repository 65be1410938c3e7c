// The AVX-512 GEMV loop: 512-bit registers, each holding the same 32-byte unit of two adjacent
// rows, decoded to codes w + 1 and multiplied into int32 lanes by `vpdpbusd zmm`.
//
// Why 512 bits here when the GEMM tile keeps to 256: Zen 4 runs a zmm instruction as two
// 256-bit halves, so the pipes do the same work either way, but each instruction costs one
// slot in the front end and the schedulers instead of two. Measured on this VM's Zen 4 with a
// throughput loop of the base-3 decode mix (multiplies, a word permute, vpdpbusd): 1.42 zmm
// instructions/cycle = 2.84 ymm-equivalents, against 2.54 ymm instructions/cycle for the same
// mix at 256 bits; and a C prototype of the whole L1-resident base-3 GEMV loop ran 1.7×
// faster than the AVX2 one (1.71 vs 2.93 cycles per 32 weights). In this package, 2048×2048,
// 1 thread, hot, gemvWidth 256 → 512: 2-bit 63.8 → 48.1 µs, base-3 94.3 → 77.0 µs. Cold, the
// gain is larger for 2-bit (4096×4096: 404.9 → 206.4 µs): one pass reads each 8-row tile's
// 256-byte units whole, where the AVX2 loop walks rows 0–3 and then rows 4–7 of every unit.
//
// What it costs per group of 128 columns × 8 rows (32 × 32 weights): 16 code vectors (base-3:
// a multiply or shift-add for the power, vpmulhuw, vpermw, vpdpbusd each), a 12-instruction
// fold, ~7 float instructions. The fold is why base-3 stays near 2 cycles per 32 weights here.

#if arch(x86_64)
import _Builtin_intrinsics.intel
import CTritSupport
import TritKernelsAVX2

extension VNNIKernels {
    /// GEMV (one token) over 8-row tiles `tiles` of a row-tiled layout (`.twoBit` or `.base3`,
    /// one or two planes), writing y. For `.base3` the token's activations must first go through
    /// `interleaveBase3WordPairs` (not `AVX2Kernels.interleaveBase3Activations`).
    ///
    /// The row-tiled layout keeps rows 2p and 2p+1 of a tile in consecutive 32-byte slots
    /// ([tile][unit][row % 8][32 bytes]), so one 64-byte load gives the same unit of a row pair:
    ///
    ///     zmm  bytes 0–31: row 2p, unit u   |   bytes 32–63: row 2p+1, unit u
    ///
    /// Each 32-column vector of activations is broadcast to both halves, and one `vpdpbusd`
    /// adds 4 code·q products per int32 lane; lanes 0–7 belong to row 2p and 8–15 to row 2p+1.
    /// Four such registers cover the tile's 8 rows. At the end of each scale group a 12-
    /// instruction tree folds the 4 × 16 lanes to the 8 rows' exact int32 Σ code·q, and the group
    /// enters the float sum in the order `AVX2Kernels.epilogue` uses (s += α₀·(Σ₀ − Σq), then
    /// α₁·(Σ₁ − Σq) for a second plane, then μ·Σq; y = s·d (+ bias)), so y is bit-identical to the
    /// scalar reference. |Σ code·q| ≤ 2·128·K: no int32 overflow for any K a model has.
    /// `gfni`: decode 2-bit codes with GF2P8AFFINEQB (`TwoBitGFNIRowPairs`); only where CPUID
    /// reports GFNI (`CPUFeatures.supportsGFNIDecode`).
    public static func gemvTiles(_ a: AVX2LayerArguments, layout: AVX2CodeLayout, tiles: Range<Int>, gfni: Bool) {
        precondition(a.tokens == 1, "VNNIKernels.gemvTiles: \(a.tokens) tokens; this loop is GEMV only")
        switch layout {
        case .twoBit where gfni: gemvTiles(TwoBitGFNIRowPairs.self, a, tiles)
        case .twoBit: gemvTiles(TwoBitRowPairs.self, a, tiles)
        case .base3: gemvTiles(Base3RowPairs.self, a, tiles)
        case .bitmask: preconditionFailure("VNNIKernels.gemvTiles: no 512-bit bitmask decoder")
        }
    }

    /// Permutes `count` activation bytes (a multiple of 32) in place into the order
    /// `Base3RowPairs` produces codes in. Within each 32-column vector v, byte 2l + h of the
    /// decoded vector is trit 2i + h of 16-bit lane l, i.e. (see `Base3TernaryMatrix.slot`)
    ///
    ///     x′[32v + 2l + h] = x[32v + (l % 8) + 8h + 16·(l / 8)],   l = 0…15, h = 0, 1
    ///
    /// Columns stay inside their 32-column vector, so per-group Σq are unchanged.
    public static func interleaveBase3WordPairs(_ x: UnsafeMutablePointer<Int8>, count: Int) {
        precondition(count % 32 == 0, "interleaveBase3WordPairs: \(count) bytes, not a multiple of 32")
        // In each 16-byte half: out[2l + h] = in[l + 8h], l = 0…7 (the formula with l mod 8).
        let pattern = _mm256_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15,
                                       0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15)
        for v in 0..<(count / 32) {
            let p = UnsafeMutableRawPointer(x + v &* 32)
            let a = _mm256_loadu_si256(UnsafeRawPointer(p).assumingMemoryBound(to: __m256i_u.self))
            _mm256_storeu_si256(p.assumingMemoryBound(to: __m256i_u.self), _mm256_shuffle_epi8(a, pattern))
        }
    }

    @inline(never)
    static func gemvTiles<D: RowPairDecoder>(_ d: D.Type, _ a: AVX2LayerArguments, _ tiles: Range<Int>) {
        // Two copies, so the one-plane loop carries no plane-1 test.
        if let s1 = a.scales1 {
            rowPairLoop(D.self, a, tiles, s1)
        } else {
            rowPairLoop(D.self, a, tiles, nil)
        }
    }

    @inline(__always)
    static func rowPairLoop<D: RowPairDecoder>(_ d: D.Type, _ a: AVX2LayerArguments, _ tiles: Range<Int>,
                                               _ scales1: UnsafePointer<UInt16>?) {
        let unit = a.unitStride, groups = a.groups, quads = a.quadsPerRow, perGroup = a.quadsPerGroup
        let units = a.tileStride / unit
        let x = a.acts, pf = a.prefetchBytes
        for tile in tiles {
            let plane0 = a.weights + tile &* a.tileStride
            var s = _mm256_setzero_ps()
            /// Group g's 8 row sums of the plane at `plane`, quads `q0..<q1`, each decoded by `quad`.
            @inline(__always) func sums(_ plane: UnsafePointer<UInt8>, _ q0: Int, _ q1: Int,
                                        _ quad: (UnsafePointer<UInt8>, Int) -> ZQuad) -> __m256i {
                var acc = ZAcc4()
                for q in q0..<q1 {
                    if pf > 0 {
                        // The tile's units are one sequential stream, and the next tile follows
                        // it: `pf` bytes ahead of this quad's unit, its four lines.
                        let ahead = plane + (D.bytesBefore(quad: q, unit: unit) &+ pf)
                        for l in 0..<4 { tritbench_prefetch(ahead + l &* 64) }
                    }
                    let xq = x + q &* 128
                    let x0 = broadcast(xq), x1 = broadcast(xq + 32), x2 = broadcast(xq + 64), x3 = broadcast(xq + 96)
                    for p in 0..<4 {
                        let c = quad(plane + p &* 64, q)
                        acc[p] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc[p], c.0, x0), c.1, x1)
                        acc[p] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc[p], c.2, x2), c.3, x3)
                    }
                }
                return fold(acc)
            }
            @inline(__always) func group(_ g: Int, _ q0: Int, _ q1: Int, _ quad: (UnsafePointer<UInt8>, Int) -> ZQuad) {
                let qs = _mm256_set1_epi32(a.groupSums[g])
                let side = (tile &* groups &+ g) &* 8
                s = _mm256_add_ps(s, _mm256_mul_ps(half8(a.scales0 + side),
                                                   _mm256_cvtepi32_ps(_mm256_sub_epi32(sums(plane0, q0, q1, quad), qs))))
                if let s1 = scales1 {
                    s = _mm256_add_ps(s, _mm256_mul_ps(half8(s1 + side),
                                                       _mm256_cvtepi32_ps(_mm256_sub_epi32(sums(plane0 + a.planeStride, q0, q1, quad), qs))))
                }
                if let mu = a.offsets {
                    s = _mm256_add_ps(s, _mm256_mul_ps(half8(mu + side), _mm256_cvtepi32_ps(qs)))
                }
            }
            if perGroup == 1 {
                // One quad per group: whole spans first, each quad at a constant position in its
                // span (straight-line decode with immediate multipliers), then the rest by index.
                var g = 0
                while g &+ D.quadsPerSpan <= groups {
                    let spanOffset = D.bytesBefore(quad: g, unit: unit)
                    unrolled5(D.quadsPerSpan) { j in
                        group(g &+ j, g &+ j, g &+ j &+ 1) { rows, _ in D.quad(span: rows + spanOffset, quad: j, unit: unit) }
                    }
                    g &+= D.quadsPerSpan
                }
                while g < groups {
                    group(g, g, g &+ 1) { rows, q in D.anyQuad(rows, quad: q, unit: unit, units: units) }
                    g &+= 1
                }
            } else {
                for g in 0..<groups {
                    let q0 = g &* perGroup
                    group(g, q0, min(q0 &+ perGroup, quads)) { rows, q in D.anyQuad(rows, quad: q, unit: unit, units: units) }
                }
            }
            let y = _mm256_mul_ps(s, _mm256_set1_ps(a.actScales[0]))
            let out = a.bias.map { _mm256_add_ps(y, half8($0 + tile &* 8)) } ?? y
            let valid = min(8, a.rows &- tile &* 8)
            if valid == 8 {
                _mm256_storeu_ps(a.y + tile &* 8, out)
            } else {
                let v: SIMD8<Float> = out
                for i in 0..<valid { a.y[tile &* 8 &+ i] = v[i] }
            }
        }
    }

    /// 32 activation bytes in both 256-bit halves.
    @inline(__always) static func broadcast(_ p: UnsafePointer<Int8>) -> __m512i {
        _mm512_broadcast_i64x4(_mm256_loadu_si256(UnsafeRawPointer(p).assumingMemoryBound(to: __m256i_u.self)))
    }

    @inline(__always) static func half8(_ p: UnsafePointer<UInt16>) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(UnsafeRawPointer(p).assumingMemoryBound(to: __m128i_u.self)))
    }

    /// The 8 rows' sums from four row-pair accumulators (acc[p]: lanes 0–7 row 2p, 8–15 row
    /// 2p+1): two rounds of "even lanes + odd lanes" across register pairs, then adjacent lanes
    /// summed within each 64-bit lane and narrowed (`vpmovqd`), giving rows 0…7 in order.
    @inline(__always) static func fold(_ acc: ZAcc4) -> __m256i {
        let even = dwords(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
        let odd = dwords(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
        @inline(__always) func pairs(_ u: __m512i, _ v: __m512i) -> __m512i {
            _mm512_add_epi32(_mm512_permutex2var_epi32(u, even, v), _mm512_permutex2var_epi32(u, odd, v))
        }
        // [r0 ×4 | r1 ×4 | r2 ×4 | r3 ×4], [r4 ×4 | …], then [r0 ×2 | r1 ×2 | … | r7 ×2].
        let t = pairs(pairs(acc.v0, acc.v1), pairs(acc.v2, acc.v3))
        return _mm512_cvtepi64_epi32(_mm512_add_epi32(t, _mm512_srli_epi64(t, 32)))
    }

    /// body(0), …, body(n − 1) with constant indices for the span lengths in use.
    @inline(__always) static func unrolled5(_ n: Int, _ body: (Int) -> Void) {
        switch n {
        case 1: body(0)
        case 5: body(0); body(1); body(2); body(3); body(4)
        default: for j in 0..<n { body(j) }
        }
    }
}

/// Four zmm values (a quad's 4 code vectors of a row pair).
typealias ZQuad = (__m512i, __m512i, __m512i, __m512i)

/// Four row-pair accumulators addressed by constant indices after inlining.
struct ZAcc4 {
    var v0 = _mm512_setzero_si512(), v1 = _mm512_setzero_si512(), v2 = _mm512_setzero_si512(), v3 = _mm512_setzero_si512()
    @inline(__always) subscript(i: Int) -> __m512i {
        get { switch i { case 0: return v0; case 1: return v1; case 2: return v2; default: return v3 } }
        set { switch i { case 0: v0 = newValue; case 1: v1 = newValue; case 2: v2 = newValue; default: v3 = newValue } }
    }
}

/// Decodes one 128-column quad of a row pair (64 bytes per unit: row 2p then row 2p+1) into
/// four vectors of codes w + 1 ∈ {0, 1, 2}, vector n matched against activation bytes
/// 32n…32n+31 of the quad (broadcast to both halves).
protocol RowPairDecoder {
    /// Quad q of the row pair at `rows`; `units`: 32-byte units per row (reads stay inside).
    static func quad(_ rows: UnsafePointer<UInt8>, quad q: Int, unit: Int, units: Int) -> ZQuad
    static func bytesBefore(quad q: Int, unit: Int) -> Int
    static var quadsPerSpan: Int { get }
    /// Quad j (a constant at the call) of the span whose data starts at `span`.
    static func quad(span: UnsafePointer<UInt8>, quad j: Int, unit: Int) -> ZQuad
    /// Quad q at any position of the row (the loops use it where groups do not line up with
    /// spans); same codes as `quad(_:quad:unit:units:)`.
    static func anyQuad(_ rows: UnsafePointer<UInt8>, quad q: Int, unit: Int, units: Int) -> ZQuad
}

extension RowPairDecoder {
    /// Decoders whose span is one quad have nothing to select.
    @inline(__always) static func anyQuad(_ rows: UnsafePointer<UInt8>, quad q: Int, unit: Int, units: Int) -> ZQuad {
        quad(rows, quad: q, unit: unit, units: units)
    }
}

/// Sixteen dwords, lane 0 first (`_mm512_setr_epi32` is a C macro Swift cannot import).
@inline(__always) func dwords(_ d0: Int32, _ d1: Int32, _ d2: Int32, _ d3: Int32, _ d4: Int32, _ d5: Int32, _ d6: Int32,
                              _ d7: Int32, _ d8: Int32, _ d9: Int32, _ d10: Int32, _ d11: Int32, _ d12: Int32,
                              _ d13: Int32, _ d14: Int32, _ d15: Int32) -> __m512i {
    _mm512_set_epi32(d15, d14, d13, d12, d11, d10, d9, d8, d7, d6, d5, d4, d3, d2, d1, d0)
}

@inline(__always) func load512(_ p: UnsafePointer<UInt8>) -> __m512i { _mm512_loadu_si512(UnsafeRawPointer(p)) }

/// 2-bit codes: byte b of a unit holds columns b, b+32, b+64, b+96 (bits 0–1, 2–3, 4–5, 6–7),
/// so vector n is (bytes >> 2n) & 3 and the activations stay in column order.
enum TwoBitRowPairs: RowPairDecoder {
    @inline(__always) static func quad(_ rows: UnsafePointer<UInt8>, quad q: Int, unit: Int, units: Int) -> ZQuad {
        let x = load512(rows + q &* unit), m = _mm512_set1_epi8(3)
        return (_mm512_and_si512(x, m), _mm512_and_si512(_mm512_srli_epi16(x, 2), m),
                _mm512_and_si512(_mm512_srli_epi16(x, 4), m), _mm512_and_si512(_mm512_srli_epi16(x, 6), m))
    }
    @inline(__always) static func bytesBefore(quad q: Int, unit: Int) -> Int { q &* unit }
    static var quadsPerSpan: Int { 1 }
    @inline(__always) static func quad(span: UnsafePointer<UInt8>, quad j: Int, unit: Int) -> ZQuad {
        quad(span, quad: j, unit: unit, units: j &+ 1)
    }
}

/// The same 2-bit codes, vectors 1–3 taken out with one GF2P8AFFINEQB each instead of a shift
/// and an AND. With one set bit per matrix row the affine map is a bit permutation of each
/// byte: result bit i = source bit `row(7 − i)`, so rows 7 and 6 = bits 2n and 2n + 1 bring
/// code n down to bits 0–1 and clear the rest:
///
///     matrix(n) = (1 << 2n) << 56  |  (1 << (2n + 1)) << 48
///
/// Faster than the shift and AND when the weights are in cache; cold runs stream from DRAM
/// either way.
enum TwoBitGFNIRowPairs: RowPairDecoder {
    @inline(__always) static func quad(_ rows: UnsafePointer<UInt8>, quad q: Int, unit: Int, units: Int) -> ZQuad {
        let x = load512(rows + q &* unit)
        @inline(__always) func code(_ n: Int64) -> __m512i {
            tritbench_gf2p8affine(x, _mm512_set1_epi64((1 &<< (2 &* n)) &<< 56 | (1 &<< (2 &* n &+ 1)) &<< 48))
        }
        return (_mm512_and_si512(x, _mm512_set1_epi8(3)), code(1), code(2), code(3))
    }
    @inline(__always) static func bytesBefore(quad q: Int, unit: Int) -> Int { TwoBitRowPairs.bytesBefore(quad: q, unit: unit) }
    static var quadsPerSpan: Int { 1 }
    @inline(__always) static func quad(span: UnsafePointer<UInt8>, quad j: Int, unit: Int) -> ZQuad {
        quad(span, quad: j, unit: unit, units: j &+ 1)
    }
}

/// Base-3, 10 trits per 16-bit lane (`Base3TernaryMatrix`): vector v of a row is pair
/// i = v % 5 of block v / 5. q = stored · 9^i mod 2^16 brings trits 2i, 2i+1 to the top of the
/// lane and u = (q · 9) >> 16 = 3·t_2i + t_2i+1 ∈ [0, 8] (`vpmulhuw`; exact, see `Base3Decoder`
/// in TritKernelsAVX2). One `vpermw` then maps u to the word t_2i | t_2i+1 << 8, i.e. both codes
/// in place as bytes 2l, 2l+1 of the lane: no pack and no byte shuffles, at the price of a
/// column order inside each 32-column vector that the caller matches once per call
/// (`VNNIKernels.interleaveBase3WordPairs`). Within a quad, q of the next pair is q · 9.
///
///     u:     0  1  2  3  4  5  6  7  8
///     word: 00 01 02 10 11 12 20 21 22   (t_2i, t_2i+1)
enum Base3RowPairs: RowPairDecoder {
    /// Words u ↦ (u / 3) | (u % 3) << 8 for u = 0…8 (entries 9…31 are never indexed).
    @inline(__always) static var table: __m512i {
        dwords(0x0100_0000, 0x0001_0200, 0x0201_0101, 0x0102_0002, 0x0000_0202, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    }
    @inline(__always) static func power9(_ i: Int) -> Int16 { Base3Multiplier.power9(i) }
    @inline(__always) static func codes(_ q: __m512i) -> __m512i {
        _mm512_permutexvar_epi16(_mm512_mulhi_epu16(q, _mm512_set1_epi16(9)), table)
    }

    @inline(__always) static func quad(_ rows: UnsafePointer<UInt8>, quad q: Int, unit: Int, units: Int) -> ZQuad {
        var out = (_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512())
        for n in 0..<4 {
            let v = q &* 4 &+ n, block = v / 5
            // Past the row's last block (the quads of a short last group): no codes. The
            // activations there are zero, so the sums are unchanged.
            guard block < units else { break }
            let c = codes(_mm512_mullo_epi16(load512(rows + block &* unit), _mm512_set1_epi16(power9(v &- block &* 5))))
            switch n { case 0: out.0 = c; case 1: out.1 = c; case 2: out.2 = c; default: out.3 = c }
        }
        return out
    }
    @inline(__always) static func bytesBefore(quad q: Int, unit: Int) -> Int { (q &* 4 / 5) &* unit }
    /// Five quads = 20 vectors = four whole blocks.
    static var quadsPerSpan: Int { 5 }
    @inline(__always) static func quad(span: UnsafePointer<UInt8>, quad j: Int, unit: Int) -> ZQuad {
        var q = _mm512_setzero_si512()
        @inline(__always) func vector(_ n: Int) -> __m512i {
            let v = 4 &* j &+ n, block = v / 5, i = v % 5
            if n == 0 || i == 0 {
                let x = load512(span + block &* unit)
                q = i == 0 ? x : _mm512_mullo_epi16(x, _mm512_set1_epi16(power9(i)))
            } else {
                q = _mm512_add_epi16(q, _mm512_slli_epi16(q, 3))   // q · 9
            }
            return codes(q)
        }
        let c0 = vector(0), c1 = vector(1), c2 = vector(2), c3 = vector(3)
        return (c0, c1, c2, c3)
    }

    /// A quad whose vectors all lie inside the row is decoded as quad q % 5 of its span, picked
    /// by a switch whose pattern repeats every 5 quads (the branch predicts); the row's last,
    /// partial quads take the index-driven `quad(_:quad:unit:units:)`. This serves groups that
    /// do not line up with spans: per-row scales (one group per row) and K not a multiple of
    /// 640 (576, 1536). Why: the index-driven decode takes each vector's block and power at
    /// run time, which costs about twice the cycles per weight of the span decode.
    @inline(__always) static func anyQuad(_ rows: UnsafePointer<UInt8>, quad q: Int, unit: Int, units: Int) -> ZQuad {
        let s = q / 5, j = q &- s &* 5
        // Vectors 4q…4q+3 lie in blocks ⌊4q/5⌋…⌊(4q+3)/5⌋.
        guard (4 &* q &+ 3) / 5 < units else { return quad(rows, quad: q, unit: unit, units: units) }
        let span = rows + bytesBefore(quad: s &* 5, unit: unit)
        switch j {
        case 0: return quad(span: span, quad: 0, unit: unit)
        case 1: return quad(span: span, quad: 1, unit: unit)
        case 2: return quad(span: span, quad: 2, unit: unit)
        case 3: return quad(span: span, quad: 3, unit: unit)
        default: return quad(span: span, quad: 4, unit: unit)
        }
    }
}
#endif
