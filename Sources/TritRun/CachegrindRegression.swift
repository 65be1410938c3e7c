import Foundation
import TritCore
import TritMeasure
import TritReport

/// The fixed kernel set whose cachegrind instruction counts guard against regressions in CI.
///
/// Timings on a shared VM drift by 2×; instruction counts of the same binary and inputs under
/// cachegrind repeat exactly, so they can be compared with exact rules. Small SmolLM2 shapes
/// keep the valgrind runs short (~2 s each).
public struct CachegrindRegression {
    public struct Case: Sendable, Equatable {
        public var variant: String
        public var format: String
        public var rows: Int
        public var cols: Int
        public var tokens: Int
        public var name: String { "cachegrind/\(variant)/\(format)/\(rows)x\(cols)/tokens\(tokens)" }
    }

    public static let defaultCases: [Case] = [
        Case(variant: "simd", format: "2bit", rows: 576, cols: 1536, tokens: 1),
        Case(variant: "simd", format: "base3", rows: 1536, cols: 576, tokens: 1),
        Case(variant: "simd", format: "2plane-2bit", rows: 576, cols: 576, tokens: 1),
        Case(variant: "bitsliced", format: "bitmask", rows: 576, cols: 576, tokens: 1),
        Case(variant: "lut", format: "lut", rows: 576, cols: 576, tokens: 1),
        Case(variant: "simd", format: "2bit", rows: 576, cols: 576, tokens: 16),
    ]

    /// Relative change of the instruction count treated as unchanged (compiler noise in code
    /// shared with setup); anything above it is a regression or an improvement.
    public static let instructionTolerance = 0.01
    /// Simulated D1 read misses move with allocation addresses; a wider band.
    public static let missTolerance = 0.05

    public var cases: [Case]
    public var calls: Int
    public init(cases: [Case] = defaultCases, calls: Int = 5) { self.cases = cases; self.calls = calls }

    /// Runs every case under cachegrind by re-executing `executable` with `arguments(case, calls)`
    /// and returns a result holding one deterministic metric per (case, event).
    public func run(runID: String, executable: String,
                    arguments: @escaping (Case, Int) -> [String]) throws -> RunResult {
        let runner = try CachegrindRunner()
        var metrics: [Metric] = []
        var progress = ProgressReporter("cachegrind regression set", total: cases.count)
        for c in cases {
            let p = try runner.profile(executable: executable, calls: calls) { arguments(c, $0) }
            if let ir = p.perCall["Ir"] {
                metrics.append(.exact(c.name + "/Ir", unit: "instructions", value: ir.rounded(), tolerance: Self.instructionTolerance))
            }
            if let d1 = p.perCall["D1mr"] {
                metrics.append(.exact(c.name + "/D1mr", unit: "misses", value: d1.rounded(), tolerance: Self.missTolerance))
            }
            progress.advance(detail: "\(c.name): Ir \(p.perCall["Ir"].map { String(format: "%.0f", $0) } ?? "?") per call")
        }
        var result = RunResult(runID: runID, context: EnvironmentReport.collect(probeEvents: false), notes: [
            "cachegrind (valgrind) simulated counts per call = (run with \(calls) calls − run with 0) ÷ \(calls); deterministic for the same binary and inputs.",
        ])
        result.metrics = metrics
        return result
    }
}
