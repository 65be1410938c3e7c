import Foundation
import TritCore
import TritModel

/// The parameters of a Llama decoder for training: the linear layers' latent weights (what the
/// optimizer changes), the norms' gains, and the token embedding (frozen: it is the tied LM head
/// too and stays as in the source GGUF, as do the norms the packed model reads from it).
public struct LlamaParameters<S: TrainScalar>: Sendable {
    public let configuration: LlamaConfiguration
    /// vocab × dim; the LM head is its transpose (tied).
    public var embedding: [S]
    public var finalNorm: [S]
    /// Per block: the seven linear layers in `LlamaLinearName.allCases` order (rows × cols each).
    public var linear: [[[S]]]
    public var attentionNorms: [[S]]
    public var feedForwardNorms: [[S]]

    public init(configuration c: LlamaConfiguration, embedding: [S], finalNorm: [S], linear: [[[S]]],
                attentionNorms: [[S]], feedForwardNorms: [[S]]) {
        configuration = c; self.embedding = embedding; self.finalNorm = finalNorm; self.linear = linear
        self.attentionNorms = attentionNorms; self.feedForwardNorms = feedForwardNorms
    }

    /// From a GGUF's weights (dequantized to Float32, converted to S). An untied output head is
    /// not supported: training keeps the head tied to the frozen embedding.
    public init(weights w: LlamaWeights) throws {
        let c = w.configuration
        guard w.outputHead == nil else { throw TrainingError.unsupported("a separate output.weight (training ties the head to the embedding)") }
        func conv(_ a: [Float]) -> [S] { a.map { S($0) } }
        var linear: [[[S]]] = []
        for b in 0..<c.blockCount {
            linear.append(try LlamaLinearName.allCases.map { l in
                guard let m = w.linear[l.tensorName(block: b)] else { throw GGUFError.missingTensor(name: l.tensorName(block: b)) }
                return conv(m.values)
            })
        }
        self.init(configuration: c, embedding: conv(w.tokenEmbedding.values), finalNorm: conv(w.outputNorm), linear: linear,
                  attentionNorms: w.attentionNorms.map(conv), feedForwardNorms: w.feedForwardNorms.map(conv))
    }

    static func shape(_ l: LlamaLinearName, _ c: LlamaConfiguration) -> (rows: Int, cols: Int) {
        let s = LlamaWeights.shape(of: l, c)
        return (s.0, s.1)
    }

    /// A zero set of the trainable parameters' shapes (gradients, optimizer moments).
    func zeros() -> LlamaGradients<S> {
        LlamaGradients(linear: linear.map { $0.map { [S](repeating: 0, count: $0.count) } },
                       attentionNorms: attentionNorms.map { [S](repeating: 0, count: $0.count) },
                       feedForwardNorms: feedForwardNorms.map { [S](repeating: 0, count: $0.count) },
                       finalNorm: [S](repeating: 0, count: finalNorm.count))
    }
}

/// Gradients of the loss with respect to the trainable parameters (latent weights and gains).
public struct LlamaGradients<S: TrainScalar>: Sendable {
    public var linear: [[[S]]]
    public var attentionNorms: [[S]]
    public var feedForwardNorms: [[S]]
    public var finalNorm: [S]

    /// Sets every gradient to 0 in place.
    mutating func zero() {
        func clear(_ a: inout [S]) { a.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
        for b in linear.indices { for l in linear[b].indices { clear(&linear[b][l]) } }
        for b in attentionNorms.indices { clear(&attentionNorms[b]); clear(&feedForwardNorms[b]) }
        clear(&finalNorm)
    }
}

/// Training and gradient-check errors.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case unsupported(String)
    case badBatch(String)
    case checkpoint(path: String, reason: String)
    case nonFinite(step: Int, what: String)

    public var description: String {
        switch self {
        case let .unsupported(w): return "training does not support \(w)"
        case let .badBatch(w): return "training batch: \(w)"
        case let .checkpoint(p, r): return "checkpoint \(p): \(r)"
        case let .nonFinite(s, w): return "step \(s): \(w) is not finite; lower the learning rate"
        }
    }
}

