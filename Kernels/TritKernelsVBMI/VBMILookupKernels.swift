// The 243-entry table-lookup GEMV over base-3 bytes (`Base3LUTTernaryMatrix`, variant `lut243`).
//
// Why lookups instead of decoding: the decode + multiply-add loops need three heavy zmm ops per
// 64 base-3 weights (the 16-bit multiply that takes two trits out, a word permute, vpdpbusd),
// and measured 1.2 TSC cycles per 32 weights on this VM's Zen 4 against 0.65 for 2-bit codes.
// Here the byte is the index: per 5 activations one table T[v] = Σ_k (c_k(v) − 1)·q_k of all
// 243 codes is built once per call, shared by every row, and `vpermi2b` looks up 64 rows'
// bytes in 128 table bytes per instruction. Four lookups (low and high table bytes, entries
// below and above 128) cover 64 rows × 5 columns = 320 weights. A C prototype of this loop ran
// 0.54–0.66 TSC cycles per 32 weights (2048² … 11008×4096, 128-column groups, hot).
//
// Loop order: block (≤ 32 positions of one group) outermost, row tiles inside. A block's tables
// are 16 KiB at most, so they are read from L1 by every tile, and the weights are one
// sequential stream per thread. (Tiles outermost with all P positions inside read 512 table
// bytes from L2 per 4 tiles and position, and 4 weight streams: 4096², 1 thread, hot 161 µs,
// cold 316 µs, 2 threads hot 130 µs.)
//
// Exact: |T| ≤ 5·128 = 640, so int16 sums of a block's ≤ 32 lookups cannot wrap, and each
// (row, group) sum equals Σ w·q of the scalar reference; the float epilogue follows the
// reference's order (s += α₀·Σ₀, s += α₁·Σ₁, s += μ·Σq per group; y = s·d (+ bias)).

#if arch(x86_64)
import _Builtin_intrinsics.intel
import CTritSupport

/// Pointers and sizes of one token's call over a `Base3LUTTernaryMatrix`.
public struct Base3LookupArguments {
    /// The packed bytes: [block][tile][plane][position in block][64 lanes].
    public var weights: UnsafePointer<UInt8>
    public var planes: Int
    /// 64-row tiles in the layer.
    public var tiles: Int
    public var rows: Int
    public var groups: Int
    public var blocks: Int
    /// First byte position of each block, `blocks + 1` entries (the last is P).
    public var blockStarts: UnsafePointer<Int>
    /// The scale group of each block.
    public var blockGroups: UnsafePointer<Int>
    /// The token's int8 activations (packed column order) and what the tables are built from.
    public var acts: UnsafePointer<Int8>
    /// First byte position of each scale group, `groups + 1` entries.
    public var groupStarts: UnsafePointer<Int>
    public var groupColumns: Int
    public var cols: Int
    /// The token's Σq per scale group (PT²-LLM's μ term).
    public var groupSums: UnsafePointer<Int32>
    public var actScale: Float
    /// Side data as `TernarySideData` stores it (Float16 bits; scales [tile8][group][8]).
    public var scales0: UnsafePointer<UInt16>
    public var scales1: UnsafePointer<UInt16>?
    public var offsets: UnsafePointer<UInt16>?
    public var bias: UnsafePointer<UInt16>?
    /// The token's outputs (`rows` floats).
    public var y: UnsafeMutablePointer<Float>
    public var prefetchBytes: Int

    public init(weights: UnsafePointer<UInt8>, planes: Int, tiles: Int, rows: Int, groups: Int, blocks: Int,
                blockStarts: UnsafePointer<Int>, blockGroups: UnsafePointer<Int>, acts: UnsafePointer<Int8>,
                groupStarts: UnsafePointer<Int>, groupColumns: Int, cols: Int,
                groupSums: UnsafePointer<Int32>, actScale: Float,
                scales0: UnsafePointer<UInt16>, scales1: UnsafePointer<UInt16>?, offsets: UnsafePointer<UInt16>?,
                bias: UnsafePointer<UInt16>?, y: UnsafeMutablePointer<Float>, prefetchBytes: Int) {
        self.weights = weights; self.planes = planes; self.tiles = tiles; self.rows = rows; self.groups = groups
        self.blocks = blocks; self.blockStarts = blockStarts; self.blockGroups = blockGroups; self.acts = acts
        self.groupStarts = groupStarts; self.groupColumns = groupColumns; self.cols = cols
        self.groupSums = groupSums; self.actScale = actScale; self.scales0 = scales0; self.scales1 = scales1
        self.offsets = offsets; self.bias = bias; self.y = y; self.prefetchBytes = prefetchBytes
    }

