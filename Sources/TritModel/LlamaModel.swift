import CBLAS
import Foundation
import TritCore
import TritKernels

/// Builds the linear layer for one tensor (`blk.3.attn_q.weight`) from its Float32 weights:
/// the hook through which a quantization method or packed format replaces the float layer.
public typealias LinearLayerFactory = (_ name: String, _ weights: Matrix) throws -> LinearLayer

/// Root-mean-square normalisation with a learned gain: y = x / sqrt(mean(x²) + ε) · w.
public struct RMSNorm: Sendable {
    public let weight: [Float]
    public let epsilon: Float

    public init(weight: [Float], epsilon: Float) { self.weight = weight; self.epsilon = epsilon }

    public func callAsFunction(_ x: UnsafeBufferPointer<Float>, tokens: Int, into y: UnsafeMutableBufferPointer<Float>) {
        let n = weight.count
        weight.withUnsafeBufferPointer { w in
            for t in 0..<tokens {
                FloatVectorKernels.rmsNorm(x.baseAddress! + t * n, weights: w.baseAddress!, epsilon: epsilon, into: y.baseAddress! + t * n, n)
            }
        }
    }
}

/// Rotary position embedding. Llama GGUF files need ADJACENT pairs (x[2i], x[2i+1]) —
/// llama.cpp's "normal" mode, because the converter permutes the Q/K rows; rotating halves
/// (NeoX style) instead gives perplexities in the hundreds on those files. Gemma's files need
/// halves (x[i], x[i+d/2]). The architecture says which (`DecoderArchitecture.rotaryLayout`).
public struct RotaryEmbedding: Sendable {
    public let headDimension: Int
    public let layout: DecoderArchitecture.RotaryLayout
    /// θ_i = base^(−2i/d), i = 0..<d/2.
    let inverseFrequencies: [Double]
    /// cos and sin of p·θ_i for positions p < `tabulatedPositions`, interleaved per position
    /// ([cos_0 … cos_{d/2−1}, sin_0 … sin_{d/2−1}]): computed once instead of 2·d/2 libm calls per
    /// token per layer (30 layers × q and k otherwise recompute the same angles).
    let table: [Float]
    public let tabulatedPositions: Int

    public init(headDimension: Int, base: Float, tabulatedPositions: Int = 0, layout: DecoderArchitecture.RotaryLayout = .adjacentPairs) {
        self.headDimension = headDimension
        self.layout = layout
        let half = headDimension / 2
        let inverse = (0..<half).map { pow(Double(base), -2 * Double($0) / Double(headDimension)) }
        inverseFrequencies = inverse
        self.tabulatedPositions = tabulatedPositions
        var t = [Float](repeating: 0, count: tabulatedPositions * headDimension)
        for p in 0..<tabulatedPositions {
            for i in 0..<half {
                let a = Double(p) * inverse[i]
                t[p * headDimension + i] = Float(cos(a)); t[p * headDimension + half + i] = Float(sin(a))
            }
        }
        table = t
    }

    /// Rotates `heads` heads of every token in place; token t sits at position `start + t` and
    /// its row begins at `t * rowStride`.
    public func apply(_ x: UnsafeMutableBufferPointer<Float>, tokens: Int, heads: Int, rowStride: Int, start: Int) {
        let half = headDimension / 2
        // The two coordinates of pair i: (2i, 2i+1) or (i, i + d/2).
        let (first, second) = layout == .adjacentPairs ? (2, 1) : (1, half)
        func rotate(_ t: Int, _ angles: UnsafePointer<Float>) {
            for h in 0..<heads {
                let v = x.baseAddress! + t * rowStride + h * headDimension
                for i in 0..<half {
                    let a = first * i, b = a + second
                    let x0 = v[a], x1 = v[b], c = angles[i], s = angles[half + i]
                    v[a] = x0 * c - x1 * s
                    v[b] = x0 * s + x1 * c
                }
            }
        }
        var computed = [Float](repeating: 0, count: start + tokens > tabulatedPositions ? headDimension : 0)
        table.withUnsafeBufferPointer { table in
            for t in 0..<tokens {
                let p = start + t
                if p < tabulatedPositions { rotate(t, table.baseAddress! + p * headDimension); continue }
                for i in 0..<half {
                    let a = Double(p) * inverseFrequencies[i]
                    computed[i] = Float(cos(a)); computed[half + i] = Float(sin(a))
                }
                computed.withUnsafeBufferPointer { rotate(t, $0.baseAddress!) }
            }
        }
    }
}

