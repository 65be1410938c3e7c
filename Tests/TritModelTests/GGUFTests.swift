import Foundation
import Testing
import TritCore
@testable import TritModel

/// A minimal GGUF writer for tests: enough to build valid files and then break them.
struct TestGGUFWriter {
    var version: UInt32 = 3
    var metadata: [(String, UInt32, Data)] = []
    var tensors: [(name: String, dims: [UInt64], type: UInt32, data: Data)] = []
    var alignment = 32

    static func le<T: FixedWidthInteger>(_ v: T) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }
    static func str(_ s: String) -> Data { le(UInt64(s.utf8.count)) + Data(s.utf8) }

    mutating func add(_ key: String, type: UInt32, _ payload: Data) { metadata.append((key, type, payload)) }

    /// Returns the bytes and the absolute offset of each tensor's offset field and data.
    func build() -> Data {
        var d = Data("GGUF".utf8) + Self.le(version) + Self.le(UInt64(tensors.count)) + Self.le(UInt64(metadata.count))
        for (k, t, p) in metadata { d += Self.str(k) + Self.le(t) + p }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += (t.data.count + alignment - 1) / alignment * alignment
        }
        for (i, t) in tensors.enumerated() {
            d += Self.str(t.name) + Self.le(UInt32(t.dims.count))
            for x in t.dims { d += Self.le(x) }
            d += Self.le(t.type) + Self.le(UInt64(offsets[i]))
        }
        while d.count % alignment != 0 { d.append(0) }
        for t in tensors {
            d += t.data
            while d.count % alignment != 0 { d.append(0) }
        }
        return d
    }
}

func half(_ f: Float) -> Data { TestGGUFWriter.le(Float16(f).bitPattern) }

/// A small valid file: metadata of every type (including nested arrays) and a few tensors.
func sampleGGUF(version: UInt32 = 3) -> TestGGUFWriter {
    var w = TestGGUFWriter()
    w.version = version
    typealias W = TestGGUFWriter
    w.add("u8", type: 0, Data([200]))
    w.add("i8", type: 1, Data([0xFE]))
    w.add("u16", type: 2, W.le(UInt16(60000)))
    w.add("i16", type: 3, W.le(Int16(-300)))
    w.add("u32", type: 4, W.le(UInt32(4_000_000_000)))
    w.add("i32", type: 5, W.le(Int32(-7)))
    w.add("f32", type: 6, W.le(Float(1.5).bitPattern))
    w.add("bool", type: 7, Data([1]))
    w.add("str", type: 8, W.str("héllo"))
    w.add("arr", type: 9, W.le(UInt32(8)) + W.le(UInt64(2)) + W.str("a") + W.str("bc"))
    w.add("nested", type: 9, W.le(UInt32(9)) + W.le(UInt64(1)) + W.le(UInt32(5)) + W.le(UInt64(2)) + W.le(Int32(3)) + W.le(Int32(-4)))
    w.add("u64", type: 10, W.le(UInt64(1) << 40))
    w.add("i64", type: 11, W.le(Int64(-5)))
    w.add("f64", type: 12, W.le((0.25 as Double).bitPattern))
    // F32 2×2, Q8_0 1×32, Q4_1 1×32.
    let f32 = [Float(1), -2, 3.5, 0].reduce(Data()) { $0 + W.le($1.bitPattern) }
    var q8 = half(0.5)
    for j in 0..<32 { q8.append(UInt8(bitPattern: Int8(j - 16))) }
    var q41 = half(0.25) + half(-1)
    for j in 0..<16 { q41.append(UInt8(j) | UInt8(15 - j) << 4) }
    w.tensors = [("a.f32", [2, 2], 0, f32), ("b.q8", [32, 1], 8, q8), ("c.q41", [32, 1], 3, q41)]
    return w
}

