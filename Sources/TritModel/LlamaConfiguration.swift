import TritCore

/// The hyper-parameters of a Llama-family model, read from GGUF metadata under explicit keys,
/// and the architecture whose blocks they size (`ArchitectureRegistry`).
public struct LlamaConfiguration: Equatable, Sendable, Codable {
    public var architecture: DecoderArchitecture = .llama
    public var blockCount: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var ropeFreqBase: Float
    public var rmsNormEpsilon: Float
    public var contextLength: Int
    public var vocabularySize: Int

    /// Dimensions per attention head: `attention.key_length`, else embedding / heads.
    public var headDimension: Int
    public var kvDimension: Int { kvHeadCount * headDimension }
    /// Width of the query heads together (the embedding length unless the file sets key_length).
    public var queryDimension: Int { headCount * headDimension }

    /// The (rows = outputs, cols = inputs) of a linear layer, read from the configuration alone,
    /// so the tuner can measure a model's shapes before its weights are loaded.
    public func shape(of name: LlamaLinearName) -> (rows: Int, cols: Int) {
        switch name {
        case .query: return (queryDimension, embeddingLength)
        case .output: return (embeddingLength, queryDimension)
        case .key, .value: return (kvDimension, embeddingLength)
        case .gate, .up: return (feedForwardLength, embeddingLength)
        case .down: return (embeddingLength, feedForwardLength)
        }
    }

    /// The distinct linear shapes of a block, in the order a block runs them.
    public var distinctLinearShapes: [(rows: Int, cols: Int)] {
        var out: [(rows: Int, cols: Int)] = []
        for n in LlamaLinearName.allCases { let s = shape(of: n); if !out.contains(where: { $0 == s }) { out.append(s) } }
        return out
    }

    public init(blockCount: Int, embeddingLength: Int, feedForwardLength: Int, headCount: Int, kvHeadCount: Int,
                ropeFreqBase: Float, rmsNormEpsilon: Float, contextLength: Int, vocabularySize: Int,
                headDimension: Int? = nil, architecture: DecoderArchitecture = .llama) {
        self.architecture = architecture
        self.headDimension = headDimension ?? embeddingLength / max(headCount, 1)
        self.blockCount = blockCount; self.embeddingLength = embeddingLength
        self.feedForwardLength = feedForwardLength; self.headCount = headCount; self.kvHeadCount = kvHeadCount
        self.ropeFreqBase = ropeFreqBase; self.rmsNormEpsilon = rmsNormEpsilon
        self.contextLength = contextLength; self.vocabularySize = vocabularySize
    }

    /// Reads `<arch>.block_count`, `<arch>.embedding_length`, `<arch>.feed_forward_length`,
    /// `<arch>.attention.head_count`, `<arch>.attention.head_count_kv` (default: head_count),
    /// `<arch>.rope.freq_base` (default 10000), `<arch>.attention.layer_norm_rms_epsilon`,
    /// `<arch>.context_length`, `<arch>.attention.key_length`/`value_length` (default: embedding /
    /// heads) and the vocabulary size (`<arch>.vocab_size`, else the token list); the
    /// architecture's own switches come from its `ArchitectureDefinition`.
    public init(gguf: GGUFFile) throws {
        architecture = try ArchitectureRegistry.architecture(of: gguf)
        let arch = architecture.name
        func k(_ s: String) -> String { "\(arch).\(s)" }
        blockCount = try gguf.integer(k("block_count"))
        embeddingLength = try gguf.integer(k("embedding_length"))
        feedForwardLength = try gguf.integer(k("feed_forward_length"))
        headCount = try gguf.integer(k("attention.head_count"))
        kvHeadCount = gguf.metadata[k("attention.head_count_kv")] == nil ? headCount : try gguf.integer(k("attention.head_count_kv"))
        ropeFreqBase = gguf.metadata[k("rope.freq_base")] == nil ? 10000 : Float(try gguf.float(k("rope.freq_base")))
        rmsNormEpsilon = Float(try gguf.float(k("attention.layer_norm_rms_epsilon")))
        contextLength = try gguf.integer(k("context_length"))
        if gguf.metadata[k("attention.key_length")] != nil {
            headDimension = try gguf.integer(k("attention.key_length"))
        } else {
            guard headCount > 0, embeddingLength % headCount == 0 else {
                throw GGUFError.invalidField(path: gguf.path, offset: 0, field: k("attention.head_count"),
                                             reason: "\(headCount) does not divide embedding_length \(embeddingLength) (and the file sets no attention.key_length)")
            }
            headDimension = embeddingLength / headCount
        }
        if gguf.metadata[k("attention.value_length")] != nil, try gguf.integer(k("attention.value_length")) != headDimension {
            throw GGUFError.invalidField(path: gguf.path, offset: 0, field: k("attention.value_length"),
                                         reason: "must equal attention.key_length \(headDimension) (distinct value heads are not supported)")
        }
        if gguf.metadata[k("vocab_size")] != nil {
            vocabularySize = try gguf.integer(k("vocab_size"))
        } else {
            vocabularySize = try gguf.value("tokenizer.ggml.tokens").array?.count ?? 0
        }
        try validate(path: gguf.path)
        try VocabularyConsistency.check(gguf)
        if let rope = gguf.metadata[k("rope.dimension_count")]?.integer, rope != headDimension {
            throw GGUFError.invalidField(path: gguf.path, offset: 0, field: k("rope.dimension_count"),
                                         reason: "partial RoPE (\(rope) of \(headDimension) dimensions) is not supported")
        }
    }

