import Foundation
import Testing
import TritCore
import TritKernels
import TritModel
@testable import TritTrain

@Suite struct TrainingTests {
    static func floatParameters(seed: UInt64 = 3) -> LlamaParameters<Float> {
        let d = GradientCheckTests.parameters(seed: seed)
        func f(_ a: [Double]) -> [Float] { a.map { Float($0) } }
        return LlamaParameters(configuration: d.configuration, embedding: f(d.embedding), finalNorm: f(d.finalNorm),
                               linear: d.linear.map { $0.map(f) }, attentionNorms: d.attentionNorms.map(f),
                               feedForwardNorms: d.feedForwardNorms.map(f))
    }

    /// A few Adam steps on one repeated batch lower the loss, for each training form; Tequila
    /// moves deadzone weights that absmean-STE leaves with their plain STE gradient.
    @Test(arguments: [TernaryTraining.float, .absmean, .tequila(lambda: 0.05), .reactivation(lambda: 0.05)])
    func adamStepsLowerTheLoss(form: TernaryTraining) throws {
        var p = Self.floatParameters()
        var o = TrainingOptions(form: form, tokens: 12 * 14)
        o.sequenceLength = 6; o.batchSequences = 2; o.learningRate = form == .float ? 3e-3 : 1e-2; o.groupSize = 8
        var state = TrainingState(parameters: p)
        let pass = LlamaTrainingPass<Float>(form: form, groupSize: 8)
        var grads: LlamaGradients<Float>? = p.zeros()
        var losses: [Double] = []
        for _ in 0..<o.steps {
            grads!.zero()
            losses.append(try pass.loss(p, batch: GradientCheckTests.batch, gradients: &grads))
            state.apply(grads!, to: &p, options: o)
            state.step += 1
        }
        #expect(losses.last! < 0.8 * losses.first!, "\(form.name): \(losses)")
    }

    @Test func scheduleWarmsUpHoldsAndDecays() {
        var o = TrainingOptions(form: .absmean, tokens: 1024 * 20)
        o.sequenceLength = 256; o.batchSequences = 4
        #expect(o.steps == 20)
        #expect(o.learningRate(at: 0) == o.learningRate / 2 && o.learningRate(at: 1) == o.learningRate)
        #expect(o.learningRate(at: 10) == o.learningRate)
        #expect(abs(o.learningRate(at: 16) - o.learningRate) < 1e-12 && o.learningRate(at: 19) == o.learningRate / 4)
    }

    /// A checkpoint restores weights, moments and progress exactly; one of another model is refused.
    @Test func checkpointRoundTripsAndRefusesOtherShapes() throws {
        var s = TrainingState(parameters: Self.floatParameters())
        s.step = 7; s.seconds = 12.5; s.losses = [3, 2.5]
        s.curve = [CurvePoint(tokens: 0, heldOutPerplexity: 40, deadzoneFraction: 0.3)]
        s.m[1][4][5] = 0.25; s.v[0][6][2] = 0.125; s.parameters.linear[1][3][0] = -7
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tb-ckpt-\(UUID()).ckpt").path
        defer { unlink(path) }
        try s.write(to: path)
        let r = try #require(try TrainingState.resume(path: path, parameters: Self.floatParameters()))
        #expect(r.step == 7 && r.seconds == 12.5 && r.losses == [3, 2.5] && r.curve == s.curve)
        #expect(r.parameters.linear == s.parameters.linear && r.m == s.m && r.v == s.v)
        var other = Self.floatParameters()
        other.linear[0][0].removeLast()
        #expect(throws: TrainingError.self) { try TrainingState.resume(path: path, parameters: other) }
        #expect(try TrainingState.resume(path: path + ".none", parameters: other) == nil)
    }

