import Foundation
import TritCore
import TritDispatch

/// How much a strategy may spend: evaluations (each call of the objective counts once, a
/// re-measurement at higher fidelity too) and wall time. nil means no limit.
public struct TuningBudget: Sendable, Equatable {
    public var maxEvaluations: Int?
    public var maxSeconds: Double?
    public init(maxEvaluations: Int? = nil, maxSeconds: Double? = nil) {
        self.maxEvaluations = maxEvaluations; self.maxSeconds = maxSeconds
    }
}

/// One evaluation a strategy made: which configuration, at how many timing samples, and the
/// objective it got (median seconds per call; nil when the configuration failed).
public struct StrategyEvaluation: Codable, Equatable, Sendable {
    public var configuration: TuningConfiguration
    public var samples: Int
    public var value: Double?
}

/// The outcome of a strategy over one search space.
public struct StrategyOutcome: Sendable {
    public var best: TuningConfiguration?
    public var bestValue: Double?
    public var evaluations: [StrategyEvaluation]
}

/// The objective a strategy minimises: median seconds per call of `configuration` measured with
/// (at least) `samples` timing samples, or nil when it failed verification or is unknown.
public typealias TuningObjective = (_ configuration: TuningConfiguration, _ samples: Int) throws -> Double?

/// A search strategy: which configurations to evaluate, in which order, at which fidelity.
/// Strategies know nothing of kernels, timing or caches (Kernel Tuner's separation).
public protocol TuningStrategy: Sendable {
    var name: String { get }
    func run(space: [TuningConfiguration], budget: TuningBudget, objective: TuningObjective) throws -> StrategyOutcome
}

/// Shared bookkeeping: budget checks and the running best.
struct StrategyLedger {
    let budget: TuningBudget
    let start = Date()
    var evaluations: [StrategyEvaluation] = []

    var exhausted: Bool {
        if let m = budget.maxEvaluations, evaluations.count >= m { return true }
        if let s = budget.maxSeconds, Date().timeIntervalSince(start) >= s { return true }
        return false
    }

    mutating func evaluate(_ c: TuningConfiguration, samples: Int, _ objective: TuningObjective) throws -> Double? {
        let v = try objective(c, samples)
        evaluations.append(StrategyEvaluation(configuration: c, samples: samples, value: v))
        return v
    }

    /// Best by the highest-fidelity value seen for each configuration.
    func outcome() -> StrategyOutcome {
        var latest: [TuningConfiguration: (Int, Double)] = [:]
        for e in evaluations { if let v = e.value, (latest[e.configuration]?.0 ?? -1) <= e.samples { latest[e.configuration] = (e.samples, v) } }
        let best = latest.min { ($0.value.1, $0.key) < ($1.value.1, $1.key) }
        return StrategyOutcome(best: best?.key, bestValue: best?.value.1, evaluations: evaluations)
    }
}

/// Every configuration, in a fixed order, until the budget runs out.
public struct ExhaustiveStrategy: TuningStrategy {
    public var samples: Int
    public init(samples: Int = 7) { self.samples = samples }
    public var name: String { "exhaustive" }

    public func run(space: [TuningConfiguration], budget: TuningBudget, objective: TuningObjective) throws -> StrategyOutcome {
        var ledger = StrategyLedger(budget: budget)
        for c in space.sorted() where !ledger.exhausted { _ = try ledger.evaluate(c, samples: samples, objective) }
        return ledger.outcome()
    }
}

/// Uniform random sampling without replacement (seeded), until the budget runs out.
public struct RandomStrategy: TuningStrategy {
    public var samples: Int
    public var seed: UInt64
    public init(samples: Int = 7, seed: UInt64 = 1) { self.samples = samples; self.seed = seed }
    public var name: String { "random" }

    public func run(space: [TuningConfiguration], budget: TuningBudget, objective: TuningObjective) throws -> StrategyOutcome {
        var g = SeededGenerator(seed: seed)
        var ledger = StrategyLedger(budget: budget)
        for c in space.sorted().shuffled(using: &g) where !ledger.exhausted { _ = try ledger.evaluate(c, samples: samples, objective) }
        return ledger.outcome()
    }
}

/// Successive halving: measure many configurations cheaply (few timing samples), keep the best
/// 1/η, measure the survivors with η times more samples, and repeat until one is left.
///
/// Built for noise: a configuration is only dropped after being compared at the current
/// fidelity, and the final choice is made on the most samples. Cheap rounds cost little because
/// the cache keeps every sample and later rounds only add samples.
public struct SuccessiveHalvingStrategy: TuningStrategy {
    public var initialSamples: Int
    public var eta: Int
    public var seed: UInt64
    public init(initialSamples: Int = 3, eta: Int = 3, seed: UInt64 = 1) {
        self.initialSamples = initialSamples; self.eta = max(eta, 2); self.seed = seed
    }
    public var name: String { "halving" }

    public func run(space: [TuningConfiguration], budget: TuningBudget, objective: TuningObjective) throws -> StrategyOutcome {
        var g = SeededGenerator(seed: seed)
        var ledger = StrategyLedger(budget: budget)
        var candidates = space.sorted().shuffled(using: &g)
        // Size the first round so that all rounds fit the evaluation budget: n + n/η + … ≈ n·η/(η−1).
        if let m = budget.maxEvaluations {
            let n = max(1, m * (eta - 1) / eta)
            if candidates.count > n { candidates = Array(candidates.prefix(n)) }
        }
        var samples = initialSamples
        while !candidates.isEmpty && !ledger.exhausted {
            var scored: [(TuningConfiguration, Double)] = []
            for c in candidates where !ledger.exhausted {
                if let v = try ledger.evaluate(c, samples: samples, objective) { scored.append((c, v)) }
            }
            if scored.count <= 1 { break }
            scored.sort { ($0.1, $0.0) < ($1.1, $1.0) }
            candidates = scored.prefix(max(1, scored.count / eta)).map(\.0)
            samples *= eta
            if candidates.count == 1 {
                if !ledger.exhausted { _ = try ledger.evaluate(candidates[0], samples: samples, objective) }
                break
            }
        }
        return ledger.outcome()
    }
}

/// Looks a strategy up by its command-line name.
public enum TuningStrategies {
    public static let names = ["exhaustive", "random", "halving"]
    public static func named(_ name: String, seed: UInt64 = 1) -> TuningStrategy? {
        switch name {
        case "exhaustive": return ExhaustiveStrategy()
        case "random": return RandomStrategy(seed: seed)
        case "halving", "successive-halving": return SuccessiveHalvingStrategy(seed: seed)
        default: return nil
        }
    }
}
