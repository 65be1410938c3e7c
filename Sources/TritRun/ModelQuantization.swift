import Foundation
import TritCore
import TritKernels
import TritModel
import TritQuant

/// Errors of a whole-model quantization run that are not the quantizer's or the file reader's
/// own (those pass through with their own messages).
public enum ModelQuantizationError: Error, CustomStringConvertible, Equatable {
    case outputNotWritable(path: String, reason: String)
    case noLayersSelected(model: String)
    case badCalibrationSize(field: String, value: Int, expected: String)
    case layerFailed(layer: String, reason: String)
    case calibrationRequired(method: String)

    public var description: String {
        switch self {
        case let .outputNotWritable(path, reason): return "cannot write the packed model to \(path): \(reason)"
        case let .noLayersSelected(model): return "the layer filter selects none of the linear layers of \(model)"
        case let .badCalibrationSize(field, value, expected): return "calibration \(field) = \(value); expected \(expected)"
        case let .layerFailed(layer, reason): return "layer \(layer): \(reason)"
        case let .calibrationRequired(method):
            return "method '\(method)' needs calibration activations; calibration tokens must be > 0 (--calib-tokens)"
        }
    }
}

/// What to quantize and how.
public struct ModelQuantizationOptions {
    public var modelPath: String
    public var method: String
    public var parameters: [String: String]
    public var outputPath: String
    /// Calibration tokens = sequences × sequenceLength; 0 sequences turns calibration off (only
    /// allowed for methods that do not need it; their output error is then not reported).
    public var calibrationSequences: Int
    public var calibrationSequenceLength: Int
    /// The perplexity text that will be scored later; calibration text comes from the other
    /// source (`PerplexitySource.calibrationSource`), never from the scored one.
    public var scored: PerplexitySource
    /// GPTQ-style: each block's calibration inputs come from the already quantized earlier
    /// blocks (the in-block layers see the Float32 block). Off: every input comes from the
    /// Float32 model.
    public var sequential: Bool
    /// OpenBLAS threads for the calibration passes and the Hessian work (restored afterwards).
    public var threads: Int = 1
    /// Which linear tensors (GGUF names, e.g. `blk.0.attn_q.weight`) to quantize; the packed
    /// file holds only those. Default: all.
    public var layers: (String) -> Bool
    public var progress: Bool
    public var data: EvaluationData

    public init(modelPath: String, method: String, parameters: [String: String] = [:], outputPath: String,
                calibrationSequences: Int = 16, calibrationSequenceLength: Int = 256,
                scored: PerplexitySource = .boolqPassages, sequential: Bool = true,
                layers: @escaping (String) -> Bool = { _ in true }, progress: Bool = true,
                data: EvaluationData = EvaluationData()) {
        self.modelPath = modelPath; self.method = method; self.parameters = parameters; self.outputPath = outputPath
        self.calibrationSequences = calibrationSequences; self.calibrationSequenceLength = calibrationSequenceLength
        self.scored = scored; self.sequential = sequential; self.layers = layers; self.progress = progress; self.data = data
    }
}

/// One quantized linear layer in the model report.
public struct LayerQuantizationRecord: Codable, Equatable, Sendable {
    /// GGUF tensor name, e.g. `blk.0.attn_q.weight`.
    public var name: String
    public var report: QuantizationReport
}

/// Where the calibration activations came from.
public struct CalibrationSummary: Codable, Equatable, Sendable {
    /// The text source they were taken from (not the scored one).
    public var source: String
    public var scoredSource: String
    public var sequences: Int
    public var sequenceLength: Int
    public var tokens: Int
    /// "sequential" (inputs from the quantized earlier blocks) or "float" (all from Float32).
    public var mode: String
    /// Forward passes and H/m accumulation, summed over blocks.
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case source, scoredSource = "scored_source", sequences, sequenceLength = "sequence_length", tokens, mode, seconds
    }
}

