import Foundation
import Testing
import TritCore
import TritKernels
import TritModel
import TritQuant
import TritRun
import TritTrain

/// Whole-model quantization on the real SmolLM2 GGUF, restricted to a few layers of block 0 so
/// the suite stays fast.
@Suite("model quantization", .serialized)
struct ModelQuantizationTests {
    static let model = CachePaths().defaultModel

    static func tempPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-mq-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    static func options(_ method: String, _ params: [String: String] = [:], layers: Set<String>, out: String,
                        sequences: Int = 2, length: Int = 32) -> ModelQuantizationOptions {
        ModelQuantizationOptions(modelPath: model, method: method, parameters: params, outputPath: out,
                                 calibrationSequences: sequences, calibrationSequenceLength: length,
                                 layers: { layers.contains($0) }, progress: false)
    }

    /// The packed file holds exactly the selected layers, loads back, and each tensor is what the
    /// quantizer gives for that GGUF tensor; the report's errors are those of the stored layer.
    @Test func ternaryLayersRoundTripThroughThePackedFile() throws {
        let names: Set = ["blk.0.attn_q.weight", "blk.0.attn_k.weight"]
        let out = Self.tempPath("ptqtp.trit")
        let (report, file) = try ModelQuantization(options: Self.options("ptqtp", ["max_iter": "10"], layers: names, out: out)).run()
        #expect(report.layers.map(\.name) == ["blk.0.attn_q.weight", "blk.0.attn_k.weight"])
        #expect(report.storage == "ternary")
        let loaded = try PackedModelFile.load(path: out)
        #expect(loaded == file)
        #expect(Set(loaded.tensors.keys) == names)
        #expect(loaded.header.method == "ptqtp" && loaded.header.parameters["max_iter"] == "10")
        try loaded.verifySource()
        let gguf = try GGUFFile(path: Self.model)
        let quantizer = try QuantizationMethod.ptqtp.quantizer(parameters: ["max_iter": "10"])
        for record in report.layers {
            let w = try gguf.matrix(named: record.name, rows: record.report.rows, cols: record.report.cols)
            let direct = try quantizer.quantizeLayer(w)
            guard case let .ternary(stored)? = loaded.tensors[record.name], case let .ternary(expected) = direct.layer else {
                Issue.record("\(record.name) is not stored as ternary"); continue
            }
            #expect(stored == expected)
            #expect(stored.planes.count == 2)
            #expect(stored.dequantized() == direct.layer.dequantized())
            #expect(abs(record.report.relativeError - direct.report.relativeError) < 1e-12)
            #expect(record.report.relativeError > 0.01 && record.report.relativeError < 0.6)
        }
        #expect(report.fileBytes == loaded.encoded().count)
        let weights = 576 * 576 + 192 * 576
        #expect(report.weightCount == weights)
        #expect(report.bitsPerWeight > 3.2 && report.bitsPerWeight < 3.6)
    }

    /// Uniform baselines are stored as the dense dequantized Ŵ, while their bits per weight count
    /// the b-bit codes.
    @Test func uniformBaselineIsStoredDense() throws {
        let name = "blk.0.attn_v.weight"
        let out = Self.tempPath("rtn.trit")
        let (report, _) = try ModelQuantization(options: Self.options("rtn", ["bits": "2"], layers: [name], out: out, sequences: 0)).run()
        #expect(report.storage == "dense-f32-dequantized")
        #expect(report.calibration == nil && report.layers[0].report.outputError == nil)
        let loaded = try PackedModelFile.load(path: out)
        let w = try GGUFFile(path: Self.model).matrix(named: name, rows: 192, cols: 576)
        let direct = try QuantizationMethod.rtn.quantizer(parameters: ["bits": "2"]).quantizeLayer(w)
        #expect(loaded.tensors[name] == .dense(direct.layer.dequantized()))
        #expect(abs(report.bitsPerWeight - direct.report.bitsPerWeight) < 1e-12)
        #expect(report.bitsPerWeight > 2 && report.bitsPerWeight < 2.5)
    }