    func validate(path: String) throws {
        func bad(_ f: String, _ r: String) -> GGUFError { .invalidField(path: path, offset: 0, field: f, reason: r) }
        for (name, v) in [("block_count", blockCount), ("embedding_length", embeddingLength),
                          ("feed_forward_length", feedForwardLength), ("attention.head_count", headCount),
                          ("attention.head_count_kv", kvHeadCount), ("context_length", contextLength),
                          ("vocab_size", vocabularySize)] where v <= 0 {
            throw bad(name, "must be positive, found \(v)")
        }
        guard headDimension > 0 else { throw bad("attention.key_length", "must be positive, found \(headDimension)") }
        guard headCount % kvHeadCount == 0 else { throw bad("attention.head_count_kv", "\(kvHeadCount) does not divide head_count \(headCount)") }
        guard headDimension % 2 == 0 else { throw bad("attention.key_length", "head dimension \(headDimension) must be even for RoPE") }
        if let w = architecture.slidingWindow, w <= 0 { throw bad("attention.sliding_window", "must be positive, found \(w)") }
    }
}

/// The names of the seven linear layers of one transformer block, in GGUF naming.
public enum LlamaLinearName: String, CaseIterable, Sendable {
    case query = "attn_q", key = "attn_k", value = "attn_v", output = "attn_output"
    case gate = "ffn_gate", up = "ffn_up", down = "ffn_down"

    /// The full tensor name, e.g. `blk.3.attn_q.weight`.
    public func tensorName(block: Int) -> String { "blk.\(block).\(rawValue).weight" }
    /// BitNet's per-tensor scale, e.g. `blk.3.attn_q.scale`.
    public func scaleTensorName(block: Int) -> String { "blk.\(block).\(rawValue).scale" }
}

/// The norms inside a block that only some architectures have, in GGUF naming.
public enum BlockNormName: String, CaseIterable, Sendable {
    case query = "attn_q_norm", key = "attn_k_norm"
    case postAttention = "post_attention_norm", postFeedForward = "post_ffw_norm"
    case attentionSub = "attn_sub_norm", feedForwardSub = "ffn_sub_norm"

    public func tensorName(block: Int) -> String { "blk.\(block).\(rawValue).weight" }
}

