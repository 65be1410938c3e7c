import TritCore

/// What sets one Llama-family architecture apart from Llama: the pieces a block adds or swaps.
/// Every architecture TritBench runs (Llama, Gemma 3, BitNet) is a pre-norm decoder with the
/// same seven linear layers and the same two input groups (q/k/v, gate/up), so one block type
/// serves them all and quantization, calibration, evaluation and speed need no per-architecture
/// code; an architecture is the set of switches below, read from its GGUF in a file of its own.
public struct DecoderArchitecture: Equatable, Sendable, Codable {
    /// The nonlinearity between the gate and the up projection (`act(gate(x)) ⊙ up(x)`).
    public enum FeedForwardActivation: String, Codable, Sendable {
        /// x·σ(x): Llama's SwiGLU (and llama.cpp's `bitnet` graph).
        case silu
        /// GELU, tanh approximation: Gemma's GeGLU.
        case geluTanh = "gelu-tanh"
        /// max(x, 0)²: BitNet b1.58 2B4T.
        case reluSquared = "relu2"
    }

    /// Which coordinates RoPE rotates together.
    public enum RotaryLayout: String, Codable, Sendable {
        /// (x[2i], x[2i+1]): llama.cpp's "normal" mode, right for GGUF Llama files, whose
        /// converter permutes the Q/K rows.
        case adjacentPairs = "normal"
        /// (x[i], x[i+d/2]): llama.cpp's "NeoX" mode (Gemma, Qwen).
        case halves = "neox"
    }

    /// The GGUF `general.architecture`.
    public var name: String
    public var activation: FeedForwardActivation = .silu
    public var rotaryLayout: RotaryLayout = .adjacentPairs
    /// Token embeddings are multiplied by √dim before the first block (Gemma).
    public var scalesEmbedding = false
    /// RMSNorm of each query and key head before RoPE, one weight per head dimension
    /// (`attn_q_norm`, `attn_k_norm`: Gemma 3, Qwen 3).
    public var normalizesQueryKey = false
    /// RMSNorm of the attention output and of the FFN output before their residual adds
    /// (`post_attention_norm`, `post_ffw_norm`: Gemma 2/3).
    public var normalizesSublayerOutputs = false
    /// RMSNorm of the attention heads before `attn_output` and of act(gate) ⊙ up before
    /// `ffn_down` (`attn_sub_norm`, `ffn_sub_norm`: BitNet's SubLN).
    public var normalizesBeforeOutputProjections = false
    /// A per-tensor scale `blk.N.<linear>.scale` multiplies each linear output (BitNet); folded
    /// into the weights at load.
    public var hasTensorScales = false
    /// Sliding-window attention: a token at position p sees positions > p − window in the
    /// layers `isSlidingLayer` names; nil: every layer is global.
    public var slidingWindow: Int?
    /// Every `slidingWindowPattern`-th layer is global, the rest slide (llama.cpp's
    /// `set_swa_pattern`: layer i slides when i mod n < n − 1).
    public var slidingWindowPattern = 0
    /// RoPE base of the sliding layers (global layers use `rope.freq_base`).
    public var slidingRopeBase: Float = 10000

    public init(name: String) { self.name = name }

    /// Whether layer `block` uses the sliding window.
    public func isSlidingLayer(_ block: Int) -> Bool {
        guard slidingWindow != nil else { return false }
        return slidingWindowPattern == 0 || block % slidingWindowPattern < slidingWindowPattern - 1
    }

    /// Llama and its GGUF relatives that add nothing (SmolLM2, TinyLlama, Llama 2/3).
    public static let llama = DecoderArchitecture(name: "llama")
}

/// One architecture as TritBench reads it from a GGUF file: the switches of its blocks, and the
/// GGUF names it answers to. A new architecture is one file conforming to this plus one line in
/// `ArchitectureRegistry.definitions`.
public protocol ArchitectureDefinition {
    /// The `general.architecture` values this definition reads.
    static var ggufNames: [String] { get }
    /// The architecture of a file whose `general.architecture` is `name`, from its metadata.
    static func architecture(named name: String, gguf: GGUFFile) throws -> DecoderArchitecture
}

/// The architectures TritBench runs, by GGUF `general.architecture`.
public enum ArchitectureRegistry {
    /// Every supported architecture.
    public static let definitions: [any ArchitectureDefinition.Type] = [
        Llama.self,
        Gemma3.self,
        BitNet.self,
    ]

    /// Every `general.architecture` value TritBench reads.
    public static var supportedNames: [String] { definitions.flatMap { $0.ggufNames } }

    /// The definition for `name`, or nil.
    public static func definition(for name: String) -> (any ArchitectureDefinition.Type)? {
        definitions.first { $0.ggufNames.contains(name) }
    }

    /// The architecture of a GGUF file, or an error naming the field and what is supported.
    public static func architecture(of gguf: GGUFFile) throws -> DecoderArchitecture {
        let name = try gguf.string("general.architecture")
        guard let d = definition(for: name) else {
            throw GGUFError.invalidField(path: gguf.path, offset: 0, field: "general.architecture",
                                         reason: "\"\(name)\" is not supported; supported: \(supportedNames.joined(separator: ", "))")
        }
        return try d.architecture(named: name, gguf: gguf)
    }
}

/// Llama as llama.cpp's `llama` graph runs it: SwiGLU, RoPE on adjacent pairs, nothing else.
public enum Llama: ArchitectureDefinition {
    public static let ggufNames = ["llama"]
    public static func architecture(named name: String, gguf: GGUFFile) throws -> DecoderArchitecture { .llama }
}
