import Testing
import TritCore
@testable import TritKernels

/// `TernaryLinearKernel.forward(_:sharing:…)`: several layers on one input in one pool call
/// give each layer exactly the y of its own call, at every ISA level the dispatcher can choose,
/// for one-pass loops (one pool call) and multi-pass ones (lut243 at several tokens: one call
/// per layer).
@Suite struct SharedInputGroupTests {
    func own(_ k: TernaryLinearKernel, _ x: [Float], tokens: Int, threads: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: tokens * k.rows)
        x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { k.forward(xb, tokens: tokens, into: $0, threads: threads) } }
        return y
    }

    func grouped(_ ks: [TernaryLinearKernel], _ x: [Float], tokens: Int, threads: [Int]) -> [[Float]] {
        var ys = ks.map { [Float](repeating: .nan, count: tokens * $0.rows) }
        let pointers = ys.indices.map { i in UnsafeMutableBufferPointer<Float>.allocate(capacity: ys[i].count) }
        defer { pointers.forEach { $0.deallocate() } }
        for p in pointers { p.initialize(repeating: .nan) }
        x.withUnsafeBufferPointer { TernaryLinearKernel.forward(ks, sharing: $0, tokens: tokens, into: pointers, threads: threads) }
        for i in ys.indices { ys[i] = Array(pointers[i]) }
        return ys
    }

    @Test(arguments: KernelCorrectnessTests.levels.map(\.name))
    func groupEqualsSeparateCalls(level: String) throws {
        let f = KernelCorrectnessTests.features(level)
        var g = SeededGenerator(seed: 26)
        let cols = 640
        // Rows not a multiple of 8 or of one another, so chunks of different engines differ in size.
        // The 13-row layer permutes its columns (PT²-LLM's SSR), so its activations quantize
        // differently and must not take the others' copy; the rest share one quantization.
        let weights = [40, 13, 9, 24].map {
            TernaryWeights.random(rows: $0, cols: cols, groupSize: 128, planes: 1, offsets: $0 == 13, permutation: $0 == 13,
                                  bias: true, using: &g)
        }
        let layouts: [[(String, PackedFormatKind)]] = [
            [(KernelRegistry.simd, .twoBit), (KernelRegistry.simd, .twoBit), (KernelRegistry.simd, .base3), (KernelRegistry.simd, .twoBit)],
            [(KernelRegistry.simd, .twoBit), (KernelRegistry.lut243, .base3LUT), (KernelRegistry.lut, .lut), (KernelRegistry.scalar, .twoBit)],
        ]
        for layout in layouts {
            let kernels = try zip(weights, layout).map { w, v in
                try TernaryLinearKernel(weights: w, format: v.1, variant: v.0, configuration: .init(), features: f)
            }
            let reference = try weights.map {
                try TernaryLinearKernel(weights: $0, format: .twoBit, variant: KernelRegistry.scalar, configuration: .init())
            }
            for tokens in [1, 3] {
                let x = (0..<(tokens * cols)).map { _ in g.nextGaussian() }
                for threads in [[1, 1, 1, 1], [2, 2, 2, 2], [2, 1, 2, 1]] {
                    let ys = grouped(kernels, x, tokens: tokens, threads: threads)
                    for i in kernels.indices {
                        let label = "\(level): \(layout[i].0)/\(layout[i].1.rawValue) layer \(i), \(tokens) token(s), threads \(threads)"
                        #expect(ys[i] == own(kernels[i], x, tokens: tokens, threads: threads[i]), "\(label): differs from its own call")
                        #expect(ys[i] == own(reference[i], x, tokens: tokens, threads: 1), "\(label): differs from the scalar reference")
                    }
                }
            }
        }
    }

    /// Copies of one kernel value are one instance (they share a lock); kernels built separately,
    /// even over one packed copy, are not.
    @Test func sameInstanceIsTheEngine() throws {
        var g = SeededGenerator(seed: 3)
        let w = TernaryWeights.random(rows: 16, cols: 256, groupSize: 128, planes: 1, using: &g)
        let a = try TernaryLinearKernel(weights: w, format: .twoBit, variant: KernelRegistry.simd, configuration: .init())
        let copy = a
        let sharing = try TernaryLinearKernel(sharingWeightsOf: a, variant: KernelRegistry.simd, configuration: .init())
        #expect(copy.isSameInstance(as: a))
        #expect(!sharing.isSameInstance(as: a))
        #expect(sharing.sharesWeights(with: a))
    }
}
