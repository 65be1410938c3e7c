import Foundation
import TritCore
import TritDispatch
import TritKernels
import TritMeasure

/// Connects the generic tuner to the real kernels and the measurement layer: the search space
/// comes from a variant's declared `ParameterSpace`, candidates are verified against the scalar
/// reference, and timed with `RobustTiming` on packed random weights of the problem's shape.
public enum KernelTuning {
    /// All valid configurations of `variant` with its thread parameter pinned to `threads`, and
    /// the parameters that a call of `tokens` tokens does not read pinned to their defaults.
    public static func searchSpace(variant: String, threads: Int, tokens: Int) throws -> [TuningConfiguration] {
        let v = try KernelRegistry.variant(variant)
        var seen = Set<TuningConfiguration>()
        for c in v.space.configurations(tokens: tokens) {
            var values = c.values
            if values[KernelParameterName.threads] != nil { values[KernelParameterName.threads] = threads }
            seen.insert(TuningConfiguration(values))
        }
        return seen.sorted()
    }

    public static func defaultConfiguration(variant: String, threads: Int) throws -> TuningConfiguration {
        var values = try KernelRegistry.variant(variant).space.defaultConfiguration.values
        if values[KernelParameterName.threads] != nil { values[KernelParameterName.threads] = threads }
        return TuningConfiguration(values)
    }

    /// Verification runs at the problem's K (so K tails are exercised) on at most 256 rows and
    /// 5 tokens, which keeps the scalar reference cheap for 49152-row and 64-token problems.
    /// A cold problem (`p.cold`) is timed rotating over copies of the weights that fill
    /// `coldBytes`.
    public static func evaluator(for p: TuningProblem, coldBytes: Int, timing: TimingOptions,
                                 counters: CounterSet?) throws -> TuningEvaluator {
        let format = p.format
        return TuningEvaluator(
            verify: { c in
                KernelVerification.check(variant: p.variant, format: format, configuration: KernelConfiguration(c.values),
                                         rows: min(p.rows, 256), cols: p.cols, tokens: min(p.tokens, 5), threads: p.threads)
            },
            measure: { c, n in
                let bench = try KernelBenchCase(rows: p.rows, cols: p.cols, tokens: p.tokens, variant: p.variant, format: format,
                                                configuration: KernelConfiguration(c.values), threads: p.threads,
                                                coldBytes: p.cold ? coldBytes : nil)
                var o = timing
                o.samples = max(n, 1)
                let t = RobustTiming.measure(o) { bench.runOnce() }
                var perCall: [String: Double] = [:]
                if let counters {
                    let s = counters.count(calls: 20) { bench.runOnce() }
                    for v in s.values { if let pc = v.perCall { perCall[v.event] = pc } }
                }
                return MeasuredSamples(samples: t.samples, counters: perCall)
            })
    }
}

/// The one tuning loop `tritbench tune` and the run's tuning stage share: for each problem, an
/// evaluator that checks every configuration against the scalar reference and times it (hot,
/// or cold over copies of `coldBytes`, with `counters`), then the tuner over the variant's
/// search space from its default, with `strategy` and `budget`. Records reach the tuner's cache
/// as they are measured, so an interrupted loop resumes where it stopped.
public struct KernelTuningLoop {
    public var strategy: TuningStrategy
    public var budget: TuningBudget
    public var counters: CounterSet?
    /// Bytes of weight copies a cold problem rotates over (twice the last-level cache).
    public var coldBytes: Int
    public var timing = TimingOptions(warmup: 2, minSampleSeconds: 0.002, samples: 5, maxSeconds: 2)
    /// Replays the strategy against the cache without measuring anything.
    public var replay = false

    public init(strategy: TuningStrategy, budget: TuningBudget, counters: CounterSet?, coldBytes: Int) {
        self.strategy = strategy; self.budget = budget; self.counters = counters; self.coldBytes = coldBytes
    }

    /// Tunes `problem` with `tuner` (whose cache gains the records).
    public func tune(_ problem: TuningProblem, with tuner: inout Tuner, progress: Bool) throws -> TuningOutcome {
        let evaluator = replay ? nil : try KernelTuning.evaluator(for: problem, coldBytes: coldBytes, timing: timing, counters: counters)
        return try tuner.tune(problem: problem,
                              space: try KernelTuning.searchSpace(variant: problem.variant, threads: problem.threads, tokens: problem.tokens),
                              defaultConfiguration: try KernelTuning.defaultConfiguration(variant: problem.variant, threads: problem.threads),
                              strategy: strategy, budget: budget, evaluator: evaluator, progress: progress)
    }
}