/// The outcome of quantizing a model: per-layer errors and the totals.
public struct ModelQuantizationReport: Codable, Equatable, Sendable {
    public var method: String
    public var parameters: [String: String]
    public var model: String
    public var modelSHA256: String
    public var output: String
    /// How the layers are stored in the packed file: "ternary" (TernaryWeights records) or
    /// "dense-f32-dequantized" (the uniform RTN/GPTQ baselines: the file holds Ŵ as Float32,
    /// while `bits_per_weight` counts their b-bit codes plus fp16 scales and zeros).
    public var storage: String
    public var calibration: CalibrationSummary?
    public var layers: [LayerQuantizationRecord]
    /// Storage bits of all quantized layers over their weight count (side data included).
    public var bitsPerWeight: Double
    public var weightCount: Int
    /// Linear layers the layer filter left in full precision (read from the source GGUF at load)
    /// and their weight count; nil when every layer was quantized.
    public var keptLayers: [String]?
    public var keptWeightCount: Int?
    /// Bytes of the packed model file written.
    public var fileBytes: Int
    /// Sum of the layers' fit times.
    public var quantizeSeconds: Double
    /// Wall time of the whole run: loading, calibration, quantization, writing.
    public var totalSeconds: Double
    /// Peak resident set size of the process at the end (getrusage).
    public var peakRSSBytes: Int

    enum CodingKeys: String, CodingKey {
        case method, parameters, model, modelSHA256 = "model_sha256", output, storage, calibration, layers
        case bitsPerWeight = "bits_per_weight", weightCount = "weight_count", fileBytes = "file_bytes"
        case keptLayers = "kept_layers", keptWeightCount = "kept_weight_count"
        case quantizeSeconds = "quantize_seconds", totalSeconds = "total_seconds", peakRSSBytes = "peak_rss_bytes"
    }

    /// Mean relative (and output) error over the layers whose name contains `kind` (all when nil).
    public func meanErrors(kind: String? = nil) -> (relative: Double, output: Double?) {
        let sel = layers.filter { kind == nil || $0.name.contains(kind!) }
        guard !sel.isEmpty else { return (.nan, nil) }
        let rel = sel.map(\.report.relativeError).reduce(0, +) / Double(sel.count)
        let outs = sel.compactMap(\.report.outputError)
        return (rel, outs.count == sel.count ? outs.reduce(0, +) / Double(outs.count) : nil)
    }
}

/// A model's linear layer during quantization: forwards through its current weights (Float32,
/// later the dequantized quantized layer) or, for the full-precision stream, through its
/// Float32 weights; while `accumulator` is set it streams its inputs into H and m (and, with a
/// full-precision input waiting, into GPTAQ's cross term); with `capture` it keeps its input.
/// A class because the model's blocks hold it while the quantizer swaps its weights.
final class CalibrationTap: LinearLayer {
    let inputCount: Int
    let outputCount: Int
    /// Current weights; nil once the layer's block is done and will not run again.
    private(set) var layer: FloatLinear?
    /// The Float32 weights, kept until the block is done (the full-precision stream runs them).
    private(set) var original: FloatLinear?
    var useOriginal = false
    var accumulator: Calibration.Accumulator?
    private(set) var accumulationError: Error?
    /// The full-precision input of the tokens the next forward accumulates.
    var pendingFullPrecision: Matrix?
    var capture = false
    private(set) var captured: Matrix?

    init(_ layer: FloatLinear) {
        self.layer = layer
        original = layer
        inputCount = layer.inputCount; outputCount = layer.outputCount
    }

    var weightBytes: Int { layer?.weightBytes ?? 0 }
    var kind: String { layer?.kind ?? "released" }

    func replace(with l: FloatLinear) { layer = l }
    func release() { layer = nil; original = nil }
    func takeCaptured() -> Matrix? { defer { captured = nil }; return captured }

    func forward(_ x: UnsafeBufferPointer<Float>, tokens: Int, into y: UnsafeMutableBufferPointer<Float>) {
        if capture || (accumulator != nil && accumulationError == nil) {
            let m = Matrix(rows: tokens, cols: inputCount, values: Array(x.prefix(tokens * inputCount)))
            if capture { captured = m }
            if accumulator != nil && accumulationError == nil {
                do { try accumulator!.add(m, fullPrecision: pendingFullPrecision) } catch { accumulationError = error }
                pendingFullPrecision = nil
            }
        }
        guard let l = useOriginal ? original : layer else { preconditionFailure("CalibrationTap: forward through a released layer") }
        l.forward(x, tokens: tokens, into: y)
    }
}

