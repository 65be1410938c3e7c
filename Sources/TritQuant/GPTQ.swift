import TritCore
import TritKernels

/// GPTQ (Frantar et al.) at 2, 3 or 4 bits (uniform asymmetric grid per group of 128, the grid
/// fitted on the error-updated weights when the loop reaches the group, as the reference code
/// does) or ternary, through the shared `GPTQBlockLoop` (block size = group size).
///
/// Ternary grid (UNVERIFIED, no paper pins it): per (row, group) a symmetric scale fitted when
/// the group starts — TWN's α by default (`ternary_scale=twn`), or absmean's s — and each column
/// rounded to the nearest of {−α, 0, +α}.
public struct GPTQQuantizer: Quantizer {
    public let methodName = "gptq"
    /// nil for ternary.
    public let bits: Int?
    public let groupSize: Int
    public let dampening: Double
    let ternaryRule: SymmetricTernaryRule
    public let resolvedParameters: [String: String]
    public var requiresCalibration: Bool { true }

    public init(parameters: [String: String] = [:]) throws {
        var p = QuantizationParameters(method: "gptq", parameters)
        let b = try p.choice("bits", default: "4", allowed: ["2", "3", "4", "ternary"])
        bits = Int(b)
        groupSize = try p.int("group", default: 128, in: 1...1 << 20)
        dampening = try p.double("damp", default: 0.01, in: 0...10)
        ternaryRule = SymmetricTernaryRule(rawValue: try p.choice("ternary_scale", default: "twn", allowed: ["twn", "absmean"]))!
        try p.finish()
        resolvedParameters = p.resolved
    }

    public func fit(_ w: Matrix, calibration: Calibration?) throws -> QuantizerOutput {
        guard let cal = calibration else { throw QuantizationError.calibrationRequired(method: methodName) }
        let loop = GPTQBlockLoop(blockSize: groupSize, dampening: dampening, order: .sequential)
        if let bits {
            var grid = UniformColumnGrid(rows: w.rows, cols: w.cols, bits: bits, groupSize: groupSize)
            _ = try loop.run(w, calibration: cal, quantizer: &grid, method: methodName)
            return QuantizerOutput(layer: .uniform(UniformQuantizedWeights(
                rows: w.rows, cols: w.cols, bits: bits, groupSize: groupSize,
                codes: grid.codes, scales: grid.scales, zeros: grid.zeros)))
        }
        var grid = TernaryColumnGrid(rows: w.rows, cols: w.cols, groupSize: groupSize, rule: ternaryRule)
        _ = try loop.run(w, calibration: cal, quantizer: &grid, method: methodName)
        let layer = try TernaryWeights(rows: w.rows, cols: w.cols, groupSize: groupSize,
                                       planes: [grid.trits], scales: [grid.scales])
        return QuantizerOutput(layer: .ternary(layer))
    }
}

/// GPTQ's uniform grid: fitted per row when a block (= group) starts, applied per column.
struct UniformColumnGrid: GPTQBlockQuantizer {
    let rows: Int, cols: Int, bits: Int, groupSize: Int
    var codes: [UInt8]
    var scales: [Float]
    var zeros: [UInt8]
    private var grids: [UniformGrid] = []
    private var group = 0

    init(rows: Int, cols: Int, bits: Int, groupSize: Int) {
        self.rows = rows; self.cols = cols; self.bits = bits; self.groupSize = groupSize
        let ng = (cols + groupSize - 1) / groupSize
        codes = [UInt8](repeating: 0, count: rows * cols)
        scales = [Float](repeating: 0, count: rows * ng)
        zeros = [UInt8](repeating: 0, count: rows * ng)
    }

    mutating func beginBlock(index: Int, start: Int, weights: Matrix, secondMoment: [Double]) throws {
        let ng = (cols + groupSize - 1) / groupSize
        group = start / groupSize
        grids = weights.values.withUnsafeBufferPointer { pw in
            (0..<rows).map { i in
                UniformGrid(bits: bits, values: UnsafeBufferPointer(rebasing: pw[(i * weights.cols)..<((i + 1) * weights.cols)]))
            }
        }
        for i in 0..<rows {
            scales[i * ng + group] = grids[i].scale
            zeros[i * ng + group] = UInt8(grids[i].zero)
        }
    }

    mutating func quantizeColumn(_ k: Int, start: Int, values: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<rows {
            let q = grids[i].code(values[i])
            codes[i * cols + start + k] = UInt8(q)
            values[i] = grids[i].value(ofCode: q)
        }
    }
}

/// GPTQ's ternary grid: a symmetric scale per row fitted when a block starts (fp16 as stored),
/// each column rounded to the nearest of {−α, 0, +α}.
struct TernaryColumnGrid: GPTQBlockQuantizer {
    let rows: Int, cols: Int, groupSize: Int
    let rule: SymmetricTernaryRule
    var trits: [Int8]
    var scales: [Float]
    private var alpha: [Float]

    init(rows: Int, cols: Int, groupSize: Int, rule: SymmetricTernaryRule) {
        self.rows = rows; self.cols = cols; self.groupSize = groupSize; self.rule = rule
        trits = [Int8](repeating: 0, count: rows * cols)
        scales = [Float](repeating: 0, count: rows * ((cols + groupSize - 1) / groupSize))
        alpha = [Float](repeating: 0, count: rows)
    }

    mutating func beginBlock(index: Int, start: Int, weights: Matrix, secondMoment: [Double]) throws {
        let ng = (cols + groupSize - 1) / groupSize
        let g = start / groupSize
        var scratch = [Int8](repeating: 0, count: weights.cols)
        weights.values.withUnsafeBufferPointer { pw in
            scratch.withUnsafeMutableBufferPointer { ps in
                for i in 0..<rows {
                    let a = rule.fit(UnsafeBufferPointer(rebasing: pw[(i * weights.cols)..<((i + 1) * weights.cols)]), trits: ps)
                    alpha[i] = Float(Float16(a))
                    scales[i * ng + g] = alpha[i]
                }
            }
        }
    }

    mutating func quantizeColumn(_ k: Int, start: Int, values: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<rows {
            let half = alpha[i] / 2
            let v = values[i]
            let t: Int8 = alpha[i] > 0 && abs(v) > half ? (v > 0 ? 1 : -1) : 0
            trits[i * cols + start + k] = t
            values[i] = alpha[i] * Float(t)
        }
    }
}
