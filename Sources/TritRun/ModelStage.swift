import Foundation
import TritCore
import TritModel
import TritQuant
import TritReport
import TritTrain

/// One method of the main run: what to quantize with, and how to show it.
public struct MethodSpec: Codable, Sendable, Equatable {
    /// "reference" (no quantization) or a TritQuant method name.
    public var method: String
    /// Distinguishes rows of one method with other parameters ("pt2llm-propagate").
    public var id: String
    public var label: String
    public var parameters: [String: String]
    /// Linear layer kinds left in full precision (tensor-name fragments, e.g. "attn_q").
    public var keepLayers: [String]
    /// What the implementation follows, in one line: paper text, official code, released
    /// checkpoint, or ours (an improvement, shown beside the paper's method).
    public var follows: String
    /// End-to-end quantization-aware training instead of a post-training quantizer.
    public var training: TrainingOptions?
    /// Bits per linear weight as the file stores them, for a row that quantizes nothing (a model
    /// that ships ternary); nil: Float32.
    public var storedBitsPerWeight: Double?

    public init(method: String, id: String? = nil, label: String, parameters: [String: String] = [:],
                keepLayers: [String] = [], follows: String, training: TrainingOptions? = nil, storedBitsPerWeight: Double? = nil) {
        self.method = method; self.id = id ?? method; self.label = label; self.parameters = parameters
        self.keepLayers = keepLayers; self.follows = follows; self.training = training
        self.storedBitsPerWeight = storedBitsPerWeight
    }

    /// Whether the method quantizes the model tensor `name` (`blk.0.attn_q.weight`).
    public func quantizes(_ name: String) -> Bool {
        method != "reference" && !keepLayers.contains { name.contains(".\($0).") }
    }

    /// The methods every paper compares, in the order the report shows them. The QAT rows train
    /// on `trainingTokens` (nil: the profile's budget, `defaultTrainingTokens` or, with `full`,
    /// `fullTrainingTokens`).
    public static func defaults(full: Bool, trainingTokens: Int? = nil, referenceStorage: String = "Q4_1") -> [MethodSpec] {
        [MethodSpec(method: "reference", label: "Float32 reference (\(referenceStorage) dequantized)",
                    follows: "the GGUF as shipped (\(referenceStorage)), dequantized to Float32"),
         MethodSpec(method: "absmean", label: "absmean ternary (group 128)", parameters: ["granularity": "group"],
                    follows: "BitNet b1.58's absmean rounding (paper text), one scale per (row, 128-group)"),
         MethodSpec(method: "twn", label: "TWN ternary (per row)",
                    follows: "TWN paper text: Δ = 0.7·mean|w|, α = mean |w| above Δ, per row"),
         MethodSpec(method: "rtn", label: "RTN 2-bit (group 128)", parameters: ["bits": "2"],
                    follows: "uniform asymmetric round-to-nearest, group 128 (the papers' RTN baseline)"),
         MethodSpec(method: "gptq", label: "GPTQ 2-bit (group 128)", parameters: ["bits": "2"],
                    follows: "GPTQ reference code: Cholesky of H⁻¹, 128-column blocks with column updates, asymmetric 2-bit grid per group"),
         MethodSpec(method: "ptqtp", label: "PTQTP (two trit-planes)",
                    follows: "paper text (arXiv 2509.16989): two trit-planes per (row, 128-group) on every linear layer"),
         MethodSpec(method: "ptqtp", id: "ptqtp-keep-qk", label: "PTQTP, q/k kept in full precision", keepLayers: ["attn_q", "attn_k"],
                    follows: "the authors' released checkpoints: q_proj and k_proj stay in full precision (counted at 16 bits)"),
         MethodSpec(method: "pt2llm", label: "PT²-LLM",
                    follows: "official code (XIANGLONGYAN/PT2-LLM) as audited: each block fitted once (init, ITF, AGA), Err = (W − Q)/diag propagated, GPTAQ term α 0.25, true-sequential, SSR in top-k order except ffn_down"),
         MethodSpec(method: "pt2llm", id: "pt2llm-rerounding", label: "PT²-LLM + column re-rounding",
                    parameters: ["intra_block": "propagate"],
                    follows: "ours: the official pipeline, but each block column is re-rounded against its grid after GPTQ's column updates"),
         MethodSpec(method: "tequila-untrained", label: "absmean + deadzone bias (Tequila's bias, untrained)",
                    follows: "absmean with the paper's folded deadzone bias c = λ·Σ deadzone w (λ = 1e-3), no training"),
         MethodSpec(method: "qat", id: "absmean-ste", label: "absmean-STE QAT (λ = 0)",
                    follows: "BitNet-style quantization-aware training, the paper's λ = 0 baseline: STE through the whole model, next-token loss",
                    training: trainingOptions(.absmean, full: full, tokens: trainingTokens)),
         MethodSpec(method: "qat", id: "tequila", label: "Tequila QAT",
                    follows: "paper text (arXiv 2509.23809): end-to-end STE training with the folded deadzone bias and λ·∂L/∂c on deadzone weights, λ = 1e-3 fixed as in the released code",
                    training: trainingOptions(.tequila(lambda: 1e-3), full: full, tokens: trainingTokens))]
    }