/// All weights of a Llama model dequantized to Float32: the accuracy reference and the input
/// of every quantizer. Linear weights are `Matrix` (rows = outputs, cols = inputs) by tensor name.
public struct LlamaWeights: Sendable {
    public var configuration: LlamaConfiguration
    /// Token embedding (vocab × dim); also the LM head when the model has no `output.weight`.
    public var tokenEmbedding: Matrix
    /// A separate LM head (vocab × dim), or nil for tied embeddings.
    public var outputHead: Matrix?
    public var outputNorm: [Float]
    public var attentionNorms: [[Float]]
    public var feedForwardNorms: [[Float]]
    /// The norms only some architectures have, by tensor name (`blk.N.attn_q_norm.weight`, …;
    /// see `LlamaWeights.architectureNorms`).
    public var architectureNorms: [String: [Float]]
    /// BitNet's per-tensor output scales by linear tensor name (`blk.N.attn_q.weight` → β);
    /// already folded into `linear`, kept for layers built from elsewhere (a packed file, TQ blocks).
    public var tensorScales: [String: Float]
    /// Every linear layer by tensor name (`blk.N.attn_q.weight`, …).
    public var linear: [String: Matrix]
    /// The storage type of each tensor in the source file, for weight-byte accounting.
    public var sourceTypes: [String: GGMLType]

    /// Linear tensor names in forward order (block by block, q k v o gate up down).
    public var linearNames: [String] {
        (0..<configuration.blockCount).flatMap { b in LlamaLinearName.allCases.map { $0.tensorName(block: b) } }
    }

    /// Dequantizes every tensor of a Llama GGUF, checking each shape against the configuration.
    /// Linear tensors for which `loadingLinear` says false are skipped (a packed model file
    /// replaces them: dequantizing them to Float32 would only raise the peak memory).
    public init(gguf: GGUFFile, loadingLinear: (String) -> Bool = { _ in true }) throws {
        let c = try LlamaConfiguration(gguf: gguf)
        configuration = c
        tokenEmbedding = try gguf.matrix(named: "token_embd.weight", rows: c.vocabularySize, cols: c.embeddingLength)
        outputHead = gguf.tensor(named: "output.weight") == nil ? nil
            : try gguf.matrix(named: "output.weight", rows: c.vocabularySize, cols: c.embeddingLength)
        outputNorm = try gguf.vector(named: "output_norm.weight", count: c.embeddingLength)
        var an: [[Float]] = [], fn: [[Float]] = [], lin: [String: Matrix] = [:]
        var extra: [String: [Float]] = [:], scales: [String: Float] = [:]
        for b in 0..<c.blockCount {
            an.append(try gguf.vector(named: "blk.\(b).attn_norm.weight", count: c.embeddingLength))
            fn.append(try gguf.vector(named: "blk.\(b).ffn_norm.weight", count: c.embeddingLength))
            for (kind, count) in Self.architectureNorms(c) {
                extra[kind.tensorName(block: b)] = try gguf.vector(named: kind.tensorName(block: b), count: count)
            }
            for l in LlamaLinearName.allCases {
                let name = l.tensorName(block: b)
                // Optional in llama.cpp too: a missing scale is 1.
                if c.architecture.hasTensorScales, gguf.tensor(named: l.scaleTensorName(block: b)) != nil {
                    scales[name] = try gguf.vector(named: l.scaleTensorName(block: b), count: 1)[0]
                }
                let (rows, cols) = Self.shape(of: l, c)
                guard loadingLinear(name) else { continue }
                var m = try gguf.matrix(named: name, rows: rows, cols: cols)
                if let s = scales[name] { for i in m.values.indices { m.values[i] *= s } }
                lin[name] = m
            }
        }
        attentionNorms = an; feedForwardNorms = fn; linear = lin; architectureNorms = extra; tensorScales = scales
        var types: [String: GGMLType] = [:]
        for t in gguf.tensors { types[t.name] = t.type }
        sourceTypes = types
    }

    /// The extra norms of the configuration's architecture and their lengths.
    public static func architectureNorms(_ c: LlamaConfiguration) -> [(BlockNormName, Int)] {
        let a = c.architecture
        return (a.normalizesQueryKey ? [(.query, c.headDimension), (.key, c.headDimension)] : [])
            + (a.normalizesSublayerOutputs ? [(.postAttention, c.embeddingLength), (.postFeedForward, c.embeddingLength)] : [])
            + (a.normalizesBeforeOutputProjections ? [(.attentionSub, c.queryDimension), (.feedForwardSub, c.feedForwardLength)] : [])
    }

    /// (rows = outputs, cols = inputs) of a linear layer.
    public static func shape(of l: LlamaLinearName, _ c: LlamaConfiguration) -> (Int, Int) { c.shape(of: l) }
}
