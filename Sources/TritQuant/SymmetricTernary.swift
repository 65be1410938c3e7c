import TritCore
import TritKernels

/// The two symmetric one-scale ternary grids of the baselines, fitted to one group of weights.
///
/// - absmean (BitNet b1.58, and Tequila's quantizer): s = mean|w|, t = round(w / s) clipped to
///   {−1, 0, 1}, i.e. t = ±1 where |w| ≥ s/2; the scale is s itself (not refitted).
/// - TWN: Δ = 0.7 · mean|w|, t = ±1 where |w| > Δ, α = mean of |w| over those weights.
enum SymmetricTernaryRule: String, Sendable {
    case absmean, twn

    /// Fits the scale and writes trits for `w`; returns the scale (0 for an all-zero group).
    @inline(__always)
    func fit(_ w: UnsafeBufferPointer<Float>, trits: UnsafeMutableBufferPointer<Int8>) -> Float {
        var sumAbs = 0.0
        for v in w { sumAbs += Double(abs(v)) }
        let meanAbs = sumAbs / Double(w.count)
        guard meanAbs > 0 else {
            for k in 0..<trits.count { trits[k] = 0 }
            return 0
        }
        switch self {
        case .absmean:
            let half = Float(meanAbs / 2)
            for (k, v) in w.enumerated() { trits[k] = v >= half ? 1 : (v <= -half ? -1 : 0) }
            return Float(meanAbs)
        case .twn:
            let delta = Float(0.7 * meanAbs)
            var s = 0.0, n = 0
            for (k, v) in w.enumerated() {
                if abs(v) > delta { trits[k] = v > 0 ? 1 : -1; s += Double(abs(v)); n += 1 } else { trits[k] = 0 }
            }
            return n > 0 ? Float(s / Double(n)) : 0
        }
    }

    /// One plane with one scale per (row, group) of `groupSize` columns.
    func quantize(_ w: Matrix, groupSize: Int) -> (trits: [Int8], scales: [Float]) {
        let ng = (w.cols + groupSize - 1) / groupSize
        var trits = [Int8](repeating: 0, count: w.count)
        var scales = [Float](repeating: 0, count: w.rows * ng)
        w.values.withUnsafeBufferPointer { pw in
            trits.withUnsafeMutableBufferPointer { pt in
                for i in 0..<w.rows {
                    for g in 0..<ng {
                        let lo = i * w.cols + g * groupSize, hi = min(lo + groupSize, (i + 1) * w.cols)
                        scales[i * ng + g] = fit(UnsafeBufferPointer(rebasing: pw[lo..<hi]),
                                                 trits: UnsafeMutableBufferPointer(rebasing: pt[lo..<hi]))
                    }
                }
            }
        }
        return (trits, scales)
    }
}

/// Granularity of a symmetric ternary baseline's scale.
enum ScaleGranularity {
    /// The column group size that realises a granularity: a whole row for per-row scales.
    /// Per-tensor uses one shared scale (every row's scale is the same value; the stored form
    /// still keeps one fp16 per row, which is what `bits_per_weight` counts).
    static func read(_ p: inout QuantizationParameters, defaultGranularity: String) throws -> (granularity: String, group: Int) {
        let g = try p.choice("granularity", default: defaultGranularity, allowed: ["tensor", "row", "group"])
        let size = try p.int("group", default: 128, in: 1...1 << 20)
        return (g, size)
    }
}

/// Absmean (BitNet b1.58) or TWN ternarization with per-tensor, per-row or per-group scales.
public struct SymmetricTernaryQuantizer: Quantizer {
    public let methodName: String
    let rule: SymmetricTernaryRule
    public let granularity: String
    public let groupSize: Int
    public let resolvedParameters: [String: String]
    public var requiresCalibration: Bool { false }

    /// `absmean` defaults to groups of 128 columns (Tequila's setting); `twn` to per-row scales.
    public init(method: String, parameters: [String: String] = [:]) throws {
        guard let r = SymmetricTernaryRule(rawValue: method) else {
            throw QuantizationError.unknownMethod(name: method, known: ["absmean", "twn"])
        }
        rule = r
        methodName = method
        var p = QuantizationParameters(method: method, parameters)
        (granularity, groupSize) = try ScaleGranularity.read(&p, defaultGranularity: r == .absmean ? "group" : "row")
        try p.finish()
        resolvedParameters = p.resolved
    }

    public func fit(_ w: Matrix, calibration: Calibration?) throws -> QuantizerOutput {
        let layer: TernaryWeights
        switch granularity {
        case "tensor":
            let flat = Matrix(rows: 1, cols: w.count, values: w.values)
            let (t, s) = rule.quantize(flat, groupSize: w.count)
            layer = try TernaryWeights(rows: w.rows, cols: w.cols, groupSize: w.cols, planes: [t],
                                       scales: [[Float](repeating: s[0], count: w.rows)])
        case "row":
            let (t, s) = rule.quantize(w, groupSize: w.cols)
            layer = try TernaryWeights(rows: w.rows, cols: w.cols, groupSize: w.cols, planes: [t], scales: [s])
        default:
            let g = min(groupSize, w.cols)
            let (t, s) = rule.quantize(w, groupSize: g)
            layer = try TernaryWeights(rows: w.rows, cols: w.cols, groupSize: g, planes: [t], scales: [s])
        }
        return QuantizerOutput(layer: .ternary(layer.roundedToHalfPrecision()))
    }
}
