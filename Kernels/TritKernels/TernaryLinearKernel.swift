import Foundation
import TritCore

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

    /// Runs `kernels` on one input x (tokens × cols, every kernel's cols), kernel i into
    /// `outputs[i]` (tokens × its rows) on up to `threads[i]` threads, in one call on the worker
    /// pool rather than one each: for layers that read the same activations (q, k, v; gate, up),
    /// whose separate calls are each too small to be worth handing to a second core.
    /// Bit-identical to calling `forward` on each. No kernel may be listed twice
    /// (`isSameInstance`).
    public static func forward(_ kernels: [TernaryLinearKernel], sharing x: UnsafeBufferPointer<Float>, tokens: Int,
                               into outputs: [UnsafeMutableBufferPointer<Float>], threads: [Int]) {
        precondition(kernels.count == outputs.count && kernels.count == threads.count,
                     "forward(sharing:): \(kernels.count) kernels, \(outputs.count) outputs, \(threads.count) thread counts")
        for (k, y) in zip(kernels, outputs) {
            precondition(x.count >= tokens * k.cols, "forward(sharing:): x holds \(x.count) floats, \(tokens) × \(k.cols) needed")
            precondition(y.count >= tokens * k.rows, "forward(sharing:): y holds \(y.count) floats, \(tokens) × \(k.rows) needed")
        }
        guard tokens > 0, !kernels.isEmpty else { return }
        KernelEngine.forward(group: kernels.map(\.engine), x, tokens: tokens, outputs: outputs.map { $0.baseAddress! }, threads: threads)
    }

    /// Whether both values are one kernel (one lock, one scratch), as a copy of the value is.
    public func isSameInstance(as other: TernaryLinearKernel) -> Bool { engine === other.engine }

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
