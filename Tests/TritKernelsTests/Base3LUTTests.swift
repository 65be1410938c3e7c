import Testing
import TritCore
@testable import TritKernels
#if arch(x86_64)
@testable import TritKernelsVBMI
#endif

/// The base-3 lookup layout and the `lut243` loop: the byte encoding, the lane order, sizes,
/// and the loop against the scalar reference on shapes with several 64-row tiles (full and
/// short 4-tile groups, a partial last tile), blocks split inside a group, and the int16 bound.
@Suite struct Base3LUTTests {
    @Test func digitsCountEveryByteValueWithoutDivision() {
        #expect(Base3LUTTernaryMatrix.digits.count == 243)
        for v in 0..<243 {
            let d = Base3LUTTernaryMatrix.digits[v]
            let back = Int(d.0) + 3 * Int(d.1) + 9 * Int(d.2) + 27 * Int(d.3) + 81 * Int(d.4)
            #expect(back == v, "byte \(v) decodes to \(d)")
            for k in 0..<5 { #expect(Base3LUTTernaryMatrix.code(UInt8(v), trit: k) == [d.0, d.1, d.2, d.3, d.4][k]) }
        }
    }

    @Test func laneOrderIsAPermutationOfTheTile() {
        let lanes = (0..<64).map { Base3LUTTernaryMatrix.lane(row: $0) }
        #expect(Set(lanes).count == 64 && lanes.allSatisfy { (0..<64).contains($0) })
        // Rows 16j…16j+15 come out of widened vector j in order: lane = 16·(d/4) + 8·h + 2·(d%4) + e.
        #expect(Base3LUTTernaryMatrix.lane(row: 0) == 0)
        #expect(Base3LUTTernaryMatrix.lane(row: 16) == 1)
        #expect(Base3LUTTernaryMatrix.lane(row: 32) == 8)
        #expect(Base3LUTTernaryMatrix.lane(row: 5) == 16 + 2)
    }

    @Test func bitsPerWeightCountTheGroupPadding() throws {
        var g = SeededGenerator(seed: 31)
        let side1 = 16.0 / 128, side2 = 2 * 16.0 / 128
        let one = TernaryWeights.random(rows: 64, cols: 1280, groupSize: 128, planes: 1, using: &g)
        let two = TernaryWeights.random(rows: 64, cols: 1280, groupSize: 128, planes: 2, using: &g)
        let perRow = TernaryWeights.random(rows: 64, cols: 1280, groupSize: 1280, planes: 1, using: &g)
        func bpw(_ w: TernaryWeights) throws -> Double {
            try PackedTernaryLayer(packing: w, as: w.planes.count == 1 ? .base3LUT : .twoPlaneBase3LUT).bitsPerWeight
        }
        #expect(abs(try bpw(one) - (26.0 * 8 / 128 + side1)) < 1e-9)   // 26 bytes per 128 columns
        #expect(abs(try bpw(two) - (2 * 26.0 * 8 / 128 + side2)) < 1e-9)
        #expect(abs(try bpw(perRow) - (1.6 + 16.0 / 1280)) < 1e-9)       // 256 bytes per row
        // Each byte's five trits stay inside one group: a 60-column last group takes 12 bytes.
        // The plane count names the format: two planes are 2plane-base3-lut.
        #expect(throws: PackedFormatError.planeCount(format: .base3LUT, expected: "1", got: 2)) {
            try PackedTernaryLayer(packing: two, as: .base3LUT)
        }
        #expect(try PackedTernaryLayer(packing: two, as: .twoPlaneBase3LUT).kind == .twoPlaneBase3LUT)
        #expect(Base3LUTTernaryMatrix.groupBytes(cols: 700, groupSize: 128) == [26, 26, 26, 26, 26, 12])
        #expect(Base3LUTTernaryMatrix.groupBytes(cols: 1000, groupSize: 1000) == [200])
        // Blocks never cross a group and hold at most 32 positions.
        let m = try Base3LUTTernaryMatrix(packing: TernaryWeights.random(rows: 3, cols: 700, groupSize: 128, planes: 1, using: &g))
        #expect(m.blockStarts == [0, 26, 52, 78, 104, 130, 142] && m.blockGroups == [0, 1, 2, 3, 4, 5])
        let r = try Base3LUTTernaryMatrix(packing: TernaryWeights.random(rows: 3, cols: 1000, groupSize: 1000, planes: 1, using: &g))
        #expect(r.blockStarts == [0, 32, 64, 96, 128, 160, 192, 200] && r.blockGroups == Array(repeating: 0, count: 7))
    }

