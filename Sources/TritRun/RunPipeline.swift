import Foundation
import TritCore
import TritModel
import TritMeasure
import TritReport
import TritTune
import TritDispatch

/// Options of `tritbench run`.
public struct RunOptions: Sendable {
    public var reportsDirectory: String
    public var runID: String?
    public var cache: CachePaths
    /// The complete profile (full roofline, 2 threads, full task sets); the default profile is
    /// bounded to finish on a 2-core machine and states its limits in the report.
    public var full: Bool
    /// Run every stage afresh instead of reusing completed stages from the stage cache.
    public var fresh: Bool
    /// Stages to skip (tests): "roofline", "tune", "cachegrind", "models".
    public var skip: Set<String>
    /// The `tritbench` binary the cachegrind stage runs kernels in (nil: the stage is skipped).
    public var executable: String?
    /// Method rows to run, by id (nil: all); the reference always runs, as every figure is relative to it.
    public var methods: [String]?
    /// Training tokens of the QAT rows (nil: the profile's budget).
    public var trainingTokens: Int?
    /// The GGUF to measure (nil: SmolLM2-135M, `cache.defaultModel`). Any architecture in
    /// `ArchitectureRegistry`; a model that ships ternary is evaluated as it is.
    public var model: String?

    /// The model file the run measures.
    public var modelPath: String { model ?? cache.defaultModel }

    public init(reportsDirectory: String = "Reports", runID: String? = nil, cache: CachePaths = CachePaths(),
                full: Bool = false, fresh: Bool = false, skip: Set<String> = [], executable: String? = nil) {
        self.executable = executable
        self.reportsDirectory = reportsDirectory
        self.runID = runID
        self.cache = cache
        self.full = full
        self.fresh = fresh
        self.skip = skip
    }
}

