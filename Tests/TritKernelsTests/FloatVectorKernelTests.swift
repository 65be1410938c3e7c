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

    /// One head's attention in Double: softmax(scale · q·K) · V over rows strided by `stride`.
    static func exactAttention(q: ArraySlice<Float>, keys: [Float], values: [Float], offset: Int, stride: Int,
                               positions: Int, dim: Int, scale: Float) -> [Double] {
        let q = Array(q)
        var s = (0..<positions).map { p in Double(scale) * (0..<dim).reduce(0.0) { $0 + Double(q[$1]) * Double(keys[offset + p * stride + $1]) } }
        let m = s.max()!
        s = s.map { Foundation.exp($0 - m) }
        let total = s.reduce(0, +)
        return (0..<dim).map { c in (0..<positions).reduce(0.0) { $0 + s[$1] / total * Double(values[offset + $1 * stride + c]) } }
    }

    /// The query heads of one KV head together: every group size the AVX2 loop handles (1–4),
    /// head sizes with a 16-column and an 8-column pass (24), odd and even position counts (the
    /// loop takes positions in pairs), both paths against Double arithmetic.
    @Test(arguments: [(1, 128, 1), (2, 64, 2), (3, 24, 7), (4, 128, 160), (4, 8, 3), (3, 12, 5)])
    func attendQueryGroupMatchesTheDefinition(heads: Int, dim: Int, positions: Int) {
        let stride = dim * 5 + 8
        let q = Self.randoms(heads * dim, seed: 13, scale: 2)
        let keys = Self.randoms(stride * positions, seed: 14, scale: 2)
        let values = Self.randoms(stride * positions, seed: 15, scale: 2)
        let scale = 1 / Float(dim).squareRoot()
        for portable in [false, true] {
            var out = [Float](repeating: .nan, count: heads * dim), scores = [Float](repeating: .nan, count: heads * positions)
            q.withUnsafeBufferPointer { qp in keys.withUnsafeBufferPointer { kp in values.withUnsafeBufferPointer { vp in
                scores.withUnsafeMutableBufferPointer { sp in out.withUnsafeMutableBufferPointer { op in
                    let f = portable ? FloatVectorKernels.portableAttendQueryGroup : FloatVectorKernels.attendQueryGroup
                    f(qp.baseAddress!, heads, kp.baseAddress!, vp.baseAddress!, stride, positions, dim, scale, sp.baseAddress!, op.baseAddress!)
                }}
            }}}
            for g in 0..<heads {
                let exact = Self.exactAttention(q: q[(g * dim)..<((g + 1) * dim)], keys: keys, values: values, offset: 0,
                                                stride: stride, positions: positions, dim: dim, scale: scale)
                for c in 0..<dim {
                    #expect(abs(Double(out[g * dim + c]) - exact[c]) <= 2e-5,
                            "heads \(heads) dim \(dim) positions \(positions) head \(g) col \(c) portable \(portable): \(out[g * dim + c]) vs \(exact[c])")
                }
            }
        }
    }

    /// A whole decode step's attention as the model lays it out (KV heads side by side in a
    /// cache row): each query head reads its own KV head (a wrong group mapping fails), groups
    /// of more than 4 heads are split, and 2 threads give the same bits as 1 (each unit of work
    /// is computed the same way whichever thread runs it).
    @Test(arguments: [(20, 5, 128, 33), (9, 3, 64, 17), (9, 1, 64, 4), (4, 4, 8, 1)])
    func attendDecodeMatchesPerHeadAttention(heads: Int, kvHeads: Int, dim: Int, positions: Int) {
        let kvDim = kvHeads * dim
        let q = Self.randoms(heads * dim, seed: 21, scale: 2)
        let keys = Self.randoms(kvDim * positions, seed: 22, scale: 2)
        let values = Self.randoms(kvDim * positions, seed: 23, scale: 2)
        let scale = 1 / Float(dim).squareRoot()
        var results: [[Float]] = []
        for threads in [1, 2] {
            var out = [Float](repeating: .nan, count: heads * dim), scores = [Float](repeating: .nan, count: heads * positions)
            q.withUnsafeBufferPointer { qp in keys.withUnsafeBufferPointer { kp in values.withUnsafeBufferPointer { vp in
                scores.withUnsafeMutableBufferPointer { sp in out.withUnsafeMutableBufferPointer { op in
                    FloatVectorKernels.attendDecode(qp.baseAddress!, heads: heads, kvHeads: kvHeads, keys: kp.baseAddress!,
                                                    values: vp.baseAddress!, rowStride: kvDim, headStride: dim, positions: positions, dim: dim,
                                                    scale: scale, scores: sp.baseAddress!, out: op.baseAddress!, threads: threads)
                }}
            }}}
            results.append(out)
        }
        #expect(results[0] == results[1], "1 and 2 threads differ")
        let group = heads / kvHeads
        for h in 0..<heads {
            let exact = Self.exactAttention(q: q[(h * dim)..<((h + 1) * dim)], keys: keys, values: values, offset: (h / group) * dim,
                                            stride: kvDim, positions: positions, dim: dim, scale: scale)
            for c in 0..<dim {
                #expect(abs(Double(results[0][h * dim + c]) - exact[c]) <= 2e-5, "head \(h) col \(c): \(results[0][h * dim + c]) vs \(exact[c])")
            }
        }
    }

    /// RMSNorm rows of every length class (under 8, a multiple of 32, a tail) on both paths,
    /// and the residual add, against Double arithmetic.
    @Test(arguments: [3, 64, 2560, 6917])
    func rmsNormAndAddMatchTheDefinition(n: Int) {
        let x = Self.randoms(n, seed: 31 + UInt64(n), scale: 4), w = Self.randoms(n, seed: 32 + UInt64(n), scale: 2)
        let epsilon: Float = 1e-5
        let ms = x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(n)
        let r = 1 / (ms + Double(epsilon)).squareRoot()
        for portable in [false, true] {
            var y = [Float](repeating: .nan, count: n)
            x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in y.withUnsafeMutableBufferPointer { yp in
                let f = portable ? FloatVectorKernels.portableRMSNorm : FloatVectorKernels.rmsNorm
                f(xp.baseAddress!, wp.baseAddress!, epsilon, yp.baseAddress!, n)
            }}}
            for j in 0..<n {
                let exact = Double(x[j]) * r * Double(w[j])
                #expect(abs(Double(y[j]) - exact) <= 1e-5 * abs(exact) + 1e-6, "n \(n) j \(j) portable \(portable): \(y[j]) vs \(exact)")
            }
        }
        var sum = w
        x.withUnsafeBufferPointer { xp in sum.withUnsafeMutableBufferPointer { FloatVectorKernels.add(xp.baseAddress!, to: $0.baseAddress!, n) } }
        #expect(sum == zip(x, w).map { $0 + $1 })
    }
}
