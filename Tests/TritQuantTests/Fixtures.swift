import TritCore
@testable import TritQuant

/// Synthetic layers with a fixed seed: Gaussian weights with a few large columns, and
/// correlated calibration activations (x = A z + b with a random mixing matrix, so H is far
/// from diagonal, which is where Hessian-aware methods should win).
enum Fixtures {
    static func weights(rows: Int, cols: Int, seed: UInt64) -> Matrix {
        var g = SeededGenerator(seed: seed)
        var w = Matrix.gaussian(rows: rows, cols: cols, std: 0.05, using: &g)
        for c in stride(from: 3, to: cols, by: 37) { for r in 0..<rows { w[r, c] *= 4 } }
        return w
    }

    static func activations(tokens: Int, cols: Int, seed: UInt64) -> Matrix {
        var g = SeededGenerator(seed: seed)
        let z = Matrix.gaussian(rows: tokens, cols: cols, using: &g)
        let a = Matrix.gaussian(rows: cols, cols: cols, std: 1 / Float(cols).squareRoot(), using: &g)
        var x = LinearAlgebra.matmul(z, a)
        let shift = (0..<cols).map { _ in g.nextGaussian() * 0.3 }
        for t in 0..<tokens { for c in 0..<cols { x[t, c] = 2 * x[t, c] + shift[c] + 0.5 * z[t, c] } }
        return x
    }

    static func calibration(tokens: Int, cols: Int, seed: UInt64) throws -> Calibration {
        try Calibration(activations: activations(tokens: tokens, cols: cols, seed: seed))
    }
}
