// TritKernelsAVX512: the AVX-512 VNNI inner loop of the ternary GEMM. Compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx512vnni (on top of the AVX2 flags); TritKernels calls in
// here only when CPUID reports AVX512-VNNI and AVX512VL and the OS saves the ZMM state
// (TritCore.CPUFeatures.supportsVNNIKernels).
//
// Why 512-bit `vpdpbusd` here: with a broadcast activation operand, a throughput loop on this
// VM's Zen 4 ran 1.21–1.70 ymm `vpdpbusd`/cycle ({1to8} dword broadcasts) against 0.96 zmm/cycle
// = 1.91 ymm-equivalents with a qword broadcast per zmm (`/tmp` C harness, same session). Zen 4
// splits a zmm instruction into two halves but spends one scheduler slot and one load on it.
// (On Skylake-X/Cascade Lake, zmm code lowers the clock; those CPUs run this loop too.)
//
// Why not table lookups, as `lut243` does for GEMV: at 64 tokens every token needs its own
// tables, so a lookup can only be shared across tokens, not rows. The layout for that puts 32
// tokens' int16 partial sums of 5 activations in one 64-byte table row, T[position][byte], and
// each weight byte adds the row it selects: 160 multiply-adds per `vpaddw`, against 64 per
// `vpdpbusd`. A C prototype of that loop (2048×2048, 64 tokens, 1 thread, 128-column groups,
// exact, tables built per group of 26 positions = 404 KiB) ran 142–181 G MAC/s (best of 15,
// 2 processes), and 224–232 G MAC/s with the tables forced into L1 (a timing experiment with
// wrong results), against the 235 G MAC/s `vpdpbusd` peak `Roofline` measures here and the
// 162 G MAC/s this tile reaches: 2–3 cycles per lookup, one 512-bit load per cycle and an L1
// miss per lookup. So the GEMM stays on `vpdpbusd`, and 64 tokens at ≥ 5× GEMV's per-token
// throughput (issue 4) would need 1.6× that peak on 1 thread: GEMV streams at DRAM speed,
// the GEMM is compute-bound.

#if arch(x86_64)
import _Builtin_intrinsics.intel
import TritKernelsAVX2

public enum VNNIKernels {
    /// GEMM over row-interleaved tiles: each 8-row tile is decoded once
    /// (`AVX2Kernels.decodeRowInterleavedTile`, 8 rows × K bytes per plane, L1/L2-sized), then
    /// every block of up to 16 tokens sweeps it. Block k of the decoded tile (8 columns × 8
    /// rows) is one 64-byte zmm, and a token's 8 activation bytes of those columns are one qword
    /// broadcast to all eight 64-bit lanes:
    ///
    ///     dword lane:   2r                  |  2r + 1
    ///     codes:        row r, cols 8k…8k+3 |  row r, cols 8k+4…8k+7
    ///     activations:  bytes 8k…8k+3       |  bytes 8k+4…8k+7
    ///
    /// so one `vpdpbusd zmm` adds 4 products into each lane, and at the end of a scale group each
    /// lane pair summed (`vpsrlq` + `vpaddd` + `vpmovqd`) gives row r's Σ code·q in the epilogue's
    /// [group][row % 8] order: no int16 stage, any group length (|Σ code·q| ≤ 2·128·K stays far
    /// inside int32 for any K a model has).
    ///
    /// Per 64 multiply-adds: one `vpdpbusd zmm`, one qword broadcast load and a sixteenth of a
    /// code load; the AVX2 tile loop needs two `vpmaddubsw`, adds and a share of the `vphaddw`
    /// tree for the same work.
    ///
    /// The float epilogue runs inside the sweep, two tokens per zmm, at the end of each
    /// (group, plane): see `block`.
    ///
    /// Needs `a.tokenInterleaved` (see `interleaveTokens`); `codes`: one tile's
    /// `AVX2LayerArguments.decodedCount` bytes.
    public static func dotTiles(_ a: AVX2LayerArguments, layout: AVX2CodeLayout, tiles: Range<Int>,
                                codes: UnsafeMutablePointer<UInt8>) {
        precondition(a.tokenInterleaved != nil, "VNNIKernels.dotTiles: the activations were not token-interleaved")
        let c = UnsafePointer(codes)
        for tile in tiles {
            AVX2Kernels.decodeRowInterleavedTile(a, layout: layout, tile: tile, into: codes)
            forEachTokenBlock(a.tokens) { t0, n in
                switch n {
                case 16: block(T16.self, a, c, t0, tile)
                case 8: block(T8.self, a, c, t0, tile)
                case 4: block(T4.self, a, c, t0, tile)
                case 2: block(T2.self, a, c, t0, tile)
                default: block(T1.self, a, c, t0, tile)
                }
            }
        }
    }

    /// Tokens per sweep of a decoded tile (the register block: 16 int32 zmm accumulators + a
    /// code vector fit the 32 vector registers of AVX-512).
    public static let tokenBlock = 16