    /// The streamed H and m equal the statistics of the real activations recorded from the
    /// Float32 model on the same calibration tokens: the output error the run reports equals the
    /// one computed from the recorded X (a wrong H — wrong layer, wrong input, missing tokens —
    /// would change it). Covers a shared input (q/k/v) and the 1536-wide input of ffn_down.
    @Test func calibrationStatisticsComeFromTheRealActivations() throws {
        let names: Set = ["blk.0.attn_v.weight", "blk.0.ffn_down.weight"]
        let out = Self.tempPath("tequila.trit")
        // A method calibrated on block inputs (the block itself in Float32).
        let (report, file) = try ModelQuantization(options: Self.options("tequila-untrained", [:], layers: names, out: out)).run()
        #expect(report.calibration?.mode == "sequential")
        #expect(report.calibration?.tokens == 64 && report.calibration?.source == "lambada")

        let gguf = try GGUFFile(path: Self.model)
        let recorder = LinearInputRecorder(maxRowsPerLayer: 64)
        let model = try LlamaModel(weights: LlamaWeights(gguf: gguf)) { name, m in
            RecordingLinear(name: name, inner: FloatLinear(m), recorder: recorder)
        }
        let seqs = try calibrationSequences(scored: .boolqPassages, tokenizer: try BPETokenizer(gguf: gguf), count: 2, length: 32)
        for s in seqs { var cache = model.makeCache(capacity: 32); _ = model.hiddenStates(s, cache: &cache) }
        for record in report.layers {
            let x = try #require(recorder.inputs(of: record.name))
            let cal = try Calibration(activations: x)
            #expect(cal.tokens == 64 && cal.secondMoment.count == cal.cols * cal.cols)
            #expect(cal.cols == (record.name.contains("ffn_down") ? 1536 : 576))
            #expect(record.report.calibrationTokens == 64)
            let w = try gguf.matrix(named: record.name, rows: record.report.rows, cols: record.report.cols)
            guard case let .ternary(t)? = file.tensors[record.name] else { Issue.record("not ternary"); continue }
            let expected = cal.relativeOutputError(reference: w, quantized: t.dequantized(), bias: t.bias)
            let got = try #require(record.report.outputError)
            #expect(abs(got - expected) < 1e-4 * expected, "\(record.name): reported \(got), from recorded X \(expected)")
            #expect(got > 0.01 && got < 1)
        }
    }

