/// Gemma 3 as llama.cpp's `gemma3` graph runs it (src/models/gemma3.cpp, llama.cpp 0.3.36's
/// sources): token embeddings scaled by √dim; per block RMSNorm → q/k/v, RMSNorm of each q and k
/// head, RoPE on halves (NeoX), attention scaled by 1/√key_length, `attn_output`, RMSNorm of the
/// attention output (`post_attention_norm`) before the residual add; then RMSNorm → GeGLU (tanh
/// GELU) → RMSNorm of the FFN output (`post_ffw_norm`) before the residual add. Five of every
/// six layers attend within a sliding window (`attention.sliding_window`) with RoPE base 10000
/// (`rope.freq_base_swa` when present); every sixth is global with `rope.freq_base`. Tied
/// embeddings. The GGUF norm weights already hold Gemma's (1 + w), so the norms are plain RMSNorm.
/// The head dimension is `attention.key_length` (256 on 270M, where 4 heads × 256 ≠ 640).
public enum Gemma3: ArchitectureDefinition {
    public static let ggufNames = ["gemma3"]

    public static func architecture(named name: String, gguf: GGUFFile) throws -> DecoderArchitecture {
        var a = DecoderArchitecture(name: name)
        a.activation = .geluTanh
        a.rotaryLayout = .halves
        a.scalesEmbedding = true
        a.normalizesQueryKey = true
        a.normalizesSublayerOutputs = true
        if let w = gguf.metadata["\(name).attention.sliding_window"]?.integer, w > 0 {
            a.slidingWindow = w
            a.slidingWindowPattern = gguf.metadata["\(name).attention.sliding_window_pattern"]?.integer ?? 6
            if gguf.metadata["\(name).rope.freq_base_swa"] != nil {
                a.slidingRopeBase = Float(try gguf.float("\(name).rope.freq_base_swa"))
            }
        }
        if gguf.metadata["\(name).final_logit_softcapping"] != nil {
            throw GGUFError.invalidField(path: gguf.path, offset: 0, field: "\(name).final_logit_softcapping",
                                         reason: "final logit soft-capping is not supported")
        }
        return a
    }
}
