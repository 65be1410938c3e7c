import Foundation
import Testing
import TritCore
import TritModel
@testable import TritTrain

/// Analytic gradients against central finite differences, in Double, on a tiny Llama.
@Suite struct GradientCheckTests {
    static let tiny = LlamaConfiguration(blockCount: 2, embeddingLength: 16, feedForwardLength: 24, headCount: 4, kvHeadCount: 2,
                                         ropeFreqBase: 10000, rmsNormEpsilon: 1e-5, contextLength: 16, vocabularySize: 23)

    static func randoms(_ n: Int, _ g: inout SeededGenerator, scale: Double) -> [Double] {
        (0..<n).map { _ in Double(g.nextGaussian()) * scale }
    }

    static func parameters(seed: UInt64 = 1) -> LlamaParameters<Double> {
        let c = tiny
        var g = SeededGenerator(seed: seed)
        let linear = (0..<c.blockCount).map { _ in
            LlamaLinearName.allCases.map { l -> [Double] in
                let s = LlamaWeights.shape(of: l, c)
                return randoms(s.0 * s.1, &g, scale: 0.3)
            }
        }
        func gains() -> [Double] { (0..<c.embeddingLength).map { _ in 1 + Double(g.nextGaussian()) * 0.1 } }
        return LlamaParameters(configuration: c, embedding: randoms(c.vocabularySize * c.embeddingLength, &g, scale: 1),
                               finalNorm: gains(), linear: linear,
                               attentionNorms: (0..<c.blockCount).map { _ in gains() },
                               feedForwardNorms: (0..<c.blockCount).map { _ in gains() })
    }

    static let batch: [[Int32]] = [[1, 5, 9, 2, 7, 3, 11], [4, 4, 18, 0, 22, 6, 1]]

