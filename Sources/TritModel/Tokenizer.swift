import Foundation

/// Errors from building or using the tokenizer.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case unsupportedModel(String)
    case unsupportedPreTokenizer(String)
    case invalidMerge(index: Int, merge: String)
    case invalidTokenID(Int32, vocabularySize: Int)
    /// A tokenizer field of the GGUF that cannot be used as it is.
    case malformedField(field: String, reason: String)

    public var description: String {
        switch self {
        case let .unsupportedModel(m):
            return "tokenizer: 'tokenizer.ggml.model' is \"\(m)\"; supported: \"gpt2\" (byte-level BPE), \"llama\" (SentencePiece)"
        case let .unsupportedPreTokenizer(p):
            return "tokenizer: 'tokenizer.ggml.pre' is \"\(p)\"; supported: smollm, gpt2, default"
        case let .invalidMerge(i, m): return "tokenizer: 'tokenizer.ggml.merges'[\(i)] = \"\(m)\" is not two symbols separated by one space"
        case let .invalidTokenID(id, n): return "tokenizer: token id \(id) is outside the vocabulary (0..<\(n))"
        case let .malformedField(field, reason): return "tokenizer: '\(field)': \(reason)"
        }
    }
}

/// How text is cut into pieces before BPE.
public enum PreTokenizer: String, Sendable {
    /// GPT-2's regex `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// SmolLM: every number character becomes its own piece first, then the GPT-2 regex runs
    /// inside each remaining piece (HF: Digits(individual_digits) then ByteLevel).
    case smollm

