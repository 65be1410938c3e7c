import Foundation
import Testing
import TritCore
import TritKernels
@testable import TritModel

/// A BitNet GGUF built in memory, as llama.cpp's `bitnet` graph loads it: F32 embeddings and
/// norms (sub-norms included), seven ternary linears per block in TQ2_0 or TQ1_0 with a
/// per-tensor `.scale`, and a token list. Same seed: same trits, whichever type stores them.
func tinyBitNetGGUF(type: GGMLType, architecture: String = "bitnet", blocks: Int = 2, dim: Int = 256, ffn: Int = 512,
                    heads: Int = 4, kvHeads: Int = 2, vocab: Int = 64, seed: UInt64 = 7, scalesMissing: Bool = false) -> Data {
    typealias W = TestGGUFWriter
    var rng = SeededGenerator(seed: seed)
    var w = TestGGUFWriter()
    func u32(_ k: String, _ v: Int) { w.add(k, type: 4, W.le(UInt32(v))) }
    func f32(_ k: String, _ v: Float) { w.add(k, type: 6, W.le(v.bitPattern)) }
    w.add("general.architecture", type: 8, W.str(architecture))
    u32("\(architecture).block_count", blocks); u32("\(architecture).embedding_length", dim)
    u32("\(architecture).feed_forward_length", ffn); u32("\(architecture).attention.head_count", heads)
    u32("\(architecture).attention.head_count_kv", kvHeads); u32("\(architecture).context_length", 256)
    u32("\(architecture).vocab_size", vocab)
    f32("\(architecture).attention.layer_norm_rms_epsilon", 1e-5); f32("\(architecture).rope.freq_base", 10000)
    func floats(_ n: Int, around c: Float, spread: Float) -> Data {
        (0..<n).reduce(into: Data()) { d, _ in d += W.le((c + Float.random(in: -spread...spread, using: &rng)).bitPattern) }
    }
    func ternary(rows: Int, cols: Int) -> Data {
        var d = Data()
        for _ in 0..<(rows * cols / 256) {
            let trits = (0..<256).map { _ in Int8.random(in: -1...1, using: &rng) }
            d += Data(GGMLTernaryBlock.encode(type, trits: trits, scale: 1))
        }
        return d
    }
    w.tensors.append(("token_embd.weight", [UInt64(dim), UInt64(vocab)], 0, floats(dim * vocab, around: 0, spread: 1)))
    w.tensors.append(("output_norm.weight", [UInt64(dim)], 0, floats(dim, around: 1, spread: 0.2)))
    let kv = dim / heads * kvHeads
    for b in 0..<blocks {
        for (n, len) in [("attn_norm", dim), ("ffn_norm", dim), ("attn_sub_norm", dim), ("ffn_sub_norm", ffn)] {
            w.tensors.append(("blk.\(b).\(n).weight", [UInt64(len)], 0, floats(len, around: 1, spread: 0.2)))
        }
        for (n, rows, cols) in [("attn_q", dim, dim), ("attn_k", kv, dim), ("attn_v", kv, dim), ("attn_output", dim, dim),
                                ("ffn_gate", ffn, dim), ("ffn_up", ffn, dim), ("ffn_down", dim, ffn)] {
            w.tensors.append(("blk.\(b).\(n).weight", [UInt64(cols), UInt64(rows)], UInt32(type.rawValue), ternary(rows: rows, cols: cols)))
            let scale = Float.random(in: 0.02...0.1, using: &rng)
            if !scalesMissing { w.tensors.append(("blk.\(b).\(n).scale", [1], 0, W.le(scale.bitPattern))) }
        }
    }
    return w.build()
}

@Suite("Architectures: registry, Gemma 3, BitNet")
struct ArchitectureTests {
    @Test func registryNamesEveryArchitectureAndRefusesOthers() throws {
        #expect(ArchitectureRegistry.supportedNames == ["llama", "gemma3", "bitnet", "bitnet-b1.58", "bitnet-25"])
        var w = TestGGUFWriter()
        w.add("general.architecture", type: 8, TestGGUFWriter.str("qwen3"))
        let g = try GGUFFile(data: w.build(), path: "q.gguf")
        do {
            _ = try LlamaConfiguration(gguf: g)
            Issue.record("qwen3 was accepted")
        } catch {
            let m = "\(error)"
            #expect(m.contains("q.gguf") && m.contains("general.architecture") && m.contains("qwen3") && m.contains("gemma3"))
        }
    }

