// TritKernelsAVX2: the AVX2 inner loops of the ternary kernels. Compiled with
// -mavx2 -mfma -mbmi2 -mf16c; TritKernels calls in here only after a run-time CPUID check
// (TritCore.CPUFeatures.supportsAVX2Kernels). This target knows nothing of formats or
// configurations: it receives raw pointers and integers in `AVX2LayerArguments`.

/// Everything an AVX2 tile loop needs, as raw pointers. Filled in by TritKernels once per
/// forward call; one value serves every thread (each passes its own tile range and scratch).
public struct AVX2LayerArguments {
    /// Packed trits of plane 0, row 0. Plane p, row r, 32-byte unit u lives at
    /// `weights + p·planeStride + (r/8)·tileStride + (r%8)·rowStride + u·unitStride`
    /// (LUT: tile t of 32 rows at `weights + t·tileStride`).
    public var weights: UnsafePointer<UInt8>
    public var rowStride: Int
    public var unitStride: Int
    public var tileStride: Int
    public var planeStride: Int
    public var planes: Int
    public var rows: Int
    public var groups: Int
    /// 128-column quads per scale group, and in a whole row (the last group may be shorter).
    public var quadsPerGroup: Int
    public var quadsPerRow: Int
    /// Quantized activations: token t at `acts + t·actStride`, zero-padded past the columns.
    public var acts: UnsafePointer<Int8>
    public var actStride: Int
    /// Per-token dequantization factor (absmax / 127).
    public var actScales: UnsafePointer<Float>
    /// Per-token per-group Σ q: token t group g at `groupSums[t·groups + g]`.
    public var groupSums: UnsafePointer<Int32>
    /// Float16 side data tiled [row/8][group][row%8]; bias per row (rows padded to 8).
    public var scales0: UnsafePointer<UInt16>
    public var scales1: UnsafePointer<UInt16>?
    public var offsets: UnsafePointer<UInt16>?
    public var bias: UnsafePointer<UInt16>?
    /// Output: token t row r at `y[t·rows + r]`.
    public var y: UnsafeMutablePointer<Float>
    public var tokens: Int
    public var rowBlock: Int
    public var tokenBlock: Int
    /// Quads (or LUT column groups) summed in int16 before widening to int32.
    public var depth: Int
    /// Bytes ahead of the current weight position to prefetch (prefetcht0; 0: none).
    public var prefetchBytes: Int
    /// LUT only: activation tables, token t column group m at `tables + t·tableStride + m·32`.
    public var tables: UnsafePointer<UInt8>?
    public var tableStride: Int
    /// GEMM only: `decodedCount` bytes of this thread's scratch for one tile's decoded codes
    /// (nil: decode per token block instead).
    public var decoded: UnsafeMutablePointer<UInt8>?
    /// VNNI GEMM only: the activations in `VNNIKernels.interleaveTokens`' layout.
    public var tokenInterleaved: UnsafePointer<Int8>?
    /// 32-column vectors of a row's last quad that hold real columns (1…4; 2 for K = 576).
    /// The fused GEMV skips the others, whose products are 0 (zero-padded activations).
    public var lastQuadVectors = 4

    public init(weights: UnsafePointer<UInt8>, rowStride: Int, unitStride: Int, tileStride: Int, planeStride: Int,
                planes: Int, rows: Int,
                groups: Int, quadsPerGroup: Int, quadsPerRow: Int, acts: UnsafePointer<Int8>, actStride: Int,
                actScales: UnsafePointer<Float>, groupSums: UnsafePointer<Int32>,
                scales0: UnsafePointer<UInt16>, scales1: UnsafePointer<UInt16>?,
                offsets: UnsafePointer<UInt16>?, bias: UnsafePointer<UInt16>?,
                y: UnsafeMutablePointer<Float>, tokens: Int, rowBlock: Int, tokenBlock: Int, depth: Int,
                prefetchBytes: Int, tables: UnsafePointer<UInt8>? = nil, tableStride: Int = 0,
                decoded: UnsafeMutablePointer<UInt8>? = nil, tokenInterleaved: UnsafePointer<Int8>? = nil) {
        self.decoded = decoded; self.tokenInterleaved = tokenInterleaved
        self.weights = weights; self.rowStride = rowStride; self.unitStride = unitStride
        self.tileStride = tileStride; self.planeStride = planeStride
        self.planes = planes; self.rows = rows; self.groups = groups
        self.quadsPerGroup = quadsPerGroup; self.quadsPerRow = quadsPerRow
        self.acts = acts; self.actStride = actStride; self.actScales = actScales; self.groupSums = groupSums
        self.scales0 = scales0; self.scales1 = scales1; self.offsets = offsets; self.bias = bias
        self.y = y; self.tokens = tokens; self.rowBlock = rowBlock; self.tokenBlock = tokenBlock
        self.depth = depth; self.prefetchBytes = prefetchBytes; self.tables = tables; self.tableStride = tableStride
    }

    /// Packed data of `plane`, row `row` (the layout in `weights`' comment; rows of a tile are
    /// `rowStride` apart, tiles `tileStride`, planes `planeStride`).
    @inline(__always)
    public func rowPointer(plane: Int, row: Int) -> UnsafePointer<UInt8> {
        weights + (plane &* planeStride &+ (row / 8) &* tileStride &+ (row % 8) &* rowStride)
    }

    /// Bytes of decoded codes one 8-row tile takes (every plane and quad, 128 bytes per row).
    public static func decodedCount(planes: Int, quadsPerRow: Int) -> Int { planes * quadsPerRow * 8 * 128 }

