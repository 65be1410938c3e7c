import Foundation

/// llama.cpp's token types, `tokenizer.ggml.token_type` (it turns each into a token attribute).
public enum GGUFTokenType: Int, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// SentencePiece-style tokenizer (`tokenizer.ggml.model = "llama"`: Gemma 3, Llama 2), built to
/// give exactly the ids of llama.cpp's `llm_tokenizer_spm` (llama-cpp-python 0.3.36's copy):
///
/// 1. special tokens written in the text are cut out first (`SpecialTokenPartition`);
/// 2. each remaining fragment gets a leading space when `add_space_prefix` is set and it follows
///    a special token or starts the text, and every space becomes "▁" (U+2581);
/// 3. the fragment is split into UTF-8 characters, and adjacent symbols whose concatenation is a
///    token are merged, highest score first (`SentencePieceMerger`);
/// 4. a final symbol that is not a token becomes its bytes' `<0xXX>` tokens (byte fallback).
///
/// Decode inverts it: "▁" becomes a space, byte tokens their byte, special tokens their text.
public struct SentencePieceTokenizer: TextTokenizer {
    public let tokens: [String]
    public let scores: [Float]
    public let tokenTypes: [GGUFTokenType]
    public let bosTokenID: Int32?
    public let eosTokenID: Int32?
    public let unknownTokenID: Int32
    public let addBOS: Bool
    /// Prepend a space to the text and after each special token (`tokenizer.ggml.add_space_prefix`;
    /// Llama 2 sets it, Gemma 3 does not).
    public let addSpacePrefix: Bool
    /// Token by its UTF-8 bytes: llama.cpp's `token_to_id`, every type included (merges may form
    /// any token). Keyed by bytes, not `String`: Swift compares strings by canonical equivalence,
    /// and Gemma 3 holds distinct tokens that are canonically equal (e.g. Bengali "া" + "য়" spelt
    /// composed and decomposed), which llama.cpp, comparing bytes, keeps apart.
    let vocabulary: [ArraySlice<UInt8>: Int32]
    /// The token each byte falls back to.
    let byteTokens: [Int32]
    /// The byte a byte-type token stands for (nil for other tokens).
    let tokenBytes: [UInt8?]
    let specialTokens: SpecialTokenPartition
    /// Control, unknown or user-defined: cut out of the text before merging, rendered verbatim.
    let isSpecial: [Bool]

    public var vocabularySize: Int { tokens.count }

