/// 2-bit trit codes (I2_S / TQ2_0 style): code = w + 1 ∈ {0, 1, 2}; 2.0 bpw plus side data.
/// Serves one plane (`.twoBit`) and the plain PTQTP 2 × 2-bit form (`.twoPlane2Bit`).
///
/// Each row is cut into chunks of 128 columns (the last one zero-padded: code 1 = weight 0).
/// One chunk is 32 bytes; byte b holds the four columns b, b+32, b+64, b+96 of the chunk:
///
///     byte b of chunk c:   bit 7 6 | 5 4 | 3 2 | 1 0
///                              w[96+b] w[64+b] w[32+b] w[b]      (w = column c·128 + …)
///
/// so one 32-byte load, three shifts and four ANDs give four vectors of 32 consecutive codes,
/// ready for `vpmaddubsw(code, activation)` (codes are the unsigned operand: no saturation).
///
///     buffer: `RowTiledLayout` units = chunks: [plane][row / 8][chunk][row % 8][32 bytes]
///     (rows padded to 8 with code 1)
public struct TwoBitTernaryMatrix: PackedTernaryFormat {
    public var kind: PackedFormatKind { side.planeCount == 1 ? .twoBit : .twoPlane2Bit }
    public private(set) var side: TernarySideData
    public private(set) var codes: AlignedBuffer
    public let chunksPerRow: Int
    public var layout: RowTiledLayout { RowTiledLayout(rows: side.rows, planes: side.planeCount, units: chunksPerRow) }

    public init(packing w: TernaryWeights) throws {
        guard w.planes.count == 1 || w.planes.count == 2 else {
            throw PackedFormatError.planeCount(format: .twoBit, expected: "1 or 2", got: w.planes.count)
        }
        try w.validate()
        side = TernarySideData(w)
        chunksPerRow = (w.cols + 127) / 128
        let layout = RowTiledLayout(rows: w.rows, planes: w.planes.count, units: chunksPerRow)
        codes = AlignedBuffer(byteCount: layout.byteCount)
        let out = codes.bytes
        for (p, plane) in w.planes.enumerated() {
            for r in 0..<(layout.tiles * 8) {
                for j in 0..<(chunksPerRow * 128) {
                    let code = j < w.cols && r < w.rows ? UInt8(Int(plane[r * w.cols + j]) + 1) : 1
                    let c = j / 128, k = (j % 128) / 32, b = j % 32
                    out[layout.offset(plane: p, row: r, unit: c) + b] |= code << (2 * k)
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
                    let byte = codes.bytes[layout.offset(plane: p, row: r, unit: j / 128) + j % 32]
                    let code = (byte >> (2 * ((j % 128) / 32))) & 3
                    plane[r * side.cols + j] = Int8(code) - 1
                }
            }
            return plane
        }
        return side.weights(planes: planes)
    }

    public var weightBytes: Int { codes.count + side.byteCount }

    /// The same layer in freshly allocated memory (benchmarks' cold copies).
    public func duplicated() -> Self {
        var c = self
        c.codes = codes.copy()
        c.side = side.duplicated()
        return c
    }
}