    /// Training tokens of the default run's QAT rows: what two CPU cores train in a few minutes
    /// (papers train on billions; the report states the count).
    public static let defaultTrainingTokens = 12_288
    public static let fullTrainingTokens = 131_072

    /// The default profile's options are `tritbench train --method M --tokens N`'s, so a model
    /// trained by that command (same seed, model and threads) is the run's row, from its checkpoint.
    static func trainingOptions(_ form: TernaryTraining, full: Bool, tokens: Int? = nil) -> TrainingOptions {
        var o = TrainingOptions(form: form, tokens: tokens ?? (full ? fullTrainingTokens : defaultTrainingTokens))
        if full { o.curvePoints = 9 }
        return o
    }
}

/// The output of the methods stage for one method, cached as a unit.
public struct MethodOutcome: Codable, Sendable {
    public var spec: MethodSpec
    public var quantization: ModelQuantizationReport?
    public var training: TrainingReport?
    public var trainedBitsPerWeight: Double?
    public var evaluation: EvalReport
}

/// Stages 3–5 of `tritbench run` for each method: quantize the model (packed model file),
/// evaluate perplexity and the zero-shot subset, and measure speed and memory on the packed
/// kernels. Each method's row is cached by content hash, and within a row its model and each
/// evaluation part, so a run killed inside a row resumes where it stopped.
public struct ModelStage {
    public var gguf: String
    public var methods: [MethodSpec]
    public var plan: EvaluationPlan
    public var calibrationSequences: Int
    public var calibrationLength: Int
    public var stageCache: StageCache
    /// Revision, CPU and build: part of every key, so code changes re-run the stage.
    public var buildKey: [String]

    public init(gguf: String, methods: [MethodSpec], plan: EvaluationPlan, calibrationSequences: Int = 16,
                calibrationLength: Int = 256, stageCache: StageCache, buildKey: [String]) {
        self.gguf = gguf; self.methods = methods; self.plan = plan
        self.calibrationSequences = calibrationSequences; self.calibrationLength = calibrationLength
        self.stageCache = stageCache; self.buildKey = buildKey
    }

