import TritCore

/// One line of `kernels verify`: a (variant, format, configuration) on a shape against the
/// scalar reference.
public struct KernelVerificationRow: Codable, Sendable {
    public let variant: String
    public let format: String
    public let configuration: String
    public let shape: String
    public let tokens: Int
    public let threads: Int
    public let outputs: Int
    /// Outputs not bit-identical to the reference.
    public let mismatches: Int
    public let maxAbsDifference: Float
    public var passed: Bool { mismatches == 0 }
}

/// Checks every variant × format × configuration spread × shape against the scalar
/// reference. The integer path is exact everywhere (the LUT tables are exact), so the bar is
/// bit-identical output.
public enum KernelVerification {
    public struct Shape: Sendable {
        public let rows: Int, cols: Int, groupSize: Int
        public init(rows: Int, cols: Int, groupSize: Int) { self.rows = rows; self.cols = cols; self.groupSize = groupSize }
        public var text: String { "\(rows)x\(cols)/g\(groupSize)" }
    }

    /// Tails on purpose: K not a multiple of 128/160/640, rows not a multiple of 4/8/32.
    public static let defaultShapes: [Shape] = [
        Shape(rows: 576, cols: 576, groupSize: 128), Shape(rows: 13, cols: 300, groupSize: 128),
        Shape(rows: 37, cols: 700, groupSize: 256), Shape(rows: 70, cols: 1000, groupSize: 1000),
        Shape(rows: 192, cols: 576, groupSize: 576), Shape(rows: 9, cols: 8192, groupSize: 128),
    ]

    /// `features`: the ISA the variants' loops are chosen for (fewer than the CPU has runs the
    /// loops an older CPU would; never more).
    public static func run(shapes: [Shape] = defaultShapes, tokens: [Int] = [1, 5], threads: [Int] = [1, 2],
                           seed: UInt64 = 42, features: CPUFeatures = .current, showProgress: Bool = true) throws -> [KernelVerificationRow] {
        var g = SeededGenerator(seed: seed)
        var rows: [KernelVerificationRow] = []
        let jobs = shapes.count * 2 * tokens.count
        var progress = ProgressReporter("kernels verify", total: jobs, enabled: showProgress)
        for shape in shapes {
            for planes in [1, 2] {
                let w = TernaryWeights.random(rows: shape.rows, cols: shape.cols, groupSize: shape.groupSize, planes: planes,
                                              offsets: true, permutation: true, bias: true, using: &g)
                let reference = try TernaryLinearKernel(weights: w, format: planes == 1 ? .twoBit : .twoPlane2Bit,
                                                        variant: KernelRegistry.scalar, configuration: KernelConfiguration())
                for t in tokens {
                    let x = (0..<(t * shape.cols)).map { _ in g.nextGaussian() }
                    let expected = forward(reference, x, tokens: t, threads: 1)
                    for v in KernelRegistry.variants(for: features) where v.id != KernelRegistry.scalar && v.supportsGroups(of: w) {
                        for f in v.formats where (f.requiredPlanes ?? planes) == planes {
                            for c in v.space.oneAtATime {
                                let k = try TernaryLinearKernel(weights: w, format: f, variant: v.id, configuration: c,
                                                                features: features)
                                for th in threads {
                                    let y = forward(k, x, tokens: t, threads: th)
                                    var bad = 0; var worst: Float = 0
                                    for (a, b) in zip(y, expected) where a != b {
                                        bad += 1
                                        worst = max(worst, a.isNaN || b.isNaN ? .infinity : abs(a - b))
                                    }
                                    rows.append(KernelVerificationRow(
                                        variant: v.id, format: f.rawValue, configuration: k.configuration.description,
                                        shape: shape.text + (planes == 2 ? " 2pl" : ""), tokens: t, threads: th,
                                        outputs: y.count, mismatches: bad, maxAbsDifference: worst))
                                }
                            }
                        }
                    }
                    progress.advance(detail: shape.text)
                }
            }
        }
        return rows
    }

    static func forward(_ k: TernaryLinearKernel, _ x: [Float], tokens: Int, threads: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: tokens * k.rows)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in k.forward(xb, tokens: tokens, into: yb, threads: threads) }
        }
        return y
    }
}

extension KernelVerification {
    /// nil when every output equals the scalar reference bit for bit; otherwise what differed.
    public static func check(variant: String, format: PackedFormatKind, configuration: KernelConfiguration,
                             rows: Int, cols: Int, tokens: Int, threads: Int, seed: UInt64 = 7) -> String? {
        do {
            var g = SeededGenerator(seed: seed)
            let group = min(128, cols)
            let w = TernaryWeights.random(rows: rows, cols: cols, groupSize: group, planes: format.requiredPlanes ?? 1,
                                          offsets: true, permutation: true, bias: true, using: &g)
            let v = try KernelRegistry.variant(variant)
            guard v.supportsGroups(of: w) else { return nil }
            let kernel = try TernaryLinearKernel(weights: w, format: format, variant: variant, configuration: configuration)
            let reference = try TernaryLinearKernel(weights: w, format: format, variant: KernelRegistry.scalar,
                                                    configuration: KernelConfiguration())
            let x = (0..<(tokens * cols)).map { _ in g.nextGaussian() * 3 }
            var y = [Float](repeating: .nan, count: tokens * rows), r = y
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { kernel.forward(xb, tokens: tokens, into: $0, threads: threads) }
                r.withUnsafeMutableBufferPointer { reference.forward(xb, tokens: tokens, into: $0, threads: 1) }
            }
            let bad = (0..<y.count).filter { y[$0] != r[$0] }
            guard let first = bad.first else { return nil }
            return "\(bad.count)/\(y.count) outputs differ from the scalar reference; first at token \(first / rows), row \(first % rows): \(y[first]) vs \(r[first])"
        } catch {
            return "\(error)"
        }
    }
}
