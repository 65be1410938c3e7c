import TritCore
import TritKernelsAVX2
#if arch(x86_64)
import TritKernelsAVX512
#endif

/// The decode + multiply-add loop family over the row-tiled formats (`RowTiledCodeFormat`):
/// the AVX2 `vpmaddubsw` loop, and where the CPU has AVX512-VNNI and the configuration asks
/// for them, the zmm row-pair GEMV (one token, `gemvWidth` 512) and the VNNI GEMM tile
/// (≥ 4 tokens, `tileDecode` 2). `simd` runs it on the 2-bit and base-3 layouts, `bitsliced`
/// on the bitmask one; the format's `codeLayout` picks the decoder.
final class RowTiledMaddLoop<Format: RowTiledCodeFormat>: RowTileLoop, @unchecked Sendable {
    let format: Format
    let configuration: KernelConfiguration
    /// The configuration's values the calls read (see `AVX2LoopParameters`).
    private let parameters: AVX2LoopParameters
    private let tileDecode: Int, gemvWidth: Int
    /// Whether the CPU has the AVX-512 VNNI loops, and whether the GEMV loop decodes 2-bit
    /// codes with GF2P8AFFINEQB.
    let vnni: Bool, gfni: Bool
    let tileRows = 8
    /// Per thread: int32 sums, then room for one decoded tile (GEMM with `tileDecode` 1).
    let scratchBytes: Int
    private let sumBytes: Int
    /// The activations in the VNNI GEMM loop's token-interleaved layout (grown on demand).
    private var tokenInterleaved = AlignedBuffer(byteCount: 0)

    init(format: Format, configuration: KernelConfiguration, features: CPUFeatures) {
        self.format = format
        self.configuration = configuration
        parameters = AVX2LoopParameters(configuration)
        tileDecode = configuration[KernelParameterName.tileDecode] ?? 0
        gemvWidth = configuration[KernelParameterName.gemvWidth] ?? 256
        vnni = features.supportsVNNIKernels
        gfni = features.supportsGFNIDecode
        let side = format.side
        sumBytes = (AVX2LayerArguments.scratchCount(groups: side.groupsPerRow, planes: side.planeCount,
                                                    tokenBlock: 4, subTiles: 4) * 4 + 63) & ~63
        scratchBytes = sumBytes + AVX2LayerArguments.decodedCount(planes: side.planeCount, quadsPerRow: (side.cols + 127) / 128)
    }

    /// Whether a call with `tokens` runs the VNNI GEMM tile (the registry offers tileDecode 2
    /// only where the CPU has it).
    func usesVNNITile(tokens: Int) -> Bool {
        vnni && tokens >= 4 && tileDecode == 2
    }

    /// Whether a call with `tokens` runs the zmm GEMV loop (2-bit and base-3 decoders only).
    func usesZMMGEMV(tokens: Int) -> Bool {
        format.codeLayout != .bitmask && vnni && tokens == 1 && gemvWidth == 512
    }

    func name(tokens: Int) -> String {
        usesVNNITile(tokens: tokens) ? "avx512-vnni-tile"
            : usesZMMGEMV(tokens: tokens) ? (gfni && format.codeLayout == .twoBit ? "avx512-gemv-gfni" : "avx512-gemv")
            : "avx2-madd"
    }

    func reserve(tokens: Int, acts: QuantizedActivations) {
        if usesVNNITile(tokens: tokens), tokenInterleaved.count < tokens * acts.stride {
            tokenInterleaved = AlignedBuffer(byteCount: tokens * acts.stride)
        }
    }