/// Keys and values of every block for the tokens seen so far (after RoPE), preallocated to a
/// fixed capacity so decoding never reallocates.
///
/// Layout per block, head-major: KV head h's row for position p at (h · capacity + p) · headDimension.
/// A decode step reads each KV head's rows once per layer, after hundreds of MB of weights
/// have pushed them out of cache; head-major, that read is one contiguous run per head, which
/// the hardware prefetchers stream, instead of headDimension floats every kvDimension floats
/// (position-major measured 3× slower cold at 2B4T's shapes).
public struct KVCache: Sendable {
    public let capacity: Int
    public let kvDimension: Int
    public let headDimension: Int
    var keys: [[Float]]
    var values: [[Float]]
    /// Floats between one KV head's rows and the next head's.
    var headStride: Int { capacity * headDimension }
    /// Tokens currently held. Lowering it (`truncate`) rewinds, e.g. to reuse a shared prompt.
    public private(set) var length = 0

    public init(configuration c: LlamaConfiguration, capacity: Int) {
        self.capacity = capacity
        kvDimension = c.kvDimension
        headDimension = c.headDimension
        keys = Array(repeating: [Float](repeating: 0, count: capacity * c.kvDimension), count: c.blockCount)
        values = keys
    }

    public mutating func truncate(to n: Int) { precondition(n >= 0 && n <= length); length = n }
    mutating func advance(by n: Int) { length += n }

    /// Stores `tokens` rows of keys and values (token-major, kvDimension each, as the
    /// projections write them) at positions `position…` of `block`.
    mutating func write(block: Int, position: Int, tokens: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>) {
        precondition(position + tokens <= capacity, "KV cache capacity \(capacity) exceeded (\(position + tokens) tokens)")
        let heads = kvDimension / headDimension, hd = headDimension, stride = headStride
        func scatter(_ from: UnsafePointer<Float>, into cache: UnsafeMutablePointer<Float>) {
            for t in 0..<tokens {
                for h in 0..<heads {
                    (cache + h * stride + (position + t) * hd).update(from: from + t * kvDimension + h * hd, count: hd)
                }
            }
        }
        keys[block].withUnsafeMutableBufferPointer { scatter(k, into: $0.baseAddress!) }
        values[block].withUnsafeMutableBufferPointer { scatter(v, into: $0.baseAddress!) }
    }
}

/// How the new tokens of one forward call see each other. By default they form one causal
/// sequence after what the cache holds. Otherwise they form independent groups (sequences of
/// their own, positions from 0, which see nothing of one another; the cache must then be
/// empty), each a causal prefix with branches: a branch is a causal continuation of its group's
/// prefix that does not see the other branches. The choices of a multiple-choice document share
/// one forward over their common context, and several documents share one call.
public struct TokenSegments: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        public var prefix: Range<Int>
        /// Ranges after the prefix, in order.
        public var branches: [Range<Int>]
        public init(prefix: Range<Int>, branches: [Range<Int>]) {
            precondition(branches.allSatisfy { $0.lowerBound >= prefix.upperBound }, "branches start after the prefix")
            self.prefix = prefix; self.branches = branches
        }
    }
    public var groups: [Group]

    public init(groups: [Group]) { self.groups = groups }

    /// One group: a prefix of `prefix` tokens and its branches.
    public init(prefix: Int, branches: [Range<Int>]) { groups = [Group(prefix: 0..<prefix, branches: branches)] }

    /// Whether the new tokens form one plain causal sequence.
    public var isSequence: Bool { groups.count == 1 && groups[0].prefix.lowerBound == 0 && groups[0].branches.allSatisfy(\.isEmpty) }

    /// Every run of consecutive tokens at consecutive positions: (new-token range, position of its first token).
    var runs: [(tokens: Range<Int>, position: Int)] {
        groups.flatMap { g in [(g.prefix, 0)] + g.branches.filter { !$0.isEmpty }.map { ($0, g.prefix.count) } }
    }

    /// The new tokens token t sees, as ranges: its group's prefix up to itself, or all of the
    /// prefix and its own branch up to itself.
    func visible(from t: Int) -> [Range<Int>] {
        for g in groups {
            if g.prefix.contains(t) { return [g.prefix.lowerBound..<(t + 1)] }
            if let b = g.branches.first(where: { $0.contains(t) }) { return [g.prefix, b.lowerBound..<(t + 1)] }
        }
        return [0..<(t + 1)]
    }
}

/// Grouped-query self-attention with RoPE and a KV cache, and the parts some architectures add:
/// RMSNorm of each q and k head before RoPE (Gemma 3), a sliding window (Gemma 3's local
/// layers), RMSNorm of the heads before the output projection (BitNet's SubLN).
public struct Attention {
    public let query: LinearLayer, key: LinearLayer, value: LinearLayer, output: LinearLayer
    public let configuration: LlamaConfiguration
    public let rope: RotaryEmbedding
    /// Per-head norms of q and k (one weight per head dimension), or nil.
    public var queryNorm: RMSNorm? = nil, keyNorm: RMSNorm? = nil
    /// RMSNorm of the concatenated heads before `output`, or nil.
    public var subNorm: RMSNorm? = nil
    /// A token at position p sees positions > p − window; nil: all earlier positions.
    public var window: Int? = nil
    /// Where a decode-step breakdown adds the time of a decode's scores, softmax and weighted
    /// values (`measureDecodeBreakdown`); nil: not timed.
    var times: DecodeStepTimes? = nil

