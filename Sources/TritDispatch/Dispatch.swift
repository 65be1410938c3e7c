import Foundation
import TritKernels

/// A kernel choice for one layer at run time.
public struct KernelChoice: Equatable, Sendable {
    public var variant: String
    public var format: PackedFormatKind
    public var configuration: TuningConfiguration
    /// true when it came from the tuning cache, false for declared defaults.
    public var tuned: Bool
    public var medianSeconds: Double?
    /// Threads the choice was tuned at, at most the caller's count (nil for declared defaults).
    public var threads: Int?
    /// Whether `medianSeconds` was timed cold (weights from DRAM); nil for declared defaults.
    public var cold: Bool?

    public init(variant: String, format: PackedFormatKind, configuration: TuningConfiguration, tuned: Bool,
                medianSeconds: Double? = nil, threads: Int? = nil, cold: Bool? = nil) {
        self.variant = variant; self.format = format; self.configuration = configuration
        self.tuned = tuned; self.medianSeconds = medianSeconds; self.threads = threads; self.cold = cold
    }
}

/// Runtime dispatch: given (format, shape, tokens, threads) on this CPU, the best tuned
/// (variant, configuration) from the cache, or nil so the caller falls back to the kernel's
/// declared defaults. The model runtime asks this once per layer at load time.
public struct Dispatch: Sendable {
    public let cache: TuningCache
    public let context: TuningContext
    public init(cache: TuningCache, context: TuningContext) { self.cache = cache; self.context = context }

    /// - Parameters:
    ///   - formats: acceptable formats (nil: any); a layer packed in one format passes just it.
    ///   - tokens: 1 for decode; for prefill the tuned token count closest on a log scale is used.
    ///   - threads: the most threads the caller lets the kernel use. Records tuned at fewer
    ///     threads compete on their measured medians, so a layer too small to gain from a second
    ///     thread (the hand-off costs more than half its work) stays on one.
    ///   Records are compared within one timing regime: for decode (1 token) the cold ones where
    ///   the shape has any, since a model pass reads each layer's weights from DRAM (a kernel
    ///   that wins hot by saving instructions can lose when the bytes are the limit); for
    ///   prefill the hot ones, since 64 tokens reuse every weight 64 times. The other regime's
    ///   records serve only where the preferred one has none.
    public func select(formats: Set<PackedFormatKind>?, rows: Int, cols: Int, tokens: Int, threads: Int) -> KernelChoice? {
        let matching = cache.records.filter {
            $0.context == context && !$0.isFailure && $0.median != nil
                && $0.problem.rows == rows && $0.problem.cols == cols && $0.problem.threads <= threads
                && (formats?.contains($0.problem.format) ?? true)
                && ($0.problem.tokens == 1) == (tokens == 1)
        }
        let preferCold = tokens == 1
        let preferred = matching.filter { $0.problem.cold == preferCold }
        let candidates = preferred.isEmpty ? matching : preferred
        guard !candidates.isEmpty else { return nil }
        let tunedTokens = Set(candidates.map(\.problem.tokens))
        let target = tunedTokens.min { a, b in
            (abs(log(Double(a)) - log(Double(tokens))), a) < (abs(log(Double(b)) - log(Double(tokens))), b)
        }!
        let best = candidates.filter { $0.problem.tokens == target }
            .min { ($0.median!, $0.problem.variant, $0.configuration) < ($1.median!, $1.problem.variant, $1.configuration) }!
        return KernelChoice(variant: best.problem.variant, format: best.problem.format,
                            configuration: best.configuration, tuned: true, medianSeconds: best.median,
                            threads: best.problem.threads, cold: best.problem.cold)
    }
}
