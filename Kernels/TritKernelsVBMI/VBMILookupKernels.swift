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
// Exact: |T| ≤ 5·128 = 640, so int16 sums of up to 51 lookups cannot wrap (`depth`), and each
// (row, group) sum equals Σ w·q of the scalar reference; the float epilogue follows the
// reference's order (s += α₀·Σ₀, s += α₁·Σ₁, s += μ·Σq per group; y = s·d (+ bias)).

#if arch(x86_64)
import _Builtin_intrinsics.intel
import CTritSupport

/// Pointers and sizes of one token's call over a `Base3LUTTernaryMatrix`.
public struct Base3LookupArguments {
    /// Plane 0's bytes ([tile][position][64 lanes]); plane 1 follows at `planeStride`.
    public var weights: UnsafePointer<UInt8>
    public var planes: Int
    public var planeStride: Int
    /// Bytes per 64-row tile: positions · 64.
    public var tileStride: Int
    public var rows: Int
    public var groups: Int
    /// First byte position of each scale group, `groups + 1` entries (the last is P).
    public var groupStarts: UnsafePointer<Int>
    /// The token's tables: [position][low bytes of T[0…255] | high bytes] (512 bytes each).
    public var tables: UnsafePointer<UInt8>
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
    /// 64-row tiles looked up together (register block); two planes use at most 2.
    public var rowBlock: Int
    /// Byte positions summed in int16 before widening to int32 (≤ 51).
    public var depth: Int
    public var prefetchBytes: Int

    public init(weights: UnsafePointer<UInt8>, planes: Int, planeStride: Int, tileStride: Int, rows: Int, groups: Int,
                groupStarts: UnsafePointer<Int>, tables: UnsafePointer<UInt8>, groupSums: UnsafePointer<Int32>, actScale: Float,
                scales0: UnsafePointer<UInt16>, scales1: UnsafePointer<UInt16>?, offsets: UnsafePointer<UInt16>?,
                bias: UnsafePointer<UInt16>?, y: UnsafeMutablePointer<Float>, rowBlock: Int, depth: Int, prefetchBytes: Int) {
        self.weights = weights; self.planes = planes; self.planeStride = planeStride; self.tileStride = tileStride
        self.rows = rows; self.groups = groups; self.groupStarts = groupStarts; self.tables = tables
        self.groupSums = groupSums; self.actScale = actScale; self.scales0 = scales0; self.scales1 = scales1
        self.offsets = offsets; self.bias = bias; self.y = y; self.rowBlock = rowBlock; self.depth = depth
        self.prefetchBytes = prefetchBytes
    }

    /// Scratch the loop needs per thread: int32 sums of each plane and float sums, 64 · 4 rows each.
    public static let scratchBytes = (2 + 1) * 4 * 64 * 4
}

public enum VBMILookupKernels {
    /// Bytes of tables per byte position.
    public static let tableBytes = 512

