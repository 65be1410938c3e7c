import Foundation
import TritCore
import TritKernelsAVX2
import TritKernelsAVX512
import TritKernelsVBMI

/// A packed ternary layer ready to run: y = Ŵ x + bias for `tokens` inputs at a time.
///
/// Thread safety: `forward` may be called from several threads at once; calls on one value
/// are serialised by a lock because they share pre-sized scratch (activation buffer, per-thread
/// accumulators, LUT tables). Parallelism belongs inside a call (`threads:`).
public struct TernaryLinearKernel: @unchecked Sendable {
    let engine: KernelEngine

    public init(weights: TernaryWeights, format: PackedFormatKind, variant: String,
                configuration: KernelConfiguration) throws {
        try self.init(weights: weights, format: format, variant: variant, configuration: configuration, features: .current)
    }

    /// `features`: the CPU features the loops are chosen from (tests pass fewer than the CPU has
    /// to run the fallbacks; never more).
    init(weights: TernaryWeights, format: PackedFormatKind, variant: String,
         configuration: KernelConfiguration, features: CPUFeatures) throws {
        let v = try KernelRegistry.variant(variant, features: features)
        guard v.supports(format) else {
            throw KernelError.formatNotSupported(variant: variant, format: format, supported: v.formats)
        }
        guard v.supportsGroups(of: weights) else {
            throw KernelError.groupSizeNotSupported(variant: variant, groupSize: weights.groupSize,
                                                    cols: weights.cols, multiple: v.groupMultiple)
        }
        let config = try v.space.resolve(configuration)
        let layer = try PackedTernaryLayer(packing: weights, as: format)
        engine = KernelEngine(layer: layer, variant: v, configuration: config, features: features)
    }

    /// Another variant or configuration over the packed weights of `other`, with no second copy:
    /// decode and prefill often want the same format run by different loops (a GEMV row block,
    /// a GEMM tile), and the packed layout depends on the format only. Throws as `init(weights:…)`
    /// does when `variant` cannot run that format or its scale groups, or the configuration
    /// breaks a constraint.
    public init(sharingWeightsOf other: TernaryLinearKernel, variant: String, configuration: KernelConfiguration) throws {
        let features = other.engine.features
        let v = try KernelRegistry.variant(variant, features: features)
        let layer = other.packed, side = layer.side
        guard v.supports(layer.kind) else {
            throw KernelError.formatNotSupported(variant: variant, format: layer.kind, supported: v.formats)
        }
        guard v.supportsGroups(groupSize: side.groupSize, groupsPerRow: side.groupsPerRow) else {
            throw KernelError.groupSizeNotSupported(variant: variant, groupSize: side.groupSize,
                                                    cols: side.cols, multiple: v.groupMultiple)
        }
        self.init(layer: layer, variant: v, configuration: try v.space.resolve(configuration), features: features)
    }

    /// Whether this kernel and `other` run on one packed copy of the weights.
    public func sharesWeights(with other: TernaryLinearKernel) -> Bool { packed.sharesStorage(with: other.packed) }

    /// Builds a kernel on an already packed layer (benchmarks' cold copies share no memory).
    init(layer: PackedTernaryLayer, variant: KernelVariant, configuration: KernelConfiguration, features: CPUFeatures = .current) {
        engine = KernelEngine(layer: layer, variant: variant, configuration: configuration, features: features)
    }

    /// A sound untuned choice: the 2-bit `vpmaddubsw` kernel (2 × 2-bit for PTQTP's two planes:
    /// the 3.2-bpw base-3 decode is compute-bound and measured slower here), four rows per
    /// block for one token (eight, in the zmm loop, where the CPU has AVX512-VNNI: the space's
    /// default gemvWidth), four tokens per decode for several; a portable or scalar variant
    /// when the scale groups do not fit the SIMD loops. The tuner (TritTune) replaces this.
    public static func defaultChoice(for weights: TernaryWeights, tokens: Int)
        -> (format: PackedFormatKind, variant: String, configuration: KernelConfiguration) {
        let format: PackedFormatKind = weights.planes.count == 2 ? .twoPlane2Bit : .twoBit
        let simd = (try? KernelRegistry.variant(KernelRegistry.simd))!
        guard simd.supportsGroups(of: weights) else {
            let portable = (try? KernelRegistry.variant(KernelRegistry.simdPortable))!
            if portable.supportsGroups(of: weights) {
                return (format, KernelRegistry.simdPortable, portable.space.defaultConfiguration)
            }
            return (format, KernelRegistry.scalar, KernelConfiguration())
        }
        var c = simd.space.defaultConfiguration
        c[KernelParameterName.rowBlock] = tokens <= 1 ? 4 : 1
        c[KernelParameterName.tokenBlock] = tokens <= 1 ? 1 : 4
        return (format, KernelRegistry.simd, c)
    }

