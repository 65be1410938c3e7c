import CBLAS

/// Errors from the float linear algebra (LAPACK) wrappers.
public enum LinearAlgebraError: Error, CustomStringConvertible, Equatable {
    case notPositiveDefinite(order: Int, info: Int32)
    case shapeMismatch(operation: String, lhs: String, rhs: String)

    public var description: String {
        switch self {
        case let .notPositiveDefinite(n, info):
            return "Cholesky of a \(n)x\(n) matrix failed: leading minor \(info) is not positive definite (increase dampening)"
        case let .shapeMismatch(op, l, r):
            return "\(op): shape mismatch \(l) vs \(r)"
        }
    }
}

/// Float linear algebra through OpenBLAS (CBLAS) and LAPACKE.
///
/// This is the float reference path of TritBench (the dense layer a user compares against) and
/// the Hessian machinery of GPTQ / PT²-LLM. Nothing here is hand-written where BLAS has it.
public enum LinearAlgebra {
    /// C = A · B (row-major), via `cblas_sgemm`.
    public static func matmul(_ a: Matrix, _ b: Matrix) -> Matrix {
        precondition(a.cols == b.rows, "matmul \(a.rows)x\(a.cols) · \(b.rows)x\(b.cols)")
        var c = Matrix(rows: a.rows, cols: b.cols)
        if a.rows == 0 || b.cols == 0 { return c }
        a.values.withUnsafeBufferPointer { pa in
            b.values.withUnsafeBufferPointer { pb in
                c.values.withUnsafeMutableBufferPointer { pc in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                Int32(a.rows), Int32(b.cols), Int32(a.cols), 1,
                                pa.baseAddress, Int32(a.cols), pb.baseAddress, Int32(b.cols),
                                0, pc.baseAddress, Int32(b.cols))
                }
            }
        }
        return c
    }

    /// C = A · Bᵀ (row-major), the shape of a linear layer applied to a batch of tokens:
    /// `matmulTransposed(X, W)` gives Y = X Wᵀ with X tokens × in and W out × in.
    public static func matmulTransposed(_ a: Matrix, _ b: Matrix) -> Matrix {
        precondition(a.cols == b.cols, "matmulTransposed \(a.rows)x\(a.cols) · (\(b.rows)x\(b.cols))ᵀ")
        var c = Matrix(rows: a.rows, cols: b.rows)
        if a.rows == 0 || b.rows == 0 { return c }
        a.values.withUnsafeBufferPointer { pa in
            b.values.withUnsafeBufferPointer { pb in
                c.values.withUnsafeMutableBufferPointer { pc in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                                Int32(a.rows), Int32(b.rows), Int32(a.cols), 1,
                                pa.baseAddress, Int32(a.cols), pb.baseAddress, Int32(b.cols),
                                0, pc.baseAddress, Int32(b.rows))
                }
            }
        }
        return c
    }

    /// y = W x via `cblas_sgemv` (W rows × cols, x of length cols).
    public static func gemv(_ w: Matrix, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count == w.cols && y.count == w.rows)
        w.values.withUnsafeBufferPointer { pw in
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(w.rows), Int32(w.cols), 1,
                        pw.baseAddress, Int32(w.cols), x.baseAddress, 1, 0, y.baseAddress, 1)
        }
    }

    public static func gemv(_ w: Matrix, _ x: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: w.rows)
        x.withUnsafeBufferPointer { px in y.withUnsafeMutableBufferPointer { py in gemv(w, px, py) } }
        return y
    }

    /// Threads OpenBLAS may use. Private: the count is process-wide, so callers go through
    /// `withThreads`, which restores it.
    private static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

    /// Threads OpenBLAS uses now.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` with OpenBLAS on `n` threads and restores the count it found: the setting is
    /// process-wide, so library code that changes it must not leave it changed.
    public static func withThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        let before = threads
        setThreads(n)
        defer { setThreads(before) }
        return try body()
    }

    /// Lower Cholesky factor L of a symmetric positive definite n × n matrix (row-major,
    /// Double): A = L Lᵀ. Upper triangle of the result is zeroed.
    public static func cholesky(_ a: [Double], n: Int) throws -> [Double] {
        precondition(a.count == n * n)
        var l = a
        let info = l.withUnsafeMutableBufferPointer {
            LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(n), $0.baseAddress, Int32(n))
        }
        guard info == 0 else { throw LinearAlgebraError.notPositiveDefinite(order: n, info: info) }
        for r in 0..<n { for c in (r + 1)..<n { l[r * n + c] = 0 } }
        return l
    }

    /// Inverse of a symmetric positive definite matrix via Cholesky (dpotrf + dpotri).
    public static func inverseSPD(_ a: [Double], n: Int) throws -> [Double] {
        var m = a
        var info = m.withUnsafeMutableBufferPointer {
            LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(n), $0.baseAddress, Int32(n))
        }
        guard info == 0 else { throw LinearAlgebraError.notPositiveDefinite(order: n, info: info) }
        info = m.withUnsafeMutableBufferPointer {
            LAPACKE_dpotri(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(n), $0.baseAddress, Int32(n))
        }
        guard info == 0 else { throw LinearAlgebraError.notPositiveDefinite(order: n, info: info) }
        for r in 0..<n { for c in (r + 1)..<n { m[r * n + c] = m[c * n + r] } }
        return m
    }

    /// Upper Cholesky factor U of an SPD matrix (A = Uᵀ U), as GPTQ uses for H⁻¹.
    public static func upperCholesky(_ a: [Double], n: Int) throws -> [Double] {
        var u = a
        let info = u.withUnsafeMutableBufferPointer {
            LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(n), $0.baseAddress, Int32(n))
        }
        guard info == 0 else { throw LinearAlgebraError.notPositiveDefinite(order: n, info: info) }
        for r in 0..<n { for c in 0..<r { u[r * n + c] = 0 } }
        return u
    }

    /// Solves the lower-triangular system L X = B in place (B row-major n × nrhs), via dtrtrs.
    public static func solveLowerTriangular(_ l: [Double], n: Int, _ b: inout [Double], nrhs: Int) {
        _ = l.withUnsafeBufferPointer { pl in
            b.withUnsafeMutableBufferPointer { pb in
                LAPACKE_dtrtrs(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int8(UInt8(ascii: "N")),
                               Int8(UInt8(ascii: "N")), Int32(n), Int32(nrhs),
                               pl.baseAddress, Int32(n), pb.baseAddress, Int32(nrhs))
            }
        }
    }

    /// Least-squares solve min ‖A x − b‖ (A m × n row-major, m ≥ n), via dgels. Used by tests
    /// that check closed forms against a brute-force solve.
    public static func leastSquares(_ a: [Double], rows m: Int, cols n: Int, _ b: [Double]) -> [Double] {
        var a = a, bb = b
        _ = a.withUnsafeMutableBufferPointer { pa in
            bb.withUnsafeMutableBufferPointer { pb in
                LAPACKE_dgels(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "N")), Int32(m), Int32(n), 1,
                              pa.baseAddress, Int32(n), pb.baseAddress, 1)
            }
        }
        return Array(bb[0..<n])
    }
}