    /// x: tokens × dim (already normalised); writes tokens × dim into `out`. New keys/values
    /// go into `cache` for `block` at positions cache.length ..< cache.length + tokens (the
    /// caller advances the cache length after the last block).
    /// `threads`: threads for a decode step's attention (prefill's runs in OpenBLAS).
    public func callAsFunction(_ x: UnsafeBufferPointer<Float>, tokens: Int, cache: inout KVCache, block: Int,
                               segments: TokenSegments? = nil, threads: Int = 1, into out: UnsafeMutableBufferPointer<Float>) {
        let segments = segments.flatMap { $0.isSequence ? nil : $0 }
        let c = configuration, dim = c.queryDimension, kvDim = c.kvDimension, hd = c.headDimension
        let past = cache.length, total = past + tokens
        precondition(total <= cache.capacity, "KV cache capacity \(cache.capacity) exceeded (\(total) tokens)")
        var q = [Float](repeating: 0, count: tokens * dim)
        var attended = [Float](repeating: 0, count: tokens * dim)
        // Decode keeps every head's scores (its heads run in parallel); prefill one head's at a time.
        var scores = [Float](repeating: 0, count: tokens == 1 ? c.headCount * total : tokens * total)
        // Each branch's tokens sit at the positions after the prefix, whatever their index.
        precondition(segments == nil || segments!.groups.count == 1 || past == 0, "independent groups need an empty cache")
        func rotate(_ v: UnsafeMutableBufferPointer<Float>, heads: Int, stride: Int) {
            guard let segments else { rope.apply(v, tokens: tokens, heads: heads, rowStride: stride, start: past); return }
            for run in segments.runs {
                rope.apply(UnsafeMutableBufferPointer(rebasing: v[(run.tokens.lowerBound * stride)...]), tokens: run.tokens.count,
                           heads: heads, rowStride: stride, start: past + run.position)
            }
        }
        var newKeys = [Float](repeating: 0, count: tokens * kvDim), newValues = newKeys
        q.withUnsafeMutableBufferPointer { q in
        newKeys.withUnsafeMutableBufferPointer { k in
        newValues.withUnsafeMutableBufferPointer { v in
            SharedInputLinears.forward([query, key, value], x, tokens: tokens, into: [q, k, v])
            if let queryNorm { queryNorm(UnsafeBufferPointer(q), tokens: tokens * c.headCount, into: q) }
            rotate(q, heads: c.headCount, stride: dim)
            if let keyNorm { keyNorm(UnsafeBufferPointer(k), tokens: tokens * c.kvHeadCount, into: k) }
            rotate(k, heads: c.kvHeadCount, stride: kvDim)
        }}}
        newKeys.withUnsafeBufferPointer { k in newValues.withUnsafeBufferPointer { v in
            cache.write(block: block, position: past, tokens: tokens, keys: k.baseAddress!, values: v.baseAddress!)
        }}
        let headStride = cache.headStride
        let group = c.headCount / c.kvHeadCount
        let scale = 1 / Float(hd).squareRoot()
        let gather = UnsafeMutablePointer<Float>.allocate(capacity: segments == nil && window == nil ? 0 : total)
        defer { gather.deallocate() }
        // With a window: each new token's position, and the first position it sees.
        let positions: [Int] = window == nil ? [] : segments.map { s in
            var p = [Int](repeating: 0, count: tokens)
            for run in s.runs { for (i, t) in run.tokens.enumerated() { p[t] = past + run.position + i } }
            return p
        } ?? (0..<tokens).map { past + $0 }
        func firstVisible(_ t: Int) -> Int { window.map { max(0, positions[t] - $0 + 1) } ?? 0 }
        q.withUnsafeBufferPointer { q in
        cache.keys[block].withUnsafeBufferPointer { kc in
        cache.values[block].withUnsafeBufferPointer { vc in
        scores.withUnsafeMutableBufferPointer { s in
        attended.withUnsafeMutableBufferPointer { a in
            if tokens == 1 {
                // Decode: one query row per head. Direct loops beat two tiny sgemm calls per
                // head (each an OpenBLAS call with its own overhead, 540 per token).
                let lo = firstVisible(0)
                let t0 = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
                defer { if let times { times.attentionNanoseconds &+= DispatchTime.now().uptimeNanoseconds - t0 } }
                FloatVectorKernels.attendDecode(q.baseAddress!, heads: c.headCount, kvHeads: c.kvHeadCount,
                                                keys: kc.baseAddress! + lo * hd, values: vc.baseAddress! + lo * hd,
                                                rowStride: hd, headStride: headStride, positions: total - lo, dim: hd, scale: scale,
                                                scores: s.baseAddress!, out: a.baseAddress!, threads: threads)
                return
            }
            for h in 0..<c.headCount {
                let kvh = h / group
                let qh = q.baseAddress! + h * hd, kh = kc.baseAddress! + kvh * headStride, vh = vc.baseAddress! + kvh * headStride
                let oh = a.baseAddress! + h * hd
                // S = Q_h K_hᵀ / √d  (tokens × total), strided views into the packed rows.
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tokens), Int32(total), Int32(hd), scale,
                            qh, Int32(dim), kh, Int32(hd), 0, s.baseAddress, Int32(total))
                for t in 0..<tokens {   // causal softmax: token t sees positions 0...past+t
                    let row = s.baseAddress! + t * total, visible = past + t + 1
                    if window != nil {
                        // Sliding window: only cache entries and visible new tokens at most
                        // window − 1 positions back (cache entry j sits at position j).
                        let lo = firstVisible(t), cached = min(lo, past)..<past
                        let ranges = segments?.visible(from: t) ?? [0..<(t + 1)]
                        var n = 0
                        for j in cached { gather[n] = row[j]; n += 1 }
                        for r in ranges { for j in r where positions[j] >= lo { gather[n] = row[past + j]; n += 1 } }
                        FloatVectorKernels.softmax(gather, n)
                        for j in 0..<total { row[j] = 0 }
                        n = 0
                        for j in cached { row[j] = gather[n]; n += 1 }
                        for r in ranges { for j in r where positions[j] >= lo { row[past + j] = gather[n]; n += 1 } }
                        continue
                    }
                    if let segments {
                        // Only what the segments let t see (and the cache): gather those scores,
                        // softmax them, scatter them back, zero the rest.
                        let ranges = segments.visible(from: t)
                        var n = past
                        for r in ranges { for j in r { gather[n] = row[past + j]; n += 1 } }
                        for j in 0..<past { gather[j] = row[j] }
                        FloatVectorKernels.softmax(gather, n)
                        for j in past..<total { row[j] = 0 }
                        for j in 0..<past { row[j] = gather[j] }
                        n = past
                        for r in ranges { for j in r { row[past + j] = gather[n]; n += 1 } }
                        continue
                    }
                    FloatVectorKernels.softmax(row, visible)
                    for j in visible..<total { row[j] = 0 }
                }
                // O_h = P V_h  (tokens × hd) into the head's columns of `attended`.
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(tokens), Int32(hd), Int32(total), 1,
                            s.baseAddress, Int32(total), vh, Int32(hd), 0, oh, Int32(dim))
            }
        }}}}}
        if let subNorm { attended.withUnsafeMutableBufferPointer { a in subNorm(UnsafeBufferPointer(a), tokens: tokens, into: a) } }
        attended.withUnsafeBufferPointer { output.forward($0, tokens: tokens, into: out) }
    }

    func mappingLinears(_ f: (LlamaLinearName, LinearLayer) -> LinearLayer) -> Attention {
        Attention(query: f(.query, query), key: f(.key, key), value: f(.value, value), output: f(.output, output),
                  configuration: configuration, rope: rope, queryNorm: queryNorm, keyNorm: keyNorm, subNorm: subNorm, window: window,
                  times: times)
    }
}

