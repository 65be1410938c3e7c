import Testing
import TritCore
@testable import TritKernels

/// Every variant × format against the scalar reference, bit for bit (all variants here run
/// the exact integer path: the LUT tables are exact int16 split into bytes).
@Suite struct KernelCorrectnessTests {
    /// The ISA levels the dispatcher can choose on this CPU (portable, AVX2, and the AVX-512
    /// steps where present): every test below runs at each, so an AVX-512 host still checks the
    /// loops a Zen 3 or a Skylake would run.
    static let levels = CPUFeatures.current.dispatchLevels
    static func features(_ level: String) -> CPUFeatures { levels.first { $0.name == level }!.features }
    static let levelsAndPlanes = levels.flatMap { l in [1, 2].map { (l.name, $0) } }

    /// (variant, format) pairs the registry offers for weights with `planes` planes.
    static func pairs(planes: Int) -> [(String, PackedFormatKind)] {
        KernelRegistry.all.flatMap { v in
            v.formats.filter { ($0.requiredPlanes ?? planes) == planes }.map { (v.id, $0) }
        }
    }

    static func configurations(_ variant: String, tokens: Int, features: CPUFeatures = .current) -> [KernelConfiguration] {
        let space = (try? KernelRegistry.variant(variant, features: features))!.space
        // Without AVX2 every variant runs the portable loop, which reads no parameter but threads.
        guard features.supportsAVX2Kernels else { return [space.defaultConfiguration] }
        let all = space.allConfigurations.filter { ($0[KernelParameterName.threads] ?? 1) == 1 }
        // A spread of configurations: defaults, every row/token block, shallow int16 depth, prefetch.
        var picked: [KernelConfiguration] = [space.defaultConfiguration]
        for c in all {
            let interesting = (c[KernelParameterName.int16Depth] ?? 1) <= 2 || (c[KernelParameterName.prefetch] ?? 0) == 256
                || (c[KernelParameterName.tokenBlock] ?? 1) == min(tokens, 4)
            if interesting, picked.count < 6, !picked.contains(c) { picked.append(c) }
        }
        return picked + gemvWidths(space, tokens: tokens)
    }

    /// For one token: the default with each other GEMV width this CPU offers (the AVX2 loop
    /// where the default is the AVX-512 one), so both GEMV loops meet every input; and every
    /// width with the longest prefetch distance, whose prefetches run past the last tile.
    static func gemvWidths(_ space: ParameterSpace, tokens: Int) -> [KernelConfiguration] {
        guard tokens == 1, let p = space.parameters.first(where: { $0.name == KernelParameterName.gemvWidth }) else { return [] }
        let farthest = space.parameters.first { $0.name == KernelParameterName.prefetch }?.allowed.max()
        return p.allowed.flatMap { v -> [KernelConfiguration] in
            var c = space.defaultConfiguration
            c[p.name] = v
            var far = c
            if let farthest { far[KernelParameterName.prefetch] = farthest }
            return (v == p.defaultValue ? [] : [c]) + (farthest == nil ? [] : [far])
        }
    }

