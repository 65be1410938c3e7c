import Foundation
import Testing
import TritCore
import TritKernels
@testable import TritQuant

@Suite("Baselines: absmean, TWN, RTN, bits per weight, input checks")
struct BaselineTests {
    /// One row, hand-computed: mean|w| = 0.475.
    /// absmean: Δ = 0.2375 → t = [1, 0, 1, −1], s = 0.475.
    /// TWN: Δ = 0.3325 → t = [1, 0, 0, −1], α = (0.9 + 0.6) / 2 = 0.75.
    @Test func absmeanAndTWNOnAHandCheckedRow() throws {
        let w = Matrix(rows: 1, cols: 4, values: [0.9, -0.1, 0.3, -0.6])
        let abs = try SymmetricTernaryQuantizer(method: "absmean", parameters: ["granularity": "row"]).quantizeLayer(w)
        guard case let .ternary(a) = abs.layer else { Issue.record("absmean must be ternary"); return }
        #expect(a.planes == [[1, 0, 1, -1]])
        #expect(Swift.abs(a.scales[0][0] - 0.475) < 1e-3)
        let twn = try SymmetricTernaryQuantizer(method: "twn", parameters: [:]).quantizeLayer(w)
        guard case let .ternary(t) = twn.layer else { Issue.record("twn must be ternary"); return }
        #expect(t.planes == [[1, 0, 0, -1]])
        #expect(t.scales[0][0] == 0.75)
        #expect(twn.layer.dequantized().values == [0.75, 0, 0, -0.75])
    }

    /// Per-tensor, per-row and per-group scales differ exactly as defined.
    @Test func absmeanGranularities() throws {
        // Row 0: mean|w| = 1 (both groups 1); row 1: group 0 mean 2, group 1 mean 4 → row mean 3.
        let w = Matrix(rows: 2, cols: 4, values: [1, -1, 1, -1, 2, -2, 4, -4])
        func scales(_ g: String) throws -> [Float] {
            let r = try SymmetricTernaryQuantizer(method: "absmean", parameters: ["granularity": g, "group": "2"]).quantizeLayer(w)
            guard case let .ternary(t) = r.layer else { return [] }
            return t.scales[0]
        }
        #expect(try scales("tensor") == [2, 2])
        #expect(try scales("row") == [1, 3])
        #expect(try scales("group") == [1, 1, 2, 4])
    }

    /// RTN on a group whose grid is exact: 2 bits over [−1, 2] gives scale 1, zero 1.
    @Test func rtnReproducesAnExactGrid() throws {
        let w = Matrix(rows: 1, cols: 4, values: [-1, 0, 1, 2])
        let r = try RTNQuantizer(parameters: ["bits": "2"]).quantizeLayer(w)
        guard case let .uniform(u) = r.layer else { Issue.record("rtn must be uniform"); return }
        #expect(u.scales == [1] && u.zeros == [1] && u.codes == [0, 1, 2, 3])
        #expect(r.report.relativeError == 0)
    }

    /// Bits per weight count the trits at the packed density plus every piece of side data.
    @Test func bitsPerWeightAccounting() throws {
        let w = Fixtures.weights(rows: 8, cols: 256, seed: 1)
        let cal = try Fixtures.calibration(tokens: 256, cols: 256, seed: 2)
        func bpw(_ m: String, _ p: [String: String] = [:]) throws -> Double {
            try QuantizationMethod.named(m).quantizer(parameters: p).quantizeLayer(w, calibration: cal).report.bitsPerWeight
        }
        let eps = 1e-12
        #expect(Swift.abs(try bpw("absmean") - (1.6 + 16.0 / 128)) < eps)
        #expect(Swift.abs(try bpw("absmean", ["granularity": "row"]) - (1.6 + 16.0 / 256)) < eps)
        #expect(Swift.abs(try bpw("ptqtp") - (3.2 + 32.0 / 128)) < eps)
        #expect(Swift.abs(try bpw("rtn", ["bits": "3"]) - (3 + 19.0 / 128)) < eps)
        #expect(Swift.abs(try bpw("gptq", ["bits": "ternary"]) - (1.6 + 16.0 / 128)) < eps)
        #expect(Swift.abs(try bpw("tequila-untrained") - (1.6 + 16.0 / 128 + 16.0 / 256)) < eps)
        // PT²-LLM: scale and offset per group, plus one int16 index per column when SSR reorders.
        #expect(Swift.abs(try bpw("pt2llm", ["ssr": "off"]) - (1.6 + 32.0 / 128)) < eps)
        #expect(Swift.abs(try bpw("pt2llm") - (1.6 + 32.0 / 128 + 256.0 * 16 / (8 * 256))) < eps)
    }