/// Quantizes every linear layer of a Llama GGUF with one method and writes a packed model file.
///
/// Calibration (for every method when tokens > 0; gptq, pt2llm and tequila need it) runs the
/// model block by block over token sequences of the text that will not be scored. Each linear
/// layer's inputs stream into a `Calibration.Accumulator` (H = E[x xᵀ], m = E[x]); layers that
/// read the same input (q/k/v, gate/up) share one. Only one block's accumulators exist at a time
/// and each block's Float32 weights are released once it is quantized, so memory stays near
/// the Float32 model plus the packed layers.
public struct ModelQuantization {
    public var options: ModelQuantizationOptions
    public init(options: ModelQuantizationOptions) { self.options = options }

    /// The quantizer for the options, checked before any model work.
    public func makeQuantizer() throws -> (QuantizationMethod, any Quantizer) {
        let m = try QuantizationMethod.named(options.method)
        return (m, try m.quantizer(parameters: options.parameters))
    }

    public func run() throws -> (report: ModelQuantizationReport, file: PackedModelFile) {
        try LinearAlgebra.withThreads(max(1, options.threads)) { try runOnThreads() }
    }

    private func runOnThreads() throws -> (report: ModelQuantizationReport, file: PackedModelFile) {
        let start = Date()
        let (method, quantizer) = try makeQuantizer()
        try CachePaths().requireFile(options.modelPath)
        try Self.checkWritable(options.outputPath)
        let sequences = options.calibrationSequences, length = options.calibrationSequenceLength
        guard sequences >= 0 else { throw ModelQuantizationError.badCalibrationSize(field: "sequences", value: sequences, expected: ">= 0") }
        if sequences > 0 && length < 1 {
            throw ModelQuantizationError.badCalibrationSize(field: "sequence length", value: length, expected: ">= 1")
        }
        if method.requiresCalibration && sequences == 0 {
            throw ModelQuantizationError.calibrationRequired(method: quantizer.methodName)
        }
        let sha = try PackedModelFile.sha256(ofFile: options.modelPath)
        // The model, its mapped GGUF and the calibration state end with this call, before the
        // file is encoded (encoding holds the tensors twice more).
        var q = try quantizeLayers(with: quantizer)
        let file = PackedModelFile(method: quantizer.methodName, parameters: quantizer.resolvedParameters,
                                   sourceGGUFPath: options.modelPath, sourceGGUFSHA256: sha, tensors: q.tensors)
        q.tensors = [:]
        try file.write(to: options.outputPath)
        let fileBytes = ((try? FileManager.default.attributesOfItem(atPath: options.outputPath))?[.size] as? NSNumber)?.intValue ?? 0
        let records = q.records
        let weightCount = records.reduce(0) { $0 + $1.report.rows * $1.report.cols }
        let bits = records.reduce(0.0) { $0 + $1.report.bitsPerWeight * Double($1.report.rows * $1.report.cols) }
        let report = ModelQuantizationReport(
            method: quantizer.methodName, parameters: quantizer.resolvedParameters, model: options.modelPath, modelSHA256: sha,
            output: options.outputPath, storage: q.storesDense ? "dense-f32-dequantized" : "ternary",
            calibration: q.calibration, layers: records, bitsPerWeight: bits / Double(weightCount), weightCount: weightCount,
            keptLayers: q.kept.isEmpty ? nil : q.kept.map(\.name), keptWeightCount: q.kept.isEmpty ? nil : q.kept.map(\.weights).reduce(0, +),
            fileBytes: fileBytes, quantizeSeconds: records.reduce(0) { $0 + $1.report.seconds },
            totalSeconds: Date().timeIntervalSince(start), peakRSSBytes: MemoryReport.peakResidentSetBytes())
        return (report, file)
    }

    /// What `quantizeLayers` hands back: the packed tensors and the per-layer reports.
    private struct QuantizedLayers {
        var tensors: [String: PackedTensor] = [:]
        var records: [LayerQuantizationRecord] = []
        var calibration: CalibrationSummary?
        var storesDense = false
        var kept: [(name: String, weights: Int)] = []
    }

