import TritCore
#if arch(x86_64)
import TritKernelsAVX2
#endif

/// The Q8_0 × Q8_0 GEMV: the kernel of the block-int8 token table (the LM head of a packed
/// model, where it is the largest single read of a decode step: 49152 × 576 codes, 28 MiB).
///
/// Layout (the GGUF's Q8_0 with the scales split out, so rows are 32-byte aligned runs):
///
///     codes   row r: [ q(r, 0) … q(r, 31) ][ q(r, 32) … q(r, 63) ] …     int8, rows × cols
///     scales  row r: [ d(r, 0) ][ d(r, 1) ] …                            Float16 bits, rows × cols/32
///     acts           [ qx(0) … qx(31) ][ qx(32) … ]                      int8, cols
///     actScales      [ dx(0) ][ dx(1) ] …                                Float32, cols/32
///
///     y[r] = Σ_b d(r, b) · dx(b) · Σ_{j<32} q(r, 32b + j) · qx(32b + j)
///
/// The weight scales are Float16 as in the GGUF's Q8_0 block (34 bytes per 32 weights there,
/// 32 + 2 here), so a Q8_0 table is held with its own bits and read with as few bytes as
/// llama.cpp reads it.
///
/// Codes and activations lie in [−127, 127] (the quantizer clamps there), which is what keeps
/// the AVX2 path's int16 pair sums exact. The per-block integer sums are exact on every path;
/// the float accumulation order differs, so paths agree to float rounding, not bit for bit.
public enum BlockInt8Kernel {
    public static let blockSize = 32

    /// Computes y[r] for r in `rows` (cols a multiple of 32), with AVX2 where the CPU has it.
    public static func rows(codes: UnsafePointer<Int8>, scales: UnsafePointer<UInt16>, cols: Int,
                            acts: UnsafePointer<Int8>, actScales: UnsafePointer<Float>,
                            rows: Range<Int>, y: UnsafeMutablePointer<Float>) {
        precondition(cols % blockSize == 0, "BlockInt8Kernel: cols \(cols) is not a multiple of \(blockSize)")
        #if arch(x86_64)
        if QuantizedActivations.useAVX2 {
            AVX2Kernels.blockInt8Rows(codes: codes, scales: scales, cols: cols, acts: acts, actScales: actScales,
                                      rows: rows, y: y)
            return
        }
        #endif
        portableRows(codes: codes, scales: scales, cols: cols, acts: acts, actScales: actScales, rows: rows, y: y)
    }

    /// The loop for CPUs without AVX2, in baseline SIMD: a 16-byte load read as eight Int16
    /// lanes gives the even bytes by (v << 8) >> 8 and the odd ones by v >> 8, sign extended,
    /// for codes and activations alike; 2 · 127² = 32258 keeps an even + odd product pair in
    /// Int16, and the pair sums widen to Int32 the same way.
    public static func portableRows(codes: UnsafePointer<Int8>, scales: UnsafePointer<UInt16>, cols: Int,
                                    acts: UnsafePointer<Int8>, actScales: UnsafePointer<Float>,
                                    rows: Range<Int>, y: UnsafeMutablePointer<Float>) {
        let blocks = cols / blockSize
        let x = UnsafeRawPointer(acts)
        for r in rows {
            let w = UnsafeRawPointer(codes + r * cols), d = scales + r * blocks
            var total = SIMD4<Float>()
            for b in 0..<blocks {
                var acc = SIMD4<Int32>()
                for h in 0..<2 {
                    let o = b * 32 + h * 16
                    let v = w.loadUnaligned(fromByteOffset: o, as: SIMD8<Int16>.self)
                    let u = x.loadUnaligned(fromByteOffset: o, as: SIMD8<Int16>.self)
                    let sums = ((v &<< 8) &>> 8) &* ((u &<< 8) &>> 8) &+ (v &>> 8) &* (u &>> 8)
                    let pairs = unsafeBitCast(sums, to: SIMD4<Int32>.self)
                    acc &+= ((pairs &<< 16) &>> 16) &+ (pairs &>> 16)
                }
                total += SIMD4<Float>(acc) * (Float(Float16(bitPattern: d[b])) * actScales[b])
            }
            y[r] = total.sum()
        }
    }

    /// The definition, one product at a time (tests compare both paths against it).
    public static func referenceRow(codes: UnsafePointer<Int8>, scales: UnsafePointer<UInt16>, cols: Int,
                                    acts: UnsafePointer<Int8>, actScales: UnsafePointer<Float>, row r: Int) -> Double {
        let blocks = cols / blockSize
        var total = 0.0
        for b in 0..<blocks {
            var s = 0
            for j in 0..<blockSize { s += Int(codes[r * cols + b * blockSize + j]) * Int(acts[b * blockSize + j]) }
            total += Double(s) * Double(Float16(bitPattern: scales[r * blocks + b])) * Double(actScales[b])
        }
        return total
    }
}
