import Foundation
import Testing
import TritCore

@Suite struct NPYTests {
    @Test func roundTripKeepsShapeAndValues() throws {
        var g = SeededGenerator(seed: 7)
        let m = Matrix.gaussian(rows: 5, cols: 13, using: &g)
        let back = try NPY.decode(NPY.encode(m))
        #expect(back == m)
    }

    @Test func headerIsPaddedTo64Bytes() {
        let d = NPY.encode(Matrix(rows: 2, cols: 3))
        let headerLen = Int(d[8]) | Int(d[9]) << 8
        #expect((10 + headerLen) % 64 == 0)
        #expect(d.count == 10 + headerLen + 24)
    }

    @Test func truncatedFileNamesTheOffset() {
        let d = NPY.encode(Matrix(rows: 4, cols: 4, repeating: 1))
        #expect(throws: NPYError.truncated(path: "w.npy", offset: d.count - 5, needed: 5)) {
            try NPY.decode(d.prefix(d.count - 5), path: "w.npy")
        }
    }

    @Test func wrongMagicIsRejected() {
        #expect(throws: NPYError.badMagic(path: "x")) { try NPY.decode(Data("hello world!".utf8), path: "x") }
    }

    @Test func float64IsRejectedWithTheField() throws {
        var d = NPY.encode(Matrix(rows: 1, cols: 2))
        let bytes = [UInt8](d), needle = Array("<f4".utf8)
        let offset = try #require((0..<(bytes.count - 3)).first { Array(bytes[$0..<($0 + 3)]) == needle })
        d.replaceSubrange(offset..<(offset + 3), with: Array("<f8".utf8))
        #expect(throws: NPYError.badHeader(path: "m", field: "descr", found: "'<f8'", expected: "'<f4' (little-endian float32)")) {
            try NPY.decode(d, path: "m")
        }
    }

    @Test func nanWeightsAreRejectedWithRowAndColumn() {
        var m = Matrix(rows: 3, cols: 4, repeating: 0.5)
        m[2, 1] = .nan
        #expect(throws: NPYError.nonFinite(path: "w", index: 9, row: 2, col: 1)) { try NPY.decode(NPY.encode(m), path: "w") }
    }
}

@Suite struct LinearAlgebraTests {
    @Test func sgemmMatchesNaiveProduct() {
        var g = SeededGenerator(seed: 1)
        let a = Matrix.gaussian(rows: 7, cols: 5, using: &g), b = Matrix.gaussian(rows: 5, cols: 3, using: &g)
        let c = LinearAlgebra.matmul(a, b)
        for i in 0..<7 { for j in 0..<3 {
            var s: Float = 0
            for k in 0..<5 { s += a[i, k] * b[k, j] }
            #expect(abs(c[i, j] - s) < 1e-4)
        } }
        let ct = LinearAlgebra.matmulTransposed(a, b.transposed())
        #expect(ct.relativeError(to: c) < 1e-6)
    }

    @Test func choleskyReconstructsTheMatrix() throws {
        let n = 6
        var g = SeededGenerator(seed: 3)
        let x = Matrix.gaussian(rows: 20, cols: n, using: &g)
        var h = [Double](repeating: 0, count: n * n)
        for r in 0..<20 { for i in 0..<n { for j in 0..<n { h[i * n + j] += Double(x[r, i] * x[r, j]) } } }
        let l = try LinearAlgebra.cholesky(h, n: n)
        for i in 0..<n { for j in 0..<n {
            var s = 0.0
            for k in 0..<n { s += l[i * n + k] * l[j * n + k] }
            #expect(abs(s - h[i * n + j]) < 1e-9 * max(1, abs(h[i * n + j])))
        } }
        let inv = try LinearAlgebra.inverseSPD(h, n: n)
        for i in 0..<n { for j in 0..<n {
            var s = 0.0
            for k in 0..<n { s += h[i * n + k] * inv[k * n + j] }
            #expect(abs(s - (i == j ? 1 : 0)) < 1e-8)
        } }
    }

    @Test func choleskyOfIndefiniteMatrixThrows() {
        #expect(throws: LinearAlgebraError.self) { try LinearAlgebra.cholesky([1, 2, 2, 1], n: 2) }
    }
}

@Suite struct AtomicFileTests {
    @Test func writeReplacesWholeFileAndLeavesNoTemporaries() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-atomic-\(UUID())").path
        let path = dir + "/sub/out.txt"
        try AtomicFile.write("first", to: path)
        try AtomicFile.write("second", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "second")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/sub") == ["out.txt"])
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test func unwritableDirectoryGivesAClearError() {
        #expect(throws: FileError.self) { try AtomicFile.write("x", to: "/proc/nonexistent-dir/out.txt") }
    }
}

@Suite struct CPUTests {
    @Test func featuresAreConsistentWithProcCpuinfo() throws {
        let f = CPUFeatures.current
        #if arch(x86_64)
        let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = Set(info.split(separator: "\n").first { $0.hasPrefix("flags") }!.split(separator: " ").map(String.init))
        #expect(f.avx2 == flags.contains("avx2"))
        #expect(f.fma == flags.contains("fma"))
        #expect(f.bmi2 == flags.contains("bmi2"))
        #expect(f.sse42 == flags.contains("sse4_2"))
        #expect(f.avx512f == flags.contains("avx512f"))
        #endif
        // AVX implies SSE4.2 on every CPU that has it.
        if f.avx2 { #expect(f.avx && f.sse42) }
    }

    @Test func fingerprintIsStable() {
        let d = CPUDescription.current()
        #expect(d.fingerprint == CPUDescription.current().fingerprint)
        #expect(!d.fingerprint.isEmpty)
    }
}
