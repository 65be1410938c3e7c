/// The float epilogue every variant shares, in the one order all of them follow so that equal
/// int32 sums give bit-identical outputs (the AVX2 epilogue does the same per lane):
///
///     s = 0;  for g:  s = s + α_p[g]·Float(acc_p[g])  (p = 0, 1),   then  s = s + μ[g]·Float(Σq_g)
///     y = s · d_t  (+ bias)
///
/// `acc_p[g]` = Σ_{j∈g} w_p[j]·q[j] exactly (|acc| < 2^24, so Float(acc) is exact).
enum TernaryEpilogue {
    /// One row `r` of one token: `acc(p, g)` gives the exact integer sums.
    @inline(__always)
    static func row(_ side: TernarySideData, row r: Int, groupSums: UnsafePointer<Int32>, d: Float,
                    acc: (Int, Int) -> Int32) -> Float {
        let ng = side.groupsPerRow
        let s0 = side.scales[0].typed(Float16.self)
        let s1 = side.planeCount > 1 ? side.scales[1].typed(Float16.self) : nil
        let mu = side.offsets?.typed(Float16.self)
        var s: Float = 0
        for g in 0..<ng {
            let at = ((r / 8) * ng + g) * 8 + r % 8
            s = s + Float(s0[at]) * Float(acc(0, g))
            if let s1 { s = s + Float(s1[at]) * Float(acc(1, g)) }
            if let mu { s = s + Float(mu[at]) * Float(groupSums[g]) }
        }
        var y = s * d
        if let b = side.bias { y = y + Float(b.typed(Float16.self)[r]) }
        return y
    }
}