/// The forward and backward of a Llama decoder over a batch of equal-length sequences, with
/// the linear layers seen through a `TernaryTraining` form, and the mean next-token
/// cross-entropy. Memory: each block's input is kept; the block's intermediates are recomputed
/// in the backward, one block at a time (so activations cost blocks × tokens × dim, plus one
/// block's intermediates and a chunk of logits).
public struct LlamaTrainingPass<S: TrainScalar> {
    public let form: TernaryTraining
    public let groupSize: Int
    var fault: BackwardFault = .none
    /// Tokens per chunk of logits (the LM head's tokens × vocab product is the largest buffer).
    public var logitChunk = 128
    /// Threads for the parts OpenBLAS does not thread (attention pairs, weight quantization).
    public var threads = 1
    /// Keep every block's intermediates for the backward instead of recomputing them.
    public var keepActivations = true

    public init(form: TernaryTraining, groupSize: Int = 128) { self.form = form; self.groupSize = groupSize }

    /// What one block's forward computed, for its backward.
    struct BlockTrace {
        var x: [S], n1: [S], r1: [S], q: [S], k: [S], v: [S], probabilities: [[S]], attended: [S]
        var h1: [S], n2: [S], r2: [S], gate: [S], up: [S], activated: [S]
        var weights: [EffectiveWeights<S>]
    }

    /// Mean cross-entropy of predicting tokens[b][i + 1] from tokens[b][0...i], and (when
    /// `gradients` is given) its gradient with respect to every trainable parameter.
    public func loss(_ p: LlamaParameters<S>, batch: [[Int32]], gradients: inout LlamaGradients<S>?) throws -> Double {
        var phases = TrainingPhases()
        return try loss(p, batch: batch, gradients: &gradients, phases: &phases)
    }

    /// `loss(_:batch:gradients:)`, adding the seconds of its forward, head and backward to `phases`.
    public func loss(_ p: LlamaParameters<S>, batch: [[Int32]], gradients: inout LlamaGradients<S>?,
                     phases: inout TrainingPhases) throws -> Double {
        var clock = PhaseClock()
        let c = p.configuration, dim = c.embeddingLength
        guard let first = batch.first, first.count >= 2, batch.allSatisfy({ $0.count == first.count }) else {
            throw TrainingError.badBatch("need sequences of equal length ≥ 2, got lengths \(batch.map(\.count))")
        }
        let seqLen = first.count - 1, sequences = batch.count, tokens = seqLen * sequences
        guard seqLen <= c.contextLength else { throw TrainingError.badBatch("sequence length \(seqLen) exceeds the context \(c.contextLength)") }
        for s in batch { for t in s where t < 0 || Int(t) >= c.vocabularySize {
            throw TrainingError.badBatch("token id \(t) outside the vocabulary (0..<\(c.vocabularySize))")
        } }
        let rope = RotaryTable<S>(headDimension: c.headDimension, base: c.ropeFreqBase, positions: seqLen)
        var h = [S](repeating: 0, count: tokens * dim)
        for b in 0..<sequences { for i in 0..<seqLen {
            let id = Int(batch[b][i])
            for j in 0..<dim { h[(b * seqLen + i) * dim + j] = p.embedding[id * dim + j] }
        } }
        // Activations: with `keepActivations`, every block's intermediates stay for the backward
        // (≈ 42 MB per block at 1024 tokens on SmolLM2-135M: 1.3 GB); otherwise only each block's
        // input and its weights as the forward saw them, and the backward recomputes the block
        // (a quarter more matrix work). The forward's Ŵ is kept either way: quantizing twice per
        // step cost more than holding it.
        var inputs: [[S]] = []
        var seen: [[EffectiveWeights<S>]] = []
        var traces: [BlockTrace] = []
        for block in 0..<c.blockCount {
            let w = effective(p, block)
            let (out, trace) = blockForward(p, block, h, tokens: tokens, sequences: sequences, rope: rope, weights: w)
            if gradients != nil {
                if keepActivations { traces.append(trace) } else { inputs.append(h); seen.append(w) }
            }
            h = out
        }
        phases.forward += clock.lap()
        let eps = S(c.rmsNormEpsilon)
        let (nf, rf) = RMSNormMath.forward(h, gain: p.finalNorm, tokens: tokens, epsilon: eps)
        let targets = batch.flatMap { Array($0.dropFirst()) }
        var dnf: [S]? = gradients == nil ? nil : [S](repeating: 0, count: nf.count)
        let loss = headLoss(p, nf, targets: targets, dHidden: &dnf)
        phases.head += clock.lap()
        guard var g = gradients, let dnf else { return loss }
        var dh = [S](repeating: 0, count: h.count)
        RMSNormMath.backward(dnf, x: h, r: rf, gain: p.finalNorm, tokens: tokens, dx: &dh, dg: &g.finalNorm, fault: fault)
        for block in stride(from: c.blockCount - 1, through: 0, by: -1) {
            let trace: BlockTrace
            if keepActivations {
                trace = traces.removeLast()
            } else {
                trace = blockForward(p, block, inputs[block], tokens: tokens, sequences: sequences, rope: rope,
                                     weights: seen[block]).trace
                inputs[block] = []; seen[block] = []
            }
            dh = blockBackward(p, block, dh, trace: trace, tokens: tokens, sequences: sequences, rope: rope, gradients: &g)
        }
        gradients = g
        phases.backward += clock.lap()
        return loss
    }

