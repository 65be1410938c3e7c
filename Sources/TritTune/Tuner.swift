import Foundation
import TritCore
import TritDispatch
import TritMeasure

/// What the measurement side returns for a configuration: timing samples (seconds per call) and
/// the counters that really counted (per call).
public struct MeasuredSamples: Sendable {
    public var samples: [Double]
    public var counters: [String: Double]
    public init(samples: [Double], counters: [String: Double] = [:]) { self.samples = samples; self.counters = counters }
}

/// The pieces a tuning run needs from outside: how to check a configuration against the scalar
/// reference, and how to time it. Plugged in by the caller (kernels + measurement layer), so the
/// tuner itself measures nothing and knows no kernel.
public struct TuningEvaluator {
    /// nil when the configuration computes the right answer; else why not.
    public var verify: (TuningConfiguration) -> String?
    /// Measures `samples` new timing samples of the configuration.
    public var measure: (TuningConfiguration, _ samples: Int) throws -> MeasuredSamples
    public init(verify: @escaping (TuningConfiguration) -> String?,
                measure: @escaping (TuningConfiguration, Int) throws -> MeasuredSamples) {
        self.verify = verify; self.measure = measure
    }
}

/// The result of tuning one problem.
public struct TuningOutcome: Sendable {
    public var problem: TuningProblem
    public var strategy: String
    public var best: TuningRecord?
    public var defaultRecord: TuningRecord?
    public var evaluations: [StrategyEvaluation]
    /// Configurations actually measured in this call (0 in replay, and for a fully cached rerun).
    public var newlyMeasured: Int
    public var failures: Int
    public var seconds: Double

    /// default median / best median (>1 means tuning helped).
    public var speedupOverDefault: Double? {
        guard let b = best?.median, let d = defaultRecord?.median, b > 0 else { return nil }
        return d / b
    }
}

/// Errors of a tuning run.
public enum TuningError: Error, CustomStringConvertible {
    case emptySearchSpace(TuningProblem)
    public var description: String {
        switch self { case let .emptySearchSpace(p): return "\(p): the search space has no valid configuration" }
    }
}

/// Runs a strategy over a search space with verification before timing, recording every
/// configuration (failures too) in the tuning cache. In replay mode the strategy runs against
/// the cache alone and nothing is measured (Kernel Tuner's simulation mode).
public struct Tuner {
    public var context: TuningContext
    public var cache: TuningCache
    public init(context: TuningContext, cache: TuningCache) { self.context = context; self.cache = cache }

    public mutating func tune(problem: TuningProblem, space: [TuningConfiguration], defaultConfiguration: TuningConfiguration,
                              strategy: TuningStrategy, budget: TuningBudget, evaluator: TuningEvaluator?,
                              progress: Bool = true) throws -> TuningOutcome {
        guard !space.isEmpty else { throw TuningError.emptySearchSpace(problem) }
        let start = Date()
        var newlyMeasured = 0
        var reporter = ProgressReporter("tune \(problem)", total: budget.maxEvaluations ?? space.count, enabled: progress)
        let replay = evaluator == nil

        // The objective the strategy sees; reads the cache first, measures only what is missing.
        func objective(_ c: TuningConfiguration, _ n: Int) throws -> Double? {
            defer { reporter.advance(detail: c.description) }
            var rec = cache.record(context, problem, c)
            if let r = rec, r.isFailure { return nil }
            if let r = rec, r.samples.count >= n { return Statistics.median(Array(r.samples.prefix(n))) }
            guard let evaluator else { return rec.map { Statistics.median($0.samples) } }  // replay: what is recorded
            if rec == nil, let failure = evaluator.verify(c) {
                cache.insert(TuningRecord(context: context, problem: problem, configuration: c, status: "failed",
                                          failure: failure, samples: [], median: nil, ciLow: nil, ciHigh: nil,
                                          counters: [:], date: Date()))
                try cache.save()
                return nil
            }
            let have = rec?.samples ?? []
            let m = try evaluator.measure(c, n - have.count)
            newlyMeasured += 1
            let all = have + m.samples
            let ci = Statistics.bootstrapCI(of: all)
            rec = TuningRecord(context: context, problem: problem, configuration: c, status: "ok", failure: nil,
                               samples: all, median: Statistics.median(all), ciLow: ci.low, ciHigh: ci.high,
                               counters: m.counters.isEmpty ? (rec?.counters ?? [:]) : m.counters, date: Date())
            cache.insert(rec!)
            try cache.save()
            return rec!.median
        }

        let outcome = try strategy.run(space: space, budget: budget, objective: objective)
        // The default is always measured (outside the budget) so the speedup is known.
        if !replay, cache.record(context, problem, defaultConfiguration) == nil {
            _ = try objective(defaultConfiguration, max(outcome.evaluations.map(\.samples).max() ?? 7, 7))
        }
        // The answer is the fastest configuration measured, the default included: a strategy
        // that never reached a configuration as fast as the default must not report a slower one.
        let defaultRecord = cache.record(context, problem, defaultConfiguration)
        var best = outcome.best.flatMap { cache.record(context, problem, $0) }
        if let d = defaultRecord, !d.isFailure, let dm = d.median, dm < (best?.median ?? .infinity) { best = d }
        let failures = cache.records(for: problem, in: context).filter(\.isFailure).count
        reporter.finish(detail: replay ? "replayed from cache" : "\(newlyMeasured) measured, \(failures) failed")
        return TuningOutcome(problem: problem, strategy: strategy.name, best: best,
                             defaultRecord: defaultRecord,
                             evaluations: outcome.evaluations, newlyMeasured: newlyMeasured, failures: failures,
                             seconds: Date().timeIntervalSince(start))
    }
}
