import TritCore

extension KernelVariant {
    /// Bit-sliced trit planes over the bitmask layout, through the multiply-add loop family.
    static func bitsliced(_ features: CPUFeatures) -> KernelVariant {
        KernelVariant(id: KernelRegistry.bitsliced,
                      summary: "bit-sliced trit planes: +/− masks expanded with vpshufb/vpcmpeqb, masked add/sub via vpmaddubsw",
                      formats: [.bitmask],
                      space: RowTiledMadd.space(variant: KernelRegistry.bitsliced, features: features, gemvWidth: false),
                      groupMultiple: 128, isTuned: true, runsNatively: .avx2,
                      makeLoop: { RowTiledMadd.loop($0) })
    }
}
