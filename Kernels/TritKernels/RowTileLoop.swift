import TritCore

/// What a kernel variant builds for one packed layer, configuration and CPU: a loop over row
/// tiles. `KernelEngine` owns everything around it (quantized activations, per-thread scratch,
/// the thread split, the lock); the loop owns what it alone reads (tables, re-laid-out
/// activations) and computes y for the tiles it is handed.
///
/// A call runs as: `prepare(tokens:acts:)` once, under the engine's lock, on the caller's
/// thread; then, for each of the passes it returned, `run(tiles:…)` over disjoint tile ranges
/// on up to `threads` threads at once. So `run` may only read the loop's own state and write
/// the rows of its tiles and its scratch.
protocol RowTileLoop: AnyObject, Sendable {
    /// What runs, for profiles and tests ("avx2-madd", "avx512-vbmi-lookup", …): the loop a call
    /// with `tokens` tokens takes.
    func name(tokens: Int) -> String
    /// Rows per tile: the unit of work handed to a thread.
    var tileRows: Int { get }
    /// Bytes of scratch each thread gets (64-byte aligned, zeroed once, reused across calls).
    var scratchBytes: Int { get }
    /// At most this many chunks per thread in a multi-threaded call (1 where every chunk
    /// rebuilds state, such as lookup tables, that a bigger chunk would share).
    var chunksPerThreadLimit: Int { get }
    /// Allocates and first-touches every buffer a call with `tokens` tokens grows.
    func reserve(tokens: Int, acts: QuantizedActivations)
    /// Gets ready for a call on `acts` (quantized, `tokens` of them): re-lays-out activations,
    /// builds tables. Returns how many passes over all tiles the call takes.
    func prepare(tokens: Int, acts: QuantizedActivations) -> Int
    /// Computes y (tokens × rows, row-major) for the rows of `tiles`, in pass `pass`.
    func run(tiles: Range<Int>, pass: Int, tokens: Int, acts: QuantizedActivations,
             y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer)
}

extension RowTileLoop {
    var chunksPerThreadLimit: Int { 8 }
    func reserve(tokens: Int, acts: QuantizedActivations) {}
    func prepare(tokens: Int, acts: QuantizedActivations) -> Int { 1 }
}

/// What a variant's loop factory is given.
struct RowTileLoopContext {
    let layer: PackedTernaryLayer
    let configuration: KernelConfiguration
    let features: CPUFeatures
    var side: TernarySideData { layer.side }
}
