import CBLAS
import Foundation
import TritCore
import TritKernels

/// The pieces of PT²-LLM's Asymmetric Ternary Quantizer for one row of one block,
/// w ≈ α t + μ with t ∈ {−1, 0, +1}^m (methods.md §2).
enum AsymmetricTernaryFit {
    struct Grid: Equatable { var alpha: Double; var mu: Double }

    /// Asymmetric initialisation: μ = mean(w), r = w − μ, Δ = 0.75 · mean|r|,
    /// t = sign(r) where |r| > Δ, α = Σ t r / Σ |t|. Returns the grid and Δ (the rounding
    /// threshold around μ that produced t).
    static func initialize(_ w: UnsafeBufferPointer<Float>, trits t: UnsafeMutableBufferPointer<Int8>) -> (grid: Grid, threshold: Double) {
        let m = Double(w.count)
        var sum = 0.0
        for v in w { sum += Double(v) }
        let mu = sum / m
        var sumAbs = 0.0
        for v in w { sumAbs += abs(Double(v) - mu) }
        let delta = 0.75 * sumAbs / m
        var num = 0.0, cnt = 0.0
        for (k, v) in w.enumerated() {
            let r = Double(v) - mu
            if abs(r) > delta { t[k] = r > 0 ? 1 : -1; num += abs(r); cnt += 1 } else { t[k] = 0 }
        }
        return (Grid(alpha: cnt > 0 ? num / cnt : 0, mu: mu), delta)
    }

    /// ITF's grid step: the least-squares (α, μ) for fixed t,
    ///   α = (m Σwt − Σt Σw) / (m Σt² − (Σt)²),  μ = (Σw − α Σt) / m.
    /// When every t is equal the system is singular: α is kept and μ refitted.
    static func gridStep(_ w: UnsafeBufferPointer<Float>, trits t: UnsafeBufferPointer<Int8>, keeping old: Grid) -> Grid {
        let m = Double(w.count)
        var sw = 0.0, st = 0.0, st2 = 0.0, swt = 0.0
        for k in 0..<w.count {
            let wk = Double(w[k]), tk = Double(t[k])
            sw += wk; st += tk; st2 += tk * tk; swt += wk * tk
        }
        let den = m * st2 - st * st
        let alpha = den != 0 ? (m * swt - st * sw) / den : old.alpha
        return Grid(alpha: alpha, mu: (sw - alpha * st) / m)
    }

    /// Flexible rounding: t = the nearest of {−1, 0, +1} to (w − μ) / α. Returns whether any t changed.
    @discardableResult
    static func round(_ w: UnsafeBufferPointer<Float>, grid: Grid, trits t: UnsafeMutableBufferPointer<Int8>) -> Bool {
        guard grid.alpha != 0 else { return false }
        var changed = false
        for k in 0..<w.count {
            let x = (Double(w[k]) - grid.mu) / grid.alpha
            let n: Int8 = x > 0.5 ? 1 : (x < -0.5 ? -1 : 0)
            if n != t[k] { t[k] = n; changed = true }
        }
        return changed
    }

    /// Iterative Ternary Fitting: alternate grid step and flexible rounding until t stops
    /// changing or `maxRounds` rounds ran (then the grid is refitted to the last t). Each step
    /// can only lower ‖w − α t − μ‖². Returns the final grid and the rounds run.
    static func iterate(_ w: UnsafeBufferPointer<Float>, trits t: UnsafeMutableBufferPointer<Int8>, from start: Grid,
                        maxRounds: Int) -> (grid: Grid, rounds: Int) {
        var grid = start
        var rounds = 0
        var changed = true
        while changed && rounds < maxRounds {
            grid = gridStep(w, trits: UnsafeBufferPointer(t), keeping: grid)
            changed = round(w, grid: grid, trits: t)
            rounds += 1
        }
        if changed { grid = gridStep(w, trits: UnsafeBufferPointer(t), keeping: grid) }
        return (grid, rounds)
    }