    /// Int32 scratch one thread needs: [token in block][plane][group][8 rows] (LUT: 4 sub-tiles).
    public static func scratchCount(groups: Int, planes: Int, tokenBlock: Int, subTiles: Int = 1) -> Int {
        tokenBlock * planes * groups * 8 * subTiles
    }
}

/// Which packed layout an AVX2 decode + `vpmaddubsw` loop reads.
public enum AVX2CodeLayout: Sendable {
    case twoBit, base3, bitmask
}

#if arch(x86_64)
import _Builtin_intrinsics.intel
import CTritSupport

public enum AVX2Kernels {
    /// Decode + multiply-add over tiles of 8 rows `tiles`, every token, writing y. For `.base3`
    /// each token's activations must first go through `interleaveBase3Activations`.
    public static func maddTiles(_ a: AVX2LayerArguments, layout: AVX2CodeLayout, tiles: Range<Int>,
                                 scratch: UnsafeMutablePointer<Int32>) {
        switch layout {
        case .twoBit: maddTiles(TwoBitDecoder.self, a, tiles, scratch)
        case .base3: maddTiles(Base3Decoder.self, a, tiles, scratch)
        case .bitmask: maddTiles(BitmaskDecoder.self, a, tiles, scratch)
        }
    }

    /// Permutes `count` activation bytes (a multiple of 64) in place into the order the base-3
    /// decoder produces codes in: per 64 columns A = x[0..<32], B = x[32..<64],
    ///     x′[0..<32]  = vpunpcklqdq(A, B) = [A 0–7, B 0–7 | A 16–23, B 16–23]
    ///     x′[32..<64] = vpunpckhqdq(A, B) = [A 8–15, B 8–15 | A 24–31, B 24–31]
    /// Columns move only within their 64-column half of a 128-column group, so per-group Σq
    /// are unchanged. Call once per token before `maddTiles(layout: .base3)`.
    public static func interleaveBase3Activations(_ x: UnsafeMutablePointer<Int8>, count: Int) {
        precondition(count % 64 == 0, "interleaveBase3Activations: \(count) bytes, not a multiple of 64")
        var p = UnsafeMutableRawPointer(x)
        for _ in 0..<(count / 64) {
            let a = load256(p), b = load256(p + 32)
            store256(p, _mm256_unpacklo_epi64(a, b))
            store256(p + 32, _mm256_unpackhi_epi64(a, b))
            p += 64
        }
    }

    @inline(__always)
    static func maddTiles<D: QuadDecoder>(_ d: D.Type, _ a: AVX2LayerArguments, _ tiles: Range<Int>,
                                          _ scratch: UnsafeMutablePointer<Int32>) {
        if let codes = a.decoded, a.tokens >= 4, a.quadsPerGroup == 1 {
            decodedTiles(D.self, a, tiles, scratch, codes)
            return
        }
        // 8-pair blocks keep int16 accumulators only, widened once per scale group.
        let wide = a.quadsPerGroup <= a.depth
        // GEMV, one or two planes, 128-column groups, 4-row blocks: full tiles take the fused loop.
        let fused = a.tokens == 1 && a.planes <= 2 && a.quadsPerGroup == 1 && a.rowBlock == 4
        for tile in tiles {
            let r0 = tile * 8, rEnd = min(r0 + 8, a.rows)
            if fused && rEnd - r0 == 8 {
                fusedGEMVTile(D.self, a, tile)
                continue
            }
            var t0 = 0
            while t0 < a.tokens {
                let nc = min(a.tokenBlock, a.tokens - t0)
                for p in 0..<a.planes {
                    var r = r0
                    while r < rEnd {
                        let rb = r + a.rowBlock <= rEnd ? a.rowBlock : 1
                        switch (rb, nc) {
                        case (2, 4) where wide: wideBlock(D.self, R2T4.self, a, p, r, t0, scratch)
                        case (4, 2) where wide: wideBlock(D.self, R4T2.self, a, p, r, t0, scratch)
                        case (2, 4), (4, 2):
                            // The group is longer than int16Depth: 2 × 2 pairs widening as they go.
                            for i in stride(from: 0, to: rb, by: 2) {
                                for n in stride(from: 0, to: nc, by: 2) {
                                    rowBlock(D.self, R2T2.self, a, p, r + i, t0 + n, scratch + n * a.planes * a.groups * 8)
                                }
                            }
                        case (4, 1): rowBlock(D.self, R4T1.self, a, p, r, t0, scratch)
                        case (2, 1): rowBlock(D.self, R2T1.self, a, p, r, t0, scratch)
                        case (2, 2): rowBlock(D.self, R2T2.self, a, p, r, t0, scratch)
                        case (1, 4): rowBlock(D.self, R1T4.self, a, p, r, t0, scratch)
                        case (1, 3): rowBlock(D.self, R1T3.self, a, p, r, t0, scratch)
                        case (1, 2): rowBlock(D.self, R1T2.self, a, p, r, t0, scratch)
                        default:
                            // Any other (rows, tokens) pair: one row, tokens one at a time.
                            for n in 0..<nc {
                                for i in 0..<rb {
                                    rowBlock(D.self, R1T1.self, a, p, r + i, t0 + n, scratch + n * a.planes * a.groups * 8)
                                }
                            }
                        }
                        r += rb
                    }
                }
                for n in 0..<nc { epilogue(a, tile, t0 + n, scratch + n * a.planes * a.groups * 8) }
                t0 += nc
            }
        }
    }