    /// The token blocks a call walks, in order: blocks of 16, then at most one each of 8, 4, 2, 1.
    /// `interleaveTokens` and `dotTiles` both follow it.
    @inline(__always)
    public static func forEachTokenBlock(_ tokens: Int, _ body: (_ first: Int, _ count: Int) -> Void) {
        var t0 = 0
        while t0 < tokens {
            let left = tokens - t0
            let n = left >= 16 ? 16 : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1
            body(t0, n)
            t0 += n
        }
    }

    /// Copies `tokens` activation rows (`stride` bytes apart, `quads` 128-column quads each) into
    /// the layout `dotTiles` reads: per token block (`forEachTokenBlock`) of n tokens from t0,
    ///
    ///     out[t0 · stride + ((q · 16 + k) · n + i) · 8 + b] = x[(t0 + i) · stride + 128q + 8k + b]
    ///
    ///     8-byte groups of one block:  | tok 0 c0–7 | tok 1 c0–7 | … | tok n−1 c0–7 | tok 0 c8–15 | …
    ///
    /// so the n broadcasts of one step read n consecutive qwords at constant offsets from one
    /// pointer (no per-token address arithmetic in the loop). Once per forward call.
    public static func interleaveTokens(_ x: UnsafePointer<Int8>, stride: Int, tokens: Int, quads: Int,
                                        into out: UnsafeMutablePointer<Int8>) {
        precondition(quads * 128 <= stride, "interleaveTokens: \(quads) quads do not fit a \(stride)-byte row")
        let src = UnsafeRawPointer(x), dst = UnsafeMutableRawPointer(out)
        forEachTokenBlock(tokens) { t0, n in
            let base = dst + t0 &* stride
            for i in 0..<n {
                let row = src + (t0 &+ i) &* stride
                for k in 0..<(quads &* 16) {
                    base.storeBytes(of: row.loadUnaligned(fromByteOffset: k &* 8, as: UInt64.self),
                                    toByteOffset: (k &* n &+ i) &* 8, as: UInt64.self)
                }
            }
        }
    }

    /// Tokens in a register block, as types so each block gets a loop with constant trip counts.
    protocol TokenCount { static var count: Int { get } }
    enum T16: TokenCount { static var count: Int { 16 } }
    enum T8: TokenCount { static var count: Int { 8 } }
    enum T4: TokenCount { static var count: Int { 4 } }
    enum T2: TokenCount { static var count: Int { 2 } }
    enum T1: TokenCount { static var count: Int { 1 } }

    /// Sixteen int32 zmm accumulators (AVX-512 gives 32 vector registers) by constant indices.
    struct Acc16 {
        var a = Eight(_mm512_setzero_si512()), b = Eight(_mm512_setzero_si512())
        @inline(__always) subscript(i: Int) -> __m512i {
            get { i < 8 ? a[i] : b[i &- 8] }
            set { if i < 8 { a[i] = newValue } else { b[i &- 8] = newValue } }
        }
    }

    /// Eight registers (int32 accumulators, or float sums of two tokens each) addressed by
    /// constant indices after inlining, so they stay in registers.
    struct Eight<V> {
        var v0, v1, v2, v3, v4, v5, v6, v7: V
        @inline(__always) init(_ v: V) { (v0, v1, v2, v3, v4, v5, v6, v7) = (v, v, v, v, v, v, v, v) }
        @inline(__always) subscript(i: Int) -> V {
            get {
                switch i { case 0: return v0; case 1: return v1; case 2: return v2; case 3: return v3
                           case 4: return v4; case 5: return v5; case 6: return v6; default: return v7 }
            }
            set {
                switch i { case 0: v0 = newValue; case 1: v1 = newValue; case 2: v2 = newValue; case 3: v3 = newValue
                           case 4: v4 = newValue; case 5: v5 = newValue; case 6: v6 = newValue; default: v7 = newValue }
            }
        }
    }