    /// Activation-aware Grid Alignment for every row of a block at once: with T frozen, the
    /// (α, μ) minimising (w − α t − μ 1)ᵀ S (w − α t − μ 1), S = the block's second moment:
    ///   a = tSt, b = tS1, d = 1S1, y1 = wSt, y2 = wS1,
    ///   α = (d y1 − b y2)/(ad − b²),  μ = (a y2 − b y1)/(ad − b²)      (Float64).
    /// A row whose system is singular or gives non-finite values keeps its grid.
    static func align(weights w: Matrix, trits: [Int8], secondMoment s: [Double], grids: inout [Grid]) {
        let n = w.rows, m = w.cols
        var tm = [Double](repeating: 0, count: n * m)
        for i in 0..<(n * m) { tm[i] = Double(trits[i]) }
        var ts = [Double](repeating: 0, count: n * m)     // rows of T S (S symmetric)
        tm.withUnsafeBufferPointer { pt in
            s.withUnsafeBufferPointer { ps in
                ts.withUnsafeMutableBufferPointer { po in
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(m), Int32(m), 1,
                                pt.baseAddress, Int32(m), ps.baseAddress, Int32(m), 0, po.baseAddress, Int32(m))
                }
            }
        }
        var s1 = [Double](repeating: 0, count: m)
        var d = 0.0
        for a in 0..<m { for b in 0..<m { s1[a] += s[a * m + b] }; d += s1[a] }
        for i in 0..<n {
            var a = 0.0, b = 0.0, y1 = 0.0, y2 = 0.0
            for k in 0..<m {
                let st = ts[i * m + k], wk = Double(w.values[i * m + k])
                a += tm[i * m + k] * st
                b += st
                y1 += wk * st
                y2 += wk * s1[k]
            }
            let det = a * d - b * b
            guard det > 1e-12 * max(a * d, .leastNormalMagnitude) else { continue }
            let alpha = (d * y1 - b * y2) / det, mu = (a * y2 - b * y1) / det
            if alpha.isFinite && mu.isFinite { grids[i] = Grid(alpha: alpha, mu: mu) }
        }
    }
}

/// PT²-LLM (arXiv 2510.03267): one trit plane with a per-(row, block) scale α and offset μ,
/// fitted inside the shared GPTQ block loop (blocks of 128 = the groups of the stored layer).
///
/// The default follows the official code (XIANGLONGYAN/PT2-LLM) as audited (reference/methods.md):
/// each block is fitted once on its error-updated weights (asymmetric init → ITF → AGA), and
/// only its error Err = (W_B − Q_B) / diag(U_BB) moves the later blocks (`intra_block=once`);
/// GPTAQ's asymmetric term with α = 0.25 on full-precision inputs (`gptaq`), so calibration runs
/// true-sequentially within a transformer block; SSR picks each block's columns, kept in top-k
/// order, and is skipped on ffn_down (`ssr_skip=down`).
///
/// Named variants, shown as rows of their own: `intra_block=propagate` re-rounds each column of
/// the block against its row's grid as GPTQ's column updates arrive (ours: more accurate than
/// the paper on test layers, so it is not the paper's method); `intra_block=fixed` keeps the
/// fitted trits but runs the column updates. `itf`, `aga`, `ssr` = on/off give the paper's
/// ablation init → +ITF → +AGA → +SSR. Without ITF and AGA, columns are rounded with init's
/// threshold Δ around μ; otherwise to the nearest grid point. α and μ are rounded to fp16 (as
/// stored) before the columns are rounded. The SSR permutation is stored in
/// `TernaryWeights.permutation`.
public struct PT2LLMQuantizer: Quantizer {
    public let methodName = "pt2llm"
    public let blockSize: Int
    public let itf: Bool, aga: Bool, ssr: Bool
    public let intraBlock: String
    public let gptaq: Bool
    public let gptaqAlpha: Double
    public let ssrTopKOrder: Bool
    /// Layer kinds whose blocks keep their column order (the official code: ffn_down).
    public let ssrSkip: [String]
    public let maxRounds: Int
    public let dampening: Double
    public let resolvedParameters: [String: String]
    public var requiresCalibration: Bool { true }
    /// GPTAQ needs each layer's inputs in both the quantized and the full-precision model, with
    /// the earlier layers of the same block already quantized (the official pipeline).
    public var calibrationNeeds: CalibrationNeeds { .trueSequential(fullPrecisionInputs: gptaq) }