    private func quantizeLayers(with quantizer: any Quantizer) throws -> QuantizedLayers {
        let sequences = options.calibrationSequences, length = options.calibrationSequenceLength
        // Load: the GGUF (mapped), its Float32 weights wrapped in taps, the tokenizer.
        let gguf = try GGUFFile(path: options.modelPath)
        var taps: [String: CalibrationTap] = [:]
        let model: LlamaModel
        let names: [String]
        do {
            let weights = try LlamaWeights(gguf: gguf)
            names = weights.linearNames
            model = try LlamaModel(weights: weights) { name, m in
                let t = CalibrationTap(FloatLinear(m)); taps[name] = t; return t
            }
        }   // `weights` ends here: each layer's Float32 matrix now lives only in its tap.
        let selected = names.filter(options.layers)
        guard !selected.isEmpty else { throw ModelQuantizationError.noLayersSelected(model: options.modelPath) }
        let c = model.configuration
        let lastBlock = (0..<c.blockCount).last { b in LlamaLinearName.allCases.contains { selected.contains($0.tensorName(block: b)) } }!

        // Calibration text and the embedded inputs of block 0.
        var hidden: [[Float]] = []
        var calibration: CalibrationSummary?
        if sequences > 0 {
            let tokenizer = try makeTokenizer(gguf: gguf)
            let seqs = try calibrationSequences(scored: options.scored, tokenizer: tokenizer, count: sequences,
                                                length: length, data: options.data)
            hidden = seqs.map { model.embeddings($0) }
            calibration = CalibrationSummary(source: "\(options.scored.calibrationSource)", scoredSource: "\(options.scored)",
                                             sequences: seqs.count, sequenceLength: length, tokens: seqs.count * length,
                                             mode: options.sequential ? "sequential" : "float", seconds: 0)
            if options.progress {
                let mode = !options.sequential ? "Float32" : quantizer.calibrationNeeds == .blockInputs
                    ? "block-sequential" : "true-sequential"
                logNotice("[quantize] calibration: \(seqs.count) sequences × \(length) tokens = \(seqs.count * length) tokens of \(options.scored.calibrationSource) (not scored; scored: \(options.scored)), \(mode) inputs")
            }
        }

        var progress = ProgressReporter("[quantize] \(quantizer.methodName)", total: selected.count, enabled: options.progress, minInterval: 0)
        var records: [LayerQuantizationRecord] = []
        var tensors: [String: PackedTensor] = [:]
        var calibrationSeconds = 0.0
        var storesDense = false
        // The Float32 model's hidden states beside the quantized one's, for GPTAQ's cross term.
        let needs = quantizer.calibrationNeeds
        let fullPrecisionStream = options.sequential && needs == .trueSequential(fullPrecisionInputs: true)
        var fpHidden = fullPrecisionStream ? hidden : []
        // The first layer of each input group carries the accumulator.
        let groupOf: [LlamaLinearName: LlamaLinearName] = [.query: .query, .key: .query, .value: .query, .output: .output,
                                                            .gate: .gate, .up: .gate, .down: .down]
        // Block inputs: one stage, statistics from the Float32 block. True-sequential: the layer
        // groups in execution order, each calibrated on the block with the earlier ones quantized.
        let stages: [[LlamaLinearName]] = needs == .blockInputs || !options.sequential
            ? [LlamaLinearName.allCases]
            : [[.query, .key, .value], [.output], [.gate, .up], [.down]]
        for b in 0...lastBlock {
            let blockLayers = LlamaLinearName.allCases.map { ($0, $0.tensorName(block: b)) }
            // The full-precision inputs of every stage's leaders, from one Float32 pass over the
            // block, when they fit in memory (else each stage repeats that pass).
            var fpInputs: [LlamaLinearName: [Matrix]]?
            if !fpHidden.isEmpty {
                let leaders = Set(stages.joined().map { groupOf[$0]! })
                let floats = fpHidden.reduce(0) { $0 + $1.count } / model.configuration.embeddingLength
                    * leaders.reduce(0) { $0 + taps[$1.tensorName(block: b)]!.inputCount }
                if floats <= Self.fullPrecisionCaptureFloats {
                    let t0 = Date()
                    fpInputs = captureFullPrecisionInputs(model, b, leaders: leaders, taps: taps, fullPrecision: fpHidden)
                    calibrationSeconds += Date().timeIntervalSince(t0)
                }
            }
            for stage in stages {
                let toQuantize = blockLayers.filter { stage.contains($0.0) && selected.contains($0.1) }
                guard !toQuantize.isEmpty else { continue }
                var stats: [LlamaLinearName: Calibration] = [:]
                if !hidden.isEmpty {
                    let t0 = Date()
                    let leaders = Set(toQuantize.map { groupOf[$0.0]! })
                    for g in leaders { taps[g.tensorName(block: b)]!.accumulator = Calibration.Accumulator(cols: taps[g.tensorName(block: b)]!.inputCount) }
                    try collectStatistics(model, b, leaders: leaders, taps: taps, hidden: hidden, fullPrecision: fpHidden,
                                          captured: fpInputs)
                    for g in leaders {
                        let tap = taps[g.tensorName(block: b)]!
                        if let e = tap.accumulationError { throw ModelQuantizationError.layerFailed(layer: g.tensorName(block: b), reason: "calibration: \(e)") }
                        stats[g] = try tap.accumulator!.finish()
                        tap.accumulator = nil
                    }
                    calibrationSeconds += Date().timeIntervalSince(t0)
                }
                for (kind, name) in toQuantize {
                    let tap = taps[name]!
                    let result: QuantizationResult
                    do {
                        result = try quantizer.adapted(forLayer: name).quantizeLayer(tap.original!.weights, calibration: stats[groupOf[kind]!])
                    } catch {
                        throw ModelQuantizationError.layerFailed(layer: name, reason: "\(error)")
                    }
                    records.append(LayerQuantizationRecord(name: name, report: result.report))
                    switch result.layer {
                    case let .ternary(t): tensors[name] = .ternary(t)
                    case let .uniform(u): tensors[name] = .dense(u.dequantized()); storesDense = true
                    }
                    // Later stages and blocks (sequential mode) see this layer as stored.
                    if options.sequential && !hidden.isEmpty {
                        tap.replace(with: FloatLinear(result.layer.dequantized(), bias: result.layer.bias, kind: "quantized-f32"))
                    }
                    let r = result.report
                    progress.advance(detail: "\(name) \(r.rows)×\(r.cols) rel \(String(format: "%.4f", r.relativeError))"
                        + (r.outputError.map { String(format: " out %.4f", $0) } ?? "")
                        + String(format: " %.3f bpw %.2fs", r.bitsPerWeight, r.seconds))
                }
            }
            if !hidden.isEmpty {
                // The next block's inputs: through this block as stored (sequential) or in Float32.
                let t0 = Date()
                let taken = blockLayers.map { taps[$0.1]! }
                for t in taken { t.useOriginal = !options.sequential }
                runBlock(model, b, &hidden)
                for t in taken { t.useOriginal = true }
                if !fpHidden.isEmpty { runBlock(model, b, &fpHidden) }
                for t in taken { t.useOriginal = false }
                calibrationSeconds += Date().timeIntervalSince(t0)
            }
            // This block never runs again: drop its weights (Float32 and dequantized copies).
            for (_, name) in blockLayers { taps[name]!.release() }
        }
        calibration?.seconds = calibrationSeconds
        if fullPrecisionStream { calibration?.mode = "true-sequential, with full-precision inputs (GPTAQ)" }
        else if options.sequential && needs != .blockInputs { calibration?.mode = "true-sequential" }
        progress.finish()
        let kept = names.filter { !selected.contains($0) }.map { ($0, taps[$0]!.inputCount * taps[$0]!.outputCount) }
        return QuantizedLayers(tensors: tensors, records: records, calibration: calibration, storesDense: storesDense, kept: kept)
    }