    /// Scratch the loop needs per thread for a chunk of `tiles` tiles: one block's tables, then
    /// int32 sums of two planes and float sums, one per row.
    public static func scratchBytes(tiles: Int) -> Int { tableArea + 3 * tiles * 64 * 4 }
    static let tableArea = 32 * 512
}

/// A thread's weight stream in `VBMILookupKernels.gemvTiles` is one run per block: its tiles'
/// bytes of block b, then of block b + 1, which lie elsewhere in the buffer. A prefetch
/// `distance` bytes ahead that passes the end of this block's run continues at the start of
/// the next one, so the lines a thread needs after a block boundary are already on their way
/// while it builds that block's tables. (Straight `w + distance` prefetched into the other
/// threads' tiles near every run's end, and each block's first lines came in on demand, which
/// was slower cold on 2 threads. On 1 thread the runs already follow each other, so nothing
/// changes there.)
@usableFromInline struct PrefetchStream {
    let end: UnsafePointer<UInt8>
    let next: UnsafePointer<UInt8>

    @inline(__always) func ahead(of w: UnsafePointer<UInt8>, by distance: Int) -> UnsafePointer<UInt8> {
        let target = w + distance
        return target < end ? target : next + (target - end)
    }
}

public enum VBMILookupKernels {
    /// Bytes of tables per byte position.
    public static let tableBytes = 512

    /// Builds the tables of positions p0 ..< p1 of scale group g (one block) for one token, table
    /// p − p0 at `out`: for byte position p of group g (B bytes), the 5 activations
    /// x_k = q[g·groupColumns + p + k·B] (0 past the group's last column) and
    ///
    ///     T[v] = Σ_k (c_k(v) − 1)·x_k   for v < 243  (c_k = base-3 digit k; v ≥ 243: unused)
    ///
    /// stored as 256 low bytes, then 256 high bytes. Computed as Σ c_k·x_k − Σ x_k with three
    /// `vpmaddubsw` over constant digit pairs per 32 entries, then split by `vpermt2b`.
    public static func buildTables(_ q: UnsafePointer<Int8>, group g: Int, positions: Range<Int>, groupBytes b: Int,
                                   groupColumns: Int, cols: Int, into out: UnsafeMutablePointer<UInt8>) {
        digitPairs.withUnsafeBufferPointer { d in splitIndices.withUnsafeBufferPointer { split in
            let digits = UnsafeRawPointer(d.baseAddress!)
            let even = _mm512_loadu_si512(UnsafeRawPointer(split.baseAddress!))
            let odd = _mm512_add_epi8(even, _mm512_set1_epi8(1))
            do {
                let first = g &* groupColumns, n = min(groupColumns, cols &- first)
                for p in positions {
                    @inline(__always) func x(_ k: Int) -> Int8 { p &+ k &* b < n ? q[first &+ p &+ k &* b] : 0 }
                    let x0 = x(0), x1 = x(1), x2 = x(2), x3 = x(3), x4 = x(4)
                    let sum = Int16(x0) &+ Int16(x1) &+ Int16(x2) &+ Int16(x3) &+ Int16(x4)
                    let x01 = _mm512_set1_epi16(Int16(bitPattern: UInt16(UInt8(bitPattern: x0)) | UInt16(UInt8(bitPattern: x1)) << 8))
                    let x23 = _mm512_set1_epi16(Int16(bitPattern: UInt16(UInt8(bitPattern: x2)) | UInt16(UInt8(bitPattern: x3)) << 8))
                    let x44 = _mm512_set1_epi16(Int16(bitPattern: UInt16(UInt8(bitPattern: x4))))
                    let s = _mm512_set1_epi16(sum)
                    @inline(__always) func entries(_ c: Int) -> __m512i {
                        let base = digits + c &* 192
                        let t = _mm512_add_epi16(_mm512_maddubs_epi16(_mm512_loadu_si512(base), x01),
                                                 _mm512_maddubs_epi16(_mm512_loadu_si512(base + 64), x23))
                        return _mm512_sub_epi16(_mm512_add_epi16(t, _mm512_maddubs_epi16(_mm512_loadu_si512(base + 128), x44)), s)
                    }
                    let dst = UnsafeMutableRawPointer(out + (p &- positions.lowerBound) &* tableBytes)
                    for c in 0..<4 {
                        let v0 = entries(2 &* c), v1 = entries(2 &* c &+ 1)
                        _mm512_storeu_si512(dst + c &* 64, _mm512_permutex2var_epi8(v0, even, v1))
                        _mm512_storeu_si512(dst + (256 &+ c &* 64), _mm512_permutex2var_epi8(v0, odd, v1))
                    }
                }
            }
        } }
    }

