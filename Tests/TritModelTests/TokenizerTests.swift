import Foundation
import Testing
import TritCore
@testable import TritModel

/// The real SmolLM2-135M GGUF and what is built from it, loaded once for all tests.
enum RealModel {
    static let path = CachePaths().defaultModel
    static let gguf: GGUFFile = try! GGUFFile(path: path)
    static let tokenizer: BPETokenizer = try! BPETokenizer(gguf: gguf)
    static let weights: LlamaWeights = try! LlamaWeights(gguf: gguf)
    static let model: LlamaModel = try! LlamaModel(weights: weights)
}

@Suite("pre-tokenizer")
struct PreTokenizerTests {
    @Test func gpt2Regex() {
        #expect(PreTokenizer.gpt2.split("Hello world") == ["Hello", " world"])
        #expect(PreTokenizer.gpt2.split("it's they're") == ["it", "'s", " they", "'re"])
        #expect(PreTokenizer.gpt2.split("a  b") == ["a", " ", " b"])
        #expect(PreTokenizer.gpt2.split("x\n\n\ty") == ["x", "\n\n", "\t", "y"])
        #expect(PreTokenizer.gpt2.split("end   ") == ["end", "   "])
        #expect(PreTokenizer.gpt2.split("$5.00!!") == ["$", "5", ".", "00", "!!"])
        #expect(PreTokenizer.gpt2.split("Größe 世界") == ["Größe", " 世界"])
    }

    @Test func smollmSplitsEveryDigit() {
        #expect(PreTokenizer.smollm.split("in 2007, x") == ["in", " ", "2", "0", "0", "7", ",", " x"])
        #expect(PreTokenizer.smollm.split("a1b") == ["a", "1", "b"])
        #expect(PreTokenizer.smollm.split("½ ٣") == ["½", " ", "٣"])   // other numbers (No) and Arabic-Indic digits
    }
}

@Suite("tokenizer (SmolLM2 vocabulary)")
struct TokenizerTests {
    let t = RealModel.tokenizer

    @Test func dataMdExample() {
        #expect(t.encode("The quick brown fox jumps over the lazy dog.") == [504, 2365, 6354, 16438, 27003, 690, 260, 23790, 2767, 30])
    }

    /// Ids checked against the vocabulary: every digit is a single-character token (ids 32…41
    /// for "0"…"9": the 17 special tokens, then the printable ASCII run from "!"), and the
    /// space before a number is its own token "Ġ" (216).
    @Test func digits() {
        #expect(t.tokens[32] == "0" && t.tokens[41] == "9" && t.tokens[216] == "Ġ")
        #expect(t.encode("2007") == [34, 32, 32, 39])
        let ids = t.encode("In 2007, 1.34")
        #expect(ids.map { t.tokens[Int($0)] } == ["In", "Ġ", "2", "0", "0", "7", ",", "Ġ", "1", ".", "3", "4"])
    }

    @Test func whitespaceRuns() {
        // "ĠĠ" is the fifth merge, so a run of spaces before a word is "ĠĠ" + "Ġword".
        let ids = t.encode("units   of")
        #expect(ids.map { t.tokens[Int($0)] } == ["units", "ĠĠ", "Ġof"])
        let nl = t.encode("a\n\n\tb")
        #expect(nl.map { t.tokens[Int($0)] } == ["a", "ĊĊ", "ĉ", "b"])
        #expect(t.encode("  ").map { t.tokens[Int($0)] } == ["ĠĠ"])
    }

    @Test func specialTokens() throws {
        #expect(t.encode("<|im_start|>user\nhi<|im_end|>").first == 1)
        #expect(t.encode("<|im_start|>user\nhi<|im_end|>").last == 2)
        #expect(t.encode("<|endoftext|>") == [0])
        #expect(t.encode("x<|im_end|>y") == [t.encode("x")[0], 2, t.encode("y")[0]])
        // A near miss is ordinary text.
        #expect(!t.encode("<|im_star|>").contains(1))
        #expect(try t.decode([1, 4093, 198, 2]) == "<|im_start|>user\n<|im_end|>")
    }

    @Test func roundTrip() throws {
        let samples = [
            "The quick brown fox jumps over the lazy dog.",
            "0123456789 3.14159 1,000,000 ½ ٣",
            "tabs\tand\nnewlines\r\n  multiple   spaces    \n\n\n",
            "Unicode: naïve café, Größe, 世界, Ελληνικά, עברית, 🙂👍🏽, e\u{301}",
            "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>",
            "   leading and trailing   ",
            "it's we've they'll I'd 'quoted'",
        ]
        for s in samples {
            let ids = t.encode(s)
            #expect(try t.decode(ids) == s, "round trip of \(s.debugDescription): \(ids)")
        }
    }

    @Test func decodeRejectsBadIDs() {
        #expect(throws: TokenizerError.self) { try t.decode([49152]) }
        #expect(throws: TokenizerError.self) { try t.decode([-1]) }
    }
}