    /// x: tokens × cols row-major Float32; y: tokens × rows row-major.
    public func forward(_ x: UnsafeBufferPointer<Float>, tokens: Int, into y: UnsafeMutableBufferPointer<Float>, threads: Int) {
        precondition(x.count >= tokens * cols, "forward: x holds \(x.count) floats, \(tokens) × \(cols) needed")
        precondition(y.count >= tokens * rows, "forward: y holds \(y.count) floats, \(tokens) × \(rows) needed")
        guard tokens > 0 else { return }
        engine.forward(x, tokens: tokens, y: y.baseAddress!, threads: threads)
    }

    public var rows: Int { engine.side.rows }
    public var cols: Int { engine.side.cols }
    public var packed: PackedTernaryLayer { engine.layer }
    public var variant: String { engine.variant.id }
    public var configuration: KernelConfiguration { engine.configuration }
    /// Bytes of packed weights + side data.
    public var weightBytes: Int { engine.layer.weightBytes }
    public var bitsPerWeight: Double { engine.layer.bitsPerWeight }

    /// Allocates (and first-touches) every buffer a call with `tokens` tokens grows, so that call
    /// times only the kernel. Benchmarks' cold copies use it: each copy is a kernel of its own,
    /// and a first call would otherwise add page faults to the timing.
    public func reserve(tokens: Int) { engine.reserve(tokens: tokens) }

    /// Runs on activations already quantized (tests feed adversarial int8 values this way).
    public func forward(quantized q: [Int8], scales: [Float], tokens: Int, threads: Int) -> [Float] {
        var y = [Float](repeating: 0, count: tokens * rows)
        y.withUnsafeMutableBufferPointer { yb in
            engine.forward(installing: (q, scales), tokens: tokens, y: yb.baseAddress!, threads: threads)
        }
        return y
    }
}

/// The machinery behind `TernaryLinearKernel`: scratch, thread split, dispatch to the loops.
final class KernelEngine: KernelPoolTask, @unchecked Sendable {
    /// What runs: the packed layer (and its side data) under one variant and configuration.
    let layer: PackedTernaryLayer, side: TernarySideData, variant: KernelVariant, configuration: KernelConfiguration
    /// How it runs: the AVX2 loops, else the scalar reference (variant "scalar") or portable SIMD.
    let useAVX2: Bool, reference: ScalarReferenceKernel?, portable: PortableSIMDKernel
    /// Whether the AVX-512 GEMV loop decodes 2-bit codes with GF2P8AFFINEQB.
    let useGFNI: Bool
    /// Whether a `base3-lut` layer runs the `vpermi2b` lookup loop (else the portable one).
    let useVBMI: Bool
    /// The features the loops were chosen from (the CPU's, or fewer in tests).
    let features: CPUFeatures
    let acts: QuantizedActivations
    let maxThreads: Int
    /// Per thread: int32 sums (`scratchBytes`), then room for one decoded tile (GEMM).
    private var scratch: [AlignedBuffer] = []
    private let scratchBytes: Int
    private var tables = AlignedBuffer(byteCount: 0)
    /// The activations in the VNNI GEMM loop's token-interleaved layout (grown on demand).
    private var tokenInterleaved = AlignedBuffer(byteCount: 0)
    private let lock = NSLock()

    init(layer: PackedTernaryLayer, variant: KernelVariant, configuration: KernelConfiguration, features: CPUFeatures) {
        self.layer = layer
        side = layer.side
        self.variant = variant
        self.configuration = configuration
        self.features = features
        #if arch(x86_64)
        useAVX2 = variant.id != KernelRegistry.scalar && variant.id != KernelRegistry.simdPortable
            && features.supportsAVX2Kernels
        #else
        useAVX2 = false
        #endif
        useGFNI = useAVX2 && features.supportsGFNIDecode
        if case .base3LUT = layer { useVBMI = useAVX2 && features.supportsVBMILookup } else { useVBMI = false }
        acts = QuantizedActivations(cols: side.cols, groupSize: side.groupSize, permutation: side.permutation, features: features)
        reference = variant.id == KernelRegistry.scalar ? ScalarReferenceKernel(weights: layer.unpack(), side: side) : nil
        portable = PortableSIMDKernel(layer: layer, side: side)
        maxThreads = max(1, ProcessInfo.processInfo.activeProcessorCount, configuration[KernelParameterName.threads] ?? 1)
        scratchBytes = (max(AVX2LayerArguments.scratchCount(groups: side.groupsPerRow, planes: side.planeCount,
                                                            tokenBlock: 4, subTiles: 4) * 4,
                            layer.lookupScratchBytes) + 63) & ~63
        let decodedBytes = AVX2LayerArguments.decodedCount(planes: side.planeCount, quadsPerRow: (side.cols + 127) / 128)
        scratch = (0..<maxThreads).map { [scratchBytes] _ in AlignedBuffer(byteCount: scratchBytes + decodedBytes) }
    }