/// The gated feed-forward network: down(act(gate(x)) ⊙ up(x)) — SwiGLU for Llama, GeGLU for
/// Gemma, squared ReLU for BitNet 2B4T — with BitNet's RMSNorm before `down` where it has one.
public struct MLP {
    public let gate: LinearLayer, up: LinearLayer, down: LinearLayer
    public var activation: DecoderArchitecture.FeedForwardActivation = .silu
    /// RMSNorm of act(gate) ⊙ up before `down` (BitNet's `ffn_sub_norm`), or nil.
    public var subNorm: RMSNorm? = nil

    public func callAsFunction(_ x: UnsafeBufferPointer<Float>, tokens: Int, into out: UnsafeMutableBufferPointer<Float>) {
        let n = tokens * gate.outputCount
        var g = [Float](repeating: 0, count: n), u = [Float](repeating: 0, count: n)
        g.withUnsafeMutableBufferPointer { g in
            u.withUnsafeMutableBufferPointer { u in
                SharedInputLinears.forward([gate, up], x, tokens: tokens, into: [g, u])
                switch activation {
                case .silu: FloatVectorKernels.swiglu(g.baseAddress!, u.baseAddress!, n)
                case .geluTanh: FloatVectorKernels.geglu(g.baseAddress!, u.baseAddress!, n)
                case .reluSquared: FloatVectorKernels.reluSquaredGLU(g.baseAddress!, u.baseAddress!, n)
                }
            }
            if let subNorm { subNorm(UnsafeBufferPointer(g), tokens: tokens, into: g) }
            down.forward(UnsafeBufferPointer(g), tokens: tokens, into: out)
        }
    }