    /// Mean cross-entropy over the rows of `hidden` (tokens × dim) against `targets` through the
    /// tied head, in chunks; writes ∂loss/∂hidden into `dHidden` when given.
    func headLoss(_ p: LlamaParameters<S>, _ hidden: [S], targets: [Int32], dHidden: inout [S]?) -> Double {
        let dim = p.configuration.embeddingLength, vocab = p.configuration.vocabularySize, n = targets.count
        var total = 0.0
        var first = 0
        while first < n {
            let rows = min(logitChunk, n - first)
            var logits = [S](repeating: 0, count: rows * vocab)
            hidden.withUnsafeBufferPointer { ph in p.embedding.withUnsafeBufferPointer { pe in logits.withUnsafeMutableBufferPointer { pl in
                S.gemm(false, true, rows, vocab, dim, 1, ph.baseAddress! + first * dim, dim, pe.baseAddress!, dim, 0, pl.baseAddress!, vocab)
            } } }
            // Softmax rows split over the threads (the exponentials of a 49152-word vocabulary are
            // most of the head's time outside BLAS); each slice's loss sums in row order.
            let slices = max(1, min(threads, rows))
            var partial = [Double](repeating: 0, count: slices)
            logits.withUnsafeMutableBufferPointer { pl in partial.withUnsafeMutableBufferPointer { pp in
                let (pl, pp) = (pl, pp)
                func softmaxRows(_ slice: Int) {
                    var sliceTotal = 0.0
                    for r in (rows * slice / slices)..<(rows * (slice + 1) / slices) {
                        let row = pl.baseAddress! + r * vocab
                        var m = -S.infinity
                        for j in 0..<vocab { m = max(m, row[j]) }
                        var sum: S = 0
                        for j in 0..<vocab { let e = S.exponential(row[j] - m); row[j] = e; sum += e }
                        let target = Int(targets[first + r])
                        sliceTotal += Double(S.logarithm(sum) + m - (S.logarithm(row[target]) + m))
                        // dlogits = (softmax − onehot) / n
                        let inv = 1 / (sum * S(n))
                        for j in 0..<vocab { row[j] *= inv }
                        row[target] -= 1 / S(n)
                    }
                    pp[slice] = sliceTotal
                }
                if slices == 1 { softmaxRows(0) } else { DispatchQueue.concurrentPerform(iterations: slices, execute: softmaxRows) }
            } }
            total += partial.reduce(0, +)
            if dHidden != nil {
                logits.withUnsafeBufferPointer { pl in p.embedding.withUnsafeBufferPointer { pe in dHidden!.withUnsafeMutableBufferPointer { pd in
                    S.gemm(false, false, rows, dim, vocab, 1, pl.baseAddress!, vocab, pe.baseAddress!, dim, 0, pd.baseAddress! + first * dim, dim)
                } } }
            }
            first += rows
        }
        return total / Double(n)
    }