    func forward(_ x: UnsafeBufferPointer<Float>, tokens: Int, y: UnsafeMutablePointer<Float>, threads: Int) {
        lock.lock(); defer { lock.unlock() }
        acts.quantize(x, tokens: tokens)
        run(tokens: tokens, y: y, threads: threads)
    }

    func forward(installing q: ([Int8], [Float]), tokens: Int, y: UnsafeMutablePointer<Float>, threads: Int) {
        lock.lock(); defer { lock.unlock() }
        acts.install(q: q.0, scales: q.1, tokens: tokens)
        run(tokens: tokens, y: y, threads: threads)
    }

    func reserve(tokens: Int) {
        lock.lock(); defer { lock.unlock() }
        grow(tokens: tokens)
    }

    /// The buffers sized by the token count: activations, the VNNI loop's interleaved copy,
    /// the LUT tables. Called under `lock`.
    private func grow(tokens: Int) {
        acts.reserve(tokens: tokens)
        if usesVNNITile(tokens: tokens), tokenInterleaved.count < tokens * acts.stride {
            tokenInterleaved = AlignedBuffer(byteCount: tokens * acts.stride)
        }
        if case .lut = layer, useAVX2, tables.count < tokens * tableStride {
            tables = AlignedBuffer(byteCount: tokens * tableStride)
        }

    }

    /// Whether a call with `tokens` runs the AVX-512 VNNI tile loop (tileDecode = 2, which the
    /// registry offers only where the CPU has it; GEMM of ≥ 4 tokens; the row-tiled formats).
    func usesVNNITile(tokens: Int) -> Bool {
        switch layer {
        case .lut, .base3LUT: return false
        case .twoBit, .base3, .bitmask: break
        }
        return useAVX2 && features.supportsVNNIKernels && tokens >= 4 && configuration[KernelParameterName.tileDecode] == 2
    }

    /// Whether a call with `tokens` runs the AVX-512 GEMV loop (gemvWidth = 512, which the
    /// registry offers only where the CPU has it; one token; the 2-bit and base-3 layouts).
    func usesZMMGEMV(tokens: Int) -> Bool {
        switch layer {
        case .twoBit, .base3:
            return useAVX2 && features.supportsVNNIKernels && tokens == 1 && configuration[KernelParameterName.gemvWidth] == 512
        case .bitmask, .lut, .base3LUT: return false
        }
    }

    /// Rows per unit of work handed to a thread.
    var tileRows: Int { useVBMI ? Base3LUTTernaryMatrix.tileRows * Base3LUTTernaryMatrix.groupTiles : useAVX2 && variant.id == KernelRegistry.lut ? 32 : 8 }

    /// Weight·token products per chunk of a multi-threaded call (64 KiB of 2-bit weights), so a
    /// small call makes fewer chunks, down to one per thread, rather than always eight per
    /// thread: every chunk is claimed and counted through atomics whose
    /// cache lines move between the cores. Measured hot, 2 threads, simd/2bit, medians of 5
    /// alternating runs, 16 chunks → 2: 576×576 7.4 → 4.0 µs (1 thread: 4.2), 1536×576 11.8 →
    /// 7.9 µs (1 thread: 10.6), 576×1536 11.2 → 7.2 µs; cold 576×576 12.8, 11.7 → 6.1, 7.3 µs.
    static let weightsPerChunk = 262_144

