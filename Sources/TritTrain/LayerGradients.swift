import Foundation
import TritCore

/// Deliberate mistakes in a backward formula, for the test that shows the gradient check
/// catches a broken implementation (never set outside tests).
enum BackwardFault: Sendable {
    case none
    /// RMSNorm's input gradient without the term through the normalising factor.
    case rmsNormWithoutScaleTerm
    /// SiLU's derivative taken as σ(x) (the product rule's second term dropped).
    case siluDerivativeWithoutProductTerm
    /// The softmax Jacobian without the row-sum correction.
    case softmaxWithoutRowCorrection
}

/// RMSNorm: y = x · r · g with r = (mean(x²) + ε)^(−1/2), per token.
enum RMSNormMath {
    /// y and each token's r.
    static func forward<S: TrainScalar>(_ x: [S], gain g: [S], tokens t: Int, epsilon: S) -> (y: [S], r: [S]) {
        let n = g.count
        var y = [S](repeating: 0, count: x.count), r = [S](repeating: 0, count: t)
        for i in 0..<t {
            var ss: S = 0
            for j in 0..<n { ss += x[i * n + j] * x[i * n + j] }
            let ri = 1 / S.squareRoot(ss / S(n) + epsilon)
            r[i] = ri
            for j in 0..<n { y[i * n + j] = x[i * n + j] * ri * g[j] }
        }
        return (y, r)
    }

    /// dx_j = r g_j dy_j − x_j r³ / n · Σ_k dy_k g_k x_k, added to `dx`; dg_j += Σ_t dy_j x_j r.
    static func backward<S: TrainScalar>(_ dy: [S], x: [S], r: [S], gain g: [S], tokens t: Int,
                                         dx: inout [S], dg: inout [S], fault: BackwardFault) {
        let n = g.count
        for i in 0..<t {
            let ri = r[i]
            var dot: S = 0
            for k in 0..<n { dot += dy[i * n + k] * g[k] * x[i * n + k] }
            let c = fault == .rmsNormWithoutScaleTerm ? 0 : ri * ri * ri / S(n) * dot
            for j in 0..<n {
                dx[i * n + j] += ri * g[j] * dy[i * n + j] - x[i * n + j] * c
                dg[j] += dy[i * n + j] * x[i * n + j] * ri
            }
        }
    }
}

/// Rotary position embedding on adjacent pairs (as the model and llama.cpp apply it to GGUF
/// Llama files): (x₀, x₁) → (x₀ c − x₁ s, x₀ s + x₁ c) with angle p · base^(−2i/d).
struct RotaryTable<S: TrainScalar> {
    let headDimension: Int
    /// cos then sin per (position, pair).
    let cosines: [S], sines: [S]

    init(headDimension d: Int, base: Float, positions: Int) {
        headDimension = d
        var c = [S](repeating: 0, count: positions * d / 2), s = c
        for p in 0..<positions {
            for i in 0..<(d / 2) {
                let a = Double(p) * pow(Double(base), -2 * Double(i) / Double(d))
                c[p * d / 2 + i] = S.cosine(a); s[p * d / 2 + i] = S.sine(a)
            }
        }
        cosines = c; sines = s
    }

    /// Rotates every head of every token in place; token k of a sequence sits at position k.
    /// `inverse` rotates by −angle: the backward of the rotation.
    func apply(_ x: inout [S], tokens t: Int, sequenceLength: Int, heads: Int, inverse: Bool = false) {
        let d = headDimension, half = d / 2, stride = heads * d
        for i in 0..<t {
            let p = i % sequenceLength
            for h in 0..<heads {
                let base = i * stride + h * d
                for k in 0..<half {
                    let c = cosines[p * half + k], s = inverse ? -sines[p * half + k] : sines[p * half + k]
                    let x0 = x[base + 2 * k], x1 = x[base + 2 * k + 1]
                    x[base + 2 * k] = x0 * c - x1 * s
                    x[base + 2 * k + 1] = x0 * s + x1 * c
                }
            }
        }
    }
}