    /// T tokens from `t0` over the decoded tile, writing their 8 rows of y.
    ///
    /// Groups outer, planes inner, so the float sums take the order of `AVX2Kernels.epilogue`
    /// and the scalar reference per row: s += α₀·(Σ₀ − Σq), s += α₁·(Σ₁ − Σq), s += μ·Σq per
    /// group in turn, then y = s·d (+ bias); y is bit-identical to the reference. Tokens 2i and
    /// 2i + 1 share a zmm of sums (rows of 2i in lanes 0–7, of 2i + 1 in 8–15): one lane-pair
    /// fold (`vpermt2d` even + odd lanes of both accumulators), then sub, convert, multiply, add
    /// for both. It replaced an int32-scratch round trip and a per-token ymm epilogue, which
    /// were slower on 1 and 2 threads.
    @inline(never)
    static func block<T: TokenCount>(_ t: T.Type, _ a: AVX2LayerArguments, _ codes: UnsafePointer<UInt8>, _ t0: Int,
                                     _ tile: Int) {
        let nt = T.count
        /// body(0) … body(n − 1) written out (LLVM leaves a 16-trip loop over a switch-indexed
        /// accumulator rolled, which spills the accumulators through a jump table).
        @inline(__always) func unrolled(_ n: Int, _ body: (Int) -> Void) {
            @inline(__always) func eight(_ o: Int) {
                body(o); body(o + 1); body(o + 2); body(o + 3); body(o + 4); body(o + 5); body(o + 6); body(o + 7)
            }
            switch n {
            case 16: eight(0); eight(8)
            case 8: eight(0)
            default: for i in 0..<n { body(i) }
            }
        }
        /// Token pairs: body(0), body(1), … for pairs (0, 1), (2, 3), …; one pair for a single token.
        @inline(__always) func pairs(_ body: (Int) -> Void) {
            switch nt {
            case 16: body(0); body(1); body(2); body(3); body(4); body(5); body(6); body(7)
            case 8: body(0); body(1); body(2); body(3)
            default: for i in 0..<((nt &+ 1) / 2) { body(i) }
            }
        }
        let quads = a.quadsPerRow, quadsPerGroup = a.quadsPerGroup, groups = a.groups
        let acts = UnsafeRawPointer(a.tokenInterleaved! + t0 &* a.actStride)
        let even = dwords(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
        let odd = dwords(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
        /// Token t0 + 2i + h's value of `per(t)` for h = 0 (lanes 0–7) and 1 (lanes 8–15); a
        /// single token repeats itself.
        @inline(__always) func pairOf(_ i: Int, _ per: (Int) -> Int32) -> __m512i {
            let first = t0 &+ 2 &* i, second = nt == 1 ? first : first &+ 1
            return _mm512_mask_set1_epi32(_mm512_set1_epi32(per(first)), 0xFF00, per(second))
        }
        /// 8 Float16 side values of the tile in both halves.
        @inline(__always) func twice(_ p: UnsafePointer<UInt16>) -> __m512 {
            let v = _mm256_cvtph_ps(_mm_loadu_si128(UnsafeRawPointer(p).assumingMemoryBound(to: __m128i_u.self)))
            return __m512(lowHalf: v, highHalf: v)
        }
        var s = Eight(_mm512_setzero_ps())
        for g in 0..<groups {
            let q0 = g &* quadsPerGroup, q1 = min(q0 &+ quadsPerGroup, quads)
            let side = (tile &* groups &+ g) &* 8
            for p in 0..<a.planes {
                var acc = Acc16()
                for q in q0..<q1 {
                    let c = UnsafeRawPointer(codes + (p &* quads &+ q) &* 1024)
                    let xq = acts + q &* 128 &* nt
                    for k in 0..<16 {
                        let cv = _mm512_loadu_si512(c + k &* 64)
                        let x = xq + k &* 8 &* nt
                        unrolled(nt) { n in
                            let xv = _mm512_set1_epi64(x.loadUnaligned(fromByteOffset: n &* 8, as: Int64.self))
                            acc[n] = _mm512_dpbusd_epi32(acc[n], cv, xv)
                        }
                    }
                }
                let alpha = twice(p == 0 ? a.scales0 + side : a.scales1! + side)
                pairs { i in
                    // Lane 2r + 1 holds row r's other 4 columns of each step.
                    let u = acc[2 &* i], v = nt == 1 ? u : acc[2 &* i &+ 1]
                    let rows = _mm512_add_epi32(_mm512_permutex2var_epi32(u, even, v), _mm512_permutex2var_epi32(u, odd, v))
                    let qs = pairOf(i) { a.groupSums[$0 &* groups &+ g] }
                    s[i] = _mm512_add_ps(s[i], _mm512_mul_ps(alpha, _mm512_cvtepi32_ps(_mm512_sub_epi32(rows, qs))))
                }
            }
            if let mu = a.offsets {
                let m = twice(mu + side)
                pairs { i in
                    s[i] = _mm512_add_ps(s[i], _mm512_mul_ps(m, _mm512_cvtepi32_ps(pairOf(i) { a.groupSums[$0 &* groups &+ g] })))
                }
            }
        }
        let valid = min(8, a.rows &- tile &* 8)
        pairs { i in
            let d = _mm512_castsi512_ps(pairOf(i) { Int32(bitPattern: a.actScales[$0].bitPattern) })
            var y = _mm512_mul_ps(s[i], d)
            if let b = a.bias { y = _mm512_add_ps(y, twice(b + tile &* 8)) }
            for h in 0..<min(2, nt) {
                let token = t0 &+ 2 &* i &+ h
                let out = a.y + (token &* a.rows &+ tile &* 8)
                let half: SIMD8<Float> = h == 0 ? y.lowHalf : y.highHalf
                if valid == 8 {
                    UnsafeMutableRawPointer(out).storeBytes(of: half, as: SIMD8<Float>.self)
                } else {
                    for r in 0..<valid { out[r] = half[r] }
                }
            }
        }
    }
}
#endif
