import Foundation
import TritCore
import TritKernels
import TritMeasure
import TritReport
import TritTune
import TritDispatch

/// Stage 2 of `tritbench run`: tune the kernels for the model's linear-layer shapes, into the
/// per-CPU tuning cache the model runtime dispatches from.
public struct TuningStage {
    public var shapes: [(rows: Int, cols: Int)]
    public var tokens: [Int]
    public var threads: [Int]
    /// (variant, formats) pairs to tune. Decode problems (1 token) are timed cold, as a model
    /// pass reads them: a kernel that wins hot by saving instructions can lose when the weights
    /// stream from DRAM, and hot tuning once picked such a kernel for PTQTP's layers and slowed
    /// its decode. Prefill problems are timed hot (64 tokens reuse each weight 64 times).
    public var targets: [(variant: String, formats: [PackedFormatKind])]
    public var strategy: TuningStrategy
    public var budget: TuningBudget
    public var cachePath: String

    /// SmolLM2-135M's: q/o 576×576, k/v 192×576, gate/up 1536×576, down 576×1536 (what
    /// `LlamaConfiguration.distinctLinearShapes` gives for its file; tests use it without one).
    public static let smolLM2Shapes: [(rows: Int, cols: Int)] = [(576, 576), (192, 576), (1536, 576), (576, 1536)]

    /// `targets` nil: every variant the registry marks as tuned, on all its formats (those that
    /// only run a portable fallback on this CPU are then left out with a note).
    public init(shapes: [(rows: Int, cols: Int)] = smolLM2Shapes, tokens: [Int], threads: [Int],
                targets: [(variant: String, formats: [PackedFormatKind])]? = nil,
                strategy: TuningStrategy = SuccessiveHalvingStrategy(), budget: TuningBudget, cachePath: String) {
        let targets = targets ?? KernelRegistry.variants(for: .current).filter(\.isTuned).map { ($0.id, $0.formats) }
        self.shapes = shapes; self.tokens = tokens; self.threads = threads; self.targets = targets
        self.strategy = strategy; self.budget = budget; self.cachePath = cachePath
    }

    public struct Output: Codable, Sendable {
        public var landscapes: [TuningLandscape]
        public var kernels: [KernelResult]
        public var seconds: Double
        /// Variants left out because only their portable fallback runs on this CPU.
        public var notes: [String]?
    }

    /// Tunes every (shape, tokens, threads, variant, format) problem and summarises the cache.
    public func run(roofline: RooflineResult?) throws -> Output {
        let start = Date()
        let context = TuningContext.current()
        var tuner = Tuner(context: context, cache: TuningCache(path: cachePath))
        let counters = CounterSet.preferred()
        let llc = CPUDescription.current().lastLevelCacheBytes
        var landscapes: [TuningLandscape] = []
        var kernels: [KernelResult] = []
        // A variant that would only run its portable fallback here is not tuned (dispatch then
        // never picks it: it has no record).
        let native = targets.filter { (try? KernelRegistry.variant($0.variant))?.runsNatively(on: .current) ?? false }
        let notes = targets.compactMap { (try? KernelRegistry.variant($0.variant))?.notTunedNote(on: .current) }
        let problems = shapes.flatMap { s in tokens.flatMap { t in threads.flatMap { th in native.flatMap { tg in tg.formats.map { f in
            TuningProblem(variant: tg.variant, format: f, rows: s.rows, cols: s.cols, tokens: t, threads: th, cold: t == 1)
        } } } } }
        var progress = ProgressReporter("[run] tune", total: problems.count)
        let loop = KernelTuningLoop(strategy: strategy, budget: budget, counters: counters, coldBytes: 2 * llc)
        for p in problems {
            let o = try loop.tune(p, with: &tuner, progress: false)
            let records = tuner.cache.records(for: p, in: context)
            landscapes.append(TuningLandscape(problem: p, TuningSearch(
                strategy: o.strategy,
                points: records.map { .init(configuration: $0.configuration.values, medianSeconds: $0.median, failed: $0.isFailure) },
                best: o.best?.configuration.values, bestMedianSeconds: o.best?.median, defaultMedianSeconds: o.defaultRecord?.median,
                evaluations: o.evaluations.count, seconds: o.seconds)))
            if let b = o.best, let m = b.median {
                let bytes = (try? KernelBenchCase(rows: p.rows, cols: p.cols, tokens: 1, variant: p.variant, format: p.format,
                                                  configuration: KernelConfiguration(b.configuration.values)).weightBytes) ?? 0
                let gbps = Double(bytes) / m / 1e9
                kernels.append(KernelResult(problem: p, KernelMeasurement(
                    samples: b.samples, medianSeconds: m, ciLowSeconds: b.ciLow ?? m, ciHighSeconds: b.ciHigh ?? m,
                    gweightsPerSecond: Double(p.rows * p.cols * p.tokens) / m / 1e9, gbytesPerSecond: gbps,
                    rooflineFraction: roofline?.attainedFraction(macs: Double(p.rows * p.cols * p.tokens), bytes: bytes, seconds: m,
                                                                 workingSetBytes: bytes, threads: p.threads)?.fraction,
                    counters: b.counters, simulatedInstructions: nil, weightBytes: bytes)))
            }
            progress.advance(detail: "\(p): best \(o.best.flatMap(\.median).map { String(format: "%.1f µs", $0 * 1e6) } ?? "—")")
        }
        return Output(landscapes: landscapes, kernels: kernels, seconds: Date().timeIntervalSince(start), notes: notes)
    }
}
