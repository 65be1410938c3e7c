import Foundation
import Testing
import TritCore
@testable import TritModel

/// The real Gemma-3-270M GGUF (Scripts/setup.sh assembles it), loaded once.
enum GemmaModel {
    static let path = CachePaths().gemma3Model
    static let present = FileManager.default.fileExists(atPath: path)
    static let tokenizer: SentencePieceTokenizer = try! SentencePieceTokenizer(gguf: GGUFFile(path: path))
}

@Suite("SentencePiece tokenizer (Gemma 3 vocabulary)",
       .enabled(if: GemmaModel.present, "Gemma-3-270M GGUF not in the cache: run Scripts/setup.sh"))
struct SentencePieceTokenizerTests {
    var t: SentencePieceTokenizer { GemmaModel.tokenizer }

    /// Expected ids from llama.cpp (llama-cpp-python 0.3.36's vendored copy), each text written
    /// to a file and run through
    /// `llama-tokenize -m gemma-3-270m-q4_k_m.gguf -f FILE --ids --log-disable --no-escape`
    /// (special tokens parsed, BOS as the file asks: add_bos_token is true).
    @Test func idsFromLlamaTokenize() throws {
        let cases: [(String, [Int32])] = [
            ("The quick brown fox jumps over the lazy dog.", [2, 818, 3823, 8864, 37423, 38167, 1024, 506, 31770, 4799, 236761]),
            // Digits one by one; the run of three spaces, "\n" and "\t" are user-defined tokens.
            ("In 2007, 1.34 units   of\n\ttext",
             [2, 902, 236743, 236778, 236771, 236771, 236832, 236764, 236743, 236770, 236761, 236800, 236812, 6630, 139, 1340, 107, 255968, 1005]),
            ("Größe 世界 🙂 e\u{301}", [2, 9322, 237001, 16756, 84679, 57235, 545, 238288]),
            // "▁्" (▁ + a combining virama, one grapheme) and byte fallback of U+10A5E.
            (" \u{94D}リミ\n\u{10A5E}¹", [2, 18128, 237207, 237905, 107, 478, 382, 407, 396, 238750]),
            // Control tokens parsed, "</s>" (user-defined) and "<b>" partitioned.
            ("<start_of_turn>user\nhi<end_of_turn> </s> <b>x</b>", [2, 105, 2364, 107, 2202, 106, 236743, 212, 236743, 200, 236781, 209]),
        ]
        for (text, ids) in cases {
            #expect(t.encode(text) == ids, "\(text.debugDescription)")
            #expect(try t.decode(Array(ids.dropFirst())) == text)
        }
        // `--no-parse-special`: control tokens and "</s>" (an end-of-generation name, so control
        // in llama.cpp) stay text.
        #expect(t.encode("<start_of_turn>user hi </s>", parseSpecial: false)
                == [2, 236820, 3041, 236779, 1340, 236779, 887, 236813, 2364, 5631, 1454, 236751, 236813])
    }

    /// U+10348 (Gothic hwair) has no token: its four UTF-8 bytes become <0xF0> <0x90> <0x8D> <0x88>
    /// (llama-tokenize gives [2, 478, 382, 379, 374]), and decode puts the bytes back together.
    @Test func byteFallback() throws {
        let ids = t.encode("\u{10348}")
        #expect(ids == [2, 478, 382, 379, 374])
        #expect(ids.dropFirst().map { t.tokens[Int($0)] } == ["<0xF0>", "<0x90>", "<0x8D>", "<0x88>"])
        #expect(try t.decode(Array(ids.dropFirst())) == "\u{10348}")
    }

    @Test func userDefinedTokens() throws {
        // Runs of spaces, newlines and tabs, HTML tags and "[multimodal]" are single tokens.
        for text in ["  ", "\n\n\n", "\t\t", "<b>", "</div>", "[multimodal]"] {
            let ids = t.encode(text, addBOS: false)
            #expect(ids.count == 1 && t.tokenTypes[Int(ids[0])] == .userDefined && t.tokens[Int(ids[0])] == text, "\(text.debugDescription): \(ids)")
        }
        // User-defined tokens are cut out even when special tokens are not parsed; control ones are not.
        #expect(t.encode("a<b>", addBOS: false, parseSpecial: false).contains(t.encode("<b>", addBOS: false)[0]))
        #expect(!t.encode("<bos>", addBOS: false, parseSpecial: false).contains(2))
        #expect(try t.decode(t.encode("x  y\n\nz</div>", addBOS: false)) == "x  y\n\nz</div>")
    }

    @Test func randomUnicodeRoundTrips() throws {
        var rng = SeededGenerator(seed: 20_250_306)
        let pools: [ClosedRange<UInt32>] = [0x20...0x7E, 0xA0...0x24F, 0x370...0x52F, 0x590...0x6FF, 0x900...0xDFF,
                                             0x3040...0x30FF, 0x4E00...0x9FFF, 0xAC00...0xD7A3, 0x1F300...0x1FAFF, 0x10000...0x1342F]
        for _ in 0..<300 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 1...40, using: &rng) {
                let pool = pools[Int.random(in: 0..<pools.count, using: &rng)]
                if Int.random(in: 0..<8, using: &rng) == 0 { s.append(["\n", " ", "\t", "  "].randomElement(using: &rng)!.unicodeScalars.first!); continue }
                if let u = Unicode.Scalar(UInt32.random(in: pool, using: &rng)) { s.append(u) }
            }
            let text = String(s)
            #expect(try t.decode(t.encode(text, addBOS: false)) == text, "\(text.debugDescription)")
        }
    }

    /// The protocol and the factory pick this tokenizer for the file, and it is fast enough for
    /// the evaluation texts: thousands of passages a second or so, not an O(vocabulary) scan each.
    @Test func factoryAndSpeed() throws {
        let any = try makeTokenizer(gguf: GGUFFile(path: GemmaModel.path))
        #expect(any is SentencePieceTokenizer && any.vocabularySize == 262_144 && any.bosTokenID == 2 && any.addBOS)
        let passage = String(repeating: "The energy balance of corn ethanol, in a 2007 report: 1.3 units. ", count: 10)
        let start = Date()
        for _ in 0..<200 { _ = t.encode(passage) }
        #expect(Date().timeIntervalSince(start) < 10)
    }
}