    func prepare(tokens: Int, acts: QuantizedActivations) -> Int {
        #if arch(x86_64)
        if format.codeLayout == .base3 {
            // The base-3 decoders yield codes in an interleaved column order; match it.
            if usesZMMGEMV(tokens: tokens) {
                VNNIKernels.interleaveBase3WordPairs(acts.q, count: acts.stride)
            } else {
                for t in 0..<tokens { AVX2Kernels.interleaveBase3Activations(acts.q + t * acts.stride, count: acts.stride) }
            }
        }
        if usesVNNITile(tokens: tokens) {
            // After the base-3 permutation: the VNNI loop reads whatever column order the decoder has.
            reserve(tokens: tokens, acts: acts)
            VNNIKernels.interleaveTokens(acts.q, stride: acts.stride, tokens: tokens, quads: (format.cols + 127) / 128,
                                         into: tokenInterleaved.typed(Int8.self))
        }
        #endif
        return 1
    }

    func run(tiles: Range<Int>, pass: Int, tokens: Int, acts: QuantizedActivations,
             y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        #if arch(x86_64)
        let side = format.side, layout = format.layout
        let quadsPerRow = (side.cols + 127) / 128
        let decoded = scratch.assumingMemoryBound(to: UInt8.self) + sumBytes
        var a = AVX2LayerArguments(
            side: side, acts: acts, parameters: parameters, weights: format.trits,
            tileStride: layout.tileStride, planeStride: layout.planeStride,
            quadsPerGroup: side.groupsPerRow == 1 ? quadsPerRow : side.groupSize / 128, quadsPerRow: quadsPerRow,
            y: y, tokens: tokens,
            decoded: tileDecode == 1 ? decoded : nil,
            tokenInterleaved: usesVNNITile(tokens: tokens) ? UnsafePointer(tokenInterleaved.typed(Int8.self)) : nil)
        a.lastQuadVectors = (side.cols - 128 * (quadsPerRow - 1) + 31) / 32
        if usesVNNITile(tokens: tokens) {
            VNNIKernels.dotTiles(a, layout: format.codeLayout, tiles: tiles, codes: decoded)
        } else if usesZMMGEMV(tokens: tokens) {
            VNNIKernels.gemvTiles(a, layout: format.codeLayout, tiles: tiles, gfni: gfni)
        } else {
            AVX2Kernels.maddTiles(a, layout: format.codeLayout, tiles: tiles, scratch: scratch.assumingMemoryBound(to: Int32.self))
        }
        #else
        preconditionFailure("RowTiledMaddLoop runs on x86-64 only")
        #endif
    }
}

/// What `simd` and `bitsliced` share: the loop family's parameter space and its factory.
enum RowTiledMadd {
    /// The parameter space of the loop family: `gemvWidth` only where the format family has
    /// the zmm GEMV decoders (simd's 2-bit and base-3 layouts).
    static func space(variant id: String, features: CPUFeatures, gemvWidth: Bool) -> ParameterSpace {
        ParameterSpace(variant: id, parameters: [
            KernelParameter(name: KernelParameterName.rowBlock, allowed: [1, 2, 4], defaultValue: 4,
                            meaning: "rows decoded together against the same activations (register block)"),
            KernelParameter(name: KernelParameterName.tokenBlock, allowed: [1, 2, 3, 4], defaultValue: 1,
                            meaning: "activation columns (tokens) sharing one weight decode", minTokens: 2),
            KernelParameter(name: KernelParameterName.int16Depth, allowed: [1, 2, 4, 8, 16, 32], defaultValue: 16,
                            meaning: "128-column quads summed in int16 before vpmaddwd widening (K unroll)"),
            .tileDecode(features: features),
        ] + (gemvWidth ? [.gemvWidth(features: features)] : []) + [
            .prefetch(), .threads(),
        ], constraints: [
            ParameterConstraint(parameters: [KernelParameterName.rowBlock, KernelParameterName.tokenBlock],
                                rule: "rowBlock × tokenBlock ≤ 4, or = 8 (2×4, 4×2): ≤ 4 pairs keep an int16 and an int32 accumulator each, 8 pairs only int16 ones (widened once per scale group, so a group longer than int16Depth quads runs as 2×2 blocks); with 4 code vectors they must fit in 16 ymm registers",
                                holds: { c in
                                    let p = (c[KernelParameterName.rowBlock] ?? 1) * (c[KernelParameterName.tokenBlock] ?? 1)
                                    return p <= 4 || (p == 8 && (c[KernelParameterName.rowBlock] ?? 1) != 1)
                                }),
            ParameterConstraint(parameters: [KernelParameterName.int16Depth],
                                rule: "int16Depth ≤ 16: a quad adds ≤ 8 products of |code·q| ≤ 2·128 per int16 lane, so 16 quads reach ±32768 and 17 wrap",
                                holds: { ($0[KernelParameterName.int16Depth] ?? 1) <= 16 }),
        ])
    }

