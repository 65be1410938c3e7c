import TritKernelsAVX2

/// A row-tiled format as the decode + multiply-add loops (simd, bitsliced) read it: one
/// `RowTiledLayout` buffer of 32-byte units, which the decoder `codeLayout` turns into codes.
public protocol RowTiledCodeFormat: PackedTernaryFormat {
    var layout: RowTiledLayout { get }
    var codeLayout: AVX2CodeLayout { get }
}

/// What the three row-tiled formats (2-bit, base-3, bitmask) share: side data plus one
/// `RowTiledLayout` buffer of 32-byte units, each unit covering `columnsPerUnit` columns of
/// one row of one plane. The formats differ only in how a unit's bytes encode its trits, so
/// each gives `pack` / `unpack` a closure for one unit and this type does the checking,
/// allocation, loops over planes, padded rows and units, sizing and copying.
struct RowTiledStorage: PackedStorage, Sendable {
    var side: TernarySideData
    var buffer: AlignedBuffer
    let layout: RowTiledLayout
    let columnsPerUnit: Int

    /// Checks the plane count (`allowedPlanes`, nil: any) and the weights, then packs every
    /// unit: `encode(unit, trit)` writes the 32 zeroed bytes at `unit`, where `trit(j)` is the
    /// weight of column j (0 ≤ j < columnsPerUnit) of the unit: 0 past the last column and in
    /// the padding rows.
    init(packing w: TernaryWeights, as format: PackedFormatKind, allowedPlanes: ClosedRange<Int>?,
         columnsPerUnit: Int, encode: (UnsafeMutableRawPointer, (Int) -> Int8) -> Void) throws {
        if let allowed = allowedPlanes, !allowed.contains(w.planes.count) {
            throw PackedFormatError.planeCount(format: format, expected: "\(allowed.lowerBound) or \(allowed.upperBound)", got: w.planes.count)
        }
        try w.validate()
        side = TernarySideData(w)
        self.columnsPerUnit = columnsPerUnit
        layout = RowTiledLayout(rows: w.rows, planes: w.planes.count, units: (w.cols + columnsPerUnit - 1) / columnsPerUnit)
        buffer = AlignedBuffer(byteCount: layout.byteCount)
        let out = buffer.bytes, cols = w.cols
        for (p, plane) in w.planes.enumerated() {
            plane.withUnsafeBufferPointer { trits in
                for r in 0..<(layout.tiles * 8) {
                    for u in 0..<layout.units {
                        let first = u * columnsPerUnit
                        encode(UnsafeMutableRawPointer(out + layout.offset(plane: p, row: r, unit: u))) { j in
                            let c = first + j
                            return c < cols && r < w.rows ? trits[r * cols + c] : 0
                        }
                    }
                }
            }
        }
    }

    /// The logical weights back: `decode(unit, j)` reads the weight of column j of a unit.
    func unpack(_ decode: (UnsafeRawPointer, Int) -> Int8) -> TernaryWeights {
        let planes: [[Int8]] = (0..<side.planeCount).map { p in
            var plane = [Int8](repeating: 0, count: side.rows * side.cols)
            for r in 0..<side.rows {
                for j in 0..<side.cols {
                    let unit = UnsafeRawPointer(buffer.bytes + layout.offset(plane: p, row: r, unit: j / columnsPerUnit))
                    plane[r * side.cols + j] = decode(unit, j % columnsPerUnit)
                }
            }
            return plane
        }
        return side.weights(planes: planes)
    }
}