    @Test func bitNetActivationFollowsTheArchitectureName() throws {
        for (name, act) in [("bitnet", DecoderArchitecture.FeedForwardActivation.silu), ("bitnet-b1.58", .reluSquared), ("bitnet-25", .reluSquared)] {
            let g = try GGUFFile(data: tinyBitNetGGUF(type: .tq2_0, architecture: name, blocks: 1), path: "\(name).gguf")
            let c = try LlamaConfiguration(gguf: g)
            #expect(c.architecture.activation == act)
            #expect(c.architecture.normalizesBeforeOutputProjections && c.architecture.hasTensorScales)
        }
    }

    @Test func gatedActivationsMatchTheirFormulas() {
        let g0: [Float] = [-12, -3, -0.5, 0, 0.25, 1, 2.5, 11], u: [Float] = [1, 2, -1, 3, 0.5, -2, 1, 0.1]
        var g = g0
        FloatVectorKernels.geglu(&g, u, g.count)
        for i in g0.indices {
            let x = Double(g0[i]), gelu = 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
            #expect(abs(Double(g[i]) - gelu * Double(u[i])) <= 1e-5 * max(1, abs(gelu * Double(u[i]))))
        }
        g = g0
        FloatVectorKernels.reluSquaredGLU(&g, u, g.count)
        #expect(g == zip(g0, u).map { max($0, 0) * max($0, 0) * $1 })
    }

    @Test func rotaryHalvesRotateCoordinateIAgainstIPlusHalf() {
        let d = 8, base: Float = 100, p = 5
        let rope = RotaryEmbedding(headDimension: d, base: base, tabulatedPositions: 16, layout: .halves)
        let x0: [Float] = (0..<d).map { Float($0) - 2.5 }
        var x = x0
        x.withUnsafeMutableBufferPointer { rope.apply($0, tokens: 1, heads: 1, rowStride: d, start: p) }
        for i in 0..<(d / 2) {
            let a = Double(p) * pow(Double(base), -2 * Double(i) / Double(d))
            let e0 = Double(x0[i]) * cos(a) - Double(x0[i + d / 2]) * sin(a)
            let e1 = Double(x0[i]) * sin(a) + Double(x0[i + d / 2]) * cos(a)
            #expect(abs(Double(x[i]) - e0) < 1e-5 && abs(Double(x[i + d / 2]) - e1) < 1e-5)
        }
    }

    /// TQ blocks become `TernaryWeights` with the same products as the GGUF's own dequantizer
    /// times the per-tensor scale (one scale per row when the blocks share d).
    @Test(arguments: [GGMLType.tq1_0, .tq2_0]) func ternaryTensorsRepackExactly(type: GGMLType) throws {
        let g = try GGUFFile(data: tinyBitNetGGUF(type: type, blocks: 1), path: "b.gguf")
        let scale = try g.vector(named: "blk.0.ffn_down.scale", count: 1)[0]
        let t = try g.ternaryWeights(named: "blk.0.ffn_down.weight", rows: 256, cols: 512, outputScale: scale)
        #expect(t.groupSize == 512)
        let dense = try g.matrix(named: "blk.0.ffn_down.weight", rows: 256, cols: 512)
        #expect(t.dequantized().values == dense.values.map { $0 * scale })
        #expect(throws: GGUFError.self) { try g.ternaryWeights(named: "blk.0.attn_norm.weight", rows: 1, cols: 256) }
    }