    @Test func nonFiniteWeightsAreRejected() throws {
        var w = Fixtures.weights(rows: 4, cols: 8, seed: 3)
        w[2, 5] = .nan
        for method in QuantizationMethod.allCases {
            let q = try method.quantizer()
            #expect(throws: QuantizationError.nonFiniteWeight(index: 21, row: 2, col: 5)) {
                _ = try q.quantizeLayer(w, calibration: try Fixtures.calibration(tokens: 32, cols: 8, seed: 4))
            }
        }
        #expect(QuantizationError.nonFiniteWeight(index: 21, row: 2, col: 5).description.contains("row 2, column 5"))
    }

    @Test func parameterAndCalibrationErrors() throws {
        #expect(throws: QuantizationError.self) { _ = try QuantizationMethod.named("tequila2") }
        #expect(throws: QuantizationError.unknownParameter(method: "rtn", key: "grup", allowed: ["bits", "group"])) {
            _ = try QuantizationMethod.rtn.quantizer(parameters: ["grup": "64"])
        }
        #expect(throws: QuantizationError.badParameter(method: "rtn", key: "bits", value: "5", expected: "one of 2, 3, 4")) {
            _ = try QuantizationMethod.rtn.quantizer(parameters: ["bits": "5"])
        }
        #expect(throws: QuantizationError.malformedParameter(text: "bits")) { _ = try QuantizationParameters.parse(["bits"]) }
        let w = Fixtures.weights(rows: 4, cols: 16, seed: 5)
        #expect(throws: QuantizationError.calibrationRequired(method: "gptq")) {
            _ = try QuantizationMethod.gptq.quantizer().quantizeLayer(w)
        }
        #expect(throws: QuantizationError.calibrationShape(expectedCols: 16, got: 8)) {
            _ = try QuantizationMethod.twn.quantizer().quantizeLayer(w, calibration: try Fixtures.calibration(tokens: 16, cols: 8, seed: 6))
        }
    }

    /// Every method gives bit-identical results on a second run with the same seeded input.
    @Test func everyMethodIsDeterministic() throws {
        let w = Fixtures.weights(rows: 24, cols: 192, seed: 7)
        let cal = try Fixtures.calibration(tokens: 256, cols: 192, seed: 8)
        for method in QuantizationMethod.allCases {
            let params: [String: String] = method == .deadzoneLayerwise ? ["steps": "20"] : [:]
            let a = try method.quantizer(parameters: params).quantizeLayer(w, calibration: cal)
            let b = try method.quantizer(parameters: params).quantizeLayer(w, calibration: cal)
            #expect(a.layer == b.layer, "\(method.rawValue) is not deterministic")
            #expect(a.report.relativeError == b.report.relativeError)
            #expect(a.report.relativeError > 0 && (a.report.outputError ?? 1) < 1, "\(method.rawValue): \(a.report)")
        }
    }

    /// The JSON the CLI prints: required keys present, output_error null without calibration,
    /// and the untrained Tequila variant never reported as "tequila".
    @Test func reportJSON() throws {
        let w = Fixtures.weights(rows: 4, cols: 32, seed: 9)
        let r = try QuantizationMethod.tequilaUntrained.quantizer().quantizeLayer(w).report
        let obj = try JSONSerialization.jsonObject(with: try JSONCoding.encode(r)) as! [String: Any]
        for key in ["method", "relative_error", "output_error", "bits_per_weight", "seconds", "parameters"] {
            #expect(obj.keys.contains(key), "missing \(key)")
        }
        #expect(obj["output_error"] is NSNull)
        #expect(obj["method"] as? String == "tequila-untrained")
        let withCal = try QuantizationMethod.rtn.quantizer().quantizeLayer(w, calibration: try Fixtures.calibration(tokens: 64, cols: 32, seed: 10)).report
        let obj2 = try JSONSerialization.jsonObject(with: try JSONCoding.encode(withCal)) as! [String: Any]
        #expect((obj2["output_error"] as? Double).map { $0 > 0 } == true)
        #expect(try JSONCoding.decoder().decode(QuantizationReport.self, from: try JSONCoding.encode(withCal)) == withCal)
    }

    /// The output error from H and m equals a direct ‖WX − ŴX − c‖ / ‖WX‖ over the tokens.
    @Test func outputErrorIdentityMatchesDirectComputation() throws {
        let w = Fixtures.weights(rows: 6, cols: 40, seed: 11)
        let x = Fixtures.activations(tokens: 100, cols: 40, seed: 12)
        let cal = try Calibration(activations: x)
        var wq = w
        for i in 0..<wq.values.count { wq.values[i] = (wq.values[i] * 10).rounded() / 10 }
        let bias: [Float] = [0.1, -0.2, 0.05, 0, 0.3, -0.1]
        let y = LinearAlgebra.matmulTransposed(x, w), yq = LinearAlgebra.matmulTransposed(x, wq)
        var num = 0.0, den = 0.0
        for t in 0..<100 { for i in 0..<6 {
            let a = Double(y[t, i]), b = Double(yq[t, i]) + Double(bias[i])
            num += (a - b) * (a - b); den += a * a
        } }
        let direct = (num / den).squareRoot()
        let viaH = cal.relativeOutputError(reference: w, quantized: wq, bias: bias)
        #expect(Swift.abs(viaH - direct) < 1e-4 * direct)
    }
}
