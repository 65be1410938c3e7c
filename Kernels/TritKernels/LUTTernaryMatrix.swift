import TritKernelsVBMI
/// LUT-friendly layout: T-MAC-style bit-planes over groups of g = 4 columns, rows interleaved
/// in tiles of 32 so that one `vpshufb` looks up 32 rows against one activation table.
///
/// Each code c = w + 1 ∈ {0,1,2} is split into bit-planes c = b0 + 2·b1. For a group m of four
/// columns, i0 = the 4 b0 bits and i1 = the 4 b1 bits are 4-bit indices into the table
/// T_m[i] = Σ_k bit_k(i)·q[4m+k] of the activations, so Σ_j c_j q_j = Σ_m T_m[i0] + 2·T_m[i1].
///
///     tile t (rows 32t…32t+31), column group m:  32 bytes, byte r:
///         bit 7 6 5 4 | 3 2 1 0
///             i1 (b1 of cols 4m+3…4m) | i0 (b0 of cols 4m+3…4m)      for row 32t + r
///
///     buffer: [tile][column group][32 bytes]        2.0 bpw (rows padded to 32, cols to 4)
///
/// Why bit-planes rather than TL2 triples: with g = 4 a table has exactly the 16 entries one
/// `vpshufb` holds, every index is a plain nibble (no sign bit to apply after the lookup as
/// TL2's 1.67-bpw triples need), and the table stays exact: T ∈ [−512, 508] is split into an
/// unsigned low-byte table and a signed high-byte table whose lookups `vpmaddubsw` combines as
/// lo0 + 2·lo1 and hi0 + 2·hi1, so the LUT kernel equals the int8 reference bit for bit. The
/// 0.33 bpw TL2 would save is paid back in sign handling and table quantization error.
public struct LUTTernaryMatrix: PackedTernaryFormat, PackedStorage {
    public var kind: PackedFormatKind { .lut }
    public static let groupColumns = 4
    public static let tileRows = 32
    public internal(set) var side: TernarySideData
    /// The index bytes ([tile][column group][32 rows]).
    public internal(set) var buffer: AlignedBuffer
    public let columnGroups: Int
    public var rowTiles: Int { (side.rows + 31) / 32 }
    public var tileStride: Int { columnGroups * 32 }

    public init(packing w: TernaryWeights) throws {
        guard w.planes.count == 1 else {
            throw PackedFormatError.planeCount(format: .lut, expected: "1", got: w.planes.count)
        }
        try w.validate()
        side = TernarySideData(w)
        columnGroups = (w.cols + 3) / 4
        let tiles = (w.rows + 31) / 32
        buffer = AlignedBuffer(byteCount: tiles * columnGroups * 32)
        let out = buffer.bytes, plane = w.planes[0]
        for r in 0..<(tiles * 32) {
            for m in 0..<columnGroups {
                var i0: UInt8 = 0, i1: UInt8 = 0
                for k in 0..<4 {
                    let j = 4 * m + k
                    let c = (r < w.rows && j < w.cols) ? Int(plane[r * w.cols + j]) + 1 : 1
                    i0 |= UInt8(c & 1) << UInt8(k)
                    i1 |= UInt8(c >> 1) << UInt8(k)
                }
                out[((r / 32) * columnGroups + m) * 32 + r % 32] = i0 | (i1 << 4)
            }
        }
    }

    public func unpack() -> TernaryWeights {
        var plane = [Int8](repeating: 0, count: side.rows * side.cols)
        for r in 0..<side.rows {
            for j in 0..<side.cols {
                let byte = buffer.bytes[((r / 32) * columnGroups + j / 4) * 32 + r % 32]
                let k = UInt8(j % 4)
                let c = Int((byte >> k) & 1) + 2 * Int((byte >> (4 + k)) & 1)
                plane[r * side.cols + j] = Int8(c - 1)
            }
        }
        return side.weights(planes: [plane])
    }

    public var weightBytes: Int { storedBytes }
    public var trits: AlignedBuffer { buffer }

    public func portableCodes(plane p: Int, row r: Int, vector v: Int) -> SIMD32<UInt8> {
        let base = buffer.bytes + (r / 32) * tileStride + r % 32
        var c = SIMD32<UInt8>(repeating: 1)
        for i in 0..<32 {
            let j = 32 * v + i, group = j / 4
            guard group < columnGroups else { break }
            let b = base[group * 32], k = UInt8(j % 4)
            c[i] = ((b >> k) & 1) + 2 * ((b >> (4 + k)) & 1)
        }
        return c
    }

    /// The same layer in freshly allocated memory (benchmarks' cold copies).
    public func duplicated() -> Self { duplicatedStorage() }
}

/// A packed layer in any of the formats: what kernels are built on.
public struct PackedTernaryLayer: Sendable {
    public let format: any PackedTernaryFormat

    /// Packs `weights` as `kind`; the plane count must be what the kind holds.
    public init(packing weights: TernaryWeights, as kind: PackedFormatKind) throws {
        if let n = kind.requiredPlanes, weights.planes.count != n {
            throw PackedFormatError.planeCount(format: kind, expected: "\(n)", got: weights.planes.count)
        }
        format = try kind.storage.init(packing: weights)
    }

    init(format: any PackedTernaryFormat) { self.format = format }

    public var kind: PackedFormatKind { format.kind }
    public var side: TernarySideData { format.side }
    public func unpack() -> TernaryWeights { format.unpack() }
    public var weightBytes: Int { format.weightBytes }
    public var bitsPerWeight: Double { format.bitsPerWeight }

    /// Whether both hold the same packed bytes in memory (one was copied from the other, not
    /// packed again or `duplicated()`).
    public func sharesStorage(with other: PackedTernaryLayer) -> Bool { format.trits === other.format.trits }

    public func duplicated() -> PackedTernaryLayer { PackedTernaryLayer(format: format.duplicated()) }
}
