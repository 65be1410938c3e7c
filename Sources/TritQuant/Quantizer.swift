import Foundation
import TritCore
import TritKernels

/// Errors from quantizing a layer; each names the method, field, index or parameter at fault and
/// what was expected.
public enum QuantizationError: Error, CustomStringConvertible, Equatable {
    case emptyMatrix(rows: Int, cols: Int)
    case nonFiniteWeight(index: Int, row: Int, col: Int)
    case nonFiniteActivation(token: Int, col: Int)
    case calibrationRequired(method: String)
    case calibrationShape(expectedCols: Int, got: Int)
    case unknownMethod(name: String, known: [String])
    case unknownParameter(method: String, key: String, allowed: [String])
    case badParameter(method: String, key: String, value: String, expected: String)
    case malformedParameter(text: String)
    case numerical(method: String, reason: String)

    public var description: String {
        switch self {
        case let .emptyMatrix(r, c):
            return "weight matrix is \(r)x\(c); expected at least one row and one column"
        case let .nonFiniteWeight(i, r, c):
            return "weight \(i) (row \(r), column \(c)) is NaN or infinite; quantizers need finite weights"
        case let .nonFiniteActivation(t, c):
            return "calibration activation at token \(t), column \(c) is NaN or infinite"
        case let .calibrationRequired(m):
            return "method '\(m)' needs calibration activations (pass --calib X.npy, tokens × input columns)"
        case let .calibrationShape(e, g):
            return "calibration activations have \(g) columns; expected \(e) (the weight matrix's input columns)"
        case let .unknownMethod(n, known):
            return "unknown method '\(TextEscaping.terminal(n))'; expected one of: \(known.joined(separator: ", "))"
        case let .unknownParameter(m, k, allowed):
            return "method '\(m)' has no parameter '\(k)'; allowed: \(allowed.sorted().joined(separator: ", "))"
        case let .badParameter(m, k, v, e):
            return "method '\(m)': parameter \(k)=\(v) is invalid; expected \(e)"
        case let .malformedParameter(t):
            return "parameter '\(t)' is not of the form key=value"
        case let .numerical(m, r):
            return "method '\(m)': \(r)"
        }
    }
}

/// What a quantizer produced: a ternary layer (one or two trit planes with side data), or a
/// uniform b-bit layer for the non-ternary baselines.
public enum QuantizedLayer: Equatable, Sendable {
    case ternary(TernaryWeights)
    case uniform(UniformQuantizedWeights)

    public var rows: Int {
        switch self { case let .ternary(t): return t.rows; case let .uniform(u): return u.rows }
    }
    public var cols: Int {
        switch self { case let .ternary(t): return t.cols; case let .uniform(u): return u.cols }
    }

    /// Ŵ in the original column order; the layer computes y = Ŵ x + bias.
    public func dequantized() -> Matrix {
        switch self { case let .ternary(t): return t.dequantized(); case let .uniform(u): return u.dequantized() }
    }

    /// The per-output bias added after the product (Tequila's folded deadzone bias), if any.
    public var bias: [Float]? {
        switch self { case let .ternary(t): return t.bias; case .uniform: return nil }
    }

    /// Bits the stored form takes, side data included.
    ///
    /// Trits are counted at the density of the packed formats they are stored in: one plane in
    /// base 3 (5 trits per byte, 1.6 bits each), two planes jointly in base 9 (5 weights per
    /// 16 bits, 3.2 bits each); row padding to a multiple of 5 is not counted. Side data is
    /// `TernaryWeights.sideBits` (fp16 scales/offsets/bias, int16 permutation indices). A
    /// uniform layer stores b bits per weight plus an fp16 scale and a b-bit zero per group.
    public var storageBits: Double {
        switch self {
        case let .ternary(t):
            let tritBits = Double(t.rows * t.cols) * (t.planes.count == 1 ? 8.0 / 5.0 : 16.0 / 5.0)
            return tritBits + Double(t.sideBits)
        case let .uniform(u):
            return Double(u.storageBits)
        }
    }

    public var bitsPerWeight: Double { storageBits / Double(rows * cols) }
}

