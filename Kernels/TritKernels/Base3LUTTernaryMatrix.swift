/// Base-3 bytes laid out for table lookup: 5 trits per byte (1.6 bpw, 1.625 at 128-column
/// groups), 64 rows interleaved so that one 64-byte load holds the same byte position of 64
/// rows. The kernel (`lut243`) never decodes a trit: the byte itself indexes a 243-entry table
/// of the activations' partial sums, the same table for all 64 rows, so `vpermi2b` looks up 64
/// rows at once (see `VBMILookupKernels`). One plane (`.base3LUT`) or PTQTP's two
/// (`.twoPlaneBase3LUT`, 3.25 bpw at 128-column groups); both planes index the same tables.
///
/// The byte is a plain base-3 number of the codes c_k = w_k + 1 ∈ {0, 1, 2}:
///
///     v = c_0 + 3·c_1 + 9·c_2 + 27·c_3 + 81·c_4          ∈ [0, 242]
///
///     bit  7 … 0   [ v ]                               (256 − 243 values never occur)
///
/// Its trits all lie in one scale group, so a lookup adds to one (row, group) sum. Group g has
/// n_g columns (`groupSize`, or fewer in a last, short group) and B_g = ⌈n_g / 5⌉ bytes per
/// row; byte p (0 ≤ p < B_g) holds the columns
///
///     g·groupSize + p + k·B_g,   k = 0…4              (a column ≥ n_g is padding: weight 0)
///
/// so each trit position k reads a contiguous run of B_g activations when the tables are built.
/// Byte positions of all groups follow each other: P = Σ_g B_g per row. They are cut into
/// blocks of at most 32 positions that never cross a group (a 128-column group is one block of
/// 26): a block's tables (16 KiB at most) stay in L1 while every row tile looks them up, and
/// its int16 sums (≤ 32·640) cannot wrap.
///
///     buffer: [block][tile group = row / 256][position in block][tile in group][plane][lane 0 ..< 64]
///             (rows padded to 64, weight 0; the last group may hold fewer than 4 tiles)
///
/// which is the order the loop reads them in (4 tiles share each table load), so a thread
/// sweeping its rows through one block reads one sequential run. (With [tile][position] inside
/// a block the loop read 4 interleaved runs of 26 lines, which the hardware prefetchers did not
/// follow: cold calls took several times as long as hot ones.)
///
/// Lanes are not rows in order: `vpunpck{l,h}bw` and the even/odd 16→32-bit split that widen a
/// register of lookups put lane b's sum into int32 vector j, element d (see `lane(row:)`); the
/// packing puts row 16·j + d there, so each widened vector holds 16 consecutive rows.
///
/// Decoding for the portable kernel and `unpack` uses `digits` (a table built by counting, no
/// division).
public struct Base3LUTTernaryMatrix: PackedTernaryFormat, PackedStorage {
    public var kind: PackedFormatKind { side.planeCount == 1 ? .base3LUT : .twoPlaneBase3LUT }
    public static let tileRows = 64
    public internal(set) var side: TernarySideData
    /// The packed bytes (layout above).
    public internal(set) var buffer: AlignedBuffer
    /// Byte positions per row of each scale group (B_g).
    public let groupBytes: [Int]
    /// First byte position of each scale group, and P (the total) at the end.
    public let groupStarts: [Int]
    /// First byte position of each block, and P at the end.
    public let blockStarts: [Int]
    /// The scale group of each block.
    public let blockGroups: [Int]
    public static let maxBlockPositions = 32
    /// 64-row tiles per tile group (the loop's register block).
    public static let groupTiles = 4
    public var positions: Int { groupStarts[groupStarts.count - 1] }
    public var rowTiles: Int { (side.rows + 63) / 64 }

    /// Byte offset of (plane, 64-row tile, position).
    @inlinable public func offset(plane p: Int, tile t: Int, position: Int) -> Int {
        let b = Self.block(of: position, starts: blockStarts)
        let start = blockStarts[b], n = blockStarts[b + 1] - start, planes = side.planeCount
        let g = t / Self.groupTiles, inGroup = min(Self.groupTiles, rowTiles - g * Self.groupTiles)
        return (start * rowTiles * planes + g * Self.groupTiles * planes * n
                + ((position - start) * inGroup + t % Self.groupTiles) * planes + p) * 64
    }

