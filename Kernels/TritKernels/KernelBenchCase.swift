import TritCore

/// One kernel benchmark case, ready to time from outside (TritMeasure measures closures):
/// a random ternary layer of a given shape packed for (variant, format, configuration), random
/// activations, and `runOnce()` doing one GEMV (tokens = 1) or GEMM.
///
/// Cold mode keeps `copies` distinct packed copies whose total exceeds `coldBytes` (choose it
/// above the last-level cache) and `runOnce()` rotates through them, so the weights stream
/// from DRAM as they do in a model's forward pass.
public final class KernelBenchCase {
    public let rows: Int
    public let cols: Int
    public let tokens: Int
    public let threads: Int
    public let format: PackedFormatKind
    public let variant: String
    public let configuration: KernelConfiguration
    private let kernels: [TernaryLinearKernel]
    private let x: [Float]
    private var y: [Float]
    private var next = 0

    /// - Parameters:
    ///   - planes: 1, or 2 for PTQTP-style weights (formats holding two planes need 2).
    ///   - coldBytes: when set, pack copies until their total weight bytes exceed this.
    public init(rows: Int, cols: Int, tokens: Int, variant: String, format: PackedFormatKind,
                configuration: KernelConfiguration = KernelConfiguration(), threads: Int? = nil,
                planes: Int? = nil, groupSize: Int = 128, coldBytes: Int? = nil, seed: UInt64 = 1) throws {
        guard rows > 0, cols > 0, tokens > 0, groupSize > 0 else {
            throw KernelError.shape("benchmark shape \(rows)×\(cols) with \(tokens) token(s), group size \(groupSize): all must be positive")
        }
        let v = try KernelRegistry.variant(variant)
        guard v.supports(format) else { throw KernelError.formatNotSupported(variant: variant, format: format, supported: v.formats) }
        let config = try v.space.resolve(configuration)
        self.rows = rows; self.cols = cols; self.tokens = tokens
        self.format = format; self.variant = variant; self.configuration = config
        self.threads = threads ?? config[KernelParameterName.threads] ?? 1
        var g = SeededGenerator(seed: seed)
        let weights = TernaryWeights.random(rows: rows, cols: cols, groupSize: min(groupSize, cols),
                                            planes: planes ?? format.requiredPlanes ?? 1, using: &g)
        let first = try TernaryLinearKernel(weights: weights, format: format, variant: variant, configuration: config)
        var ks = [first]
        if let cold = coldBytes {
            var total = first.weightBytes
            while total <= cold {
                ks.append(TernaryLinearKernel(layer: first.packed.duplicated(), variant: v, configuration: config))
                total += first.weightBytes
            }
        }
        // Every copy's activation buffers exist before timing starts; a copy's first call would
        // otherwise pay their allocation and page faults (measured: a 64-token 2048×2048 GEMM,
        // 2 threads, cold, took 2614 µs with them against 922 µs hot).
        if coldBytes != nil { for k in ks { k.reserve(tokens: tokens) } }
        kernels = ks
        x = (0..<(tokens * cols)).map { _ in g.nextGaussian() }
        y = [Float](repeating: 0, count: tokens * rows)
    }

    public var copies: Int { kernels.count }
    /// Packed bytes one call reads (one copy).
    public var weightBytes: Int { kernels[0].weightBytes }
    public var bitsPerWeight: Double { kernels[0].bitsPerWeight }

    /// One GEMV/GEMM on the next copy.
    public func runOnce() {
        let k = kernels[next]
        next = next + 1 == kernels.count ? 0 : next + 1
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in k.forward(xb, tokens: tokens, into: yb, threads: threads) }
        }
    }

    /// The last output (to keep results observable).
    public var output: [Float] { y }
}

extension TernaryWeights {
    /// Random trits (about 1/3 each value) with positive fp16-exact scales: benchmark and test data.
    public static func random(rows: Int, cols: Int, groupSize: Int, planes: Int, offsets: Bool = false,
                              permutation: Bool = false, bias: Bool = false,
                              using g: inout SeededGenerator) -> TernaryWeights {
        let ng = (cols + groupSize - 1) / groupSize
        let trits = (0..<planes).map { _ in (0..<(rows * cols)).map { _ in Int8(Int(g.next() % 3) - 1) } }
        let scales = (0..<planes).map { _ in (0..<(rows * ng)).map { _ in Float.random(in: 0.01...0.1, using: &g) } }
        var perm: [Int32]? = nil
        if permutation { perm = (0..<Int32(cols)).shuffled(using: &g) }
        let w = try? TernaryWeights(
            rows: rows, cols: cols, groupSize: groupSize, planes: trits, scales: scales,
            offsets: offsets ? (0..<(rows * ng)).map { _ in Float.random(in: -0.01...0.01, using: &g) } : nil,
            permutation: perm,
            bias: bias ? (0..<rows).map { _ in Float.random(in: -1...1, using: &g) } : nil)
        return w!.roundedToHalfPrecision()
    }
}