    /// Per chunk c of 32 table entries: 64 bytes (c_0, c_1) per entry, 64 bytes (c_2, c_3),
    /// 64 bytes (c_4, 0) — the unsigned operands of `vpmaddubsw`.
    static let digitPairs: [UInt8] = {
        var out = [UInt8](repeating: 0, count: 8 * 192)
        var c = [UInt8](repeating: 0, count: 5)
        for v in 0..<243 {
            let chunk = v / 32, i = v % 32, base = chunk * 192
            out[base + 2 * i] = c[0]; out[base + 2 * i + 1] = c[1]
            out[base + 64 + 2 * i] = c[2]; out[base + 64 + 2 * i + 1] = c[3]
            out[base + 128 + 2 * i] = c[4]
            var k = 0
            while k < 5 { c[k] += 1; if c[k] < 3 { break }; c[k] = 0; k += 1 }
        }
        return out
    }()

    /// 0, 2, 4, …, 126: the low bytes of two int16 vectors (add 1 for the high bytes).
    static let splitIndices: [UInt8] = (0..<64).map { UInt8(2 * $0) }

    /// One token's GEMV over the 64-row tiles `tiles`, block by block: the thread builds each
    /// block's tables (≤ 16 KiB) itself, and they stay in L1 while the chunk's tiles stream
    /// past, `rowBlock` tiles at a time. (Building all tables once per call before the tiles
    /// is a serial step, and their 426 KiB at K = 4096 went through DRAM when the weights did,
    /// so cold calls were about twice as slow as 2-bit's. Building them in parallel, each thread
    /// a share of the blocks into one buffer, then sweeping, was slower too, hot and cold: a
    /// thread reads all P · 512 table bytes either way, as many as its weights at 256 rows, and
    /// from L2/L3 instead of L1.)
    /// `scratch`: `Base3LookupArguments.scratchBytes(tiles: tiles.count)`.
    public static func gemvTiles(_ a: Base3LookupArguments, tiles: Range<Int>, scratch: UnsafeMutableRawPointer) {
        let chunkRows = tiles.count &* 64
        let tableArea = scratch.assumingMemoryBound(to: UInt8.self)
        let sums = (scratch + Base3LookupArguments.tableArea).assumingMemoryBound(to: Int32.self)          // [plane][chunkRows]
        let fsum = (scratch + (Base3LookupArguments.tableArea &+ 2 &* chunkRows &* 4)).assumingMemoryBound(to: Float.self)
        sums.update(repeating: 0, count: a.planes &* chunkRows)
        fsum.update(repeating: 0, count: chunkRows)
        for b in 0..<a.blocks {
            let start = a.blockStarts[b], n = a.blockStarts[b &+ 1] &- start
            let region = a.weights + start &* a.tiles &* a.planes &* 64
            let g = a.blockGroups[b]
            let inGroup = start &- a.groupStarts[g]
            buildTables(a.acts, group: g, positions: inGroup..<(inGroup &+ n), groupBytes: a.groupStarts[g &+ 1] &- a.groupStarts[g],
                        groupColumns: a.groupColumns, cols: a.cols, into: tableArea)
            let tables = UnsafePointer(tableArea)
            // This thread's run of the block, and where its run of the next block starts: the
            // prefetch stream jumps there rather than into another thread's tiles.
            let runEnd = region + tiles.upperBound &* a.planes &* n &* 64
            var nextRun = runEnd
            if b &+ 1 < a.blocks {
                let nextStart = a.blockStarts[b &+ 1], nextN = a.blockStarts[b &+ 2] &- nextStart
                nextRun = a.weights + nextStart &* a.tiles &* a.planes &* 64 + tiles.lowerBound &* a.planes &* nextN &* 64
            }
            let stream = PrefetchStream(end: runEnd, next: nextRun)
            // Tile groups of 4 (the chunk starts at a group; only the layer's last may be shorter).
            var t = tiles.lowerBound
            while t < tiles.upperBound {
                let k = min(4, tiles.upperBound &- t)
                let out = sums + (t &- tiles.lowerBound) &* 64
                let first = region + t &* a.planes &* n &* 64
                switch (k, a.planes) {
                case (4, 1): lookups(a, first, tables, n, 4, 1, out, chunkRows, stream)
                case (4, _): lookups(a, first, tables, n, 4, 2, out, chunkRows, stream)
                case (3, 1): lookups(a, first, tables, n, 3, 1, out, chunkRows, stream)
                case (3, _): lookups(a, first, tables, n, 3, 2, out, chunkRows, stream)
                case (2, 1): lookups(a, first, tables, n, 2, 1, out, chunkRows, stream)
                case (2, _): lookups(a, first, tables, n, 2, 2, out, chunkRows, stream)
                case (_, 1): lookups(a, first, tables, n, 1, 1, out, chunkRows, stream)
                default: lookups(a, first, tables, n, 1, 2, out, chunkRows, stream)
                }
                t &+= k
            }
            if b &+ 1 == a.blocks || a.blockGroups[b &+ 1] != g {
                groupEpilogue(a, g, tiles, sums, fsum, chunkRows)
            }
        }
        let d = _mm512_set1_ps(a.actScale)
        var at = 0
        while at < chunkRows {
            let row = tiles.lowerBound &* 64 &+ at
            guard row < a.rows else { break }
            var y = _mm512_mul_ps(_mm512_loadu_ps(fsum + at), d)
            if let b = a.bias {
                let second = row &+ 8 < a.rows ? row &+ 8 : row
                y = _mm512_add_ps(y, halves16(b, (row, second)))
            }
            let valid = min(16, a.rows &- row)
            _mm512_mask_storeu_ps(a.y + row, __mmask16(truncatingIfNeeded: (1 << valid) &- 1), y)
            at &+= 16
        }
    }

