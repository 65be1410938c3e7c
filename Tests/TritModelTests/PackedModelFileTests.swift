import Foundation
import Testing
import TritCore
import TritKernels
@testable import TritModel

@Suite("packed model file")
struct PackedModelFileTests {
    static func sample() throws -> PackedModelFile {
        var g = SeededGenerator(seed: 3)
        func trits(_ n: Int) -> [Int8] { (0..<n).map { _ in Int8(Int(g.next() % 3) - 1) } }
        func floats(_ n: Int) -> [Float] { (0..<n).map { _ in g.nextGaussian() } }
        let one = try TernaryWeights(rows: 5, cols: 7, groupSize: 7, planes: [trits(35)], scales: [floats(5)]).roundedToHalfPrecision()
        let two = try TernaryWeights(rows: 4, cols: 10, groupSize: 4, planes: [trits(40), trits(40)], scales: [floats(12), floats(12)],
                                     offsets: floats(12), permutation: [3, 1, 0, 2, 9, 8, 7, 6, 5, 4], bias: floats(4)).roundedToHalfPrecision()
        let dense = Matrix(rows: 3, cols: 2, values: floats(6))
        return PackedModelFile(method: "ptqtp", parameters: ["groupSize": "4", "iterations": "30"],
                               sourceGGUFPath: "/models/x.gguf", sourceGGUFSHA256: String(repeating: "ab", count: 32),
                               tensors: ["blk.0.attn_q.weight": .ternary(one), "blk.0.ffn_up.weight": .ternary(two),
                                         "blk.0.attn_k.weight": .dense(dense)])
    }

    func error(_ data: Data) -> String {
        do { _ = try PackedModelFile.decode(data, path: "m.trit"); return "no error" } catch { return "\(error)" }
    }

    @Test func roundTripThroughAFile() throws {
        let file = try Self.sample()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tritmodel-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.trit"
        try file.write(to: path)
        #expect(PackedModelFile.looksLikePackedModel(path: path))
        let back = try PackedModelFile.load(path: path)
        #expect(back == file)
        #expect(back.header.tensors.map(\.name) == ["blk.0.attn_k.weight", "blk.0.attn_q.weight", "blk.0.ffn_up.weight"])
        // Deterministic bytes: the same content encodes identically.
        #expect(back.encoded() == file.encoded())
    }

    @Test func tritPacking() {
        #expect(PackedModelFile.packTrits([-1, 0, 1, 1, -1]) == [0b10_10_01_00, 0b00_00_00_00])
    }

    @Test func damagedFilesGiveClearErrors() throws {
        let good = try Self.sample().encoded()
        var flipped = good
        flipped[good.count - 100] ^= 0x10   // inside the payload
        var e = error(flipped)
        #expect(e.contains("field 'sha256'") && e.contains("checksum mismatch") && e.contains("offset \(good.count - 32)"), "\(e)")

        e = error(good.prefix(good.count - 10))
        #expect(e.contains("truncated") && e.contains("'sha256'"), "\(e)")
        e = error(good.prefix(40))
        #expect(e.contains("truncated") && e.contains("'header'") && e.contains("offset 32"), "\(e)")
        e = error(good.prefix(20))
        #expect(e.contains("truncated") && e.contains("'lengths'"), "\(e)")

        var magic = good
        magic[0] = 0x47
        #expect(error(magic).contains("field 'magic'"))
        var version = good
        version[8] = 2
        #expect(error(version).contains("version 2 is not supported"))
        #expect(error(good + Data([0])).contains("unexpected bytes after the checksum"))
    }

    /// A record that passes the checksum but is internally inconsistent (a writer bug, or a file
    /// whose checksum was recomputed) is still rejected, naming the tensor and field.
    @Test func inconsistentRecordNamesTensor() throws {
        var file = try Self.sample()
        file.tensors = ["w": .ternary(try TernaryWeights(rows: 1, cols: 4, groupSize: 4, planes: [[1, 0, -1, 1]], scales: [[1]]))]
        var d = file.encoded()
        // Patch the packed trit byte to hold code 3 and re-seal the checksum.
        let headerLength = Int(d[16]) | Int(d[17]) << 8
        d[32 + headerLength] |= 0b11
        let body = d.prefix(d.count - 32)
        d = body + Data(SHA256.hexBytes(body))
        let e = error(d)
        #expect(e.contains("tensor 'w'") && e.contains("planes[0]") && e.contains("invalid trit code 3"), "\(e)")
    }
}

@Suite("SHA-256 of the real model")
struct SHA256Tests {
    @Test func sourceModelHashMatchesDataMd() throws {
        #expect(try PackedModelFile.sha256(ofFile: RealModel.path) == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
    }
}

extension SHA256 {
    static func hexBytes<C: Collection>(_ c: C) -> [UInt8] where C.Element == UInt8 {
        var s = SHA256(); s.update(c); return s.finalize()
    }
}
