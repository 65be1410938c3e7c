/// The quantization methods by the names the CLI and the model run use.
public enum QuantizationMethod: String, CaseIterable, Sendable {
    /// BitNet b1.58 absmean ternary; `granularity=tensor|row|group` (default group), `group=128`.
    case absmean
    /// Ternary Weight Networks; same granularity parameters (default row).
    case twn
    /// Uniform asymmetric round-to-nearest; `bits=2|3|4` (default 4), `group=128`.
    case rtn
    /// GPTQ; `bits=2|3|4|ternary` (default 4), `group=128`, `damp=0.01`, `ternary_scale=twn|absmean`.
    case gptq
    /// PTQTP two trit planes; `group`, `eps`, `max_iter`, `lambda0`, `lambda_growth`, `cond_max`, `lambda_max`.
    case ptqtp
    /// PT²-LLM; `itf`, `aga`, `ssr` (on/off), `intra_block`, `itf_max_rounds`, `group`, `damp`.
    case pt2llm
    /// Absmean plus Tequila's folded deadzone bias, no training; `group`, `lambda`.
    case tequilaUntrained = "tequila-untrained"
    /// Absmean with Tequila's deadzone bias and a per-layer STE reconstruction on calibration
    /// statistics (not Tequila's method, which trains the whole model end to end: `tritbench
    /// train --method tequila`); `group`, `lambda`, `steps`, `lr`, `beta1`, `beta2`, `adam_eps`.
    case deadzoneLayerwise = "deadzone-layerwise"

    public static var names: [String] { allCases.map(\.rawValue) }

    /// Looks a method up by name; an unknown name is an error listing the known ones.
    public static func named(_ name: String) throws -> QuantizationMethod {
        guard let m = QuantizationMethod(rawValue: name) else {
            if name == "tequila" {
                throw QuantizationError.badParameter(method: name, key: "method", value: name,
                    expected: "Tequila trains the whole model end to end: `tritbench train --method tequila` (the per-layer reconstruction is 'deadzone-layerwise')")
            }
            throw QuantizationError.unknownMethod(name: name, known: names)
        }
        return m
    }

    /// The quantizer for this method with `parameters` (key → value) checked and resolved.
    public func quantizer(parameters: [String: String] = [:]) throws -> any Quantizer {
        switch self {
        case .absmean, .twn: return try SymmetricTernaryQuantizer(method: rawValue, parameters: parameters)
        case .rtn: return try RTNQuantizer(parameters: parameters)
        case .gptq: return try GPTQQuantizer(parameters: parameters)
        case .ptqtp: return try PTQTPQuantizer(parameters: parameters)
        case .pt2llm: return try PT2LLMQuantizer(parameters: parameters)
        case .tequilaUntrained: return try TequilaQuantizer(trained: false, parameters: parameters)
        case .deadzoneLayerwise: return try TequilaQuantizer(trained: true, parameters: parameters)
        }
    }

    /// Whether the method needs calibration activations.
    public var requiresCalibration: Bool {
        switch self {
        case .gptq, .pt2llm, .deadzoneLayerwise: return true
        case .absmean, .twn, .rtn, .ptqtp, .tequilaUntrained: return false
        }
    }
}
