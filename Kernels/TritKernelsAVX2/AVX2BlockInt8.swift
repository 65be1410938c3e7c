#if arch(x86_64)
import _Builtin_intrinsics.intel
import CTritSupport

extension AVX2Kernels {
    /// y[r] = Σ_b dw[r][b] · dx[b] · Σ_{j<32} w[r][32b + j] · x[32b + j] for r in `rows`: the
    /// Q8_0 × Q8_0 GEMV of the int8 LM head (layout in `BlockInt8Kernel`).
    ///
    /// Per 32-column block and row: |w| ⊗ sign(x, w) by `vpmaddubsw` (unsigned × signed; with
    /// |w|, |x| ≤ 127 a pair sum is at most 2 · 127² = 32258, so the int16 lanes never
    /// saturate), widened by `vpmaddwd` with ones, converted to float and accumulated with one
    /// FMA by dw · dx. Rows are read one after another: one sequential stream (interleaving 4
    /// rows to share activation loads read the 28 MiB head markedly slower). The integer block
    /// sums are exact; only the float accumulation order differs from the portable loop.
    static let blockInt8PrefetchBytes = 2048

    public static func blockInt8Rows(codes: UnsafePointer<Int8>, scales: UnsafePointer<UInt16>, cols: Int,
                                     acts: UnsafePointer<Int8>, actScales: UnsafePointer<Float>,
                                     rows: Range<Int>, y: UnsafeMutablePointer<Float>) {
        let blocks = cols / 32
        let ones = _mm256_set1_epi16(1)
        @inline(__always) func product(_ w: __m256i, _ x: __m256i) -> __m256 {
            let p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w))
            return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones))
        }
        @inline(__always) func scale(_ d: UInt16) -> Float { Float(Float16(bitPattern: d)) }   // vcvtph2ps (F16C)
        for r in rows {
            let w = UnsafeRawPointer(codes + r &* cols), d = scales + r &* blocks
            // Two accumulators (even and odd blocks) halve the FMA dependency chain.
            var a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps()
            var b = 0
            while b &+ 2 <= blocks {
                let o = b &* 32
                tritbench_prefetch(w + (o &+ Self.blockInt8PrefetchBytes))
                a0 = _mm256_fmadd_ps(product(load256(w + o), load256(acts + o)), _mm256_set1_ps(scale(d[b]) * actScales[b]), a0)
                a1 = _mm256_fmadd_ps(product(load256(w + (o &+ 32)), load256(acts + (o &+ 32))),
                                     _mm256_set1_ps(scale(d[b &+ 1]) * actScales[b &+ 1]), a1)
                b &+= 2
            }
            if b < blocks {
                a0 = _mm256_fmadd_ps(product(load256(w + b &* 32), load256(acts + b &* 32)), _mm256_set1_ps(scale(d[b]) * actScales[b]), a0)
            }
            y[r] = _mm256_add_ps(a0, a1).sum()
        }
    }
}
#endif
