import Foundation
import Testing
import TritCore
@testable import TritQuant

/// PT²-LLM's default against a plain, hand-written reference of the official update.
@Suite struct PT2LLMOfficialTests {
    /// Upper Cholesky factor U (A = Uᵀ U) of a symmetric positive definite n × n matrix.
    static func upperCholesky(_ a: [Double], _ n: Int) -> [Double] {
        var u = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            var d = a[i * n + i]
            for k in 0..<i { d -= u[k * n + i] * u[k * n + i] }
            u[i * n + i] = d.squareRoot()
            for j in (i + 1)..<max(n, i + 1) {
                var s = a[i * n + j]
                for k in 0..<i { s -= u[k * n + i] * u[k * n + j] }
                u[i * n + j] = s / u[i * n + i]
            }
        }
        return u
    }

    /// A⁻¹ of a symmetric positive definite matrix by Gauss–Jordan elimination.
    static func inverse(_ a: [Double], _ n: Int) -> [Double] {
        var m = a, inv = [Double](repeating: 0, count: n * n)
        for i in 0..<n { inv[i * n + i] = 1 }
        for c in 0..<n {
            let p = m[c * n + c]
            for j in 0..<n { m[c * n + j] /= p; inv[c * n + j] /= p }
            for r in 0..<n where r != c {
                let f = m[r * n + c]
                if f == 0 { continue }
                for j in 0..<n { m[r * n + j] -= f * m[c * n + j]; inv[r * n + j] -= f * inv[c * n + j] }
            }
        }
        return inv
    }

    /// The official loop, static order, in Double: U from (H + damp)⁻¹ once, P = α triu₁(D Uᵀ) U,
    /// each 128-column block fitted once (init, ITF, AGA, α and μ in fp16) on its current weights,
    /// then Err = (W_B − Q_B) / diag(U_BB) and W_R −= Err · U_BR − Q_B · P_BR.
    static func officialReference(_ w: Matrix, _ cal: Calibration, alpha: Double) -> [Double] {
        let n = w.rows, d = w.cols, bs = 128
        var h = cal.secondMoment.map { 2 * $0 }
        let damp = 0.01 * (0..<d).map { h[$0 * d + $0] }.reduce(0, +) / Double(d)
        for i in 0..<d { h[i * d + i] += damp }
        let u = upperCholesky(inverse(h, d), d)
        let dm = cal.asymmetricCross!.map { 2 * $0 }
        var m = [Double](repeating: 0, count: d * d)   // D Uᵀ, strictly upper part only
        for a in 0..<d { for c in (a + 1)..<max(d, a + 1) {
            var s = 0.0
            for k in c..<d { s += dm[a * d + k] * u[c * d + k] }
            m[a * d + c] = s
        } }
        var p = [Double](repeating: 0, count: d * d)
        for a in 0..<d { for j in 0..<d {
            var s = 0.0
            for c in (a + 1)..<max(j + 1, a + 1) { s += m[a * d + c] * u[c * d + j] }
            p[a * d + j] = alpha * s
        } }
        var work = w.values.map { Double($0) }
        var q = [Double](repeating: 0, count: n * d)
        for start in stride(from: 0, to: d, by: bs) {
            // The block fit, through the quantizer's own pieces (the fit is not what is tested).
            var block = Matrix(rows: n, cols: bs)
            for i in 0..<n { for k in 0..<bs { block.values[i * bs + k] = Float(work[i * d + start + k]) } }
            var state = PT2LLMBlockState(rows: n, cols: d, blockSize: bs, itf: true, aga: true, fixedWithinBlock: true, maxRounds: 100)
            try! state.beginBlock(index: start / bs, start: start, weights: block,
                                  secondMoment: cal.secondMoment(restrictedTo: Array(start..<(start + bs))))
            var col = [Float](repeating: 0, count: n)
            for k in 0..<bs {
                col.withUnsafeMutableBufferPointer { state.quantizeColumn(k, start: start, values: $0) }
                for i in 0..<n { q[i * d + start + k] = Double(col[i]) }
            }
            let end = start + bs
            guard end < d else { break }
            for i in 0..<n {
                for j in end..<d {
                    var delta = 0.0
                    for k in start..<end {
                        let err = (work[i * d + k] - q[i * d + k]) / u[k * d + k]
                        delta += err * u[k * d + j] - q[i * d + k] * p[k * d + j]
                    }
                    work[i * d + j] -= delta
                }
            }
        }
        return q
    }

    static func layer() throws -> (Matrix, Calibration) {
        let w = Fixtures.weights(rows: 16, cols: 384, seed: 401)
        let x = Fixtures.activations(tokens: 768, cols: 384, seed: 402)
        // The full-precision inputs differ from the quantized model's by a correlated error.
        let noise = Fixtures.activations(tokens: 768, cols: 384, seed: 403)
        var xf = x
        for i in 0..<xf.count { xf.values[i] += 0.1 * noise.values[i] }
        var acc = Calibration.Accumulator(cols: 384)
        try acc.add(x, fullPrecision: xf)
        return (w, try acc.finish())
    }

    @Test func defaultMatchesTheHandWrittenOfficialUpdate() throws {
        let (w, cal) = try Self.layer()
        let reference = Self.officialReference(w, cal, alpha: 0.25)
        let ours = try PT2LLMQuantizer(parameters: ["ssr": "off"]).quantizeLayer(w, calibration: cal)
        #expect(ours.report.details.stages == ["init", "itf", "aga", "gptaq"])
        let deq = ours.layer.dequantized()
        var agree = 0, scale = 0.0, worst = 0.0
        for i in 0..<reference.count {
            if Swift.abs(Double(deq.values[i]) - reference[i]) < 1e-4 { agree += 1 }
            worst = max(worst, Swift.abs(Double(deq.values[i]) - reference[i])); scale = max(scale, Swift.abs(reference[i]))
        }
        // Float32 propagation against Double: rare grid flips are allowed, systematic ones not.
        #expect(Double(agree) >= 0.995 * Double(reference.count), "\(agree) of \(reference.count) agree; worst \(worst) at scale \(scale)")

        // The test sees the GPTAQ term and the fit-once update: leaving either out disagrees.
        for variant in [["ssr": "off", "gptaq": "off"], ["ssr": "off", "intra_block": "propagate"]] {
            let other = try PT2LLMQuantizer(parameters: variant).quantizeLayer(w, calibration: cal).layer.dequantized()
            let same = (0..<reference.count).filter { Swift.abs(Double(other.values[$0]) - reference[$0]) < 1e-4 }.count
            #expect(Double(same) < 0.95 * Double(reference.count), "\(variant): \(same) of \(reference.count) agree")
        }
    }

    /// E[(x̃ − x) xᵀ] from the accumulator equals the direct sum, across batches.
    @Test func crossMomentAccumulates() throws {
        let x = Fixtures.activations(tokens: 50, cols: 7, seed: 11), xf = Fixtures.activations(tokens: 50, cols: 7, seed: 12)
        var acc = Calibration.Accumulator(cols: 7)
        try acc.add(Matrix(rows: 20, cols: 7, values: Array(x.values[0..<140])), fullPrecision: Matrix(rows: 20, cols: 7, values: Array(xf.values[0..<140])))
        try acc.add(Matrix(rows: 30, cols: 7, values: Array(x.values[140...])), fullPrecision: Matrix(rows: 30, cols: 7, values: Array(xf.values[140...])))
        let cal = try acc.finish()
        for a in 0..<7 { for b in 0..<7 {
            var s = 0.0
            for t in 0..<50 { s += Double(xf[t, a] - x[t, a]) * Double(x[t, b]) }
            #expect(Swift.abs(cal.asymmetricCross![a * 7 + b] - s / 50) < 1e-4 * max(1, Swift.abs(s / 50)))
        } }
        var mixed = Calibration.Accumulator(cols: 7)
        try mixed.add(x, fullPrecision: xf)
        #expect(throws: QuantizationError.self) { try mixed.add(x) }
    }

    /// ffn_down keeps its column order (the official code skips SSR there); other layers reorder.
    @Test func ssrIsSkippedOnFFNDown() throws {
        let q = try PT2LLMQuantizer()
        #expect((q.adapted(forLayer: "blk.3.ffn_down.weight") as! PT2LLMQuantizer).ssr == false)
        #expect((q.adapted(forLayer: "blk.3.ffn_gate.weight") as! PT2LLMQuantizer).ssr == true)
        #expect((try PT2LLMQuantizer(parameters: ["ssr_skip": "none"]).adapted(forLayer: "blk.3.ffn_down.weight") as! PT2LLMQuantizer).ssr)
    }
}
