import Testing
import TritCore
import TritKernels

@Suite struct TernaryWeightsTests {
    /// 2 rows × 5 columns, groups of 3 (the second group is a 2-column tail), with an offset,
    /// a permutation and a bias: every term of the layer formula is exercised by hand.
    @Test func dequantizedAppliesScalesOffsetsPermutationAndBias() throws {
        let w = try TernaryWeights(
            rows: 2, cols: 5, groupSize: 3,
            planes: [[1, 0, -1, 1, 1,
                      0, -1, 1, 0, -1]],
            scales: [[2, 3, 0.5, 4]], offsets: [0.25, 0, 0, -1], permutation: [4, 3, 2, 1, 0], bias: [10, -10])
        let d = w.dequantized()
        // Row 0 packed values: [2.25, 0.25, -1.75, 3, 3] land on original columns [4, 3, 2, 1, 0].
        #expect(d.row(0) == [3, 3, -1.75, 0.25, 2.25])
        #expect(d.row(1) == [-5, -1, 0.5, -0.5, 0])
        let y = w.referenceForward([1, 2, 3, 4, 5], tokens: 1)
        #expect(y == [26, -17.5])  // 3+6−5.25+1+11.25 + 10 and −5−2+1.5−2+0 − 10
    }

    @Test func invalidInputsNameTheField() {
        #expect(throws: TernaryWeightsError.invalid(field: "planes[0]", reason: "value 2 at index 1 (row 0, column 1) is not in {-1, 0, +1}")) {
            try TernaryWeights(rows: 1, cols: 2, groupSize: 2, planes: [[0, 2]], scales: [[1]])
        }
        #expect(throws: TernaryWeightsError.self) {
            try TernaryWeights(rows: 1, cols: 2, groupSize: 2, planes: [[0, 1]], scales: [[1, 1]])
        }
        #expect(throws: TernaryWeightsError.self) {
            try TernaryWeights(rows: 1, cols: 3, groupSize: 3, planes: [[0, 1, 1]], scales: [[1]], permutation: [0, 0, 2])
        }
        #expect(throws: TernaryWeightsError.self) {
            try TernaryWeights(rows: 1, cols: 2, groupSize: 2, planes: [[0, 1]], scales: [[.nan]])
        }
    }

    @Test func halfPrecisionRoundingIsIdempotentAndExactForHalfValues() throws {
        let w = try TernaryWeights(rows: 1, cols: 2, groupSize: 2, planes: [[1, -1]], scales: [[0.1]], bias: [1.0 / 3])
        let r = w.roundedToHalfPrecision()
        #expect(r.scales[0][0] != 0.1)
        #expect(abs(r.scales[0][0] - 0.1) < 1e-4)
        #expect(r.roundedToHalfPrecision() == r)
    }
}
