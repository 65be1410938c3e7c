import Foundation

/// How the forward pass sees a linear layer's latent Float32 weights W, and how the gradient of
/// the loss with respect to what it saw (dŴ, and dc for a bias) reaches W.
///
/// The ternary forms share absmean per (row, `groupSize`-column group), as Tequila and BitNet
/// b1.58 use: s = mean|w|, t = +1 for w ≥ s/2, −1 for w ≤ −s/2, else 0 (the deadzone D),
/// Q(W) = s t. Every form passes dŴ to W unchanged (the straight-through estimator); they differ
/// in what the deadzone weights contribute:
/// - `float`: no quantization (the reference and the gradient checks' exact path);
/// - `absmean`: nothing (plain STE, λ = 0: BitNet-style QAT, the paper's baseline);
/// - `reactivation(λ)`: "minima reactivation", the intermediate of the paper's Figure 2: each
///   deadzone weight is used as λ·w (a small value of its own sign, ±ε with ε = λ|w|; the
///   paper's exact ε is UNVERIFIED), an input-dependent term the forward computes online, and
///   whose exact gradient λ·dŴ adds to the STE one;
/// - `tequila(λ)`: Tequila: the deadzone weights become a per-output bias c_i = λ Σ_{j ∈ D_i} W_ij,
///   independent of the input (so inference folds it: one add per output), and each deadzone
///   weight receives λ·∂L/∂c_i besides its STE gradient.
public enum TernaryTraining: Equatable, Sendable, Codable {
    case float
    case absmean
    case reactivation(lambda: Double)
    case tequila(lambda: Double)

    public var name: String {
        switch self {
        case .float: return "float"
        case .absmean: return "absmean-ste"
        case .reactivation: return "minima-reactivation"
        case .tequila: return "tequila"
        }
    }

    public var lambda: Double {
        switch self { case .float, .absmean: return 0; case let .reactivation(l), let .tequila(l): return l }
    }
}

/// One layer's forward weights under a `TernaryTraining` form.
struct EffectiveWeights<S: TrainScalar> {
    /// Ŵ (rows × cols).
    var weights: [S]
    /// Tequila's bias c (rows), else nil.
    var bias: [S]?
    /// The deadzone (true where a weight is in it); empty for `float`.
    var deadzone: [Bool]

    init(latent w: [S], rows: Int, cols: Int, groupSize: Int, form: TernaryTraining, threads: Int = 1) {
        guard form != .float else { weights = w; bias = nil; deadzone = []; return }
        let lambda = S(form.lambda)
        var q = [S](repeating: 0, count: w.count)
        var dz = [Bool](repeating: false, count: w.count)
        var c = [S](repeating: 0, count: rows)
        let tequila: Bool = { if case .tequila = form { return true }; return false }()
        let reactivation: Bool = { if case .reactivation = form { return true }; return false }()
        let g = min(groupSize, cols)
        w.withUnsafeBufferPointer { pw in q.withUnsafeMutableBufferPointer { pq in dz.withUnsafeMutableBufferPointer { pd in
        c.withUnsafeMutableBufferPointer { pc in
            let (pw, pq, pd, pc) = (pw.baseAddress!, pq.baseAddress!, pd.baseAddress!, pc.baseAddress!)
            // Branch-free selects in the inner loop: a ternary weight's sign is a coin flip for
            // the branch predictor, and this runs over every weight each step. The sums keep
            // the order of the plain loop, so Ŵ and c are the same to the bit.
            func rowsOf(_ range: Range<Int>) {
                for i in range {
                    let base = i * cols
                    var ci: S = 0
                    for g0 in stride(from: 0, to: cols, by: g) {
                        let g1 = min(g0 + g, cols)
                        var s: S = 0
                        for j in g0..<g1 { s += abs(pw[base + j]) }
                        s /= S(g1 - g0)
                        guard s > 0 else {
                            for j in g0..<g1 { pd[base + j] = true; if reactivation { pq[base + j] = lambda * pw[base + j] } }
                            if tequila { for j in g0..<g1 { ci += lambda * pw[base + j] } }
                            continue
                        }
                        let delta = s / 2
                        for j in g0..<g1 {
                            let v = pw[base + j]
                            let positive = v >= delta, negative = v <= -delta
                            let dead = !(positive || negative)
                            let rest: S = reactivation ? lambda * v : 0
                            pq[base + j] = positive ? s : (negative ? -s : rest)
                            pd[base + j] = dead
                            if tequila { ci += dead ? lambda * v : 0 }
                        }
                    }
                    pc[i] = ci
                }
            }
            let chunks = threads > 1 && rows * cols >= 1 << 16 ? threads * 4 : 1
            if chunks == 1 { rowsOf(0..<rows) } else {
                DispatchQueue.concurrentPerform(iterations: chunks) { k in rowsOf((rows * k / chunks)..<(rows * (k + 1) / chunks)) }
            }
        } } } }
        weights = q; bias = tequila ? c : nil; deadzone = dz
    }

    /// dW from dŴ and (Tequila) dc: STE everywhere, plus λ dŴ on reactivated deadzone weights
    /// (their exact derivative) or λ dc_i on Tequila's.
    func latentGradient(_ dw: [S], biasGradient dc: [S]?, cols: Int, form: TernaryTraining) -> [S] {
        var out = dw
        addDeadzoneGradient(to: &out, biasGradient: dc, cols: cols, form: form)
        return out
    }

    /// In place: `g` holds this layer's dŴ (the STE gradient) and gains the deadzone term.
    func addDeadzoneGradient(to g: inout [S], biasGradient dc: [S]?, cols: Int, form: TernaryTraining) {
        guard !deadzone.isEmpty, form.lambda != 0 else { return }
        let lambda = S(form.lambda)
        for i in g.indices where deadzone[i] {
            switch form {
            case .reactivation: g[i] += lambda * g[i]
            case .tequila: g[i] += lambda * dc![i / cols]
            case .float, .absmean: break
            }
        }
    }

    /// Fraction of weights in the deadzone (the "trapping" the paper measures).
    var deadzoneFraction: Double { deadzone.isEmpty ? 0 : Double(deadzone.filter { $0 }.count) / Double(deadzone.count) }
}
