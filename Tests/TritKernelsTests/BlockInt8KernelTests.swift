import Testing
import TritCore
@testable import TritKernels

/// The Q8_0 × Q8_0 GEMV of the int8 LM head: the dispatched path (AVX2 on this machine) and the
/// portable loop both against the one-product-at-a-time definition.
@Suite struct BlockInt8KernelTests {
    struct Case {
        var rows: Int, cols: Int
        /// Weight scales as Float16 bit patterns (the table's layout).
        var codes: [Int8], scales: [UInt16], acts: [Int8], actScales: [Float]
    }

    static func random(rows: Int, cols: Int, seed: UInt64) -> Case {
        var g = SeededGenerator(seed: seed)
        let blocks = cols / 32
        return Case(rows: rows, cols: cols,
                    codes: (0..<(rows * cols)).map { _ in Int8(Int(g.next() % 255) - 127) },
                    scales: (0..<(rows * blocks)).map { _ in Float16(Float(g.next() % 1000 + 1) / 1e5).bitPattern },
                    acts: (0..<cols).map { _ in Int8(Int(g.next() % 255) - 127) },
                    actScales: (0..<blocks).map { _ in Float(g.next() % 1000 + 1) / 1e4 })
    }

    /// Both paths over rows `0..<rows`, as (dispatched, portable).
    static func run(_ c: Case) -> ([Float], [Float]) {
        var fast = [Float](repeating: .nan, count: c.rows), portable = fast
        c.codes.withUnsafeBufferPointer { w in c.scales.withUnsafeBufferPointer { d in
            c.acts.withUnsafeBufferPointer { x in c.actScales.withUnsafeBufferPointer { dx in
                fast.withUnsafeMutableBufferPointer {
                    BlockInt8Kernel.rows(codes: w.baseAddress!, scales: d.baseAddress!, cols: c.cols, acts: x.baseAddress!,
                                         actScales: dx.baseAddress!, rows: 0..<c.rows, y: $0.baseAddress!)
                }
                portable.withUnsafeMutableBufferPointer {
                    BlockInt8Kernel.portableRows(codes: w.baseAddress!, scales: d.baseAddress!, cols: c.cols, acts: x.baseAddress!,
                                                 actScales: dx.baseAddress!, rows: 0..<c.rows, y: $0.baseAddress!)
                }
            }}
        }}
        return (fast, portable)
    }

    static func reference(_ c: Case, row: Int) -> (value: Double, magnitude: Double) {
        let blocks = c.cols / 32
        var total = 0.0, magnitude = 0.0
        for b in 0..<blocks {
            var s = 0, m = 0
            for j in 0..<32 {
                let p = Int(c.codes[row * c.cols + b * 32 + j]) * Int(c.acts[b * 32 + j])
                s += p; m += abs(p)
            }
            let scale = Double(Float16(bitPattern: c.scales[row * blocks + b])) * Double(c.actScales[b])
            total += Double(s) * scale; magnitude += Double(m) * scale
        }
        return (total, magnitude)
    }

    /// Every row within float rounding of the exact value: the integer block sums are exact, so
    /// the only error is Float32 accumulation over ≤ cols/32 block terms, bounded here by
    /// 1e-6 · Σ|terms| (a wrong or saturated int16 pair sum is off by ≥ 1 · scale, far outside).
    static func check(_ c: Case) {
        let (fast, portable) = run(c)
        for r in 0..<c.rows {
            let (exact, magnitude) = reference(c, row: r)
            let tolerance = 1e-6 * magnitude + 1e-12
            #expect(abs(Double(fast[r]) - exact) <= tolerance, "row \(r) of \(c.rows)×\(c.cols): \(fast[r]) vs \(exact)")
            #expect(abs(Double(portable[r]) - exact) <= tolerance, "portable row \(r): \(portable[r]) vs \(exact)")
        }
    }

    @Test(arguments: [(7, 32), (4, 576), (9, 576), (13, 1536), (1, 64)])
    func randomShapesMatchTheDefinition(rows: Int, cols: Int) {
        Self.check(Self.random(rows: rows, cols: cols, seed: UInt64(rows * 10_007 + cols)))
    }

    /// Extremes: every code and activation ±127 (the largest int16 pair sums, 2 · 127² = 32258,
    /// with equal and opposite signs), one block of unit scales so the exact sum is an integer.
    @Test func extremeCodesDoNotSaturate() {
        for (w, x) in [(Int8(127), Int8(127)), (-127, 127), (-127, -127), (127, -127)] {
            var c = Self.random(rows: 6, cols: 64, seed: 3)
            c.codes = [Int8](repeating: w, count: c.codes.count)
            c.acts = [Int8](repeating: x, count: c.cols)
            c.scales = [UInt16](repeating: Float16(1).bitPattern, count: c.scales.count)
            c.actScales = [Float](repeating: 1, count: c.actScales.count)
            let (fast, portable) = Self.run(c)
            let expected = Float(Int(w) * Int(x) * 64)
            #expect(fast.allSatisfy { $0 == expected }, "\(w)·\(x): \(fast)")
            #expect(portable.allSatisfy { $0 == expected }, "portable \(w)·\(x): \(portable)")
        }
    }

    /// A row range that starts and ends off the 4-row grouping writes exactly those rows.
    @Test func rowRangeTouchesOnlyItsRows() {
        let c = Self.random(rows: 11, cols: 96, seed: 9)
        var y = [Float](repeating: .nan, count: c.rows)
        c.codes.withUnsafeBufferPointer { w in c.scales.withUnsafeBufferPointer { d in
            c.acts.withUnsafeBufferPointer { x in c.actScales.withUnsafeBufferPointer { dx in
                y.withUnsafeMutableBufferPointer {
                    BlockInt8Kernel.rows(codes: w.baseAddress!, scales: d.baseAddress!, cols: c.cols, acts: x.baseAddress!,
                                         actScales: dx.baseAddress!, rows: 2..<9, y: $0.baseAddress!)
                }
            }}
        }}
        #expect(y[0].isNaN && y[1].isNaN && y[9].isNaN && y[10].isNaN)
        for r in 2..<9 {
            let (exact, magnitude) = Self.reference(c, row: r)
            #expect(abs(Double(y[r]) - exact) <= 1e-6 * magnitude + 1e-12)
        }
    }
}