    /// Each method's result, whether every method came from the stage cache, and the model's
    /// vocabulary size.
    public func run() throws -> (methods: [MethodResult], reused: Bool, vocabularySize: Int?) {
        let ggufSHA = try PackedModelFile.sha256(ofFile: gguf)
        let planKey = String(decoding: try JSONCoding.encode(plan), as: UTF8.self)
        var results: [MethodResult] = []
        var allReused = true
        var vocabularySize: Int?
        var documents: [String: [MultipleChoiceDocument]]?
        for (i, spec) in methods.enumerated() {
            logNotice("[run] method \(i + 1)/\(methods.count): \(spec.label)")
            let key = try rowKey(spec, ggufSHA: ggufSHA, planKey: planKey)
            var (outcome, reused) = try stageCache.run(stage: "method-\(spec.id)", key: key) { () -> MethodOutcome in
                let (path, prepared) = try prepareModel(spec, rowKey: key, ggufSHA: ggufSHA)
                let loaded = try LoadedModel(path: path)
                let evaluation = try evaluateInParts(loaded: loaded, path: path, id: spec.id,
                                                     partKey: [key, prepared.modelSHA256]) {
                    if documents == nil { documents = try plan.documents() }
                    return documents!
                }
                return MethodOutcome(spec: spec, quantization: prepared.quantization, training: prepared.training,
                                     trainedBitsPerWeight: prepared.trainedBitsPerWeight, evaluation: evaluation)
            }
            // How the row is shown (label, what it follows) is today's, whatever run measured it.
            outcome.spec = spec
            allReused = allReused && reused
            results.append(Self.methodResult(outcome))
            vocabularySize = vocabularySize ?? outcome.evaluation.vocabularySize
        }
        return (results, allReused, vocabularySize)
    }

    /// A row's key: everything that decides its figures (the build, model, method, parameters,
    /// layers kept, training options, calibration and plan), not how the row is labelled.
    func rowKey(_ spec: MethodSpec, ggufSHA: String, planKey: String) throws -> String {
        let training = try spec.training.map { String(decoding: try JSONCoding.encode($0), as: UTF8.self) } ?? "no training"
        return StageCache.key(buildKey + [ggufSHA, spec.method, spec.parameters.sorted { $0.key < $1.key }.description,
                                          spec.keepLayers.description, training, spec.storedBitsPerWeight.map { "\($0)" } ?? "",
                                          "calib \(calibrationSequences)x\(calibrationLength)", planKey])
    }

    /// What `prepareModel` made: the model file's SHA-256 and how it was made.
    struct PreparedModel: Codable, Sendable {
        var modelSHA256: String
        var quantization: ModelQuantizationReport?
        var training: TrainingReport?
        var trainedBitsPerWeight: Double?
    }

    /// Quantizes or trains the row's model into the stage cache, or returns the GGUF for the
    /// reference. A model made earlier under the same row key is reused while its file still
    /// has the SHA-256 recorded when it was written: a row killed during its (hours-long at
    /// --full) evaluation then resumes without quantizing or training again.
    func prepareModel(_ spec: MethodSpec, rowKey: String, ggufSHA: String) throws -> (path: String, prepared: PreparedModel) {
        guard spec.method != "reference" else { return (gguf, PreparedModel(modelSHA256: ggufSHA)) }
        let dir = stageCache.directory + "/models"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/\(spec.id)-\(rowKey.prefix(16)).tpk"
        let record = stageCache.path(stage: "part-\(spec.id)-model", key: rowKey)
        if stageCache.reuse, let data = FileManager.default.contents(atPath: record),
           let prepared = try? JSONCoding.decoder().decode(PreparedModel.self, from: data),
           FileManager.default.fileExists(atPath: path), (try? PackedModelFile.sha256(ofFile: path)) == prepared.modelSHA256 {
            logNotice("[run] \(spec.id): reusing the model made earlier for this row (\(path))")
            return (path, prepared)
        }
        var prepared = PreparedModel(modelSHA256: "")
        if var options = spec.training {
            options.threads = plan.threads
            let trainer = Trainer(options: options, modelPath: gguf, checkpointDirectory: stageCache.trainingCheckpointDirectory)
            let (report, params) = try trainer.run()
            let file = try Trainer.packedModel(params, form: options.form, groupSize: options.groupSize, sourcePath: gguf,
                                               sourceSHA256: ggufSHA, parameters: ["tokens": "\(options.tokens)"])
            try file.write(to: path)
            prepared.training = report
            prepared.trainedBitsPerWeight = file.bitsPerWeight
        } else {
            let method = try QuantizationMethod.named(spec.method)
            var options = ModelQuantizationOptions(
                modelPath: gguf, method: spec.method, parameters: spec.parameters, outputPath: path,
                calibrationSequences: method.requiresCalibration ? calibrationSequences : 0,
                calibrationSequenceLength: calibrationLength,
                scored: PerplexitySource(argument: plan.pplSource ?? "boolq-passages"),
                layers: spec.quantizes)
            options.threads = plan.threads
            prepared.quantization = try ModelQuantization(options: options).run().report
        }
        prepared.modelSHA256 = try PackedModelFile.sha256(ofFile: path)
        try AtomicFile.writeJSON(prepared, to: record)
        return (path, prepared)
    }

