import TritCore

/// A b-bit uniform asymmetric layer: per (row, group) an fp16 scale and an integer zero point,
///
///     Ŵ[i, j] = scale[i, g] · (code[i, j] − zero[i, g])        code, zero in 0 ... 2^b − 1
///
/// the representation of the RTN and GPTQ baselines (the "RTN-2bit"/"GPTQ-3bit" rows of the
/// papers). Groups are `groupSize` consecutive columns; the last may be shorter.
public struct UniformQuantizedWeights: Equatable, Sendable {
    public let rows: Int
    public let cols: Int
    public let bits: Int
    public let groupSize: Int
    /// rows × cols codes, row-major.
    public var codes: [UInt8]
    /// rows × groupsPerRow scales (Float16-representable) and zero points.
    public var scales: [Float]
    public var zeros: [UInt8]

    public var groupsPerRow: Int { (cols + groupSize - 1) / groupSize }
    public var maxCode: Int { (1 << bits) - 1 }

    public init(rows: Int, cols: Int, bits: Int, groupSize: Int, codes: [UInt8], scales: [Float], zeros: [UInt8]) {
        precondition(bits >= 1 && bits <= 8 && groupSize > 0)
        precondition(codes.count == rows * cols)
        precondition(scales.count == rows * ((cols + groupSize - 1) / groupSize) && zeros.count == scales.count)
        self.rows = rows; self.cols = cols; self.bits = bits; self.groupSize = groupSize
        self.codes = codes; self.scales = scales; self.zeros = zeros
    }

    /// Ŵ, one (row, group) run at a time: the scale and zero are read once per group.
    public func dequantized() -> Matrix {
        var w = Matrix(rows: rows, cols: cols)
        let ng = groupsPerRow
        w.values.withUnsafeMutableBufferPointer { out in
            codes.withUnsafeBufferPointer { q in
                for g in 0..<(rows * ng) {
                    let row = g / ng
                    let lo = row * cols + (g % ng) * groupSize, hi = min(lo + groupSize, (row + 1) * cols)
                    let s = scales[g], z = Float(zeros[g])
                    for j in lo..<hi { out[j] = s * (Float(q[j]) - z) }
                }
            }
        }
        return w
    }

    /// b bits per weight plus, per group, a 16-bit scale and a b-bit zero point.
    public var storageBits: Int { rows * cols * bits + rows * groupsPerRow * (16 + bits) }
}

/// The asymmetric min/max grid of GPTQ's reference quantizer, shared by RTN and GPTQ:
/// the range is widened to include 0 (xmin = min(min, 0), xmax = max(max, 0)), a degenerate
/// range becomes [−1, 1], scale = (xmax − xmin) / (2^b − 1) rounded to fp16 as stored, and
/// zero = round(−xmin / scale).
struct UniformGrid {
    let maxCode: Int
    var scale: Float
    var zero: Float

    init(bits: Int, values: UnsafeBufferPointer<Float>) {
        maxCode = (1 << bits) - 1
        var lo: Float = 0, hi: Float = 0
        for v in values { lo = min(lo, v); hi = max(hi, v) }
        if lo == 0 && hi == 0 { lo = -1; hi = 1 }
        scale = Float(Float16((hi - lo) / Float(maxCode)))
        if scale == 0 { scale = Float(Float16.leastNonzeroMagnitude) }
        zero = min(max((-lo / scale).rounded(), 0), Float(maxCode))
    }

    @inline(__always) func code(_ w: Float) -> Float {
        min(max((w / scale).rounded() + zero, 0), Float(maxCode))
    }

    @inline(__always) func value(ofCode q: Float) -> Float { scale * (q - zero) }
}

/// Uniform asymmetric round-to-nearest at b bits, per group of columns (default 128).
public struct RTNQuantizer: Quantizer {
    public let methodName = "rtn"
    public let bits: Int
    public let groupSize: Int
    public let resolvedParameters: [String: String]
    public var requiresCalibration: Bool { false }

    public init(parameters: [String: String] = [:]) throws {
        var p = QuantizationParameters(method: "rtn", parameters)
        bits = Int(try p.choice("bits", default: "4", allowed: ["2", "3", "4"]))!
        groupSize = try p.int("group", default: 128, in: 1...1 << 20)
        try p.finish()
        resolvedParameters = p.resolved
    }

    public func fit(_ w: Matrix, calibration: Calibration?) throws -> QuantizerOutput {
        let ng = (w.cols + groupSize - 1) / groupSize
        var codes = [UInt8](repeating: 0, count: w.count)
        var scales = [Float](repeating: 0, count: w.rows * ng)
        var zeros = [UInt8](repeating: 0, count: w.rows * ng)
        w.values.withUnsafeBufferPointer { pw in
            for i in 0..<w.rows {
                for g in 0..<ng {
                    let lo = i * w.cols + g * groupSize, hi = min(lo + groupSize, (i + 1) * w.cols)
                    let grid = UniformGrid(bits: bits, values: UnsafeBufferPointer(rebasing: pw[lo..<hi]))
                    scales[i * ng + g] = grid.scale
                    zeros[i * ng + g] = UInt8(grid.zero)
                    for j in lo..<hi { codes[j] = UInt8(grid.code(pw[j])) }
                }
            }
        }
        return QuantizerOutput(layer: .uniform(UniformQuantizedWeights(
            rows: w.rows, cols: w.cols, bits: bits, groupSize: groupSize, codes: codes, scales: scales, zeros: zeros)))
    }
}