    /// GEMV of a whole 8-row tile, one or two planes, one 128-column quad per scale group, in
    /// two register blocks of 4 rows per group: each group's exact int32 sums of the 8 rows
    /// (`quadProduct` per row, `quadRowSums` per 4) go straight into the epilogue arithmetic,
    /// 8 rows in one AVX vector, instead of through scratch and a second pass over the tile. The
    /// float operations and their order per row are those of `epilogue` (s += α₀·(Σ₀ − Σq), then
    /// s += α₁·(Σ₁ − Σq) for a second plane, then s += μ·Σq, per group in order; y = s·d
    /// (+ bias)), so the result stays bit-identical to the scalar reference. Both blocks share
    /// the group's activation loads, epilogue and prefetches, and read the group's 256-byte
    /// unit of the tile front to back. Measured: the scratch round trip, the int32 accumulators
    /// and the separate epilogue cost ~25% more instructions per quad than a fused loop.
    @inline(never)
    static func fusedGEMVTile<D: QuadDecoder>(_ d: D.Type, _ a: AVX2LayerArguments, _ tile: Int) {
        // Two inlined copies, so the one-plane loop carries no plane-1 test (measured: +2–7%
        // instructions per call for one plane when the test stayed in the loop).
        if let s1 = a.scales1 {
            fusedGEMVLoop(D.self, a, tile, s1)
        } else {
            fusedGEMVLoop(D.self, a, tile, nil)
        }
    }

    @inline(__always)
    static func fusedGEMVLoop<D: QuadDecoder>(_ d: D.Type, _ a: AVX2LayerArguments, _ tile: Int,
                                             _ scales1: UnsafePointer<UInt16>?) {
        let ones16 = _mm256_set1_epi16(1)
        let rowStride = a.rowStride, unit = a.unitStride, pf = a.prefetchBytes
        let base = a.weights + tile &* a.tileStride   // plane 0, row 0 of the tile
        let x = a.acts
        var s = _mm256_setzero_ps()
        /// Group g's eight row sums, plane by plane, into s; `product(row, xg)` gives the int16
        /// products of the quad of `row` with the group's activations `xg`.
        @inline(__always) func group(_ g: Int, _ product: (UnsafePointer<UInt8>, UnsafePointer<Int8>) -> __m256i) {
            if pf > 0 {
                // One prefetch per cache line: with rows 32 bytes apart (`RowTiledLayout`) the
                // 8 rows' units of a quad are 256 contiguous bytes, 4 lines.
                let ahead = D.bytesBefore(quad: g, unit: unit) &+ pf
                for r in 0..<4 { tritbench_prefetch(base + (2 &* r &* rowStride &+ ahead)) }
                if rowStride > 32 {
                    for r in 0..<4 { tritbench_prefetch(base + ((2 &* r &+ 1) &* rowStride &+ ahead)) }
                }
            }
            let xg = x + g &* 128
            @inline(__always) func sums(_ plane: UnsafePointer<UInt8>) -> __m256i {
                let low = quadRowSums(product(plane, xg), product(plane + rowStride, xg),
                                      product(plane + 2 &* rowStride, xg), product(plane + 3 &* rowStride, xg), ones16)
                let high = quadRowSums(product(plane + 4 &* rowStride, xg), product(plane + 5 &* rowStride, xg),
                                       product(plane + 6 &* rowStride, xg), product(plane + 7 &* rowStride, xg), ones16)
                return _mm256_set_m128i(high, low)
            }
            let qs = _mm256_set1_epi32(a.groupSums[g])
            let side = (tile &* a.groups &+ g) &* 8
            s = _mm256_add_ps(s, _mm256_mul_ps(half8(a.scales0 + side), _mm256_cvtepi32_ps(_mm256_sub_epi32(sums(base), qs))))
            if let s1 = scales1 {
                // Plane 1 right after plane 0 within the group, as `epilogue` orders them.
                s = _mm256_add_ps(s, _mm256_mul_ps(half8(s1 + side), _mm256_cvtepi32_ps(_mm256_sub_epi32(sums(base + a.planeStride), qs))))
            }
            if let mu = a.offsets {
                s = _mm256_add_ps(s, _mm256_mul_ps(half8(mu + side), _mm256_cvtepi32_ps(qs)))
            }
        }
        // A last quad of ≤ 64 real columns (K = 576: 4½ quads) multiplies only its low half.
        let fullGroups = D.decodesLowHalf && a.lastQuadVectors <= 2 ? a.groups &- 1 : a.groups
        // Whole spans first, each quad at a constant position in its span (straight-line decode),
        // then the groups past the last whole span, decoded by quad index.
        var g = 0
        while g &+ D.quadsPerSpan <= fullGroups {
            let spanOffset = D.bytesBefore(quad: g, unit: unit)
            unrolled(D.quadsPerSpan) { j in
                group(g &+ j) { row, xg in quadProduct(D.decode(span: row + spanOffset, quad: j, unit: unit), xg) }
            }
            g &+= D.quadsPerSpan
        }
        while g < fullGroups {
            group(g) { row, xg in quadProduct(D.decode(row, quad: g, unit: unit), xg) }
            g &+= 1
        }
        if g < a.groups {
            group(g) { row, xg in halfQuadProduct(D.decodeLowHalf(row, quad: g, unit: unit), xg) }
        }
        var y = _mm256_mul_ps(s, _mm256_set1_ps(a.actScales[0]))
        if let b = a.bias { y = _mm256_add_ps(y, half8(b + tile &* 8)) }
        _mm256_storeu_ps(a.y + tile &* 8, y)
    }


