/// Base-3 trits, 5 per byte: 1.6 bpw plus side data (TQ1_0's core idea). Serves one plane
/// (`.base3`) and PTQTP's two planes packed at 3.2 bpw as 2 × base-3 (`.twoPlane`).
///
/// Each row is cut into blocks of 160 columns (5 × 32; the last one padded with weight 0).
/// One block is 32 bytes; byte b holds the trits t_k = w + 1 of columns b + 32k, k = 0…4:
///
///     v      = 81·t0 + 27·t1 + 9·t2 + 3·t3 + t4          ∈ [0, 242]   (t_k of column b+32k)
///     stored = ⌈v · 256 / 243⌉                            ∈ [0, 255]
///
///     byte b of block c:  [ stored(t0 t1 t2 t3 t4) ]   8 bits, 5 trits
///
/// `stored / 256` is the base-3 fraction 0.t0t1t2t3t4, so decoding needs no division:
///     q_k = (stored · 3^k) mod 256        (an 8-bit multiply)
///     t_k = (q_k · 3) >> 8                (the top bits of ×3)
/// which SIMD does with 16-bit multiplies on the even and odd bytes. Every one of the 243 values
/// round-trips (tested). Vector k of a block is 32 consecutive columns, as in the 2-bit format.
///
///     buffer: `RowTiledLayout` units = blocks: [plane][row / 8][block][row % 8][32 bytes]
///     (rows padded to 8 with weight 0)
public struct Base3TernaryMatrix: PackedTernaryFormat {
    public var kind: PackedFormatKind { side.planeCount == 1 ? .base3 : .twoPlane }
    public private(set) var side: TernarySideData
    public private(set) var codes: AlignedBuffer
    public let blocksPerRow: Int
    public var layout: RowTiledLayout { RowTiledLayout(rows: side.rows, planes: side.planeCount, units: blocksPerRow) }

    /// The byte that stores five codes (each 0, 1 or 2), `codes[0]` most significant.
    @inlinable public static func encode(_ codes: (Int, Int, Int, Int, Int)) -> UInt8 {
        let v = 81 * codes.0 + 27 * codes.1 + 9 * codes.2 + 3 * codes.3 + codes.4
        return UInt8((v * 256 + 242) / 243)
    }

    /// Code k (0…4) of a stored byte, by multiply and shift only.
    @inlinable public static func decode(_ byte: UInt8, trit k: Int) -> UInt8 {
        let pow3 = UInt8(truncatingIfNeeded: (0x51_1B_09_03_01 as UInt64) >> UInt64(8 * k))  // 1, 3, 9, 27, 81
        let q = byte &* pow3
        return UInt8((UInt16(q) * 3) >> 8)
    }

    public init(packing w: TernaryWeights) throws {
        guard w.planes.count == 1 || w.planes.count == 2 else {
            throw PackedFormatError.planeCount(format: .base3, expected: "1 or 2", got: w.planes.count)
        }
        try w.validate()
        side = TernarySideData(w)
        blocksPerRow = (w.cols + 159) / 160
        let layout = RowTiledLayout(rows: w.rows, planes: w.planes.count, units: blocksPerRow)
        codes = AlignedBuffer(byteCount: layout.byteCount)
        let out = codes.bytes
        for (p, plane) in w.planes.enumerated() {
            for r in 0..<(layout.tiles * 8) {
                func code(_ j: Int) -> Int { j < w.cols && r < w.rows ? Int(plane[r * w.cols + j]) + 1 : 1 }
                for c in 0..<blocksPerRow {
                    for b in 0..<32 {
                        let j = c * 160 + b
                        out[layout.offset(plane: p, row: r, unit: c) + b] =
                            Self.encode((code(j), code(j + 32), code(j + 64), code(j + 96), code(j + 128)))
                    }
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
                    let byte = codes.bytes[layout.offset(plane: p, row: r, unit: j / 160) + j % 32]
                    plane[r * side.cols + j] = Int8(Self.decode(byte, trit: (j % 160) / 32)) - 1
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