/// SwiGLU's gate: a = silu(g) ⊙ u, silu(x) = x σ(x).
enum SwiGLUMath {
    static func sigmoid<S: TrainScalar>(_ x: S) -> S { 1 / (1 + S.exponential(-x)) }

    static func forward<S: TrainScalar>(gate g: [S], up u: [S]) -> [S] {
        var a = [S](repeating: 0, count: g.count)
        for i in a.indices { a[i] = g[i] * sigmoid(g[i]) * u[i] }
        return a
    }

    /// dg = da ⊙ u ⊙ silu'(g) with silu'(x) = σ(x)(1 + x(1 − σ(x))); du = da ⊙ silu(g).
    static func backward<S: TrainScalar>(_ da: [S], gate g: [S], up u: [S], fault: BackwardFault) -> (dg: [S], du: [S]) {
        var dg = [S](repeating: 0, count: g.count), du = dg
        for i in dg.indices {
            let s = sigmoid(g[i])
            let derivative = fault == .siluDerivativeWithoutProductTerm ? s : s * (1 + g[i] * (1 - s))
            dg[i] = da[i] * u[i] * derivative
            du[i] = da[i] * g[i] * s
        }
        return (dg, du)
    }
}

/// Grouped-query causal self-attention over a batch of sequences of equal length.
///
/// Each (sequence, KV head) is independent work (its query heads write their own columns and
/// their shared K/V gradients): the pairs run on `threads` threads with single-threaded BLAS
/// inside, since the products are small (T × T × d) and OpenBLAS's own threads would only wait.
struct AttentionMath<S: TrainScalar> {
    let heads: Int, kvHeads: Int, headDimension: Int, sequenceLength: Int
    var threads = 1

    init(heads: Int, kvHeads: Int, headDimension: Int, sequenceLength: Int, threads: Int = 1) {
        self.heads = heads; self.kvHeads = kvHeads; self.headDimension = headDimension
        self.sequenceLength = sequenceLength; self.threads = threads
    }

    var group: Int { heads / kvHeads }
    var scale: S { 1 / S.squareRoot(S(headDimension)) }

    /// Runs `body(sequence, kvHead)` for every pair, on up to `threads` threads.
    func forEachPair(sequences: Int, _ body: (Int, Int) -> Void) {
        let pairs = sequences * kvHeads
        guard threads > 1, pairs > 1 else {
            for i in 0..<pairs { body(i / kvHeads, i % kvHeads) }
            return
        }
        LinearAlgebra.withThreads(1) {
            DispatchQueue.concurrentPerform(iterations: pairs) { i in body(i / kvHeads, i % kvHeads) }
        }
    }

    /// O (tokens × heads·d) from rotated q (tokens × heads·d), k and v (tokens × kvHeads·d);
    /// the probabilities per (sequence, head), T × T with zeros above the diagonal.
    func forward(q: [S], k: [S], v: [S], sequences: Int) -> (out: [S], probabilities: [[S]]) {
        let d = headDimension, t = sequenceLength, qs = heads * d, ks = kvHeads * d, sc = scale
        var out = [S](repeating: 0, count: sequences * t * qs)
        var flat = [S](repeating: 0, count: sequences * heads * t * t)
        q.withUnsafeBufferPointer { pq in k.withUnsafeBufferPointer { pk in v.withUnsafeBufferPointer { pv in
        out.withUnsafeMutableBufferPointer { po in flat.withUnsafeMutableBufferPointer { pf in
            let (pq, pk, pv, po, pf) = (pq.baseAddress!, pk.baseAddress!, pv.baseAddress!, po.baseAddress!, pf.baseAddress!)
            forEachPair(sequences: sequences) { b, kh in
                for h in (kh * group)..<((kh + 1) * group) {
                    let p = pf + (b * heads + h) * t * t
                    S.gemm(false, true, t, t, d, sc, pq + b * t * qs + h * d, qs, pk + b * t * ks + kh * d, ks, 0, p, t)
                    for i in 0..<t {   // causal softmax over 0...i
                        var m = -S.infinity
                        for j in 0...i { m = max(m, p[i * t + j]) }
                        var sum: S = 0
                        for j in 0...i { let e = S.exponential(p[i * t + j] - m); p[i * t + j] = e; sum += e }
                        let inv = 1 / sum
                        for j in 0...i { p[i * t + j] *= inv }
                        for j in (i + 1)..<max(t, i + 1) { p[i * t + j] = 0 }
                    }
                    S.gemm(false, false, t, d, t, 1, p, t, pv + b * t * ks + kh * d, ks, 0, po + b * t * qs + h * d, qs)
                }
            }
        } } } } }
        let probabilities = (0..<(sequences * heads)).map { Array(flat[($0 * t * t)..<(($0 + 1) * t * t)]) }
        return (out, probabilities)
    }

