import CBLAS
import TritCore

/// Calibration statistics of one layer's inputs: H = (1/N) Σ x xᵀ and m = (1/N) Σ x over N tokens.
///
/// Every layer-wise output objective in TritQuant (GPTQ's and PT²-LLM's Hessian, AGA, Tequila
/// training, the reported output error) needs only these two moments: for an error E = W − Ŵ
/// and a bias c, the mean squared output error over the tokens is
///
///     tr(E H Eᵀ) − 2 cᵀ E m + ‖c‖²        with gradient −2 (E H − c mᵀ) with respect to Ŵ,
///
/// so one pass over the tokens makes every later step cost O(rows · cols²), whatever N is. The
/// activations themselves are not kept, which keeps memory at cols² per layer input; layers
/// that share an input (q/k/v, gate/up) share one `Calibration`.
public struct Calibration: Sendable {
    public let cols: Int
    public let tokens: Int
    /// H, cols × cols row-major, Double (the Hessian machinery factorises it).
    public let secondMoment: [Double]
    /// m, length cols.
    public let mean: [Double]
    /// E[(x̃ − x) xᵀ], cols × cols (row a, column b: Σ (x̃_a − x_a) x_b / N), where x̃ is the
    /// full-precision model's input to the layer and x the input with the earlier layers already
    /// quantized: GPTAQ's asymmetric term (`dXXT`). nil when only one stream was recorded.
    public let asymmetricCross: [Double]?
    /// Float copies for the BLAS products of the output-error identity.
    let secondMomentFloat: [Float]
    let meanFloat: [Float]

    /// Statistics of the activations X (tokens × cols, one token per row).
    public init(activations x: Matrix) throws {
        var acc = Accumulator(cols: x.cols)
        try acc.add(x)
        self = try acc.finish()
    }

    /// Statistics accumulated elsewhere (H symmetric, cols × cols; m of length cols).
    public init(secondMoment: [Double], mean: [Double], tokens: Int, asymmetricCross: [Double]? = nil) throws {
        let n = mean.count
        guard n > 0, secondMoment.count == n * n else {
            throw QuantizationError.calibrationShape(expectedCols: n, got: secondMoment.count)
        }
        guard tokens > 0 else { throw QuantizationError.numerical(method: "calibration", reason: "no calibration tokens") }
        if let i = secondMoment.firstIndex(where: { !$0.isFinite }) {
            throw QuantizationError.nonFiniteActivation(token: -1, col: i % n)
        }
        if let d = asymmetricCross {
            guard d.count == n * n else { throw QuantizationError.calibrationShape(expectedCols: n, got: d.count) }
            if let i = d.firstIndex(where: { !$0.isFinite }) { throw QuantizationError.nonFiniteActivation(token: -1, col: i % n) }
        }
        cols = n
        self.tokens = tokens
        self.asymmetricCross = asymmetricCross
        self.secondMoment = secondMoment
        self.mean = mean
        secondMomentFloat = secondMoment.map { Float($0) }
        meanFloat = mean.map { Float($0) }
    }

    /// Accumulates H and m over batches of tokens, so activations can stream through a model
    /// without being stored (Double accumulation via `cblas_dsyrk`).
    public struct Accumulator {
        public let cols: Int
        public private(set) var tokens = 0
        private var sum: [Double]
        private var sumX: [Double]
        /// Σ (x̃ − x) xᵀ, once a full-precision stream was added.
        private var cross: [Double]?

        public init(cols: Int) {
            self.cols = cols
            sum = [Double](repeating: 0, count: cols * cols)
            sumX = [Double](repeating: 0, count: cols)
        }

