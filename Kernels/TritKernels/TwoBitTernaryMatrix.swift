import TritKernelsAVX2

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
    private var storage: RowTiledStorage
    public var side: TernarySideData { storage.side }
    public var codes: AlignedBuffer { storage.buffer }
    public var chunksPerRow: Int { storage.layout.units }
    public var layout: RowTiledLayout { storage.layout }

    public init(packing w: TernaryWeights) throws {
        storage = try RowTiledStorage(packing: w, as: .twoBit, allowedPlanes: 1...2, columnsPerUnit: 128) { unit, trit in
            let out = unit.assumingMemoryBound(to: UInt8.self)
            for j in 0..<128 { out[j % 32] |= UInt8(Int(trit(j)) + 1) << (2 * (j / 32)) }
        }
    }

    public func unpack() -> TernaryWeights {
        storage.unpack { unit, j in Int8((unit.load(fromByteOffset: j % 32, as: UInt8.self) >> (2 * (j / 32))) & 3) - 1 }
    }

    public var weightBytes: Int { storage.storedBytes }
    public var trits: AlignedBuffer { storage.buffer }

    public func portableCodes(plane p: Int, row r: Int, vector v: Int) -> SIMD32<UInt8> {
        let base = codes.bytes + layout.offset(plane: p, row: r, unit: v / 4)
        let x = UnsafeRawPointer(base).loadUnaligned(as: SIMD32<UInt8>.self)
        return (x &>> UInt8(2 * (v % 4))) & 3
    }

    /// The same layer in freshly allocated memory (benchmarks' cold copies).
    public func duplicated() -> Self {
        var c = self
        c.storage = storage.duplicatedStorage()
        return c
    }
}

extension TwoBitTernaryMatrix: RowTiledCodeFormat {
    public var codeLayout: AVX2CodeLayout { .twoBit }
}