    func run(_ k: TernaryLinearKernel, _ x: [Float], tokens: Int, threads: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: tokens * k.rows)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in k.forward(xb, tokens: tokens, into: yb, threads: threads) }
        }
        return y
    }

    static let shapes: [(rows: Int, cols: Int, group: Int)] = [
        (8, 128, 128), (13, 300, 128), (37, 700, 256), (21, 1000, 1000), (40, 96, 96), (9, 520, 128),
    ]

    @Test(arguments: levelsAndPlanes)
    func everyVariantEqualsScalarReference(level: String, planes: Int) throws {
        let features = Self.features(level)
        var g = SeededGenerator(seed: UInt64(100 + planes))
        for (si, s) in Self.shapes.enumerated() {
            var w = TernaryWeights.random(rows: s.rows, cols: s.cols, groupSize: s.group, planes: planes,
                                          offsets: si % 2 == 0, permutation: si % 3 != 2, bias: si != 1, using: &g)
            // All-zero rows (first and last): y must be exactly the bias (μ absent) or μ's share.
            for p in 0..<planes { for j in 0..<s.cols { w.planes[p][j] = 0; w.planes[p][(s.rows - 1) * s.cols + j] = 0 } }
            for tokens in [1, 3, 6] {
                let x = (0..<(tokens * s.cols)).map { _ in g.nextGaussian() }
                let ref = try TernaryLinearKernel(weights: w, format: planes == 1 ? .twoBit : .twoPlane2Bit,
                                                  variant: KernelRegistry.scalar, configuration: .init())
                let expected = run(ref, x, tokens: tokens, threads: 1)
                // The reference itself against the float layer: activation rounding moves each
                // x_j by at most d/2, so |y − ŷ| ≤ d/2 · Σ_j |Ŵ_ij| (+ float rounding).
                let exact = w.referenceForward(x, tokens: tokens)
                let dense = w.dequantized()
                for t in 0..<tokens {
                    let d = (0..<s.cols).map { abs(x[t * s.cols + $0]) }.max()! / 127
                    for r in 0..<s.rows {
                        let bound = d / 2 * (0..<s.cols).reduce(Float(0)) { $0 + abs(dense[r, $1]) } + 1e-4
                        #expect(abs(expected[t * s.rows + r] - exact[t * s.rows + r]) <= bound)
                    }
                    if w.offsets == nil {
                        #expect(expected[t * s.rows] == (w.bias?[0] ?? 0))
                    }
                }
                for (variant, format) in Self.pairs(planes: planes) {
                    for c in Self.configurations(variant, tokens: tokens, features: features) {
                        let k = try TernaryLinearKernel(weights: w, format: format, variant: variant, configuration: c, features: features)
                        for threads in [1, 2] {
                            let y = run(k, x, tokens: tokens, threads: threads)
                            let bad = zip(y, expected).filter { $0 != $1 }.count
                            #expect(bad == 0, "\(level): \(variant)/\(format.rawValue) {\(c)} shape \(s) tokens \(tokens) threads \(threads): \(bad) outputs differ")
                        }
                    }
                }
            }
        }
    }

    /// Each level runs its own loops, not the CPU's best: capped features reach the engine's
    /// choice (and the registry offers only the values the level can run), so the tests above
    /// do not pass by running the same loop at every level.
    @Test(arguments: levels.map(\.name))
    func eachLevelChoosesItsOwnLoops(level: String) throws {
        let f = Self.features(level)
        var g = SeededGenerator(seed: 5)
        let w = TernaryWeights.random(rows: 64, cols: 256, groupSize: 128, planes: 1, using: &g)
        let simd = try KernelRegistry.variant(KernelRegistry.simd, features: f)
        for tokens in [1, 8] {
            let k = try TernaryLinearKernel(weights: w, format: .twoBit, variant: KernelRegistry.simd,
                                            configuration: simd.defaultConfiguration(tokens: tokens), features: f)
            let expected = !f.supportsAVX2Kernels ? "portable-simd"
                : f.supportsVNNIKernels ? (tokens == 1 ? (f.supportsGFNIDecode ? "avx512-gemv-gfni" : "avx512-gemv") : "avx512-vnni-tile")
                : "avx2-madd"
            #expect(k.engine.loop.name(tokens: tokens) == expected, "\(level), \(tokens) tokens")
            #expect(k.engine.acts.avx2 == f.supportsAVX2Kernels, "\(level)")
        }
        let lookup = try TernaryLinearKernel(weights: w, format: .base3LUT, variant: KernelRegistry.lut243,
                                             configuration: .init(), features: f)
        #expect(lookup.engine.loop.name(tokens: 1) == (f.supportsVBMILookup ? "avx512-vbmi-lookup" : "portable-simd"), "\(level)")
        let table = try TernaryLinearKernel(weights: w, format: .lut, variant: KernelRegistry.lut, configuration: .init(), features: f)
        #expect(table.engine.loop.name(tokens: 1) == (f.supportsAVX2Kernels ? "avx2-lut" : "portable-simd"), "\(level)")
        let offered = Set(simd.space.parameters.first { $0.name == KernelParameterName.tileDecode }!.allowed)
        #expect(offered.contains(2) == f.supportsVNNIKernels, "\(level): tileDecode 2 offered without VNNI")
        if !f.supportsVNNIKernels {
            #expect(throws: KernelConfigurationError.self) {
                try TernaryLinearKernel(weights: w, format: .twoBit, variant: KernelRegistry.simd,
                                        configuration: KernelConfiguration([KernelParameterName.gemvWidth: 512]), features: f)
            }
        }
    }

    /// K = 8192, constant extreme activations, all +1 / all −1 weights: int16 accumulation and
    /// vpmaddubsw saturation would show here. Expected values are exact in Float.
    @Test(arguments: levels.map(\.name))
    func adversarialOverflow(level: String) throws {
        let features = Self.features(level)
        let rows = 16, cols = 8192
        for group in [128, 8192] {
            for weight in [Int8(1), -1] {
                for act in [Int8(127), -128] {
                    for planes in [1, 2] {
                        let w = try TernaryWeights(rows: rows, cols: cols, groupSize: group,
                                                   planes: Array(repeating: [Int8](repeating: weight, count: rows * cols), count: planes),
                                                   scales: Array(repeating: [Float](repeating: 1, count: rows * (cols / group)), count: planes))
                        let expected = Float(planes * cols * Int(weight) * Int(act))
                        for (variant, format) in Self.pairs(planes: planes) {
                            // 1 token: the GEMV loops; 2: register blocks; 17: the GEMM tiles (16-token VNNI block + a tail).
                            for tokens in [1, 2, 17] {
                                for c in Self.configurations(variant, tokens: tokens, features: features) {
                                    let k = try TernaryLinearKernel(weights: w, format: format, variant: variant, configuration: c,
                                                                    features: features)
                                    for threads in [1, 2] {
                                        let y = k.forward(quantized: [Int8](repeating: act, count: tokens * cols),
                                                          scales: [Float](repeating: 1, count: tokens), tokens: tokens, threads: threads)
                                        #expect(y.allSatisfy { $0 == expected },
                                                "\(level): \(variant)/\(format.rawValue) {\(c)} \(tokens) tokens group \(group) w \(weight) q \(act): got \(y[0]), expected \(expected)")
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The AVX-512 GEMV loop's two 2-bit decoders, GF2P8AFFINEQB (where the CPU has GFNI, the
    /// default there) and shift + AND (forced by hiding GFNI), against the scalar reference on
    /// the same inputs: random shapes with K tails and all-zero rows (every code value in every
    /// bit position of a byte), with and without far prefetches, and K = 8192 at ±1 weights and
    /// activations 127 / −128.
    @Test(.enabled(if: CPUFeatures.current.supportsGFNIDecode,
                   "needs AVX512-VNNI and GFNI; elsewhere shift + AND is the only 2-bit decoder and the tests above cover it"),
          arguments: [1, 2])
    func twoBitGEMVDecodersEqualReference(planes: Int) throws {
        var withoutGFNI = CPUFeatures.current
        withoutGFNI.gfni = false
        let format: PackedFormatKind = planes == 1 ? .twoBit : .twoPlane2Bit
        let simd = try KernelRegistry.variant(KernelRegistry.simd)
        var far = simd.defaultConfiguration(tokens: 1)
        far[KernelParameterName.prefetch] = 2048
        func kernels(_ w: TernaryWeights) throws -> [(String, TernaryLinearKernel)] {
            try [(CPUFeatures.current, "gf2p8affine"), (withoutGFNI, "shift+and")].flatMap { features, name in
                try [simd.defaultConfiguration(tokens: 1), far].map { c in
                    let k = try TernaryLinearKernel(weights: w, format: format, variant: KernelRegistry.simd,
                                                    configuration: c, features: features)
                    #expect(k.engine.loop.name(tokens: 1) == (features.gfni ? "avx512-gemv-gfni" : "avx512-gemv"), "\(name): not the loop under test")
                    return ("\(name) {\(c)}", k)
                }
            }
        }
        var g = SeededGenerator(seed: UInt64(300 + planes))
        for (si, s) in Self.shapes.enumerated() {
            var w = TernaryWeights.random(rows: s.rows, cols: s.cols, groupSize: s.group, planes: planes,
                                          offsets: si % 2 == 0, permutation: si % 3 != 2, bias: si != 1, using: &g)
            for p in 0..<planes { for j in 0..<s.cols { w.planes[p][(s.rows - 1) * s.cols + j] = 0 } }
            let x = (0..<s.cols).map { _ in g.nextGaussian() }
            let expected = run(try TernaryLinearKernel(weights: w, format: format, variant: KernelRegistry.scalar, configuration: .init()),
                               x, tokens: 1, threads: 1)
            for (name, k) in try kernels(w) {
                for threads in [1, 2] {
                    let bad = zip(run(k, x, tokens: 1, threads: threads), expected).filter { $0 != $1 }.count
                    #expect(bad == 0, "\(name) shape \(s) threads \(threads): \(bad) outputs differ")
                }
            }
        }
        let rows = 16, cols = 8192
        for weight in [Int8(1), -1] {
            let w = try TernaryWeights(rows: rows, cols: cols, groupSize: 128,
                                       planes: Array(repeating: [Int8](repeating: weight, count: rows * cols), count: planes),
                                       scales: Array(repeating: [Float](repeating: 1, count: rows * (cols / 128)), count: planes))
            for act in [Int8(127), -128] {
                let expected = Float(planes * cols * Int(weight) * Int(act))
                for (name, k) in try kernels(w) {
                    let y = k.forward(quantized: [Int8](repeating: act, count: cols), scales: [1], tokens: 1, threads: 1)
                    #expect(y.allSatisfy { $0 == expected }, "\(name) w \(weight) q \(act): got \(y[0]), expected \(expected)")
                }
            }
        }
    }

    /// Every one of the 59,049 ten-trit lane values of the base-3 format, through each variant
    /// that reads base-3 (the SIMD decoders take two trits per multiply pair and split them with
    /// table lookups; a wrong table entry or multiplier shows here), GEMV (both widths the CPU
    /// offers) and tile-decoded GEMM.
    @Test(arguments: [1, 2])
    func base3EveryLaneValueMatchesReference(planes: Int) throws {
        let rows = 24, blocks = 154, cols = 160 * blocks   // 24 · 154 · 16 = 59,136 lanes
        var plane = [Int8](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for b in 0..<blocks {
                for j in 0..<160 {
                    let (l, k) = Base3TernaryMatrix.slot(column: j)
                    let value = ((r * blocks + b) * 16 + l) % 59049
                    var digit = value
                    for _ in 0..<(9 - k) { digit /= 3 }
                    plane[r * cols + b * 160 + j] = Int8(digit % 3) - 1
                }
            }
        }
        // Plane 1 (two planes): the same lanes in reverse row order, so its values differ per row.
        let second = (0..<(rows * cols)).map { plane[(rows - 1 - $0 / cols) * cols + $0 % cols] }
        var g = SeededGenerator(seed: 59049)
        let scales = (0..<planes).map { _ in (0..<(rows * ((cols + 127) / 128))).map { _ in Float(g.nextGaussian()) } }
        let w = try TernaryWeights(rows: rows, cols: cols, groupSize: 128, planes: Array([plane, second].prefix(planes)), scales: scales)
        let format: PackedFormatKind = planes == 1 ? .base3 : .twoPlane
        for tokens in [1, 6] {
            let x = (0..<(tokens * cols)).map { _ in g.nextGaussian() }
            let ref = try TernaryLinearKernel(weights: w, format: format, variant: KernelRegistry.scalar, configuration: .init())
            let expected = run(ref, x, tokens: tokens, threads: 1)
            for (variant, f) in Self.pairs(planes: planes) where f == format && variant != KernelRegistry.scalar {
                let v = try KernelRegistry.variant(variant)
                // GEMM: every tile decode this CPU offers (per-row tile, and the row-interleaved
                // VNNI tile where AVX512-VNNI is present), not only the default.
                let tileValues = tokens > 1 ? v.space.parameters.first { $0.name == KernelParameterName.tileDecode }?.allowed ?? [] : []
                let configs = [v.defaultConfiguration(tokens: tokens)] + tileValues.map { t -> KernelConfiguration in
                    var c = v.defaultConfiguration(tokens: tokens); c[KernelParameterName.tileDecode] = t; return c
                } + Self.gemvWidths(v.space, tokens: tokens)
                for c in configs {
                    let k = try TernaryLinearKernel(weights: w, format: format, variant: variant, configuration: c)
                    let y = run(k, x, tokens: tokens, threads: 1)
                    let bad = zip(y, expected).filter { $0 != $1 }.count
                    #expect(bad == 0, "\(variant)/\(format.rawValue) {\(c)} tokens \(tokens): \(bad) of \(y.count) outputs differ")
                }
            }
        }
    }

    @Test func defaultChoiceRunsAndMatchesReference() throws {
        var g = SeededGenerator(seed: 5)
        for planes in [1, 2] {
            let w = TernaryWeights.random(rows: 70, cols: 576, groupSize: 128, planes: planes, offsets: true, permutation: true, bias: true, using: &g)
            for tokens in [1, 5] {
                let choice = TernaryLinearKernel.defaultChoice(for: w, tokens: tokens)
                let k = try TernaryLinearKernel(weights: w, format: choice.format, variant: choice.variant, configuration: choice.configuration)
                let ref = try TernaryLinearKernel(weights: w, format: choice.format, variant: KernelRegistry.scalar, configuration: .init())
                let x = (0..<(tokens * 576)).map { _ in g.nextGaussian() }
                #expect(run(k, x, tokens: tokens, threads: 2) == run(ref, x, tokens: tokens, threads: 1))
                #expect(k.bitsPerWeight > Double(2 * planes) && k.weightBytes > 70 * 576 * planes / 4)
            }
        }
        // Groups the SIMD loops cannot walk fall back to a variant that can.
        let odd = TernaryWeights.random(rows: 4, cols: 100, groupSize: 10, planes: 1, using: &g)
        #expect(TernaryLinearKernel.defaultChoice(for: odd, tokens: 1).variant == KernelRegistry.scalar)
    }

    @Test func benchCaseRotatesColdCopies() throws {
        let bench = try KernelBenchCase(rows: 64, cols: 256, tokens: 1, variant: KernelRegistry.simd, format: .twoBit,
                                        coldBytes: 64 * 256 / 4 * 5)
        #expect(bench.copies >= 5)
        bench.runOnce(); let first = bench.output
        bench.runOnce()
        #expect(bench.output == first && first.contains { $0 != 0 })
    }
}
