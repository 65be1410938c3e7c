import Testing
import TritCore
@testable import TritKernels

@Suite struct PackedFormatTests {
    static let shapes: [(rows: Int, cols: Int, group: Int)] = [
        (1, 1, 1), (3, 7, 7), (8, 128, 128), (13, 300, 128), (37, 641, 64), (9, 160, 160), (33, 1000, 1000),
    ]

    @Test(arguments: PackedFormatKind.allCases)
    func packUnpackIsExact(kind: PackedFormatKind) throws {
        var g = SeededGenerator(seed: 7)
        for s in Self.shapes {
            let planes = kind.requiredPlanes ?? 2
            let w = TernaryWeights.random(rows: s.rows, cols: s.cols, groupSize: s.group, planes: planes,
                                          offsets: true, permutation: true, bias: true, using: &g)
            let packed = try PackedTernaryLayer(packing: w, as: kind)
            #expect(packed.unpack() == w, "\(kind) \(s)")
            #expect(packed.kind == kind || (kind == .bitmask))
            // A copy in fresh memory unpacks to the same weights.
            #expect(packed.duplicated().unpack() == w)
        }
    }

    @Test func bitmaskHoldsOneOrTwoPlanes() throws {
        var g = SeededGenerator(seed: 8)
        for planes in 1...2 {
            let w = TernaryWeights.random(rows: 5, cols: 200, groupSize: 128, planes: planes, using: &g)
            #expect(try PackedTernaryLayer(packing: w, as: .bitmask).unpack() == w)
        }
    }

    @Test func base3EncodesEveryTenTritsWithoutDivision() {
        for v in 0..<59049 {
            var digits = [Int](repeating: 0, count: 10), x = v
            for k in (0..<10).reversed() { digits[k] = x % 3; x /= 3 }
            let lane = Base3TernaryMatrix.encode(digits)
            for k in 0..<10 where Int(Base3TernaryMatrix.decode(lane, trit: k)) != digits[k] {
                Issue.record("value \(v) stored as \(lane): trit \(k) decodes wrong")
            }
        }
        // Every column of a 160-column block has its own (lane, trit) slot.
        let slots = Set((0..<160).map { j -> Int in let s = Base3TernaryMatrix.slot(column: j); return s.lane * 10 + s.trit })
        #expect(slots.count == 160)
    }

    @Test func wrongPlaneCountIsATypedError() {
        var g = SeededGenerator(seed: 9)
        let one = TernaryWeights.random(rows: 4, cols: 64, groupSize: 64, planes: 1, using: &g)
        let two = TernaryWeights.random(rows: 4, cols: 64, groupSize: 64, planes: 2, using: &g)
        #expect(throws: PackedFormatError.planeCount(format: .twoPlane, expected: "2", got: 1)) {
            try PackedTernaryLayer(packing: one, as: .twoPlane)
        }
        #expect(throws: PackedFormatError.planeCount(format: .lut, expected: "1", got: 2)) {
            try PackedTernaryLayer(packing: two, as: .lut)
        }
    }

    /// Sizes: trits plus fp16 side data, padding counted.
    @Test func bitsPerWeightAreWhatIsStored() throws {
        var g = SeededGenerator(seed: 10)
        let one = TernaryWeights.random(rows: 64, cols: 1280, groupSize: 128, planes: 1, using: &g)
        let two = TernaryWeights.random(rows: 64, cols: 1280, groupSize: 128, planes: 2, using: &g)
        let side1 = 16.0 / 128, side2 = 2 * 16.0 / 128
        func bpw(_ w: TernaryWeights, _ k: PackedFormatKind) throws -> Double { try PackedTernaryLayer(packing: w, as: k).bitsPerWeight }
        #expect(abs(try bpw(one, .twoBit) - (2 + side1)) < 1e-9)
        #expect(abs(try bpw(one, .base3) - (1.6 + side1)) < 1e-9)  // 1280 = 8 × 160: no padding
        #expect(abs(try bpw(one, .lut) - (2 + side1)) < 1e-9)
        #expect(abs(try bpw(two, .twoPlane) - (3.2 + side2)) < 1e-9)
        #expect(abs(try bpw(two, .twoPlane2Bit) - (4 + side2)) < 1e-9)
        #expect(abs(try bpw(two, .bitmask) - (4 + side2)) < 1e-9)
    }
}