    /// Runs block `b` over every sequence (on copies: the streams advance only once the block is
    /// done) with accumulators on the `leaders`' taps. With a full-precision stream, each
    /// sequence first runs through the Float32 block to capture the leaders' inputs there, which
    /// then accompany the same tokens' inputs in the quantized stream.
    private func collectStatistics(_ model: LlamaModel, _ b: Int, leaders: Set<LlamaLinearName>, taps: [String: CalibrationTap],
                                   hidden: [[Float]], fullPrecision: [[Float]], captured: [LlamaLinearName: [Matrix]]?) throws {
        let dim = model.configuration.embeddingLength
        let blockTaps = LlamaLinearName.allCases.map { taps[$0.tensorName(block: b)]! }
        let leaderTaps = leaders.map { taps[$0.tensorName(block: b)]! }
        // Nothing after the last leader's input is needed: the passes stop there.
        let stop = LlamaLinearName.allCases.last { leaders.contains($0) }
        var cache = model.makeCache(capacity: hidden.map(\.count).max()! / dim)
        for s in hidden.indices {
            if let captured {
                for g in leaders { taps[g.tensorName(block: b)]!.pendingFullPrecision = captured[g]![s] }
            } else if !fullPrecision.isEmpty {
                for t in blockTaps { t.useOriginal = true }
                for t in leaderTaps { t.capture = true }
                let saved = leaderTaps.map { $0.accumulator }
                for t in leaderTaps { t.accumulator = nil }
                var h = fullPrecision[s]
                model.blocks[b](&h, tokens: h.count / dim, cache: &cache, block: b, stoppingAfterInputOf: stop)
                for (t, a) in zip(leaderTaps, saved) { t.accumulator = a; t.capture = false; t.pendingFullPrecision = t.takeCaptured() }
                for t in blockTaps { t.useOriginal = false }
            }
            var h = hidden[s]
            model.blocks[b](&h, tokens: h.count / dim, cache: &cache, block: b, stoppingAfterInputOf: stop)
        }
    }

