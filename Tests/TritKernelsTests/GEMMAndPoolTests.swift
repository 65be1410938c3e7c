import Foundation
import Synchronization
import Testing
import TritCore
@testable import TritKernels

/// The GEMM paths (decoded tile + vphaddw reduction, 8-pair int16 blocks) against the scalar
/// reference, and the worker pool's hand-out of chunks.
@Suite struct GEMMAndPoolTests {
    func forward(_ k: TernaryLinearKernel, _ x: [Float], tokens: Int, threads: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: tokens * k.rows)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in k.forward(xb, tokens: tokens, into: yb, threads: threads) }
        }
        return y
    }

    /// `reserve(tokens:)` (what benchmarks' cold copies call before timing) sizes every buffer
    /// a call grows: a kernel that reserved for 64 tokens then runs 29 and 64 equals a fresh
    /// kernel, for the VNNI tile (its interleaved activations) and the LUT variant (its tables).
    @Test func reservedBuffersServeLaterCalls() throws {
        var g = SeededGenerator(seed: 64)
        let w = TernaryWeights.random(rows: 21, cols: 600, groupSize: 128, planes: 1, using: &g)
        let cases: [(String, PackedFormatKind, String)] = [(KernelRegistry.lut, .lut, ""), (KernelRegistry.simd, .twoBit, "tileDecode=1")]
            + (CPUFeatures.current.supportsVNNIKernels ? [(KernelRegistry.simd, .base3, "tileDecode=2")] : [])
        for (variant, format, config) in cases {
            let c = try KernelConfiguration(parsing: config)
            let reserved = try TernaryLinearKernel(weights: w, format: format, variant: variant, configuration: c)
            reserved.reserve(tokens: 64)
            for tokens in [29, 64] {
                let x = (0..<(tokens * 600)).map { _ in g.nextGaussian() }
                let fresh = try TernaryLinearKernel(weights: w, format: format, variant: variant, configuration: c)
                #expect(forward(reserved, x, tokens: tokens, threads: 2) == forward(fresh, x, tokens: tokens, threads: 2),
                        "\(variant)/\(format.rawValue) {\(config)} \(tokens) tokens after reserve(64)")
            }
        }
    }

    /// 9 and 29 tokens (every token-block tail), rows not a multiple of 8, K with a short last
    /// quad, both plane counts, every decode layout, every tile decode the CPU offers; then
    /// installed int8 activations all −128 against an all +1 row: code 2 × −128 × 128 columns =
    /// −32768, the int16 bound of the AVX2 tile-decode sum.
    @Test(arguments: [1, 2])
    func gemmConfigurationsEqualScalarReference(planes: Int) throws {
        var g = SeededGenerator(seed: UInt64(7 + planes))
        let configs = ["tileDecode=1", "tileDecode=0,rowBlock=2,tokenBlock=4", "tileDecode=0,rowBlock=4,tokenBlock=2",
                       "tileDecode=0,rowBlock=2,tokenBlock=4,int16Depth=1"]
            + (CPUFeatures.current.supportsVNNIKernels ? ["tileDecode=2"] : [])
        let formats: [PackedFormatKind] = planes == 1 ? [.twoBit, .base3] : [.twoPlane2Bit, .twoPlane]
        for (rows, cols, group) in [(21, 600, 128), (16, 256, 256)] {
            var w = TernaryWeights.random(rows: rows, cols: cols, groupSize: group, planes: planes,
                                          offsets: true, permutation: true, bias: true, using: &g)
            for j in 0..<cols { w.planes[0][j] = 1 }   // row 0 all +1
            // 9 tokens: AVX2 blocks 4 + 4 + 1, VNNI blocks 8 + 1; 29: VNNI 16 + 8 + 4 + 1.
            for tokens in [9, 29] {
                var x = (0..<(tokens * cols)).map { _ in g.nextGaussian() }
                for j in 0..<cols { x[j] = -1 }            // token 0 all −1 → q = −127
                let ref = try TernaryLinearKernel(weights: w, format: formats[0], variant: KernelRegistry.scalar, configuration: .init())
                let expected = forward(ref, x, tokens: tokens, threads: 1)
                for f in formats {
                    for c in configs {
                        let k = try TernaryLinearKernel(weights: w, format: f, variant: KernelRegistry.simd,
                                                        configuration: KernelConfiguration(parsing: c))
                        for threads in [1, 2] {
                            let y = forward(k, x, tokens: tokens, threads: threads)
                            #expect(y == expected, "\(f.rawValue) {\(c)} \(rows)×\(cols)/g\(group) threads \(threads)")
                        }
                        let q = [Int8](repeating: -128, count: tokens * cols), d = [Float](repeating: 0.01, count: tokens)
                        #expect(k.forward(quantized: q, scales: d, tokens: tokens, threads: 1)
                                == ref.forward(quantized: q, scales: d, tokens: tokens, threads: 1), "\(f.rawValue) {\(c)} all −128")
                    }
                }
            }
        }
    }

    /// The AVX-512 values are offered, and the default, exactly where the CPU has AVX512-VNNI +
    /// BW + VL: tileDecode = 2 (the VNNI GEMM tile) and gemvWidth = 512 (the zmm GEMV loop).
    /// Elsewhere (an injected AVX2-only feature set) a configuration naming them is rejected by name.
    @Test(arguments: [(KernelParameterName.tileDecode, [0, 1], 1, 2), (KernelParameterName.gemvWidth, [256], 256, 512)])
    func avx512ValuesOfferedOnlyWithVNNI(name: String, avx2Allowed: [Int], avx2Default: Int, avx512Value: Int) throws {
        let make: (CPUFeatures) -> KernelParameter = name == KernelParameterName.tileDecode
            ? { KernelParameter.tileDecode(features: $0) } : { KernelParameter.gemvWidth(features: $0) }
        let here = make(.current)
        #expect(here.allowed.contains(avx512Value) == CPUFeatures.current.supportsVNNIKernels)
        #expect(here.defaultValue == (CPUFeatures.current.supportsVNNIKernels ? avx512Value : avx2Default))
        var avx2Only = CPUFeatures()
        avx2Only.avx2 = true; avx2Only.fma = true
        let without = make(avx2Only)
        #expect(without.allowed == avx2Allowed && without.defaultValue == avx2Default)
        var vnni = avx2Only
        vnni.avx512f = true; vnni.avx512bw = true; vnni.avx512vl = true; vnni.avx512vnni = true
        #expect(make(vnni).allowed == avx2Allowed + [avx512Value])
        let space = ParameterSpace(variant: "simd", parameters: [without], constraints: [])
        #expect(throws: KernelConfigurationError.valueNotAllowed(variant: "simd", name: name, value: avx512Value, allowed: avx2Allowed)) {
            try space.resolve(KernelConfiguration(parsing: "\(name)=\(avx512Value)"))
        }
    }

    /// Only the simd variant has the GEMV width (its formats are the ones with a zmm decoder).
    @Test func onlySIMDHasGEMVWidth() {
        for v in KernelRegistry.all {
            #expect(v.space.parameters.contains { $0.name == KernelParameterName.gemvWidth } == (v.id == KernelRegistry.simd), "\(v.id)")
        }
    }

    @Test func eightPairBlocksNeedTwoRows() throws {
        let space = try KernelRegistry.variant(KernelRegistry.simd).space
        #expect(throws: KernelConfigurationError.self) {
            try space.resolve(KernelConfiguration(parsing: "rowBlock=4,tokenBlock=3"))
        }
        #expect((try? space.resolve(KernelConfiguration(parsing: "rowBlock=2,tokenBlock=4"))) != nil)
    }

    @Test func tokenDefaultsResolveForEveryVariant() throws {
        for v in KernelRegistry.all {
            for tokens in [1, 2, 64] {
                let c = v.defaultConfiguration(tokens: tokens)
                #expect((try? v.space.resolve(c)) != nil, "\(v.id) tokens \(tokens): \(c)")
                if tokens > 1, let tb = c[KernelParameterName.tokenBlock] { #expect(tb > 1, "\(v.id)") }
            }
        }
    }

    /// Counts how often each chunk runs; each must run exactly once per call.
    final class CountingTask: KernelPoolTask, @unchecked Sendable {
        let counts: UnsafeMutablePointer<Atomic<Int>>
        let chunks: Int
        let workers = Atomic<Int>(0)
        init(chunks: Int) {
            self.chunks = chunks
            counts = .allocate(capacity: chunks)
            for i in 0..<chunks { (counts + i).initialize(to: Atomic(0)) }
        }
        deinit { counts.deinitialize(count: chunks); counts.deallocate() }
        func runChunk(_ chunk: Int, of n: Int, worker: Int) {
            precondition(n == chunks)
            counts[chunk].add(1, ordering: .relaxed)
            if worker > 0 { workers.add(1, ordering: .relaxed) }
            // A little work so the second thread gets chunks too.
            var s = 0
            for i in 0..<2_000 { s &+= i &* chunk }
            if s == 42 { print(s) }
        }
    }

    @Test func poolRunsEveryChunkExactlyOnce() {
        let calls = 2_000
        for chunks in [1, 2, 7, 16] {
            let task = CountingTask(chunks: chunks)
            for call in 0..<calls {
                KernelWorkerPool.shared.run(task, chunks: chunks, threads: 2)
                // Spot-check after every call: all chunks ran exactly call + 1 times.
                if call % 97 == 0 || call == calls - 1 {
                    for i in 0..<chunks { #expect(task.counts[i].load(ordering: .relaxed) == call + 1, "chunk \(i) of \(chunks), call \(call)") }
                }
            }
        }
    }
}