    func forward(_ k: TernaryLinearKernel, _ x: [Float], tokens: Int, threads: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: tokens * k.rows)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in k.forward(xb, tokens: tokens, into: yb, threads: threads) }
        }
        return y
    }

    /// Several 64-row tiles with a partial last one (331 rows: 5 full + 11), a short last group
    /// (700 = 5·128 + 60) and one group per row (200 byte positions: 7 blocks, the last of 8),
    /// prefetch past the end, 1 and 2 planes, 1 and 3 tokens, 1 and 2
    /// threads; also the portable fallback (no VBMI), which must give the same bits.
    @Test(arguments: [1, 2])
    func lookupLoopEqualsScalarReference(planes: Int) throws {
        var g = SeededGenerator(seed: UInt64(40 + planes))
        let space = try KernelRegistry.variant(KernelRegistry.lut243).space
        for (rows, cols, group) in [(331, 700, 128), (200, 1000, 1000), (64, 128, 128)] {
            let w = TernaryWeights.random(rows: rows, cols: cols, groupSize: group, planes: planes,
                                          offsets: true, permutation: true, bias: true, using: &g)
            let ref = try TernaryLinearKernel(weights: w, format: planes == 1 ? .twoBit : .twoPlane2Bit,
                                              variant: KernelRegistry.scalar, configuration: .init())
            for tokens in [1, 3] {
                let x = (0..<(tokens * cols)).map { _ in g.nextGaussian() }
                let expected = forward(ref, x, tokens: tokens, threads: 1)
                for c in space.allConfigurations where (c[KernelParameterName.threads] ?? 1) == 1
                    && [0, 8192].contains(c[KernelParameterName.prefetch] ?? 0) {
                    let k = try TernaryLinearKernel(weights: w, format: planes == 1 ? .base3LUT : .twoPlaneBase3LUT, variant: KernelRegistry.lut243, configuration: c)
                    for threads in [1, 2] {
                        let y = forward(k, x, tokens: tokens, threads: threads)
                        let bad = zip(y, expected).filter { $0 != $1 }.count
                        #expect(bad == 0, "lut243 {\(c)} \(rows)x\(cols)/g\(group) \(planes) planes, \(tokens) tokens, \(threads) threads: \(bad) outputs differ")
                    }
                }
                let portable = try TernaryLinearKernel(weights: w, format: planes == 1 ? .base3LUT : .twoPlaneBase3LUT, variant: KernelRegistry.lut243,
                                                       configuration: space.defaultConfiguration, features: CPUFeatures())
                #expect(forward(portable, x, tokens: tokens, threads: 2) == expected, "portable fallback, \(rows)x\(cols)")
            }
        }
    }

    /// The int16 bound: a block's 32 lookups of |T| = 5·128 = 640 (all weights +1 or −1,
    /// activations all −128) reach ±20480, and 1639 positions per row (K = 8192, one group) cross
    /// 52 blocks whose int32 sums must add up exactly; exact results in Float. 300 rows are two
    /// 256-row thread chunks, so 2 threads split the rows (each builds all 52 blocks' tables).
    @Test func deepestInt16SumsDoNotWrap() throws {
        let rows = 300, cols = 8192
        for weight in [Int8(1), -1] {
            for act in [Int8(-128), 127] {
                let w = try TernaryWeights(rows: rows, cols: cols, groupSize: cols,
                                           planes: [[Int8](repeating: weight, count: rows * cols)],
                                           scales: [[Float](repeating: 1, count: rows)])
                for (prefetch, threads) in [(0, 1), (8192, 1), (8192, 2)] {
                    let c = KernelConfiguration([KernelParameterName.prefetch: prefetch])
                    let k = try TernaryLinearKernel(weights: w, format: .base3LUT, variant: KernelRegistry.lut243, configuration: c)
                    let y = k.forward(quantized: [Int8](repeating: act, count: cols), scales: [1], tokens: 1, threads: threads)
                    #expect(y.allSatisfy { $0 == Float(cols * Int(weight) * Int(act)) },
                            "w \(weight) q \(act) prefetch \(prefetch) threads \(threads): \(y[0])")
                }
            }
        }
        #expect(Base3LUTTernaryMatrix.maxBlockPositions * 5 * 128 <= Int(Int16.max))
    }

    #if arch(x86_64)
    /// The lookup loop's prefetch stream: inside a thread's run of a block it runs straight ahead;
    /// past the run's end it continues at the thread's run of the next block, by the overshoot.
    @Test func prefetchStreamJumpsToTheThreadsNextRun() {
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1 << 16)
        defer { buffer.deallocate() }
        let end = UnsafePointer(buffer + 4096), next = UnsafePointer(buffer + 40960)
        let stream = PrefetchStream(end: end, next: next)
        #expect(stream.ahead(of: UnsafePointer(buffer), by: 1024) == UnsafePointer(buffer + 1024))
        #expect(stream.ahead(of: UnsafePointer(buffer + 3000), by: 1095) == UnsafePointer(buffer + 4095))
        #expect(stream.ahead(of: UnsafePointer(buffer + 3072), by: 1024) == next)
        #expect(stream.ahead(of: UnsafePointer(buffer + 4032), by: 8192) == next + 8128)
        // The last block's run has no next one: `next == end` keeps the stream straight.
        let last = PrefetchStream(end: end, next: end)
        #expect(last.ahead(of: UnsafePointer(buffer + 4032), by: 8192) == UnsafePointer(buffer + 12224))
    }
    #endif
}
