import Foundation
import TritCore
import TritKernels
import TritTune

/// The kernel a packed layer runs in one phase, as `tritbench eval` reports it.
public struct KernelSelection: Codable, Hashable, Sendable, CustomStringConvertible {
    public var variant: String
    public var format: String
    /// `name=value` pairs, e.g. "int16Depth=16,prefetchBytes=0,rowBlock=4,threads=1,tokenBlock=1".
    public var configuration: String
    /// true when the tuning cache of this CPU chose it, false for `TernaryLinearKernel.defaultChoice`.
    public var tuned: Bool

    public var description: String { "\(variant)/\(format) {\(configuration)} \(tuned ? "tuned" : "default")" }

    /// Whether two selections run the same kernel (however each was chosen).
    func sameKernel(as o: KernelSelection) -> Bool { variant == o.variant && format == o.format && configuration == o.configuration }
}

/// A linear layer on packed ternary weights that runs the TritKernels kernels.
///
/// Decode (one token) and prefill (many) want different kernels: a GEMV is bound by streaming
/// the weights and likes a tall row block, a GEMM reuses each decoded weight across a block of
/// tokens. So the kernel is chosen separately for the two phases through `Dispatch` (the tuning
/// cache of this CPU at this thread count), falling back to `TernaryLinearKernel.defaultChoice`
/// when nothing was tuned. Two different choices mean two packed copies of the weights (the
/// kernel API packs per kernel); equal choices share one kernel, and `weightBytes` counts what
/// is really held.
public struct PackedTernaryLinear: LinearLayer {
    /// The token count a prefill choice is looked up for (the tuner's nearest tuned count is used).
    public static let prefillLookupTokens = 64

    public let decodeKernel: TernaryLinearKernel
    public let prefillKernel: TernaryLinearKernel
    public let decode: KernelSelection
    public let prefill: KernelSelection
    /// Worker threads each forward call uses (the kernels split row tiles among them).
    public let threads: Int
    let dispatch: Dispatch?

    /// Packs `weights` for the kernels `dispatch` selects (nil: the defaults) at `threads` threads.
    public init(weights: TernaryWeights, dispatch: Dispatch?, threads: Int = 1) throws {
        let d = try Self.kernel(for: weights, tokens: 1, dispatch: dispatch, threads: threads, reusing: [])
        let p = try Self.kernel(for: weights, tokens: Self.prefillLookupTokens, dispatch: dispatch, threads: threads,
                                reusing: [(d.selection, d.kernel)])
        self.init(decode: d, prefill: p, threads: threads, dispatch: dispatch)
    }

    private init(decode d: (kernel: TernaryLinearKernel, selection: KernelSelection),
                 prefill p: (kernel: TernaryLinearKernel, selection: KernelSelection), threads: Int, dispatch: Dispatch?) {
        decodeKernel = d.kernel; decode = d.selection
        prefillKernel = p.kernel; prefill = p.selection
        self.threads = max(1, threads); self.dispatch = dispatch
    }

    public var inputCount: Int { decodeKernel.cols }
    public var outputCount: Int { decodeKernel.rows }
    /// Whether decode and prefill run one kernel (one packed copy).
    public var sharesKernel: Bool { decode.sameKernel(as: prefill) }
    public var weightBytes: Int { decodeKernel.weightBytes + (sharesKernel ? 0 : prefillKernel.weightBytes) }
    /// "ternary-<format>", or "ternary-<decode format>+<prefill format>" when they differ.
    public var kind: String { decode.format == prefill.format ? "ternary-\(decode.format)" : "ternary-\(decode.format)+\(prefill.format)" }
    public var kernelSelections: [String: KernelSelection] { ["decode": decode, "prefill": prefill] }

    public func forward(_ x: UnsafeBufferPointer<Float>, tokens: Int, into y: UnsafeMutableBufferPointer<Float>) {
        (tokens == 1 ? decodeKernel : prefillKernel).forward(x, tokens: tokens, into: y, threads: threads)
    }

    /// The same layer for another thread count: choices are looked up again (tuning is per
    /// thread count); kernels whose choice did not change are shared, others are rebuilt from
    /// the unpacked weights.
    public func threaded(_ n: Int) -> LinearLayer {
        guard n != threads else { return self }
        let existing = [(decode, decodeKernel), (prefill, prefillKernel)]
        let weights = decodeKernel.packed.unpack()
        do {
            let d = try Self.kernel(for: weights, tokens: 1, dispatch: dispatch, threads: n, reusing: existing)
            let p = try Self.kernel(for: weights, tokens: Self.prefillLookupTokens, dispatch: dispatch, threads: n,
                                    reusing: existing + [(d.selection, d.kernel)])
            return PackedTernaryLinear(decode: d, prefill: p, threads: n, dispatch: dispatch)
        } catch {
            // The defaults built before cannot fail to build again; keep the kernels, change threads.
            return PackedTernaryLinear(decode: (decodeKernel, decode), prefill: (prefillKernel, prefill), threads: n, dispatch: dispatch)
        }
    }

    /// Formats a layer with this many trit planes can be packed in.
    static func formats(planes: Int) -> [PackedFormatKind] {
        PackedFormatKind.allCases.filter { ($0.requiredPlanes ?? planes) == planes }
    }

    /// The tuned kernel when the cache has a usable one, else the default; `reusing` kernels
    /// with an equal selection are returned instead of packing again.
    static func kernel(for w: TernaryWeights, tokens: Int, dispatch: Dispatch?, threads: Int,
                       reusing: [(KernelSelection, TernaryLinearKernel)]) throws
        -> (kernel: TernaryLinearKernel, selection: KernelSelection) {
        func build(_ format: PackedFormatKind, _ variant: String, _ c: KernelConfiguration, tuned: Bool) throws
            -> (kernel: TernaryLinearKernel, selection: KernelSelection) {
            // Resolve first so that the selection names every parameter (defaults included).
            let resolved = try KernelRegistry.variant(variant).space.resolve(c)
            let s = KernelSelection(variant: variant, format: format.rawValue, configuration: resolved.description, tuned: tuned)
            if let k = reusing.first(where: { $0.0.sameKernel(as: s) }) { return (k.1, s) }
            return (try TernaryLinearKernel(weights: w, format: format, variant: variant, configuration: resolved), s)
        }
        let allowed = Set(formats(planes: w.planes.count).map(\.rawValue))
        if let choice = dispatch?.select(formats: allowed, rows: w.rows, cols: w.cols, tokens: tokens, threads: threads),
           let format = PackedFormatKind(rawValue: choice.format),
           let built = try? build(format, choice.variant, KernelConfiguration(choice.configuration.values), tuned: true) {
            return built
        }
        let fallback = TernaryLinearKernel.defaultChoice(for: w, tokens: tokens)
        return try build(fallback.format, fallback.variant, fallback.configuration, tuned: false)
    }
}
