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
        let split = split(tokens: tokens, threads: threads)
        call = (tileCount, pass, tokens, y)
        if split.threads == 1 {
            runChunk(0, of: 1, worker: 0)
        } else {
            KernelWorkerPool.shared.run(self, chunks: split.chunks, threads: split.threads)
        }
    }

    var tileCount: Int { (side.rows + loop.tileRows - 1) / loop.tileRows }

    /// How a pass over every tile is split at up to `threads` threads: one chunk on one thread,
    /// or ≥ 2 chunks claimed by up to `threads` threads.
    func split(tokens: Int, threads: Int) -> (chunks: Int, threads: Int) {
        let tiles = tileCount
        let n = max(1, min(threads, maxThreads, tiles))
        guard n > 1 else { return (1, 1) }
        // Chunks of ≥ 64 KiB of packed weights (≈ 16 tiles at K = 2048, 2 bpw) keep each
        // thread's stream sequential; up to 8 per thread let the caller absorb a late worker.
        // Small calls get fewer chunks (`weightsPerChunk`), always a multiple of the threads
        // so that no thread is left with one chunk more than the other.
        let perThread = min(loop.chunksPerThreadLimit, max(1, tiles * loop.tileRows * side.cols * tokens / (Self.weightsPerChunk * n)))
        return (min(tiles, perThread * n), n)
    }

    /// The running call's tile count, pass, tokens and output, for the pool's workers (set under `lock`).
    private var call: (tiles: Int, pass: Int, tokens: Int, y: UnsafeMutablePointer<Float>)?

    func runChunk(_ i: Int, of n: Int, worker: Int) {
        guard let (tiles, pass, tokens, y) = call else { return }
        loop.run(tiles: (tiles * i / n)..<(tiles * (i + 1) / n), pass: pass, tokens: tokens, acts: acts, y: y,
                 scratch: scratch[worker].pointer)
    }
}

extension KernelEngine {
    /// Runs several engines on one input `x` in one call on the worker pool: every engine's
    /// tiles become chunks of a single pool call, which the threads claim in turn.
    ///
    /// Why: a decode step's q, k and v (and gate and up) read the same activations, and each of
    /// them alone is a few microseconds of work, close to what handing work to a second core and
    /// joining it costs. One call for the group pays that once, and the threads finishing one
    /// layer go straight on to the next. Every tile runs the same loop over the same rows as in
    /// a call of its own, so each y is bit-identical to `forward`'s.
    ///
    /// The input is quantized once for every engine whose activations quantize alike (same
    /// columns, scale groups, permutation and loop), and copied to the others: the copy moves
    /// a few hundred bytes where quantizing again reads and rounds every float, on the calling
    /// thread, while the other threads wait.
    ///
    /// Engine i's chunks are those `split(tokens:threads:)` gives it at `threads[i]`, and the
    /// pool runs on the most threads any engine splits over. A loop that takes more than one
    /// pass (tables built between passes) makes the whole group run one engine after another,
    /// as separate calls.
    static func forward(group engines: [KernelEngine], _ x: UnsafeBufferPointer<Float>, tokens: Int,
                        outputs: [UnsafeMutablePointer<Float>], threads: [Int]) {
        precondition(engines.count == outputs.count && engines.count == threads.count,
                     "forward(group:): \(engines.count) engines, \(outputs.count) outputs, \(threads.count) thread counts")
        for i in engines.indices {
            for j in engines.indices where j > i {
                precondition(engines[i] !== engines[j], "forward(group:): an engine appears twice (its lock is not recursive)")
            }
        }
        // One lock order for every group, whatever order the caller lists the engines in.
        let locking = engines.sorted { ObjectIdentifier($0) < ObjectIdentifier($1) }
        for e in locking { e.lock.lock() }
        defer { for e in locking.reversed() { e.lock.unlock() } }
        for (i, e) in engines.enumerated() {
            if let source = engines[..<i].first(where: { $0.acts.quantizesAlike(e.acts) }) {
                e.acts.copy(from: source.acts)
            } else {
                e.acts.quantize(x, tokens: tokens)
            }
        }
        // After every copy: a loop's prepare may reorder its activations in place.
        let passes = engines.map { $0.loop.prepare(tokens: tokens, acts: $0.acts) }
        let splits = engines.indices.map { engines[$0].split(tokens: tokens, threads: threads[$0]) }
        let poolThreads = splits.map(\.threads).max() ?? 1
        guard poolThreads > 1, engines.count > 1, passes.allSatisfy({ $0 == 1 }) else {
            for (i, e) in engines.enumerated() {
                for pass in 0..<passes[i] { e.runTileChunks(pass: pass, tokens: tokens, y: outputs[i], threads: threads[i]) }
            }
            return
        }
        for (i, e) in engines.enumerated() { e.call = (e.tileCount, 0, tokens, outputs[i]) }
        let task = GroupTask(engines: engines, chunks: splits.map(\.chunks))
        KernelWorkerPool.shared.run(task, chunks: task.totalChunks, threads: poolThreads)
    }

    /// Chunk i of a group call: chunk i − first[e] of engine e's own split.
    private final class GroupTask: KernelPoolTask {
        let engines: [KernelEngine], chunks: [Int], first: [Int]
        var totalChunks: Int { first.last! + chunks.last! }

        init(engines: [KernelEngine], chunks: [Int]) {
            self.engines = engines; self.chunks = chunks
            var f: [Int] = [], sum = 0
            for c in chunks { f.append(sum); sum += c }
            first = f
        }

        func runChunk(_ i: Int, of _: Int, worker: Int) {
            var e = engines.count - 1
            while first[e] > i { e -= 1 }
            engines[e].runChunk(i - first[e], of: chunks[e], worker: worker)
        }
    }
}
