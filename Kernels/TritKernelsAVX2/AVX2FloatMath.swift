#if arch(x86_64)
import _Builtin_intrinsics.intel
import CTritSupport

/// The Float32 loops of a decode step around the packed layers: one query's attention over
/// the KV cache, softmax, SwiGLU. In baseline SSE, with a libm `expf` call per element, these
/// were about a quarter of a ternary model's decode step.
extension AVX2Kernels {
    /// e^x for 8 lanes: Cody–Waite range reduction x = n·ln2 + r (|r| ≤ ln2/2) and the degree-6
    /// Taylor/Cephes polynomial of e^r, scaled by 2^n through the exponent bits. Relative error
    /// ≤ 2 ulp over [−87.3, 88.7]; inputs are clamped there (e^x below → ~0, above → ~3.4e38).
    /// NaN stays NaN: `minps`/`maxps` return their second operand when either is NaN, so the
    /// clamp passes it through and the polynomial keeps it.
    @inline(__always)
    public static func exp8(_ x: __m256) -> __m256 {
        let hi = _mm256_set1_ps(88.7), lo = _mm256_set1_ps(-87.3)
        let xc = _mm256_max_ps(lo, _mm256_min_ps(hi, x))
        // n = round(x / ln 2) (vcvtps2dq: nearest even); r = x − n·ln2 in two parts
        // (ln2 = 0.693359375 − 2.12194440e−4).
        let ni = _mm256_cvtps_epi32(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341)))
        let n = _mm256_cvtepi32_ps(ni)
        var r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375), xc)
        r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4), r)
        var p = _mm256_set1_ps(1.9875691500e-4)
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1))
        p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1)))
        // 2^n: n + 127 into the exponent field (n ∈ [−126, 128] after the clamp; 128 only for
        // x ≥ 88.38, where p · 2^127 · 2 is built as two steps to avoid an infinite 2^128).
        let half = _mm256_srai_epi32(ni, 1)
        let s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23))
        let s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, half), _mm256_set1_epi32(127)), 23))
        return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2)
    }

    /// Σ a[j]·b[j], n a multiple of 8.
    @inline(__always)
    static func dot8(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps()
        var j = 0
        while j &+ 16 <= n {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0)
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + (j &+ 8)), _mm256_loadu_ps(b + (j &+ 8)), s1)
            j &+= 16
        }
        if j < n { s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0) }
        return _mm256_add_ps(s0, s1).sum()
    }

    /// In-place softmax of n values: max, e^(x − max) with `exp8`, normalise.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var m = -Float.infinity
        for j in 0..<n { m = max(m, x[j]) }
        let mv = _mm256_set1_ps(m)
        var sum = _mm256_setzero_ps()
        var j = 0
        while j &+ 8 <= n {
            let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv))
            _mm256_storeu_ps(x + j, e)
            sum = _mm256_add_ps(sum, e)
            j &+= 8
        }
        var total = sum.sum()
        if j < n {
            // The tail through a zero-padded vector, so every value uses the same exp.
            var tail = SIMD8<Float>(repeating: -.infinity)
            for i in 0..<(n &- j) { tail[i] = x[j &+ i] - m }
            let e = exp8(_mm256_max_ps(tail, _mm256_set1_ps(-100)))
            for i in 0..<(n &- j) { x[j &+ i] = e[i]; total += e[i] }
        }
        let inv = 1 / total
        for i in 0..<n { x[i] *= inv }
    }

    /// One query head over `positions` cached keys and values (row p of head h at
    /// `keys + p·stride`), head dimension `dim` a multiple of 8:
    ///     s_p = scale · q·k_p;  s = softmax(s);  out = Σ_p s_p · v_p
    /// `scores` holds `positions` floats of scratch; the output accumulators for 64 columns
    /// stay in 8 registers across all positions (one pass over V per 64 columns).
    public static func attendOneQuery(_ q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                      stride: Int, positions: Int, dim: Int, scale: Float,
                                      scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        for p in 0..<positions { scores[p] = scale * dot8(q, keys + p &* stride, dim) }
        softmax(scores, positions)
        var c = 0
        while c < dim {
            let width = min(64, dim &- c)   // a multiple of 8
            var acc = (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps())
            for p in 0..<positions {
                let w = _mm256_set1_ps(scores[p])
                let v = values + (p &* stride &+ c)
                acc.0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v), acc.0)
                if width > 8 { acc.1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8), acc.1) }
                if width > 16 { acc.2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 16), acc.2) }
                if width > 24 { acc.3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 24), acc.3) }
                if width > 32 { acc.4 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 32), acc.4) }
                if width > 40 { acc.5 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 40), acc.5) }
                if width > 48 { acc.6 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 48), acc.6) }
                if width > 56 { acc.7 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 56), acc.7) }
            }
            let o = out + c
            _mm256_storeu_ps(o, acc.0)
            if width > 8 { _mm256_storeu_ps(o + 8, acc.1) }
            if width > 16 { _mm256_storeu_ps(o + 16, acc.2) }
            if width > 24 { _mm256_storeu_ps(o + 24, acc.3) }
            if width > 32 { _mm256_storeu_ps(o + 32, acc.4) }
            if width > 40 { _mm256_storeu_ps(o + 40, acc.5) }
            if width > 48 { _mm256_storeu_ps(o + 48, acc.6) }
            if width > 56 { _mm256_storeu_ps(o + 56, acc.7) }
            c &+= width
        }
    }

    /// The query heads that share one KV head (grouped-query attention), over the same
    /// `positions` cached keys and values: head g's query at `q + g·dim`, its output at
    /// `out + g·dim`, its `positions` scores at `scores + g·positions`; `heads` ≤ 4, `dim` a
    /// multiple of 8.
    ///
    /// Why grouped: one head at a time reads every key and value row once per query head and
    /// runs one dependent FMA chain per position. Here each key/value vector loaded feeds every
    /// head of the group, and two positions × the group's heads are independent chains, so the
    /// loop is bound by FMA throughput instead of latency.
    ///
    /// The cache rows are cold in a decode step (a step streams hundreds of MB of weights
    /// between two visits of a layer), and one head's row is a few lines every `stride` floats:
    /// the key loop prefetches the rows `attendPrefetchRows` ahead, and the first 16-column
    /// pass over the values prefetches whole rows ahead so the later passes find them in L2.
    public static func attendQueryGroup(_ q: UnsafePointer<Float>, heads: Int, keys: UnsafePointer<Float>,
                                        values: UnsafePointer<Float>, stride: Int, positions: Int, dim: Int, scale: Float,
                                        scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        precondition(heads >= 1 && heads <= 4 && dim % 8 == 0)
        let q1 = q + (heads > 1 ? dim : 0), q2 = q + (heads > 2 ? 2 &* dim : 0), q3 = q + (heads > 3 ? 3 &* dim : 0)
        // Scores: positions p and p + 1 against every head (a missing head or position
        // recomputes a present one and is not stored).
        let lines = (dim &* 4 &+ 63) / 64
        @inline(__always) func prefetchRow(_ row: UnsafePointer<Float>) {
            for l in 0..<lines { tritbench_prefetch(UnsafeRawPointer(row) + l &* 64) }
        }
        var p = 0
        while p < positions {
            let k0 = keys + p &* stride, k1 = p &+ 1 < positions ? k0 + stride : k0
            if p &+ attendPrefetchRows < positions {
                prefetchRow(k0 + attendPrefetchRows &* stride)
                if p &+ attendPrefetchRows &+ 1 < positions { prefetchRow(k0 + (attendPrefetchRows &+ 1) &* stride) }
            }
            var a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a02 = _mm256_setzero_ps(), a03 = _mm256_setzero_ps()
            var a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps(), a12 = _mm256_setzero_ps(), a13 = _mm256_setzero_ps()
            var j = 0
            while j < dim {
                let x0 = _mm256_loadu_ps(k0 + j), x1 = _mm256_loadu_ps(k1 + j)
                let y0 = _mm256_loadu_ps(q + j), y1 = _mm256_loadu_ps(q1 + j)
                let y2 = _mm256_loadu_ps(q2 + j), y3 = _mm256_loadu_ps(q3 + j)
                a00 = _mm256_fmadd_ps(y0, x0, a00); a10 = _mm256_fmadd_ps(y0, x1, a10)
                a01 = _mm256_fmadd_ps(y1, x0, a01); a11 = _mm256_fmadd_ps(y1, x1, a11)
                a02 = _mm256_fmadd_ps(y2, x0, a02); a12 = _mm256_fmadd_ps(y2, x1, a12)
                a03 = _mm256_fmadd_ps(y3, x0, a03); a13 = _mm256_fmadd_ps(y3, x1, a13)
                j &+= 8
            }
            // Eight horizontal sums at once: lanes [h0 h1 h2 h3] of position p, then of p + 1.
            let u0 = _mm256_hadd_ps(_mm256_hadd_ps(a00, a01), _mm256_hadd_ps(a02, a03))
            let u1 = _mm256_hadd_ps(_mm256_hadd_ps(a10, a11), _mm256_hadd_ps(a12, a13))
            let r0 = (u0.lowHalf + u0.highHalf) * scale, r1 = (u1.lowHalf + u1.highHalf) * scale
            for g in 0..<heads { scores[g &* positions &+ p] = r0[g] }
            if p &+ 1 < positions { for g in 0..<heads { scores[g &* positions &+ p &+ 1] = r1[g] } }
            p &+= 2
        }
        for g in 0..<heads { softmax(scores + g &* positions, positions) }
        // Values: 16 columns × the group's heads in 8 accumulators, one pass over V per 16 columns.
        let s0 = UnsafePointer(scores), s1 = s0 + (heads > 1 ? positions : 0)
        let s2 = s0 + (heads > 2 ? 2 &* positions : 0), s3 = s0 + (heads > 3 ? 3 &* positions : 0)
        var c = 0
        while c < dim {
            let two = c &+ 16 <= dim
            var b00 = _mm256_setzero_ps(), b01 = _mm256_setzero_ps(), b10 = _mm256_setzero_ps(), b11 = _mm256_setzero_ps()
            var b20 = _mm256_setzero_ps(), b21 = _mm256_setzero_ps(), b30 = _mm256_setzero_ps(), b31 = _mm256_setzero_ps()
            for p in 0..<positions {
                let v = values + (p &* stride &+ c)
                if c == 0 && p &+ attendPrefetchRows < positions { prefetchRow(v + attendPrefetchRows &* stride) }
                let v0 = _mm256_loadu_ps(v), v1 = two ? _mm256_loadu_ps(v + 8) : v0
                let w0 = _mm256_set1_ps(s0[p]), w1 = _mm256_set1_ps(s1[p])
                let w2 = _mm256_set1_ps(s2[p]), w3 = _mm256_set1_ps(s3[p])
                b00 = _mm256_fmadd_ps(w0, v0, b00); b01 = _mm256_fmadd_ps(w0, v1, b01)
                b10 = _mm256_fmadd_ps(w1, v0, b10); b11 = _mm256_fmadd_ps(w1, v1, b11)
                b20 = _mm256_fmadd_ps(w2, v0, b20); b21 = _mm256_fmadd_ps(w2, v1, b21)
                b30 = _mm256_fmadd_ps(w3, v0, b30); b31 = _mm256_fmadd_ps(w3, v1, b31)
            }
            @inline(__always) func store(_ g: Int, _ lo: __m256, _ hi: __m256) {
                let o = out + (g &* dim &+ c)
                _mm256_storeu_ps(o, lo)
                if two { _mm256_storeu_ps(o + 8, hi) }
            }
            store(0, b00, b01)
            if heads > 1 { store(1, b10, b11) }
            if heads > 2 { store(2, b20, b21) }
            if heads > 3 { store(3, b30, b31) }
            c &+= two ? 16 : 8
        }
    }

    /// Rows ahead that `attendQueryGroup` prefetches.
    static let attendPrefetchRows = 8

    /// Σ x[j]² in four 8-lane accumulators (then a fixed-order reduction), any n.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps()
        var j = 0
        while j &+ 32 <= n {
            let x0 = _mm256_loadu_ps(x + j), x1 = _mm256_loadu_ps(x + (j &+ 8))
            let x2 = _mm256_loadu_ps(x + (j &+ 16)), x3 = _mm256_loadu_ps(x + (j &+ 24))
            a0 = _mm256_fmadd_ps(x0, x0, a0); a1 = _mm256_fmadd_ps(x1, x1, a1)
            a2 = _mm256_fmadd_ps(x2, x2, a2); a3 = _mm256_fmadd_ps(x3, x3, a3)
            j &+= 32
        }
        while j &+ 8 <= n { let v = _mm256_loadu_ps(x + j); a0 = _mm256_fmadd_ps(v, v, a0); j &+= 8 }
        var s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)).sum()
        while j < n { s += x[j] * x[j]; j &+= 1 }
        return s
    }

    /// y[j] = x[j] · scale · w[j] (in that order, as the portable loop rounds it).
    public static func scaleByWeights(_ x: UnsafePointer<Float>, scale: Float, weights w: UnsafePointer<Float>,
                                      into y: UnsafeMutablePointer<Float>, _ n: Int) {
        let s = _mm256_set1_ps(scale)
        var j = 0
        while j &+ 8 <= n {
            _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), s), _mm256_loadu_ps(w + j)))
            j &+= 8
        }
        while j < n { y[j] = x[j] * scale * w[j]; j &+= 1 }
    }

    /// SwiGLU in place: g[i] = g[i] / (1 + e^(−g[i])) · u[i].
    public static func swiglu(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
        let one = _mm256_set1_ps(1), zero = _mm256_setzero_ps()
        var i = 0
        while i &+ 8 <= n {
            let v = _mm256_loadu_ps(g + i)
            let e = exp8(_mm256_sub_ps(zero, v))
            _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)))
            i &+= 8
        }
        if i < n {
            var tail = SIMD8<Float>()
            for k in 0..<(n &- i) { tail[k] = g[i &+ k] }
            let e = exp8(_mm256_sub_ps(zero, tail))
            for k in 0..<(n &- i) { g[i &+ k] = tail[k] / (1 + e[k]) * u[i &+ k] }
        }
    }
}
#endif
