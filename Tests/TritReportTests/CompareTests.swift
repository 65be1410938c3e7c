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
        #expect(cmp.markdown().contains("| regressed | k/slow |"))
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

/// Real timings recorded on the 2-core VM with `tritbench kernels bench --shape 1536x576
/// --variants simd --formats 2bit --samples 21 --json` while other builds ran (µs per GEMV).
/// "default" is the declared configuration (rowBlock=4, int16Depth=16), measured twice; "slowed"
/// is the same kernel deliberately slowed by a bad configuration (rowBlock=1, int16Depth=1,
/// prefetchBytes=2048), measured between the two.
enum RecordedKernelSamples {
    static let defaultRun1: [Double] = [36.78, 42.0, 37.6, 52.98, 37.28, 50.92, 55.25, 37.29, 36.99, 52.26, 42.59, 37.08, 54.52, 35.88, 54.35, 37.3, 47.27, 45.61, 46.65, 37.22, 52.62]
    static let slowed: [Double] = [81.22, 88.72, 138.01, 88.04, 80.17, 80.29, 84.46, 79.95, 80.68, 80.74, 82.41, 81.44, 120.52, 40.38, 113.91, 87.18, 80.46, 107.03, 82.94, 101.44, 85.26]
    static let defaultRun2: [Double] = [35.56, 64.24, 22.29, 50.13, 35.56, 51.0, 54.91, 21.49, 50.11, 35.65, 51.67, 50.49, 34.85, 55.55, 47.94, 47.54, 37.11, 51.53, 48.16, 44.71, 53.03]
}

@Suite struct RecordedSampleCompareTests {
    let name = "kernel/simd/2bit/1536x576/tokens1/threads1/seconds"
    func metric(_ us: [Double]) -> Metric { .timing(name, samples: us.map { $0 * 1e-6 }) }

    @Test func aaOnRecordedSamplesIsNotARegression() {
        let cmp = Comparison.compare(baseline: [metric(RecordedKernelSamples.defaultRun1)], current: [metric(RecordedKernelSamples.defaultRun2)])
        #expect(cmp.rows[0].verdict != .regressed && cmp.rows[0].verdict != .improved, "\(cmp.text())")
        #expect(cmp.exitCode != 2)
    }

    @Test func deliberatelySlowedKernelIsRegressed() {
        let cmp = Comparison.compare(baseline: [metric(RecordedKernelSamples.defaultRun1)], current: [metric(RecordedKernelSamples.slowed)])
        #expect(cmp.rows[0].verdict == .regressed, "\(cmp.text())")
        #expect(cmp.exitCode == 2)
        let back = Comparison.compare(baseline: [metric(RecordedKernelSamples.slowed)], current: [metric(RecordedKernelSamples.defaultRun2)])
        #expect(back.rows[0].verdict == .improved)
    }
}