    /// dq, dk, dv from dO: dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dq = dS K · scale,
    /// dk += dSᵀ Q · scale, dv += Pᵀ dO.
    func backward(_ dOut: [S], q: [S], k: [S], v: [S], probabilities: [[S]], sequences: Int,
                  fault: BackwardFault) -> (dq: [S], dk: [S], dv: [S]) {
        let d = headDimension, t = sequenceLength, qs = heads * d, ks = kvHeads * d, sc = scale
        var dq = [S](repeating: 0, count: q.count), dk = [S](repeating: 0, count: k.count), dv = dk
        var scratch = [S](repeating: 0, count: sequences * kvHeads * t * t)
        dOut.withUnsafeBufferPointer { po in q.withUnsafeBufferPointer { pq in k.withUnsafeBufferPointer { pk in
        v.withUnsafeBufferPointer { pv in dq.withUnsafeMutableBufferPointer { pdq in dk.withUnsafeMutableBufferPointer { pdk in
        dv.withUnsafeMutableBufferPointer { pdv in scratch.withUnsafeMutableBufferPointer { pscr in
            let (po, pq, pk, pv) = (po.baseAddress!, pq.baseAddress!, pk.baseAddress!, pv.baseAddress!)
            let (pdq, pdk, pdv, pscr) = (pdq.baseAddress!, pdk.baseAddress!, pdv.baseAddress!, pscr.baseAddress!)
            forEachPair(sequences: sequences) { b, kh in
                let dp = pscr + (b * kvHeads + kh) * t * t
                for h in (kh * group)..<((kh + 1) * group) {
                    probabilities[b * heads + h].withUnsafeBufferPointer { pp in
                        let p = pp.baseAddress!
                        S.gemm(false, true, t, t, d, 1, po + b * t * qs + h * d, qs, pv + b * t * ks + kh * d, ks, 0, dp, t)
                        for i in 0..<t {
                            var rowDot: S = 0
                            if fault != .softmaxWithoutRowCorrection { for j in 0...i { rowDot += dp[i * t + j] * p[i * t + j] } }
                            for j in 0...i { dp[i * t + j] = p[i * t + j] * (dp[i * t + j] - rowDot) }
                            for j in (i + 1)..<max(t, i + 1) { dp[i * t + j] = 0 }
                        }
                        // dp now holds dS.
                        S.gemm(false, false, t, d, t, sc, dp, t, pk + b * t * ks + kh * d, ks, 1, pdq + b * t * qs + h * d, qs)
                        S.gemm(true, false, t, d, t, sc, dp, t, pq + b * t * qs + h * d, qs, 1, pdk + b * t * ks + kh * d, ks)
                        S.gemm(true, false, t, d, t, 1, p, t, po + b * t * qs + h * d, qs, 1, pdv + b * t * ks + kh * d, ks)
                    }
                }
            }
        } } } } } } } }
        return (dq, dk, dv)
    }
}