    /// A BitNet model runs the same as shipped in TQ1_0 and TQ2_0 (same trits), and its packed
    /// kernels (8-bit per-token activations, as BitNet trains) track the exact Float32 forward.
    @Test func bitNetPackedMatchesDequantizedAndTheTwoTypesAgree() throws {
        let tokens: [Int32] = [1, 5, 9, 2, 33, 60, 7, 7, 12, 40]
        func logits(_ type: GGMLType, _ runtime: TernaryRuntime) throws -> Matrix {
            let m = try LlamaModel(shippedTernary: GGUFFile(data: tinyBitNetGGUF(type: type), path: "b.gguf"), ternary: runtime)
            var c = m.makeCache(capacity: 16)
            return m.logits(m.hiddenStates(tokens, cache: &c))
        }
        let f2 = try logits(.tq2_0, .dequantizedFloat32), f1 = try logits(.tq1_0, .dequantizedFloat32)
        #expect(f1.values == f2.values)
        let p2 = try logits(.tq2_0, .packedKernels(nil)), p1 = try logits(.tq1_0, .packedKernels(nil))
        #expect(p1.values == p2.values)
        let spread = f2.values.map(abs).max()!
        let worst = zip(p2.values, f2.values).map { abs($0 - $1) }.max()!
        #expect(worst < 0.05 * spread, "packed vs Float32: max |Δ| \(worst), logits up to \(spread)")
        // The sub-norms and scales are in the graph: without the scales the logits change.
        let unscaled = try LlamaModel(shippedTernary: GGUFFile(data: tinyBitNetGGUF(type: .tq2_0, scalesMissing: true), path: "u.gguf"),
                                      ternary: .dequantizedFloat32)
        var c = unscaled.makeCache(capacity: 16)
        #expect(unscaled.logits(unscaled.hiddenStates(tokens, cache: &c)).values != f2.values)
    }
}

/// Gemma-3-270M from the set-up cache (Scripts/setup.sh fetches it).
@Suite("Gemma 3 on Gemma-3-270M", .serialized)
struct Gemma3Tests {
    static let path = CachePaths().root + "/model/gemma-3-270m-q4_k_m.gguf"
    static let weights: LlamaWeights? = try? LlamaWeights(gguf: GGUFFile(path: path))

    @Test func configurationFromTheFile() throws {
        let c = try #require(Self.weights, "Gemma-3-270M not found at \(Self.path): run Scripts/setup.sh").configuration
        #expect(c.architecture.name == "gemma3" && c.architecture.activation == .geluTanh && c.architecture.rotaryLayout == .halves)
        #expect(c.headDimension == 256 && c.queryDimension == 1024 && c.kvDimension == 256 && c.blockCount == 18)
        #expect(c.distinctLinearShapes.map { [$0.rows, $0.cols] } == [[1024, 640], [256, 640], [640, 1024], [2048, 640], [640, 2048]])
        #expect((0..<18).filter { !c.architecture.isSlidingLayer($0) } == [5, 11, 17])
        #expect(c.architecture.slidingWindow == 512 && c.architecture.slidingRopeBase == 10000 && c.ropeFreqBase == 1_000_000)
    }

