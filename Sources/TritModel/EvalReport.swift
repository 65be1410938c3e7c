import Foundation
import TritCore
import TritKernels

/// What `tritbench eval` prints with `--json`: perplexity, task accuracies, speed and memory.
public struct EvalReport: Codable, Sendable {
    public var model: String
    /// "gguf-f32" (the GGUF dequantized to Float32) or "packed:<method>".
    public var representation: String
    public var pplSource: String?
    public var ppl: Double?
    public var tokensScored: Int?
    public var perplexity: PerplexityResult?
    public var tasks: [String: TaskResult]
    public var speed: [SpeedResult]
    public var memory: MemoryReport?

    enum CodingKeys: String, CodingKey {
        case model, representation, ppl, perplexity, tasks, speed, memory
        case pplSource = "ppl_source", tokensScored = "tokens_scored"
    }

    public init(model: String, representation: String) {
        self.model = model; self.representation = representation
        tasks = [:]; speed = []
    }

    /// Plain-text summary for a terminal.
    public var text: String {
        var s = "model: \(model) (\(representation))\n"
        if let p = perplexity {
            s += String(format: "perplexity (%@, ctx %d, stride %d, %@): %.4f over %d tokens scored (%d windows, %d tokens of text)\n",
                        pplSource ?? "?", p.context, p.stride, p.scoring.rawValue, p.perplexity, p.tokensScored, p.windows, p.tokensInText)
        }
        for name in tasks.keys.sorted() {
            let t = tasks[name]!
            s += String(format: "%@: acc %.4f  acc_norm %.4f  (%d docs, %.0f s)\n", name, t.acc, t.accNorm, t.docs, t.seconds)
        }
        for sp in speed {
            s += String(format: "speed, %d thread(s): prefill %.1f tokens/s (%d tokens), decode %.1f tokens/s (%d tokens), median of %d\n",
                        sp.threads, sp.prefillTokensPerSecond, sp.prefillTokens, sp.decodeTokensPerSecond, sp.decodeTokens, sp.repeats)
        }
        if let m = memory {
            for k in m.weightBytesByKind.keys.sorted() {
                s += String(format: "weights %@: %.1f MiB\n", k, Double(m.weightBytesByKind[k]!) / 1048576)
            }
            s += String(format: "weights total: %.1f MiB, peak RSS: %.1f MiB\n", Double(m.totalWeightBytes) / 1048576, Double(m.peakRSSBytes) / 1048576)
        }
        return s
    }
}

/// A model ready to evaluate, from either a GGUF file (Float32 reference) or a packed model
/// file (its linear layers from the file, everything else from the source GGUF it names).
public struct LoadedModel {
    public let model: LlamaModel
    public let tokenizer: BPETokenizer
    public let representation: String

    /// `makeTernaryLayer` turns a packed file's ternary tensor into a layer; the default is the
    /// dequantized Float32 form (BLAS), which the kernel-backed layer replaces when available.
    public init(path: String,
                makeTernaryLayer: (String, TernaryWeights) throws -> LinearLayer = { FloatLinear(dequantizing: $1) }) throws {
        if PackedModelFile.looksLikePackedModel(path: path) {
            let packed = try PackedModelFile.load(path: path)
            let gguf = try GGUFFile(path: packed.header.sourceGGUFPath)
            tokenizer = try BPETokenizer(gguf: gguf)
            model = try LlamaModel(weights: LlamaWeights(gguf: gguf)) { name, weights in
                switch packed.tensors[name] {
                case let .ternary(t)?: return try makeTernaryLayer(name, t)
                case let .dense(m)?: return FloatLinear(m)
                case nil: return FloatLinear(weights)
                }
            }
            representation = "packed:\(packed.header.method)"
        } else {
            let gguf = try GGUFFile(path: path)
            tokenizer = try BPETokenizer(gguf: gguf)
            model = try LlamaModel(weights: LlamaWeights(gguf: gguf))
            representation = "gguf-f32"
        }
    }
}