    func mappingLinears(_ f: (LlamaLinearName, LinearLayer) -> LinearLayer) -> MLP {
        MLP(gate: f(.gate, gate), up: f(.up, up), down: f(.down, down), activation: activation, subNorm: subNorm)
    }
}

/// One pre-norm transformer block: h += post(attn(norm(h))); h += post(mlp(norm(h))), where the
/// post-norms are Gemma's (`post_attention_norm`, `post_ffw_norm`) and absent elsewhere.
public struct TransformerBlock {
    public let attentionNorm: RMSNorm
    public internal(set) var attention: Attention
    public let feedForwardNorm: RMSNorm
    public let mlp: MLP
    public var postAttentionNorm: RMSNorm? = nil
    public var postFeedForwardNorm: RMSNorm? = nil

    /// `stoppingAfterInputOf`: return as soon as that layer has run on its input, leaving `h`
    /// partly updated (calibration records a layer's inputs and needs nothing after it: the
    /// inputs of q/k/v need only the norm, those of gate/up no MLP).
    /// `threads`: threads of a decode step's attention (the layers carry their own).
    public func callAsFunction(_ h: inout [Float], tokens: Int, cache: inout KVCache, block: Int,
                               segments: TokenSegments? = nil, threads: Int = 1, stoppingAfterInputOf stop: LlamaLinearName? = nil) {
        let n = h.count
        var normed = [Float](repeating: 0, count: n), delta = [Float](repeating: 0, count: n)
        h.withUnsafeBufferPointer { hp in normed.withUnsafeMutableBufferPointer { attentionNorm(hp, tokens: tokens, into: $0) } }
        func runOnly(_ layer: LinearLayer) {
            var out = [Float](repeating: 0, count: tokens * layer.outputCount)
            normed.withUnsafeBufferPointer { np in out.withUnsafeMutableBufferPointer { layer.forward(np, tokens: tokens, into: $0) } }
        }
        switch stop {
        case .query?: runOnly(attention.query); return
        case .key?: runOnly(attention.key); return
        case .value?: runOnly(attention.value); return
        default: break
        }
        normed.withUnsafeBufferPointer { np in
            delta.withUnsafeMutableBufferPointer {
                attention(np, tokens: tokens, cache: &cache, block: block, segments: segments, threads: threads, into: $0)
            }
        }
        if stop == .output { return }
        if let postAttentionNorm { delta.withUnsafeMutableBufferPointer { d in postAttentionNorm(UnsafeBufferPointer(d), tokens: tokens, into: d) } }
        addResidual(delta, to: &h)
        h.withUnsafeBufferPointer { hp in normed.withUnsafeMutableBufferPointer { feedForwardNorm(hp, tokens: tokens, into: $0) } }
        switch stop {
        case .gate?: runOnly(mlp.gate); return
        case .up?: runOnly(mlp.up); return
        default: break
        }
        normed.withUnsafeBufferPointer { np in delta.withUnsafeMutableBufferPointer { mlp(np, tokens: tokens, into: $0) } }
        if let postFeedForwardNorm { delta.withUnsafeMutableBufferPointer { d in postFeedForwardNorm(UnsafeBufferPointer(d), tokens: tokens, into: d) } }
        addResidual(delta, to: &h)
    }

    private func addResidual(_ delta: [Float], to h: inout [Float]) {
        delta.withUnsafeBufferPointer { d in h.withUnsafeMutableBufferPointer { FloatVectorKernels.add(d.baseAddress!, to: $0.baseAddress!, $0.count) } }
    }

    func mappingLinears(_ f: (LlamaLinearName, LinearLayer) -> LinearLayer) -> TransformerBlock {
        TransformerBlock(attentionNorm: attentionNorm, attention: attention.mappingLinears(f), feedForwardNorm: feedForwardNorm,
                         mlp: mlp.mappingLinears(f), postAttentionNorm: postAttentionNorm, postFeedForwardNorm: postFeedForwardNorm)
    }

    /// The seven linear layers by their GGUF names.
    public var linears: [(LlamaLinearName, LinearLayer)] {
        [(.query, attention.query), (.key, attention.key), (.value, attention.value), (.output, attention.output),
         (.gate, mlp.gate), (.up, mlp.up), (.down, mlp.down)]
    }
}

