import Foundation
import TritCore
import TritKernels

/// PTQTP (arXiv 2509.16989): two trit planes with their own scale per (row, group),
/// W[i, g] ≈ a1 T1 + a2 T2 — weight-only, no calibration.
///
/// Per (row, group) of G weights: T1 = T2 = sign(w) (sign(0) := +1), a = (1, 1); then repeat
/// (1) scale step: solve the 2×2 ridge system (SᵀS + λI) a = Sᵀw with S = [T1 T2];
/// (2) trit step: each element takes the best of the 9 pairs (t1, t2) ∈ {−1,0,1}²;
/// until max|a_t − a_{t−1}| < ε or T_max iterations. The λ rule is UNVERIFIED in the paper;
/// the reading used here (parameters `lambda0`, `lambda_growth`, `cond_max`, `lambda_max`): start at
/// λ0 = 1e-8 and multiply by 10 while cond(SᵀS + λI) > 1e6, capped at 1. After the loop the
/// scales are rounded to fp16 (as stored) and the trits re-picked for the rounded scales,
/// which can only lower the error for the stored scales.
public struct PTQTPQuantizer: Quantizer {
    public let methodName = "ptqtp"
    public let groupSize: Int
    public let epsilon: Double
    public let maxIterations: Int
    public let lambda0: Double, lambdaGrowth: Double, conditionMax: Double, lambdaMax: Double
    public let resolvedParameters: [String: String]
    public var requiresCalibration: Bool { false }

    public init(parameters: [String: String] = [:]) throws {
        var p = QuantizationParameters(method: "ptqtp", parameters)
        groupSize = try p.int("group", default: 128, in: 1...1 << 20)
        epsilon = try p.double("eps", default: 1e-4, in: 0...1)
        maxIterations = try p.int("max_iter", default: 50, in: 1...100_000)
        lambda0 = try p.double("lambda0", default: 1e-8, in: 1e-30...1)
        lambdaGrowth = try p.double("lambda_growth", default: 10, in: 1.000001...1e6)
        conditionMax = try p.double("cond_max", default: 1e6, in: 1...1e300)
        lambdaMax = try p.double("lambda_max", default: 1, in: 0...1e6)
        try p.finish()
        resolvedParameters = p.resolved
    }

    /// The fit of one group: scales, iteration count and the objective ‖w − a1T1 − a2T2‖²
    /// after each iteration (before fp16 rounding).
    struct GroupFit {
        var a1: Float, a2: Float
        var iterations: Int
        var objectives: [Double]
    }

    /// The ridge parameter for a 2×2 Gram matrix [[p, q], [q, r]] by the escalation rule.
    func ridge(_ p: Double, _ q: Double, _ r: Double) -> Double {
        var lambda = lambda0
        while lambda < lambdaMax {
            let tr = p + r + 2 * lambda
            let disc = ((p - r) * (p - r) + 4 * q * q).squareRoot()
            let hi = (tr + disc) / 2, lo = (tr - disc) / 2
            if lo > 0 && hi / lo <= conditionMax { break }
            lambda = min(lambda * lambdaGrowth, lambdaMax)
        }
        return min(lambda, lambdaMax)
    }

    /// Trit step: the best (t1, t2) for every element given (a1, a2). Returns the objective.
    @inline(__always)
    static func pickTrits(_ w: UnsafeBufferPointer<Float>, _ a1: Float, _ a2: Float,
                          _ t1: UnsafeMutableBufferPointer<Int8>, _ t2: UnsafeMutableBufferPointer<Int8>) -> Double {
        var obj = 0.0
        for k in 0..<w.count {
            let x = w[k]
            var best = Float.infinity, b1: Int8 = 0, b2: Int8 = 0
            for c1: Int8 in -1...1 {
                let r1 = x - a1 * Float(c1)
                for c2: Int8 in -1...1 {
                    let e = abs(r1 - a2 * Float(c2))
                    if e < best { best = e; b1 = c1; b2 = c2 }
                }
            }
            t1[k] = b1; t2[k] = b2
            obj += Double(best) * Double(best)
        }
        return obj
    }