/// Method-specific facts a report carries beside the errors (absent when they do not apply).
public struct QuantizationDetails: Codable, Equatable, Sendable {
    /// PTQTP: the largest iteration count any (row, group) stopped at, and the mean.
    public var ptqtpIterations: Int?
    public var ptqtpMeanIterations: Double?
    /// PT²-LLM: ITF rounds (largest and mean over (row, block)); the stages that ran.
    public var itfRounds: Int?
    public var itfMeanRounds: Double?
    public var stages: [String]?
    /// Tequila training: Adam steps, distinct calibration tokens (each step sees all of them
    /// through H and m), training time, and the per-token mean squared output error before
    /// (the untrained quantizer with its bias) and after.
    public var tequilaSteps: Int?
    public var tequilaTokens: Int?
    public var tequilaSeconds: Double?
    public var tequilaInitialLoss: Double?
    public var tequilaFinalLoss: Double?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case ptqtpIterations = "ptqtp_iterations", ptqtpMeanIterations = "ptqtp_mean_iterations"
        case itfRounds = "itf_rounds", itfMeanRounds = "itf_mean_rounds", stages
        case tequilaSteps = "tequila_steps", tequilaTokens = "tequila_tokens"
        case tequilaSeconds = "tequila_seconds", tequilaInitialLoss = "tequila_initial_loss"
        case tequilaFinalLoss = "tequila_final_loss"
    }
}

/// The measured outcome of quantizing one layer: what the CLI prints and the model run records.
public struct QuantizationReport: Codable, Equatable, Sendable {
    /// Registry name of the method (e.g. "tequila-untrained"; never "tequila" for the untrained one).
    public var method: String
    public var rows: Int
    public var cols: Int
    /// ‖W − Ŵ‖_F / ‖W‖_F.
    public var relativeError: Double
    /// ‖WX − (ŴX + c)‖_F / ‖WX‖_F over the calibration tokens; nil without calibration.
    public var outputError: Double?
    /// Storage cost (see `QuantizedLayer.storageBits`) divided by the number of weights.
    public var bitsPerWeight: Double
    /// Wall time of the fit alone (errors are measured afterwards).
    public var seconds: Double
    /// Every parameter with its resolved value, defaults included.
    public var parameters: [String: String]
    public var calibrationTokens: Int?
    public var details: QuantizationDetails

    enum CodingKeys: String, CodingKey {
        case method, rows, cols, relativeError = "relative_error", outputError = "output_error"
        case bitsPerWeight = "bits_per_weight", seconds, parameters
        case calibrationTokens = "calibration_tokens", details
    }

    public init(method: String, rows: Int, cols: Int, relativeError: Double, outputError: Double?,
                bitsPerWeight: Double, seconds: Double, parameters: [String: String],
                calibrationTokens: Int?, details: QuantizationDetails) {
        self.method = method; self.rows = rows; self.cols = cols
        self.relativeError = relativeError; self.outputError = outputError
        self.bitsPerWeight = bitsPerWeight; self.seconds = seconds; self.parameters = parameters
        self.calibrationTokens = calibrationTokens; self.details = details
    }

    /// `output_error` and `calibration_tokens` are written as JSON null when absent, so readers
    /// can tell "not measured" from a missing field.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(method, forKey: .method)
        try c.encode(rows, forKey: .rows)
        try c.encode(cols, forKey: .cols)
        try c.encode(relativeError, forKey: .relativeError)
        try c.encode(outputError, forKey: .outputError)
        try c.encode(bitsPerWeight, forKey: .bitsPerWeight)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(calibrationTokens, forKey: .calibrationTokens)
        try c.encode(details, forKey: .details)
    }
}

/// What a method's fit returns before the shared measurement in `quantizeLayer`.
public struct QuantizerOutput: Sendable {
    public var layer: QuantizedLayer
    public var details: QuantizationDetails
    public init(layer: QuantizedLayer, details: QuantizationDetails = QuantizationDetails()) {
        self.layer = layer; self.details = details
    }
}

/// A quantized layer with its report.
public struct QuantizationResult: Sendable {
    public var layer: QuantizedLayer
    public var report: QuantizationReport
}

