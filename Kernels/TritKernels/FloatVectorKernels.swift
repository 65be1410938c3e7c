import Foundation
import TritCore
#if arch(x86_64)
import TritKernelsAVX2
#endif

/// The Float32 vector loops of a decode step that sit between the packed layers: one query's
/// attention over the KV cache, softmax and SwiGLU. AVX2 + FMA where the CPU has it (with a
/// polynomial e^x within 2 ulp of libm's), else portable Swift SIMD with libm `expf`.
///
/// Why here: the model runtime is compiled for the baseline ISA, and once the linear layers
/// are ternary these loops were a quarter of a decode step (perf, SmolLM2-135M).
public enum FloatVectorKernels {
    static var useAVX2: Bool { QuantizedActivations.useAVX2 }

    /// In-place softmax of n values (max-subtracted).
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        #if arch(x86_64)
        if useAVX2 { AVX2Kernels.softmax(x, n); return }
        #endif
        portableSoftmax(x, n)
    }

    /// SwiGLU in place: g[i] = g[i] / (1 + e^(−g[i])) · u[i].
    public static func swiglu(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
        #if arch(x86_64)
        if useAVX2 { AVX2Kernels.swiglu(g, u, n); return }
        #endif
        portableSwiglu(g, u, n)
    }

    /// GeGLU in place: g ← gelu(g) · u, GELU in its tanh form as ggml computes it in Float32
    /// (0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²)))).
    public static func geglu(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
        let c: Float = 0.79788456080286535587989211986876, a: Float = 0.044715
        for i in 0..<n {
            let x = g[i]
            g[i] = 0.5 * x * (1 + tanhf(c * x * (1 + a * x * x))) * u[i]
        }
    }

    /// Squared-ReLU GLU in place: g ← max(g, 0)² · u (BitNet b1.58 2B4T's FFN).
    public static func reluSquaredGLU(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let r = max(g[i], 0)
            g[i] = r * r * u[i]
        }
    }

    /// One query head against `positions` cached keys/values (row p at `keys + p·stride`):
    /// s_p = scale · q·k_p, softmax over p, out = Σ_p s_p · v_p. `scores`: `positions` floats.
    public static func attendOneQuery(_ q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                      stride: Int, positions: Int, dim: Int, scale: Float,
                                      scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        if useAVX2 && dim % 8 == 0 {
            AVX2Kernels.attendOneQuery(q, keys: keys, values: values, stride: stride, positions: positions, dim: dim,
                                       scale: scale, scores: scores, out: out)
            return
        }
        #endif
        portableAttendOneQuery(q, keys: keys, values: values, stride: stride, positions: positions, dim: dim,
                               scale: scale, scores: scores, out: out)
    }

    /// Decode attention of one token: `heads` query heads (head h at `q + h·dim`) over
    /// `positions` cached rows of `kvHeads` key/value heads (KV head k's row p at
    /// `keys + k·headStride + p·rowStride`), head h reading KV head h / (heads / kvHeads); head
    /// h's output goes to `out + h·dim`. `scores`: heads × positions floats of scratch.
    ///
    /// The KV heads are split over up to `threads` threads of the kernels' worker pool (each
    /// KV head is independent work), and the query heads of one KV head run together
    /// (`attendQueryGroup`), so a row of the cache is read once per group, not once per head.
    public static func attendDecode(_ q: UnsafePointer<Float>, heads: Int, kvHeads: Int, keys: UnsafePointer<Float>,
                                    values: UnsafePointer<Float>, rowStride: Int, headStride: Int, positions: Int, dim: Int,
                                    scale: Float, scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, threads: Int) {
        precondition(kvHeads > 0 && heads % kvHeads == 0, "\(heads) query heads over \(kvHeads) KV heads")
        let group = heads / kvHeads
        // Units of work: (KV head, up to 4 of its query heads).
        let perGroup = (group + 3) / 4, units = kvHeads * perGroup
        let run: (Int) -> Void = { u in
            let kv = u / perGroup, first = kv * group + (u % perGroup) * 4, n = min(4, kv * group + group - first)
            attendQueryGroup(q + first * dim, heads: n, keys: keys + kv * headStride, values: values + kv * headStride, stride: rowStride,
                             positions: positions, dim: dim, scale: scale, scores: scores + first * positions,
                             out: out + first * dim)
        }
        KernelThreads.forEachChunk(units, threads: threads, run)
    }

    /// Up to 4 query heads sharing one KV head (see `attendDecode`): head g's query at
    /// `q + g·dim`, scores at `scores + g·positions`, output at `out + g·dim`.
    public static func attendQueryGroup(_ q: UnsafePointer<Float>, heads: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                        stride: Int, positions: Int, dim: Int, scale: Float,
                                        scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        if useAVX2 && dim % 8 == 0 && heads <= 4 {
            AVX2Kernels.attendQueryGroup(q, heads: heads, keys: keys, values: values, stride: stride, positions: positions,
                                         dim: dim, scale: scale, scores: scores, out: out)
            return
        }
        #endif
        portableAttendQueryGroup(q, heads: heads, keys: keys, values: values, stride: stride, positions: positions, dim: dim,
                                 scale: scale, scores: scores, out: out)
    }

    /// Root-mean-square normalisation of one row: y = x · (1 / √(Σx²/n + ε)) · w.
    public static func rmsNorm(_ x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, epsilon: Float,
                               into y: UnsafeMutablePointer<Float>, _ n: Int) {
        #if arch(x86_64)
        if useAVX2 {
            let scale = 1 / (AVX2Kernels.sumOfSquares(x, n) / Float(n) + epsilon).squareRoot()
            AVX2Kernels.scaleByWeights(x, scale: scale, weights: w, into: y, n)
            return
        }
        #endif
        portableRMSNorm(x, weights: w, epsilon: epsilon, into: y, n)
    }

    /// y[j] += x[j].
    public static func add(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, _ n: Int) {
        var j = 0
        while j + 8 <= n {
            let v = UnsafeMutableRawPointer(y + j).loadUnaligned(as: SIMD8<Float>.self) + UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + j).storeBytes(of: v, as: SIMD8<Float>.self)
            j += 8
        }
        while j < n { y[j] += x[j]; j += 1 }
    }

    // MARK: Portable loops (also the reference the AVX2 ones are tested against)

    public static func portableSoftmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var m = -Float.infinity
        for j in 0..<n { m = max(m, x[j]) }
        var sum: Float = 0
        for j in 0..<n { let e = expf(x[j] - m); x[j] = e; sum += e }
        let inv = 1 / sum
        for j in 0..<n { x[j] *= inv }
    }

    public static func portableSwiglu(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { let v = g[i]; g[i] = v / (1 + expf(-v)) * u[i] }
    }

    public static func portableAttendOneQuery(_ q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                              stride: Int, positions: Int, dim: Int, scale: Float,
                                              scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        for p in 0..<positions { scores[p] = scale * dot(q, keys + p * stride, dim) }
        portableSoftmax(scores, positions)
        out.update(repeating: 0, count: dim)
        for p in 0..<positions { addScaled(scores[p], values + p * stride, to: out, dim) }
    }

    public static func portableAttendQueryGroup(_ q: UnsafePointer<Float>, heads: Int, keys: UnsafePointer<Float>,
                                                values: UnsafePointer<Float>, stride: Int, positions: Int, dim: Int, scale: Float,
                                                scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        for g in 0..<heads {
            portableAttendOneQuery(q + g * dim, keys: keys, values: values, stride: stride, positions: positions, dim: dim,
                                   scale: scale, scores: scores + g * positions, out: out + g * dim)
        }
    }

    public static func portableRMSNorm(_ x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, epsilon: Float,
                                       into y: UnsafeMutablePointer<Float>, _ n: Int) {
        let scale = 1 / (dot(x, x, n) / Float(n) + epsilon).squareRoot()
        for j in 0..<n { y[j] = x[j] * scale * w[j] }
    }

    /// Σ a[j]·b[j] in 8-lane Swift SIMD.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var j = 0
        while j + 16 <= n {
            acc0 += UnsafeRawPointer(a + j).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + j).loadUnaligned(as: SIMD8<Float>.self)
            acc1 += UnsafeRawPointer(a + j + 8).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + j + 8).loadUnaligned(as: SIMD8<Float>.self)
            j += 16
        }
        var sum = (acc0 + acc1).sum()
        while j < n { sum += a[j] * b[j]; j += 1 }
        return sum
    }

    /// y += alpha · x.
    @inline(__always)
    static func addScaled(_ alpha: Float, _ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, _ n: Int) {
        var j = 0
        while j + 8 <= n {
            let v = UnsafeMutableRawPointer(y + j).loadUnaligned(as: SIMD8<Float>.self)
                + alpha * UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + j).storeBytes(of: v, as: SIMD8<Float>.self)
            j += 8
        }
        while j < n { y[j] += alpha * x[j]; j += 1 }
    }
}