    /// Runs the plan in parts (perplexity, then each task, then speed), each stored in the stage
    /// cache under `partKey` (the row key and the model file's SHA-256) and the part's name. A
    /// --full row takes hours; killed inside one, the run resumes at the first unfinished part.
    /// The parts give the report one whole run would: tasks of a collapsed model keep the
    /// document cap its perplexity set.
    func evaluateInParts(loaded: LoadedModel, path: String, id: String, partKey: [String],
                         documents: () throws -> [String: [MultipleChoiceDocument]]) throws -> EvalReport {
        func part(_ name: String, _ sub: EvaluationPlan) throws -> EvalReport {
            try stageCache.run(stage: "part-\(id)-\(name)", key: StageCache.key(partKey + [name])) {
                try sub.run(on: loaded, path: path, documents: sub.tasks.isEmpty ? nil : documents())
            }.value
        }
        var whole = plan
        whole.tasks = []; whole.speedThreads = []
        var report = try part("perplexity", whole)
        for task in plan.tasks {
            var sub = plan
            sub.pplSource = nil; sub.tasks = [task]; sub.speedThreads = []
            if let cap = report.collapsedTaskLimit {
                sub.taskLimits = [task: [plan.limit(of: task), cap].compactMap { $0 }.min()!]
            }
            report.tasks[task] = try part("task-\(task)", sub).tasks[task]
        }
        if !plan.speedThreads.isEmpty {
            var sub = plan
            sub.pplSource = nil; sub.tasks = []
            let speed = try part("speed", sub)
            report.speed = speed.speed
            report.decodeBreakdown = speed.decodeBreakdown
        }
        return report
    }

    /// A note for layers that hold two packed copies (representation "ternary-A+B": decode
    /// tuned to format A, prefill to B), since their bytes exceed the method's bits per weight;
    /// nil when every layer holds one.
    static func twoCopyNote(_ representations: [[String: Int]]) -> String? {
        var twoCopies: [String: Int] = [:], layers = 0
        for r in representations {
            for (kind, n) in r where kind.hasPrefix("ternary-") {
                layers += n
                if kind.contains("+") { twoCopies[kind, default: 0] += n }
            }
        }
        guard !twoCopies.isEmpty else { return nil }
        let kinds = twoCopies.keys.sorted().map { "\($0) (\(twoCopies[$0]!))" }.joined(separator: ", ")
        return "two packed copies (decode + prefill formats) in \(twoCopies.values.reduce(0, +)) of \(layers) ternary layers: \(kinds)"
    }