@Suite("SentencePiece tokenizer: small vocabularies and malformed fields")
struct SentencePieceSmallVocabularyTests {
    /// The highest-scoring pair merges first, whatever its position; a space becomes "▁", and
    /// add_space_prefix puts one in front of the text (and decode takes it away again).
    @Test func mergesByScoreAndSpacePrefix() throws {
        let tokens = ["<unk>", "<s>", "</s>", "▁", "a", "b", "ab", "▁a", "▁ab"] + (0..<256).map { String(format: "<0x%02X>", $0) }
        let types = [2, 3, 3, 1, 1, 1, 1, 1, 1] + [Int](repeating: 6, count: 256)
        let scores: [Float] = [0, 0, 0, -5, -5, -5, -1, -2, -0.5] + [Float](repeating: 0, count: 256)
        let t = try SentencePieceTokenizer(tokens: tokens, scores: scores, tokenTypes: types, bos: 1, eos: 2, unknown: 0)
        #expect(t.encode("ab") == [1, 8])            // "▁ab": ("a","b") first, then ("▁","ab")
        #expect(t.encode("ab ab", addBOS: false) == [8, 8])
        #expect(t.encode("c", addBOS: false) == [3, 9 + 0x63])   // byte fallback
        // After BOS the prefix space stays, as in llama.cpp's detokenize (it strips it from the
        // first piece only, which is then "<s>").
        #expect(try t.decode(t.encode("ab ab c")) == "<s> ab ab c")
        #expect(try t.decode(t.encode("ab ab c", addBOS: false)) == "ab ab c")
    }

    @Test func malformedFieldsAreErrorsNamingTheField() {
        let tokens = ["<unk>", "a", "<0x61>"]
        let cases: [(() throws -> Void, String)] = [
            ({ _ = try SentencePieceTokenizer(tokens: tokens, scores: [0, 0], tokenTypes: nil) }, "'tokenizer.ggml.scores': 2 entries for 3 tokens"),
            ({ _ = try SentencePieceTokenizer(tokens: tokens, scores: nil, tokenTypes: [2, 1, 9]) }, "'tokenizer.ggml.token_type': entry 2 is 9"),
            ({ _ = try SentencePieceTokenizer(tokens: tokens, scores: nil, tokenTypes: [2, 6, 6]) }, "'tokenizer.ggml.token_type': entry 1 is 6 (byte)"),
            ({ _ = try SentencePieceTokenizer(tokens: ["a", "b", "a"], scores: nil, tokenTypes: nil) }, "'tokenizer.ggml.tokens': entries 0 and 2"),
            ({ _ = try SentencePieceTokenizer(tokens: tokens, scores: nil, tokenTypes: nil, bos: 7) }, "'tokenizer.ggml.bos_token_id': token id 7"),
            ({ _ = try SentencePieceTokenizer(tokens: [], scores: nil, tokenTypes: nil) }, "'tokenizer.ggml.tokens': the vocabulary is empty"),
        ]
        for (body, expected) in cases {
            let e = BadInputTests.message(body)
            #expect(e.hasPrefix("tokenizer: ") && e.contains(expected), "\(e)")
        }
    }

    /// A GGUF whose scores are strings, or whose model is unknown: the error names the key.
    @Test func wrongTypesInTheGGUF() throws {
        var w = TestGGUFWriter()
        w.add("tokenizer.ggml.model", type: 8, TestGGUFWriter.str("llama"))
        w.add("tokenizer.ggml.tokens", type: 9, TestGGUFWriter.le(UInt32(8)) + TestGGUFWriter.le(UInt64(2)) + TestGGUFWriter.str("a") + TestGGUFWriter.str("b"))
        w.add("tokenizer.ggml.scores", type: 9, TestGGUFWriter.le(UInt32(8)) + TestGGUFWriter.le(UInt64(2)) + TestGGUFWriter.str("x") + TestGGUFWriter.str("y"))
        let gguf = try GGUFFile(data: w.build(), path: "s.gguf")
        let e = BadInputTests.message { _ = try makeTokenizer(gguf: gguf) }
        #expect(e.contains("'tokenizer.ggml.scores'") && e.contains("array of numbers"), "\(e)")
        var u = TestGGUFWriter()
        u.add("tokenizer.ggml.model", type: 8, TestGGUFWriter.str("bert"))
        let f = BadInputTests.message { _ = try makeTokenizer(gguf: GGUFFile(data: u.build(), path: "u.gguf")) }
        #expect(f.contains("'tokenizer.ggml.model' is \"bert\""), "\(f)")
    }
}
