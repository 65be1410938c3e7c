import Foundation
import Testing
import TritCore
import TritKernels
@testable import TritModel

/// Issue 23: bad input never crashes. One test per class of bad input the model layer reads,
/// each with several inputs, each checking the error names the file, the field or offset, and
/// what was expected.
@Suite("bad input: model files")
struct BadInputTests {
    typealias W = TestGGUFWriter

    static func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    /// Replaces a packed file's header JSON (and lengths) and re-seals the SHA-256, so the
    /// reader gets past the checksum to the directory it must not trust.
    static func resealed(_ file: PackedModelFile, edit: (inout [[String: Any]]) -> Void) throws -> Data {
        let bytes = file.encoded()
        let hLen = Int(bytes[16..<24].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let pLen = Int(bytes[24..<32].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try JSONSerialization.jsonObject(with: bytes[32..<(32 + hLen)]) as! [String: Any]
        var tensors = header["tensors"] as! [[String: Any]]
        edit(&tensors)
        header["tensors"] = tensors
        let h = try JSONSerialization.data(withJSONObject: header)
        var out = Data(bytes[0..<16]) + W.le(UInt64(h.count)) + W.le(UInt64(pLen)) + h + bytes[(32 + hLen)..<(32 + hLen + pLen)]
        var sha = SHA256()
        out.withUnsafeBytes { sha.update($0) }
        out.append(contentsOf: sha.finalize())
        return out
    }

    // MARK: class 1: arithmetic on untrusted sizes

    @Test func untrustedSizesAreOverflowCheckedAndBoundedByTheFile() throws {
        // .npy: negative, zero and overflowing shapes.
        func npy(_ shape: String) -> Data {
            var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
            header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
            return Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]) + W.le(UInt16(header.utf8.count)) + Data(header.utf8) + Data(count: 16)
        }
        for (shape, expected) in [("(-3, 4)", "expected positive rows and columns"), ("(2, -2)", "expected positive rows and columns"),
                                  ("(0, 4)", "expected positive rows and columns"),
                                  ("(4611686018427387904, 4)", "the product overflows"), ("(1000000, 1000000)", "truncated")] {
            let e = Self.message { _ = try NPY.decode(npy(shape), path: "w.npy") }
            #expect(e.hasPrefix("w.npy:") && e.contains(expected), "\(shape): \(e)")
            if expected != "truncated" { #expect(e.contains("'shape'"), "\(e)") }
        }
        // GGUF: two dimensions of 2^39 (product 2^78), and one 2^39 × 2^20 F32 (bytes overflow).
        for dims: [UInt64] in [[1 << 39, 1 << 39], [1 << 39, 1 << 20], [1 << 39, 2]] {
            var w = W()
            w.tensors = [("big", dims, 0, Data(count: 32))]
            let e = Self.message { _ = try GGUFFile(data: w.build(), path: "big.gguf") }
            #expect(e.hasPrefix("GGUF big.gguf:") && e.contains("tensor 'big'"), "\(e)")
            #expect(e.contains("runs past the end of the file") || e.contains("more bytes than an Int counts"), "\(e)")
        }
        // Packed: rows 2^62, an offset near 2^63, a length near 2^63, negative rows.
        let sample = try PackedModelFileTests.sample()
        let cases: [(String, Any, String)] = [("rows", 1 << 62, "do not fit the record"), ("offset", Int.max - 3, "lies outside the payload"),
                                              ("length", Int.max - 1, "lies outside the payload"), ("rows", -5, "expected positive rows"),
                                              ("cols", 1 << 40, "do not fit the record")]
        for (field, value, expected) in cases {
            let data = try Self.resealed(sample) { $0[0][field] = value }
            let e = Self.message { _ = try PackedModelFile.decode(data, path: "m.trit") }
            #expect(e.hasPrefix("packed model m.trit: tensor 'blk.0.attn_k.weight'") && e.contains(expected), "\(field)=\(value): \(e)")
        }
    }

    // MARK: class 2: consistency across a model's parts

    /// A GGUF with a vocabulary of `tokens` tokens, `<arch>.vocab_size` and special ids as given.
    static func vocabularyGGUF(tokens: Int = 4, vocabSize: UInt32? = nil, special: [(String, UInt32, Data)] = []) -> Data {
        var w = W()
        w.add("general.architecture", type: 8, W.str("llama"))
        if let vocabSize { w.add("llama.vocab_size", type: 4, W.le(vocabSize)) }
        w.add("tokenizer.ggml.model", type: 8, W.str("gpt2"))
        w.add("tokenizer.ggml.tokens", type: 9, W.le(UInt32(8)) + W.le(UInt64(tokens)) + (0..<tokens).reduce(Data()) { $0 + W.str("t\($1)") })
        w.add("tokenizer.ggml.merges", type: 9, W.le(UInt32(8)) + W.le(UInt64(0)))
        for (k, t, p) in special { w.add(k, type: t, p) }
        return w.build()
    }

    @Test func vocabularyAndSpecialTokenIdsAgreeOrTheLoadFails() throws {
        let cases: [(Data, String, String)] = [
            (Self.vocabularyGGUF(special: [("tokenizer.ggml.bos_token_id", 4, W.le(UInt32(60000)))]),
             "'tokenizer.ggml.bos_token_id' = 60000", "'tokenizer.ggml.tokens' = 4"),
            (Self.vocabularyGGUF(special: [("tokenizer.ggml.eos_token_id", 4, W.le(UInt32(4_000_000_000)))]),
             "'tokenizer.ggml.eos_token_id' = 4000000000", "within Int32"),
            (Self.vocabularyGGUF(special: [("tokenizer.ggml.padding_token_id", 5, W.le(Int32(-1)))]),
             "'tokenizer.ggml.padding_token_id' = -1", "0..<4"),
            (Self.vocabularyGGUF(vocabSize: 5), "'llama.vocab_size' = 5", "'tokenizer.ggml.tokens' = 4 tokens"),
            (Self.vocabularyGGUF(vocabSize: 4, special: [("tokenizer.ggml.bos_token_id", 4, W.le(UInt32(4)))]),
             "'tokenizer.ggml.bos_token_id' = 4", "'llama.vocab_size' = 4"),
        ]
        for (data, field, other) in cases {
            let gguf = try GGUFFile(data: data, path: "v.gguf")
            // The tokenizer (which converts ids to Int32) and the configuration both refuse it.
            for e in [Self.message { _ = try BPETokenizer(gguf: gguf) }, Self.message { try VocabularyConsistency.check(gguf) }] {
                #expect(e.hasPrefix("GGUF v.gguf:") && e.contains(field) && e.contains(other) && e.contains("expected"), "\(e)")
            }
        }
        // A consistent file passes.
        let ok = try GGUFFile(data: Self.vocabularyGGUF(vocabSize: 4, special: [("tokenizer.ggml.bos_token_id", 4, W.le(UInt32(3)))]), path: "ok.gguf")
        #expect(try VocabularyConsistency.check(ok) == 4)
        #expect(try BPETokenizer(gguf: ok).bosTokenID == 3)
    }

    // MARK: class 3: non-finite numbers

    @Test func nonFiniteWeightsAreRefusedWithTensorAndIndex() throws {
        let f32 = { (v: [Float]) in v.reduce(Data()) { $0 + W.le($1.bitPattern) } }
        var q8 = half(.nan)
        q8 += Data(count: 32)
        let cases: [(String, [UInt64], UInt32, Data, String)] = [
            ("output_norm.weight", [4], 0, f32([1, 2, .nan, 4]), "element 2 is nan"),
            ("blk.0.attn_norm.weight", [4], 0, f32([.infinity, 2, 3, 4]), "element 0 is inf"),
            ("token_embd.weight", [2, 2], 1, half(1) + half(2) + half(3) + half(-.infinity), "element 3 is -inf"),
            ("blk.0.ffn_up.weight", [32, 1], 8, q8, "element 0 is nan"),   // a NaN block scale
        ]
        for (name, dims, type, data, expected) in cases {
            var w = W()
            w.tensors = [(name, dims, type, data)]
            let gguf = try GGUFFile(data: w.build(), path: "nan.gguf")
            let e = Self.message { _ = try gguf.floats(of: gguf.requireTensor(name)) }
            #expect(e.hasPrefix("GGUF nan.gguf: tensor '\(name)'") && e.contains(expected) && e.contains("expected finite"), "\(e)")
        }
        // A dense record of a packed file, likewise.
        var sample = try PackedModelFileTests.sample()
        sample.tensors["blk.0.attn_k.weight"] = .dense(Matrix(rows: 3, cols: 2, values: [0, 1, 2, .nan, 4, 5]))
        let e = Self.message { _ = try PackedModelFile.decode(sample.encoded(), path: "m.trit") }
        #expect(e.contains("m.trit") && e.contains("'blk.0.attn_k.weight'") && e.contains("element 3 is nan"), "\(e)")
    }

    // MARK: class 4: provenance of a packed model

    @Test func aPackedModelsSourceIsResolvedAndVerifiedBeforeUse() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-prov-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        let source = sampleGGUF().build()
        try source.write(to: URL(fileURLWithPath: dir + "/models/src.gguf"))
        let sha = try PackedModelFile.sha256(ofFile: dir + "/models/src.gguf")
        func packed(_ stored: String, sha: String = sha) throws -> String {
            var f = try PackedModelFileTests.sample()
            f.header.sourceGGUFPath = stored
            f.header.sourceGGUFSHA256 = sha
            let path = dir + "/models/m-\(UInt32.random(in: 0...UInt32.max)).trit"
            // Written byte for byte (write(to:) would make a relative path absolute).
            try f.encoded().write(to: URL(fileURLWithPath: path))
            return path
        }
        // A relative path resolves against the packed file's directory, not the working directory.
        let rel = try packed("src.gguf")
        #expect(try PackedModelFile.load(path: rel).verifiedSource(packedPath: rel) == dir + "/models/src.gguf")
        // Missing, replaced, not a GGUF (whose bytes are never echoed), not a file, bad digest.
        try Data("SECRET-PASSWORD-42\n".utf8).write(to: URL(fileURLWithPath: dir + "/models/secret.txt"))
        var replaced = source; replaced[replaced.count - 1] ^= 1
        try replaced.write(to: URL(fileURLWithPath: dir + "/models/replaced.gguf"))
        let cases: [(String, String, String)] = [
            ("missing.gguf", sha, "does not exist"),
            ("replaced.gguf", sha, "the source was replaced or changed"),
            ("secret.txt", sha, "is not a GGUF file"),
            ("../models", sha, "is not a regular file"),
            ("src.gguf", "abc", "is not 64 hex digits"),
        ]
        for (stored, digest, expected) in cases {
            let p = try packed(stored, sha: digest)
            let e = Self.message { _ = try PackedModelFile.load(path: p).verifiedSource(packedPath: p) }
            #expect(e.hasPrefix("packed model \(p): source GGUF '\(stored)' from the header field 'sourceGGUFPath'") && e.contains(expected), "\(e)")
            #expect(!e.contains("SECRET"), "\(e)")
            // eval's loader stops at the same check, before reading any tensor of the source.
            let viaLoad = Self.message { _ = try LoadedModel(path: p, ternary: .dequantizedFloat32) }
            #expect(viaLoad == e)
        }
        // A GGUF-magic check on the foreign file itself never echoes its bytes either.
        let e = Self.message { _ = try GGUFFile(path: dir + "/models/secret.txt") }
        #expect(e.contains("not a GGUF file") && !e.contains("SECRET") && !e.contains("53 45 43"), "\(e)")
        // write(to:) stores a relative source path absolute.
        var f = try PackedModelFileTests.sample()
        f.header.sourceGGUFPath = "rel/x.gguf"
        try f.write(to: dir + "/abs.trit")
        #expect(try PackedModelFile.load(path: dir + "/abs.trit").header.sourceGGUFPath.hasPrefix("/"))
    }
}
