import ArgumentParser
import Foundation
import TritCore
import TritQuant

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize one weight matrix (.npy, rows = outputs) and report its errors and bits per weight.",
        discussion: "Methods: \(QuantizationMethod.names.joined(separator: ", ")). "
            + "gptq, pt2llm and tequila need --calib (tokens × input columns).")

    @Option(help: "2-D little-endian float32 .npy weight matrix, rows = outputs.") var matrix: String
    @Option(help: "Calibration activations .npy, tokens × input columns.") var calib: String?
    @Option(help: "Quantization method.") var method: String
    @Option(name: .customLong("param"), help: "Method parameter key=value (repeatable).") var params: [String] = []
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Option(help: "Write the dequantized matrix Ŵ to this .npy.") var dequantOut: String?

    func run() throws {
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
