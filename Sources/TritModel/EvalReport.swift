import Foundation
import TritCore
import TritKernels
import TritDispatch

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
    /// Per-part decode time (with `--speed`), one per thread count.
    public var decodeBreakdown: [DecodeBreakdown]
    public var memory: MemoryReport?
    /// Rows of the LM head: the tokens a prediction chooses among (the collapse rule's yardstick).
    public var vocabularySize: Int?
    /// Set when the perplexity exceeded the vocabulary size and the tasks were scored on at
    /// most this many documents (`EvaluationPlan.collapsedTaskLimit`).
    public var collapsedTaskLimit: Int?
    /// What runs each layer kind ("attn_q", …, "lm_head", "token_embd").
    public var runtime: [String: LayerRuntime]

    enum CodingKeys: String, CodingKey {
        case model, representation, ppl, perplexity, tasks, speed, memory, runtime
        case vocabularySize = "vocabulary_size", collapsedTaskLimit = "collapsed_task_limit"
        case decodeBreakdown = "decode_breakdown"
        case pplSource = "ppl_source", tokensScored = "tokens_scored"
    }

    public init(model: String, representation: String) {
        self.model = model; self.representation = representation
        tasks = [:]; speed = []; runtime = [:]; decodeBreakdown = []
    }

    /// Plain-text summary for a terminal.
    public var text: String {
        var s = "model: \(model) (\(representation))\n"
        if let p = perplexity {
            s += String(format: "perplexity (%@, ctx %d, stride %d, %@): %.4f over %d tokens scored (%d windows, %d tokens of text)\n",
                        pplSource ?? "?", p.context, p.stride, p.scoring.rawValue, p.perplexity, p.tokensScored, p.windows, p.tokensInText)
        }
        for kind in runtime.keys.sorted() {
            let r = runtime[kind]!
            s += "runtime \(kind): \(r.summary)"
            for phase in r.kernels.keys.sorted() {
                s += "; \(phase): " + r.kernels[phase]!.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
            }
            s += "\n"
        }
        for name in tasks.keys.sorted() {
            let t = tasks[name]!
            s += String(format: "%@: acc %.4f  acc_norm %.4f  (%d docs, %.0f s)\n", name, t.acc, t.accNorm, t.docs, t.seconds)
        }
        for sp in speed {
            let p = sp.prefillInterval, d = sp.decodeInterval
            s += String(format: "speed, %d thread(s): prefill %.1f tokens/s [%.1f, %.1f] (%d tokens), decode %.1f tokens/s [%.1f, %.1f] (%d tokens), median of %d rounds [95%% CI]\n",
                        sp.threads, sp.prefillTokensPerSecond, p.low, p.high, sp.prefillTokens,
                        sp.decodeTokensPerSecond, d.low, d.high, sp.decodeTokens, sp.repeats)
        }
        if let base = speed.first {
            for sp in speed.dropFirst() {
                let (d, p) = sp.speedup(over: base)
                s += String(format: "speedup %d → %d threads: decode %.2f× [%.2f, %.2f], prefill %.2f× [%.2f, %.2f] (median of per-round ratios [95%% CI])\n",
                            base.threads, sp.threads, d.median, d.low, d.high, p.median, p.low, p.high)
            }
        }
        for b in decodeBreakdown { s += b.text }
        if let m = memory {
            for k in m.weightBytesByKind.keys.sorted() {
                s += String(format: "weights %@: %.1f MiB\n", k, Double(m.weightBytesByKind[k]!) / 1048576)
            }
            s += String(format: "weights total: %.1f MiB, peak RSS: %.1f MiB\n", Double(m.totalWeightBytes) / 1048576, Double(m.peakRSSBytes) / 1048576)
        }
        return s
    }
}

/// How a packed model's ternary layers run.
public enum TernaryRuntime: Sendable {
    /// `PackedTernaryLinear` on the kernels `dispatch` picks (nil: the defaults), with the
    /// embedding and LM head as block int8: the fast runtime.
    case packedKernels(Dispatch?)
    /// The dequantized Float32 form through BLAS, Float32 embedding and head: the reference the
    /// packed runtime is checked against.
    case dequantizedFloat32
}

extension TernaryRuntime {
    /// The layer that runs `t` this way.
    public func layer(_ t: TernaryWeights, threads: Int) throws -> LinearLayer {
        switch self {
        case let .packedKernels(dispatch): return try PackedTernaryLinear(weights: t, dispatch: dispatch, threads: threads)
        case .dequantizedFloat32: return FloatLinear(dequantizing: t)
        }
    }
}

