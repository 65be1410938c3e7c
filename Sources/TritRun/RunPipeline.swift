import Foundation
import TritCore
import TritMeasure
import TritReport

/// Options of `tritbench run`.
public struct RunOptions: Sendable {
    public var reportsDirectory: String
    public var runID: String?
    public var cache: CachePaths
    /// The complete profile (full roofline, full task sets); the default profile is bounded to
    /// finish on a 2-core machine and states its limits in the report.
    public var full: Bool
    /// Skip the roofline probe (tests).
    public var skipRoofline: Bool

    public init(reportsDirectory: String = "Reports", runID: String? = nil, cache: CachePaths = CachePaths(),
                full: Bool = false, skipRoofline: Bool = false) {
        self.reportsDirectory = reportsDirectory
        self.runID = runID
        self.cache = cache
        self.full = full
        self.skipRoofline = skipRoofline
    }
}

/// The main job: runs the stages that exist, in order, and writes `Reports/<run-id>/`
/// (result.json, summary.md, report.html).
///
/// Stages so far: env (machine, build, PAPI probes) and roofline (streaming bandwidth per cache
/// level and thread count, int8 peak). The tune, quantize, evaluate and speed stages are added as
/// their modules land (see README).
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

    /// Runs every stage and returns the result and the path of result.json.
    public func run() throws -> (result: RunResult, path: String) {
        var stages: [StageRecord] = []
        let total = options.skipRoofline ? 2 : 3
        var step = 0
        func stage<T>(_ name: String, _ what: String, _ body: () throws -> T) rethrows -> T {
            step += 1
            logNotice("[run] stage \(step)/\(total): \(name) — \(what)")
            let t0 = Date()
            let v = try body()
            stages.append(StageRecord(name: name, seconds: Date().timeIntervalSince(t0), reused: false))
            return v
        }
        let env = stage("env", "CPU, build, PAPI event probes") { EnvironmentReport.collect(probeEvents: true) }
        let runID = options.runID ?? Self.makeRunID(revision: env.build.gitRevision)
        var result = RunResult(runID: runID, context: env, notes: [
            "Reference model: SmolLM2-135M-Instruct Q4_1 GGUF dequantized to Float32; experiments measure Q4_1 → ternary.",
        ])
        var limits: [String] = []
        if !options.skipRoofline {
            result.roofline = stage("roofline", options.full ? "full probe" : "quick probe") {
                RooflineProbe.measure(RooflineOptions(quick: !options.full), progress: true)
            }
            if !options.full { limits.append("quick roofline probe (7 samples per point, 256 MiB DRAM working set)") }
        }
        result.limits = limits
        result.metrics = metrics(from: result)
        let dir = "\(options.reportsDirectory)/\(runID)"
        _ = stage("report", "result.json, summary.md, report.html") { () }
        result.stages = stages
        let paths = try ReportWriter(result: result).write(to: dir)
        logNotice("[run] wrote \(paths.joined(separator: ", "))")
        return (result, paths[0])
    }

    /// Metrics a later run is compared against: roofline bandwidths (timings with samples).
    func metrics(from r: RunResult) -> [Metric] {
        var m: [Metric] = []
        for p in r.roofline?.bandwidth ?? [] {
            m.append(.timing("roofline/\(p.level)/threads\(p.threads)/seconds-per-pass", samples: p.timing.samples))
        }
        return m
    }
}
