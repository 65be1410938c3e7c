/// BitNet b1.58 as llama.cpp's `bitnet` graph runs it (src/models/bitnet.cpp): a Llama block
/// with SubLN — RMSNorm of the attention heads before `attn_output` (`attn_sub_norm`) and of
/// act(gate) ⊙ up before `ffn_down` (`ffn_sub_norm`) — and a per-tensor scale
/// (`blk.N.<linear>.scale`, one float) on each linear output, folded into the weights at load.
/// Tied embeddings; RoPE on halves (llama.cpp lists `bitnet` among its NeoX-RoPE architectures:
/// the HF converter does not permute BitNet's q/k rows).
///
/// The FFN activation is what the architecture name says: llama.cpp's `bitnet` graph hard-codes
/// SiLU (it was written for 1bitLLM's bitnet_b1_58 models), while BitNet-b1.58-2B-4T, which
/// bitnet.cpp converts as `bitnet-b1.58` (earlier `bitnet-25`), uses squared ReLU — running
/// 2B4T with SiLU is the 99.8-vs-17.1 perplexity bug reported on bitnet.cpp (#588).
///
/// Activations: BitNet quantizes each token's activations to 8 bits (absmax) before every
/// ternary linear; TritBench's packed kernels do exactly that, so a BitNet model evaluated on
/// them runs as trained. (llama.cpp quantizes per 256-value block for TQ1_0/TQ2_0: the logits
/// differ by that.)
public enum BitNet: ArchitectureDefinition {
    public static let ggufNames = ["bitnet", "bitnet-b1.58", "bitnet-25"]

    public static func architecture(named name: String, gguf: GGUFFile) throws -> DecoderArchitecture {
        var a = DecoderArchitecture(name: name)
        a.activation = name == "bitnet" ? .silu : .reluSquared
        a.rotaryLayout = .halves
        a.normalizesBeforeOutputProjections = true
        a.hasTensorScales = true
        return a
    }
}