extension LlamaModel {
    /// A GGUF whose linear layers ship ternary (TQ1_0/TQ2_0, BitNet), as it is: each ternary
    /// tensor's trits and scales (times BitNet's per-tensor scale) repacked into the packed
    /// formats `ternary` runs, or dequantized exactly; other linear tensors in Float32.
    public init(shippedTernary gguf: GGUFFile, ternary: TernaryRuntime, threads: Int = 1) throws {
        let isTernary = { (name: String) in gguf.tensor(named: name).map { $0.type == .tq1_0 || $0.type == .tq2_0 } ?? false }
        let weights = try LlamaWeights(gguf: gguf, loadingLinear: { !isTernary($0) })
        let tables: TablePrecision
        if case .packedKernels = ternary { tables = .int8 } else { tables = .float32 }
        self = try LlamaModel(weights: weights, tables: tables) { name, rows, cols in
            guard isTernary(name) else {
                guard let m = weights.linear[name] else { throw GGUFError.missingTensor(name: name) }
                return FloatLinear(m)
            }
            return try ternary.layer(gguf.ternaryWeights(named: name, rows: rows, cols: cols,
                                                         outputScale: weights.tensorScales[name] ?? 1), threads: threads)
        }.threaded(threads)
    }
}

/// A model ready to evaluate, from a GGUF file (Float32 reference, or as shipped when it is
/// ternary) or a packed model file (its linear layers from the file, everything else from the
/// source GGUF it names).
public struct LoadedModel {
    public let model: LlamaModel
    public let tokenizer: any TextTokenizer
    public let representation: String

    /// - Parameters:
    ///   - ternary: how a packed file's ternary tensors run (default: the kernels, through this
    ///     CPU's tuning cache).
    ///   - threads: worker threads of the packed kernels and the int8 head.
    public init(path: String, ternary: TernaryRuntime = .packedKernels(Dispatch.current()), threads: Int = 1) throws {
        if PackedModelFile.looksLikePackedModel(path: path) {
            var packed = try PackedModelFile.load(path: path)
            // The source is verified (SHA-256) before any tensor or token is taken from it.
            let gguf = try GGUFFile(path: try packed.verifiedSource(packedPath: path))
            tokenizer = try makeTokenizer(gguf: gguf)
            let weights = try LlamaWeights(gguf: gguf, loadingLinear: { packed.tensors[$0] == nil })
            let tables: LlamaModel.TablePrecision
            if case .packedKernels = ternary { tables = .int8 } else { tables = .float32 }
            model = try LlamaModel(weights: weights, tables: tables) { name, _, _ in
                // Each tensor is dropped once its layer holds it, so at most one logical copy
                // of one layer exists beside the packed kernels.
                switch packed.tensors.removeValue(forKey: name) {
                case let .ternary(t)?: return try ternary.layer(t, threads: threads)
                case let .dense(m)?: return FloatLinear(m)
                case nil:
                    guard let m = weights.linear[name] else { throw GGUFError.missingTensor(name: name) }
                    return FloatLinear(m)
                }
            }.threaded(threads)
            switch ternary {
            case .packedKernels: representation = "packed:\(packed.header.method)"
            case .dequantizedFloat32: representation = "packed:\(packed.header.method) (dequantized f32)"
            }
        } else {
            let gguf = try GGUFFile(path: path)
            tokenizer = try makeTokenizer(gguf: gguf)
            // A model that ships ternary (BitNet in TQ1_0/TQ2_0) runs as it is: its blocks are
            // repacked into TritBench's formats at load, never rounded through Float32.
            let ternaryTypes = Set(gguf.tensors.filter { $0.type == .tq1_0 || $0.type == .tq2_0 }.map(\.type.description))
            if ternaryTypes.isEmpty {
                model = try LlamaModel(weights: LlamaWeights(gguf: gguf))
                representation = "gguf-f32"
            } else {
                model = try LlamaModel(shippedTernary: gguf, ternary: ternary, threads: threads)
                let types = ternaryTypes.sorted().joined(separator: "+")
                switch ternary {
                case .packedKernels: representation = "gguf-ternary:\(types)"
                case .dequantizedFloat32: representation = "gguf-ternary:\(types) (dequantized f32)"
                }
            }
        }
    }
}