    /// The `n` positions of one block for a group of `k` tiles at `first` and `planes` planes
    /// (constants after inlining): int16 lookups, then widened into the int32 row sums at `out`.
    /// The accumulators are named variables and every tile is written out under `if k > r`, so
    /// with k and planes constant each lookup adds into a fixed register. (A `for r in 0..<k`
    /// loop over an accumulator struct was left rolled by LLVM, and the struct's subscript
    /// became an indirect jump per lookup.)
    @inline(__always)
    static func lookups(_ a: Base3LookupArguments, _ first: UnsafePointer<UInt8>, _ tables: UnsafePointer<UInt8>, _ n: Int,
                        _ k: Int, _ planes: Int, _ out: UnsafeMutablePointer<Int32>, _ chunkRows: Int,
                        _ stream: PrefetchStream) {
        // Far-ahead prefetch into L2 (see the `prefetchBytes` parameter's meaning in the registry).
        let pf = a.prefetchBytes
        let z = _mm512_setzero_si512()
        // Tile r, plane pl: words of the low-unpack in e[r][pl], the high-unpack in o[r][pl].
        var e00 = z, o00 = z, e10 = z, o10 = z, e20 = z, o20 = z, e30 = z, o30 = z
        var e01 = z, o01 = z, e11 = z, o11 = z, e21 = z, o21 = z, e31 = z, o31 = z
        for p in 0..<n {
            let t = UnsafeRawPointer(tables + p &* tableBytes)
            let l0 = _mm512_loadu_si512(t), l1 = _mm512_loadu_si512(t + 64)
            let l2 = _mm512_loadu_si512(t + 128), l3 = _mm512_loadu_si512(t + 192)
            let h0 = _mm512_loadu_si512(t + 256), h1 = _mm512_loadu_si512(t + 320)
            let h2 = _mm512_loadu_si512(t + 384), h3 = _mm512_loadu_si512(t + 448)
            /// Adds the lookups of (tile r, plane pl) into (ev, od).
            @inline(__always) func add(_ r: Int, _ pl: Int, _ ev: inout __m512i, _ od: inout __m512i) {
                let w = first + ((p &* k &+ r) &* planes &+ pl) &* 64
                if pf > 0 { tritbench_prefetch_l2(stream.ahead(of: w, by: pf)) }
                let idx = _mm512_loadu_si512(UnsafeRawPointer(w))
                let high = _mm512_movepi8_mask(idx)
                let lo = _mm512_mask_blend_epi8(high, _mm512_permutex2var_epi8(l0, idx, l1),
                                                _mm512_permutex2var_epi8(l2, idx, l3))
                let hi = _mm512_mask_blend_epi8(high, _mm512_permutex2var_epi8(h0, idx, h1),
                                                _mm512_permutex2var_epi8(h2, idx, h3))
                ev = _mm512_add_epi16(ev, _mm512_unpacklo_epi8(lo, hi))
                od = _mm512_add_epi16(od, _mm512_unpackhi_epi8(lo, hi))
            }
            add(0, 0, &e00, &o00)
            if planes == 2 { add(0, 1, &e01, &o01) }
            if k > 1 { add(1, 0, &e10, &o10); if planes == 2 { add(1, 1, &e11, &o11) } }
            if k > 2 { add(2, 0, &e20, &o20); if planes == 2 { add(2, 1, &e21, &o21) } }
            if k > 3 { add(3, 0, &e30, &o30); if planes == 2 { add(3, 1, &e31, &o31) } }
        }
        // Widen: word 2d (even) and 2d+1 (odd) of each dword; vector j = 2h + e holds rows
        // 16j…16j+15 of the tile (the packing's lane order).
        @inline(__always) func widen(_ r: Int, _ pl: Int, _ ev: __m512i, _ od: __m512i) {
            let base = out + (pl &* chunkRows &+ r &* 64)
            addInt32(base, _mm512_srai_epi32(_mm512_slli_epi32(ev, 16), 16))
            addInt32(base + 16, _mm512_srai_epi32(ev, 16))
            addInt32(base + 32, _mm512_srai_epi32(_mm512_slli_epi32(od, 16), 16))
            addInt32(base + 48, _mm512_srai_epi32(od, 16))
        }
        widen(0, 0, e00, o00)
        if planes == 2 { widen(0, 1, e01, o01) }
        if k > 1 { widen(1, 0, e10, o10); if planes == 2 { widen(1, 1, e11, o11) } }
        if k > 2 { widen(2, 0, e20, o20); if planes == 2 { widen(2, 1, e21, o21) } }
        if k > 3 { widen(3, 0, e30, o30); if planes == 2 { widen(3, 1, e31, o31) } }
    }

