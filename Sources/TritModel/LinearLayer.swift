import CBLAS
import Foundation
import TritCore
import TritKernels

/// A linear layer y = W x (+ bias) applied to a batch of tokens: the one place where the model
/// lets a method or a packed format in. Called once per layer per forward pass (never per
/// element), so protocol dispatch costs nothing measurable.
public protocol LinearLayer {
    var inputCount: Int { get }
    var outputCount: Int { get }
    /// `x` is `tokens × inputCount` row-major; `y` receives `tokens × outputCount` row-major.
    func forward(_ x: UnsafeBufferPointer<Float>, tokens: Int, into y: UnsafeMutableBufferPointer<Float>)
    /// Bytes of weight storage this layer holds (what a memory report counts).
    var weightBytes: Int { get }
    /// A short name of the representation, e.g. "f32", "ternary-2bit".
    var kind: String { get }
    /// The layer for `threads` worker threads. Float layers return themselves: OpenBLAS's
    /// thread count is process-wide, set around a call by `LinearAlgebra.withThreads`.
    func threaded(_ threads: Int) -> LinearLayer
    /// The kernels the layer runs by phase ("decode", "prefill"); empty for BLAS layers.
    var kernelSelections: [String: KernelSelection] { get }
    /// The layer for a second thread calling `forward` at the same time: the same weights (not
    /// a copy) with scratch of its own. Layers without per-call state return themselves.
    func replica() -> LinearLayer
}

extension LinearLayer {
    public func threaded(_ threads: Int) -> LinearLayer { self }
    public func replica() -> LinearLayer { self }
    public var kernelSelections: [String: KernelSelection] { [:] }
}

/// The Float32 reference layer: Y = X Wᵀ (+ b) through OpenBLAS sgemm — the honest float baseline.
public struct FloatLinear: LinearLayer {
    public let weights: Matrix
    public let bias: [Float]?
    public let kind: String

    public init(_ weights: Matrix, bias: [Float]? = nil, kind: String = "f32") {
        precondition(bias == nil || bias!.count == weights.rows, "bias length \(bias?.count ?? 0) != rows \(weights.rows)")
        self.weights = weights; self.bias = bias; self.kind = kind
    }

    public var inputCount: Int { weights.cols }
    public var outputCount: Int { weights.rows }
    public var weightBytes: Int { (weights.count + (bias?.count ?? 0)) * 4 }

    public func forward(_ x: UnsafeBufferPointer<Float>, tokens: Int, into y: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count >= tokens * inputCount && y.count >= tokens * outputCount, "FloatLinear buffer sizes")
        let m = Int32(tokens), n = Int32(weights.rows), k = Int32(weights.cols)
        weights.values.withUnsafeBufferPointer { w in
            if tokens == 1 {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1, w.baseAddress, k, x.baseAddress, 1, 0, y.baseAddress, 1)
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1,
                            x.baseAddress, k, w.baseAddress, k, 0, y.baseAddress, n)
            }
        }
        if let bias {
            for t in 0..<tokens {
                let row = y.baseAddress! + t * outputCount
                for i in 0..<outputCount { row[i] += bias[i] }
            }
        }
    }
}

extension FloatLinear {
    /// The dense float form of a ternary layer (Ŵ and Tequila's bias): the accuracy reference
    /// `PackedTernaryLinear` must match.
    public init(dequantizing t: TernaryWeights) {
        self.init(t.dequantized(), bias: t.bias, kind: "ternary-dequantized-f32")
    }
}

/// Receives the input activations of named linear layers (calibration for GPTQ, PT²-LLM and
/// Tequila). A reference type because the forward pass writes into it from inside the layers.
public final class LinearInputRecorder: @unchecked Sendable {
    /// Maximum rows kept per layer (calibration needs a sample, not every token).
    public let maxRowsPerLayer: Int
    private var rows: [String: [Float]] = [:]
    private var widths: [String: Int] = [:]
    private let lock = NSLock()

    public init(maxRowsPerLayer: Int = 4096) { self.maxRowsPerLayer = maxRowsPerLayer }

    public func record(_ name: String, _ x: UnsafeBufferPointer<Float>, tokens: Int, width: Int) {
        lock.lock(); defer { lock.unlock() }
        var buf = rows[name] ?? []
        let have = buf.count / max(width, 1)
        let take = min(tokens, maxRowsPerLayer - have)
        if take > 0 { buf.append(contentsOf: UnsafeBufferPointer(rebasing: x[0..<(take * width)])) }
        rows[name] = buf
        widths[name] = width
    }

    /// Recorded inputs of a layer as a matrix (tokens × inputCount), or nil if never called.
    public func inputs(of name: String) -> Matrix? {
        lock.lock(); defer { lock.unlock() }
        guard let b = rows[name], let w = widths[name] else { return nil }
        return Matrix(rows: b.count / w, cols: w, values: b)
    }

    public var layerNames: [String] { lock.lock(); defer { lock.unlock() }; return rows.keys.sorted() }
}

/// Wraps a layer and hands each input batch to a recorder before computing the output.
public struct RecordingLinear: LinearLayer {
    public let name: String
    public let inner: LinearLayer
    public let recorder: LinearInputRecorder

    public init(name: String, inner: LinearLayer, recorder: LinearInputRecorder) {
        self.name = name; self.inner = inner; self.recorder = recorder
    }

    public var inputCount: Int { inner.inputCount }
    public var outputCount: Int { inner.outputCount }
    public var weightBytes: Int { inner.weightBytes }
    public var kind: String { inner.kind }
    public var kernelSelections: [String: KernelSelection] { inner.kernelSelections }
    public func threaded(_ threads: Int) -> LinearLayer {
        RecordingLinear(name: name, inner: inner.threaded(threads), recorder: recorder)
    }
    public func replica() -> LinearLayer { RecordingLinear(name: name, inner: inner.replica(), recorder: recorder) }

    public func forward(_ x: UnsafeBufferPointer<Float>, tokens: Int, into y: UnsafeMutableBufferPointer<Float>) {
        recorder.record(name, x, tokens: tokens, width: inputCount)
        inner.forward(x, tokens: tokens, into: y)
    }
}

/// Linear layers that read one input — a block's q, k and v, or its gate and up — run as a
/// group.
///
/// Why: in a decode step each of these layers is a few microseconds of work, about what it
/// costs to hand part of a call to a second core and join it, so on two threads every separate
/// call loses most of what the second core brings. Packed ternary layers at one token run their
/// kernels in one worker-pool call (`TernaryLinearKernel.forward(_:sharing:…)`), bit-identical
/// to separate calls. Anything else — prefill, float or recording layers, a mix — runs one
/// layer after another, exactly as separate `forward` calls.
public enum SharedInputLinears {
    /// layers[i] applied to x (tokens × the common inputCount) into outputs[i].
    public static func forward(_ layers: [LinearLayer], _ x: UnsafeBufferPointer<Float>, tokens: Int,
                               into outputs: [UnsafeMutableBufferPointer<Float>]) {
        precondition(layers.count == outputs.count, "SharedInputLinears: \(layers.count) layers, \(outputs.count) outputs")
        if layers.count > 1, let timed = TimedLinear.group(layers) {
            timed.times.measure(group: timed.indices) { forward(timed.inner, x, tokens: tokens, into: outputs) }
            return
        }
        if tokens == 1, layers.count > 1, let packed = PackedTernaryLinear.group(layers) {
            PackedTernaryLinear.forwardDecode(packed, x, into: outputs)
            return
        }
        for (layer, y) in zip(layers, outputs) { layer.forward(x, tokens: tokens, into: y) }
    }
}
