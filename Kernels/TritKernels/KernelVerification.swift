import TritCore

/// Checks one (variant, format, configuration) against the scalar reference on random weights
/// with every side term (offsets, permutation, bias) at one shape: the check `kernels verify`
/// runs over a grid, and the tuner runs before timing any candidate.
public enum KernelVerification {
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