    /// At most this many floats of full-precision inputs are kept per block (256 MiB); beyond
    /// it (the papers' 128 × 2048 calibration) each stage repeats the Float32 pass instead.
    static let fullPrecisionCaptureFloats = 64 << 20

    /// One Float32 pass of block `b` over every sequence, keeping each leader's inputs.
    private func captureFullPrecisionInputs(_ model: LlamaModel, _ b: Int, leaders: Set<LlamaLinearName>,
                                            taps: [String: CalibrationTap], fullPrecision: [[Float]]) -> [LlamaLinearName: [Matrix]] {
        let dim = model.configuration.embeddingLength
        let blockTaps = LlamaLinearName.allCases.map { taps[$0.tensorName(block: b)]! }
        var out: [LlamaLinearName: [Matrix]] = [:]
        var cache = model.makeCache(capacity: fullPrecision.map(\.count).max()! / dim)
        for t in blockTaps { t.useOriginal = true }
        for g in leaders { taps[g.tensorName(block: b)]!.capture = true }
        for s in fullPrecision.indices {
            var h = fullPrecision[s]
            model.blocks[b](&h, tokens: h.count / dim, cache: &cache, block: b)
            for g in leaders { out[g, default: []].append(taps[g.tensorName(block: b)]!.takeCaptured()!) }
        }
        for g in leaders { taps[g.tensorName(block: b)]!.capture = false }
        for t in blockTaps { t.useOriginal = false }
        return out
    }

    /// Runs block `b` over every calibration sequence (each with its own KV cache), in place.
    private func runBlock(_ model: LlamaModel, _ b: Int, _ hidden: inout [[Float]]) {
        let dim = model.configuration.embeddingLength
        // A block call writes keys/values at cache.length ..< length + tokens and never advances
        // the length (the model does, after the last block), so one cache serves every sequence.
        var cache = model.makeCache(capacity: hidden.map(\.count).max()! / dim)
        for s in hidden.indices {
            model.blocks[b](&hidden[s], tokens: hidden[s].count / dim, cache: &cache, block: b)
        }
    }

    /// Fails before hours of work when the output's directory is missing or not writable.
    static func checkWritable(_ path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw ModelQuantizationError.outputNotWritable(path: path, reason: "directory \(dir) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: dir) else {
            throw ModelQuantizationError.outputNotWritable(path: path, reason: "directory \(dir) is not writable")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw ModelQuantizationError.outputNotWritable(path: path, reason: "it is a directory")
        }
    }
}
