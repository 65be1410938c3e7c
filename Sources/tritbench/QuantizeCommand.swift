import ArgumentParser
import Foundation
import TritCore
import TritModel
import TritQuant
import TritRun

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize one weight matrix (--matrix) or every linear layer of a GGUF model (--model --out).",
        discussion: "Methods: \(QuantizationMethod.names.joined(separator: ", ")). "
            + "With --matrix, gptq, pt2llm and tequila need --calib (tokens × input columns). "
            + "With --model, calibration activations are captured from the Float32 model on text that is not scored "
            + "(--calib-tokens, default 4096 = 16 × 256) and every method's output error is reported.")

    @Option(help: "2-D little-endian float32 .npy weight matrix, rows = outputs.") var matrix: String?
    @Option(help: "Llama-family GGUF model: quantize all its linear layers.") var model: String?
    @Option(help: "Packed model file to write (with --model).") var out: String?
    @Option(help: "Calibration tokens with --model (multiple of --calib-length; 0 = none, for methods that do not need it).")
    var calibTokens = 4096
    @Option(help: "Tokens per calibration sequence.") var calibLength = 256
    @Option(help: "The perplexity text that will be scored (boolq or lambada); calibration uses the other.")
    var scored = "boolq"
    @Flag(inversion: .prefixedNo, help: "Calibrate each block on the outputs of the already quantized blocks (GPTQ-style).")
    var sequential = true
    @Option(help: "Only the linear tensors whose name contains one of these comma-separated strings (e.g. blk.0.).")
    var layers: String?
    @Flag(help: "With --model, print every layer instead of the summary.") var allLayers = false
    @Option(help: "Calibration activations .npy, tokens × input columns.") var calib: String?
    @Option(help: "Quantization method.") var method: String
    @Option(name: .customLong("param"), help: "Method parameter key=value (repeatable).") var params: [String] = []
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Option(help: "Write the dequantized matrix Ŵ to this .npy.") var dequantOut: String?
    @Option(help: "OpenBLAS threads for calibration and the Hessian work (1-256).") var threads = 1

    func validate() throws {
        try OptionCheck.range("threads", threads, 1...maximumThreads)
        try OptionCheck.range("calib-length", calibLength, 1...(1 << 20))
        try OptionCheck.range("calib-tokens", calibTokens, 0...(1 << 30))
        // The method and its parameters are options too: a bad one is a usage error (exit 64).
        do { _ = try QuantizationMethod.named(method).quantizer(parameters: try QuantizationParameters.parse(params)) }
        catch { throw ValidationError(TextEscaping.terminal("\(error)")) }
        // No output may be an input (by path, symbolic link or hard link): refused before any work.
        try OptionCheck.distinct(outputs: [("out", out), ("dequant-out", dequantOut)],
                                 inputs: [("model", model), ("matrix", matrix), ("calib", calib)])
    }

    func run() throws {
        if model != nil || out != nil {
            guard matrix == nil, calib == nil, dequantOut == nil else {
                throw fail(ValidationError("--model cannot be combined with --matrix, --calib or --dequant-out"))
            }
            guard let model, let out else { throw fail(ValidationError("--model needs --out <file> (and --out needs --model)")) }
            return try runModel(model: model, out: out)
        }
        guard let matrix else { throw fail(ValidationError("give --matrix W.npy or --model <gguf> --out <file>")) }
        do {
            let quantizer = try QuantizationMethod.named(method).quantizer(parameters: try QuantizationParameters.parse(params))
            let w = try NPY.read(path: matrix)
            let cal = try calib.map { try Calibration(activations: try NPY.read(path: $0)) }
            let result = try quantizer.quantizeLayer(w, calibration: cal)
            if let out = dequantOut { try NPY.write(result.layer.dequantized(), to: out) }
            if json { try printJSON(result.report) } else { print(Self.text(result.report), terminator: "") }
        } catch {
            throw fail(error)
        }
    }

    func runModel(model: String, out: String) throws {
        do {
            guard calibTokens >= 0, calibLength >= 1, calibTokens % calibLength == 0 else {
                throw ValidationError("--calib-tokens (\(calibTokens)) must be a non-negative multiple of --calib-length (\(calibLength))")
            }
            let source = PerplexitySource(argument: scored)
            if case .file = source { throw ValidationError("--scored must be boolq or lambada, got '\(scored)'") }
            let filters = layers.map { $0.split(separator: ",").map(String.init) }
            guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1 to 256; got \(threads)") }
            var options = ModelQuantizationOptions(
                modelPath: model, method: method, parameters: try QuantizationParameters.parse(params), outputPath: out,
                calibrationSequences: calibTokens / calibLength, calibrationSequenceLength: calibLength, scored: source,
                sequential: sequential, layers: { name in filters.map { $0.contains { name.contains($0) } } ?? true })
            options.threads = threads
            let report = try ModelQuantization(options: options).run().report
            if json { try printJSON(report) } else { print(Self.text(report, allLayers: allLayers), terminator: "") }
        } catch {
            throw fail(error)
        }
    }

    static func text(_ r: ModelQuantizationReport, allLayers: Bool) -> String {
        func f(_ v: Double?, _ p: Int = 4) -> String { v.map { String(format: "%.\(p)f", $0) } ?? "n/a" }
        var s = "method           \(r.method)\n"
        s += "parameters       " + r.parameters.keys.sorted().map { "\($0)=\(r.parameters[$0]!)" }.joined(separator: " ") + "\n"
        s += "model            \(r.model)\n"
        if let c = r.calibration {
            s += "calibration      \(c.tokens) tokens (\(c.sequences) × \(c.sequenceLength)) of \(c.source), not scored (scored: \(c.scoredSource)); \(c.mode) inputs; \(f(c.seconds, 1))s\n"
        } else {
            s += "calibration      none (output error not measured)\n"
        }
        s += "layers           \(r.layers.count), \(r.weightCount) weights\n"
        s += "mean rel error   \(f(r.meanErrors().relative))   mean output error \(f(r.meanErrors().output))\n"
        s += "bits per weight  \(f(r.bitsPerWeight)) (all quantized linear weights, side data included)\n"
        s += "storage          \(r.storage)\n"
        s += "output           \(r.output) (\(r.fileBytes) bytes)\n"
        s += "time             quantize \(f(r.quantizeSeconds, 1))s, total \(f(r.totalSeconds, 1))s\n"
        s += "peak RSS         \(r.peakRSSBytes / (1 << 20)) MiB\n"
        let details = r.layers.map(\.report.details)
        if let steps = details.compactMap(\.tequilaSteps).max() {
            let secs = details.compactMap(\.tequilaSeconds).reduce(0, +)
            s += "tequila training \(steps) Adam steps per layer on \(details.compactMap(\.tequilaTokens).max() ?? 0) calibration tokens (via H, m); \(f(secs, 1))s training in all\n"
        }
        let iters = details.compactMap(\.ptqtpMeanIterations)
        if !iters.isEmpty {
            s += "ptqtp iterations mean \(f(iters.reduce(0, +) / Double(iters.count), 2)), max \(details.compactMap(\.ptqtpIterations).max() ?? 0)\n"
        }
        s += "\nby layer kind    rel error  output error\n"
        for kind in LlamaLinearName.allCases where r.layers.contains(where: { $0.name.contains(".\(kind.rawValue).") }) {
            let m = r.meanErrors(kind: ".\(kind.rawValue).")
            s += "  " + kind.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0) + " \(f(m.relative))     \(f(m.output))\n"
        }
        let key: (LayerQuantizationRecord) -> Double = { $0.report.outputError ?? $0.report.relativeError }
        let shown = allLayers ? r.layers : Array(r.layers.sorted { key($0) > key($1) }.prefix(10))
        s += allLayers ? "\nlayers\n" : "\nworst \(shown.count) layers by \(r.calibration == nil ? "relative" : "output") error (all with --all-layers or --json)\n"
        s += "  name                         shape        rel error  out error  bpw     seconds\n"
        for l in shown {
            let q = l.report
            s += "  " + l.name.padding(toLength: 28, withPad: " ", startingAt: 0) + " "
                + "\(q.rows)×\(q.cols)".padding(toLength: 12, withPad: " ", startingAt: 0)
                + " \(f(q.relativeError))     \(f(q.outputError))     \(f(q.bitsPerWeight, 3))   \(f(q.seconds, 2))\n"
        }
        return s
    }

    static func text(_ r: QuantizationReport) -> String {
        var s = "method           \(r.method)\n"
        s += "shape            \(r.rows) x \(r.cols)\n"
        s += String(format: "relative error   %.6f\n", r.relativeError)
        s += "output error     " + (r.outputError.map { String(format: "%.6f", $0) } ?? "n/a (no --calib)") + "\n"
        s += String(format: "bits per weight  %.4f\n", r.bitsPerWeight)
        s += String(format: "seconds          %.3f\n", r.seconds)
        if let t = r.calibrationTokens { s += "calib tokens     \(t)\n" }
        s += "parameters       " + r.parameters.keys.sorted().map { "\($0)=\(r.parameters[$0]!)" }.joined(separator: " ") + "\n"
        let d = r.details
        if let it = d.ptqtpIterations { s += "ptqtp iterations max \(it), mean \(String(format: "%.2f", d.ptqtpMeanIterations ?? 0))\n" }
        if let st = d.stages { s += "stages           \(st.joined(separator: " → "))\n" }
        if let it = d.itfRounds { s += "itf rounds       max \(it), mean \(String(format: "%.2f", d.itfMeanRounds ?? 0))\n" }
        if let steps = d.tequilaSteps {
            s += "tequila training \(steps) steps on \(d.tequilaTokens ?? 0) tokens in \(String(format: "%.2f", d.tequilaSeconds ?? 0))s; "
            s += String(format: "loss %.6g → %.6g\n", d.tequilaInitialLoss ?? .nan, d.tequilaFinalLoss ?? .nan)
        }
        return s
    }
}
