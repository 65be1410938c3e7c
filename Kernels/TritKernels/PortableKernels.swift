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

/// The scalar reference: trits straight from the unpacked planes (so it checks the packing
/// too), exact int32 sums per (plane, group), then the shared epilogue. Any group size.
struct ScalarReferenceKernel {
    let weights: TernaryWeights
    let side: TernarySideData

    func run(rows range: Range<Int>, acts: QuantizedActivations, y: UnsafeMutablePointer<Float>) {
        let cols = weights.cols, gsize = weights.groupSize, ng = weights.groupsPerRow
        weights.planes[0].withUnsafeBufferPointer { p0 in
            (weights.planes.count > 1 ? weights.planes[1] : weights.planes[0]).withUnsafeBufferPointer { p1 in
                for t in 0..<acts.tokens {
                    let q = acts.q + t * acts.stride
                    let gs = acts.sums + t * ng
                    for r in range {
                        let yv = TernaryEpilogue.row(side, row: r, groupSums: gs, d: acts.d[t]) { p, g in
                            let w = (p == 0 ? p0 : p1).baseAddress! + r * cols
                            var s: Int32 = 0
                            for j in (g * gsize)..<min(cols, (g + 1) * gsize) { s &+= Int32(w[j]) * Int32(q[j]) }
                            return s
                        }
                        y[t * weights.rows + r] = yv
                    }
                }
            }
        }
    }
}

/// Portable Swift SIMD: decodes 32 codes at a time from any packed layout into `SIMD32<UInt8>`
/// and accumulates code·q in `SIMD32<Int32>` (no int16 stage, so no overflow bound). The
/// fallback of the AVX2 variants on CPUs without AVX2, and a variant of its own for checks.
struct PortableSIMDKernel {
    let layer: PackedTernaryLayer
    let side: TernarySideData

    /// Codes w+1 of columns 32v…32v+31 of (plane, row).
    @inline(__always)
    func codes(plane p: Int, row r: Int, vector v: Int) -> SIMD32<UInt8> {
        var c = SIMD32<UInt8>(repeating: 1)
        switch layer {
        case let .twoBit(m):
            let base = m.codes.bytes + m.layout.offset(plane: p, row: r, unit: v / 4)
            let x = UnsafeRawPointer(base).loadUnaligned(as: SIMD32<UInt8>.self)
            c = (x &>> UInt8(2 * (v % 4))) & 3
        case let .base3(m):
            let unit = UnsafeRawPointer(m.codes.bytes + m.layout.offset(plane: p, row: r, unit: v / 5))
            let lanes = unit.loadUnaligned(as: SIMD16<UInt16>.self)
            let i = v % 5
            let t0 = SIMD16<UInt16>(truncatingIfNeeded: (SIMD16<UInt32>(truncatingIfNeeded: lanes &* Base3TernaryMatrix.powers[2 * i]) &* 3) &>> 16)
            let t1 = SIMD16<UInt16>(truncatingIfNeeded: (SIMD16<UInt32>(truncatingIfNeeded: lanes &* Base3TernaryMatrix.powers[2 * i + 1]) &* 3) &>> 16)
            for p in 0..<32 {
                let l = (p % 8) + 8 * (p / 16)
                c[p] = UInt8(truncatingIfNeeded: (p / 8) % 2 == 0 ? t0[l] : t1[l])
            }
        case let .bitmask(m):
            let base = m.masks.bytes + m.layout.offset(plane: p, row: r, unit: v / 4) + (v % 4) * 4
            let pos = UnsafeRawPointer(base).loadUnaligned(as: UInt32.self)
            let neg = UnsafeRawPointer(base + 16).loadUnaligned(as: UInt32.self)
            for i in 0..<32 {
                c[i] = UInt8(1 + Int((pos >> UInt32(i)) & 1) - Int((neg >> UInt32(i)) & 1))
            }
        case let .lut(m):
            let base = m.buffer.bytes + (r / 32) * m.tileStride + r % 32
            for i in 0..<32 {
                let j = 32 * v + i, group = j / 4
                guard group < m.columnGroups else { break }
                let b = base[group * 32], k = UInt8(j % 4)
                c[i] = ((b >> k) & 1) + 2 * ((b >> (4 + k)) & 1)
            }
        case let .base3LUT(m):
            for i in 0..<32 where 32 * v + i < side.cols {
                c[i] = m.code(plane: p, row: r, column: 32 * v + i)
            }
        }
        return c
    }

    func run(rows range: Range<Int>, acts: QuantizedActivations, y: UnsafeMutablePointer<Float>) {
        let ng = side.groupsPerRow, cols = side.cols
        let vectorsPerRow = (cols + 31) / 32
        let vectorsPerGroup = ng == 1 ? vectorsPerRow : side.groupSize / 32
        for t in 0..<acts.tokens {
            let q = acts.q + t * acts.stride
            let gs = acts.sums + t * ng
            for r in range {
                y[t * side.rows + r] = TernaryEpilogue.row(side, row: r, groupSums: gs, d: acts.d[t]) { p, g in
                    var acc = SIMD32<Int32>()
                    for v in (g * vectorsPerGroup)..<min(vectorsPerRow, (g + 1) * vectorsPerGroup) {
                        let x = UnsafeRawPointer(q + 32 * v).loadUnaligned(as: SIMD32<Int8>.self)
                        acc &+= SIMD32<Int32>(truncatingIfNeeded: codes(plane: p, row: r, vector: v))
                            &* SIMD32<Int32>(truncatingIfNeeded: x)
                    }
                    return acc.wrappedSum() &- gs[g]
                }
            }
        }
    }
}