    public init(parameters: [String: String] = [:]) throws {
        var p = QuantizationParameters(method: "pt2llm", parameters)
        blockSize = try p.int("group", default: 128, in: 2...1 << 20)
        itf = try p.flag("itf", default: true)
        aga = try p.flag("aga", default: true)
        ssr = try p.flag("ssr", default: true)
        intraBlock = try p.choice("intra_block", default: "once", allowed: ["once", "propagate", "fixed"])
        gptaq = try p.flag("gptaq", default: true)
        gptaqAlpha = try p.double("gptaq_alpha", default: 0.25, in: 0...10)
        ssrTopKOrder = try p.choice("ssr_order", default: "topk", allowed: ["topk", "original"]) == "topk"
        ssrSkip = try p.choice("ssr_skip", default: "down", allowed: ["down", "none"]) == "down" ? ["ffn_down"] : []
        maxRounds = try p.int("itf_max_rounds", default: 100, in: 1...10_000)
        dampening = try p.double("damp", default: 0.01, in: 0...10)
        try p.finish()
        resolvedParameters = p.resolved
    }

    private init(_ o: PT2LLMQuantizer, ssr: Bool) {
        blockSize = o.blockSize; itf = o.itf; aga = o.aga; self.ssr = ssr; intraBlock = o.intraBlock
        gptaq = o.gptaq; gptaqAlpha = o.gptaqAlpha; ssrTopKOrder = o.ssrTopKOrder; ssrSkip = o.ssrSkip
        maxRounds = o.maxRounds; dampening = o.dampening; resolvedParameters = o.resolvedParameters
    }

    /// The quantizer for the model tensor `name` (`blk.3.ffn_down.weight`): SSR off where skipped.
    public func adapted(forLayer name: String) -> any Quantizer {
        ssr && ssrSkip.contains(where: { name.contains($0) }) ? PT2LLMQuantizer(self, ssr: false) : self
    }

    public var stages: [String] {
        ["init"] + (itf ? ["itf"] : []) + (aga ? ["aga"] : []) + (ssr ? ["ssr"] : [])
    }

    public func fit(_ w: Matrix, calibration: Calibration?) throws -> QuantizerOutput {
        guard let cal = calibration else { throw QuantizationError.calibrationRequired(method: methodName) }
        var state = PT2LLMBlockState(rows: w.rows, cols: w.cols, blockSize: blockSize, itf: itf, aga: aga,
                                     fixedWithinBlock: intraBlock != "propagate", maxRounds: maxRounds)
        var loop = GPTQBlockLoop(blockSize: blockSize, dampening: dampening,
                                 order: ssr ? .structuralSimilarity : .sequential)
        loop.topKOrder = ssrTopKOrder
        loop.intraBlock = intraBlock == "once" ? .fitOnce : .columnwise
        // Without a full-precision stream (one matrix and its activations) the cross term is 0.
        if gptaq, let cross = cal.asymmetricCross { loop.asymmetric = (gptaqAlpha, cross) }
        let (_, perm) = try loop.run(w, calibration: cal, quantizer: &state, method: methodName)
        let isIdentity = perm.enumerated().allSatisfy { $0.offset == $0.element }
        let layer = try TernaryWeights(rows: w.rows, cols: w.cols, groupSize: blockSize, planes: [state.trits],
                                       scales: [state.alphas], offsets: state.mus,
                                       permutation: isIdentity ? nil : perm.map { Int32($0) })
        var details = QuantizationDetails()
        details.stages = stages + (loop.asymmetric != nil ? ["gptaq"] : [])
        if itf {
            details.itfRounds = state.roundsMax
            details.itfMeanRounds = Double(state.roundsSum) / Double(max(state.roundsCount, 1))
        }
        return QuantizerOutput(layer: .ternary(layer), details: details)
    }
}