    /// Names llama.cpp 0.3.36 treats as end-of-generation, which it gives the control attribute
    /// whatever their type (Gemma 3's user-defined "</s>" is one): special, and not partitioned
    /// when special tokens are not parsed. (Its gemma4/plamo exception for "</s>" and its gpt-oss
    /// overrides concern other vocabularies and are not copied.)
    static let endOfGenerationNames: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
        "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
        "<｜end▁of▁sentence｜>", "[e~[",
    ]

    public init(gguf: GGUFFile) throws {
        let model = try gguf.string("tokenizer.ggml.model")
        guard model == "llama" else { throw TokenizerError.unsupportedModel(model) }
        try VocabularyConsistency.check(gguf)
        let id = { (key: String) throws -> Int32? in try gguf.ifPresent(key, gguf.integer).map(Int32.init) }
        // Defaults are llama.cpp's for this vocabulary type.
        try self.init(tokens: try gguf.strings("tokenizer.ggml.tokens"),
                      scores: try gguf.ifPresent("tokenizer.ggml.scores", gguf.floats),
                      tokenTypes: try gguf.ifPresent("tokenizer.ggml.token_type", gguf.integers),
                      bos: try id("tokenizer.ggml.bos_token_id") ?? 1,
                      eos: try id("tokenizer.ggml.eos_token_id") ?? 2,
                      unknown: try id("tokenizer.ggml.unknown_token_id") ?? 0,
                      addBOS: try gguf.ifPresent("tokenizer.ggml.add_bos_token", gguf.bool) ?? true,
                      addSpacePrefix: try gguf.ifPresent("tokenizer.ggml.add_space_prefix", gguf.bool) ?? true)
    }

    /// `scores` nil: all 0; `tokenTypes` nil: all normal (both as llama.cpp).
    public init(tokens: [String], scores: [Float]?, tokenTypes: [Int]?, bos: Int32? = nil, eos: Int32? = nil,
                unknown: Int32 = 0, addBOS: Bool = true, addSpacePrefix: Bool = true) throws {
        let n = tokens.count
        guard n > 0 else { throw TokenizerError.malformedField(field: "tokenizer.ggml.tokens", reason: "the vocabulary is empty") }
        for (field, count) in [("tokenizer.ggml.scores", scores?.count), ("tokenizer.ggml.token_type", tokenTypes?.count)] {
            if let count, count != n {
                throw TokenizerError.malformedField(field: field, reason: "\(count) entries for \(n) tokens in 'tokenizer.ggml.tokens'")
            }
        }
        for (field, value) in [("tokenizer.ggml.bos_token_id", bos), ("tokenizer.ggml.eos_token_id", eos), ("tokenizer.ggml.unknown_token_id", unknown)] {
            if let value, value < 0 || Int(value) >= n {
                throw TokenizerError.malformedField(field: field, reason: "token id \(value) is outside the vocabulary (0..<\(n))")
            }
        }
        // llama.cpp stands an empty token in as "[EMPTY_<id>]".
        self.tokens = tokens.enumerated().map { $1.isEmpty ? "[EMPTY_\($0)]" : $1 }
        self.scores = scores ?? [Float](repeating: 0, count: n)
        var types: [GGUFTokenType] = []
        types.reserveCapacity(n)
        for (i, t) in (tokenTypes ?? [Int](repeating: 1, count: n)).enumerated() {
            guard let type = GGUFTokenType(rawValue: t) else {
                throw TokenizerError.malformedField(field: "tokenizer.ggml.token_type", reason: "entry \(i) is \(t); expected 0...6")
            }
            types.append(type)
        }
        self.tokenTypes = types
        bosTokenID = bos; eosTokenID = eos; unknownTokenID = unknown
        self.addBOS = addBOS; self.addSpacePrefix = addSpacePrefix

        var vocab: [ArraySlice<UInt8>: Int32] = [:]
        vocab.reserveCapacity(n)
        for (i, t) in self.tokens.enumerated() {
            // llama.cpp asserts on a repeated text; an id could not be chosen for it.
            if let first = vocab.updateValue(Int32(i), forKey: ArraySlice(t.utf8)) {
                throw TokenizerError.malformedField(field: "tokenizer.ggml.tokens", reason: "entries \(first) and \(i) are both \(t.debugDescription)")
            }
        }
        vocabulary = vocab
        tokenBytes = try zip(self.tokens, types).enumerated().map { i, token in
            guard token.1 == .byte else { return nil }
            guard let b = Self.byteValue(of: token.0) else {
                throw TokenizerError.malformedField(field: "tokenizer.ggml.token_type",
                                                    reason: "entry \(i) is 6 (byte) but the token is \(token.0.debugDescription), not <0xXX>")
            }
            return b
        }
        // llama.cpp's byte_to_token: "<0xXX>", else the byte itself as a token. A vocabulary with
        // neither makes llama.cpp throw; here the byte becomes the unknown token.
        byteTokens = (0..<256).map { b in
            vocab[ArraySlice(String(format: "<0x%02X>", b).utf8)] ?? vocab[[UInt8(b)]] ?? unknown
        }
        // llama.cpp's attributes: the control bit also on end-of-generation names.
        let texts = self.tokens
        let control = texts.indices.map { types[$0] == .control || Self.endOfGenerationNames.contains(texts[$0]) }
        let special = texts.indices.map { control[$0] || types[$0] == .userDefined || types[$0] == .unknown }
        isSpecial = special
        specialTokens = SpecialTokenPartition(texts.indices.compactMap { i in
            guard special[i] else { return nil }
            return (Int32(i), texts[i], !control[i] && types[i] != .unknown)
        })
    }

    /// 0xXX of a "<0xXX>" token (llama.cpp reads the two hex digits after "<0x").
    static func byteValue(of token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, token.hasPrefix("<0x"), u[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    public func encode(_ text: String, addBOS: Bool? = nil) -> [Int32] {
        encode(text, addBOS: addBOS, parseSpecial: true)
    }

    /// `parseSpecial` false leaves control tokens written in the text as ordinary text (llama.cpp's
    /// `parse_special`; llama-tokenize parses them unless given `--no-parse-special`).
    public func encode(_ text: String, addBOS: Bool? = nil, parseSpecial: Bool) -> [Int32] {
        var ids: [Int32] = []
        if addBOS ?? self.addBOS, let bos = bosTokenID { ids.append(bos) }
        let bytes = Array(text.utf8)
        var afterSpecial = true
        let merger = SentencePieceMerger(vocabulary: vocabulary, scores: scores, byteTokens: byteTokens)
        for fragment in specialTokens.partition(bytes, parseSpecial: parseSpecial) {
            switch fragment {
            case let .token(id):
                ids.append(id); afterSpecial = true
            case let .text(range):
                var escaped: [UInt8] = []
                escaped.reserveCapacity(range.count + 8)
                if addSpacePrefix && afterSpecial { escaped += Self.escapedSpace }
                for b in bytes[range] { if b == 0x20 { escaped += Self.escapedSpace } else { escaped.append(b) } }
                merger.tokenize(escaped, into: &ids)
                afterSpecial = false
            }
        }
        return ids
    }

    /// "▁" (U+2581) in UTF-8: SentencePiece's visible space.
    static let escapedSpace: [UInt8] = [0xE2, 0x96, 0x81]

    /// Appends a token's bytes with each "▁" as a space. Done on bytes: as characters, "▁" and
    /// a combining mark after it are one grapheme (Gemma has "▁्"), which a string replacement misses.
    static func unescapeSpaces(_ token: String, into out: inout [UInt8]) {
        let u = Array(token.utf8)
        var i = 0
        while i < u.count {
            if i + 2 < u.count && u[i] == 0xE2 && u[i + 1] == 0x96 && u[i + 2] == 0x81 { out.append(0x20); i += 3 }
            else { out.append(u[i]); i += 1 }
        }
    }

    /// llama.cpp's detokenize with special tokens rendered: the first piece loses one leading
    /// space when `add_space_prefix` put it there; unused and undefined tokens render as nothing.
    public func decodeBytes(_ ids: [Int32]) throws -> [UInt8] {
        var out: [UInt8] = []
        for (k, id) in ids.enumerated() {
            guard id >= 0 && Int(id) < tokens.count else { throw TokenizerError.invalidTokenID(id, vocabularySize: tokens.count) }
            let start = out.count
            switch tokenTypes[Int(id)] {
            case _ where isSpecial[Int(id)]: out += tokens[Int(id)].utf8
            case .control, .unknown, .userDefined: break   // always special
            case .normal: Self.unescapeSpaces(tokens[Int(id)], into: &out)
            case .byte: out.append(tokenBytes[Int(id)]!)
            case .unused, .undefined: break
            }
            if k == 0 && addSpacePrefix && out.count > start && out[start] == 0x20 { out.remove(at: start) }
        }
        return out
    }
}

/// One fragment's symbol merging: llama.cpp's `llm_tokenizer_spm_session`.
///
/// Symbols start as the UTF-8 characters of the fragment, linked as a list. Every adjacent pair
/// whose concatenation is a token goes into a priority queue by that token's score (ties: the
/// leftmost first); the best pair is merged and the new symbol's pairs with its neighbours are
/// queued, until no pair is left. Entries made stale by an earlier merge are recognised by their
/// length, as in llama.cpp. Each final symbol is a token or, failing that, its bytes' tokens.
struct SentencePieceMerger {
    let vocabulary: [ArraySlice<UInt8>: Int32]
    let scores: [Float]
    let byteTokens: [Int32]

    private struct Symbol { var prev: Int; var next: Int; let start: Int; var count: Int }

    private struct Bigram: Comparable {
        let left: Int, right: Int, score: Float, size: Int
        /// `<` means "merged later": a lower score, or the same score further right.
        static func < (a: Bigram, b: Bigram) -> Bool { a.score < b.score || (a.score == b.score && a.left > b.left) }
        static func == (a: Bigram, b: Bigram) -> Bool { a.score == b.score && a.left == b.left }
    }

    func tokenize(_ text: [UInt8], into output: inout [Int32]) {
        guard !text.isEmpty else { return }
        var symbols: [Symbol] = []
        symbols.reserveCapacity(text.count)
        var offset = 0
        while offset < text.count {
            let n = min(Self.utf8Length(text[offset]), text.count - offset)
            symbols.append(Symbol(prev: symbols.count - 1, next: offset + n == text.count ? -1 : symbols.count + 1, start: offset, count: n))
            offset += n
        }
        var queue = MaxHeap<Bigram>()
        func tryAdd(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let size = symbols[left].count + symbols[right].count
            guard let id = token(text, symbols[left].start, size) else { return }
            queue.push(Bigram(left: left, right: right, score: scores[Int(id)], size: size))
        }
        for i in 1..<symbols.count { tryAdd(i - 1, i) }
        while let b = queue.pop() {
            let (l, r) = (symbols[b.left], symbols[b.right])
            if l.count == 0 || r.count == 0 || l.count + r.count != b.size { continue }
            symbols[b.left].count += r.count
            symbols[b.right].count = 0
            symbols[b.left].next = r.next
            if r.next >= 0 { symbols[r.next].prev = b.left }
            tryAdd(symbols[b.left].prev, b.left)
            tryAdd(b.left, symbols[b.left].next)
        }
        // llama.cpp's resegment also looks a symbol up among the queued pairs' texts, but a merged
        // symbol is always a token and a single character never equals a pair of characters, so
        // with valid UTF-8 input that lookup never succeeds: a final symbol is a token or bytes.
        var i = 0
        while i >= 0 {
            let s = symbols[i]
            if let id = token(text, s.start, s.count) { output.append(id) }
            else { for b in text[s.start..<(s.start + s.count)] { output.append(byteTokens[Int(b)]) } }
            i = s.next
        }
    }

    private func token(_ text: [UInt8], _ start: Int, _ count: Int) -> Int32? {
        vocabulary[text[start..<(start + count)]]
    }

    /// llama.cpp's `unicode_len_utf8`: the length a lead byte announces (1 for a stray continuation byte).
    static func utf8Length(_ b: UInt8) -> Int {
        switch b >> 4 {
        case 0xC, 0xD: return 2
        case 0xE: return 3
        case 0xF: return 4
        default: return 1
        }
    }
}

/// A binary max-heap: the priority queue of the merger (the standard library has none).
struct MaxHeap<Element: Comparable> {
    private var items: [Element] = []

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[parent] < items[i] else { break }
            items.swapAt(parent, i); i = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var largest = i
            if l < items.count && items[largest] < items[l] { largest = l }
            if r < items.count && items[largest] < items[r] { largest = r }
            if largest == i { break }
            items.swapAt(i, largest); i = largest
        }
        return top
    }
}