    /// GEMM over a decoded tile: each 8-row tile is decoded once into `codes` (L1-sized:
    /// 8 rows × K bytes per plane), then every token sweeps it; one token's 4 activation
    /// vectors of a quad stay in registers across the 8 rows, and the 8 rows' int16 sums are
    /// reduced together by a `vphaddw` tree straight into the epilogue's [group][row % 8]
    /// order. Exact only for 128-column scale groups: Σ code·q over 128 columns lies in
    /// [2·128·(−128), 2·128·127] = [−32768, 32512], inside int16, so the wrapping adds of the
    /// tree give the exact sum (the caller checks quadsPerGroup == 1).
    @inline(never)
    static func decodedTiles<D: QuadDecoder>(_ d: D.Type, _ a: AVX2LayerArguments, _ tiles: Range<Int>,
                                             _ scratch: UnsafeMutablePointer<Int32>, _ codes: UnsafeMutablePointer<UInt8>) {
        let quads = a.quadsPerRow, planes = a.planes, groups = a.groups
        let perToken = planes * groups * 8
        for tile in tiles {
            // Decode: codes[((p · quads + q) · 8 + r) · 128 + v · 32], padded rows included.
            for p in 0..<planes {
                let base = a.rowPointer(plane: p, row: tile &* 8)
                for r in 0..<8 {
                    let row = base + r &* a.rowStride
                    for q in 0..<quads {
                        let c = D.decode(row, quad: q, unit: a.unitStride)
                        let slot: Int = ((p &* quads &+ q) &* 8 &+ r) &* 128
                        let dst = UnsafeMutableRawPointer(codes + slot)
                        store256(dst, c.0); store256(dst + 32, c.1); store256(dst + 64, c.2); store256(dst + 96, c.3)
                    }
                }
            }
            var t0 = 0
            while t0 < a.tokens {
                let nc = min(4, a.tokens - t0)
                for n in 0..<nc {
                    let x = a.acts + (t0 &+ n) &* a.actStride
                    for p in 0..<planes {
                        for q in 0..<quads {
                            let xq = UnsafeRawPointer(x + q &* 128)
                            let x0 = load256(xq), x1 = load256(xq + 32), x2 = load256(xq + 64), x3 = load256(xq + 96)
                            let offset: Int = (p &* quads &+ q) &* 1024
                            let c = UnsafeRawPointer(codes + offset)
                            @inline(__always) func row(_ r: Int) -> __m256i {
                                let cr = c + r &* 128
                                let m0 = _mm256_maddubs_epi16(load256(cr), x0)
                                let m1 = _mm256_maddubs_epi16(load256(cr + 32), x1)
                                let m2 = _mm256_maddubs_epi16(load256(cr + 64), x2)
                                let m3 = _mm256_maddubs_epi16(load256(cr + 96), x3)
                                return _mm256_add_epi16(_mm256_add_epi16(m0, m1), _mm256_add_epi16(m2, m3))
                            }
                            let h01 = _mm256_hadd_epi16(row(0), row(1)), h23 = _mm256_hadd_epi16(row(2), row(3))
                            let h45 = _mm256_hadd_epi16(row(4), row(5)), h67 = _mm256_hadd_epi16(row(6), row(7))
                            let h = _mm256_hadd_epi16(_mm256_hadd_epi16(h01, h23), _mm256_hadd_epi16(h45, h67))
                            let s16 = _mm_add_epi16(_mm256_castsi256_si128(h), high128(h))
                            let at: Int = n &* perToken &+ (p &* groups &+ q) &* 8
                            store256(UnsafeMutableRawPointer(scratch + at), _mm256_cvtepi16_epi32(s16))
                        }
                    }
                }
                for n in 0..<nc { epilogue(a, tile, t0 + n, scratch + n * perToken) }
                t0 += nc
            }
        }
    }

    /// rows × tokens of a register block, as types so each block shape gets its own
    /// specialised loop with constant trip counts (fully unrolled, accumulators in registers).
    protocol BlockShape { static var rows: Int { get }; static var tokens: Int { get } }
    enum R4T1: BlockShape { static var rows: Int { 4 }; static var tokens: Int { 1 } }
    enum R2T1: BlockShape { static var rows: Int { 2 }; static var tokens: Int { 1 } }
    enum R2T2: BlockShape { static var rows: Int { 2 }; static var tokens: Int { 2 } }
    enum R1T4: BlockShape { static var rows: Int { 1 }; static var tokens: Int { 4 } }
    enum R1T3: BlockShape { static var rows: Int { 1 }; static var tokens: Int { 3 } }
    enum R1T2: BlockShape { static var rows: Int { 1 }; static var tokens: Int { 2 } }
    enum R1T1: BlockShape { static var rows: Int { 1 }; static var tokens: Int { 1 } }
    enum R2T4: BlockShape { static var rows: Int { 2 }; static var tokens: Int { 4 } }
    enum R4T2: BlockShape { static var rows: Int { 4 }; static var tokens: Int { 2 } }

    /// Eight (row, token) int16 accumulators, addressed by constant indices after inlining.
    struct Acc8 {
        var a = Acc4(), b = Acc4()
        @inline(__always) subscript(i: Int) -> __m256i {
            get { i < 4 ? a[i] : b[i &- 4] }
            set { if i < 4 { a[i] = newValue } else { b[i &- 4] = newValue } }
        }
    }