    @inlinable static func block(of position: Int, starts: [Int]) -> Int {
        var lo = 0, hi = starts.count - 2
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= position { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }
    /// Columns in a full scale group (`groupSize`, or `cols` for one group per row).
    public var groupColumns: Int { side.groupsPerRow == 1 ? side.cols : side.groupSize }

    /// digits[v] = (c_0 … c_4) of v, for v < 243; built by counting in base 3.
    public static let digits: [(UInt8, UInt8, UInt8, UInt8, UInt8)] = {
        var out: [(UInt8, UInt8, UInt8, UInt8, UInt8)] = []
        var c: [UInt8] = [0, 0, 0, 0, 0]
        for _ in 0..<243 {
            out.append((c[0], c[1], c[2], c[3], c[4]))
            var k = 0
            while k < 5 { c[k] += 1; if c[k] < 3 { break }; c[k] = 0; k += 1 }
        }
        return out
    }()

    /// Code c_k of byte value v.
    @inlinable public static func code(_ v: UInt8, trit k: Int) -> UInt8 {
        let d = digits[Int(v)]
        switch k { case 0: return d.0; case 1: return d.1; case 2: return d.2; case 3: return d.3; default: return d.4 }
    }

    /// The lane of a 64-row tile that holds row r % 64. Row 16·j + d sits where widening puts
    /// int32 vector j = 2h + e, element d: lane = 16·(d / 4) + 8·h + 2·(d % 4) + e.
    @inlinable public static func lane(row r: Int) -> Int {
        let i = r % 64, j = i / 16, d = i % 16
        let h = j / 2, e = j % 2
        return 16 * (d / 4) + 8 * h + 2 * (d % 4) + e
    }

    /// Byte positions of a layer: ⌈n_g / 5⌉ for each scale group g.
    public static func groupBytes(cols: Int, groupSize: Int) -> [Int] {
        let ng = (cols + groupSize - 1) / groupSize
        let full = ng == 1 ? cols : groupSize
        return (0..<ng).map { g in (min(full, cols - g * full) + 4) / 5 }
    }

    public init(packing w: TernaryWeights) throws {
        try w.validate()
        side = TernarySideData(w)
        groupBytes = Self.groupBytes(cols: w.cols, groupSize: w.groupSize)
        var starts = [0]
        for b in groupBytes { starts.append(starts[starts.count - 1] + b) }
        groupStarts = starts
        var bStarts = [0], bGroups: [Int] = []
        for (g, b) in groupBytes.enumerated() {
            var p = 0
            while p < b {
                let n = min(Self.maxBlockPositions, b - p)
                bGroups.append(g)
                bStarts.append(bStarts[bStarts.count - 1] + n)
                p += n
            }
        }
        blockStarts = bStarts
        blockGroups = bGroups
        let tiles = (w.rows + 63) / 64, positions = starts[starts.count - 1]
        buffer = AlignedBuffer(byteCount: w.planes.count * tiles * positions * 64)
        let out = buffer.bytes, cols = w.cols, full = groupBytes.count == 1 ? w.cols : w.groupSize
        for (p, plane) in w.planes.enumerated() {
            for r in 0..<(tiles * 64) {
                let lane = Self.lane(row: r)
                for (g, b) in groupBytes.enumerated() {
                    let first = g * full, n = min(full, cols - first)
                    for pos in 0..<b {
                        var v = 0, power = 1
                        for k in 0..<5 {
                            let j = pos + k * b
                            let c = (r < w.rows && j < n) ? Int(plane[r * cols + first + j]) + 1 : 1
                            v += c * power
                            power *= 3
                        }
                        out[offset(plane: p, tile: r / 64, position: starts[g] + pos) + lane] = UInt8(v)
                    }
                }
            }
        }
    }

    /// Code w + 1 of (plane, row, column), read from the packed bytes.
    @inlinable public func code(plane p: Int, row r: Int, column j: Int) -> UInt8 {
        let full = groupColumns, g = j / full, b = groupBytes[g], within = j - g * full
        let pos = within % b, k = within / b
        let byte = buffer.bytes[offset(plane: p, tile: r / 64, position: groupStarts[g] + pos) + Self.lane(row: r)]
        return Self.code(byte, trit: k)
    }

    public func unpack() -> TernaryWeights {
        let planes: [[Int8]] = (0..<side.planeCount).map { p in
            var plane = [Int8](repeating: 0, count: side.rows * side.cols)
            for r in 0..<side.rows {
                for j in 0..<side.cols { plane[r * side.cols + j] = Int8(code(plane: p, row: r, column: j)) - 1 }
            }
            return plane
        }
        return side.weights(planes: planes)
    }

    public var weightBytes: Int { storedBytes }
    public var trits: AlignedBuffer { buffer }

    public func portableCodes(plane p: Int, row r: Int, vector v: Int) -> SIMD32<UInt8> {
        var c = SIMD32<UInt8>(repeating: 1)
        for i in 0..<32 where 32 * v + i < side.cols { c[i] = code(plane: p, row: r, column: 32 * v + i) }
        return c
    }

    public func duplicated() -> Self { duplicatedStorage() }
}
