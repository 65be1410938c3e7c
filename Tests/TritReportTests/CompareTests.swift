import Foundation
import Testing
import TritCore
import TritMeasure
import TritReport

/// Samples with a lognormal-ish spread of a few percent and occasional slow outliers, like
/// kernel timings on a shared VM.
func noisySamples(median: Double, count: Int, seed: UInt64) -> [Double] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { i in
        let jitter = 1 + 0.03 * Double(g.nextGaussian())
        return median * jitter * (i % 9 == 4 ? 1.4 : 1)
    }
}

@Suite struct CompareTests {
    @Test func aaComparisonReportsNoRegression() {
        let names = (0..<12).map { "kernel/k\($0)/seconds" }
        let a = names.enumerated().map { Metric.timing($1, samples: noisySamples(median: 1e-4 * Double($0 + 1), count: 21, seed: UInt64($0))) }
        let b = names.enumerated().map { Metric.timing($1, samples: noisySamples(median: 1e-4 * Double($0 + 1), count: 21, seed: UInt64($0 + 100))) }
        let cmp = Comparison.compare(baseline: a, current: b)
        #expect(cmp.rows.count == 12)
        #expect(!cmp.rows.contains { $0.verdict == .regressed || $0.verdict == .improved })
        #expect(cmp.exitCode == 0, "\(cmp.text())")
    }

    @Test func slowedKernelIsRegressedAndFasterIsImproved() {
        let base = [Metric.timing("k/slow", samples: noisySamples(median: 1e-4, count: 15, seed: 1)),
                    Metric.timing("k/fast", samples: noisySamples(median: 1e-4, count: 15, seed: 2)),
                    Metric.timing("k/same", samples: noisySamples(median: 1e-4, count: 15, seed: 3))]
        let cur = [Metric.timing("k/slow", samples: noisySamples(median: 1.5e-4, count: 15, seed: 4)),
                   Metric.timing("k/fast", samples: noisySamples(median: 0.6e-4, count: 15, seed: 5)),
                   Metric.timing("k/same", samples: noisySamples(median: 1e-4, count: 15, seed: 6))]
        let cmp = Comparison.compare(baseline: base, current: cur)
        let v = Dictionary(uniqueKeysWithValues: cmp.rows.map { ($0.name, $0.verdict) })
        #expect(v["k/slow"] == .regressed)
        #expect(v["k/fast"] == .improved)
        #expect(v["k/same"] == .unchanged)
        #expect(cmp.exitCode == 2)
        #expect(cmp.markdown().contains("| regressed | `k/slow`"))
    }

    @Test func smallDifferenceWithinNoiseIsNotARegression() {
        // 5% slower: real but under the 15% noise threshold.
        let cmp = Comparison.compare(baseline: [.timing("k", samples: noisySamples(median: 1e-4, count: 30, seed: 1))],
                                     current: [.timing("k", samples: noisySamples(median: 1.05e-4, count: 30, seed: 2))])
        #expect(cmp.rows[0].verdict != .regressed)
    }

    @Test func tooFewSamplesAreInconclusive() {
        let cmp = Comparison.compare(baseline: [.timing("k", samples: [1, 1.1, 0.9])], current: [.timing("k", samples: [2, 2.1, 1.9])])
        #expect(cmp.rows[0].verdict == .inconclusive)
        #expect(cmp.exitCode == 3)
    }

    @Test func deterministicMetricsUseExactRules() {
        let base: [Metric] = [.exact("cg/ir", unit: "instructions", value: 1_000_000),
                              .exact("model/bytes", unit: "B", value: 5000),
                              .exact("acc/piqa", unit: "fraction", value: 0.61, direction: .higherIsBetter)]
        let cur: [Metric] = [.exact("cg/ir", unit: "instructions", value: 1_000_001),
                             .exact("model/bytes", unit: "B", value: 5000),
                             .exact("acc/piqa", unit: "fraction", value: 0.62, direction: .higherIsBetter)]
        let v = Dictionary(uniqueKeysWithValues: Comparison.compare(baseline: base, current: cur).rows.map { ($0.name, $0.verdict) })
        #expect(v["cg/ir"] == .regressed)
        #expect(v["model/bytes"] == .unchanged)
        #expect(v["acc/piqa"] == .improved)
    }

    @Test func baselineIsNeverOverwrittenWithoutForce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-base-\(UUID())").path
        var r = RunResult(runID: "a", context: EnvironmentReport.collect(probeEvents: false))
        r.metrics = [.exact("x", unit: "B", value: 1)]
        try AtomicFile.writeJSON(r, to: dir + "/a/result.json")
        r.runID = "b"
        try AtomicFile.writeJSON(r, to: dir + "/b/result.json")
        _ = try Baseline.update(from: dir + "/a/result.json", directory: dir + "/baseline", force: false)
        #expect(throws: FileError.self) { try Baseline.update(from: dir + "/b/result.json", directory: dir + "/baseline", force: false) }
        #expect(try RunResult.load(path: dir + "/baseline/result.json").runID == "a")
        _ = try Baseline.update(from: dir + "/b/result.json", directory: dir + "/baseline", force: true)
        #expect(try RunResult.load(path: dir + "/baseline/result.json").runID == "b")
    }
}