    /// The GEMM register block: rb × nc = 8 (row, token) pairs of one plane over every group,
    /// int32 Σ code·q into scratch [token][plane][group][row % 8]. Each decoded code vector
    /// serves nc tokens and each activation vector rb rows; with 8 int16 accumulators + 4
    /// codes there is no room for int32 ones, so a whole scale group is summed in int16 (the
    /// caller checks quadsPerGroup ≤ int16Depth, whose constraint keeps the sums exact).
    @inline(never)
    static func wideBlock<D: QuadDecoder, B: BlockShape>(_ d: D.Type, _ shape: B.Type, _ a: AVX2LayerArguments,
                                                         _ plane: Int, _ row0: Int, _ tok0: Int,
                                                         _ scratch: UnsafeMutablePointer<Int32>) {
        let rb = B.rows, nc = B.tokens
        let ones16 = _mm256_set1_epi16(1)
        let rowStride = a.rowStride, unit = a.unitStride, actStride = a.actStride, quadsPerRow = a.quadsPerRow
        let quadsPerGroup = a.quadsPerGroup
        let base = a.rowPointer(plane: plane, row: row0)
        let actBase = a.acts + tok0 &* actStride
        let stride = a.planes * a.groups * 8
        for g in 0..<a.groups {
            let q0 = g &* quadsPerGroup, q1 = min(q0 &+ quadsPerGroup, quadsPerRow)
            var acc = Acc8()
            for q in q0..<q1 {
                for r in 0..<rb {
                    let c = D.decode(base + r &* rowStride, quad: q, unit: unit)
                    for n in 0..<nc {
                        let i = r * nc + n
                        acc[i] = _mm256_add_epi16(acc[i], quadProduct(c, actBase + (n &* actStride &+ q &* 128)))
                    }
                }
            }
            let dst = scratch + (plane * a.groups + g) * 8 + row0 % 8
            for h in 0..<2 {
                let s = hsum4(_mm256_madd_epi16(acc[4 * h], ones16), _mm256_madd_epi16(acc[4 * h + 1], ones16),
                              _mm256_madd_epi16(acc[4 * h + 2], ones16), _mm256_madd_epi16(acc[4 * h + 3], ones16))
                let v = unsafeBitCast(s, to: SIMD4<Int32>.self)
                for j in 0..<4 {
                    let i = 4 * h + j
                    dst[(i % nc) * stride + i / nc] = v[j]
                }
            }
        }
    }

    /// Up to four (row, token) accumulators, addressed by constant indices after inlining.
    struct Acc4 {
        var v0 = _mm256_setzero_si256(), v1 = _mm256_setzero_si256()
        var v2 = _mm256_setzero_si256(), v3 = _mm256_setzero_si256()
        @inline(__always) subscript(i: Int) -> __m256i {
            get { switch i { case 0: return v0; case 1: return v1; case 2: return v2; default: return v3 } }
            set { switch i { case 0: v0 = newValue; case 1: v1 = newValue; case 2: v2 = newValue; default: v3 = newValue } }
        }
    }

    /// rb rows × nc tokens of one plane over every group: int32 Σ code·q into scratch
    /// [token][plane][group][row % 8]. rb·nc ≤ 4 keeps 2·rb·nc accumulators + 4 codes in 16 ymm.
    @inline(never)
    static func rowBlock<D: QuadDecoder, B: BlockShape>(_ d: D.Type, _ shape: B.Type, _ a: AVX2LayerArguments,
                                                        _ plane: Int, _ row0: Int, _ tok0: Int,
                                                        _ scratch: UnsafeMutablePointer<Int32>) {
        let rb = B.rows, nc = B.tokens
        let ones16 = _mm256_set1_epi16(1)
        let rowStride = a.rowStride, unit = a.unitStride, actStride = a.actStride, depth = a.depth, quadsPerRow = a.quadsPerRow
        let quadsPerGroup = a.quadsPerGroup
        let base = a.rowPointer(plane: plane, row: row0)
        let actBase = a.acts + tok0 &* actStride
        let pf = a.prefetchBytes
        for g in 0..<a.groups {
            let q0 = g &* quadsPerGroup, q1 = min(q0 &+ quadsPerGroup, quadsPerRow)
            var acc32 = Acc4(), acc16 = Acc4()
            var q = q0, sinceWiden = 0
            while q < q1 {
                if pf > 0 {
                    let ahead = D.bytesBefore(quad: q, unit: unit) &+ pf
                    for r in 0..<rb { tritbench_prefetch(base + (r &* rowStride &+ ahead)) }
                }
                for r in 0..<rb {
                    let row = base + r &* rowStride
                    let c = D.decode(row, quad: q, unit: unit)
                    for n in 0..<nc {
                        let i = r * nc + n
                        acc16[i] = _mm256_add_epi16(acc16[i], quadProduct(c, actBase + (n &* actStride &+ q &* 128)))
                    }
                }
                q &+= 1; sinceWiden &+= 1
                if sinceWiden == depth || q == q1 {
                    for i in 0..<(rb * nc) {
                        acc32[i] = _mm256_add_epi32(acc32[i], _mm256_madd_epi16(acc16[i], ones16))
                        acc16[i] = _mm256_setzero_si256()
                    }
                    sinceWiden = 0
                }
            }
            // Horizontal sums: four accumulators at once with hadd, else one by one.
            let stride = a.planes * a.groups * 8
            let dst = scratch + (plane * a.groups + g) * 8 + row0 % 8
            if rb * nc == 4 {
                let h = hsum4(acc32.v0, acc32.v1, acc32.v2, acc32.v3)
                if nc == 1 {
                    UnsafeMutableRawPointer(dst).storeBytes(of: unsafeBitCast(h, to: SIMD4<Int32>.self), as: SIMD4<Int32>.self)
                } else {
                    let v = unsafeBitCast(h, to: SIMD4<Int32>.self)
                    for r in 0..<rb { for n in 0..<nc { dst[n * stride + r] = v[r * nc + n] } }
                }
            } else {
                for r in 0..<rb { for n in 0..<nc { dst[n * stride + r] = hsum1(acc32[r * nc + n]) } }
            }
        }
    }

