#if arch(x86_64)
import _Builtin_intrinsics.intel

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
