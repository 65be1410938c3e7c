import Foundation
import Testing
import TritCore
@testable import TritKernels
#if arch(x86_64)
import TritKernelsAVX2
#endif

/// The decode step's Float32 loops: the dispatched (AVX2 here) paths against Double-precision
/// definitions, and the portable ones likewise.
@Suite struct FloatVectorKernelTests {
    static func randoms(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<n).map { _ in Float.random(in: -scale...scale, using: &g) }
    }

    #if arch(x86_64)
    /// e^x within 2 ulp of the correctly rounded value across the clamp range, including
    /// the ends, zero and values that round n both ways; NaN passes through.
    @Test func exp8IsWithinTwoUlp() {
        guard CPUFeatures.current.supportsAVX2Kernels else { return }
        var xs: [Float] = [-87.3, -87, -50, -10.5, -1, -0.3465736, 0, 0.3465736, 1e-8, 1, 10.5, 50, 88, 88.7]
        xs += Self.randoms(4000, seed: 1, scale: 87)
        xs += Self.randoms(1000, seed: 2, scale: 1)
        while xs.count % 8 != 0 { xs.append(0.5) }
        var worst = 0.0
        for i in stride(from: 0, to: xs.count, by: 8) {
            let v = SIMD8<Float>(xs[i..<(i + 8)])
            let e = AVX2Kernels.exp8(v)
            for k in 0..<8 {
                let exact = Foundation.exp(Double(v[k]))
                let ulp = Double(Float(exact).ulp)
                worst = max(worst, abs(Double(e[k]) - exact) / ulp)
            }
        }
        #expect(worst <= 2, "worst error \(worst) ulp")
        let nan = AVX2Kernels.exp8(SIMD8<Float>(repeating: .nan))
        #expect((0..<8).allSatisfy { nan[$0].isNaN })
    }
    #endif

    @Test(arguments: [1, 7, 8, 37, 300])
    func softmaxMatchesTheDefinition(n: Int) {
        let x = Self.randoms(n, seed: UInt64(n), scale: 20)
        let m = Double(x.max()!)
        let denominator = x.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
        for portable in [false, true] {
            var y = x
            y.withUnsafeMutableBufferPointer {
                portable ? FloatVectorKernels.portableSoftmax($0.baseAddress!, n) : FloatVectorKernels.softmax($0.baseAddress!, n)
            }
            for j in 0..<n {
                let exact = Foundation.exp(Double(x[j]) - m) / denominator
                #expect(abs(Double(y[j]) - exact) <= 1e-5 * exact + 1e-12, "n \(n) j \(j) portable \(portable): \(y[j]) vs \(exact)")
            }
        }
    }

    /// SwiGLU, tails included; saturated inputs (±100) give v·u and −0 rather than NaN.
    @Test(arguments: [5, 8, 1536, 1539])
    func swigluMatchesTheDefinition(n: Int) {
        var g = Self.randoms(n, seed: 7 + UInt64(n), scale: 12)
        g[0] = 100; g[n - 1] = -100
        let u = Self.randoms(n, seed: 11 + UInt64(n), scale: 3)
        for portable in [false, true] {
            var y = g
            y.withUnsafeMutableBufferPointer { yp in u.withUnsafeBufferPointer { up in
                portable ? FloatVectorKernels.portableSwiglu(yp.baseAddress!, up.baseAddress!, n)
                    : FloatVectorKernels.swiglu(yp.baseAddress!, up.baseAddress!, n)
            }}
            for i in 0..<n {
                let v = Double(g[i])
                let exact = v / (1 + Foundation.exp(-v)) * Double(u[i])
                #expect(abs(Double(y[i]) - exact) <= 1e-6 * abs(exact) + 1e-30, "n \(n) i \(i) portable \(portable): \(y[i]) vs \(exact)")
            }
        }
    }

    /// One query against the cache: both paths against Double arithmetic, for head sizes 64
    /// (SmolLM2), 8, 72 (a 64-column pass plus an 8-column one) and 12 (portable only, not a
    /// multiple of 8), with the rows strided as in the KV cache.
    @Test(arguments: [(64, 37), (8, 1), (72, 5), (12, 9), (128, 300)])
    func attendOneQueryMatchesTheDefinition(dim: Int, positions: Int) {
        let stride = dim * 3 + 8
        let q = Self.randoms(dim, seed: 3, scale: 2)
        let keys = Self.randoms(stride * positions, seed: 4, scale: 2)
        let values = Self.randoms(stride * positions, seed: 5, scale: 2)
        let scale = 1 / Float(dim).squareRoot()
        var s = (0..<positions).map { p in Double(scale) * (0..<dim).reduce(0.0) { $0 + Double(q[$1]) * Double(keys[p * stride + $1]) } }
        let m = s.max()!
        s = s.map { Foundation.exp($0 - m) }
        let total = s.reduce(0, +)
        let exact = (0..<dim).map { c in (0..<positions).reduce(0.0) { $0 + s[$1] / total * Double(values[$1 * stride + c]) } }
        for portable in [false, true] {
            var out = [Float](repeating: .nan, count: dim), scores = [Float](repeating: 0, count: positions)
            q.withUnsafeBufferPointer { qp in keys.withUnsafeBufferPointer { kp in values.withUnsafeBufferPointer { vp in
                scores.withUnsafeMutableBufferPointer { sp in out.withUnsafeMutableBufferPointer { op in
                    let f = portable ? FloatVectorKernels.portableAttendOneQuery : FloatVectorKernels.attendOneQuery
                    f(qp.baseAddress!, kp.baseAddress!, vp.baseAddress!, stride, positions, dim, scale, sp.baseAddress!, op.baseAddress!)
                }}
            }}}
            for c in 0..<dim {
                #expect(abs(Double(out[c]) - exact[c]) <= 2e-5, "dim \(dim) positions \(positions) col \(c) portable \(portable): \(out[c]) vs \(exact[c])")
            }
        }
    }
}