@Suite("GGUF reader")
struct GGUFTests {
    @Test func parsesEveryMetadataTypeAndTensors() throws {
        for version: UInt32 in [2, 3] {
            let g = try GGUFFile(data: sampleGGUF(version: version).build(), path: "sample.gguf")
            #expect(g.version == version)
            #expect(g.metadata["u8"] == .uint8(200))
            #expect(g.metadata["i8"] == .int8(-2))
            #expect(g.metadata["u16"] == .uint16(60000))
            #expect(g.metadata["i16"] == .int16(-300))
            #expect(g.metadata["u32"] == .uint32(4_000_000_000))
            #expect(g.metadata["i32"] == .int32(-7))
            #expect(g.metadata["f32"] == .float32(1.5))
            #expect(g.metadata["bool"] == .bool(true))
            #expect(g.metadata["str"] == .string("héllo"))
            #expect(try g.strings("arr") == ["a", "bc"])
            #expect(g.metadata["nested"] == .array(elementType: 9, values: [.array(elementType: 5, values: [.int32(3), .int32(-4)])]))
            #expect(g.metadata["u64"] == .uint64(1 << 40))
            #expect(g.metadata["i64"] == .int64(-5))
            #expect(g.metadata["f64"] == .float64(0.25))
            #expect(g.metadataKeys.first == "u8" && g.metadataKeys.count == 14)
            #expect(g.tensors.map(\.name) == ["a.f32", "b.q8", "c.q41"])
            #expect(g.dataOffset % 32 == 0)
            let a = try g.matrix(named: "a.f32")
            #expect(a.rows == 2 && a.cols == 2 && a.values == [1, -2, 3.5, 0])
            #expect(try g.floats(of: g.requireTensor("b.q8")) == (0..<32).map { 0.5 * Float($0 - 16) })
            let q41 = try g.floats(of: g.requireTensor("c.q41"))
            let low: [Float] = (0..<16).map { 0.25 * Float($0) - 1 }
            let high: [Float] = (0..<16).map { 0.25 * Float(15 - $0) - 1 }
            #expect(q41 == low + high)
        }
    }

    @Test func honoursCustomAlignment() throws {
        var w = sampleGGUF()
        w.alignment = 64
        w.add("general.alignment", type: 4, TestGGUFWriter.le(UInt32(64)))
        let g = try GGUFFile(data: w.build(), path: "a64.gguf")
        #expect(g.alignment == 64 && g.dataOffset % 64 == 0)
        #expect(try g.matrix(named: "a.f32").values == [1, -2, 3.5, 0])
    }

    func error(_ data: Data) -> String {
        do { _ = try GGUFFile(data: data, path: "bad.gguf"); return "no error" } catch { return "\(error)" }
    }

    @Test func wrongMagic() {
        var d = sampleGGUF().build()
        d[0] = 0x58
        let e = error(d)
        #expect(e.contains("offset 0") && e.contains("'magic'") && e.contains("not a GGUF file"), "\(e)")
    }

    @Test func unsupportedVersion() {
        var d = sampleGGUF().build()
        d[4] = 7
        #expect(error(d).contains("version 7 is not supported"))
    }

    @Test func truncationNamesOffsetAndField() {
        let d = sampleGGUF().build()
        var e = error(d.prefix(10))
        #expect(e.contains("truncated at offset 8") && e.contains("'tensor_count'"), "\(e)")
        // Cut inside the metadata string "héllo".
        let cut = d.range(of: Data("héllo".utf8))!.lowerBound + 2
        e = error(d.prefix(cut))
        #expect(e.contains("truncated") && e.contains("metadata 'str'"), "\(e)")
        // Cut inside the tensor data: the last tensor runs past the end.
        e = error(d.prefix(d.count - 40))
        #expect(e.contains("tensor 'c.q41'") && e.contains("runs past the end"), "\(e)")
    }

    @Test func unknownTensorTypeAndValueType() {
        var w = sampleGGUF()
        w.tensors[1].type = 99
        var e = error(w.build())
        #expect(e.contains("tensor 'b.q8'") && e.contains("unknown or unsupported ggml type 99"), "\(e)")
        w = sampleGGUF()
        w.metadata[3].1 = 42
        e = error(w.build())
        #expect(e.contains("metadata 'i16'") && e.contains("unknown value type 42"), "\(e)")
    }

    @Test func shapeMismatch() throws {
        var w = sampleGGUF()
        w.tensors[2].dims = [33, 1]   // not a multiple of the Q4_1 block
        var e = error(w.build())
        #expect(e.contains("'c.q41'") && e.contains("shape mismatch") && e.contains("ne[0] = 33"), "\(e)")
        let g = try GGUFFile(data: sampleGGUF().build(), path: "s.gguf")
        do { _ = try g.matrix(named: "a.f32", rows: 3, cols: 2); e = "no error" } catch { e = "\(error)" }
        #expect(e.contains("'a.f32'") && e.contains("expected ne = [2, 3]") && e.contains("found ne = [2, 2]"), "\(e)")
    }

    @Test func outOfRangeOffset() {
        var d = sampleGGUF().build()
        // Rewrite the offset field of the first tensor to point far past the end (aligned).
        let nameAt = d.range(of: TestGGUFWriter.str("a.f32"))!.lowerBound
        let offsetField = nameAt + 8 + 5 + 4 + 16 + 4
        let far = TestGGUFWriter.le(UInt64(1 << 20))
        d.replaceSubrange(offsetField..<(offsetField + 8), with: far)
        let e = error(d)
        #expect(e.contains("tensor 'a.f32'") && e.contains("runs past the end of the file"), "\(e)")
        d.replaceSubrange(offsetField..<(offsetField + 8), with: TestGGUFWriter.le(UInt64(3)))
        #expect(error(d).contains("not a multiple of the alignment 32"))
    }