/// One quantization method with its parameters resolved.
///
/// `fit` does the method's work only; `quantizeLayer` (below) is the one entry point that
/// validates the input, times the fit and measures the errors from the layer as stored, so every
/// method is measured the same way.
public protocol Quantizer: Sendable {
    /// The registry name printed in every output.
    var methodName: String { get }
    /// Every parameter with its resolved value (defaults included).
    var resolvedParameters: [String: String] { get }
    /// Whether `fit` needs calibration activations.
    var requiresCalibration: Bool { get }
    /// Fits the method to `weights` (validated: non-empty, finite, calibration matching).
    func fit(_ weights: Matrix, calibration: Calibration?) throws -> QuantizerOutput
    /// How a model run must collect this method's calibration statistics.
    var calibrationNeeds: CalibrationNeeds { get }
    /// The quantizer for the model tensor `name` (a method that treats some layer kinds
    /// differently returns its variant; most return themselves).
    func adapted(forLayer name: String) -> any Quantizer
}

/// How calibration inputs are collected over a model.
public enum CalibrationNeeds: Equatable, Sendable {
    /// Each transformer block's layers see the block's input from the already quantized earlier
    /// blocks, with the block itself still in Float32 (GPTQ's reference code).
    case blockInputs
    /// Within a block too, each group of layers (q/k/v, o, gate/up, down) sees inputs from the
    /// already quantized earlier groups (`--true-sequential`); with `fullPrecisionInputs` the same
    /// tokens' inputs in the Float32 model are recorded beside them (GPTAQ's cross term).
    case trueSequential(fullPrecisionInputs: Bool)
}

extension Quantizer {
    public var calibrationNeeds: CalibrationNeeds { .blockInputs }
    public func adapted(forLayer name: String) -> any Quantizer { self }
}

extension Quantizer {
    /// Quantizes one layer: W (rows = outputs, cols = inputs) with optional calibration
    /// statistics of its inputs. Usable in a loop over a model's layers: it keeps no state and
    /// holds at most a few copies of the layer.
    public func quantizeLayer(_ weights: Matrix, calibration: Calibration? = nil) throws -> QuantizationResult {
        guard weights.rows > 0, weights.cols > 0 else {
            throw QuantizationError.emptyMatrix(rows: weights.rows, cols: weights.cols)
        }
        if let bad = weights.firstNonFiniteIndex {
            throw QuantizationError.nonFiniteWeight(index: bad, row: bad / weights.cols, col: bad % weights.cols)
        }
        if let cal = calibration, cal.cols != weights.cols {
            throw QuantizationError.calibrationShape(expectedCols: weights.cols, got: cal.cols)
        }
        if requiresCalibration && calibration == nil {
            throw QuantizationError.calibrationRequired(method: methodName)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let out = try fit(weights, calibration: calibration)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        try Self.checkStorable(out.layer, method: methodName)
        let wq = out.layer.dequantized()
        let outputError = calibration.map { $0.relativeOutputError(reference: weights, quantized: wq, bias: out.layer.bias) }
        let report = QuantizationReport(
            method: methodName, rows: weights.rows, cols: weights.cols,
            relativeError: weights.relativeError(to: wq), outputError: outputError,
            bitsPerWeight: out.layer.bitsPerWeight, seconds: seconds, parameters: resolvedParameters,
            calibrationTokens: calibration?.tokens, details: out.details)
        return QuantizationResult(layer: out.layer, report: report)
    }

    /// Side data is stored as fp16: a scale beyond ±65504 (weights of that size) cannot be.
    static func checkStorable(_ layer: QuantizedLayer, method: String) throws {
        switch layer {
        case let .ternary(t):
            do { try t.validate() } catch {
                throw QuantizationError.numerical(method: method, reason: "result cannot be stored (fp16 side data): \(error)")
            }
        case let .uniform(u):
            if let i = u.scales.firstIndex(where: { !$0.isFinite }) {
                throw QuantizationError.numerical(method: method, reason: "scale \(i) overflows fp16 (weights too large to store)")
            }
        }
    }
}
