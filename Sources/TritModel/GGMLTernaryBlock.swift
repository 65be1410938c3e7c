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