    static func methodResult(_ o: MethodOutcome) -> MethodResult {
        let e = o.evaluation
        let ternary = e.runtime.values.contains { $0.representations.keys.contains { $0.hasPrefix("ternary") } }
        let tuned = e.runtime.values.contains { $0.kernels.values.contains { $0.keys.contains { $0.hasSuffix("tuned") } } }
        let runtime = ternary ? "packed ternary kernels (\(tuned ? "tuned" : "default") dispatch)"
            : o.quantization != nil ? "Float32 BLAS on the dequantized weights" : "Float32 BLAS"
        var r = MethodResult(method: o.spec.id, label: o.spec.label, runtime: runtime)
        r.follows = o.spec.follows
        r.bitsPerWeight = o.quantization?.bitsPerWeight ?? o.trainedBitsPerWeight ?? o.spec.storedBitsPerWeight ?? 32
        // Layers kept in full precision count at 16 bits, as the checkpoints that keep them store them.
        let kept = o.quantization?.keptWeightCount ?? 0
        if let q = o.quantization, kept > 0 {
            r.bitsPerWeight = (q.bitsPerWeight * Double(q.weightCount) + 16 * Double(kept)) / Double(q.weightCount + kept)
            r.notes.append("\((q.keptLayers ?? []).count) layers (\(kept) weights) kept in full precision: counted at 16 bits per weight; the runtime holds them in Float32")
        }
        // Storage at the method's bits per weight for the linear layers, plus what the runtime
        // holds for the rest (int8 embedding/LM head, norms); the reference is its Float32 weights.
        if let q = o.quantization, let mem = e.memory {
            let rest = mem.weightBytesByKind.filter { !$0.key.hasPrefix("linear") }.values.reduce(0, +)
            r.modelBytes = Int((q.bitsPerWeight * Double(q.weightCount) / 8).rounded(.up)) + 2 * kept + rest
        } else {
            r.modelBytes = e.memory?.totalWeightBytes
        }
        r.heldBytes = e.memory?.totalWeightBytes
        if let note = Self.twoCopyNote(e.runtime.values.map(\.representations)) { r.notes.append(note) }
        r.ppl = e.ppl
        r.tokensScored = e.tokensScored
        r.pplWindowNLL = e.perplexity?.windowNLL
        r.pplWindowTokens = e.perplexity?.windowTokens
        r.tasks = e.tasks.keys.sorted().map { k in
            let t = e.tasks[k]!
            return TritReport.TaskResult(task: k, acc: t.acc, accNorm: t.accNorm, docs: t.docs, chance: t.chance,
                                         outcomes: t.outcomes, outcomesNorm: t.outcomesNorm)
        }
        r.quantizeSeconds = o.quantization?.totalSeconds ?? o.training?.trainingSeconds
        if let t = o.training {
            r.notes.append(String(format: "trained end to end on %d tokens of %@ in %d steps (%.0f tokens/s, peak lr %.0e, %@), held-out curve on %@; papers train on billions of tokens",
                                  t.tokensTrained, t.trainingText, t.steps, t.tokensPerSecond, t.options.learningRate,
                                  t.options.form.lambda > 0 ? "λ = \(t.options.form.lambda)" : "λ = 0", t.heldOutText))
            r.learningCurve = t.curve.map { LearningCurvePoint(tokens: $0.tokens, perplexity: $0.heldOutPerplexity, deadzoneFraction: $0.deadzoneFraction) }
        }
        if let s = e.speed.first(where: { $0.threads == 1 }) ?? e.speed.first {
            r.prefillTokensPerSecond = s.prefillTokensPerSecond
            r.decodeTokensPerSecond = s.decodeTokensPerSecond
        }
        let base = e.speed.first(where: { $0.threads == 1 })
        for s in e.speed where s.threads != 1 {
            var note = String(format: "%d threads: prefill %.0f tok/s, decode %.1f tok/s", s.threads, s.prefillTokensPerSecond, s.decodeTokensPerSecond)
            if let base, s.decodeSamples != nil, base.decodeSamples != nil {
                let (d, p) = s.speedup(over: base)
                note += String(format: " (%.2f× [%.2f, %.2f] and %.2f× [%.2f, %.2f] of 1 thread's, per-round ratios, 95%% CI)",
                               p.median, p.low, p.high, d.median, d.low, d.high)
            }
            r.notes.append(note)
        }
        if let cap = e.collapsedTaskLimit {
            r.notes.append("perplexity above the vocabulary size (\(e.vocabularySize ?? 0)): tasks scored on their first \(cap) documents only, enough to show a collapsed model at chance")
        }
        if let q = o.quantization, let c = q.calibration {
            r.notes.append("calibration: \(c.tokens) tokens from \(c.source) (\(c.mode)), not the scored text")
        }
        if o.spec.method == "reference" && o.spec.storedBitsPerWeight == nil {
            r.notes.append("bits/weight 32: the Float32 model as evaluated (the GGUF's own storage is in the run's model line)")
        }
        return r
    }
}
