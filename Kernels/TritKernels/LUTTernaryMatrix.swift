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

    /// The same layer in freshly allocated memory (benchmarks' cold copies).
    public func duplicated() -> Self { duplicatedStorage() }
}

/// A packed layer in any of the formats: what kernels are built on.
public enum PackedTernaryLayer: Sendable {
    case twoBit(TwoBitTernaryMatrix)
    case base3(Base3TernaryMatrix)
    case bitmask(BitmaskTernaryMatrix)
    case lut(LUTTernaryMatrix)
    case base3LUT(Base3LUTTernaryMatrix)

    /// Packs `weights` as `kind`; the plane count must be what the kind holds.
    public init(packing weights: TernaryWeights, as kind: PackedFormatKind) throws {
        if let n = kind.requiredPlanes, weights.planes.count != n {
            throw PackedFormatError.planeCount(format: kind, expected: "\(n)", got: weights.planes.count)
        }
        switch kind {
        case .twoBit, .twoPlane2Bit: self = .twoBit(try TwoBitTernaryMatrix(packing: weights))
        case .base3, .twoPlane: self = .base3(try Base3TernaryMatrix(packing: weights))
        case .bitmask: self = .bitmask(try BitmaskTernaryMatrix(packing: weights))
        case .lut: self = .lut(try LUTTernaryMatrix(packing: weights))
        case .base3LUT, .twoPlaneBase3LUT: self = .base3LUT(try Base3LUTTernaryMatrix(packing: weights))
        }
    }

    public var format: any PackedTernaryFormat {
        switch self {
        case let .twoBit(m): return m
        case let .base3(m): return m
        case let .bitmask(m): return m
        case let .lut(m): return m
        case let .base3LUT(m): return m
        }
    }
    public var kind: PackedFormatKind { format.kind }
    public var side: TernarySideData { format.side }
    public func unpack() -> TernaryWeights { format.unpack() }
    public var weightBytes: Int { format.weightBytes }
    public var bitsPerWeight: Double { format.bitsPerWeight }

    /// Per-thread scratch the `lut243` loop needs for this layer (0 for other formats).
    var lookupScratchBytes: Int {
        if case let .base3LUT(m) = self { return Base3LookupArguments.scratchBytes(tiles: m.rowTiles) }
        return 0
    }

    /// The buffer of packed trits (a reference: copies of this value share it).
    var trits: AlignedBuffer {
        switch self {
        case let .twoBit(m): return m.codes
        case let .base3(m): return m.codes
        case let .bitmask(m): return m.masks
        case let .lut(m): return m.buffer
        case let .base3LUT(m): return m.buffer
        }
    }

    /// Whether both hold the same packed bytes in memory (one was copied from the other, not
    /// packed again or `duplicated()`).
    public func sharesStorage(with other: PackedTernaryLayer) -> Bool { trits === other.trits }

    public func duplicated() -> PackedTernaryLayer {
        switch self {
        case let .twoBit(m): return .twoBit(m.duplicated())
        case let .base3(m): return .base3(m.duplicated())
        case let .bitmask(m): return .bitmask(m.duplicated())
        case let .lut(m): return .lut(m.duplicated())
        case let .base3LUT(m): return .base3LUT(m.duplicated())
        }
    }
}