    func effective(_ p: LlamaParameters<S>, _ block: Int) -> [EffectiveWeights<S>] {
        LlamaLinearName.allCases.enumerated().map { i, l in
            let s = LlamaParameters<S>.shape(l, p.configuration)
            return EffectiveWeights(latent: p.linear[block][i], rows: s.rows, cols: s.cols, groupSize: groupSize, form: form,
                                    threads: threads)
        }
    }

    func linearForward(_ x: [S], _ w: EffectiveWeights<S>, tokens: Int, rows: Int, cols: Int) -> [S] {
        var y = Products.forward(x, w.weights, tokens: tokens, inputs: cols, outputs: rows)
        if let c = w.bias { for t in 0..<tokens { for i in 0..<rows { y[t * rows + i] += c[i] } } }
        return y
    }

    func blockForward(_ p: LlamaParameters<S>, _ block: Int, _ x: [S], tokens: Int, sequences: Int,
                      rope: RotaryTable<S>, weights: [EffectiveWeights<S>]? = nil) -> (output: [S], trace: BlockTrace) {
        let c = p.configuration, dim = c.embeddingLength, kv = c.kvDimension, ff = c.feedForwardLength
        let eps = S(c.rmsNormEpsilon), seqLen = tokens / sequences
        let w = weights ?? effective(p, block)
        let (n1, r1) = RMSNormMath.forward(x, gain: p.attentionNorms[block], tokens: tokens, epsilon: eps)
        var q = linearForward(n1, w[0], tokens: tokens, rows: dim, cols: dim)
        var k = linearForward(n1, w[1], tokens: tokens, rows: kv, cols: dim)
        let v = linearForward(n1, w[2], tokens: tokens, rows: kv, cols: dim)
        rope.apply(&q, tokens: tokens, sequenceLength: seqLen, heads: c.headCount)
        rope.apply(&k, tokens: tokens, sequenceLength: seqLen, heads: c.kvHeadCount)
        let attention = AttentionMath<S>(heads: c.headCount, kvHeads: c.kvHeadCount, headDimension: c.headDimension,
                                         sequenceLength: seqLen, threads: threads)
        let (attended, probabilities) = attention.forward(q: q, k: k, v: v, sequences: sequences)
        let o = linearForward(attended, w[3], tokens: tokens, rows: dim, cols: dim)
        var h1 = x
        for i in h1.indices { h1[i] += o[i] }
        let (n2, r2) = RMSNormMath.forward(h1, gain: p.feedForwardNorms[block], tokens: tokens, epsilon: eps)
        let gate = linearForward(n2, w[4], tokens: tokens, rows: ff, cols: dim)
        let up = linearForward(n2, w[5], tokens: tokens, rows: ff, cols: dim)
        let activated = SwiGLUMath.forward(gate: gate, up: up)
        let down = linearForward(activated, w[6], tokens: tokens, rows: dim, cols: ff)
        var out = h1
        for i in out.indices { out[i] += down[i] }
        return (out, BlockTrace(x: x, n1: n1, r1: r1, q: q, k: k, v: v, probabilities: probabilities, attended: attended,
                                h1: h1, n2: n2, r2: r2, gate: gate, up: up, activated: activated, weights: w))
    }