    /// Group g enters each row's float sum in the reference's order; its int32 sums are reset.
    @inline(__always)
    static func groupEpilogue(_ a: Base3LookupArguments, _ g: Int, _ tiles: Range<Int>, _ sums: UnsafeMutablePointer<Int32>,
                              _ fsum: UnsafeMutablePointer<Float>, _ chunkRows: Int) {
        let qs = _mm512_set1_ps(Float(a.groupSums[g]))
        let zero = _mm512_setzero_si512()
        var at = 0
        while at < chunkRows {
            let row = tiles.lowerBound &* 64 &+ at
            guard row < a.rows else { break }
            var s = _mm512_loadu_ps(fsum + at)
            let side = sideOffsets(a, row: row, group: g)
            s = _mm512_add_ps(s, _mm512_mul_ps(halves16(a.scales0, side), int32Floats(sums + at)))
            _mm512_storeu_si512(UnsafeMutableRawPointer(sums + at), zero)
            if a.planes == 2, let s1 = a.scales1 {
                s = _mm512_add_ps(s, _mm512_mul_ps(halves16(s1, side), int32Floats(sums + (chunkRows &+ at))))
                _mm512_storeu_si512(UnsafeMutableRawPointer(sums + (chunkRows &+ at)), zero)
            }
            if let mu = a.offsets { s = _mm512_add_ps(s, _mm512_mul_ps(halves16(mu, side), qs)) }
            _mm512_storeu_ps(fsum + at, s)
            at &+= 16
        }
    }

    /// Where rows row…row+7 and row+8…row+15 of `group` sit in the [tile8][group][8] side data
    /// (the second 8 rows read the first's again when they are past the last row: never stored).
    @inline(__always) static func sideOffsets(_ a: Base3LookupArguments, row: Int, group g: Int) -> (Int, Int) {
        let first = ((row >> 3) &* a.groups &+ g) &* 8
        guard row &+ 8 < a.rows else { return (first, first) }
        return (first, (((row >> 3) &+ 1) &* a.groups &+ g) &* 8)
    }

    /// 16 Float16 values from two runs of 8.
    @inline(__always) static func halves16(_ p: UnsafePointer<UInt16>, _ at: (Int, Int)) -> __m512 {
        let lo = UnsafeRawPointer(p + at.0).assumingMemoryBound(to: __m128i_u.self)
        let hi = UnsafeRawPointer(p + at.1).assumingMemoryBound(to: __m128i_u.self)
        return _mm512_cvtph_ps(_mm256_loadu2_m128i(hi, lo))
    }

    @inline(__always) static func int32Floats(_ p: UnsafePointer<Int32>) -> __m512 {
        _mm512_cvtepi32_ps(_mm512_loadu_si512(UnsafeRawPointer(p)))
    }

    @inline(__always) static func addInt32(_ p: UnsafeMutablePointer<Int32>, _ v: __m512i) {
        let raw = UnsafeMutableRawPointer(p)
        _mm512_storeu_si512(raw, _mm512_add_epi32(_mm512_loadu_si512(UnsafeRawPointer(raw)), v))
    }
}

#endif
