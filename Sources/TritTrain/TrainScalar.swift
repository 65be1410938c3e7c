import CBLAS
import Foundation

/// The number type of a training computation: Float32 for training (sgemm), Double for the
/// gradient checks (dgemm), where finite differences need the precision. One generic
/// implementation of the forward and backward serves both, so the checked code is the trained code.
public protocol TrainScalar: BinaryFloatingPoint, Codable, Sendable {
    /// C = alpha · op(A) · op(B) + beta · C on row-major matrices; op(A) is m × k, op(B) k × n.
    static func gemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Self,
                     _ a: UnsafePointer<Self>, _ lda: Int, _ b: UnsafePointer<Self>, _ ldb: Int,
                     _ beta: Self, _ c: UnsafeMutablePointer<Self>, _ ldc: Int)
    static func exponential(_ x: Self) -> Self
    static func logarithm(_ x: Self) -> Self
    static func squareRoot(_ x: Self) -> Self
    static func cosine(_ x: Double) -> Self
    static func sine(_ x: Double) -> Self
}

extension Float: TrainScalar {
    public static func gemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                            _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                            _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    public static func exponential(_ x: Float) -> Float { expf(x) }
    public static func logarithm(_ x: Float) -> Float { logf(x) }
    public static func squareRoot(_ x: Float) -> Float { x.squareRoot() }
    public static func cosine(_ x: Double) -> Float { Float(cos(x)) }
    public static func sine(_ x: Double) -> Float { Float(sin(x)) }
}

extension Double: TrainScalar {
    public static func gemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double,
                            _ a: UnsafePointer<Double>, _ lda: Int, _ b: UnsafePointer<Double>, _ ldb: Int,
                            _ beta: Double, _ c: UnsafeMutablePointer<Double>, _ ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    public static func exponential(_ x: Double) -> Double { exp(x) }
    public static func logarithm(_ x: Double) -> Double { log(x) }
    public static func squareRoot(_ x: Double) -> Double { x.squareRoot() }
    public static func cosine(_ x: Double) -> Double { cos(x) }
    public static func sine(_ x: Double) -> Double { sin(x) }
}

/// Row-major matrix products on arrays, the three shapes a linear layer's forward and backward need.
enum Products {
    /// Y (t × out) = X (t × in) · Wᵀ (W: out × in).
    static func forward<S: TrainScalar>(_ x: [S], _ w: [S], tokens t: Int, inputs: Int, outputs: Int) -> [S] {
        var y = [S](repeating: 0, count: t * outputs)
        x.withUnsafeBufferPointer { px in w.withUnsafeBufferPointer { pw in y.withUnsafeMutableBufferPointer { py in
            S.gemm(false, true, t, outputs, inputs, 1, px.baseAddress!, inputs, pw.baseAddress!, inputs, 0, py.baseAddress!, outputs)
        } } }
        return y
    }

    /// dX (t × in) (+)= dY (t × out) · W.
    static func inputGradient<S: TrainScalar>(_ dy: [S], _ w: [S], tokens t: Int, inputs: Int, outputs: Int,
                                              accumulatingInto dx: inout [S]) {
        dy.withUnsafeBufferPointer { pd in w.withUnsafeBufferPointer { pw in dx.withUnsafeMutableBufferPointer { px in
            S.gemm(false, false, t, inputs, outputs, 1, pd.baseAddress!, outputs, pw.baseAddress!, inputs, 1, px.baseAddress!, inputs)
        } } }
    }

    /// dW (out × in) += dYᵀ · X.
    static func weightGradient<S: TrainScalar>(_ dy: [S], _ x: [S], tokens t: Int, inputs: Int, outputs: Int,
                                               accumulatingInto dw: inout [S]) {
        dy.withUnsafeBufferPointer { pd in x.withUnsafeBufferPointer { px in dw.withUnsafeMutableBufferPointer { pw in
            S.gemm(true, false, outputs, inputs, t, 1, pd.baseAddress!, outputs, px.baseAddress!, inputs, 1, pw.baseAddress!, inputs)
        } } }
    }
}