    /// Σ code·q of one 128-column quad as 16 int16 lanes (pairs of adjacent products summed).
    @inline(__always) static func quadProduct(_ c: (__m256i, __m256i, __m256i, __m256i), _ acts: UnsafePointer<Int8>) -> __m256i {
        let x = UnsafeRawPointer(acts)
        let m0 = _mm256_maddubs_epi16(c.0, load256(x))
        let m1 = _mm256_maddubs_epi16(c.1, load256(x + 32))
        let m2 = _mm256_maddubs_epi16(c.2, load256(x + 64))
        let m3 = _mm256_maddubs_epi16(c.3, load256(x + 96))
        return _mm256_add_epi16(_mm256_add_epi16(m0, m1), _mm256_add_epi16(m2, m3))
    }

    /// `quadProduct` of a quad's first 64 columns only (codes and activations 0…63).
    @inline(__always) static func halfQuadProduct(_ c: (__m256i, __m256i), _ acts: UnsafePointer<Int8>) -> __m256i {
        let x = UnsafeRawPointer(acts)
        return _mm256_add_epi16(_mm256_maddubs_epi16(c.0, load256(x)), _mm256_maddubs_epi16(c.1, load256(x + 32)))
    }

    /// The four row sums of four rows' `quadProduct`s, in row order: two `vphaddw` rounds add
    /// each row's int16 lanes in fours, one `vpmaddwd` adds pairs into int32, and the two
    /// 128-bit halves are added — 5 instructions where `hsum4` of four `vpmaddwd`s takes 9.
    /// Exact: a quadProduct lane sums 4 `vpmaddubsw` lanes of |code · q| ≤ 2 · 2 · 128, so
    /// |lane| ≤ 2048 and a sum of four ≤ 8192 stays inside int16.
    @inline(__always) static func quadRowSums(_ p0: __m256i, _ p1: __m256i, _ p2: __m256i, _ p3: __m256i,
                                              _ ones16: __m256i) -> __m128i {
        let m = _mm256_madd_epi16(_mm256_hadd_epi16(_mm256_hadd_epi16(p0, p1), _mm256_hadd_epi16(p2, p3)), ones16)
        return _mm_add_epi32(_mm256_castsi256_si128(m), high128(m))
    }

    @inline(__always) static func hsum4(_ a: __m256i, _ b: __m256i, _ c: __m256i, _ d: __m256i) -> __m128i {
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d))
        return _mm_add_epi32(_mm256_castsi256_si128(h), high128(h))
    }

    @inline(__always) static func hsum1(_ a: __m256i) -> Int32 {
        unsafeBitCast(a, to: SIMD8<Int32>.self).wrappedSum()
    }

    /// y for the 8 rows of `tile` and one token from int32 sums Σ code·q in `sums`
    /// [plane][group][8], lane by lane exactly as `TernaryEpilogue.scalar` does:
    ///     s += α_p · Float(Σ code·q − Σq)   for each plane, then   s += μ · Float(Σq)
    ///     y = s · d (+ bias)
    @inline(__always)
    public static func epilogue(_ a: AVX2LayerArguments, _ tile: Int, _ token: Int, _ sums: UnsafePointer<Int32>) {
        var s = _mm256_setzero_ps()
        let gs = a.groupSums + token * a.groups
        for g in 0..<a.groups {
            let qs = _mm256_set1_epi32(gs[g])
            let side = (tile * a.groups + g) * 8
            let acc0 = _mm256_sub_epi32(load8i(sums + g * 8), qs)
            s = _mm256_add_ps(s, _mm256_mul_ps(half8(a.scales0 + side), _mm256_cvtepi32_ps(acc0)))
            if let s1 = a.scales1 {
                let acc1 = _mm256_sub_epi32(load8i(sums + (a.groups + g) * 8), qs)
                s = _mm256_add_ps(s, _mm256_mul_ps(half8(s1 + side), _mm256_cvtepi32_ps(acc1)))
            }
            if let mu = a.offsets {
                s = _mm256_add_ps(s, _mm256_mul_ps(half8(mu + side), _mm256_cvtepi32_ps(qs)))
            }
        }
        var y = _mm256_mul_ps(s, _mm256_set1_ps(a.actScales[token]))
        if let b = a.bias { y = _mm256_add_ps(y, half8(b + tile * 8)) }
        let out = a.y + token * a.rows + tile * 8
        let valid = min(8, a.rows - tile * 8)
        if valid == 8 {
            _mm256_storeu_ps(out, y)
        } else {
            let v: SIMD8<Float> = y
            for i in 0..<valid { out[i] = v[i] }
        }
    }

    @inline(__always) static func load8i(_ p: UnsafePointer<Int32>) -> __m256i {
        load256(p)
    }
    @inline(__always) static func half8(_ p: UnsafePointer<UInt16>) -> __m256 {
        _mm256_cvtph_ps(load128(p))
    }
}

@inline(__always) func load256(_ p: UnsafeRawPointer) -> __m256i { _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i_u.self)) }
@inline(__always) func load128(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i_u.self)) }
@inline(__always) func store256(_ p: UnsafeMutableRawPointer, _ v: __m256i) { _mm256_storeu_si256(p.assumingMemoryBound(to: __m256i_u.self), v) }
/// The upper 128 bits (vextracti128; the intrinsic is a macro Swift cannot import).
@inline(__always) func high128(_ v: __m256i) -> __m128i {
    v.highHalf
}

