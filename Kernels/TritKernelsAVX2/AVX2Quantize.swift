#if arch(x86_64)
import _Builtin_intrinsics.intel

extension AVX2Kernels {
    /// max |x[j]| over n floats, or nil when some x[j] is infinite or NaN.
    public static func absMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float? {
        let absMask = _mm256_set1_epi32(0x7FFF_FFFF)
        let maxFinite = _mm256_set1_epi32(0x7F7F_FFFF)
        var m = _mm256_setzero_ps()
        var bad = _mm256_setzero_si256()
        var j = 0
        while j &+ 8 <= n {
            let bits = _mm256_and_si256(_mm256_castps_si256(_mm256_loadu_ps(x + j)), absMask)
            bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(bits, maxFinite))
            m = _mm256_max_ps(m, _mm256_castsi256_ps(bits))
            j &+= 8
        }
        var result = m.max()
        if _mm256_testz_si256(bad, bad) == 0 { return nil }
        while j < n {
            let v = abs(x[j])
            if !v.isFinite { return nil }
            result = max(result, v)
            j &+= 1
        }
        return result
    }

    /// q[j] = round_half_even(x[j] · inv) for j < n (|x·inv| ≤ 127 by construction), with the
    /// same float multiply and rounding as the scalar path (vcvtps2dq rounds to nearest even).
    public static func quantize(_ x: UnsafePointer<Float>, _ n: Int, _ inv: Float, _ q: UnsafeMutablePointer<Int8>) {
        let s = _mm256_set1_ps(inv)
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)
        var j = 0
        while j &+ 32 <= n {
            let a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j), s))
            let b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + (j &+ 8)), s))
            let c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + (j &+ 16)), s))
            let d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + (j &+ 24)), s))
            // packs work per 128-bit lane: bytes come out as 32-bit groups a0 b0 c0 d0 a1 b1 c1 d1.
            let bytes = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d))
            store256(UnsafeMutableRawPointer(q + j), _mm256_permutevar8x32_epi32(bytes, order))
            j &+= 32
        }
        while j < n {
            q[j] = Int8((x[j] * inv).rounded(.toNearestOrEven))
            j &+= 1
        }
    }
}
#endif