    /// This loop where the CPU runs it and the layer is row-tiled, else the portable loop.
    static func loop(_ context: RowTileLoopContext) -> any RowTileLoop {
        #if arch(x86_64)
        if context.features.supportsAVX2Kernels, let f = context.layer.format as? any RowTiledCodeFormat {
            return loop(f, context)
        }
        #endif
        return context.portableLoop()
    }

    private static func loop<F: RowTiledCodeFormat>(_ f: F, _ context: RowTileLoopContext) -> any RowTileLoop {
        RowTiledMaddLoop<F>(format: f, configuration: context.configuration, features: context.features)
    }
}

/// The loop parameters of a configuration that `AVX2LayerArguments` carries, read once when a
/// loop is built rather than on every call: a decode step runs about 200 layer calls of a few
/// microseconds each, and every read of `KernelConfiguration` hashes a String key.
struct AVX2LoopParameters {
    let rowBlock: Int, tokenBlock: Int, depth: Int, prefetchBytes: Int

    init(_ c: KernelConfiguration) {
        rowBlock = c[KernelParameterName.rowBlock] ?? 1
        tokenBlock = c[KernelParameterName.tokenBlock] ?? 1
        depth = c[KernelParameterName.int16Depth] ?? 1
        prefetchBytes = c[KernelParameterName.prefetch] ?? 0
    }
}

extension AVX2LayerArguments {
    /// The arguments of one call over `weights` (row-tiled or LUT layout) with the layer's side
    /// data, the quantized activations and the configuration's loop parameters.
    init(side: TernarySideData, acts: QuantizedActivations, parameters c: AVX2LoopParameters, weights: AlignedBuffer,
         tileStride: Int, planeStride: Int, quadsPerGroup: Int, quadsPerRow: Int, y: UnsafeMutablePointer<Float>, tokens: Int,
         tables: UnsafePointer<UInt8>? = nil, tableStride: Int = 0,
         decoded: UnsafeMutablePointer<UInt8>? = nil, tokenInterleaved: UnsafePointer<Int8>? = nil) {
        func u16(_ b: AlignedBuffer?) -> UnsafePointer<UInt16>? { b.map { UnsafePointer($0.typed(UInt16.self)) } }
        self.init(weights: UnsafePointer(weights.bytes), rowStride: RowTiledLayout.rowStride, unitStride: RowTiledLayout.unitStride,
                  tileStride: tileStride, planeStride: planeStride, planes: side.planeCount, rows: side.rows,
                  groups: side.groupsPerRow, quadsPerGroup: quadsPerGroup, quadsPerRow: quadsPerRow,
                  acts: UnsafePointer(acts.q), actStride: acts.stride, actScales: UnsafePointer(acts.d),
                  groupSums: UnsafePointer(acts.sums),
                  scales0: u16(side.scales[0])!, scales1: side.planeCount > 1 ? u16(side.scales[1]) : nil,
                  offsets: u16(side.offsets), bias: u16(side.bias), y: y, tokens: tokens,
                  rowBlock: c.rowBlock, tokenBlock: c.tokenBlock, depth: c.depth, prefetchBytes: c.prefetchBytes,
                  tables: tables, tableStride: tableStride, decoded: decoded, tokenInterleaved: tokenInterleaved)
    }
}