    /// Builds the tables of one token: for byte position p of group g (B bytes), the 5
    /// activations x_k = q[g·groupColumns + p + k·B] (0 past the group's last column) and
    ///
    ///     T[v] = Σ_k (c_k(v) − 1)·x_k   for v < 243  (c_k = base-3 digit k; v ≥ 243: unused)
    ///
    /// stored as 256 low bytes, then 256 high bytes. Computed as Σ c_k·x_k − Σ x_k with three
    /// `vpmaddubsw` over constant digit pairs per 32 entries, then split by `vpermt2b`.
    public static func buildTables(_ q: UnsafePointer<Int8>, groupStarts: UnsafePointer<Int>, groups: Int,
                                   groupColumns: Int, cols: Int, into out: UnsafeMutablePointer<UInt8>) {
        digitPairs.withUnsafeBufferPointer { d in splitIndices.withUnsafeBufferPointer { split in
            let digits = UnsafeRawPointer(d.baseAddress!)
            let even = _mm512_loadu_si512(UnsafeRawPointer(split.baseAddress!))
            let odd = _mm512_add_epi8(even, _mm512_set1_epi8(1))
            for g in 0..<groups {
                let first = g &* groupColumns, n = min(groupColumns, cols &- first)
                let b = groupStarts[g &+ 1] &- groupStarts[g]
                for p in 0..<b {
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
                    let dst = UnsafeMutableRawPointer(out + (groupStarts[g] &+ p) &* tableBytes)
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

    /// One token's GEMV over the 64-row tiles `tiles`. `scratch`: `Base3LookupArguments.scratchBytes`.
    public static func gemvTiles(_ a: Base3LookupArguments, tiles: Range<Int>, scratch: UnsafeMutableRawPointer) {
        let block = a.planes == 2 ? min(a.rowBlock, 2) : min(a.rowBlock, 4)
        var t = tiles.lowerBound
        while t < tiles.upperBound {
            let left = tiles.upperBound &- t
            let n = left >= block ? block : (left >= 2 && block >= 2 ? 2 : 1)
            switch (n, a.planes) {
            case (4, _): tileBlock(a, t, 4, 1, scratch)
            case (2, 1): tileBlock(a, t, 2, 1, scratch)
            case (2, _): tileBlock(a, t, 2, 2, scratch)
            case (_, 1): tileBlock(a, t, 1, 1, scratch)
            default: tileBlock(a, t, 1, 2, scratch)
            }
            t &+= n
        }
    }

    /// `n` tiles from `tile0`, `planes` planes (both constants after inlining).
    @inline(__always)
    static func tileBlock(_ a: Base3LookupArguments, _ tile0: Int, _ n: Int, _ planes: Int, _ scratch: UnsafeMutableRawPointer) {
        let sums = scratch.assumingMemoryBound(to: Int32.self)          // [plane][n·64 rows]
        let fsum = (scratch + 2 &* 4 &* 64 &* 4).assumingMemoryBound(to: Float.self)  // [n·64 rows]
        let rowsInBlock = n &* 64
        fsum.update(repeating: 0, count: rowsInBlock)
        let pf = a.prefetchBytes
        for g in 0..<a.groups {
            sums.update(repeating: 0, count: planes &* rowsInBlock)
            var p = a.groupStarts[g]
            let end = a.groupStarts[g &+ 1]
            while p < end {
                let stop = min(end, p &+ a.depth)
                var acc = ZAcc8()
                while p < stop {
                    let t = UnsafeRawPointer(a.tables + p &* tableBytes)
                    let l0 = _mm512_loadu_si512(t), l1 = _mm512_loadu_si512(t + 64)
                    let l2 = _mm512_loadu_si512(t + 128), l3 = _mm512_loadu_si512(t + 192)
                    let h0 = _mm512_loadu_si512(t + 256), h1 = _mm512_loadu_si512(t + 320)
                    let h2 = _mm512_loadu_si512(t + 384), h3 = _mm512_loadu_si512(t + 448)
                    for pl in 0..<planes {
                        for r in 0..<n {
                            let offset: Int = pl &* a.planeStride &+ (tile0 &+ r) &* a.tileStride &+ p &* 64
                            let w = a.weights + offset
                            if pf > 0 { tritbench_prefetch(w + pf) }
                            let idx = _mm512_loadu_si512(UnsafeRawPointer(w))
                            let high = _mm512_movepi8_mask(idx)
                            let lo = _mm512_mask_blend_epi8(high, _mm512_permutex2var_epi8(l0, idx, l1),
                                                            _mm512_permutex2var_epi8(l2, idx, l3))
                            let hi = _mm512_mask_blend_epi8(high, _mm512_permutex2var_epi8(h0, idx, h1),
                                                            _mm512_permutex2var_epi8(h2, idx, h3))
                            let i = (pl &* n &+ r) &* 2
                            acc[i] = _mm512_add_epi16(acc[i], _mm512_unpacklo_epi8(lo, hi))
                            acc[i &+ 1] = _mm512_add_epi16(acc[i &+ 1], _mm512_unpackhi_epi8(lo, hi))
                        }
                    }
                    p &+= 1
                }
                // Widen: word 2d (even) and 2d+1 (odd) of each dword; vector j = 2h + e holds
                // rows 16j…16j+15 (the packing's lane order).
                for pl in 0..<planes {
                    for r in 0..<n {
                        let base = sums + (pl &* rowsInBlock &+ r &* 64)
                        for h in 0..<2 {
                            let v = acc[(pl &* n &+ r) &* 2 &+ h]
                            addInt32(base + (2 &* h) &* 16, _mm512_srai_epi32(_mm512_slli_epi32(v, 16), 16))
                            addInt32(base + (2 &* h &+ 1) &* 16, _mm512_srai_epi32(v, 16))
                        }
                    }
                }
            }
            // The group enters each row's float sum in the reference's order.
            let qs = _mm512_set1_ps(Float(a.groupSums[g]))
            for r in 0..<n {
                for j in 0..<4 {
                    let row = (tile0 &+ r) &* 64 &+ j &* 16
                    guard row < a.rows else { break }
                    let at = r &* 64 &+ j &* 16
                    var s = _mm512_loadu_ps(fsum + at)
                    let side = sideOffsets(a, row: row, group: g)
                    s = _mm512_add_ps(s, _mm512_mul_ps(halves16(a.scales0, side), int32Floats(sums + at)))
                    if planes == 2, let s1 = a.scales1 {
                        s = _mm512_add_ps(s, _mm512_mul_ps(halves16(s1, side), int32Floats(sums + (rowsInBlock &+ at))))
                    }
                    if let mu = a.offsets { s = _mm512_add_ps(s, _mm512_mul_ps(halves16(mu, side), qs)) }
                    _mm512_storeu_ps(fsum + at, s)
                }
            }
        }
        let d = _mm512_set1_ps(a.actScale)
        for r in 0..<n {
            for j in 0..<4 {
                let row = (tile0 &+ r) &* 64 &+ j &* 16
                guard row < a.rows else { break }
                var y = _mm512_mul_ps(_mm512_loadu_ps(fsum + (r &* 64 &+ j &* 16)), d)
                if let b = a.bias {
                    let second = row &+ 8 < a.rows ? row &+ 8 : row
                    y = _mm512_add_ps(y, halves16(b, (row, second)))
                }
                let valid = min(16, a.rows &- row)
                _mm512_mask_storeu_ps(a.y + row, __mmask16(truncatingIfNeeded: (1 << valid) &- 1), y)
            }
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

/// Eight zmm int16 accumulators addressed by constant indices after inlining.
struct ZAcc8 {
    var v0 = _mm512_setzero_si512(), v1 = _mm512_setzero_si512(), v2 = _mm512_setzero_si512(), v3 = _mm512_setzero_si512()
    var v4 = _mm512_setzero_si512(), v5 = _mm512_setzero_si512(), v6 = _mm512_setzero_si512(), v7 = _mm512_setzero_si512()
    @inline(__always) subscript(i: Int) -> __m512i {
        get {
            switch i {
            case 0: return v0; case 1: return v1; case 2: return v2; case 3: return v3
            case 4: return v4; case 5: return v5; case 6: return v6; default: return v7
            }
        }
        set {
            switch i {
            case 0: v0 = newValue; case 1: v1 = newValue; case 2: v2 = newValue; case 3: v3 = newValue
            case 4: v4 = newValue; case 5: v5 = newValue; case 6: v6 = newValue; default: v7 = newValue
            }
        }
    }
}
#endif
