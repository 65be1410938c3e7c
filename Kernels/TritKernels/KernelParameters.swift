import Foundation
import TritCore

/// One tunable parameter of a kernel variant: its allowed values and default, and the token
/// counts whose loops read it (`tokenBlock` means nothing to a GEMV, `gemvWidth` nothing to a
/// GEMM), so the tuner does not spend measurements on values that run the same code.
public struct KernelParameter: Codable, Hashable, Sendable {
    public let name: String
    public let allowed: [Int]
    public let defaultValue: Int
    public let meaning: String
    /// Fewest tokens per call whose loop reads the parameter.
    public var minTokens = 1
    /// Most tokens per call whose loop reads it (nil: no limit).
    public var maxTokens: Int? = nil

    /// Whether a call with `tokens` tokens runs code that depends on this parameter.
    public func applies(toTokens tokens: Int) -> Bool { tokens >= minTokens && tokens <= (maxTokens ?? Int.max) }
}

/// A rule across parameters, e.g. "rowBlock × tokenBlock ≤ 4". `holds` sees the complete
/// (defaults filled in) configuration.
public struct ParameterConstraint: Sendable {
    public let parameters: [String]
    public let rule: String
    public let holds: @Sendable (KernelConfiguration) -> Bool
}

/// The parameters a variant declares, their constraints and defaults. Enumerable: the tuner
/// builds its search space from `allConfigurations`.
public struct ParameterSpace: Sendable {
    public let variant: String
    public let parameters: [KernelParameter]
    public let constraints: [ParameterConstraint]

    public var defaultConfiguration: KernelConfiguration {
        KernelConfiguration(Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.defaultValue) }))
    }

    /// `c` with defaults for missing parameters, after checking names, values and constraints.
    public func resolve(_ c: KernelConfiguration) throws -> KernelConfiguration {
        let known = parameters.map(\.name)
        for name in c.values.keys.sorted() where !known.contains(name) {
            throw KernelConfigurationError.unknownParameter(variant: variant, name: name, known: known)
        }
        var full = defaultConfiguration
        for p in parameters {
            guard let v = c[p.name] else { continue }
            guard p.allowed.contains(v) else {
                throw KernelConfigurationError.valueNotAllowed(variant: variant, name: p.name, value: v, allowed: p.allowed)
            }
            full[p.name] = v
        }
        for rule in constraints where !rule.holds(full) {
            throw KernelConfigurationError.constraintViolated(variant: variant, parameters: rule.parameters,
                                                             rule: rule.rule, configuration: full.description)
        }
        return full
    }

    /// Every configuration that satisfies all constraints and differs in a parameter a call
    /// with `tokens` tokens reads; the others stay at their defaults.
    public func configurations(tokens: Int) -> [KernelConfiguration] {
        var seen = Set<KernelConfiguration>()
        return allConfigurations.compactMap { c in
            var pinned = c
            for p in parameters where !p.applies(toTokens: tokens) { pinned[p.name] = p.defaultValue }
            guard constraints.allSatisfy({ $0.holds(pinned) }), seen.insert(pinned).inserted else { return nil }
            return pinned
        }
    }

    /// Every configuration of allowed values that satisfies all constraints.
    public var allConfigurations: [KernelConfiguration] {
        var out = [KernelConfiguration()]
        for p in parameters {
            out = out.flatMap { c in p.allowed.map { v in var n = c; n[p.name] = v; return n } }
        }
        return out.filter { c in constraints.allSatisfy { $0.holds(c) } }
    }
}

/// Names of the parameters, shared by the variants that use them.
public enum KernelParameterName {
    public static let rowBlock = "rowBlock"
    public static let tokenBlock = "tokenBlock"
    public static let int16Depth = "int16Depth"
    public static let prefetch = "prefetchBytes"
    public static let threads = "threads"
    public static let lutGroup = "lutGroup"
    public static let tileDecode = "tileDecode"
    public static let gemvWidth = "gemvWidth"
}

extension KernelParameter {
    static func threads() -> KernelParameter {
        let cores = max(2, ProcessInfo.processInfo.activeProcessorCount)
        return KernelParameter(name: KernelParameterName.threads, allowed: [1, 2, 4, 8, 16, 32].filter { $0 <= cores },
                               defaultValue: 1, meaning: "worker threads over row tiles (forward's threads argument overrides)")
    }
    /// How GEMM (≥ 4 tokens) walks the weights. 0: decode per register block; 1: decode each
    /// 8-row tile once and sweep every token over it with `vpmaddubsw` + a `vphaddw` tree
    /// (128-column scale groups only); 2: the same tile row-interleaved, swept with AVX-512 VNNI
    /// `vpdpbusd` into per-row int32 lanes (any group size). 2 is offered, and the default, only
    /// where the CPU has AVX512-VNNI and AVX512VL, so a configuration naming it elsewhere is
    /// rejected instead of running a loop that would fault.
    static func tileDecode(features: CPUFeatures) -> KernelParameter {
        let vnni = features.supportsVNNIKernels
        return KernelParameter(name: KernelParameterName.tileDecode, allowed: vnni ? [0, 1, 2] : [0, 1],
                               defaultValue: vnni ? 2 : 1,
                               meaning: "GEMM (≥ 4 tokens): 0 decode per register block; 1 decode each 8-row tile once into L1 and sweep every token over it, 8 rows per activation load (128-column scale groups; overrides rowBlock/tokenBlock there); 2 the same tile row-interleaved by 8-byte column blocks for AVX-512 VNNI vpdpbusd zmm, 16 tokens per sweep (only where the CPU has AVX512-VNNI + AVX512BW/VL)",
                               minTokens: 4)
    }
    /// Which loop runs a GEMV (1 token). 256: the AVX2 loop over `rowBlock` rows; 512: the
    /// AVX-512 loop (`VNNIKernels.gemvTiles`), 8 rows as four 2-row zmm registers with
    /// `vpdpbusd` into int32 lanes, for the 2-bit and base-3 layouts. Offered, and the default,
    /// only where the CPU has AVX512-VNNI/BW/VL with ZMM state saved, like `tileDecode = 2`.
    static func gemvWidth(features: CPUFeatures) -> KernelParameter {
        let vnni = features.supportsVNNIKernels
        return KernelParameter(name: KernelParameterName.gemvWidth, allowed: vnni ? [256, 512] : [256],
                               defaultValue: vnni ? 512 : 256,
                               meaning: "GEMV (1 token) vector width: 256 the AVX2 loop over rowBlock rows; 512 the AVX-512 VNNI loop, 8 rows as four 2-row zmm registers, vpdpbusd into int32 (2-bit and base-3 layouts; only where the CPU has AVX512-VNNI + BW + VL)",
                               maxTokens: 1)
    }
    static func prefetch() -> KernelParameter {
        KernelParameter(name: KernelParameterName.prefetch, allowed: [0, 256, 512, 1024, 2048], defaultValue: 0,
                        meaning: "bytes ahead in each weight row to prefetch (prefetcht0 through a static inline C helper)")
    }
}

extension ParameterSpace {
    /// The default and every configuration that changes one parameter from it (when the
    /// constraints allow): a small spread that touches every allowed value once.
    public var oneAtATime: [KernelConfiguration] {
        let base = defaultConfiguration
        var out = [base]
        for p in parameters {
            for v in p.allowed where v != p.defaultValue {
                var c = base; c[p.name] = v
                if constraints.allSatisfy({ $0.holds(c) }) { out.append(c) }
            }
        }
        return out
    }
}
