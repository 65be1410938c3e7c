import TritKernelsAVX2

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
    private var storage: RowTiledStorage
    public var side: TernarySideData { storage.side }
    public var masks: AlignedBuffer { storage.buffer }
    public var chunksPerRow: Int { storage.layout.units }
    public var layout: RowTiledLayout { storage.layout }

    public init(packing w: TernaryWeights) throws {
        storage = try RowTiledStorage(packing: w, as: .bitmask, allowedPlanes: nil, columnsPerUnit: 128) { unit, trit in
            let out = unit.assumingMemoryBound(to: UInt8.self)
            for j in 0..<128 {
                let t = trit(j)
                if t != 0 { out[(t > 0 ? 0 : 16) + j / 8] |= UInt8(1) << UInt8(j % 8) }
            }
        }
    }

    public func unpack() -> TernaryWeights {
        storage.unpack { unit, j in
            let bit = UInt8(1) << UInt8(j % 8)
            let pos = unit.load(fromByteOffset: j / 8, as: UInt8.self) & bit != 0
            let neg = unit.load(fromByteOffset: 16 + j / 8, as: UInt8.self) & bit != 0
            return pos ? 1 : (neg ? -1 : 0)
        }
    }

    public var weightBytes: Int { storage.storedBytes }
    public var trits: AlignedBuffer { storage.buffer }

    public func portableCodes(plane p: Int, row r: Int, vector v: Int) -> SIMD32<UInt8> {
        let base = masks.bytes + layout.offset(plane: p, row: r, unit: v / 4) + (v % 4) * 4
        let pos = UnsafeRawPointer(base).loadUnaligned(as: UInt32.self)
        let neg = UnsafeRawPointer(base + 16).loadUnaligned(as: UInt32.self)
        var c = SIMD32<UInt8>(repeating: 1)
        for i in 0..<32 {
            c[i] = UInt8(1 + Int((pos >> UInt32(i)) & 1) - Int((neg >> UInt32(i)) & 1))
        }
        return c
    }

    /// The same layer in freshly allocated memory (benchmarks' cold copies).
    public func duplicated() -> Self {
        var c = self
        c.storage = storage.duplicatedStorage()
        return c
    }
}

extension BitmaskTernaryMatrix: RowTiledCodeFormat {
    public var codeLayout: AVX2CodeLayout { .bitmask }
}