    func fitGroup(_ w: UnsafeBufferPointer<Float>, _ t1: UnsafeMutableBufferPointer<Int8>,
                  _ t2: UnsafeMutableBufferPointer<Int8>, recordObjectives: Bool) -> GroupFit {
        for k in 0..<w.count { let s: Int8 = w[k] >= 0 ? 1 : -1; t1[k] = s; t2[k] = s }
        var a1 = 1.0, a2 = 1.0
        var objectives: [Double] = []
        var it = 0
        while it < maxIterations {
            var p = 0.0, q = 0.0, r = 0.0, b1 = 0.0, b2 = 0.0
            for k in 0..<w.count {
                let x = Double(t1[k]), y = Double(t2[k]), v = Double(w[k])
                p += x * x; q += x * y; r += y * y; b1 += x * v; b2 += y * v
            }
            let lambda = ridge(p, q, r)
            let det = (p + lambda) * (r + lambda) - q * q
            let n1 = det != 0 ? ((r + lambda) * b1 - q * b2) / det : a1
            let n2 = det != 0 ? ((p + lambda) * b2 - q * b1) / det : a2
            let change = max(abs(n1 - a1), abs(n2 - a2))
            a1 = n1; a2 = n2
            let obj = Self.pickTrits(w, Float(a1), Float(a2), t1, t2)
            if recordObjectives { objectives.append(obj) }
            it += 1
            if change < epsilon { break }
        }
        let h1 = Float(Float16(Float(a1))), h2 = Float(Float16(Float(a2)))
        _ = Self.pickTrits(w, h1, h2, t1, t2)
        return GroupFit(a1: h1, a2: h2, iterations: it, objectives: objectives)
    }

    /// Fits every (row, group), rows in parallel. `objectiveHistory` (when requested) is the
    /// total objective over all groups after each iteration, a group that stopped early
    /// contributing its last value.
    func fitAll(_ w: Matrix, recordObjectives: Bool) throws -> (layer: TernaryWeights, maxIterations: Int, meanIterations: Double, objectiveHistory: [Double]) {
        let n = w.rows, d = w.cols, g = min(groupSize, d)
        let ng = (d + g - 1) / g
        var t1 = [Int8](repeating: 0, count: n * d), t2 = t1
        var s1 = [Float](repeating: 0, count: n * ng), s2 = s1
        var iters = [Int](repeating: 0, count: n * ng)
        var histories = [[Double]](repeating: [], count: recordObjectives ? n * ng : 0)
        w.values.withUnsafeBufferPointer { pw in
            t1.withUnsafeMutableBufferPointer { p1 in
                t2.withUnsafeMutableBufferPointer { p2 in
                    s1.withUnsafeMutableBufferPointer { ps1 in
                        s2.withUnsafeMutableBufferPointer { ps2 in
                            iters.withUnsafeMutableBufferPointer { pi in
                                histories.withUnsafeMutableBufferPointer { ph in
                                    DispatchQueue.concurrentPerform(iterations: n) { i in
                                        for gi in 0..<ng {
                                            let lo = i * d + gi * g, hi = min(lo + g, (i + 1) * d)
                                            let fit = fitGroup(UnsafeBufferPointer(rebasing: pw[lo..<hi]),
                                                               UnsafeMutableBufferPointer(rebasing: p1[lo..<hi]),
                                                               UnsafeMutableBufferPointer(rebasing: p2[lo..<hi]),
                                                               recordObjectives: recordObjectives)
                                            ps1[i * ng + gi] = fit.a1; ps2[i * ng + gi] = fit.a2
                                            pi[i * ng + gi] = fit.iterations
                                            if recordObjectives { ph[i * ng + gi] = fit.objectives }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var history: [Double] = []
        if recordObjectives {
            let len = histories.map(\.count).max() ?? 0
            history = [Double](repeating: 0, count: len)
            for h in histories where !h.isEmpty { for k in 0..<len { history[k] += h[min(k, h.count - 1)] } }
        }
        let layer = try TernaryWeights(rows: n, cols: d, groupSize: g, planes: [t1, t2], scales: [s1, s2])
        return (layer, iters.max() ?? 0, Double(iters.reduce(0, +)) / Double(max(iters.count, 1)), history)
    }

    public func fit(_ w: Matrix, calibration: Calibration?) throws -> QuantizerOutput {
        let r = try fitAll(w, recordObjectives: false)
        var details = QuantizationDetails()
        details.ptqtpIterations = r.maxIterations
        details.ptqtpMeanIterations = r.meanIterations
        return QuantizerOutput(layer: .ternary(r.layer), details: details)
    }
}
