import Foundation
import TritCore
import TritKernels
import TritDispatch

/// The kernel a packed layer runs in one phase, as `tritbench eval` reports it.
public struct KernelSelection: Hashable, Sendable, CustomStringConvertible {
    public var variant: String
    public var format: PackedFormatKind
    /// Every parameter, defaults included (resolved against the variant's space).
    public var configuration: KernelConfiguration
    /// true when the tuning cache of this CPU chose it, false for `TernaryLinearKernel.defaultChoice`.
    public var tuned: Bool

    /// e.g. "simd/2bit {int16Depth=16,prefetchBytes=0,rowBlock=4,threads=1,tokenBlock=1} tuned".
    public var description: String { "\(variant)/\(format) {\(configuration)} \(tuned ? "tuned" : "default")" }

    /// The thread count a tuned choice was measured at (dispatch may pick a 1-thread record for
    /// a 2-thread model when one thread was faster for this shape).
    public var configuredThreads: Int? { configuration[KernelParameterName.threads] }

    /// Whether two selections run the same kernel (however each was chosen).
    func sameKernel(as o: KernelSelection) -> Bool { variant == o.variant && format == o.format && configuration == o.configuration }
}

/// A linear layer on packed ternary weights that runs the TritKernels kernels.
///
/// Decode (one token) and prefill (many) want different kernels: a GEMV is bound by streaming
/// the weights and likes a tall row block, a GEMM reuses each decoded weight across a block of
/// tokens. So the kernel is chosen separately for the two phases through `Dispatch` (the tuning
/// cache of this CPU at this thread count, by `LayerKernelChoice`'s one-copy rule), falling back
/// to `TernaryLinearKernel.defaultChoice` when nothing was tuned. Choices in one format run on
/// one packed copy of the weights, even when their variants or configurations differ (the layout
/// depends on the format only); two formats mean two copies. `weightBytes` counts what is
/// really held.
public struct PackedTernaryLinear: LinearLayer {
    /// The token count a prefill choice is looked up for (the tuner's nearest tuned count is used).
    public static let prefillLookupTokens = 64

    public let decodeKernel: TernaryLinearKernel
    public let prefillKernel: TernaryLinearKernel
    public let decode: KernelSelection
    public let prefill: KernelSelection
    /// Worker threads the layer may use (the kernels split row tiles among them).
    public let threads: Int
    /// Threads each phase really uses: a tuned choice's own thread count (≤ `threads`), else `threads`.
    public let decodeThreads: Int, prefillThreads: Int
    let dispatch: Dispatch?

    /// Packs `weights` for the kernels `dispatch` selects (nil: the defaults) at `threads` threads.
    public init(weights: TernaryWeights, dispatch: Dispatch?, threads: Int = 1) throws {
        let c = LayerKernelChoice(rows: weights.rows, cols: weights.cols, planes: weights.planes.count,
                                  prefillTokens: Self.prefillLookupTokens, dispatch: dispatch, threads: threads)
        let d = try Self.kernel(for: weights, tokens: 1, choice: c.decode, reusing: [])
        let p = try Self.kernel(for: weights, tokens: Self.prefillLookupTokens, choice: c.prefill, reusing: [(d.selection, d.kernel)])
        self.init(decode: d, prefill: p, threads: threads, dispatch: dispatch)
    }

    private init(decode d: (kernel: TernaryLinearKernel, selection: KernelSelection),
                 prefill p: (kernel: TernaryLinearKernel, selection: KernelSelection), threads: Int, dispatch: Dispatch?) {
        decodeKernel = d.kernel; decode = d.selection
        prefillKernel = p.kernel; prefill = p.selection
        let allowed = max(1, threads)
        self.threads = allowed; self.dispatch = dispatch
        func used(_ s: KernelSelection) -> Int { s.tuned ? min(allowed, max(1, s.configuredThreads ?? allowed)) : allowed }
        decodeThreads = used(d.selection); prefillThreads = used(p.selection)
    }

    public var inputCount: Int { decodeKernel.cols }
    public var outputCount: Int { decodeKernel.rows }
    /// Whether decode and prefill run one kernel.
    public var sharesKernel: Bool { decode.sameKernel(as: prefill) }
    /// Whether decode and prefill read one packed copy of the weights.
    public var sharesWeights: Bool { decodeKernel.sharesWeights(with: prefillKernel) }
    public var weightBytes: Int { decodeKernel.weightBytes + (sharesWeights ? 0 : prefillKernel.weightBytes) }
    /// "ternary-<format>", or "ternary-<decode format>+<prefill format>" when they differ.
    public var kind: String { decode.format == prefill.format ? "ternary-\(decode.format)" : "ternary-\(decode.format)+\(prefill.format)" }
    public var kernelSelections: [String: KernelSelection] { ["decode": decode, "prefill": prefill] }

    /// Tokens handed to a kernel per call. Kernels size their scratch (int8 activations, LUT
    /// tables: 32 bytes per 4 columns per token) by the largest call they ever saw and keep it;
    /// unbounded, a 512-token perplexity window left ~620 MB of LUT tables across 210 layers.
    /// 64 tokens still reuse each decoded weight 64 times, so prefill speed does not change.
    public static let maxTokensPerCall = 64