    /// PT²-LLM as its official pipeline calibrates: attn_output sees the block with attn_v
    /// already quantized (true-sequential), and GPTAQ's cross term pairs those inputs with the
    /// Float32 model's on the same tokens. Quantizing attn_output directly from statistics of
    /// inputs recorded that way gives the layer the run stored.
    @Test func pt2llmCalibratesTrueSequentiallyWithFullPrecisionInputs() throws {
        let v = "blk.0.attn_v.weight", o = "blk.0.attn_output.weight"
        let out = Self.tempPath("pt2llm.trit")
        let (report, file) = try ModelQuantization(options: Self.options("pt2llm", [:], layers: [v, o], out: out)).run()
        #expect(report.calibration?.mode == "true-sequential, with full-precision inputs (GPTAQ)")
        guard case let .ternary(storedV)? = file.tensors[v], case let .ternary(storedO)? = file.tensors[o] else {
            Issue.record("not ternary"); return
        }
        let gguf = try GGUFFile(path: Self.model)
        let seqs = try calibrationSequences(scored: .boolqPassages, tokenizer: try BPETokenizer(gguf: gguf), count: 2, length: 32)
        func record(replacingV: Bool) throws -> Matrix {
            let recorder = LinearInputRecorder(maxRowsPerLayer: 64)
            let model = try LlamaModel(weights: LlamaWeights(gguf: gguf)) { name, m in
                let layer = name == v && replacingV ? FloatLinear(storedV.dequantized()) : FloatLinear(m)
                return RecordingLinear(name: name, inner: layer, recorder: recorder)
            }
            for s in seqs { var cache = model.makeCache(capacity: 32); _ = model.hiddenStates(s, cache: &cache) }
            return try #require(recorder.inputs(of: o))
        }
        let quantizedStream = try record(replacingV: true), fullPrecision = try record(replacingV: false)
        #expect(quantizedStream.values != fullPrecision.values)
        var acc = Calibration.Accumulator(cols: 576)
        try acc.add(quantizedStream, fullPrecision: fullPrecision)
        let w = try gguf.matrix(named: o, rows: 576, cols: 576)
        let statistics = try acc.finish()
        // The statistics themselves match tightly: the error the run reports for the stored layer
        // is the one these statistics give it.
        let reported = try #require(report.layers.first { $0.name == o }?.report.outputError)
        let fromStatistics = statistics.relativeOutputError(reference: w, quantized: storedO.dequantized(), bias: storedO.bias)
        #expect(abs(reported - fromStatistics) < 1e-4 * fromStatistics, "reported \(reported), from recorded X \(fromStatistics)")
        let direct = try PT2LLMQuantizer().adapted(forLayer: o).quantizeLayer(w, calibration: statistics)
        guard case let .ternary(expected) = direct.layer else { Issue.record("not ternary"); return }
        // The run accumulates per sequence, the recorder in one batch, and BLAS sums in an order
        // of its choosing per host: equal up to rounding, which GPTQ's error feedback carries on
        // to a few trits near a threshold (0.26% on an AVX-512 Intel host). So the contract is
        // relative: the stored layer is far closer to the true-sequential one than to the layer
        // the Float32-only statistics give, and nearly identical to it in absolute terms.
        let n = expected.planes[0].count
        let differFromDirect = zip(storedO.planes[0], expected.planes[0]).filter { $0 != $1 }.count
        #expect(Double(differFromDirect) <= 0.01 * Double(n), "\(differFromDirect) of \(n) trits differ")
        #expect(expected.permutation == storedO.permutation || differFromDirect > 0)
        #expect(direct.report.details.stages?.contains("gptaq") == true)
        // Without the quantized attn_v in the stream the statistics differ, and so does the layer.
        let floatOnly = try PT2LLMQuantizer().quantizeLayer(w, calibration: try Calibration(activations: fullPrecision))
        guard case let .ternary(plain) = floatOnly.layer else { Issue.record("not ternary"); return }
        let differFromFloatOnly = zip(storedO.planes[0], plain.planes[0]).filter { $0 != $1 }.count
        #expect(differFromFloatOnly > 5 * max(differFromDirect, 20),
                "stored differs from true-sequential in \(differFromDirect), from Float32-only in \(differFromFloatOnly) trits")
        print("pt2llm attn_output: \(differFromDirect) trits differ from true-sequential, \(differFromFloatOnly) from Float32-only, of \(n)")
    }

    /// Which layers each default method ternarizes: every linear layer, except where a method
    /// row keeps some in full precision (PTQTP as released keeps q and k).
    @Test func methodsTernarizeTheLayersTheyClaim() {
        let names = (0..<2).flatMap { b in LlamaLinearName.allCases.map { $0.tensorName(block: b) } }
        for spec in MethodSpec.defaults(full: false) {
            let kept = names.filter { !spec.quantizes($0) }
            switch spec.id {
            case "reference": #expect(kept == names)
            case "ptqtp-keep-qk":
                #expect(kept == ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.1.attn_q.weight", "blk.1.attn_k.weight"])
            default: #expect(kept.isEmpty, "\(spec.id) keeps \(kept)")
            }
            #expect(!spec.follows.isEmpty)
        }
        #expect(Set(MethodSpec.defaults(full: false).map(\.id)).count == MethodSpec.defaults(full: false).count)
    }

    /// The QAT rows train with exactly `tritbench train --method M --tokens N`'s options (so the
    /// run reuses that command's checkpoint): N = 12288 by default, the --qat-tokens value when
    /// given, 131072 with --full; every other row is untouched by the budget.
    @Test(arguments: [(false, nil, MethodSpec.defaultTrainingTokens), (false, 131_072, 131_072),
                      (true, nil, MethodSpec.fullTrainingTokens), (false, 4096, 4096)])
    func qatRowsTrainOnTheRequestedBudget(full: Bool, tokens: Int?, expected: Int) throws {
        let rows = try RunPipeline.methods(full: full, selected: ["absmean-ste", "tequila", "ptqtp"], trainingTokens: tokens)
        #expect(rows.map(\.id) == ["reference", "ptqtp", "absmean-ste", "tequila"])
        for row in rows where row.training != nil {
            let o = try #require(row.training)
            #expect(o.tokens == expected)
            if !full {
                // What `train` builds from --method and --tokens alone.
                let form: TernaryTraining = row.id == "tequila" ? .tequila(lambda: 1e-3) : .absmean
                let train = TrainingOptions(form: form, tokens: expected)
                #expect(o == train, "\(row.id): the run's options differ from `train --tokens \(expected)`'s")
            }
        }
        #expect(rows.filter { $0.training == nil }.map(\.id) == ["reference", "ptqtp"])
    }

    /// The run's QAT rows look for checkpoints where `tritbench train` writes them (they once
    /// looked under stages/, so the run retrained what `train` had already trained).
    @Test func runAndTrainShareTheCheckpointDirectory() {
        let cache = CachePaths(root: "/tmp/tb-cache-root")
        #expect(StageCache(cache: cache).trainingCheckpointDirectory == "/tmp/tb-cache-root/train")
        #expect(cache.trainingCheckpointDirectory == "/tmp/tb-cache-root/train")
    }

    /// A kept layer stays out of the packed file and is counted in the report.
    @Test func keptLayersAreReportedAndNotPacked() throws {
        let out = Self.tempPath("keep.trit")
        let spec = MethodSpec.defaults(full: false).first { $0.id == "ptqtp-keep-qk" }!
        var o = Self.options("ptqtp", ["max_iter": "3"], layers: [], out: out, sequences: 0)
        o.layers = { $0.hasPrefix("blk.0.") && spec.quantizes($0) }
        let (report, file) = try ModelQuantization(options: o).run()
        #expect(!file.tensors.keys.contains("blk.0.attn_q.weight") && file.tensors.keys.contains("blk.0.attn_v.weight"))
        #expect(report.keptLayers?.contains("blk.0.attn_q.weight") == true)
        #expect(report.keptLayers?.contains("blk.0.ffn_up.weight") == false)
    }

    @Test func badInputsGiveClearErrorsBeforeAnyWork() throws {
        let out = Self.tempPath("x.trit")
        func message(_ o: ModelQuantizationOptions) -> String {
            do { _ = try ModelQuantization(options: o).run(); return "no error" } catch { return "\(error)" }
        }
        let all: Set = ["blk.0.attn_q.weight"]
        #expect(message(Self.options("ternary-magic", layers: all, out: out)).contains("unknown method 'ternary-magic'"))
        #expect(message(Self.options("rtn", ["bits": "5"], layers: all, out: out)).contains("parameter bits=5 is invalid"))
        #expect(message(Self.options("gptq", layers: all, out: out, sequences: 0)).contains("needs calibration"))
        var missing = Self.options("rtn", layers: all, out: out)
        missing.modelPath = "/nonexistent/model.gguf"
        #expect(message(missing).contains("/nonexistent/model.gguf does not exist"))
        #expect(message(Self.options("rtn", layers: all, out: "/nonexistent-dir/x.trit")).contains("directory /nonexistent-dir does not exist"))
        #expect(message(Self.options("rtn", layers: [], out: out, sequences: 0)).contains("selects none"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

@Suite("Method rows per model")
struct MethodRowsPerModelTests {
    /// Gemma 3: every post-training method, no QAT row (training runs Llama's block only), and
    /// the reference row names the file's storage.
    @Test func gemmaGetsThePostTrainingRows() throws {
        let path = CachePaths().root + "/model/gemma-3-270m-q4_k_m.gguf"
        let model = try ModelDescription(gguf: GGUFFile(path: path))
        let rows = try RunPipeline.methods(full: false, selected: nil, model: model)
        #expect(rows.allSatisfy { $0.training == nil })
        #expect(rows.map(\.id) == MethodSpec.defaults(full: false).filter { $0.training == nil }.map(\.id))
        #expect(rows[0].label == "Float32 reference (\(model.storage) dequantized)" && model.storage.contains("Q4_K"))
        #expect(RunPipeline.skippedMethodNotes(model: model, selected: nil).first?.contains("absmean-ste, tequila") == true)
        let smol = try ModelDescription(gguf: GGUFFile(path: CachePaths().defaultModel))
        #expect(try RunPipeline.methods(full: false, selected: nil, model: smol) == MethodSpec.defaults(full: false))
        #expect(RunPipeline.skippedMethodNotes(model: smol, selected: nil).isEmpty)
    }
}
