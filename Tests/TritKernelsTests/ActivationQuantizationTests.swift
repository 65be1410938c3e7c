import Testing
import TritCore
@testable import TritKernels
#if arch(x86_64)
import TritKernelsAVX2
#endif

@Suite struct ActivationQuantizationTests {
    /// The quantizer every variant shares: scale, rounding, padding and group sums.
    @Test func absmaxInt8WithGroupSums() {
        let cols = 300
        let acts = QuantizedActivations(cols: cols, groupSize: 128, permutation: nil)
        var x = (0..<(2 * cols)).map { Float($0 % 17) - 8 }
        x[5] = -32  // token 0 absmax
        x.withUnsafeBufferPointer { acts.quantize($0, tokens: 2) }
        #expect(acts.d[0] == 32 / 127 && acts.d[1] == 8 / 127)
        #expect(acts.q[5] == -127)
        for t in 0..<2 {
            let row = acts.q + t * acts.stride
            for j in 0..<cols {
                let inv: Float = t == 0 ? 127 / 32 : 127 / 8
                #expect(row[j] == Int8((x[t * cols + j] * inv).rounded(.toNearestOrEven)))
            }
            for j in cols..<acts.stride { #expect(row[j] == 0) }
            for g in 0..<3 {
                let expected = (g * 128..<min(cols, g * 128 + 128)).reduce(Int32(0)) { $0 + Int32(row[$1]) }
                #expect(acts.sums[t * 3 + g] == expected)
            }
        }
        // A token of zeros has scale 0; a non-finite token gives NaN outputs, not garbage.
        var z = [Float](repeating: 0, count: cols); z[7] = .infinity
        z.withUnsafeBufferPointer { acts.quantize($0, tokens: 1) }
        #expect(acts.d[0].isNaN)
        z[7] = 0
        z.withUnsafeBufferPointer { acts.quantize($0, tokens: 1) }
        #expect(acts.d[0] == 0 && (0..<cols).allSatisfy { acts.q[$0] == 0 })
    }

    #if arch(x86_64)
    /// The AVX2 quantizer rounds exactly as the scalar one, ties included.
    @Test func avx2QuantizerEqualsScalar() throws {
        guard CPUFeatures.current.supportsAVX2Kernels else { return }
        var g = SeededGenerator(seed: 3)
        let n = 1000
        var x = (0..<n).map { _ in g.nextGaussian() }
        for j in stride(from: 0, to: n, by: 7) { x[j] = Float(j % 50) + 0.5 }  // exact .5 ties with inv = 1
        let inv: Float = 1
        var q = [Int8](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xb in q.withUnsafeMutableBufferPointer { AVX2Kernels.quantize(xb.baseAddress!, n, inv, $0.baseAddress!) } }
        for j in 0..<n { #expect(q[j] == Int8((x[j] * inv).rounded(.toNearestOrEven)), "index \(j): \(x[j])") }
        #expect(x.withUnsafeBufferPointer { AVX2Kernels.absMax($0.baseAddress!, n) } == x.map(abs).max())
        x[999] = .nan
        #expect(x.withUnsafeBufferPointer { AVX2Kernels.absMax($0.baseAddress!, n) } == nil)
        x[999] = 0; x[8] = -.infinity
        #expect(x.withUnsafeBufferPointer { AVX2Kernels.absMax($0.baseAddress!, n) } == nil)
    }
    #endif
}
