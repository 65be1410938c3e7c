import Foundation
import Testing
import TritCore
import TritKernels
@testable import TritModel

/// llama.cpp's ternary block types against gguf-py's own quantizer: the blocks below were written
/// by `gguf.quants.quantize` (gguf 0.19.0) from random, zero and adversarial weights
/// (`Scripts/tq-fixtures.py` prints them), with gguf-py's dequantized trits beside them.
@Suite struct TernaryGGMLTests {
    static let tq1_0Hex = [
        "7f807d7d8080807a8080808080808080809c2b802b80808080802b7d80807e80808080807d7d2b808080818089807d767f7575628142",
        "8080808080808080808080808080808080808080808080808080808080808080808080808080808080808080808080807f7f7f7f0000",
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffdfdfdfd0038",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000040",
        "ff008080ff008080ff008080ff008080ff008080ff008080ff008080ff008080ff008080ff008080ff008080ff008080fd007f7f0042",
        "21162af4af507e52f4508536ebc2b72ee64be9ae706bf03609aa1deecb6749bb2e19652ca8ae2571dd07e9d24dac18b7d723f710003a",
    ]
    /// gguf-py's dequantized trits of each block: the same for both types (both round w / absmax).
    static let trits = [
        "000000000000000000-0-00000-0000000000000000000000+000000000000000000000-00000000000000000000000000--000+0000000000000000000-00-0-00000000000000000000000000000+0000000-0000000000000000000000000000000000000+00-0000--00000000-00000000000+000000000000-0--00000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++",
        "----------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------",
        "+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00+-00",
        "---++-0-+-0-+++-+-++00+--0-++0-+0-0+-+0+++00+--0+++---+0-+0+0-+--+00-+0+0+++-+00-0--++0+-+-0-0000-0+00-0+0-++0-+-+00+--+++--0+++0+--0-++----00+0+++-0++-++---0----0-0+-0+-++-+-+0--0+-0-0-+0+---0+00+--++--0+-+0+000+0++-+0---0-0+++--+++-+0000++-+-00+-0-+0++-+",
    ]
    static let tq2_0Hex = [
        "555515155555558555555555555555555559545554555555555554155555155554555555555551555555955565555545555555554545551555151555555546558142",
        "555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555550000",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0038",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000040",
        "aa005555aa005555aa005555aa005555aa005555aa005555aa005555aa005555aa005555aa005555aa005555aa005555aa005555aa005555aa005555aa0055550042",
        "4420549a426815689a6825a48a6212940a984a42a1211aa480a9041a4691989251a29490250882a6a800885861496299a61292146952a6204622984488811080003a",
    ]

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    static func trits(_ s: String) -> [Int8] { s.map { $0 == "+" ? 1 : $0 == "-" ? -1 : 0 } }

    static func cases(_ type: GGMLType) -> [(block: [UInt8], trits: [Int8])] {
        zip(type == .tq1_0 ? tq1_0Hex : tq2_0Hex, trits).map { (bytes($0), trits($1)) }
    }

    /// Reading gives gguf-py's trits; writing those trits with the block's scale gives the same
    /// bytes back; the dequantizer gives d · t for every weight.
    @Test(arguments: [GGMLType.tq1_0, .tq2_0])
    func blocksRoundTripAgainstGGUFPy(type: GGMLType) throws {
        let cases = Self.cases(type)
        #expect(cases.count == 6)
        #expect(cases.allSatisfy { $0.block.count == type.blockBytes })
        for (i, c) in cases.enumerated() {
            let (t, d) = c.block.withUnsafeBytes { GGMLTernaryBlock.decode(type, $0) }
            #expect(t == c.trits, "\(type) block \(i)")
            let bits = UInt16(c.block[type.blockBytes - 2]) | UInt16(c.block[type.blockBytes - 1]) << 8
            #expect(GGMLTernaryBlock.encode(type, trits: t, scale: Float16(bitPattern: bits)) == c.block, "\(type) block \(i)")
            #expect(d == Float(Float16(bitPattern: bits)))
        }
        let all = cases.flatMap(\.block)
        var y = [Float](repeating: .nan, count: 256 * cases.count)
        all.withUnsafeBytes { src in y.withUnsafeMutableBufferPointer { GGMLDequantizer.dequantize(type, src, into: $0) } }
        for (i, c) in cases.enumerated() {
            let d = c.block.withUnsafeBytes { GGMLTernaryBlock.decode(type, $0).scale }
            #expect(zip(y[(256 * i)..<(256 * (i + 1))], c.trits).allSatisfy { $0 == d * Float($1) }, "\(type) block \(i)")
        }
        // The fixture exercises every trit value and both signs of the scale's use.
        #expect(Set(cases.flatMap(\.trits)) == [-1, 0, 1])
    }

    /// A ternary GGUF row becomes TritBench weights with one scale per 256-weight block, and every
    /// one-plane packed format holds them exactly (the repacking a BitNet model needs at load).
    @Test(arguments: [GGMLType.tq1_0, .tq2_0])
    func blocksRepackIntoEveryFormat(type: GGMLType) throws {
        let cases = Self.cases(type)
        let rows = 2, cols = 768   // 6 blocks as 2 rows of 3
        let decoded = cases.map { c in c.block.withUnsafeBytes { GGMLTernaryBlock.decode(type, $0) } }
        let w = try TernaryWeights(rows: rows, cols: cols, groupSize: 256, planes: [decoded.flatMap(\.trits)],
                                   scales: [decoded.map(\.scale)])
        for kind in PackedFormatKind.allCases where (kind.requiredPlanes ?? 1) == 1 {
            let packed = try PackedTernaryLayer(packing: w, as: kind)
            #expect(packed.unpack() == w.roundedToHalfPrecision(), "\(type) as \(kind)")
        }
    }
}
