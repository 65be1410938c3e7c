import TritCore

extension KernelVariant {
    /// Decode to codes w + 1 and multiply-add, over the 2-bit and base-3 layouts (one or two planes).
    static func simd(_ features: CPUFeatures) -> KernelVariant {
        KernelVariant(id: KernelRegistry.simd,
                      summary: "decode to codes w+1 + vpmaddubsw (AVX2; portable Swift SIMD when AVX2 is absent)",
                      formats: [.twoBit, .twoPlane2Bit, .base3, .twoPlane],
                      space: RowTiledMadd.space(variant: KernelRegistry.simd, features: features, gemvWidth: true),
                      groupMultiple: 128, isTuned: true, runsNatively: .avx2,
                      makeLoop: { RowTiledMadd.loop($0) })
    }
}
