/// ggml tensor storage types that TritBench can dequantize (the numeric values are ggml's).
public enum GGMLType: UInt32, CaseIterable, Sendable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q8_0 = 8, q4_K = 12, q6_K = 14, bf16 = 30, tq1_0 = 34, tq2_0 = 35

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q8_0: return "Q8_0"
        case .q4_K: return "Q4_K"
        case .q6_K: return "Q6_K"
        case .bf16: return "BF16"
        case .tq1_0: return "TQ1_0"
        case .tq2_0: return "TQ2_0"
        }
    }

    /// Weights per quantization block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q8_0: return 32
        case .q4_K, .q6_K, .tq1_0, .tq2_0: return 256
        }
    }

    /// Bytes per block (ggml's `block_*` struct sizes).
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18      // fp16 d, 16 bytes of nibbles
        case .q4_1: return 20      // fp16 d, fp16 m, 16 bytes of nibbles
        case .q5_0: return 22      // fp16 d, 4 bytes of high bits, 16 bytes of nibbles
        case .q8_0: return 34      // fp16 d, 32 int8
        case .q4_K: return 144     // fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
        case .q6_K: return 210     // 128 bytes low nibbles, 64 bytes high 2 bits, 16 int8 scales, fp16 d
        case .tq1_0: return 54     // 48 bytes of 5 trits, 4 bytes of 4 trits, fp16 d
        case .tq2_0: return 66     // 64 bytes of 4 two-bit codes, fp16 d
        }
    }

    public func byteCount(elements: Int) -> Int { elements / blockSize * blockBytes }
}

/// Dequantizers for ggml block formats, following ggml-quants.c's `dequantize_row_*`.
///
/// One function per format over raw bytes; the caller guarantees `src` holds exactly the
/// blocks of `dst.count` weights (GGUFFile checks shapes and bounds before calling).
public enum GGMLDequantizer {
    public static func dequantize(_ type: GGMLType, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(src.count == type.byteCount(elements: dst.count), "dequantize \(type): \(src.count) bytes for \(dst.count) weights")
        let blocks = dst.count / type.blockSize
        guard let s = src.baseAddress, let y = dst.baseAddress else { return }
        switch type {
        case .f32:
            for i in 0..<dst.count { y[i] = Float(bitPattern: UInt32(littleEndian: s.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16:
            for i in 0..<dst.count { y[i] = half(s, 2 * i) }
        case .bf16:
            for i in 0..<dst.count {
                y[i] = Float(bitPattern: UInt32(UInt16(littleEndian: s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
            }
        case .q8_0:
            for b in 0..<blocks {
                let p = s + b * 34, o = y + b * 32
                let d = half(p, 0)
                for j in 0..<32 { o[j] = d * Float(Int8(bitPattern: p.load(fromByteOffset: 2 + j, as: UInt8.self))) }
            }
        case .q4_0:
            for b in 0..<blocks {
                let p = s + b * 18, o = y + b * 32
                let d = half(p, 0)
                for j in 0..<16 {
                    let q = p.load(fromByteOffset: 2 + j, as: UInt8.self)
                    o[j] = d * Float(Int(q & 0xF) - 8)
                    o[j + 16] = d * Float(Int(q >> 4) - 8)
                }
            }
        case .q4_1:
            for b in 0..<blocks {
                let p = s + b * 20, o = y + b * 32
                let d = half(p, 0), m = half(p, 2)
                for j in 0..<16 {
                    let q = p.load(fromByteOffset: 4 + j, as: UInt8.self)
                    o[j] = d * Float(q & 0xF) + m
                    o[j + 16] = d * Float(q >> 4) + m
                }
            }
        case .q5_0:
            for b in 0..<blocks {
                let p = s + b * 22, o = y + b * 32
                let d = half(p, 0)
                let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
                for j in 0..<16 {
                    let q = UInt32(p.load(fromByteOffset: 6 + j, as: UInt8.self))
                    let h0 = ((qh >> UInt32(j)) << 4) & 0x10
                    let h1 = (qh >> UInt32(j + 12)) & 0x10
                    o[j] = d * Float(Int((q & 0xF) | h0) - 16)
                    o[j + 16] = d * Float(Int((q >> 4) | h1) - 16)
                }
            }
        case .tq1_0, .tq2_0:
            for b in 0..<blocks {
                let block = UnsafeRawBufferPointer(start: s + b * type.blockBytes, count: type.blockBytes)
                let (trits, d) = GGMLTernaryBlock.decode(type, block)
                for j in 0..<256 { y[b * 256 + j] = d * Float(trits[j]) }
            }
        case .q4_K:
            for b in 0..<blocks {
                let p = s + b * 144
                var o = y + b * 256
                let d = half(p, 0), dmin = half(p, 2)
                let sc = p + 4
                var q = p + 16
                var sub = 0
                for _ in 0..<4 {   // 64 weights per step: two sub-blocks sharing one byte of nibbles
                    let (s1, m1) = scaleMinK4(sub, sc), (s2, m2) = scaleMinK4(sub + 1, sc)
                    let d1 = d * Float(s1), dm1 = dmin * Float(m1)
                    let d2 = d * Float(s2), dm2 = dmin * Float(m2)
                    for l in 0..<32 {
                        let v = q.load(fromByteOffset: l, as: UInt8.self)
                        o[l] = d1 * Float(v & 0xF) - dm1
                        o[l + 32] = d2 * Float(v >> 4) - dm2
                    }
                    o += 64; q += 32; sub += 2
                }
            }
        case .q6_K:
            for b in 0..<blocks {
                let p = s + b * 210
                var o = y + b * 256
                var ql = p, qh = p + 128, sc = p + 192
                let d = half(p, 208)
                for _ in 0..<2 {   // 128 weights per step
                    for l in 0..<32 {
                        let isub = l / 16
                        let h = qh.load(fromByteOffset: l, as: UInt8.self)
                        let a = ql.load(fromByteOffset: l, as: UInt8.self), c = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                        let q1 = Int((a & 0xF) | ((h & 3) << 4)) - 32
                        let q2 = Int((c & 0xF) | (((h >> 2) & 3) << 4)) - 32
                        let q3 = Int((a >> 4) | (((h >> 4) & 3) << 4)) - 32
                        let q4 = Int((c >> 4) | (((h >> 6) & 3) << 4)) - 32
                        o[l] = d * Float(int8(sc, isub)) * Float(q1)
                        o[l + 32] = d * Float(int8(sc, isub + 2)) * Float(q2)
                        o[l + 64] = d * Float(int8(sc, isub + 4)) * Float(q3)
                        o[l + 96] = d * Float(int8(sc, isub + 6)) * Float(q4)
                    }
                    o += 128; ql += 64; qh += 32; sc += 8
                }
            }
        }
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    @inline(__always) static func int8(_ p: UnsafeRawPointer, _ offset: Int) -> Int8 {
        Int8(bitPattern: p.load(fromByteOffset: offset, as: UInt8.self))
    }

    /// ggml's `get_scale_min_k4`: 6-bit scale and min of sub-block j from the 12 packed bytes.
    @inline(__always) static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
        func b(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (b(j) & 63, b(j + 4) & 63) }
        return ((b(j + 4) & 0xF) | ((b(j - 4) >> 6) << 4), (b(j + 4) >> 4) | ((b(j) >> 6) << 4))
    }
}