    /// The packed model holds what the training forward used: absmean trits and scales, and
    /// Tequila's bias, up to fp16 side data.
    @Test func packedModelIsTheTrainedForward() throws {
        let p = Self.floatParameters()
        let file = try Trainer.packedModel(p, form: .tequila(lambda: 0.05), groupSize: 8, sourcePath: "x", sourceSHA256: "00", parameters: [:])
        let (rows, cols) = LlamaParameters<Float>.shape(.gate, p.configuration)
        let w = EffectiveWeights(latent: p.linear[1][4], rows: rows, cols: cols, groupSize: 8, form: .tequila(lambda: 0.05))
        guard case let .ternary(t)? = file.tensors["blk.1.ffn_gate.weight"] else { Issue.record("missing"); return }
        let deq = t.dequantized()
        for i in 0..<(rows * cols) { #expect(abs(deq.values[i] - w.weights[i]) <= 1e-3 * abs(w.weights[i]) + 1e-6) }
        for r in 0..<rows { #expect(abs(t.bias![r] - w.bias![r]) <= 1e-3 * abs(w.bias![r]) + 1e-6) }
        #expect(file.bitsPerWeight > 1.6 && file.bitsPerWeight < 6)
    }

    /// The work per token is counted from the shapes: on SmolLM2-135M's configuration, 30 blocks
    /// of 3,538,944 linear weights (6 flops each: forward, input and weight gradients), the tied
    /// 49152 × 576 head (forward and input gradient), and recomputation adds one more forward.
    @Test func workPerTokenIsCountedFromTheShapes() {
        let c = LlamaConfiguration(blockCount: 30, embeddingLength: 576, feedForwardLength: 1536, headCount: 9, kvHeadCount: 3,
                                   ropeFreqBase: 100000, rmsNormEpsilon: 1e-5, contextLength: 2048, vocabularySize: 49152)
        let kept = TrainingWork(configuration: c, sequenceLength: 256, keepActivations: true)
        #expect(kept.linear == 6 * 106_168_320)
        #expect(kept.head == 4 * 49152 * 576)
        #expect(kept.recomputed == 0)
        // Attention: 2 products × 2·576 flops × 128.5 positions × 30 blocks forward, 3× that in all.
        #expect(kept.attention == 3 * 2 * 2 * 576 * 128.5 * 30)
        let recomputed = TrainingWork(configuration: c, sequenceLength: 256, keepActivations: false)
        #expect(recomputed.recomputed == 2 * 106_168_320 + kept.attention / 3)
        #expect(recomputed.perToken > kept.perToken)
    }

    /// The phases of a loss call add up to its wall time, each measured (the backward only when
    /// gradients are asked for).
    @Test func phasesAccountForTheStep() throws {
        let p = Self.floatParameters()
        let pass = LlamaTrainingPass<Float>(form: .absmean, groupSize: 8)
        let batch: [[Int32]] = [[1, 5, 7, 2, 9, 11], [3, 4, 8, 0, 12, 6]]
        var phases = TrainingPhases()
        var none: LlamaGradients<Float>? = nil
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try pass.loss(p, batch: batch, gradients: &none, phases: &phases)
        #expect(phases.forward > 0 && phases.head > 0 && phases.backward == 0)
        var grads: LlamaGradients<Float>? = p.zeros()
        _ = try pass.loss(p, batch: batch, gradients: &grads, phases: &phases)
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        #expect(phases.backward > 0 && phases.total <= wall)
    }

    /// The SGEMM yardstick runs the product it names and reports a throughput.
    @Test func sgemmPeakMeasuresTheProduct() {
        let peak = SGEMMPeak.measure(m: 64, n: 48, k: 32, threads: 1, seconds: 0.05)
        #expect(peak.m == 64 && peak.n == 48 && peak.k == 32 && peak.threads == 1)
        #expect(peak.repetitions >= 3 && peak.gflops.isFinite && peak.gflops > 0)
    }
    /// The quantization each step runs equals its definition to the bit (the plain per-weight
    /// loop, summing c in the same order), for every form, on 1 and 4 threads, with a ragged last
    /// group, an all-zero group, and weights exactly at ±Δ.
    @Test(arguments: [TernaryTraining.absmean, .tequila(lambda: 1e-3), .reactivation(lambda: 0.05)], [1, 4])
    func effectiveWeightsMatchTheirDefinition(form: TernaryTraining, threads: Int) {
        let rows = 96, cols = 700, group = 128   // 700 = 5 × 128 + 60
        var rng = SeededGenerator(seed: 11)
        var w = (0..<rows * cols).map { _ in Float.random(in: -0.05...0.05, using: &rng) }
        for j in 0..<128 { w[3 * cols + j] = 0 }                       // row 3, group 0: s = 0
        let s0 = w[5 * cols..<5 * cols + 128].reduce(Float(0)) { $0 + abs($1) } / 128
        w[5 * cols + 7] = s0 / 2; w[5 * cols + 9] = -s0 / 2             // both ends of the deadzone
        let lambda = Float(form.lambda)
        var q = [Float](repeating: 0, count: w.count), dz = [Bool](repeating: false, count: w.count)
        var c = [Float](repeating: 0, count: rows)
        for i in 0..<rows { for g0 in stride(from: 0, to: cols, by: group) {
            let g1 = min(g0 + group, cols)
            var s: Float = 0
            for j in g0..<g1 { s += abs(w[i * cols + j]) }
            s /= Float(g1 - g0)
            for j in g0..<g1 {
                let v = w[i * cols + j]
                if s > 0 && v >= s / 2 { q[i * cols + j] = s } else if s > 0 && v <= -s / 2 { q[i * cols + j] = -s } else {
                    dz[i * cols + j] = true
                    if case .reactivation = form { q[i * cols + j] = lambda * v }
                    if case .tequila = form { c[i] += lambda * v }
                }
            }
        } }
        let e = EffectiveWeights(latent: w, rows: rows, cols: cols, groupSize: group, form: form, threads: threads)
        #expect(e.weights == q)
        #expect(e.deadzone == dz)
        #expect(dz[5 * cols + 7] == false && dz[5 * cols + 9] == false && dz[3 * cols + 5])
        if case .tequila = form { #expect(e.bias == c) } else { #expect(e.bias == nil) }
    }
    /// The head's softmax split over threads gives the loss and gradients of one thread.
    @Test func threadedHeadMatchesOneThread() throws {
        let p = Self.floatParameters()
        var one = LlamaTrainingPass<Float>(form: .tequila(lambda: 0.05), groupSize: 8)
        var three = one
        one.threads = 1; three.threads = 3
        var g1: LlamaGradients<Float>? = p.zeros(), g3: LlamaGradients<Float>? = p.zeros()
        let l1 = try one.loss(p, batch: GradientCheckTests.batch, gradients: &g1)
        let l3 = try three.loss(p, batch: GradientCheckTests.batch, gradients: &g3)
        #expect(abs(l1 - l3) <= 1e-12 * abs(l1))
        for b in g1!.linear.indices { for l in g1!.linear[b].indices {
            let worst = zip(g1!.linear[b][l], g3!.linear[b][l]).map { abs($0 - $1) / max(abs($0), 1e-6) }.max() ?? 0
            #expect(worst < 1e-4, "block \(b) layer \(l): relative difference \(worst)")
        } }
    }
}
