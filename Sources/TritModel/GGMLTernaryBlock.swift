import TritCore
import TritKernels

/// llama.cpp's two ternary block types (ggml-quants.c, `block_tq1_0` / `block_tq2_0`), 256
/// weights w = d · t, t ∈ {−1, 0, +1}, stored as codes c = t + 1 ∈ {0, 1, 2}.
///
/// TQ2_0, 66 bytes (2.0625 bpw): four 2-bit codes per byte, then d (Float16).
///
///     qs[64]: byte 32·j + m, bits 2l+1…2l  =  code of weight 128·j + 32·l + m   (j < 2, l < 4, m < 32)
///     d: Float16
///
/// TQ1_0, 54 bytes (1.6875 bpw): five (or four) codes per byte as a base-3 fraction of 256, so
/// a multiply by 3 brings the next trit into the high byte (no division when decoding):
///
///     v = Σ_k c_k · 3^(4−k)   (k < 5; k < 4 in qh, with 3^(3−k))     byte = ⌈v · 256 / 243⌉
///     trit n of byte b = ((UInt8(b · 3^n) · 3) >> 8) − 1                (UInt8 wraps: mod 256)
///
///     qs[0..<32]  : trit n of byte m  =  weight 32·n + m         (n < 5)   weights 0..<160
///     qs[32..<48] : trit n of byte m  =  weight 160 + 16·n + m   (n < 5)   weights 160..<240
///     qh[4]       : trit n of byte m  =  weight 240 + 4·n + m    (n < 4)   weights 240..<256
///     d: Float16
public enum GGMLTernaryBlock {
    /// (byte offset of the run, bytes in it, trits per byte) of TQ1_0's three runs.
    static let tq1Runs = [(0, 32, 5), (32, 16, 5), (48, 4, 4)]

    /// The 256 trits and the scale of one block of `type` (TQ1_0 or TQ2_0).
    public static func decode(_ type: GGMLType, _ block: UnsafeRawBufferPointer) -> (trits: [Int8], scale: Float) {
        precondition(block.count == type.blockBytes && (type == .tq1_0 || type == .tq2_0))
        var t = [Int8](repeating: 0, count: 256)
        if type == .tq2_0 {
            for j in 0..<2 { for l in 0..<4 { for m in 0..<32 {
                t[128 * j + 32 * l + m] = Int8((block[32 * j + m] >> UInt8(2 * l)) & 3) - 1
            } } }
        } else {
            var first = 0
            for (offset, count, digits) in tq1Runs {
                var power: UInt8 = 1
                for n in 0..<digits {
                    for m in 0..<count {
                        let q = UInt16(block[offset + m] &* power)
                        t[first + count * n + m] = Int8((q * 3) >> 8) - 1
                    }
                    power &*= 3
                }
                first += count * digits
            }
        }
        let bits = UInt16(block[type.blockBytes - 2]) | UInt16(block[type.blockBytes - 1]) << 8
        return (t, Float(Float16(bitPattern: bits)))
    }

    /// One block of `type` holding `trits` (256 values in {−1, 0, +1}) with scale `scale`: the
    /// bytes llama.cpp and gguf-py write for the same trits and scale.
    public static func encode(_ type: GGMLType, trits: [Int8], scale: Float16) -> [UInt8] {
        precondition(trits.count == 256 && trits.allSatisfy { (-1...1).contains($0) } && (type == .tq1_0 || type == .tq2_0))
        var out = [UInt8](repeating: 0, count: type.blockBytes)
        func code(_ i: Int) -> Int { Int(trits[i]) + 1 }
        if type == .tq2_0 {
            for j in 0..<2 { for l in 0..<4 { for m in 0..<32 {
                out[32 * j + m] |= UInt8(code(128 * j + 32 * l + m) << (2 * l))
            } } }
        } else {
            var first = 0
            for (offset, count, digits) in tq1Runs {
                for m in 0..<count {
                    var v = 0
                    for n in 0..<digits { v = v * 3 + code(first + count * n + m) }
                    if digits == 4 { v *= 3 }   // qh holds 4 trits at the top 4 base-3 digits
                    out[offset + m] = UInt8((v * 256 + 242) / 243)
                }
                first += count * digits
            }
        }
        out[type.blockBytes - 2] = UInt8(truncatingIfNeeded: scale.bitPattern)
        out[type.blockBytes - 1] = UInt8(truncatingIfNeeded: scale.bitPattern >> 8)
        return out
    }
}

extension GGUFFile {
    /// A TQ1_0 or TQ2_0 tensor as `TernaryWeights` (rows = ne1, cols = ne0), ready to repack into
    /// TritBench's formats without a Float32 detour: the trits as stored, each block's d times
    /// `outputScale` (BitNet's per-tensor scale, folded in). When every block of every row has
    /// one d (BitNet's per-tensor scale, which llama.cpp's converter stores in every block), the
    /// scales are one per row (`groupSize` = cols): the same products with one multiply per row.
    public func ternaryWeights(named name: String, rows: Int, cols: Int, outputScale: Float = 1) throws -> TernaryWeights {
        let t = try requireTensor(name)
        guard t.type == .tq1_0 || t.type == .tq2_0 else {
            throw GGUFError.shapeMismatch(tensor: name, expected: "type TQ1_0 or TQ2_0", found: "type \(t.type)")
        }
        guard t.dimensions == [cols, rows] else {
            throw GGUFError.shapeMismatch(tensor: name, expected: "ne = [\(cols), \(rows)]", found: "ne = \(t.dimensions)")
        }
        guard cols % 256 == 0 else {
            throw GGUFError.shapeMismatch(tensor: name, expected: "ne0 a multiple of 256 (the TQ block)", found: "ne0 = \(cols)")
        }
        let blocksPerRow = cols / 256
        var trits = [Int8](repeating: 0, count: rows * cols)
        var blockScales = [Float](repeating: 0, count: rows * blocksPerRow)
        try data.withUnsafeBytes { raw in
            guard CheckedSize.fits(offset: t.fileOffset, length: t.byteCount, within: raw.count) else {
                throw GGUFError.tensorOutOfRange(path: path, tensor: name, offset: t.fileOffset, length: t.byteCount, fileSize: raw.count)
            }
            for b in 0..<(rows * blocksPerRow) {
                let start = t.fileOffset + b * t.type.blockBytes
                let (bt, d) = GGMLTernaryBlock.decode(t.type, UnsafeRawBufferPointer(rebasing: raw[start..<(start + t.type.blockBytes)]))
                guard d.isFinite else {
                    throw GGUFError.invalidField(path: path, offset: start + t.type.blockBytes - 2, field: "\(name) block \(b) d",
                                                 reason: "scale is not finite")
                }
                blockScales[b] = d * outputScale
                trits.withUnsafeMutableBufferPointer { p in for i in 0..<256 { p[b * 256 + i] = bt[i] } }
            }
        }
        let perRow = (0..<rows).allSatisfy { r in
            let row = blockScales[(r * blocksPerRow)..<((r + 1) * blocksPerRow)]
            return row.allSatisfy { $0 == row.first! }
        }
        if perRow {
            return try TernaryWeights(rows: rows, cols: cols, groupSize: cols, planes: [trits],
                                      scales: [(0..<rows).map { blockScales[$0 * blocksPerRow] }])
        }
        return try TernaryWeights(rows: rows, cols: cols, groupSize: 256, planes: [trits], scales: [blockScales])
    }
}