/// Turns one 128-column quad of a packed row into four vectors of 32 codes w + 1 ∈ {0, 1, 2},
/// vector n matched against activation bytes 32n…32n+31 of the quad: in column order, except
/// for `Base3Decoder`, whose caller interleaves the activations to its order.
protocol QuadDecoder {
    /// `unit`: bytes between consecutive 32-byte units of one row.
    static func decode(_ row: UnsafePointer<UInt8>, quad q: Int, unit: Int) -> (__m256i, __m256i, __m256i, __m256i)
    /// Byte offset from the row start where quad q's data begins (for prefetches).
    static func bytesBefore(quad q: Int, unit: Int) -> Int
    /// Quads after which the packing repeats (the codes of quad q + quadsPerSpan start
    /// `bytesBefore(quad: quadsPerSpan)` bytes after those of quad q).
    static var quadsPerSpan: Int { get }
    /// Quad j (0 ..< quadsPerSpan, a constant at the call) of the span whose data starts at `span`:
    /// the same codes as `decode(row, quad: q + j)` with `span = row + bytesBefore(quad: q)`.
    static func decode(span: UnsafePointer<UInt8>, quad j: Int, unit: Int) -> (__m256i, __m256i, __m256i, __m256i)
    /// Whether `decodeLowHalf` gives the codes of columns 0…63 of a quad (vectors 0 and 1 of
    /// `decode`, in column order), so a quad of ≤ 64 real columns can skip the rest.
    static var decodesLowHalf: Bool { get }
    static func decodeLowHalf(_ row: UnsafePointer<UInt8>, quad q: Int, unit: Int) -> (__m256i, __m256i)
}

extension QuadDecoder {
    static var decodesLowHalf: Bool { false }
    @inline(__always) static func decodeLowHalf(_ row: UnsafePointer<UInt8>, quad q: Int, unit: Int) -> (__m256i, __m256i) {
        let c = decode(row, quad: q, unit: unit)
        return (c.0, c.1)
    }
    /// One quad per span: the plain decode.
    static var quadsPerSpan: Int { 1 }
    @inline(__always) static func decode(span: UnsafePointer<UInt8>, quad j: Int, unit: Int) -> (__m256i, __m256i, __m256i, __m256i) {
        decode(span, quad: j, unit: unit)
    }
}

/// body(0), …, body(n − 1), written out for the span lengths in use so that each call sees a
/// constant index (a 5-iteration loop with this large a body is not unrolled by LLVM).
@inline(__always) func unrolled(_ n: Int, _ body: (Int) -> Void) {
    switch n {
    case 1: body(0)
    case 5: body(0); body(1); body(2); body(3); body(4)
    default: for j in 0..<n { body(j) }
    }
}

/// 2-bit codes: byte b of a 32-byte chunk holds columns b, b+32, b+64, b+96.
enum TwoBitDecoder: QuadDecoder {
    @inline(__always) static func decode(_ row: UnsafePointer<UInt8>, quad q: Int, unit: Int) -> (__m256i, __m256i, __m256i, __m256i) {
        let x = load256(row + q &* unit)
        let m = _mm256_set1_epi8(3)
        return (_mm256_and_si256(x, m), _mm256_and_si256(_mm256_srli_epi16(x, 2), m),
                _mm256_and_si256(_mm256_srli_epi16(x, 4), m), _mm256_and_si256(_mm256_srli_epi16(x, 6), m))
    }
    @inline(__always) static func bytesBefore(quad q: Int, unit: Int) -> Int { q &* unit }
    /// Columns 0…31 are bits 0–1 of each byte, columns 32…63 bits 2–3.
    static var decodesLowHalf: Bool { true }
    @inline(__always) static func decodeLowHalf(_ row: UnsafePointer<UInt8>, quad q: Int, unit: Int) -> (__m256i, __m256i) {
        let x = load256(row + q &* unit)
        let m = _mm256_set1_epi8(3)
        return (_mm256_and_si256(x, m), _mm256_and_si256(_mm256_srli_epi16(x, 2), m))
    }
}

/// Bitmask planes: per 128 columns 16 bytes of +1 bits then 16 bytes of −1 bits.
enum BitmaskDecoder: QuadDecoder {
    @inline(__always) static func expand(_ p: UnsafePointer<UInt8>) -> __m256i {
        let bits = _mm256_set1_epi32(Int32(bitPattern: UnsafeRawPointer(p).loadUnaligned(as: UInt32.self)))
        let spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                      2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)
        let select = _mm256_set1_epi64x(Int64(bitPattern: 0x8040_2010_0804_0201))
        return _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(bits, spread), select), select)
    }
    @inline(__always) static func codes(_ chunk: UnsafePointer<UInt8>, _ v: Int) -> __m256i {
        // code = 1 − (mask P) + (mask N) with masks 0 / −1: +1 → 2, −1 → 0, 0 → 1.
        _mm256_sub_epi8(_mm256_add_epi8(_mm256_set1_epi8(1), expand(chunk + 16 + 4 * v)), expand(chunk + 4 * v))
    }
    @inline(__always) static func decode(_ row: UnsafePointer<UInt8>, quad q: Int, unit: Int) -> (__m256i, __m256i, __m256i, __m256i) {
        let c = row + q &* unit
        return (codes(c, 0), codes(c, 1), codes(c, 2), codes(c, 3))
    }
    @inline(__always) static func bytesBefore(quad q: Int, unit: Int) -> Int { q &* unit }
}