/// A Llama-family decoder: embeddings, blocks, final RMSNorm and the LM head (tied to the
/// token embedding when the file has no `output.weight`).
public struct LlamaModel {
    /// How the token embedding and LM head are held.
    public enum TablePrecision: String, Codable, Sendable {
        /// Float32, multiplied by sgemm: the accuracy reference.
        case float32
        /// Block int8 (`BlockInt8Matrix`, Q8_0 layout): a quarter of the bytes, an integer GEMV
        /// for decode — the runtime of packed models, where the head dominates a decode step.
        case int8
    }

    public let configuration: LlamaConfiguration
    /// Token embedding (vocab × dim).
    public private(set) var tokenEmbedding: TokenTable
    /// LM head (vocab × dim); the same table as `tokenEmbedding` when tied.
    public private(set) var outputHead: TokenTable
    public private(set) var blocks: [TransformerBlock]
    public let outputNorm: RMSNorm
    /// Whether the LM head shares storage with the token embedding.
    public let tiedEmbeddings: Bool
    /// Threads of the packed layers and the int8 LM head (OpenBLAS has its own setting).
    public private(set) var threads = 1

    /// Builds the model; `makeLinear` is called once per linear tensor with its Float32 weights
    /// (default: the BLAS float layer). `tables` picks the embedding/LM head representation.
    public init(weights w: LlamaWeights, tables: TablePrecision = .float32,
                makeLinear: LinearLayerFactory = { FloatLinear($1) }) throws {
        try self.init(weights: w, tables: tables) { name, _, _ in
            guard let m = w.linear[name] else { throw GGUFError.missingTensor(name: name) }
            return try makeLinear(name, m)
        }
    }

    /// Builds the model with `layer(name, rows, cols)` making every linear layer, whether or not
    /// `w` holds its Float32 weights (a packed model's layers come from the packed file).
    public init(weights w: LlamaWeights, tables: TablePrecision,
                layer makeLayer: (_ name: String, _ rows: Int, _ cols: Int) throws -> LinearLayer) throws {
        let c = w.configuration
        configuration = c
        func table(_ m: Matrix) -> TokenTable {
            if tables == .int8, let q = BlockInt8Matrix(quantizing: m) { return .int8(q) }
            return .float32(m)
        }
        tokenEmbedding = table(w.tokenEmbedding)
        outputHead = w.outputHead.map(table) ?? tokenEmbedding
        tiedEmbeddings = w.outputHead == nil
        outputNorm = RMSNorm(weight: w.outputNorm, epsilon: c.rmsNormEpsilon)
        let a = c.architecture
        func rope(base: Float) -> RotaryEmbedding {
            RotaryEmbedding(headDimension: c.headDimension, base: base, tabulatedPositions: min(c.contextLength, 1 << 16), layout: a.rotaryLayout)
        }
        let globalRope = rope(base: c.ropeFreqBase)
        let slidingRope = a.slidingWindow == nil ? globalRope : rope(base: a.slidingRopeBase)
        var blocks: [TransformerBlock] = []
        for b in 0..<c.blockCount {
            func norm(_ n: BlockNormName, if present: Bool) throws -> RMSNorm? {
                guard present else { return nil }
                guard let w = w.architectureNorms[n.tensorName(block: b)] else { throw GGUFError.missingTensor(name: n.tensorName(block: b)) }
                return RMSNorm(weight: w, epsilon: c.rmsNormEpsilon)
            }
            func layer(_ l: LlamaLinearName) throws -> LinearLayer {
                let name = l.tensorName(block: b)
                let (rows, cols) = LlamaWeights.shape(of: l, c)
                let layer = try makeLayer(name, rows, cols)
                guard layer.inputCount == cols && layer.outputCount == rows else {
                    throw GGUFError.shapeMismatch(tensor: name, expected: "layer \(rows)×\(cols)",
                                                  found: "layer \(layer.outputCount)×\(layer.inputCount) (\(layer.kind))")
                }
                return layer
            }
            let sliding = a.isSlidingLayer(b)
            let attention = Attention(query: try layer(.query), key: try layer(.key), value: try layer(.value),
                                      output: try layer(.output), configuration: c, rope: sliding ? slidingRope : globalRope,
                                      queryNorm: try norm(.query, if: a.normalizesQueryKey),
                                      keyNorm: try norm(.key, if: a.normalizesQueryKey),
                                      subNorm: try norm(.attentionSub, if: a.normalizesBeforeOutputProjections),
                                      window: sliding ? a.slidingWindow : nil)
            let mlp = MLP(gate: try layer(.gate), up: try layer(.up), down: try layer(.down), activation: a.activation,
                          subNorm: try norm(.feedForwardSub, if: a.normalizesBeforeOutputProjections))
            blocks.append(TransformerBlock(attentionNorm: RMSNorm(weight: w.attentionNorms[b], epsilon: c.rmsNormEpsilon),
                                           attention: attention,
                                           feedForwardNorm: RMSNorm(weight: w.feedForwardNorms[b], epsilon: c.rmsNormEpsilon),
                                           mlp: mlp,
                                           postAttentionNorm: try norm(.postAttention, if: a.normalizesSublayerOutputs),
                                           postFeedForwardNorm: try norm(.postFeedForward, if: a.normalizesSublayerOutputs)))
        }
        self.blocks = blocks
    }

