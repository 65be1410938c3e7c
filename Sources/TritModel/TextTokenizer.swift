import Foundation

/// What evaluation, calibration and training need from a tokenizer, whichever algorithm the
/// GGUF names: they only turn text into ids (and back) and know the BOS and EOS ids, so they
/// take any tokenizer and a new vocabulary type is one new conformance, not a change to each.
public protocol TextTokenizer: Sendable {
    var vocabularySize: Int { get }
    var bosTokenID: Int32? { get }
    var eosTokenID: Int32? { get }
    /// Whether the GGUF asks for BOS in front of every encoded text (`tokenizer.ggml.add_bos_token`).
    var addBOS: Bool { get }
    /// Token ids of `text`; BOS is prepended when `addBOS` (nil: the file's own setting) says so.
    func encode(_ text: String, addBOS: Bool?) -> [Int32]
    /// Raw bytes of token ids (a byte token may be half of a UTF-8 sequence).
    func decodeBytes(_ ids: [Int32]) throws -> [UInt8]
}

extension TextTokenizer {
    /// Token ids of `text` with the file's own BOS setting.
    public func encode(_ text: String) -> [Int32] { encode(text, addBOS: nil) }

    /// Text of token ids (invalid UTF-8 from a partial sequence becomes U+FFFD).
    public func decode(_ ids: [Int32]) throws -> String { String(decoding: try decodeBytes(ids), as: UTF8.self) }
}

/// The tokenizer a GGUF's `tokenizer.ggml.model` names: "gpt2" is byte-level BPE (SmolLM2),
/// "llama" is SentencePiece-style (Gemma 3, Llama 2), as llama.cpp reads them.
public func makeTokenizer(gguf: GGUFFile) throws -> any TextTokenizer {
    switch try gguf.string("tokenizer.ggml.model") {
    case "gpt2": return try BPETokenizer(gguf: gguf)
    case "llama": return try SentencePieceTokenizer(gguf: gguf)
    case let other: throw TokenizerError.unsupportedModel(other)
    }
}
