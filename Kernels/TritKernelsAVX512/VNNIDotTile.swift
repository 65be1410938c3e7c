// TritKernelsAVX512: the AVX-512 VNNI inner loop of the ternary GEMM. Compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx512vnni (on top of the AVX2 flags); TritKernels calls in
// here only when CPUID reports AVX512-VNNI and AVX512VL and the OS saves the ZMM state
// (TritCore.CPUFeatures.supportsVNNIKernels). Only 256-bit vectors are used: `vpdpbusd ymm`
// with AVX512VL, so the 32 vector registers are available without 512-bit frequency effects.

#if arch(x86_64)
import _Builtin_intrinsics.intel
import TritKernelsAVX2

public enum VNNIKernels {
    /// GEMM over row-interleaved tiles: each 8-row tile is decoded once
    /// (`AVX2Kernels.decodeRowInterleavedTile`, 8 rows × K bytes per plane, L1/L2-sized), then
    /// every block of up to 16 tokens sweeps it. One `vpdpbusd` multiplies a vector of 4 columns ×
    /// 8 rows of codes by 4 activation bytes broadcast to every lane and adds the 4 products into
    /// that row's int32 lane, so each accumulator already holds the 8 rows' Σ code·q in the
    /// epilogue's [group][row % 8] order: no horizontal sums, no int16 stage, any group length
    /// (|Σ code·q| ≤ 2·128·K stays far inside int32 for any K a model has).
    ///
    /// Per 32 multiply-adds: one `vpdpbusd` with its broadcast folded into the memory operand,
    /// and a sixteenth of a code load; the AVX2 tile loop needs a `vpmaddubsw`, an add and a
    /// share of the `vphaddw` tree for the same work.
    ///
    /// Needs `a.tokenInterleaved` (see `interleaveTokens`); `scratch`: Int32 room for 16 tokens ×
    /// planes × groups × 8; `codes`: one tile's `AVX2LayerArguments.decodedCount` bytes.
    public static func dotTiles(_ a: AVX2LayerArguments, layout: AVX2CodeLayout, tiles: Range<Int>,
                                scratch: UnsafeMutablePointer<Int32>, codes: UnsafeMutablePointer<UInt8>) {
        precondition(a.tokenInterleaved != nil, "VNNIKernels.dotTiles: the activations were not token-interleaved")
        let perToken = a.planes * a.groups * 8
        let c = UnsafePointer(codes)
        for tile in tiles {
            AVX2Kernels.decodeRowInterleavedTile(a, layout: layout, tile: tile, into: codes)
            forEachTokenBlock(a.tokens) { t0, n in
                switch n {
                case 16: block(T16.self, a, c, t0, scratch)
                case 8: block(T8.self, a, c, t0, scratch)
                case 4: block(T4.self, a, c, t0, scratch)
                case 2: block(T2.self, a, c, t0, scratch)
                default: block(T1.self, a, c, t0, scratch)
                }
                for i in 0..<n { AVX2Kernels.epilogue(a, tile, t0 + i, scratch + i * perToken) }
            }
        }
    }

    /// Tokens per sweep of a decoded tile (the register block: 16 int32 accumulators + a code
    /// vector fit the 32 ymm registers AVX512VL gives).
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
    ///     out[t0 · stride + ((q · 32 + j) · n + i) · 4 + b] = x[(t0 + i) · stride + 128q + 4j + b]
    ///
    ///     4-byte groups of one block:  | tok 0 c0–3 | tok 1 c0–3 | … | tok n−1 c0–3 | tok 0 c4–7 | …
    ///
    /// so the n broadcasts of one step read n consecutive dwords at constant offsets from one
    /// pointer (no per-token address arithmetic in the loop). Once per forward call.
    public static func interleaveTokens(_ x: UnsafePointer<Int8>, stride: Int, tokens: Int, quads: Int,
                                        into out: UnsafeMutablePointer<Int8>) {
        precondition(quads * 128 <= stride, "interleaveTokens: \(quads) quads do not fit a \(stride)-byte row")
        let src = UnsafeRawPointer(x), dst = UnsafeMutableRawPointer(out)
        forEachTokenBlock(tokens) { t0, n in
            let base = dst + t0 &* stride
            for i in 0..<n {
                let row = src + (t0 &+ i) &* stride
                for k in 0..<(quads &* 32) {
                    base.storeBytes(of: row.loadUnaligned(fromByteOffset: k &* 4, as: UInt32.self),
                                    toByteOffset: (k &* n &+ i) &* 4, as: UInt32.self)
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

    /// Sixteen int32 accumulators (AVX-512VL gives 32 ymm registers) by constant indices.
    struct Acc16 {
        var a = Acc8(), b = Acc8()
        @inline(__always) subscript(i: Int) -> __m256i {
            get { i < 8 ? a[i] : b[i &- 8] }
            set { if i < 8 { a[i] = newValue } else { b[i &- 8] = newValue } }
        }
    }

    /// Eight int32 accumulators addressed by constant indices after inlining.
    struct Acc8 {
        var v0 = _mm256_setzero_si256(), v1 = _mm256_setzero_si256(), v2 = _mm256_setzero_si256(), v3 = _mm256_setzero_si256()
        var v4 = _mm256_setzero_si256(), v5 = _mm256_setzero_si256(), v6 = _mm256_setzero_si256(), v7 = _mm256_setzero_si256()
        @inline(__always) subscript(i: Int) -> __m256i {
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

    /// T tokens from `t0` over the decoded tile: int32 Σ code·q into scratch
    /// [token][plane][group][row % 8].
    @inline(never)
    static func block<T: TokenCount>(_ t: T.Type, _ a: AVX2LayerArguments, _ codes: UnsafePointer<UInt8>, _ t0: Int,
                                     _ scratch: UnsafeMutablePointer<Int32>) {
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
        let quads = a.quadsPerRow, quadsPerGroup = a.quadsPerGroup, groups = a.groups
        let perToken = a.planes * groups * 8
        let acts = UnsafeRawPointer(a.tokenInterleaved! + t0 &* a.actStride)
        for p in 0..<a.planes {
            for g in 0..<groups {
                let q0 = g &* quadsPerGroup, q1 = min(q0 &+ quadsPerGroup, quads)
                var acc = Acc16()
                for q in q0..<q1 {
                    let c = UnsafeRawPointer(codes + (p &* quads &+ q) &* 1024)
                    let xq = acts + q &* 128 &* nt
                    for j in 0..<32 {
                        let cv = _mm256_loadu_si256(c.advanced(by: j &* 32).assumingMemoryBound(to: __m256i_u.self))
                        let x = xq + j &* 4 &* nt
                        unrolled(nt) { n in
                            let xv = _mm256_set1_epi32(x.loadUnaligned(fromByteOffset: n &* 4, as: Int32.self))
                            acc[n] = _mm256_mask_dpbusd_epi32(acc[n], 0xFF, cv, xv)
                        }
                    }
                }
                let dst = UnsafeMutableRawPointer(scratch + (p &* groups &+ g) &* 8)
                unrolled(nt) { n in
                    _mm256_storeu_si256((dst + n &* perToken &* 4).assumingMemoryBound(to: __m256i_u.self), acc[n])
                }
            }
        }
    }
}
#endif