    /// Loads a GGUF file with Float32 layers (or the layers `makeLinear` builds).
    public init(ggufPath: String, makeLinear: LinearLayerFactory = { FloatLinear($1) }) throws {
        try self.init(weights: LlamaWeights(gguf: GGUFFile(path: ggufPath)), makeLinear: makeLinear)
    }

    /// The model with every packed layer and the int8 head running on `n` threads.
    public func threaded(_ n: Int) -> LlamaModel {
        var m = mappingLinears { $1.threaded(max(1, n)) }
        m.threads = max(1, n)
        return m
    }

    /// The model for another thread running forwards at the same time: every layer and table
    /// with scratch of its own over the same weights (see `LinearLayer.replica`).
    public func replica() -> LlamaModel {
        var m = mappingLinears { $1.replica() }
        m.tokenEmbedding = tokenEmbedding.replica()
        m.outputHead = tiedEmbeddings ? m.tokenEmbedding : outputHead.replica()
        return m
    }

    /// The model with every linear layer replaced by `f(kind, layer)` (wrappers, thread changes).
    public func mappingLinears(_ f: (LlamaLinearName, LinearLayer) -> LinearLayer) -> LlamaModel {
        var m = self
        m.blocks = blocks.map { $0.mappingLinears(f) }
        return m
    }

    /// The model with each block's decode attention timed into `times`.
    func timingAttention(into times: DecodeStepTimes) -> LlamaModel {
        var m = self
        for b in m.blocks.indices { m.blocks[b].attention.times = times }
        return m
    }

    public func makeCache(capacity: Int) -> KVCache { KVCache(configuration: configuration, capacity: capacity) }

    /// Runs `tokens` (appended after what the cache holds) through the model and returns the
    /// final normalised hidden states, tokens × dim. Prefill passes many tokens at once (every
    /// linear layer is then one sgemm); decoding passes one.
    public func hiddenStates(_ tokens: [Int32], cache: inout KVCache, segments: TokenSegments? = nil) -> Matrix {
        let dim = configuration.embeddingLength, n = tokens.count
        var h = embeddings(tokens)
        // By index: `for block in blocks` copies each block, retaining its seven layers and norms.
        for b in blocks.indices { blocks[b](&h, tokens: n, cache: &cache, block: b, segments: segments, threads: threads) }
        cache.advance(by: n)
        var out = [Float](repeating: 0, count: n * dim)
        h.withUnsafeBufferPointer { hp in out.withUnsafeMutableBufferPointer { outputNorm(hp, tokens: n, into: $0) } }
        return Matrix(rows: n, cols: dim, values: out)
    }

    /// The first block's inputs for `tokens` (tokens × dim): their embedding rows, times √dim
    /// where the architecture scales them (Gemma, in Float32 as llama.cpp's `ggml_scale`).
    public func embeddings(_ tokens: [Int32]) -> [Float] {
        let dim = configuration.embeddingLength
        var h = [Float](repeating: 0, count: tokens.count * dim)
        h.withUnsafeMutableBufferPointer { hp in
            for (t, id) in tokens.enumerated() {
                precondition(id >= 0 && Int(id) < tokenEmbedding.rows, "token id \(id) out of range")
                tokenEmbedding.copyRow(Int(id), into: hp.baseAddress! + t * dim)
            }
        }
        if configuration.architecture.scalesEmbedding {
            let scale = Float(dim).squareRoot()
            for i in h.indices { h[i] *= scale }
        }
        return h
    }

    /// Logits (rows × vocab) for `count` hidden-state rows starting at row `first`.
    public func logits(_ hidden: Matrix, first: Int = 0, count: Int? = nil) -> Matrix {
        let n = count ?? (hidden.rows - first), dim = configuration.embeddingLength, v = outputHead.rows
        var out = Matrix(rows: n, cols: v)
        if n == 0 { return out }
        hidden.values.withUnsafeBufferPointer { hp in
            out.values.withUnsafeMutableBufferPointer { o in
                outputHead.multiply(hp.baseAddress! + first * dim, tokens: n, into: o.baseAddress!, threads: threads)
            }
        }
        return out
    }

