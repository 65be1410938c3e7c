import Foundation
import TritCore
import TritKernels
import TritMeasure
import TritReport

/// The fixed kernel set whose cachegrind instruction counts guard against regressions in CI.
///
/// Timings on a shared VM drift by 2×; instruction counts of the same binary and inputs under
/// cachegrind repeat exactly, so they can be compared with exact rules. Small SmolLM2 shapes
/// keep the valgrind runs short (~2 s each).
public struct CachegrindRegression {
    public struct Case: Sendable, Equatable {
        /// One thread, hot: cachegrind simulates the instructions, not the time.
        public var problem: KernelProblem
        /// Kernel parameters "name=value,..." (empty: the variant's defaults).
        public var configuration = ""
        public var name: String { "cachegrind/\(problem.variant)/\(problem.format.rawValue)/\(problem.shape)/tokens\(problem.tokens)" }

        public init(variant: String, format: PackedFormatKind, rows: Int, cols: Int, tokens: Int, configuration: String = "") {
            problem = KernelProblem(variant: variant, format: format, rows: rows, cols: cols, tokens: tokens, threads: 1)
            self.configuration = configuration
        }

        /// The `tritbench` arguments that set the case up and call it `calls` times (the hidden
        /// child mode of `profile`, which cachegrind runs).
        public func arguments(calls: Int) -> [String] {
            ["profile", "--kernel", problem.variant, "--format", problem.format.rawValue, "--shape", problem.shape,
             "--tokens", "\(problem.tokens)"]
                + (configuration.isEmpty ? [] : ["--config", configuration]) + ["--cachegrind-child-calls", "\(calls)"]
        }
    }

    public static let defaultCases: [Case] = [
        Case(variant: "simd", format: .twoBit, rows: 576, cols: 1536, tokens: 1),
        Case(variant: "simd", format: .base3, rows: 1536, cols: 576, tokens: 1),
        Case(variant: "simd", format: .twoPlane2Bit, rows: 576, cols: 576, tokens: 1),
        Case(variant: "bitsliced", format: .bitmask, rows: 576, cols: 576, tokens: 1),
        Case(variant: "lut", format: .lut, rows: 576, cols: 576, tokens: 1),
        Case(variant: "simd", format: .twoBit, rows: 576, cols: 576, tokens: 16),
    ]

    /// Relative change of the instruction count treated as unchanged (compiler noise in code
    /// shared with setup); anything above it is a regression or an improvement.
    public static let instructionTolerance = 0.01
    /// Simulated D1 read misses move with allocation addresses; a wider band.
    public static let missTolerance = 0.05

    public var cases: [Case]
    public var calls: Int
    public init(cases: [Case] = defaultCases, calls: Int = 5) { self.cases = cases; self.calls = calls }

    /// Runs every case under cachegrind by re-executing `executable` (a `tritbench` binary) and
    /// returns a result holding one deterministic metric per (case, event).
    public func run(runID: String, executable: String) throws -> RunResult {
        let runner = try CachegrindRunner()
        var metrics: [Metric] = []
        var progress = ProgressReporter("cachegrind regression set", total: cases.count)
        for c in cases {
            let p = try runner.profile(executable: executable, calls: calls) { c.arguments(calls: $0) }
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

extension CachegrindRegression {
    /// The fastest tuned kernel of each (shape, tokens) on 1 thread, at its tuned configuration:
    /// the run's kernel table shows their simulated instructions per call beside the counters.
    /// `maxTokens` leaves out the larger calls (a 64-token GEMM takes tens of seconds under valgrind).
    public static func fastestTuned(_ kernels: [KernelResult], tuning: [TuningLandscape], maxTokens: Int = .max) -> [Case] {
        var best: [String: KernelResult] = [:]
        for k in kernels where k.threads == 1 && k.tokens <= maxTokens {
            let key = "\(k.shape)|\(k.tokens)"
            if k.medianSeconds < best[key]?.medianSeconds ?? .infinity { best[key] = k }
        }
        return best.values.sorted { ($0.rows, $0.cols, $0.tokens) < ($1.rows, $1.cols, $1.tokens) }.map { k in
            // Landscapes of older results carry no timing regime (read as hot): match on the rest.
            let landscape = tuning.first { var p = $0.problem; p.cold = k.cold; return p == k.problem }
            let configuration = (landscape?.best ?? [:]).filter { $0.key != "threads" }.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            return Case(variant: k.variant, format: k.format, rows: k.rows, cols: k.cols, tokens: k.tokens,
                        configuration: configuration)
        }
    }

    /// Simulated instructions per call by `Case.name`, and the cases valgrind could not run,
    /// with why.
    public struct SimulatedInstructions: Codable, Sendable, Equatable {
        public var perCall: [String: Double]
        public var notSimulated: [String: String]
    }

    /// Simulated instructions per call of each case. A case whose program fails under valgrind
    /// is left out with its reason and the others still run: valgrind 3.19 presents a CPU
    /// without AVX-512, where a configuration tuned on an AVX-512 host (gemvWidth=512,
    /// tileDecode=2, lut243's VBMI loop) is refused. A missing valgrind still fails the stage.
    public func instructionsPerCall(executable: String, hostFeatures: CPUFeatures = .current) throws -> SimulatedInstructions {
        let runner = try CachegrindRunner()
        var out = SimulatedInstructions(perCall: [:], notSimulated: [:])
        var progress = ProgressReporter("[run] cachegrind", total: cases.count)
        for c in cases {
            do {
                let p = try runner.profile(executable: executable, calls: calls) { c.arguments(calls: $0) }
                out.perCall[c.name] = p.perCall["Ir"]
                progress.advance(detail: "\(c.name) {\(c.configuration)}: Ir \(p.perCall["Ir"].map { String(format: "%.0f", $0) } ?? "?") per call")
            } catch let CachegrindError.valgrindFailed(_, status, tail) {
                let message = tail.split(separator: "\n").first { !$0.hasPrefix("==") }.map(String.init) ?? "exit status \(status)"
                let why = hostFeatures.avx512f
                    ? " (valgrind runs the program on a CPU model without AVX-512, which this host's tuned configuration needs)" : ""
                out.notSimulated[c.name] = "\(c.name) {\(c.configuration)}: \(message)\(why)"
                progress.advance(detail: "\(c.name): not simulated")
            }
        }
        return out
    }
}
