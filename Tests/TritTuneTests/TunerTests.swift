import Foundation
import Testing
import TritCore
import TritKernels
@testable import TritTune
@testable import TritDispatch

/// A synthetic objective with a known optimum: cost = |rb − 4| + |kb − 256|/64 + 1 (µs), with
/// deterministic "noise" so strategies see realistic data. `rb = 3` fails verification.
struct SyntheticKernel {
    var measured: [TuningConfiguration: Int] = [:]
    static func cost(_ c: TuningConfiguration) -> Double {
        Double(abs(c["rb"]! - 4)) + Double(abs(c["kb"]! - 256)) / 64 + 1
    }
    static let space: [TuningConfiguration] = [1, 2, 3, 4, 8].flatMap { rb in
        [64, 128, 256, 512].map { kb in TuningConfiguration(["rb": rb, "kb": kb]) }
    }
}

final class MeasureCounter: @unchecked Sendable {
    var calls: [TuningConfiguration: Int] = [:]
    var total: Int { calls.values.reduce(0, +) }
}

struct InterruptedError: Error {}

func evaluator(_ counter: MeasureCounter, interruptAfter: Int? = nil) -> TuningEvaluator {
    TuningEvaluator(
        verify: { $0["rb"] == 3 ? "rb=3 output differs from the scalar reference at row 0" : nil },
        measure: { c, n in
            if let k = interruptAfter, counter.total >= k { throw InterruptedError() }
            counter.calls[c, default: 0] += 1
            let base = SyntheticKernel.cost(c) * 1e-6
            return MeasuredSamples(samples: (0..<n).map { base * (1 + 0.01 * Double(($0 * 7) % 5)) },
                                   counters: ["perf::TASK-CLOCK": base * 1e9])
        })
}

let context = TuningContext(cpuFingerprint: "test-cpu", buildFingerprint: "test-build")
let problem = TuningProblem(variant: "synthetic", format: .twoBit, rows: 64, cols: 512, tokens: 1, threads: 1)
let defaults = TuningConfiguration(["rb": 1, "kb": 64])

func tempPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("tb-tune-\(UUID())/\(name)").path
}

@Suite struct TunerTests {
    @Test func exhaustiveFindsTheOptimumAndRecordsFailures() throws {
        var tuner = Tuner(context: context, cache: TuningCache())
        let counter = MeasureCounter()
        let out = try tuner.tune(problem: problem, space: SyntheticKernel.space, defaultConfiguration: defaults,
                                 strategy: ExhaustiveStrategy(samples: 3), budget: TuningBudget(),
                                 evaluator: evaluator(counter), progress: false)
        #expect(out.best?.configuration == TuningConfiguration(["rb": 4, "kb": 256]))
        #expect(out.failures == 4)  // rb = 3 with 4 K blocks
        #expect(tuner.cache.records.filter(\.isFailure).allSatisfy { $0.failure?.contains("scalar reference") == true })
        #expect((out.speedupOverDefault ?? 0) > 3)
    }