        /// Adds tokens x (one per row); `fullPrecision`, when given, holds the same tokens' inputs
        /// in the full-precision model (same shape), for GPTAQ's cross term. Every batch of an
        /// accumulator must then carry it.
        public mutating func add(_ x: Matrix, fullPrecision xf: Matrix? = nil) throws {
            guard x.cols == cols else { throw QuantizationError.calibrationShape(expectedCols: cols, got: x.cols) }
            if let bad = x.firstNonFiniteIndex {
                throw QuantizationError.nonFiniteActivation(token: tokens + bad / cols, col: bad % cols)
            }
            if let xf {
                guard xf.cols == cols, xf.rows == x.rows else { throw QuantizationError.calibrationShape(expectedCols: cols, got: xf.cols) }
                if let bad = xf.firstNonFiniteIndex {
                    throw QuantizationError.nonFiniteActivation(token: tokens + bad / cols, col: bad % cols)
                }
                guard cross != nil || tokens == 0 else {
                    throw QuantizationError.numerical(method: "calibration", reason: "full-precision inputs given for some batches only")
                }
                var dx = [Float](repeating: 0, count: x.count)
                for i in 0..<x.count { dx[i] = xf.values[i] - x.values[i] }
                // Σ_t dx_t x_tᵀ (cols × cols): sgemm over the batch, accumulated in Double.
                var batch = [Float](repeating: 0, count: cols * cols)
                dx.withUnsafeBufferPointer { pd in
                    x.values.withUnsafeBufferPointer { px in
                        batch.withUnsafeMutableBufferPointer { pb in
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(cols), Int32(cols), Int32(x.rows), 1,
                                        pd.baseAddress, Int32(cols), px.baseAddress, Int32(cols), 0, pb.baseAddress, Int32(cols))
                        }
                    }
                }
                if cross == nil { cross = [Double](repeating: 0, count: cols * cols) }
                for i in 0..<(cols * cols) { cross![i] += Double(batch[i]) }
            } else if cross != nil {
                throw QuantizationError.numerical(method: "calibration", reason: "full-precision inputs missing for a batch")
            }
            let chunk = 512
            var t0 = 0
            while t0 < x.rows {
                let nt = min(chunk, x.rows - t0)
                var xd = [Double](repeating: 0, count: nt * cols)
                for i in 0..<(nt * cols) { xd[i] = Double(x.values[t0 * cols + i]) }
                for t in 0..<nt { for j in 0..<cols { sumX[j] += xd[t * cols + j] } }
                xd.withUnsafeBufferPointer { px in
                    sum.withUnsafeMutableBufferPointer { ps in
                        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(cols), Int32(nt),
                                    1, px.baseAddress, Int32(cols), 1, ps.baseAddress, Int32(cols))
                    }
                }
                t0 += nt
            }
            tokens += x.rows
        }

        public func finish() throws -> Calibration {
            guard tokens > 0 else { throw QuantizationError.numerical(method: "calibration", reason: "no calibration tokens") }
            var h = sum
            let inv = 1.0 / Double(tokens)
            for r in 0..<cols {
                for c in r..<cols {
                    let v = h[r * cols + c] * inv
                    h[r * cols + c] = v; h[c * cols + r] = v
                }
            }
            return try Calibration(secondMoment: h, mean: sumX.map { $0 * inv }, tokens: tokens,
                                   asymmetricCross: cross?.map { $0 * inv })
        }
    }

    /// H restricted to the given columns (in that order), for AGA's per-block S.
    public func secondMoment(restrictedTo columns: [Int]) -> [Double] {
        let k = columns.count
        var s = [Double](repeating: 0, count: k * k)
        for (a, ca) in columns.enumerated() {
            for (b, cb) in columns.enumerated() { s[a * k + b] = secondMoment[ca * cols + cb] }
        }
        return s
    }

    /// Mean squared output error per token, tr(E H Eᵀ) − 2 cᵀ E m + ‖c‖², for E (rows × cols,
    /// row-major) and an optional bias c. When `gradient` is given it receives the gradient with
    /// respect to Ŵ, −2 (E H − c mᵀ), and `biasGradient` the gradient with respect to c,
    /// −2 (E m − c). One implementation for the reported error and Tequila's training.
    public func meanSquaredOutputError(error e: UnsafeBufferPointer<Float>, rows: Int, bias: [Float]?,
                                       gradient: UnsafeMutableBufferPointer<Float>? = nil,
                                       biasGradient: UnsafeMutableBufferPointer<Float>? = nil) -> Double {
        precondition(e.count == rows * cols)
        var eh = [Float](repeating: 0, count: rows * cols)
        secondMomentFloat.withUnsafeBufferPointer { ph in
            eh.withUnsafeMutableBufferPointer { pe in
                cblas_ssymm(CblasRowMajor, CblasRight, CblasUpper, Int32(rows), Int32(cols), 1,
                            ph.baseAddress, Int32(cols), e.baseAddress, Int32(cols), 0,
                            pe.baseAddress, Int32(cols))
            }
        }
        var loss = 0.0
        for r in 0..<rows {
            var quad = 0.0, em = 0.0
            let base = r * cols
            for c in 0..<cols {
                quad += Double(eh[base + c]) * Double(e[base + c])
                em += Double(e[base + c]) * mean[c]
            }
            let ci = Double(bias?[r] ?? 0)
            loss += quad - 2 * ci * em + ci * ci
            if let g = gradient {
                let cf = Float(ci)
                for c in 0..<cols { g[base + c] = -2 * (eh[base + c] - cf * meanFloat[c]) }
            }
            if let gb = biasGradient { gb[r] = Float(-2 * (em - ci)) }
        }
        return loss
    }

    /// ‖WX − (ŴX + c)‖_F / ‖WX‖_F over the calibration tokens, from H and m.
    public func relativeOutputError(reference w: Matrix, quantized wq: Matrix, bias: [Float]?) -> Double {
        precondition(w.rows == wq.rows && w.cols == cols && wq.cols == cols)
        var diff = [Float](repeating: 0, count: w.count)
        for i in 0..<w.count { diff[i] = w.values[i] - wq.values[i] }
        let num = diff.withUnsafeBufferPointer { meanSquaredOutputError(error: $0, rows: w.rows, bias: bias) }
        let den = w.values.withUnsafeBufferPointer { meanSquaredOutputError(error: $0, rows: w.rows, bias: nil) }
        if den <= 0 { return num <= 0 ? 0 : .infinity }
        return (max(num, 0) / den).squareRoot()
    }
}