    /// log p(targets[i] | row first+i) for consecutive hidden rows, computed in chunks so a long
    /// window never materialises its whole logit matrix. Accumulated in Double.
    public func logProbabilities(_ hidden: Matrix, first: Int, targets: [Int32]) -> [Double] {
        var result: [Double] = []
        result.reserveCapacity(targets.count)
        // 256 rows per head call: past a few rows the int8 head dequantizes its whole table per
        // call, so larger calls amortise that; 256 × vocabulary floats of logits stay ≈ 50 MB.
        let chunk = 256
        var i = 0
        while i < targets.count {
            let n = min(chunk, targets.count - i)
            let l = logits(hidden, first: first + i, count: n)
            l.values.withUnsafeBufferPointer { p in
                for r in 0..<n {
                    let row = p.baseAddress! + r * l.cols
                    var m = -Float.infinity
                    for j in 0..<l.cols { m = max(m, row[j]) }
                    var s = 0.0
                    for j in 0..<l.cols { s += Double(expf(row[j] - m)) }
                    result.append(Double(row[Int(targets[i + r])] - m) - log(s))
                }
            }
            i += n
        }
        return result
    }

    /// log p(targets[i] | hidden row rows[i]) for any rows (the rows that predict each choice's
    /// continuation tokens in a branched forward).
    public func logProbabilities(_ hidden: Matrix, rows: [Int], targets: [Int32]) -> [Double] {
        precondition(rows.count == targets.count)
        let dim = hidden.cols
        var gathered = Matrix(rows: rows.count, cols: dim)
        for (i, r) in rows.enumerated() {
            for j in 0..<dim { gathered.values[i * dim + j] = hidden.values[r * dim + j] }
        }
        return logProbabilities(gathered, first: 0, targets: targets)
    }

    /// Weight storage by representation ("f32", "ternary-…"), counting the embedding once when tied.
    public var weightBytesByKind: [String: Int] {
        var bytes: [String: Int] = [:]
        for b in blocks {
            for l in [b.attention.query, b.attention.key, b.attention.value, b.attention.output, b.mlp.gate, b.mlp.up, b.mlp.down] {
                bytes["linear " + l.kind, default: 0] += l.weightBytes
            }
            let norms = [b.attentionNorm, b.feedForwardNorm] + [b.attention.queryNorm, b.attention.keyNorm, b.attention.subNorm,
                                                                b.mlp.subNorm, b.postAttentionNorm, b.postFeedForwardNorm].compactMap { $0 }
            bytes["norms f32", default: 0] += norms.reduce(0) { $0 + $1.weight.count } * 4
        }
        bytes["norms f32", default: 0] += outputNorm.weight.count * 4
        bytes["token embedding \(tokenEmbedding.kind)", default: 0] += tokenEmbedding.byteCount
        if !tiedEmbeddings { bytes["output head \(outputHead.kind)", default: 0] += outputHead.byteCount }
        return bytes
    }

    /// What runs each kind of layer: the representation and, for packed layers, how many
    /// layers use each kernel selection per phase.
    public var runtimeByLayerKind: [String: LayerRuntime] {
        var out: [String: LayerRuntime] = [:]
        for b in blocks {
            for (name, layer) in b.linears {
                var r = out[name.rawValue] ?? LayerRuntime()
                r.layers += 1
                r.representations[layer.kind, default: 0] += 1
                for (phase, s) in layer.kernelSelections { r.kernels[phase, default: [:]][s.description, default: 0] += 1 }
                out[name.rawValue] = r
            }
        }
        let head = outputHead.kind == "q8_0"
            ? "q8_0: int8 × int8 GEMV for ≤ \(BlockInt8Matrix.integerPathMaxTokens) tokens, dequantize + sgemm beyond"
            : "f32 sgemm"
        out["lm_head"] = LayerRuntime(representations: [head: 1], layers: 1)
        out["token_embd"] = LayerRuntime(representations: [tokenEmbedding.kind + (tiedEmbeddings ? " (tied with lm_head)" : ""): 1], layers: 1)
        return out
    }
}

/// How one kind of layer runs in a loaded model (for `tritbench eval`'s report).
public struct LayerRuntime: Codable, Equatable, Sendable {
    /// Representation ("f32", "ternary-2bit", "q8_0 …") → number of layers of this kind using it
    /// (a packed file may leave some layers in Float32).
    public var representations: [String: Int]
    public var layers: Int
    /// Phase ("decode", "prefill") → kernel selection description → number of layers.
    public var kernels: [String: [String: Int]]

    public init(representations: [String: Int] = [:], layers: Int = 0, kernels: [String: [String: Int]] = [:]) {
        self.representations = representations; self.layers = layers; self.kernels = kernels
    }

    /// "ternary-2bit ×30" or "f32 ×26, ternary-2bit ×4".
    public var summary: String {
        representations.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
    }
}