    /// Largest |analytic − numeric| / max(|analytic|, |numeric|, 1e-6) over `probes` parameters
    /// of every tensor kind, with central differences of step h.
    static func worstRelativeError(pass: LlamaTrainingPass<Double>, probes: Int = 6, h: Double = 1e-5) throws -> Double {
        let p = parameters()
        var grads: LlamaGradients<Double>? = p.zeros()
        _ = try pass.loss(p, batch: batch, gradients: &grads)
        let g = grads!
        var worst = 0.0
        var rng = SeededGenerator(seed: 99)
        func check(_ analytic: Double, _ perturb: (inout LlamaParameters<Double>, Double) -> Void) throws {
            var plus = p, minus = p
            perturb(&plus, h); perturb(&minus, -h)
            var none: LlamaGradients<Double>? = nil
            let numeric = (try pass.loss(plus, batch: batch, gradients: &none) - pass.loss(minus, batch: batch, gradients: &none)) / (2 * h)
            worst = max(worst, abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-6))
        }
        for b in 0..<tiny.blockCount {
            for l in 0..<7 {
                for _ in 0..<probes {
                    let i = Int(rng.next() % UInt64(p.linear[b][l].count))
                    try check(g.linear[b][l][i]) { $0.linear[b][l][i] += $1 }
                }
            }
            for _ in 0..<probes {
                let j = Int(rng.next() % UInt64(tiny.embeddingLength))
                try check(g.attentionNorms[b][j]) { $0.attentionNorms[b][j] += $1 }
                try check(g.feedForwardNorms[b][j]) { $0.feedForwardNorms[b][j] += $1 }
            }
        }
        for j in 0..<tiny.embeddingLength { try check(g.finalNorm[j]) { $0.finalNorm[j] += $1 } }
        return worst
    }

    @Test func wholeModelGradientMatchesFiniteDifferences() throws {
        let worst = try Self.worstRelativeError(pass: LlamaTrainingPass<Double>(form: .float))
        #expect(worst < 1e-5, "worst relative error \(worst)")
    }

    /// Each deliberate mistake in one backward formula is caught by the same check.
    @Test(arguments: [BackwardFault.rmsNormWithoutScaleTerm, .siluDerivativeWithoutProductTerm, .softmaxWithoutRowCorrection])
    func aBrokenFormulaFailsTheCheck(fault: BackwardFault) throws {
        var pass = LlamaTrainingPass<Double>(form: .float)
        pass.fault = fault
        let worst = try Self.worstRelativeError(pass: pass)
        #expect(worst > 1e-2, "\(fault): worst relative error only \(worst)")
    }

    /// Block pieces alone: L = Σ y ⊙ R for a fixed random R, input gradients by finite differences.
    @Test func blockPiecesMatchFiniteDifferences() throws {
        var g = SeededGenerator(seed: 7)
        let t = 5, n = 8
        let x = Self.randoms(t * n, &g, scale: 1), gain = Self.randoms(n, &g, scale: 1), r = Self.randoms(t * n, &g, scale: 1)
        func normLoss(_ x: [Double]) -> Double { zip(RMSNormMath.forward(x, gain: gain, tokens: t, epsilon: 1e-5).y, r).map(*).reduce(0, +) }
        var dx = [Double](repeating: 0, count: x.count), dg = [Double](repeating: 0, count: n)
        RMSNormMath.backward(r, x: x, r: RMSNormMath.forward(x, gain: gain, tokens: t, epsilon: 1e-5).r, gain: gain, tokens: t,
                             dx: &dx, dg: &dg, fault: .none)
        for i in [0, 7, 13, 39] {
            var a = x, b = x; a[i] += 1e-6; b[i] -= 1e-6
            #expect(abs((normLoss(a) - normLoss(b)) / 2e-6 - dx[i]) < 1e-6 * max(1, abs(dx[i])))
        }
        // SwiGLU.
        let gate = Self.randoms(12, &g, scale: 2), up = Self.randoms(12, &g, scale: 1), ra = Self.randoms(12, &g, scale: 1)
        let (dgate, dup) = SwiGLUMath.backward(ra, gate: gate, up: up, fault: .none)
        for i in 0..<12 {
            var a = gate, b = gate; a[i] += 1e-6; b[i] -= 1e-6
            let num = (zip(SwiGLUMath.forward(gate: a, up: up), ra).map(*).reduce(0, +) - zip(SwiGLUMath.forward(gate: b, up: up), ra).map(*).reduce(0, +)) / 2e-6
            #expect(abs(num - dgate[i]) < 1e-6 * max(1, abs(num)))
            var c = up; c[i] += 1e-6
            let numU = (zip(SwiGLUMath.forward(gate: gate, up: c), ra).map(*).reduce(0, +) - zip(SwiGLUMath.forward(gate: gate, up: up), ra).map(*).reduce(0, +)) / 1e-6
            #expect(abs(numU - dup[i]) < 1e-5 * max(1, abs(numU)))
        }
        // Attention with rotation: through q, k and v of two sequences of 4 tokens.
        let heads = 4, kvHeads = 2, d = 4, seq = 4, seqs = 2
        let att = AttentionMath<Double>(heads: heads, kvHeads: kvHeads, headDimension: d, sequenceLength: seq)
        let rope = RotaryTable<Double>(headDimension: d, base: 10000, positions: seq)
        let q0 = Self.randoms(seqs * seq * heads * d, &g, scale: 1), k0 = Self.randoms(seqs * seq * kvHeads * d, &g, scale: 1)
        let v0 = Self.randoms(k0.count, &g, scale: 1), ro = Self.randoms(q0.count, &g, scale: 1)
        func attLoss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
            var qr = q, kr = k
            rope.apply(&qr, tokens: seqs * seq, sequenceLength: seq, heads: heads)
            rope.apply(&kr, tokens: seqs * seq, sequenceLength: seq, heads: kvHeads)
            return zip(att.forward(q: qr, k: kr, v: v, sequences: seqs).out, ro).map(*).reduce(0, +)
        }
        var qr = q0, kr = k0
        rope.apply(&qr, tokens: seqs * seq, sequenceLength: seq, heads: heads)
        rope.apply(&kr, tokens: seqs * seq, sequenceLength: seq, heads: kvHeads)
        let fwd = att.forward(q: qr, k: kr, v: v0, sequences: seqs)
        var (dq, dk, dv) = att.backward(ro, q: qr, k: kr, v: v0, probabilities: fwd.probabilities, sequences: seqs, fault: .none)
        rope.apply(&dq, tokens: seqs * seq, sequenceLength: seq, heads: heads, inverse: true)
        rope.apply(&dk, tokens: seqs * seq, sequenceLength: seq, heads: kvHeads, inverse: true)
        for i in stride(from: 0, to: q0.count, by: 7) {
            var a = q0, b = q0; a[i] += 1e-6; b[i] -= 1e-6
            #expect(abs((attLoss(a, k0, v0) - attLoss(b, k0, v0)) / 2e-6 - dq[i]) < 1e-6 * max(1, abs(dq[i])), "dq[\(i)]")
        }
        for i in stride(from: 0, to: k0.count, by: 5) {
            var a = k0, b = k0; a[i] += 1e-6; b[i] -= 1e-6
            #expect(abs((attLoss(q0, a, v0) - attLoss(q0, b, v0)) / 2e-6 - dk[i]) < 1e-6 * max(1, abs(dk[i])), "dk[\(i)]")
            var c = v0, e = v0; c[i] += 1e-6; e[i] -= 1e-6
            #expect(abs((attLoss(q0, k0, c) - attLoss(q0, k0, e)) / 2e-6 - dv[i]) < 1e-6 * max(1, abs(dv[i])), "dv[\(i)]")
        }
    }

    /// The STE forms: Tequila's deadzone weights receive λ·∂L/∂c (c_i = λ Σ_D W_ij, exactly the
    /// gradient of the bias path), reactivation's λ·dŴ; absmean only the straight-through term.
    @Test func steFormsRouteTheDeadzoneGradient() {
        let w: [Double] = [0.9, 0.05, -0.8, -0.02, 0.3, 0.0, 1.2, -0.6]   // 2 rows × 4, one group per row
        let dw: [Double] = [1, 2, 3, 4, 5, 6, 7, 8], dc: [Double] = [10, 20]
        let plain = EffectiveWeights(latent: w, rows: 2, cols: 4, groupSize: 4, form: .absmean)
        #expect(plain.deadzone == [false, true, false, true, false, true, false, false])   // row 1: s = 0.525, only 0.0 below s/2
        #expect(plain.latentGradient(dw, biasGradient: nil, cols: 4, form: .absmean) == dw)
        let tq = EffectiveWeights(latent: w, rows: 2, cols: 4, groupSize: 4, form: .tequila(lambda: 0.5))
        #expect(abs(tq.bias![0] - 0.5 * (0.05 - 0.02)) < 1e-15 && tq.bias![1] == 0)
        #expect(tq.latentGradient(dw, biasGradient: dc, cols: 4, form: .tequila(lambda: 0.5)) == [1.0, 7, 3, 9, 5, 16, 7, 8])   // + λ·dc on (0,1), (0,3), (1,1)
        let re = EffectiveWeights(latent: w, rows: 2, cols: 4, groupSize: 4, form: .reactivation(lambda: 0.5))
        #expect(re.weights[1] == 0.025 && re.bias == nil)
        #expect(re.latentGradient(dw, biasGradient: nil, cols: 4, form: .reactivation(lambda: 0.5))[1] == 3)
        #expect(abs(plain.deadzoneFraction - 3.0 / 8) < 1e-12)
    }
}