    public func forward(_ x: UnsafeBufferPointer<Float>, tokens: Int, into y: UnsafeMutableBufferPointer<Float>) {
        if tokens == 1 { decodeKernel.forward(x, tokens: 1, into: y, threads: decodeThreads); return }
        var first = 0
        while first < tokens {
            let n = min(Self.maxTokensPerCall, tokens - first)
            prefillKernel.forward(UnsafeBufferPointer(rebasing: x[(first * inputCount)..<((first + n) * inputCount)]), tokens: n,
                                  into: UnsafeMutableBufferPointer(rebasing: y[(first * outputCount)..<((first + n) * outputCount)]),
                                  threads: prefillThreads)
            first += n
        }
    }

    /// `layers` as packed layers whose decode kernels can share one call (none listed twice),
    /// or nil.
    static func group(_ layers: [LinearLayer]) -> [PackedTernaryLinear]? {
        let packed = layers.compactMap { $0 as? PackedTernaryLinear }
        guard packed.count == layers.count else { return nil }
        for (i, a) in packed.enumerated() {
            for b in packed[(i + 1)...] where a.decodeKernel.isSameInstance(as: b.decodeKernel) { return nil }
        }
        return packed
    }

    /// One token through every layer of `group` in one kernel call, each layer split over its
    /// own decode thread count (a layer tuned to one thread stays one chunk).
    static func forwardDecode(_ group: [PackedTernaryLinear], _ x: UnsafeBufferPointer<Float>,
                              into outputs: [UnsafeMutableBufferPointer<Float>]) {
        TernaryLinearKernel.forward(group.map(\.decodeKernel), sharing: x, tokens: 1, into: outputs,
                                    threads: group.map(\.decodeThreads))
    }

    /// The same layer for another thread count: choices are looked up again (tuning is per
    /// thread count); kernels whose choice did not change are shared, others are rebuilt from
    /// the unpacked weights.
    public func threaded(_ n: Int) -> LinearLayer {
        guard n != threads else { return self }
        let existing = [(decode, decodeKernel), (prefill, prefillKernel)]
        let c = LayerKernelChoice(rows: outputCount, cols: inputCount, planes: decodeKernel.packed.side.planeCount,
                                  prefillTokens: Self.prefillLookupTokens, dispatch: dispatch, threads: n)
        if c.decode == nil && c.prefill == nil && !decode.tuned && !prefill.tuned {
            // Nothing tuned at either count: the same defaults, no need to unpack and re-pack.
            return PackedTernaryLinear(decode: (decodeKernel, decode), prefill: (prefillKernel, prefill), threads: n, dispatch: dispatch)
        }
        let weights = decodeKernel.packed.unpack()
        do {
            let d = try Self.kernel(for: weights, tokens: 1, choice: c.decode, reusing: existing)
            let p = try Self.kernel(for: weights, tokens: Self.prefillLookupTokens, choice: c.prefill,
                                    reusing: existing + [(d.selection, d.kernel)])
            return PackedTernaryLinear(decode: d, prefill: p, threads: n, dispatch: dispatch)
        } catch {
            // The defaults built before cannot fail to build again; keep the kernels, change threads.
            return PackedTernaryLinear(decode: (decodeKernel, decode), prefill: (prefillKernel, prefill), threads: n, dispatch: dispatch)
        }
    }

    /// The layer for a second thread: new kernels (scratch, activations, lock) over the same
    /// packed weights. Both phases stay on one copy when they shared one.
    public func replica() -> LinearLayer {
        do {
            let d = try TernaryLinearKernel(sharingWeightsOf: decodeKernel, variant: decodeKernel.variant,
                                            configuration: decodeKernel.configuration)
            let p = sharesKernel ? d : try TernaryLinearKernel(sharingWeightsOf: prefillKernel, variant: prefillKernel.variant,
                                                               configuration: prefillKernel.configuration)
            return PackedTernaryLinear(decode: (d, decode), prefill: (p, prefill), threads: threads, dispatch: dispatch)
        } catch {
            preconditionFailure("replica of a packed layer: the kernels built once cannot fail to build on the same weights: \(error)")
        }
    }

    /// The kernel of a tuned choice when there is a usable one, else the default; `reusing`
    /// kernels with an equal selection are returned instead of packing again, and one in the
    /// same format lends its packed copy.
    static func kernel(for w: TernaryWeights, tokens: Int, choice: KernelChoice?,
                       reusing: [(KernelSelection, TernaryLinearKernel)]) throws
        -> (kernel: TernaryLinearKernel, selection: KernelSelection) {
        func build(_ format: PackedFormatKind, _ variant: String, _ c: KernelConfiguration, tuned: Bool) throws
            -> (kernel: TernaryLinearKernel, selection: KernelSelection) {
            // Resolve first so that the selection names every parameter (defaults included).
            let resolved = try KernelRegistry.variant(variant).space.resolve(c)
            let s = KernelSelection(variant: variant, format: format, configuration: resolved, tuned: tuned)
            if let k = reusing.first(where: { $0.0.sameKernel(as: s) }) { return (k.1, s) }
            if let k = reusing.first(where: { $0.0.format == s.format }) {
                return (try TernaryLinearKernel(sharingWeightsOf: k.1, variant: variant, configuration: resolved), s)
            }
            return (try TernaryLinearKernel(weights: w, format: format, variant: variant, configuration: resolved), s)
        }
        if let choice, let built = try? build(choice.format, choice.variant, KernelConfiguration(choice.configuration.values), tuned: true) {
            return built
        }
        let fallback = TernaryLinearKernel.defaultChoice(for: w, tokens: tokens)
        return try build(fallback.format, fallback.variant, fallback.configuration, tuned: false)
    }
}
