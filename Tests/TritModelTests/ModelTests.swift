import Foundation
import Testing
import TritCore
import TritKernels
@testable import TritModel

@Suite("Llama model on SmolLM2-135M")
struct ModelTests {
    @Test func configurationFromExplicitKeys() {
        let c = RealModel.weights.configuration
        #expect(c == LlamaConfiguration(blockCount: 30, embeddingLength: 576, feedForwardLength: 1536, headCount: 9, kvHeadCount: 3,
                                        ropeFreqBase: 100000, rmsNormEpsilon: Float(1e-5), contextLength: 8192, vocabularySize: 49152))
        #expect(c.headDimension == 64 && c.kvDimension == 192)
        #expect(RealModel.gguf.tensors.count == 272)
        #expect(RealModel.gguf.tensors.filter { $0.type == .q4_1 }.count == 210)
        #expect(RealModel.gguf.tensor(named: "token_embd.weight")?.type == .q8_0)
        #expect(RealModel.model.tiedEmbeddings)
        let q = RealModel.weights.linear["blk.3.attn_k.weight"]!
        #expect(q.rows == 192 && q.cols == 576)
        #expect(RealModel.weights.linearNames.count == 210 && RealModel.weights.linearNames[0] == "blk.0.attn_q.weight")
    }

    /// Perplexity on two 128-token windows of Wikipedia text: a broken RoPE (halves instead of
    /// adjacent pairs), norm or tokenizer lands in the hundreds.
    @Test func perplexityOnTwoShortWindowsIsPlausible() throws {
        let text = try PerplexitySource.boolqPassages.passages(EvaluationData()).prefix(3).joined(separator: "\n\n")
        let tokens = Array(RealModel.tokenizer.encode(text).prefix(256))
        #expect(tokens.count == 256)
        let r = try perplexity(model: RealModel.model, tokens: tokens, options: PerplexityOptions(context: 128), progress: false)
        #expect(r.windows == 2 && r.tokensScored == 2 * 127)   // a window's first token has no context
        #expect(r.perplexity > 5 && r.perplexity < 60, "ppl \(r.perplexity)")
        let half = try perplexity(model: RealModel.model, tokens: tokens,
                                  options: PerplexityOptions(context: 128, scoring: .secondHalf), progress: false)
        #expect(half.tokensScored == 2 * 63)
        #expect(half.perplexity > 5 && half.perplexity < 60, "ppl \(half.perplexity)")
        let strided = try perplexity(model: RealModel.model, tokens: tokens,
                                     options: PerplexityOptions(context: 128, stride: 64, maxTokens: 200), progress: false)
        #expect(strided.tokensScored == 199 && strided.windows == 3)   // 127 + 64 + 8: every token after the first
    }

    /// Decoding token by token with the KV cache gives the same states as one batched prefill.
    @Test func kvCacheDecodeMatchesBatchedPrefill() {
        let m = RealModel.model
        let tokens = RealModel.tokenizer.encode("The capital of France is Paris, and the capital of Italy is")
        var c1 = m.makeCache(capacity: 64)
        let batch = m.hiddenStates(tokens, cache: &c1)
        var c2 = m.makeCache(capacity: 64)
        _ = m.hiddenStates(Array(tokens.prefix(5)), cache: &c2)
        var maxDiff: Float = 0
        for i in 5..<tokens.count {
            let h = m.hiddenStates([tokens[i]], cache: &c2)
            for j in 0..<h.cols { maxDiff = max(maxDiff, abs(h[0, j] - batch[i, j])) }
        }
        #expect(c2.length == tokens.count)
        #expect(maxDiff < 1e-3, "max difference \(maxDiff)")
        // And the model knows the answer: " Rome" is the top next token.
        let next = argmax(m.logits(batch, first: batch.rows - 1, count: 1).values)
        #expect(RealModel.tokenizer.tokens[Int(next)] == "ĠRome")
    }

    /// Every linear layer goes through the factory; a recorder sees each layer's real inputs.
    @Test func pluggableLayersAndActivationCapture() throws {
        var names: [String] = []
        let recorder = LinearInputRecorder(maxRowsPerLayer: 8)
        let model = try LlamaModel(weights: RealModel.weights) { name, w in
            names.append(name)
            return RecordingLinear(name: name, inner: FloatLinear(w), recorder: recorder)
        }
        #expect(names == RealModel.weights.linearNames)
        let tokens = RealModel.tokenizer.encode("Calibration text for the quantizers.")
        var cache = model.makeCache(capacity: 32)
        let h = model.hiddenStates(tokens, cache: &cache)
        var ref = RealModel.model.makeCache(capacity: 32)
        #expect(h == RealModel.model.hiddenStates(tokens, cache: &ref))
        #expect(recorder.layerNames.count == 210)
        let x = try #require(recorder.inputs(of: "blk.2.ffn_down.weight"))
        #expect(x.cols == 1536 && x.rows == min(tokens.count, 8))
        // q, k and v see the same normalised input.
        #expect(recorder.inputs(of: "blk.5.attn_q.weight") == recorder.inputs(of: "blk.5.attn_v.weight"))
        // The factory's layers are what the memory report counts.
        #expect(model.weightBytesByKind["linear f32"] == RealModel.weights.linear.values.reduce(0) { $0 + $1.count * 4 })
    }

    /// Tabulated RoPE angles give exactly what computing them per call gives, across the end
    /// of the table (positions 48, 49 tabulated, 50 computed).
    @Test func rotaryTableEqualsDirectAngles() {
        let tabulated = RotaryEmbedding(headDimension: 64, base: 100000, tabulatedPositions: 50)
        let direct = RotaryEmbedding(headDimension: 64, base: 100000)
        var g = SeededGenerator(seed: 9)
        let x = (0..<(3 * 2 * 64)).map { _ in g.nextGaussian() }
        var a = x, b = x
        a.withUnsafeMutableBufferPointer { tabulated.apply($0, tokens: 3, heads: 2, rowStride: 128, start: 48) }
        b.withUnsafeMutableBufferPointer { direct.apply($0, tokens: 3, heads: 2, rowStride: 128, start: 48) }
        #expect(a == b)
        #expect(a != x)
    }

    /// A ternary layer in its dequantized float form computes Ŵx + bias (the reference a packed
    /// kernel-backed layer must match).
    @Test func dequantizedTernaryLayerMatchesReference() throws {
        var g = SeededGenerator(seed: 7)
        let rows = 12, cols = 40
        let plane = (0..<(rows * cols)).map { _ in Int8(Int(g.next() % 3) - 1) }
        let scales = (0..<(rows * 2)).map { _ in Float(g.nextGaussian()) }
        let t = try TernaryWeights(rows: rows, cols: cols, groupSize: 32, planes: [plane], scales: [scales],
                                   bias: (0..<rows).map { Float($0) / 10 }).roundedToHalfPrecision()
        let layer = FloatLinear(dequantizing: t)
        let x = (0..<(3 * cols)).map { _ in Float(g.nextGaussian()) }
        var y = [Float](repeating: 0, count: 3 * rows)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { layer.forward(xp, tokens: 3, into: $0) } }
        let ref = t.referenceForward(x, tokens: 3)
        for i in 0..<y.count { #expect(abs(y[i] - ref[i]) < 1e-4) }
    }
}
