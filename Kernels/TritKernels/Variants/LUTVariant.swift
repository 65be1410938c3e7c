import TritCore
import TritKernelsAVX2

extension KernelVariant {
    /// T-MAC-style bit-plane tables over the `lut` layout (AVX2 `vpshufb`; portable elsewhere).
    static func lut(_ features: CPUFeatures) -> KernelVariant {
        KernelVariant(id: KernelRegistry.lut,
                      summary: "T-MAC-style bit-plane tables of 4 activations, 32 rows per vpshufb, exact lo/hi byte tables",
                      formats: [.lut], space: LUTTableLoop.space(), groupMultiple: 4, isTuned: true,
                      runsNatively: .avx2,
                      makeLoop: { context in
                          context.loop(over: LUTTernaryMatrix.self, where: context.features.supportsAVX2Kernels) {
                              LUTTableLoop(matrix: $0, configuration: context.configuration)
                          }
                      })
    }
}

/// The AVX2 table loop over `LUTTernaryMatrix`: per call, 16-entry tables of each group of 4
/// activations (built here, exact as a low and a high byte table), then 32 rows per `vpshufb`.
final class LUTTableLoop: RowTileLoop, @unchecked Sendable {
    let matrix: LUTTernaryMatrix
    let configuration: KernelConfiguration
    private let parameters: AVX2LoopParameters
    let tileRows = LUTTernaryMatrix.tileRows
    let scratchBytes: Int
    private var tables = AlignedBuffer(byteCount: 0)
    private var tableStride: Int { ((matrix.cols + 3) / 4) * 32 }

    init(matrix: LUTTernaryMatrix, configuration: KernelConfiguration) {
        self.matrix = matrix
        self.configuration = configuration
        parameters = AVX2LoopParameters(configuration)
        let side = matrix.side
        scratchBytes = (AVX2LayerArguments.scratchCount(groups: side.groupsPerRow, planes: side.planeCount,
                                                        tokenBlock: 4, subTiles: 4) * 4 + 63) & ~63
    }

    func name(tokens: Int) -> String { "avx2-lut" }

    func reserve(tokens: Int, acts: QuantizedActivations) {
        if tables.count < tokens * tableStride { tables = AlignedBuffer(byteCount: tokens * tableStride) }
    }

    /// Per token and column group m of 4 activations: T[i] = Σ_k bit_k(i)·q[4m+k] split into
    /// a low-byte (unsigned) and a high-byte (signed) 16-entry table.
    func prepare(tokens: Int, acts: QuantizedActivations) -> Int {
        reserve(tokens: tokens, acts: acts)
        let bits = (0..<4).map { k in SIMD16<Int16>((0..<16).map { Int16(($0 >> k) & 1) }) }
        let out = tables.bytes
        for t in 0..<tokens {
            let q = acts.q + t * acts.stride
            for g in 0..<matrix.columnGroups {
                var v = bits[0] &* Int16(q[4 * g])
                v &+= bits[1] &* Int16(q[4 * g + 1])
                v &+= bits[2] &* Int16(q[4 * g + 2])
                v &+= bits[3] &* Int16(q[4 * g + 3])
                let dst = out + t * tableStride + g * 32
                let lo = SIMD16<UInt8>(truncatingIfNeeded: v)
                let hi = SIMD16<UInt8>(truncatingIfNeeded: v &>> 8)
                UnsafeMutableRawPointer(dst).storeBytes(of: lo, as: SIMD16<UInt8>.self)
                UnsafeMutableRawPointer(dst + 16).storeBytes(of: hi, as: SIMD16<UInt8>.self)
            }
        }
        return 1
    }

    func run(tiles: Range<Int>, pass: Int, tokens: Int, acts: QuantizedActivations,
             y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        #if arch(x86_64)
        let side = matrix.side, ng = side.groupsPerRow
        let a = AVX2LayerArguments(
            side: side, acts: acts, parameters: parameters, weights: matrix.buffer,
            tileStride: matrix.tileStride, planeStride: 0,
            quadsPerGroup: ng == 1 ? matrix.columnGroups : side.groupSize / 4, quadsPerRow: matrix.columnGroups,
            y: y, tokens: tokens, tables: UnsafePointer(tables.bytes), tableStride: tableStride)
        AVX2Kernels.lutTiles(a, tiles: tiles, scratch: scratch.assumingMemoryBound(to: Int32.self))
        #else
        preconditionFailure("LUTTableLoop runs on x86-64 only")
        #endif
    }

    static func space() -> ParameterSpace {
        ParameterSpace(variant: KernelRegistry.lut, parameters: [
            KernelParameter(name: KernelParameterName.lutGroup, allowed: [4], defaultValue: 4,
                            meaning: "activations per table (16-entry vpshufb tables fix it at 4 for bit-planes)"),
            KernelParameter(name: KernelParameterName.tokenBlock, allowed: [1, 2], defaultValue: 1,
                            meaning: "tokens whose tables share one index load", minTokens: 2),
            KernelParameter(name: KernelParameterName.int16Depth, allowed: [8, 16, 32, 64, 128], defaultValue: 32,
                            meaning: "column groups summed in int16 before widening"),
            .prefetch(), .threads(),
        ], constraints: [
            ParameterConstraint(parameters: [KernelParameterName.int16Depth],
                                rule: "int16Depth ≤ 85: each step adds ≤ 3·255 = 765 to an unsigned 16-bit lane (85·765 < 65536)",
                                holds: { ($0[KernelParameterName.int16Depth] ?? 1) <= 85 }),
        ])
    }
}
