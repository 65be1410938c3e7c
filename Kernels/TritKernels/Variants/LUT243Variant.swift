import TritCore
import TritKernelsVBMI

extension KernelVariant {
    /// 243-entry tables indexed by the base-3 byte itself over the `base3-lut` layouts
    /// (AVX512-VBMI `vpermi2b`; portable elsewhere).
    static func lut243(_ features: CPUFeatures) -> KernelVariant {
        KernelVariant(id: KernelRegistry.lut243,
                      summary: "243-entry tables of 5 activations indexed by the base-3 byte itself, 64 rows per vpermi2b, exact lo/hi byte tables (AVX512-VBMI; portable Swift SIMD elsewhere)",
                      formats: [.base3LUT, .twoPlaneBase3LUT], space: Base3LookupLoop.space(), groupMultiple: 32, isTuned: true,
                      runsNatively: .vbmiLookup,
                      makeLoop: { context in
                          context.loop(over: Base3LUTTernaryMatrix.self,
                                       where: context.features.supportsAVX2Kernels && context.features.supportsVBMILookup) {
                              Base3LookupLoop(matrix: $0, configuration: context.configuration)
                          }
                      })
    }
}

/// The AVX512-VBMI lookup loop over `Base3LUTTernaryMatrix`: one token per pass; each thread
/// builds the tables of the blocks it sweeps, so a thread takes one chunk.
final class Base3LookupLoop: RowTileLoop, @unchecked Sendable {
    let matrix: Base3LUTTernaryMatrix
    let configuration: KernelConfiguration
    /// The configuration's prefetch distance, read once (a call must not hash a String key).
    private let prefetchBytes: Int
    /// A tile here is one tile group of the layout (4 64-row tiles, the loop's register block).
    let tileRows = Base3LUTTernaryMatrix.tileRows * Base3LUTTernaryMatrix.groupTiles
    let scratchBytes: Int
    let chunksPerThreadLimit = 1

    init(matrix: Base3LUTTernaryMatrix, configuration: KernelConfiguration) {
        self.matrix = matrix
        self.configuration = configuration
        prefetchBytes = configuration[KernelParameterName.prefetch] ?? 0
        scratchBytes = (Base3LookupArguments.scratchBytes(tiles: matrix.rowTiles) + 63) & ~63
    }

    func name(tokens: Int) -> String { "avx512-vbmi-lookup" }

    func prepare(tokens: Int, acts: QuantizedActivations) -> Int { tokens }

    /// The tile groups `tiles` of token `pass`.
    func run(tiles: Range<Int>, pass t: Int, tokens: Int, acts: QuantizedActivations,
             y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        #if arch(x86_64)
        let m = matrix, side = m.side
        func u16(_ b: AlignedBuffer?) -> UnsafePointer<UInt16>? { b.map { UnsafePointer($0.typed(UInt16.self)) } }
        m.blockStarts.withUnsafeBufferPointer { starts in
          m.groupStarts.withUnsafeBufferPointer { groupStarts in
            m.blockGroups.withUnsafeBufferPointer { groups in
                let a = Base3LookupArguments(
                    weights: UnsafePointer(m.buffer.bytes), planes: side.planeCount, tiles: m.rowTiles, rows: side.rows,
                    groups: side.groupsPerRow, blocks: groups.count, blockStarts: starts.baseAddress!,
                    blockGroups: groups.baseAddress!, acts: UnsafePointer(acts.q + t * acts.stride),
                    groupStarts: groupStarts.baseAddress!, groupColumns: m.groupColumns, cols: side.cols,
                    groupSums: UnsafePointer(acts.sums + t * side.groupsPerRow), actScale: acts.d[t],
                    scales0: u16(side.scales[0])!, scales1: side.planeCount > 1 ? u16(side.scales[1]) : nil,
                    offsets: u16(side.offsets), bias: u16(side.bias), y: y + t * side.rows,
                    prefetchBytes: prefetchBytes)
                let g = Base3LUTTernaryMatrix.groupTiles
                let rowTiles = (tiles.lowerBound * g)..<min(m.rowTiles, tiles.upperBound * g)
                VBMILookupKernels.gemvTiles(a, tiles: rowTiles, scratch: scratch)
            }
          }
        }
        #else
        preconditionFailure("Base3LookupLoop runs on x86-64 only")
        #endif
    }

    static func space() -> ParameterSpace {
        ParameterSpace(variant: KernelRegistry.lut243, parameters: [
            KernelParameter(name: KernelParameterName.rowBlock, allowed: [4], defaultValue: 4,
                            meaning: "64-row tiles sharing each table load; fixed at 4 by the base3-lut layout, which stores a block's bytes in the order the loop reads them"),
            KernelParameter(name: KernelParameterName.prefetch, allowed: [0, 2048, 4096, 8192, 16384], defaultValue: 8192,
                            meaning: "bytes ahead in the weight stream to prefetch into L2 (prefetcht1, one per 64-byte line): the loop issues 12 loads per 256 weight bytes, 8 of them table loads that hit L1, so the load queue, not the bandwidth, bounds how far out-of-order execution reaches ahead"),
            .threads(),
        ], constraints: [])
    }
}