/// The multipliers of the base-3 decoders (this target's and the AVX-512 one's).
public enum Base3Multiplier {
    /// 9^i as a 16-bit multiplier, i = 0…4: stored · 9^i mod 2^16 brings trits 2i, 2i+1 of a
    /// lane to its top (a constant when i is).
    @inlinable @inline(__always) public static func power9(_ i: Int) -> Int16 {
        switch i {
        case 0: return 1
        case 1: return 9
        case 2: return 81
        case 3: return 729
        default: return 6561
        }
    }
}

/// Base-3, 10 trits per 16-bit lane in blocks of 160 columns: vector v of a row is pair
/// i = v % 5 of block v / 5, i.e. trits 2i and 2i+1 of the 16 lanes (`packus(T_2i, T_2i+1)`).
///
/// Two trits per multiply pair: q = stored · 9^i mod 2^16 (`vpmullw`) brings trits 2i, 2i+1 to
/// the top of the lane and u = (q · 9) >> 16 (`vpmulhuw`) = 3·t_2i + t_2i+1 ∈ [0, 8]. That is
/// exact wherever the one-trit step t_k = (q_k · 3) >> 16 is: with 3·q_2i = 2^16·t_2i + q_2i+1,
/// (9·q_2i) >> 16 = 3·t_2i + (3·q_2i+1) >> 16 as integers. The u of two vectors A, B (32
/// columns each, same 64-column half of a quad) are packed to bytes together and split by two
/// `vpshufb` lookups, u / 3 and u % 3:
///
///     even = [A_e(lanes 0–7) B_e(0–7) | A_e(8–15) B_e(8–15)]     (trits 2i of A and B)
///     odd  = [A_o(lanes 0–7) B_o(0–7) | A_o(8–15) B_o(8–15)]     (trits 2i+1)
///
/// which hold A's and B's codes in a fixed permutation of their 64 columns. Instead of
/// shuffling the codes back (two `vpunpck{l,h}qdq` per pair of vectors, per row), the caller
/// permutes each token's activations the same way once per call (`interleaveBase3Activations`),
/// so `vpmaddubsw(even, x′₀) + vpmaddubsw(odd, x′₁)` is Σ code·q of the 64 columns. Per 32
/// trits: 2 multiplies instead of 4, 1 `vpshufb`, ½ pack. The multiplies share two pipes with
/// `vpmaddubsw` on Zen 4 and were the bound; each step from the per-quad, one-trit-per-multiply
/// decode (straight-line spans, two trits per multiply pair, activations interleaved instead of
/// codes shuffled back) made the GEMV faster.
enum Base3Decoder: QuadDecoder {
    @inline(__always) static func power9(_ i: Int) -> Int16 { Base3Multiplier.power9(i) }

    /// u = 3·t_2i + t_2i+1 of every lane of block `x` (vector i, 0…4, of the block).
    @inline(__always) static func digitPair(_ x: __m256i, _ i: Int) -> __m256i {
        let q = i == 0 ? x : _mm256_mullo_epi16(x, _mm256_set1_epi16(power9(i)))
        return _mm256_mulhi_epu16(q, _mm256_set1_epi16(9))
    }

    /// The (even, odd) code vectors of two vectors A, B from their digit pairs (see the type's
    /// comment for the column order; activations must be interleaved to match).
    @inline(__always) static func split(_ a: __m256i, _ b: __m256i) -> (__m256i, __m256i) {
        let u = _mm256_packus_epi16(a, b)   // bytes per 128-bit lane: a's 8 lanes, then b's
        let even = _mm256_shuffle_epi8(_mm256_setr_epi8(0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0,
                                                         0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0), u)
        let odd = _mm256_shuffle_epi8(_mm256_setr_epi8(0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0,
                                                        0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0), u)
        return (even, odd)
    }

    @inline(__always) static func quad(_ u: (__m256i, __m256i, __m256i, __m256i)) -> (__m256i, __m256i, __m256i, __m256i) {
        let (c0, c1) = split(u.0, u.1), (c2, c3) = split(u.2, u.3)
        return (c0, c1, c2, c3)
    }

    @inline(__always) static func decode(_ row: UnsafePointer<UInt8>, quad q: Int, unit: Int) -> (__m256i, __m256i, __m256i, __m256i) {
        // Vectors 4q…4q+3 live in block (4q)/5 and, past its 5th vector, the next block.
        let v = q &* 4
        var block = v / 5
        var i = v &- block &* 5
        var x = load256(row + block &* unit)
        var u = (x, x, x, x)
        for n in 0..<4 {
            if i == 5 { i = 0; block &+= 1; x = load256(row + block &* unit) }
            let t = digitPair(x, i)
            switch n { case 0: u.0 = t; case 1: u.1 = t; case 2: u.2 = t; default: u.3 = t }
            i &+= 1
        }
        return quad(u)
    }
    @inline(__always) static func bytesBefore(quad q: Int, unit: Int) -> Int { (q &* 4 / 5) &* unit }

    /// Five quads = 20 vectors = four whole 160-column blocks.
    static var quadsPerSpan: Int { 5 }
    /// With j constant, the block and pair of each of the quad's vectors are constants, so the
    /// decode is straight-line with immediate multipliers, faster than the per-quad `decode`.
    @inline(__always) static func decode(span: UnsafePointer<UInt8>, quad j: Int, unit: Int) -> (__m256i, __m256i, __m256i, __m256i) {
        @inline(__always) func digits(_ v: Int) -> __m256i { digitPair(load256(span + (v / 5) &* unit), v % 5) }
        let v = 4 &* j
        return quad((digits(v), digits(v &+ 1), digits(v &+ 2), digits(v &+ 3)))
    }
}
#endif