    /// Backward of one linear layer: adds dX to `dx` and the latent weights' gradient to `g`
    /// (which holds nothing of this layer yet: each layer is used once per step).
    func linearBackward(_ dy: [S], x: [S], w: EffectiveWeights<S>, tokens: Int, rows: Int, cols: Int,
                        dx: inout [S], g: inout [S]) {
        Products.inputGradient(dy, w.weights, tokens: tokens, inputs: cols, outputs: rows, accumulatingInto: &dx)
        Products.weightGradient(dy, x, tokens: tokens, inputs: cols, outputs: rows, accumulatingInto: &g)
        var dc: [S]?
        if w.bias != nil {
            var s = [S](repeating: 0, count: rows)
            for t in 0..<tokens { for i in 0..<rows { s[i] += dy[t * rows + i] } }
            dc = s
        }
        w.addDeadzoneGradient(to: &g, biasGradient: dc, cols: cols, form: form)
    }

    func blockBackward(_ p: LlamaParameters<S>, _ block: Int, _ dOut: [S], trace t: BlockTrace, tokens: Int, sequences: Int,
                       rope: RotaryTable<S>, gradients g: inout LlamaGradients<S>) -> [S] {
        let c = p.configuration, dim = c.embeddingLength, kv = c.kvDimension, ff = c.feedForwardLength
        let seqLen = tokens / sequences
        // Feed-forward half: out = h1 + down(silu(gate(n2)) ⊙ up(n2)).
        var dActivated = [S](repeating: 0, count: tokens * ff)
        linearBackward(dOut, x: t.activated, w: t.weights[6], tokens: tokens, rows: dim, cols: ff, dx: &dActivated, g: &g.linear[block][6])
        let (dGate, dUp) = SwiGLUMath.backward(dActivated, gate: t.gate, up: t.up, fault: fault)
        var dn2 = [S](repeating: 0, count: tokens * dim)
        linearBackward(dGate, x: t.n2, w: t.weights[4], tokens: tokens, rows: ff, cols: dim, dx: &dn2, g: &g.linear[block][4])
        linearBackward(dUp, x: t.n2, w: t.weights[5], tokens: tokens, rows: ff, cols: dim, dx: &dn2, g: &g.linear[block][5])
        var dh1 = dOut
        RMSNormMath.backward(dn2, x: t.h1, r: t.r2, gain: p.feedForwardNorms[block], tokens: tokens, dx: &dh1,
                             dg: &g.feedForwardNorms[block], fault: fault)
        // Attention half: h1 = x + o(attention(rope(q(n1)), rope(k(n1)), v(n1))).
        var dAttended = [S](repeating: 0, count: tokens * dim)
        linearBackward(dh1, x: t.attended, w: t.weights[3], tokens: tokens, rows: dim, cols: dim, dx: &dAttended, g: &g.linear[block][3])
        let attention = AttentionMath<S>(heads: c.headCount, kvHeads: c.kvHeadCount, headDimension: c.headDimension,
                                         sequenceLength: seqLen, threads: threads)
        var (dq, dk, dv) = attention.backward(dAttended, q: t.q, k: t.k, v: t.v, probabilities: t.probabilities,
                                              sequences: sequences, fault: fault)
        rope.apply(&dq, tokens: tokens, sequenceLength: seqLen, heads: c.headCount, inverse: true)
        rope.apply(&dk, tokens: tokens, sequenceLength: seqLen, heads: c.kvHeadCount, inverse: true)
        var dn1 = [S](repeating: 0, count: tokens * dim)
        linearBackward(dq, x: t.n1, w: t.weights[0], tokens: tokens, rows: dim, cols: dim, dx: &dn1, g: &g.linear[block][0])
        linearBackward(dk, x: t.n1, w: t.weights[1], tokens: tokens, rows: kv, cols: dim, dx: &dn1, g: &g.linear[block][1])
        linearBackward(dv, x: t.n1, w: t.weights[2], tokens: tokens, rows: kv, cols: dim, dx: &dn1, g: &g.linear[block][2])
        var dx = dh1
        RMSNormMath.backward(dn1, x: t.x, r: t.r1, gain: p.attentionNorms[block], tokens: tokens, dx: &dx,
                             dg: &g.attentionNorms[block], fault: fault)
        return dx
    }
}
