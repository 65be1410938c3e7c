/// A dense Float32 matrix, row-major and contiguous.
///
/// Rows are outputs and columns are inputs throughout TritBench (y = W x with W of shape
/// rows × cols), the same convention as the `.npy` files the CLI reads.
public struct Matrix: Equatable, Sendable {
    public let rows: Int
    public let cols: Int
    /// Row-major values: element (r, c) lives at `r * cols + c`.
    public var values: [Float]

    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(rows >= 0 && cols >= 0 && values.count == rows * cols,
                     "Matrix(\(rows)x\(cols)) needs \(rows * cols) values, got \(values.count)")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    public init(rows: Int, cols: Int, repeating value: Float = 0) {
        self.init(rows: rows, cols: cols, values: [Float](repeating: value, count: rows * cols))
    }

    /// Builds a matrix from a closure of (row, column); for tests and small constructions.
    public init(rows: Int, cols: Int, _ element: (Int, Int) -> Float) {
        var v = [Float](); v.reserveCapacity(rows * cols)
        for r in 0..<rows { for c in 0..<cols { v.append(element(r, c)) } }
        self.init(rows: rows, cols: cols, values: v)
    }

    public var count: Int { rows * cols }

    @inlinable public subscript(r: Int, c: Int) -> Float {
        get { values[r * cols + c] }
        set { values[r * cols + c] = newValue }
    }

    /// One row as an array copy.
    public func row(_ r: Int) -> [Float] { Array(values[(r * cols)..<((r + 1) * cols)]) }

    public func transposed() -> Matrix {
        var out = [Float](repeating: 0, count: count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows { for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] } }
            }
        }
        return Matrix(rows: cols, cols: rows, values: out)
    }

    /// Frobenius norm, accumulated in Double.
    public var frobeniusNorm: Double {
        var s = 0.0
        for v in values { s += Double(v) * Double(v) }
        return s.squareRoot()
    }

    /// ‖self − other‖_F / ‖self‖_F (0 when both are zero).
    public func relativeError(to other: Matrix) -> Double {
        precondition(rows == other.rows && cols == other.cols, "shape mismatch")
        var num = 0.0, den = 0.0
        for i in 0..<values.count {
            let d = Double(values[i]) - Double(other.values[i])
            num += d * d
            den += Double(values[i]) * Double(values[i])
        }
        if den == 0 { return num == 0 ? 0 : .infinity }
        return (num / den).squareRoot()
    }

    /// Index of the first non-finite value, if any (NaN/Inf weights are rejected by callers).
    public var firstNonFiniteIndex: Int? { values.firstIndex { !$0.isFinite } }
}