/// PT²-LLM's per-block fit and per-column rounding inside `GPTQBlockLoop`.
struct PT2LLMBlockState: GPTQBlockQuantizer {
    let rows: Int, cols: Int, blockSize: Int
    let itf: Bool, aga: Bool, fixedWithinBlock: Bool, maxRounds: Int
    /// Outputs, in working column order.
    var trits: [Int8]
    var alphas: [Float]
    var mus: [Float]
    var roundsMax = 0, roundsSum = 0, roundsCount = 0
    /// The current block's per-row grid, rounding threshold and fitted trits.
    private var alpha: [Float], mu: [Float], threshold: [Float]
    private var blockTrits: [Int8] = []
    private var width = 0

    init(rows: Int, cols: Int, blockSize: Int, itf: Bool, aga: Bool, fixedWithinBlock: Bool, maxRounds: Int) {
        self.rows = rows; self.cols = cols; self.blockSize = blockSize
        self.itf = itf; self.aga = aga; self.fixedWithinBlock = fixedWithinBlock; self.maxRounds = maxRounds
        let ng = (cols + blockSize - 1) / blockSize
        trits = [Int8](repeating: 0, count: rows * cols)
        alphas = [Float](repeating: 0, count: rows * ng)
        mus = [Float](repeating: 0, count: rows * ng)
        alpha = [Float](repeating: 0, count: rows)
        mu = alpha; threshold = alpha
    }

    mutating func beginBlock(index: Int, start: Int, weights: Matrix, secondMoment: [Double]) throws {
        let m = weights.cols
        width = m
        blockTrits = [Int8](repeating: 0, count: rows * m)
        var grids = [AsymmetricTernaryFit.Grid](repeating: .init(alpha: 0, mu: 0), count: rows)
        var deltas = [Double](repeating: 0, count: rows)
        var rounds = [Int](repeating: 0, count: rows)
        let (doITF, maxR) = (itf, maxRounds)
        let chunk = 64
        weights.values.withUnsafeBufferPointer { pw in
            blockTrits.withUnsafeMutableBufferPointer { pt in
                grids.withUnsafeMutableBufferPointer { pg in
                    deltas.withUnsafeMutableBufferPointer { pd in
                        rounds.withUnsafeMutableBufferPointer { pr in
                            DispatchQueue.concurrentPerform(iterations: (rows + chunk - 1) / chunk) { c in
                                for i in (c * chunk)..<min(rows, (c + 1) * chunk) {
                                    let w = UnsafeBufferPointer(rebasing: pw[(i * m)..<((i + 1) * m)])
                                    let t = UnsafeMutableBufferPointer(rebasing: pt[(i * m)..<((i + 1) * m)])
                                    let (g0, delta) = AsymmetricTernaryFit.initialize(w, trits: t)
                                    pg[i] = g0; pd[i] = delta
                                    if doITF {
                                        let (g, r) = AsymmetricTernaryFit.iterate(w, trits: t, from: g0, maxRounds: maxR)
                                        pg[i] = g; pr[i] = r
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if aga { AsymmetricTernaryFit.align(weights: weights, trits: blockTrits, secondMoment: secondMoment, grids: &grids) }
        let ng = (cols + blockSize - 1) / blockSize
        let g = start / blockSize
        for i in 0..<rows {
            alpha[i] = Float(Float16(grids[i].alpha))
            mu[i] = Float(Float16(grids[i].mu))
            threshold[i] = (itf || aga) ? abs(alpha[i]) / 2 : Float(deltas[i])
            alphas[i * ng + g] = alpha[i]
            mus[i * ng + g] = mu[i]
            if itf { roundsMax = max(roundsMax, rounds[i]); roundsSum += rounds[i]; roundsCount += 1 }
        }
    }

    mutating func quantizeColumn(_ k: Int, start: Int, values: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<rows {
            let t: Int8
            if fixedWithinBlock {
                t = blockTrits[i * width + k]
            } else {
                let r = values[i] - mu[i]
                t = abs(r) > threshold[i] ? ((r >= 0) == (alpha[i] >= 0) ? 1 : -1) : 0
            }
            trits[i * cols + start + k] = t
            values[i] = alpha[i] * Float(t) + mu[i]
        }
    }
}
