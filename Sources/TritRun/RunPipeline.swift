import Foundation
import TritCore
import TritMeasure
import TritReport

/// Options of `tritbench run`.
public struct RunOptions: Sendable {
    public var reportsDirectory: String
    public var runID: String?
    public var cache: CachePaths

    public init(reportsDirectory: String = "Reports", runID: String? = nil, cache: CachePaths = CachePaths()) {
        self.reportsDirectory = reportsDirectory
        self.runID = runID
        self.cache = cache
    }
}

/// The main job: runs the stages that exist, in order, and writes `Reports/<run-id>/result.json`.
///
/// Stages so far: env (machine, build, PAPI probes). Later issues add roofline, tune, quantize,
/// evaluate and report.
public struct RunPipeline {
    public var options: RunOptions
    public init(options: RunOptions) { self.options = options }

    /// A run id that sorts by time: `YYYYMMDD-HHMMSS-<short revision>`.
    public static func makeRunID(date: Date = Date(), revision: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return "\(f.string(from: date))-\(revision == "unknown" ? "norev" : String(revision.prefix(8)))"
    }

    /// Runs every stage and returns the written result and its path.
    public func run() throws -> (result: RunResult, path: String) {
        var stages: [StageRecord] = []
        logNotice("[run] stage 1/1: env (CPU, build, PAPI event probes)")
        let t0 = Date()
        let env = EnvironmentReport.collect(probeEvents: true)
        stages.append(StageRecord(name: "env", seconds: Date().timeIntervalSince(t0), reused: false))
        let runID = options.runID ?? Self.makeRunID(revision: env.build.gitRevision)
        let result = RunResult(runID: runID, context: env, stages: stages, notes: [
            "Reference model: SmolLM2-135M-Instruct Q4_1 GGUF dequantized to Float32; experiments measure Q4_1 → ternary.",
        ])
        let path = "\(options.reportsDirectory)/\(runID)/result.json"
        try AtomicFile.writeJSON(result, to: path)
        logNotice("[run] wrote \(path)")
        return (result, path)
    }
}
