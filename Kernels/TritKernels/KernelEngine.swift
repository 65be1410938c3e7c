import Foundation
import TritCore

/// The machinery behind `TernaryLinearKernel` that every variant shares: quantized
/// activations, per-thread scratch, the thread split and the worker pool. What runs on the
/// tiles is the variant's `RowTileLoop`.
final class KernelEngine: KernelPoolTask, @unchecked Sendable {
    /// What runs: the packed layer (and its side data) under one variant and configuration.
    let layer: PackedTernaryLayer, side: TernarySideData, variant: KernelVariant, configuration: KernelConfiguration
    /// The loop the variant built for this layer, configuration and CPU.
    let loop: any RowTileLoop
    /// The features the loops were chosen from (the CPU's, or fewer in tests).
    let features: CPUFeatures
    let acts: QuantizedActivations
    let maxThreads: Int
    private var scratch: [AlignedBuffer] = []
    private let lock = NSLock()

    init(layer: PackedTernaryLayer, variant: KernelVariant, configuration: KernelConfiguration, features: CPUFeatures) {
        self.layer = layer
        side = layer.side
        self.variant = variant
        self.configuration = configuration
        self.features = features
        loop = variant.makeLoop(RowTileLoopContext(layer: layer, configuration: configuration, features: features))
        acts = QuantizedActivations(cols: side.cols, groupSize: side.groupSize, permutation: side.permutation, features: features)
        maxThreads = max(1, ProcessInfo.processInfo.activeProcessorCount, configuration[KernelParameterName.threads] ?? 1)
        scratch = (0..<maxThreads).map { [loop] _ in AlignedBuffer(byteCount: loop.scratchBytes) }
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

    /// Allocates every buffer a call with `tokens` tokens grows: activations, and the loop's own.
    func reserve(tokens: Int) {
        lock.lock(); defer { lock.unlock() }
        acts.reserve(tokens: tokens)
        loop.reserve(tokens: tokens, acts: acts)
    }

    /// Weight·token products per chunk of a multi-threaded call (64 KiB of 2-bit weights), so a
    /// small call makes fewer chunks, down to one per thread, rather than always eight per
    /// thread: every chunk is claimed and counted through atomics whose cache lines move
    /// between the cores.
    static let weightsPerChunk = 262_144

    private func run(tokens: Int, y: UnsafeMutablePointer<Float>, threads: Int) {
        let passes = loop.prepare(tokens: tokens, acts: acts)
        for pass in 0..<passes { runTileChunks(pass: pass, tokens: tokens, y: y, threads: threads) }
    }

    /// Runs every row tile of one pass for `tokens` tokens, on up to `threads` threads.
    private func runTileChunks(pass: Int, tokens: Int, y: UnsafeMutablePointer<Float>, threads: Int) {
        let tileRows = loop.tileRows
        let tiles = (side.rows + tileRows - 1) / tileRows
        let n = max(1, min(threads, maxThreads, tiles))
        if n == 1 {
            loop.run(tiles: 0..<tiles, pass: pass, tokens: tokens, acts: acts, y: y, scratch: scratch[0].pointer)
        } else {
            call = (tiles, pass, tokens, y)
            // Chunks of ≥ 64 KiB of packed weights (≈ 16 tiles at K = 2048, 2 bpw) keep each
            // thread's stream sequential; up to 8 per thread let the caller absorb a late worker.
            // Small calls get fewer chunks (`weightsPerChunk`), always a multiple of the threads
            // so that no thread is left with one chunk more than the other.
            let perThread = min(loop.chunksPerThreadLimit, max(1, tiles * tileRows * side.cols * tokens / (Self.weightsPerChunk * n)))
            KernelWorkerPool.shared.run(self, chunks: min(tiles, perThread * n), threads: n)
        }
    }

    /// The running call's tile count, pass, tokens and output, for the pool's workers (set under `lock`).
    private var call: (tiles: Int, pass: Int, tokens: Int, y: UnsafeMutablePointer<Float>)?

    func runChunk(_ i: Int, of n: Int, worker: Int) {
        guard let (tiles, pass, tokens, y) = call else { return }
        loop.run(tiles: (tiles * i / n)..<(tiles * (i + 1) / n), pass: pass, tokens: tokens, acts: acts, y: y,
                 scratch: scratch[worker].pointer)
    }
}