    private func run(tokens: Int, y: UnsafeMutablePointer<Float>, threads: Int) {
        #if arch(x86_64)
        if useVBMI, case .base3LUT = layer {
            // One token at a time; each thread builds the tables of the blocks it sweeps.
            for t in 0..<tokens {
                lookupToken = t
                runTileChunks(tokens: 1, y: y, threads: threads)
            }
            return
        }
        #endif
        if useAVX2, case let .lut(m) = layer { buildTables(m, tokens: tokens) }
        #if arch(x86_64)
        if useAVX2, case .base3 = layer {
            // The base-3 decoders yield codes in an interleaved column order; match it.
            if usesZMMGEMV(tokens: tokens) {
                VNNIKernels.interleaveBase3WordPairs(acts.q, count: acts.stride)
            } else {
                for t in 0..<tokens { AVX2Kernels.interleaveBase3Activations(acts.q + t * acts.stride, count: acts.stride) }
            }
        }
        if usesVNNITile(tokens: tokens) {
            // After the base-3 permutation: the VNNI loop reads whatever column order the decoder has.
            grow(tokens: tokens)
            VNNIKernels.interleaveTokens(acts.q, stride: acts.stride, tokens: tokens, quads: (side.cols + 127) / 128,
                                         into: tokenInterleaved.typed(Int8.self))
        }
        #endif
        runTileChunks(tokens: tokens, y: y, threads: threads)
    }

    /// The token the lookup loop is running (set under `lock`, before the tiles are handed out).
    private var lookupToken = 0

    /// Runs every row tile for `tokens` tokens, on up to `threads` threads.
    private func runTileChunks(tokens: Int, y: UnsafeMutablePointer<Float>, threads: Int) {
        let tiles = (side.rows + tileRows - 1) / tileRows
        let n = max(1, min(threads, maxThreads, tiles))
        if n == 1 {
            runTiles(0..<tiles, tokens: tokens, y: y, scratch: scratch[0])
        } else {
            call = (tiles, tokens, y)
            // Chunks of ≥ 64 KiB of packed weights (≈ 16 tiles at K = 2048, 2 bpw) keep each
            // thread's stream sequential; 8 per thread let the caller absorb a late worker.
            // Small calls get fewer chunks (`weightsPerChunk`), always a multiple of the threads
            // so that no thread is left with one chunk more than the other.
            // The lookup loop builds every block's tables per chunk: one chunk per thread.
            let perThread = useVBMI ? 1 : min(8, max(1, tiles * tileRows * side.cols * tokens / (Self.weightsPerChunk * n)))
            let chunks = min(tiles, perThread * n)
            KernelWorkerPool.shared.run(self, chunks: chunks, threads: n)
        }
    }

    /// The running call's tile count, tokens and output, for the pool's workers (set under `lock`).
    private var call: (tiles: Int, tokens: Int, y: UnsafeMutablePointer<Float>)?

    func runChunk(_ i: Int, of n: Int, worker: Int) {
        guard let (tiles, tokens, y) = call else { return }
        runTiles((tiles * i / n)..<(tiles * (i + 1) / n), tokens: tokens, y: y, scratch: scratch[worker])
    }

    private func runTiles(_ tiles: Range<Int>, tokens: Int, y: UnsafeMutablePointer<Float>, scratch: AlignedBuffer) {
        let rowRange = (tiles.lowerBound * tileRows)..<min(side.rows, tiles.upperBound * tileRows)
        if let reference {
            reference.run(rows: rowRange, acts: acts, y: y)
            return
        }
        #if arch(x86_64)
        if useVBMI, case let .base3LUT(m) = layer {
            runLookup(m, tiles, y: y, scratch: scratch)
            return
        }
        #endif
        if case .base3LUT = layer {
            portable.run(rows: rowRange, acts: acts, y: y)
            return
        }
        #if arch(x86_64)
        if useAVX2 {
            runAVX2(tiles, tokens: tokens, y: y, scratch: scratch.typed(Int32.self),
                    decoded: scratch.bytes + scratchBytes)
            return
        }
        #endif
        portable.run(rows: rowRange, acts: acts, y: y)
    }