/// The main job: runs the stages in order and writes `Reports/<run-id>/` (result.json,
/// summary.md, report.html).
///
/// Stages: env → roofline → tune (kernels for the model's shapes, into the per-CPU tuning
/// cache) → methods (quantize, evaluate, speed; see ModelStage) → report. Completed stages are
/// reused from the StageCache by content hash, so a rerun after an interruption continues.
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
        let o = options
        // Checked before any stage runs.
        try o.cache.requireFile(o.modelPath)
        let model = try ModelDescription(gguf: GGUFFile(path: o.modelPath))
        let methods = try Self.methods(full: o.full, selected: o.methods, trainingTokens: o.trainingTokens, model: model)
        let stageCache = StageCache(cache: o.cache, reuse: !o.fresh)
        var stages: [StageRecord] = []
        let runsCachegrind = o.executable != nil && !o.skip.contains("tune") && !o.skip.contains("cachegrind")
        let names = ["env", "roofline", "tune", "cachegrind", "models", "report"].filter {
            !o.skip.contains($0) && ($0 != "cachegrind" || runsCachegrind)
        }
        func stage<T>(_ name: String, _ what: String, _ body: () throws -> (T, Bool)) rethrows -> T {
            let i = (names.firstIndex(of: name) ?? 0) + 1
            logNotice("[run] stage \(i)/\(names.count): \(name) — \(what)")
            let t0 = Date()
            let (v, reused) = try body()
            stages.append(StageRecord(name: name, seconds: Date().timeIntervalSince(t0), reused: reused))
            if reused { logNotice("[run] \(name): reused from the stage cache") }
            return v
        }
        let env = stage("env", "CPU, build, PAPI event probes") { (EnvironmentReport.collect(probeEvents: true), false) }
        // Every run id becomes a directory name: checked here, where all of them pass.
        let runID = try PathComponentName(o.runID ?? Self.makeRunID(revision: env.build.gitRevision), field: "run id").value
        var result = RunResult(runID: runID, context: env, notes: [
            "Model: \(model.summary).",
            model.shipsTernary
                ? "The model ships ternary: it is evaluated as shipped, its \(model.storage) blocks repacked into TritBench's formats at load, on the packed kernels; no method quantizes it."
                : "Reference: the GGUF's \(model.storage) weights dequantized to Float32; experiments measure \(model.storage) → ternary.",
        ] + Self.skippedMethodNotes(model: model, selected: o.methods))
        // Measurements are keyed by revision, CPU and options: the same build on the same CPU
        // reuses them after an interruption; any code change measures again.
        let buildKey = Self.sourceKey(dirty: env.build.gitDirty) + [env.cpu.fingerprint, env.build.configuration, o.full ? "full" : "default"]
        var limits: [String] = []
        let skipped = ["roofline", "tune", "cachegrind", "models"].filter { o.skip.contains($0) }
        if !skipped.isEmpty { limits.append("stages left out of this run (--skip): \(skipped.joined(separator: ", "))") }
        if !o.skip.contains("roofline") {
            result.roofline = try stage("roofline", o.full ? "full probe" : "quick probe") {
                try stageCache.run(stage: "roofline", key: StageCache.key(buildKey)) {
                    RooflineProbe.measure(RooflineOptions(quick: !o.full), progress: true)
                }
            }
            if !o.full { limits.append("quick roofline probe (7 samples per point, 256 MiB DRAM working set)") }
        }
        if !o.skip.contains("tune") {
            let threads = o.full ? [1, 2] : [1]
            // The model's own linear shapes, from its file's configuration (no weights loaded).
            let shapes = try LlamaConfiguration(gguf: GGUFFile(path: o.modelPath)).distinctLinearShapes
            let tuning = TuningStage(shapes: shapes, tokens: [1, 64], threads: threads, budget: TuningBudget(maxEvaluations: o.full ? 40 : 14),
                                     cachePath: TuningCache.defaultPath(cache: o.cache, cpuFingerprint: env.cpu.fingerprint))
            let out = try stage("tune", "kernels for the model's shapes (tokens 1 and 64, threads \(threads.map(String.init).joined(separator: ",")))") {
                try stageCache.run(stage: "tune", key: StageCache.key(buildKey + ["tune-v1"] + shapes.map { "\($0.rows)x\($0.cols)" })) { try tuning.run(roofline: result.roofline) }
            }
            result.tuning = out.landscapes
            result.kernels = out.kernels
            result.notes += out.notes ?? []
            if !o.full { limits.append("tuning: successive halving, 14 evaluations per (variant, format, shape, tokens), 1 thread") }
        }
        if runsCachegrind, let exe = o.executable, let kernels = result.kernels {
            // Decode kernels only by default (--full: the GEMMs too).
            let set = CachegrindRegression(cases: CachegrindRegression.fastestTuned(kernels, tuning: result.tuning ?? [],
                                                                                     maxTokens: o.full ? .max : 1), calls: 3)
            let key = StageCache.key(buildKey + ["cachegrind-v2"] + set.cases.map { "\($0.name){\($0.configuration)}" })
            do {
                let ir = try stage("cachegrind", "simulated instructions of the fastest tuned kernel per shape and token count") {
                    try stageCache.run(stage: "cachegrind", key: key) { try set.instructionsPerCall(executable: exe) }
                }
                result.kernels = kernels.map { k in
                    var k = k
                    if k.threads == 1, let c = set.cases.first(where: { $0.problem.variant == k.variant && $0.problem.format == k.format
                                                                       && $0.problem.rows == k.rows && $0.problem.cols == k.cols
                                                                       && $0.problem.tokens == k.tokens }) {
                        k.simulatedInstructions = ir.perCall[c.name]
                    }
                    return k
                }
                for (_, why) in ir.notSimulated.sorted(by: { $0.key < $1.key }) {
                    result.notes.append("cachegrind: not simulated: \(why)")
                    logNotice("[run] cachegrind: not simulated: \(why)")
                }
            } catch {
                result.notes.append("cachegrind stage skipped: \(error)")
                logNotice("[run] cachegrind: skipped: \(error)")
            }
        }
        if !o.skip.contains("models") {
            let plan = Self.evaluationPlan(full: o.full)

            // --full: the papers' 128 × 2048 calibration tokens.
            let calibrationSequences = o.full ? 128 : 8, calibrationLength = o.full ? 2048 : 256
            let stageModels = ModelStage(gguf: o.modelPath, methods: methods, plan: plan,
                                         calibrationSequences: calibrationSequences, calibrationLength: calibrationLength,
                                         stageCache: stageCache, buildKey: buildKey)
            let out = try stage("models", "quantize, evaluate and time \(methods.count) methods") { () -> ((methods: [MethodResult], vocabularySize: Int?), Bool) in
                let r = try stageModels.run()
                return ((r.methods, r.vocabularySize), r.reused)
            }
            // Intervals, chance-adjusted retention, paired tests and the collapse rule.
            result.methods = AccuracyAnalysis(vocabularySize: out.vocabularySize).analyze(out.methods)
            if !o.full {
                limits.append("perplexity: BoolQ Wikipedia passages, context 512, first \(plan.maxTokens ?? 0) tokens")
                limits.append("zero-shot: " + plan.tasks.map { "\($0) first \(plan.limit(of: $0).map(String.init) ?? "all") documents" }.joined(separator: ", ") + " (use --full for the complete tasks); a model whose perplexity exceeds the vocabulary size is scored on the first \(plan.collapsedTaskLimit ?? 0) of them")
                limits.append("calibration (GPTQ, PT²-LLM): 8 × 256 = 2048 LAMBADA tokens (--full: the papers' 128 × 2048 = 262144); methods without calibration report no output error")
                limits.append("speed at 1 thread only (--full: 1 and 2)")
            }
        }
        result.limits = limits
        result.metrics = metrics(from: result)
        stage("report", "result.json, summary.md, report.html") { ((), false) }
        result.stages = stages
        let dir = "\(o.reportsDirectory)/\(runID)"
        let paths = try ReportWriter(result: result).write(to: dir)
        logNotice("[run] wrote \(paths.joined(separator: ", "))")
        return (result, paths[0])
    }

    /// The code that determines stage outputs: git tree hashes of the kernels and of the modules
    /// that measure, tune, quantize, train and evaluate (not the report writer, so a report change
    /// re-renders from cached stages). A dirty tree never reuses anything.
    static func sourceKey(dirty: Bool) -> [String] {
        if dirty { return ["dirty-\(UUID())"] }
        let paths = ["Package.swift", "Kernels", "Sources/TritCore", "Sources/TritMeasure", "Sources/TritDispatch", "Sources/TritTune",
                     "Sources/TritQuant", "Sources/TritModel", "Sources/TritTrain", "Sources/TritRun/ModelQuantization.swift",
                     "Sources/TritRun/TuningStage.swift"]
        return paths.map { p in
            Shell.run("/usr/bin/env", ["git", "rev-parse", "HEAD:\(p)"]).flatMap { $0.status == 0 ? $0.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil }
                ?? "unknown-\(UUID())"
        }
    }

    /// The default method rows, or those named in `selected` (and the reference), for `model`:
    /// a model that ships ternary has one row, itself as shipped; the QAT rows need Llama's block
    /// (the training pass implements no other) and are left out elsewhere, with a note.
    public static func methods(full: Bool, selected: [String]?, trainingTokens: Int? = nil,
                               model: ModelDescription? = nil) throws -> [MethodSpec] {
        if let model, model.shipsTernary {
            return [MethodSpec(method: "reference", id: "as-shipped", label: "as shipped (\(model.storage)), packed kernels",
                               follows: "the model's own ternary weights and scales, repacked losslessly at load",
                               storedBitsPerWeight: model.linearBitsPerWeight)]
        }
        var all = MethodSpec.defaults(full: full, trainingTokens: trainingTokens, referenceStorage: model?.storage ?? "Q4_1")
        if let model, model.architecture != DecoderArchitecture.llama.name { all.removeAll { $0.training != nil } }
        guard let selected else { return all }
        if let unknown = selected.first(where: { id in !all.contains { $0.id == id } }) {
            throw RunError.unknownMethod(unknown, known: all.map(\.id))
        }
        return all.filter { $0.id == "reference" || selected.contains($0.id) }
    }

    /// Why rows of the default table are missing for `model`.
    public static func skippedMethodNotes(model: ModelDescription, selected: [String]?) -> [String] {
        guard !model.shipsTernary, model.architecture != DecoderArchitecture.llama.name else { return [] }
        let training = MethodSpec.defaults(full: false).filter { $0.training != nil && (selected?.contains($0.id) ?? true) }
        guard !training.isEmpty else { return [] }
        return ["Left out for \(model.architecture): \(training.map(\.id).joined(separator: ", ")) (quantization-aware training runs Llama's block only)."]
    }

    /// What the evaluate stage runs. By default enough documents to tell methods apart (at least
    /// 500 of PIQA and ARC-Easy, and HellaSwag) on both cores; `--full` every document of every task.
    public static func evaluationPlan(full: Bool) -> EvaluationPlan {
        full ? EvaluationPlan(pplSource: "boolq-passages", context: 512,
                              tasks: ["piqa", "arc_easy", "arc_challenge", "hellaswag", "winogrande", "boolq", "openbookqa"],
                              speedThreads: [1, 2], threads: 2)
             : EvaluationPlan(pplSource: "boolq-passages", context: 512, maxTokens: 4096,
                              tasks: ["piqa", "arc_easy", "hellaswag"], limit: 500, taskLimits: defaultTaskLimits,
                              collapsedTaskLimit: 100, speedThreads: [1], threads: 2)
    }

    /// Per-task document limits of the default profile (ARC-Easy's file holds 570: all of them).
    public static let defaultTaskLimits = ["arc_easy": 570, "hellaswag": 200]

    /// Metrics a later run is compared against: roofline bandwidths and tuned kernel timings
    /// (samples), method sizes and accuracies (deterministic).
    func metrics(from r: RunResult) -> [Metric] {
        var m: [Metric] = []
        for p in r.roofline?.bandwidth ?? [] {
            m.append(.timing("roofline/\(p.level)/threads\(p.threads)/seconds-per-pass", samples: p.timing.samples))
        }
        for k in r.kernels ?? [] {
            m.append(.timing("kernel/\(k.variant)/\(k.format)/\(k.shape)/tokens\(k.tokens)/threads\(k.threads)/seconds", samples: k.samples))
        }
        for meth in r.methods ?? [] {
            if let b = meth.modelBytes { m.append(.exact("method/\(meth.method)/model-bytes", unit: "B", value: Double(b))) }
            if let p = meth.ppl { m.append(.exact("method/\(meth.method)/ppl", unit: "ppl", value: p, tolerance: 0.001)) }
            for t in meth.tasks {
                m.append(.exact("method/\(meth.method)/\(t.task)/acc", unit: "fraction", value: t.acc, direction: .higherIsBetter))
            }
        }
        return m
    }
}

public enum RunError: Error, CustomStringConvertible, Equatable {
    case unknownMethod(String, known: [String])
    public var description: String {
        switch self {
        case let .unknownMethod(m, known): return "--methods: unknown method row '\(m)'; known: \(known.joined(separator: ", "))"
        }
    }
}
