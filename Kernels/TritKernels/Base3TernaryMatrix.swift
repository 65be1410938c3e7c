import TritKernelsAVX2

/// Base-3 trits, 10 per 16 bits (3^10 = 59049 ≤ 65536): 1.6 bpw plus side data, the density of
/// TQ1_0's 5 trits per byte, decoded with 16-bit multiplies. Serves one plane (`.base3`) and
/// PTQTP's two planes packed at 3.2 bpw as 2 × base-3 (`.twoPlane`).
///
/// Each row is cut into blocks of 160 columns (the last one padded with weight 0). A block is
/// one 32-byte unit = 16 little-endian UInt16 lanes; lane l holds the codes t_k = w + 1 of ten
/// columns, k = 0…9:
///
///     v      = Σ_k t_k · 3^(9−k)                      ∈ [0, 59048]
///     stored = ⌈v · 65536 / 59049⌉                    ∈ [0, 65535]
///
///     lane l:  bit 15 … 0  [ stored(t0 … t9) ]
///
/// `stored / 65536` is the base-3 fraction 0.t0…t9, so decoding needs no division:
///     q_k = stored · 3^k mod 65536      (`vpmullw`)
///     t_k = (q_k · 3) >> 16             (`vpmulhuw` by 3)
/// exact for all 59049 values because 3^10 ≤ 65536 (tested). `vpackuswb(T_2i, T_2i+1)` then
/// gives vector i (32 consecutive columns 32i…32i+31) of the block, so trit k of lane l is
///
///     column 32·(k/2) + p,  p = (l % 8) + 8·(k % 2) + 16·(l / 8)
///
/// The AVX2 decoder (`Base3Decoder` in TritKernelsAVX2) takes two trits per multiply pair
/// instead: (stored · 9^i mod 65536) · 9 >> 16 = 3·t_2i + t_2i+1, split by two `vpshufb` —
/// five multiply pairs per 160 columns rather than ten.
///
///     buffer: `RowTiledLayout` units = blocks: [plane][row / 8][block][row % 8][32 bytes]
///     (rows padded to 8 with weight 0)
public struct Base3TernaryMatrix: PackedTernaryFormat {
    public var kind: PackedFormatKind { side.planeCount == 1 ? .base3 : .twoPlane }
    private var storage: RowTiledStorage
    public var side: TernarySideData { storage.side }
    public var codes: AlignedBuffer { storage.buffer }
    public var blocksPerRow: Int { storage.layout.units }
    public var layout: RowTiledLayout { storage.layout }

    /// 3^k for k = 0…9.
    public static let powers: [UInt16] = [1, 3, 9, 27, 81, 243, 729, 2187, 6561, 19683]

    /// The 16-bit lane that stores ten codes (each 0, 1 or 2), `codes[0]` most significant.
    public static func encode(_ codes: [Int]) -> UInt16 {
        precondition(codes.count == 10)
        let v = codes.reduce(0) { $0 * 3 + $1 }
        return UInt16((v * 65536 + 59048) / 59049)
    }

    /// Code k (0…9) of a stored lane, by multiply and shift only.
    @inlinable public static func decode(_ lane: UInt16, trit k: Int) -> UInt8 {
        let q = lane &* powers[k]
        return UInt8((UInt32(q) * 3) >> 16)
    }

    /// (lane, trit) holding column j (0…159) of a block.
    @inlinable public static func slot(column j: Int) -> (lane: Int, trit: Int) {
        let i = j / 32, p = j % 32
        return ((p % 8) + 8 * (p / 16), 2 * i + (p / 8) % 2)
    }

    public init(packing w: TernaryWeights) throws {
        storage = try RowTiledStorage(packing: w, as: .base3, allowedPlanes: 1...2, columnsPerUnit: 160) { unit, trit in
            var lanes = [[Int]](repeating: [Int](repeating: 1, count: 10), count: 16)
            for j in 0..<160 {
                let (l, k) = Self.slot(column: j)
                lanes[l][k] = Int(trit(j)) + 1
            }
            for l in 0..<16 { unit.storeBytes(of: Self.encode(lanes[l]).littleEndian, toByteOffset: 2 * l, as: UInt16.self) }
        }
    }

    public func unpack() -> TernaryWeights {
        storage.unpack { unit, j in
            let (l, k) = Self.slot(column: j)
            let lane = UInt16(littleEndian: unit.loadUnaligned(fromByteOffset: 2 * l, as: UInt16.self))
            return Int8(Self.decode(lane, trit: k)) - 1
        }
    }

    public var weightBytes: Int { storage.storedBytes }
    public var trits: AlignedBuffer { storage.buffer }

    public func portableCodes(plane p: Int, row r: Int, vector v: Int) -> SIMD32<UInt8> {
        let unit = UnsafeRawPointer(codes.bytes + layout.offset(plane: p, row: r, unit: v / 5))
        let lanes = unit.loadUnaligned(as: SIMD16<UInt16>.self)
        let i = v % 5
        let t0 = SIMD16<UInt16>(truncatingIfNeeded: (SIMD16<UInt32>(truncatingIfNeeded: lanes &* Self.powers[2 * i]) &* 3) &>> 16)
        let t1 = SIMD16<UInt16>(truncatingIfNeeded: (SIMD16<UInt32>(truncatingIfNeeded: lanes &* Self.powers[2 * i + 1]) &* 3) &>> 16)
        var c = SIMD32<UInt8>(repeating: 1)
        for p in 0..<32 {
            let l = (p % 8) + 8 * (p / 16)
            c[p] = UInt8(truncatingIfNeeded: (p / 8) % 2 == 0 ? t0[l] : t1[l])
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

extension Base3TernaryMatrix: RowTiledCodeFormat {
    public var codeLayout: AVX2CodeLayout { .base3 }
}