    @Test func absurdCountsFailCleanly() {
        var d = sampleGGUF().build()
        d.replaceSubrange(16..<24, with: TestGGUFWriter.le(UInt64.max))   // metadata_kv_count
        let e = error(d)
        #expect(e.contains("offset 16") && e.contains("metadata_kv_count") && e.contains("exceeds"), "\(e)")
    }
}

@Suite("ggml dequantizers")
struct DequantizerTests {
    func run(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { GGMLDequantizer.dequantize(type, src, into: $0) } }
        return out
    }

    @Test func f16AndBF16() {
        let f16 = [Float(1), -0.5, 65504].flatMap { [UInt8](half($0)) }
        #expect(run(.f16, f16, count: 3) == [1, -0.5, 65504])
        // bf16 of 1.0 is 0x3F80, of -2.5 is 0xC020.
        #expect(run(.bf16, [0x80, 0x3F, 0x20, 0xC0], count: 2) == [1, -2.5])
    }

    @Test func q4_0() {
        var b = [UInt8](half(2))
        for j in 0..<16 { b.append(UInt8(j) | UInt8(15 - j) << 4) }
        let low: [Float] = (0..<16).map { 2 * Float($0 - 8) }
        let high: [Float] = (0..<16).map { 2 * Float(7 - $0) }
        #expect(run(.q4_0, b, count: 32) == low + high)
    }

    @Test func q5_0() {
        // qh bit j is the fifth bit of weight j; set bits 0 and 16 (weights 0 and 16).
        var b = [UInt8](half(1)) + [0x01, 0x00, 0x01, 0x00]
        for _ in 0..<16 { b.append(0x33) }   // low nibble 3, high nibble 3
        let r = run(.q5_0, b, count: 32)
        #expect(r[0] == Float(3 + 16 - 16) && r[1] == Float(3 - 16) && r[16] == Float(3 + 16 - 16) && r[17] == Float(3 - 16))
    }

    @Test func q4_K() {
        // d = 1, dmin = 0.5; sub-block 0: scale 2, min 4; sub-block 1: scale 3, min 1; sub-block 4
        // uses the packed high bits: scale = (q[8] & 0xF) | (q[0] >> 6) << 4.
        var sc = [UInt8](repeating: 0, count: 12)
        sc[0] = 2 | (1 << 6)      // scale 0 = 2, and bit 4 of scale 4 = 1
        sc[1] = 3
        sc[4] = 4                 // min 0 = 4
        sc[5] = 1                 // min 1 = 1
        sc[8] = 0x25              // scale 4 low = 5, min 4 low = 2
        var b = [UInt8](half(1)) + [UInt8](half(0.5)) + sc
        b += [UInt8](repeating: 0x21, count: 128)   // low nibble 1, high nibble 2
        let r = run(.q4_K, b, count: 256)
        #expect(r[0] == 2 * 1 - 0.5 * 4)            // sub-block 0
        #expect(r[32] == 3 * 2 - 0.5 * 1)           // sub-block 1 (high nibbles of the first 32 bytes)
        #expect(r[128] == Float(5 | 16) * 1 - 0.5 * 2)  // sub-block 4
        #expect(r[64] == 0 && r[255] == 0)          // scales/mins 0
    }

    @Test func q6_K() {
        var b = [UInt8](repeating: 0, count: 210)
        b[0] = 0x05                   // ql[0] low = 5 → weight 0; high nibble → weight 64
        b[32] = 0x70                  // ql[32] high = 7 → weight 96
        b[128] = 0b1100_0001          // qh[0]: bits 0-1 = 1 → weight 0 gets +16; bits 6-7 = 3 → weight 96 gets +48
        for i in 0..<16 { b[192 + i] = UInt8(bitPattern: Int8(i + 1)) }
        b[208...209] = ArraySlice(half(0.5))
        let r = run(.q6_K, b, count: 256)
        #expect(r[0] == 0.5 * 1 * Float(5 + 16 - 32))
        #expect(r[64] == 0.5 * 5 * Float(0 - 32))          // scale index 4
        #expect(r[96] == 0.5 * 7 * Float(7 + 48 - 32))     // scale index 6
        #expect(r[128] == 0.5 * 9 * Float(-32))            // second half uses scales 8…
    }

    @Test func byteCounts() {
        #expect(GGMLType.q4_1.byteCount(elements: 576 * 576) == 576 * 576 / 32 * 20)
        #expect(GGMLType.q6_K.byteCount(elements: 512) == 420)
    }
}