    #if arch(x86_64)
    private func runAVX2(_ tiles: Range<Int>, tokens: Int, y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Int32>,
                         decoded: UnsafeMutablePointer<UInt8>) {
        let c = configuration
        func u16(_ b: AlignedBuffer?) -> UnsafePointer<UInt16>? { b.map { UnsafePointer($0.typed(UInt16.self)) } }
        let ng = side.groupsPerRow
        func args(_ w: AlignedBuffer, layout: RowTiledLayout?, tileStride: Int = 0, quadsPerGroup: Int, quadsPerRow: Int) -> AVX2LayerArguments {
            AVX2LayerArguments(
                weights: UnsafePointer(w.bytes), rowStride: RowTiledLayout.rowStride, unitStride: RowTiledLayout.unitStride,
                tileStride: layout?.tileStride ?? tileStride, planeStride: layout?.planeStride ?? 0,
                planes: side.planeCount, rows: side.rows, groups: ng, quadsPerGroup: quadsPerGroup,
                quadsPerRow: quadsPerRow, acts: UnsafePointer(acts.q), actStride: acts.stride,
                actScales: UnsafePointer(acts.d), groupSums: UnsafePointer(acts.sums),
                scales0: u16(side.scales[0])!, scales1: side.planeCount > 1 ? u16(side.scales[1]) : nil,
                offsets: u16(side.offsets), bias: u16(side.bias), y: y, tokens: tokens,
                rowBlock: c[KernelParameterName.rowBlock] ?? 1, tokenBlock: c[KernelParameterName.tokenBlock] ?? 1,
                depth: c[KernelParameterName.int16Depth] ?? 1, prefetchBytes: c[KernelParameterName.prefetch] ?? 0,
                tables: UnsafePointer(tables.bytes), tableStride: tableStride,
                decoded: c[KernelParameterName.tileDecode] == 1 ? decoded : nil,
                tokenInterleaved: usesVNNITile(tokens: tokens) ? UnsafePointer(tokenInterleaved.typed(Int8.self)) : nil)
        }
        let quadsPerRow = (side.cols + 127) / 128
        let quadsPerGroup = ng == 1 ? quadsPerRow : side.groupSize / 128
        // The row-tiled formats share one decode + multiply-add loop family; LUT has its own.
        let rowTiled: (AlignedBuffer, RowTiledLayout, AVX2CodeLayout)
        switch layer {
        case let .twoBit(m): rowTiled = (m.codes, m.layout, .twoBit)
        case let .base3(m): rowTiled = (m.codes, m.layout, .base3)
        case let .bitmask(m): rowTiled = (m.masks, m.layout, .bitmask)
        case .base3LUT:
            preconditionFailure("base3-lut layers run the lookup loop or the portable one")
        case let .lut(m):
            let perGroup = ng == 1 ? m.columnGroups : side.groupSize / 4
            AVX2Kernels.lutTiles(args(m.buffer, layout: nil, tileStride: m.tileStride, quadsPerGroup: perGroup, quadsPerRow: m.columnGroups),
                                 tiles: tiles, scratch: scratch)
            return
        }
        let a = args(rowTiled.0, layout: rowTiled.1, quadsPerGroup: quadsPerGroup, quadsPerRow: quadsPerRow)
        if usesVNNITile(tokens: tokens) {
            VNNIKernels.dotTiles(a, layout: rowTiled.2, tiles: tiles, codes: decoded)
        } else if usesZMMGEMV(tokens: tokens) {
            VNNIKernels.gemvTiles(a, layout: rowTiled.2, tiles: tiles, gfni: useGFNI)
        } else {
            AVX2Kernels.maddTiles(a, layout: rowTiled.2, tiles: tiles, scratch: scratch)
        }
    }
    #endif

    #if arch(x86_64)
    /// The 64-row tiles `tiles` of the token `lookupToken`.
    private func runLookup(_ m: Base3LUTTernaryMatrix, _ tiles: Range<Int>, y: UnsafeMutablePointer<Float>, scratch: AlignedBuffer) {
        let c = configuration, t = lookupToken
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
                    prefetchBytes: c[KernelParameterName.prefetch] ?? 0)
                // The engine's tiles here are groups of 4 64-row tiles (the layout's tile groups).
                let g = Base3LUTTernaryMatrix.groupTiles
                let rowTiles = (tiles.lowerBound * g)..<min(m.rowTiles, tiles.upperBound * g)
                VBMILookupKernels.gemvTiles(a, tiles: rowTiles, scratch: scratch.pointer)
            }
          }
        }
    }
    #endif

    private var tableStride: Int { ((side.cols + 3) / 4) * 32 }

    /// Per token and column group m of 4 activations: T[i] = Σ_k bit_k(i)·q[4m+k] split into
    /// a low-byte (unsigned) and a high-byte (signed) 16-entry table.
    private func buildTables(_ m: LUTTernaryMatrix, tokens: Int) {
        grow(tokens: tokens)
        let bits = (0..<4).map { k in SIMD16<Int16>((0..<16).map { Int16(($0 >> k) & 1) }) }
        let out = tables.bytes
        for t in 0..<tokens {
            let q = acts.q + t * acts.stride
            for g in 0..<m.columnGroups {
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
    }
}
