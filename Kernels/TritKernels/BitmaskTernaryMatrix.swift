/// Bitmask planes: for each trit plane, a +1 mask P and a −1 mask N (2 bits per weight per
/// plane), so y = Σ_P x − Σ_N x. One or two planes (PTQTP's two planes bit-sliced).
///
/// Each row is cut into chunks of 128 columns (padding: both bits 0 = weight 0). A chunk is 32
/// bytes: 16 bytes of P then 16 bytes of N, bit i of the 128-bit little-endian mask being
/// column i of the chunk:
///
///     chunk c:  [ P: 16 bytes, bit i = (w[c·128+i] == +1) ][ N: 16 bytes, bit i = (w[c·128+i] == −1) ]
///
/// Bytes 4v…4v+3 of each mask cover the 32 columns of vector v, so a kernel expands 32 bits
/// into 32 byte masks (broadcast, `vpshufb`, `vpand` with 1,2,4…128, `vpcmpeqb`).
///
///     buffer: `RowTiledLayout` units = chunks: [plane][row / 8][chunk][row % 8][32 bytes]
public struct BitmaskTernaryMatrix: PackedTernaryFormat {
    public var kind: PackedFormatKind { .bitmask }
    public private(set) var side: TernarySideData
    public private(set) var masks: AlignedBuffer
    public let chunksPerRow: Int
    public var layout: RowTiledLayout { RowTiledLayout(rows: side.rows, planes: side.planeCount, units: chunksPerRow) }

    public init(packing w: TernaryWeights) throws {
        try w.validate()
        side = TernarySideData(w)
        chunksPerRow = (w.cols + 127) / 128
        let layout = RowTiledLayout(rows: w.rows, planes: w.planes.count, units: chunksPerRow)
        masks = AlignedBuffer(byteCount: layout.byteCount)
        let out = masks.bytes
        for (p, plane) in w.planes.enumerated() {
            for r in 0..<w.rows {
                for j in 0..<w.cols {
                    let t = plane[r * w.cols + j]
                    guard t != 0 else { continue }
                    let byte = layout.offset(plane: p, row: r, unit: j / 128) + (t > 0 ? 0 : 16) + (j % 128) / 8
                    out[byte] |= UInt8(1) << UInt8(j % 8)
                }
            }
        }
    }

    public func unpack() -> TernaryWeights {
        let layout = self.layout
        let planes: [[Int8]] = (0..<side.planeCount).map { p in
            var plane = [Int8](repeating: 0, count: side.rows * side.cols)
            for r in 0..<side.rows {
                for j in 0..<side.cols {
                    let at = layout.offset(plane: p, row: r, unit: j / 128) + (j % 128) / 8, bit = UInt8(1) << UInt8(j % 8)
                    let pos = masks.bytes[at] & bit != 0, neg = masks.bytes[at + 16] & bit != 0
                    plane[r * side.cols + j] = pos ? 1 : (neg ? -1 : 0)
                }
            }
            return plane
        }
        return side.weights(planes: planes)
    }

    public var weightBytes: Int { masks.count + side.byteCount }

    /// The same layer in freshly allocated memory (benchmarks' cold copies).
    public func duplicated() -> Self {
        var c = self
        c.masks = masks.copy()
        c.side = side.duplicated()
        return c
    }
}