    /// Splits text into pieces. Hand-written over Unicode scalars (no regex engine) so it is
    /// exact for the classes above and fast on hundreds of thousands of words.
    public func split(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var pieces: [String] = []
        switch self {
        case .gpt2:
            Self.gpt2Split(scalars[...], into: &pieces)
        case .smollm:
            var start = 0
            for i in 0..<scalars.count where Self.isNumber(scalars[i]) {
                if start < i { Self.gpt2Split(scalars[start..<i], into: &pieces) }
                pieces.append(String(Character(scalars[i])))
                start = i + 1
            }
            if start < scalars.count { Self.gpt2Split(scalars[start...], into: &pieces) }
        }
        return pieces
    }

    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }

    /// The GPT-2 regex as a scanner; alternatives are tried in the regex's order at each position.
    static func gpt2Split(_ s: ArraySlice<Unicode.Scalar>, into pieces: inout [String]) {
        var i = s.startIndex
        let end = s.endIndex
        func emit(_ a: Int, _ b: Int) {
            var str = String.UnicodeScalarView()
            str.append(contentsOf: s[a..<b])
            pieces.append(String(str))
        }
        while i < end {
            let c = s[i]
            // Contractions (case-sensitive, as in the regex).
            if c == "'" && i + 1 < end {
                let n1 = s[i + 1]
                if n1 == "s" || n1 == "t" || n1 == "m" || n1 == "d" { emit(i, i + 2); i += 2; continue }
                if i + 2 < end {
                    let n2 = s[i + 2]
                    if (n1 == "r" && n2 == "e") || (n1 == "v" && n2 == "e") || (n1 == "l" && n2 == "l") {
                        emit(i, i + 3); i += 3; continue
                    }
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional single space then a run.
            let j = (c == " " && i + 1 < end) ? i + 1 : i
            let d = s[j]
            if !isSpace(d) {
                var k = j + 1
                if isLetter(d) {
                    while k < end && isLetter(s[k]) { k += 1 }
                } else if isNumber(d) {
                    while k < end && isNumber(s[k]) { k += 1 }
                } else {
                    while k < end && !isSpace(s[k]) && !isLetter(s[k]) && !isNumber(s[k]) { k += 1 }
                }
                emit(i, k); i = k; continue
            }
            // `\s+(?!\S)` then `\s+`: a whitespace run, leaving its last character to start the
            // next piece when a non-space follows (so " word" keeps its space).
            var k = i
            while k < end && isSpace(s[k]) { k += 1 }
            if k == end || k - i == 1 { emit(i, k); i = k } else { emit(i, k - 1); i = k - 1 }
        }
    }
}

/// Byte-level BPE (GPT-2 style) built from a GGUF's `tokenizer.ggml.tokens`, `…merges`,
/// `…token_type` and `…pre`. Special (control / user-defined) tokens written literally in the
/// text map to their ids; decode is the exact inverse of encode.
public struct BPETokenizer: TextTokenizer {
    public let tokens: [String]
    public let preTokenizer: PreTokenizer
    public let bosTokenID: Int32?
    public let eosTokenID: Int32?
    public let addBOS: Bool
    /// Stands in for a byte the vocabulary has no token for.
    public let unknownTokenID: Int32
    let vocabulary: [String: Int32]
    /// Merge rank by the pair "left right" (the GGUF merge string itself).
    let mergeRanks: [String: Int]
    /// Special token texts, longest first so that a longer one wins at the same position.
    let specialTokens: [(bytes: [UInt8], id: Int32)]
    let isSpecial: [Bool]
    let byteToSymbol: [String]
    let symbolToByte: [Character: UInt8]

    public var vocabularySize: Int { tokens.count }

    public init(gguf: GGUFFile) throws {
        let model = try gguf.string("tokenizer.ggml.model")
        guard model == "gpt2" else { throw TokenizerError.unsupportedModel(model) }
        let pre = gguf.metadata["tokenizer.ggml.pre"]?.string ?? "default"
        let preTokenizer: PreTokenizer
        switch pre {
        case "smollm": preTokenizer = .smollm
        case "gpt2", "default": preTokenizer = .gpt2
        default: throw TokenizerError.unsupportedPreTokenizer(pre)
        }
        try VocabularyConsistency.check(gguf)
        let types = gguf.metadata["tokenizer.ggml.token_type"] == nil ? nil : try gguf.integers("tokenizer.ggml.token_type")
        try self.init(tokens: try gguf.strings("tokenizer.ggml.tokens"), merges: try gguf.strings("tokenizer.ggml.merges"),
                      tokenTypes: types, preTokenizer: preTokenizer,
                      bos: gguf.metadata["tokenizer.ggml.bos_token_id"]?.integer.map(Int32.init),
                      eos: gguf.metadata["tokenizer.ggml.eos_token_id"]?.integer.map(Int32.init),
                      unknown: Int32(gguf.metadata["tokenizer.ggml.unknown_token_id"]?.integer ?? 0),
                      addBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false)
    }

    /// `tokenTypes` follow llama.cpp: 1 normal, 3 control, 4 user-defined (3 and 4 are special).
    public init(tokens: [String], merges: [String], tokenTypes: [Int]?, preTokenizer: PreTokenizer,
                bos: Int32? = nil, eos: Int32? = nil, unknown: Int32 = 0, addBOS: Bool = false) throws {
        self.tokens = tokens
        self.preTokenizer = preTokenizer
        bosTokenID = bos; eosTokenID = eos; self.addBOS = addBOS
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where vocab[t] == nil { vocab[t] = Int32(i) }
        vocabulary = vocab
        var ranks: [String: Int] = [:]
        ranks.reserveCapacity(merges.count)
        for (i, m) in merges.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw TokenizerError.invalidMerge(index: i, merge: m) }
            if ranks[m] == nil { ranks[m] = i }
        }
        mergeRanks = ranks
        var special = [Bool](repeating: false, count: tokens.count)
        var specials: [(bytes: [UInt8], id: Int32)] = []
        if let tokenTypes {
            for (i, t) in tokenTypes.enumerated() where i < tokens.count && (t == 3 || t == 4) && !tokens[i].isEmpty {
                special[i] = true
                specials.append((Array(tokens[i].utf8), Int32(i)))
            }
        }
        specialTokens = specials.sorted { $0.bytes.count > $1.bytes.count }
        isSpecial = special
        let (b2s, s2b) = Self.byteSymbols()
        byteToSymbol = b2s; symbolToByte = s2b
        unknownTokenID = unknown
    }

    /// GPT-2's reversible map from bytes to printable characters: printable Latin-1 bytes map
    /// to themselves, the rest to U+0100 onwards (space → "Ġ", newline → "Ċ").
    static func byteSymbols() -> ([String], [Character: UInt8]) {
        var printable = [Bool](repeating: false, count: 256)
        for b in 0x21...0x7E { printable[b] = true }
        for b in 0xA1...0xAC { printable[b] = true }
        for b in 0xAE...0xFF { printable[b] = true }
        var b2s = [String](repeating: "", count: 256)
        var s2b: [Character: UInt8] = [:]
        var next: UInt32 = 256
        for b in 0..<256 {
            let scalar: Unicode.Scalar
            if printable[b] { scalar = Unicode.Scalar(UInt8(b)) } else { scalar = Unicode.Scalar(next)!; next += 1 }
            b2s[b] = String(Character(scalar))
            s2b[Character(scalar)] = UInt8(b)
        }
        return (b2s, s2b)
    }

    /// Token ids of `text` (BOS prepended only when the file asks for it and `addBOS` is true).
    public func encode(_ text: String, addBOS: Bool? = nil) -> [Int32] {
        var ids: [Int32] = []
        if addBOS ?? self.addBOS, let bos = bosTokenID { ids.append(bos) }
        var cache: [String: [Int32]] = [:]
        for segment in splitOnSpecialTokens(Array(text.utf8)) {
            switch segment {
            case let .special(id): ids.append(id)
            case let .text(bytes):
                for piece in preTokenizer.split(String(decoding: bytes, as: UTF8.self)) {
                    if let hit = cache[piece] { ids.append(contentsOf: hit); continue }
                    let encoded = bpe(piece)
                    cache[piece] = encoded
                    ids.append(contentsOf: encoded)
                }
            }
        }
        return ids
    }

    enum Segment { case text([UInt8]), special(Int32) }

    /// Cuts the text at literal occurrences of special tokens (leftmost, longest first).
    func splitOnSpecialTokens(_ bytes: [UInt8]) -> [Segment] {
        guard !specialTokens.isEmpty else { return [.text(bytes)] }
        var first = [Bool](repeating: false, count: 256)
        for s in specialTokens { first[Int(s.bytes[0])] = true }
        var out: [Segment] = []
        var start = 0, i = 0
        outer: while i < bytes.count {
            if first[Int(bytes[i])] {
                for s in specialTokens where i + s.bytes.count <= bytes.count {
                    if bytes[i..<(i + s.bytes.count)].elementsEqual(s.bytes) {
                        if start < i { out.append(.text(Array(bytes[start..<i]))) }
                        out.append(.special(s.id))
                        i += s.bytes.count; start = i
                        continue outer
                    }
                }
            }
            i += 1
        }
        if start < bytes.count { out.append(.text(Array(bytes[start...]))) }
        return out
    }

    /// Byte-level BPE of one pre-token: map bytes to symbols, then repeatedly merge the pair
    /// with the lowest merge rank (all its occurrences, left to right) until none applies.
    func bpe(_ piece: String) -> [Int32] {
        var symbols = piece.utf8.map { byteToSymbol[Int($0)] }
        while symbols.count > 1 {
            var best = Int.max, bestIndex = -1
            for k in 0..<(symbols.count - 1) {
                if let r = mergeRanks[symbols[k] + " " + symbols[k + 1]], r < best { best = r; bestIndex = k }
            }
            if bestIndex < 0 { break }
            let (a, b) = (symbols[bestIndex], symbols[bestIndex + 1])
            var merged: [String] = []
            merged.reserveCapacity(symbols.count)
            var k = 0
            while k < symbols.count {
                if k + 1 < symbols.count && symbols[k] == a && symbols[k + 1] == b { merged.append(a + b); k += 2 }
                else { merged.append(symbols[k]); k += 1 }
            }
            symbols = merged
        }
        var ids: [Int32] = []
        for s in symbols {
            if let id = vocabulary[s] { ids.append(id); continue }
            // A symbol the merges built but the vocabulary lacks: fall back to its bytes. A few
            // bytes have no token in some vocabularies (SmolLM2 lacks e.g. 0x04 and the bytes that
            // never occur in UTF-8); they become the unknown token, the one lossy case of decode.
            for ch in s { ids.append(vocabulary[String(ch)] ?? unknownTokenID) }
        }
        return ids
    }

    /// Raw bytes of token ids: special tokens give their literal text, others are mapped back
    /// through the byte-level alphabet.
    public func decodeBytes(_ ids: [Int32]) throws -> [UInt8] {
        var out: [UInt8] = []
        for id in ids {
            guard id >= 0 && Int(id) < tokens.count else { throw TokenizerError.invalidTokenID(id, vocabularySize: tokens.count) }
            let t = tokens[Int(id)]
            if isSpecial[Int(id)] { out.append(contentsOf: t.utf8); continue }
            for ch in t {
                if let b = symbolToByte[ch] { out.append(b) } else { out.append(contentsOf: String(ch).utf8) }
            }
        }
        return out
    }
}