    /// Ids from the file's own vocabulary ("▁capital" 5279, "▁Eiffel" 94648, …): the model
    /// completes "The capital of" and "Eiffel Tower" — a wrong RoPE layout, a missing norm or an
    /// unscaled embedding each lose these.
    @Test func predictsTheObviousNextTokens() throws {
        let m = try LlamaModel(weights: #require(Self.weights))
        let tokens: [Int32] = [2, 818, 5279, 529, 7001, 563, 9079, 236761, 669, 94648]
        var cache = m.makeCache(capacity: 16)
        let l = m.logits(m.hiddenStates(tokens, cache: &cache))
        func argmax(_ r: Int) -> Int { (0..<l.cols).max { l.values[r * l.cols + $0] < l.values[r * l.cols + $1] }! }
        #expect(argmax(2) == 529)      // "capital" → "▁of"
        #expect(argmax(6) == 236761)   // "Paris" → "."
        #expect(argmax(9) == 25822)    // "Eiffel" → "▁Tower"
    }

    /// The sliding window, narrowed to 4 so a short sequence crosses it: prefill (the masked
    /// softmax), token-by-token decode (the shifted cache view) and a branched forward agree,
    /// and differ from the same model without the window.
    @Test func slidingWindowAgreesAcrossPrefillDecodeAndBranches() throws {
        var w = try #require(Self.weights)
        w.configuration.architecture.slidingWindow = 4
        let windowed = try LlamaModel(weights: w)
        w.configuration.architecture.slidingWindow = nil
        let global = try LlamaModel(weights: w)
        let tokens: [Int32] = [2, 818, 5279, 529, 7001, 563, 9079, 236761, 669, 94648]
        var c1 = windowed.makeCache(capacity: 16), c2 = windowed.makeCache(capacity: 16), c3 = global.makeCache(capacity: 16)
        let prefill = windowed.hiddenStates(tokens, cache: &c1)
        var last = Matrix(rows: 0, cols: 0)
        for t in tokens { last = windowed.hiddenStates([t], cache: &c2) }
        let n = tokens.count, dim = prefill.cols
        let row = Array(prefill.values[((n - 1) * dim)..<(n * dim)])
        #expect(zip(row, last.values).map { abs($0 - $1) }.max()! < 1e-3)
        let plain = global.hiddenStates(tokens, cache: &c3)
        #expect(zip(row, plain.values[((n - 1) * dim)...]).map { abs($0 - $1) }.max()! > 1e-2)
        // Two branches after a 6-token prefix: each equals its own sequence.
        let branchA: [Int32] = [9079, 236761, 669], branchB: [Int32] = [669, 94648, 25822, 529]
        var cb = windowed.makeCache(capacity: 32)
        let seg = TokenSegments(prefix: 6, branches: [6..<9, 9..<13])
        let branched = windowed.hiddenStates(Array(tokens.prefix(6)) + branchA + branchB, cache: &cb, segments: seg)
        var cs = windowed.makeCache(capacity: 16)
        let seqB = windowed.hiddenStates(Array(tokens.prefix(6)) + branchB, cache: &cs)
        let lastB = Array(branched.values[(12 * dim)..<(13 * dim)]), expectB = Array(seqB.values[(9 * dim)..<(10 * dim)])
        #expect(zip(lastB, expectB).map { abs($0 - $1) }.max()! < 1e-3)
    }
}

@Suite("Perplexity windows")
struct PerplexityWindowStartTests {
    /// With a start token each window's first token is replaced (llama.cpp's BOS), and only it:
    /// where the text already holds that token at every window start nothing changes; another
    /// start token changes the result.
    @Test func theStartTokenReplacesEachWindowsFirstTokenOnly() throws {
        let m = try LlamaModel(shippedTernary: GGUFFile(data: tinyBitNetGGUF(type: .tq2_0), path: "b.gguf"), ternary: .dequantizedFloat32)
        var tokens: [Int32] = (0..<24).map { Int32(($0 * 7 + 3) % 64) }
        for s in stride(from: 0, to: 24, by: 8) { tokens[s] = 5 }
        func ppl(_ start: Int32?) throws -> Double {
            try perplexity(model: m, tokens: tokens, options: PerplexityOptions(context: 8, windowStartToken: start), progress: false).perplexity
        }
        #expect(try ppl(5) == ppl(nil))
        #expect(try ppl(6) != ppl(nil))
    }
}

@Suite("Model description")
struct ModelDescriptionTests {
    @Test func aBitNetFileShipsTernary() throws {
        for (type, bits) in [(GGMLType.tq2_0, 2.0625), (.tq1_0, 1.6875)] {
            let d = try ModelDescription(gguf: GGUFFile(data: tinyBitNetGGUF(type: type, blocks: 1), path: "/x/bitnet.gguf"))
            #expect(d.shipsTernary && d.architecture == "bitnet" && d.file == "bitnet.gguf")
            #expect(d.linearTypes == [type.description] && d.linearBitsPerWeight == bits)
        }
    }

    @Test func smolLM2IsAQuantizedLlama() throws {
        let d = try ModelDescription(gguf: GGUFFile(path: CachePaths().defaultModel))
        #expect(!d.shipsTernary && d.architecture == "llama" && d.storage == "Q4_1")
        #expect(d.linearBitsPerWeight == 5)   // Q4_1: 20 bytes per 32 weights
    }
}
