import Foundation

/// The checks that tie a GGUF's parts together: the model's vocabulary size, the tokenizer's
/// token list, and the special-token ids.
///
/// Every load of a model reads both the configuration and the tokenizer from the same GGUF, and
/// both call this before using any id, so a bos id of 60000 in a 49152-token vocabulary (or of 4e9,
/// beyond Int32) is an error naming both fields instead of a trap in an `Int32` conversion or an
/// out-of-range embedding row later.
public enum VocabularyConsistency {
    /// Special-token keys, each checked to lie inside the vocabulary when present.
    public static let specialTokenKeys = ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                          "tokenizer.ggml.padding_token_id", "tokenizer.ggml.unknown_token_id",
                                          "tokenizer.ggml.seperator_token_id"]

    /// Checks `<arch>.vocab_size` against the token list and every special-token id against both.
    /// Returns the vocabulary size (the token count when the model states none).
    @discardableResult
    public static func check(_ gguf: GGUFFile) throws -> Int {
        let tokensKey = "tokenizer.ggml.tokens"
        let tokenCount = gguf.metadata[tokensKey]?.array?.count
        var vocabKey = tokensKey
        var vocab = tokenCount
        if let arch = gguf.metadata["general.architecture"]?.string, let v = gguf.metadata["\(arch).vocab_size"] {
            vocabKey = "\(arch).vocab_size"
            guard let n = v.integer, n > 0 else {
                throw GGUFError.invalidField(path: gguf.path, offset: 0, field: vocabKey, reason: "expected a positive integer, found \(v)")
            }
            if let tokenCount, tokenCount != n {
                throw GGUFError.inconsistent(path: gguf.path, field: vocabKey, value: "\(n)", other: tokensKey,
                                             otherValue: "\(tokenCount) tokens", expected: "the same vocabulary size")
            }
            vocab = n
        }
        guard let vocab else { return 0 }
        for key in specialTokenKeys {
            guard let v = gguf.metadata[key] else { continue }
            guard let id = v.integer, id >= 0, id < vocab, id <= Int(Int32.max) else {
                throw GGUFError.inconsistent(path: gguf.path, field: key, value: "\(v.integer.map(String.init) ?? v.typeName)",
                                             other: vocabKey, otherValue: "\(vocab)",
                                             expected: "a token id in 0..<\(vocab) (and within Int32)")
            }
        }
        return vocab
    }
}