    @Test func resumeAfterInterruptionMeasuresNothingTwice() throws {
        let path = tempPath("cache.json")
        let counter = MeasureCounter()
        var first = Tuner(context: context, cache: TuningCache(path: path, validator: .structural))
        #expect(throws: InterruptedError.self) {
            try first.tune(problem: problem, space: SyntheticKernel.space, defaultConfiguration: defaults,
                           strategy: ExhaustiveStrategy(samples: 3), budget: TuningBudget(),
                           evaluator: evaluator(counter, interruptAfter: 7), progress: false)
        }
        #expect(counter.total == 7)
        // A new process: reopen the cache from disk and run to completion.
        var second = Tuner(context: context, cache: TuningCache(path: path, validator: .structural))
        #expect(second.cache.records.count >= 7)
        let out = try second.tune(problem: problem, space: SyntheticKernel.space, defaultConfiguration: defaults,
                                  strategy: ExhaustiveStrategy(samples: 3), budget: TuningBudget(),
                                  evaluator: evaluator(counter), progress: false)
        #expect(counter.calls.values.allSatisfy { $0 == 1 }, "a configuration was measured twice: \(counter.calls)")
        #expect(counter.total == SyntheticKernel.space.count - 4)  // every passing configuration once
        #expect(out.best?.configuration == TuningConfiguration(["rb": 4, "kb": 256]))
    }

    @Test func replayIsDeterministicAndMeasuresNothing() throws {
        var tuner = Tuner(context: context, cache: TuningCache())
        _ = try tuner.tune(problem: problem, space: SyntheticKernel.space, defaultConfiguration: defaults,
                           strategy: ExhaustiveStrategy(samples: 9), budget: TuningBudget(),
                           evaluator: evaluator(MeasureCounter()), progress: false)
        let cache = tuner.cache
        var runs: [[StrategyEvaluation]] = []
        for _ in 0..<2 {
            var replay = Tuner(context: context, cache: cache)
            let out = try replay.tune(problem: problem, space: SyntheticKernel.space, defaultConfiguration: defaults,
                                      strategy: SuccessiveHalvingStrategy(initialSamples: 1, eta: 3, seed: 42),
                                      budget: TuningBudget(maxEvaluations: 12), evaluator: nil, progress: false)
            #expect(out.newlyMeasured == 0)
            #expect(out.evaluations.count <= 12)
            runs.append(out.evaluations)
        }
        #expect(runs[0] == runs[1])
        // Random sampling with another seed visits another order.
        var r1 = Tuner(context: context, cache: cache), r2 = Tuner(context: context, cache: cache)
        let a = try r1.tune(problem: problem, space: SyntheticKernel.space, defaultConfiguration: defaults,
                            strategy: RandomStrategy(seed: 1), budget: TuningBudget(maxEvaluations: 5), evaluator: nil, progress: false)
        let b = try r2.tune(problem: problem, space: SyntheticKernel.space, defaultConfiguration: defaults,
                            strategy: RandomStrategy(seed: 2), budget: TuningBudget(maxEvaluations: 5), evaluator: nil, progress: false)
        #expect(a.evaluations.map(\.configuration) != b.evaluations.map(\.configuration))
    }

    @Test func halvingFindsTheOptimumWithinBudget() throws {
        var tuner = Tuner(context: context, cache: TuningCache())
        let out = try tuner.tune(problem: problem, space: SyntheticKernel.space, defaultConfiguration: defaults,
                                 strategy: SuccessiveHalvingStrategy(initialSamples: 2, eta: 2, seed: 3),
                                 budget: TuningBudget(maxEvaluations: 40), evaluator: evaluator(MeasureCounter()), progress: false)
        #expect(out.evaluations.count <= 40)
        #expect(out.best?.configuration == TuningConfiguration(["rb": 4, "kb": 256]))
    }

    @Test func corruptCacheIsMovedAsideWithAClearError() throws {
        let path = tempPath("cache.json")
        try AtomicFile.write("{\"schema\": \"tritbench.tuning-cache\", \"schemaVersion\": 1, \"records\": {\"bad\": 1}}", to: path)
        var reported: TuningCacheError?
        let cache = TuningCache(path: path) { reported = $0 }
        #expect(cache.records.isEmpty)
        guard case let .corrupt(p, reason, moved)? = reported else { Issue.record("no corruption reported"); return }
        #expect(p == path)
        #expect(reason.contains("wrong type at 'records'"))
        #expect(FileManager.default.fileExists(atPath: moved))
        #expect(!FileManager.default.fileExists(atPath: path))
        // Truncated JSON is corrupt too.
        try AtomicFile.write("{\"schema\": \"tritbench.tun", to: path)
        reported = nil
        _ = TuningCache(path: path) { reported = $0 }
        #expect(reported != nil)
    }

    @Test func dispatchReturnsTheCachedBestOrNothing() throws {
        var tuner = Tuner(context: context, cache: TuningCache())
        _ = try tuner.tune(problem: problem, space: SyntheticKernel.space, defaultConfiguration: defaults,
                           strategy: ExhaustiveStrategy(samples: 3), budget: TuningBudget(),
                           evaluator: evaluator(MeasureCounter()), progress: false)
        let dispatch = Dispatch(cache: tuner.cache, context: context)
        let choice = try #require(dispatch.select(formats: [.twoBit], rows: 64, cols: 512, tokens: 1, threads: 1))
        #expect(choice.tuned)
        #expect(choice.variant == "synthetic")
        #expect(choice.configuration == TuningConfiguration(["rb": 4, "kb": 256]))
        #expect(dispatch.select(formats: [.twoBit], rows: 64, cols: 512, tokens: 64, threads: 1) == nil)  // GEMM not tuned
        #expect(dispatch.select(formats: [.base3], rows: 64, cols: 512, tokens: 1, threads: 1) == nil)
        #expect(choice.threads == 1)
        // Allowed two threads, the record tuned at one still serves (it is all there is).
        #expect(dispatch.select(formats: nil, rows: 64, cols: 512, tokens: 1, threads: 2)?.threads == 1)
        let other = Dispatch(cache: tuner.cache, context: TuningContext(cpuFingerprint: "other", buildFingerprint: "test-build"))
        #expect(other.select(formats: nil, rows: 64, cols: 512, tokens: 1, threads: 1) == nil)
    }

    /// Records tuned by one build do not serve a build whose Kernels/ content differs, even by an
    /// uncommitted edit (the content hash is the only difference here); the same build finds them.
    @Test func recordsOfOtherKernelContentDoNotCount() throws {
        let built = BuildInfo.current()
        var edited = built
        edited.kernelsContentHash = String(built.kernelsContentHash.reversed())
        let cpu = CPUDescription.current()
        let contextBefore = TuningContext.current(cpu: cpu, build: built)
        let contextAfter = TuningContext.current(cpu: cpu, build: edited)
        #expect(contextBefore.buildFingerprint.contains(built.kernelsContentHash))
        var tuner = Tuner(context: contextBefore, cache: TuningCache())
        _ = try tuner.tune(problem: problem, space: SyntheticKernel.space, defaultConfiguration: defaults,
                           strategy: ExhaustiveStrategy(samples: 3), budget: TuningBudget(),
                           evaluator: evaluator(MeasureCounter()), progress: false)
        #expect(Dispatch(cache: tuner.cache, context: contextBefore).select(formats: nil, rows: 64, cols: 512, tokens: 1, threads: 1)?.tuned == true)
        #expect(Dispatch(cache: tuner.cache, context: contextAfter).select(formats: nil, rows: 64, cols: 512, tokens: 1, threads: 1) == nil)
        // The same holds for the kernel flags and the compiler.
        var otherFlags = built; otherFlags.kernelFlags.append("TritKernelsExtra=-mfoo")
        var otherCompiler = built; otherCompiler.compilerVersion += " (other)"
        for b in [otherFlags, otherCompiler] {
            #expect(Dispatch(cache: tuner.cache, context: .current(cpu: cpu, build: b)).select(formats: nil, rows: 64, cols: 512, tokens: 1, threads: 1) == nil)
        }
    }

    /// Allowed T threads, dispatch takes the fastest record tuned at ≤ T threads: a faster
    /// 2-thread record wins at 2, a slower one loses to the 1-thread record, and a 2-thread
    /// record is never used when only one thread is allowed.
    @Test func dispatchPicksTheFastestThreadCountAllowed() throws {
        func tuned(twoThreadFactor: Double) throws -> Dispatch {
            var tuner = Tuner(context: context, cache: TuningCache())
            for (threads, factor) in [(1, 1.0), (2, twoThreadFactor)] {
                var p = problem; p.threads = threads
                let e = TuningEvaluator(verify: { _ in nil }, measure: { c, n in
                    MeasuredSamples(samples: Array(repeating: SyntheticKernel.cost(c) * 1e-6 * factor, count: n), counters: [:])
                })
                _ = try tuner.tune(problem: p, space: SyntheticKernel.space, defaultConfiguration: defaults,
                                   strategy: ExhaustiveStrategy(samples: 3), budget: TuningBudget(), evaluator: e, progress: false)
            }
            return Dispatch(cache: tuner.cache, context: context)
        }
        let faster = try tuned(twoThreadFactor: 0.6)
        #expect(faster.select(formats: nil, rows: 64, cols: 512, tokens: 1, threads: 2)?.threads == 2)
        #expect(faster.select(formats: nil, rows: 64, cols: 512, tokens: 1, threads: 1)?.threads == 1)
        let slower = try tuned(twoThreadFactor: 1.4)
        #expect(slower.select(formats: nil, rows: 64, cols: 512, tokens: 1, threads: 2)?.threads == 1)
    }

    /// A cold problem is a problem of its own: the tuner measures it even where the hot one is
    /// in the cache, and cache files written before `cold` existed read as hot.
    @Test func coldAndHotProblemsKeepSeparateRecords() throws {
        var tuner = Tuner(context: context, cache: TuningCache())
        let counter = MeasureCounter()
        _ = try tuner.tune(problem: problem, space: SyntheticKernel.space, defaultConfiguration: defaults,
                           strategy: ExhaustiveStrategy(samples: 3), budget: TuningBudget(), evaluator: evaluator(counter), progress: false)
        let hotMeasurements = counter.total
        var cold = problem; cold.cold = true
        _ = try tuner.tune(problem: cold, space: SyntheticKernel.space, defaultConfiguration: defaults,
                           strategy: ExhaustiveStrategy(samples: 3), budget: TuningBudget(), evaluator: evaluator(counter), progress: false)
        #expect(counter.total == 2 * hotMeasurements)
        #expect(tuner.cache.records.filter { $0.problem.cold }.count == tuner.cache.records.count / 2)
        #expect(cold.description.hasSuffix(" cold") && !problem.description.contains("cold"))

        let old = #"{"variant":"simd","format":"2bit","rows":576,"cols":576,"tokens":1,"threads":2}"#
        let decoded = try JSONDecoder().decode(TuningProblem.self, from: Data(old.utf8))
        #expect(decoded == TuningProblem(variant: "simd", format: .twoBit, rows: 576, cols: 576, tokens: 1, threads: 2))
        let roundTrip = try JSONDecoder().decode(TuningProblem.self, from: JSONEncoder().encode(cold))
        #expect(roundTrip == cold)
    }

    /// Decode dispatch ranks cold records (a model pass streams each layer's weights), prefill
    /// ranks warm ones, each falling back to the other regime only where its own has none.
    @Test func dispatchRanksDecodeByColdAndPrefillByWarmTimings() throws {
        func record(_ variant: String, tokens: Int, cold: Bool, micros: Double) -> TuningRecord {
            TuningRecord(context: context, problem: TuningProblem(variant: variant, format: .twoBit, rows: 64, cols: 512,
                                                                  tokens: tokens, threads: 1, cold: cold),
                         configuration: TuningConfiguration(["rb": 1]), status: "ok", failure: nil, samples: [micros * 1e-6],
                         median: micros * 1e-6, ciLow: nil, ciHigh: nil, counters: [:], date: Date())
        }
        var cache = TuningCache()
        // Warm, "lookup" wins decode; cold, "stream" does.
        for r in [record("lookup", tokens: 1, cold: false, micros: 5), record("stream", tokens: 1, cold: false, micros: 8),
                  record("lookup", tokens: 1, cold: true, micros: 12), record("stream", tokens: 1, cold: true, micros: 10),
                  record("lookup", tokens: 64, cold: false, micros: 90), record("stream", tokens: 64, cold: false, micros: 100),
                  record("stream", tokens: 64, cold: true, micros: 50)] {
            cache.insert(r)
        }
        let d = Dispatch(cache: cache, context: context)
        let decode = try #require(d.select(formats: nil, rows: 64, cols: 512, tokens: 1, threads: 1))
        #expect(decode.variant == "stream" && decode.cold == true)
        let prefill = try #require(d.select(formats: nil, rows: 64, cols: 512, tokens: 64, threads: 1))
        #expect(prefill.variant == "lookup" && prefill.cold == false)
        // Only warm decode records: they serve.
        var warmOnly = TuningCache()
        for r in [record("lookup", tokens: 1, cold: false, micros: 5), record("stream", tokens: 1, cold: false, micros: 8)] {
            warmOnly.insert(r)
        }
        #expect(Dispatch(cache: warmOnly, context: context).select(formats: nil, rows: 64, cols: 512, tokens: 1, threads: 1)?.variant == "lookup")
        // GEMM records never serve decode, nor GEMV records prefill.
        var gemmOnly = TuningCache()
        gemmOnly.insert(record("stream", tokens: 64, cold: false, micros: 50))
        #expect(Dispatch(cache: gemmOnly, context: context).select(formats: nil, rows: 64, cols: 512, tokens: 1, threads: 1) == nil)
    }

    /// Where the strategy's search never reaches a configuration as fast as the default, the
    /// answer is the default (measured outside the budget), not a slower one.
    @Test func theAnswerIsNeverSlowerThanTheDefault() throws {
        var tuner = Tuner(context: context, cache: TuningCache())
        let optimum = TuningConfiguration(["rb": 4, "kb": 256])
        let slowOnly = SyntheticKernel.space.filter { $0["rb"] == 8 }
        let out = try tuner.tune(problem: problem, space: slowOnly, defaultConfiguration: optimum,
                                 strategy: ExhaustiveStrategy(samples: 3), budget: TuningBudget(),
                                 evaluator: evaluator(MeasureCounter()), progress: false)
        #expect(out.best?.configuration == optimum)
        #expect(out.speedupOverDefault == 1)
    }
}
