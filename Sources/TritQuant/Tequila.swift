import Foundation
import TritCore
import TritKernels

/// Tequila's quantizer with its deadzone bias (arXiv 2509.23809, methods.md §3), applied to
/// latent weights W: absmean per group (s = mean|w|, Δ = s/2, t = +1 if w ≥ Δ, −1 if w ≤ −Δ,
/// else 0, Q(w) = s t), deadzone D_i = { j : |W[i, j]| < Δ }, and the per-output bias
/// c_i = λ Σ_{j ∈ D_i} W[i, j]. The bias does not depend on x, so it is folded into
/// `TernaryWeights.bias` offline: y = Q(W) x + c.
struct DeadzoneTernary {
    let groupSize: Int
    let lambda: Double

    struct State {
        var trits: [Int8]
        var scales: [Float]
        var bias: [Float]
    }

    func quantize(_ w: Matrix) -> State {
        let g = min(groupSize, w.cols)
        let (trits, scales) = SymmetricTernaryRule.absmean.quantize(w, groupSize: g)
        var bias = [Float](repeating: 0, count: w.rows)
        for i in 0..<w.rows {
            var s = 0.0
            for j in 0..<w.cols where trits[i * w.cols + j] == 0 { s += Double(w.values[i * w.cols + j]) }
            bias[i] = Float(lambda * s)
        }
        return State(trits: trits, scales: scales, bias: bias)
    }

    /// Ŵ = Q(W) (rows × cols) from a state, without the bias.
    func dequantize(_ s: State, rows: Int, cols: Int, into out: inout [Float]) {
        let g = min(groupSize, cols)
        let ng = (cols + g - 1) / g
        for i in 0..<rows {
            for j in 0..<cols { out[i * cols + j] = s.scales[i * ng + j / g] * Float(s.trits[i * cols + j]) }
        }
    }

    func layer(_ s: State, rows: Int, cols: Int) throws -> TernaryWeights {
        try TernaryWeights(rows: rows, cols: cols, groupSize: min(groupSize, cols), planes: [s.trits],
                           scales: [s.scales], bias: s.bias).roundedToHalfPrecision()
    }

    /// The unfolded forward, straight from the definition: for every token, Q(W) x plus the
    /// deadzone weights' λ-weighted sum computed from the latent weights at that moment.
    /// A reference for checking the folded layer; tokens × cols in, tokens × rows out.
    func unfoldedForward(latent w: Matrix, inputs x: Matrix) -> Matrix {
        let g = min(groupSize, w.cols)
        var y = Matrix(rows: x.rows, cols: w.rows)
        for t in 0..<x.rows {
            for i in 0..<w.rows {
                var acc = 0.0, dead = 0.0
                for g0 in stride(from: 0, to: w.cols, by: g) {
                    let g1 = min(g0 + g, w.cols)
                    var s = 0.0
                    for j in g0..<g1 { s += Double(abs(w[i, j])) }
                    s /= Double(g1 - g0)
                    let delta = s / 2
                    for j in g0..<g1 {
                        let v = Double(w[i, j])
                        if s > 0 && v >= delta { acc += s * Double(x[t, j]) }
                        else if s > 0 && v <= -delta { acc -= s * Double(x[t, j]) }
                        else { dead += v }
                    }
                }
                y[t, i] = Float(acc + lambda * dead)
            }
        }
        return y
    }
}

/// Absmean with Tequila's deadzone bias: untrained ("tequila-untrained"), or with a per-layer
/// STE reconstruction ("deadzone-layerwise"; not Tequila's end-to-end training, TritTrain).
///
/// Untrained: the absmean quantizer of the pretrained weights plus the folded deadzone bias.
///
/// Trained: the paper's quantization-aware training scaled down to what fits two CPU cores —
/// per-layer output reconstruction on calibration activations. Latent weights start at W and
/// minimise L = mean over tokens ‖W x − (Q(W_lat) x + c(W_lat))‖², evaluated from H and m as
/// tr(E H Eᵀ) − 2 cᵀ E m + ‖c‖² with E = W − Q(W_lat), with Adam on the hand-derived gradient:
/// the straight-through gradient −2 (E H − c mᵀ) for every latent weight, plus for deadzone
/// weights the direct term λ · ∂L/∂c_i = λ · (−2 (E m − c))_i (the paper's λ · dL/dy_i summed
/// over tokens). Every step sees all calibration tokens. The latent weights with the lowest
/// loss seen are kept (UNVERIFIED choice: STE training is not monotone; the paper trains to the
/// end of a schedule). Learning rate and steps are parameters (`lr`, `steps`); Adam's β1, β2, ε
/// are 0.9, 0.999, 1e-8 (parameters `beta1`, `beta2`, `adam_eps`).
public struct TequilaQuantizer: Quantizer {
    public let trained: Bool
    public let groupSize: Int
    public let lambda: Double
    public let steps: Int
    public let learningRate: Double
    public let beta1: Double, beta2: Double, adamEpsilon: Double
    public let resolvedParameters: [String: String]
    public var methodName: String { trained ? "deadzone-layerwise" : "tequila-untrained" }
    public var requiresCalibration: Bool { trained }

    public init(trained: Bool, parameters: [String: String] = [:]) throws {
        self.trained = trained
        var p = QuantizationParameters(method: trained ? "deadzone-layerwise" : "tequila-untrained", parameters)
        groupSize = try p.int("group", default: 128, in: 1...1 << 20)
        lambda = try p.double("lambda", default: 1e-3, in: 0...1e3)
        if trained {
            // Defaults sized for a whole-model run on 2 cores (~17 s per SmolLM2 block, ~9 min in
            // all): on SmolLM2 block 0, 60 steps at the paper's lr 1e-3 reach lower output error
            // than 200 steps at 1e-4 (e.g. attn_q 0.602 vs 0.649) in under a third of the time.
            steps = try p.int("steps", default: 60, in: 1...1_000_000)
            learningRate = try p.double("lr", default: 1e-3, in: 1e-12...10)
            beta1 = try p.double("beta1", default: 0.9, in: 0...0.999999)
            beta2 = try p.double("beta2", default: 0.999, in: 0...0.999999999)
            adamEpsilon = try p.double("adam_eps", default: 1e-8, in: 1e-30...1)
        } else {
            steps = 0; learningRate = 0; beta1 = 0; beta2 = 0; adamEpsilon = 0
        }
        try p.finish()
        resolvedParameters = p.resolved
    }

    var deadzone: DeadzoneTernary { DeadzoneTernary(groupSize: groupSize, lambda: lambda) }

    public func fit(_ w: Matrix, calibration: Calibration?) throws -> QuantizerOutput {
        guard trained else {
            return QuantizerOutput(layer: .ternary(try deadzone.layer(deadzone.quantize(w), rows: w.rows, cols: w.cols)))
        }
        guard let cal = calibration else { throw QuantizationError.calibrationRequired(method: methodName) }
        let t = try train(w, calibration: cal)
        var details = QuantizationDetails()
        details.tequilaSteps = steps
        details.tequilaTokens = cal.tokens
        details.tequilaSeconds = t.seconds
        details.tequilaInitialLoss = t.losses.first
        details.tequilaFinalLoss = t.losses.min()
        return QuantizerOutput(layer: .ternary(try deadzone.layer(deadzone.quantize(t.latent), rows: w.rows, cols: w.cols)),
                               details: details)
    }

    /// Runs the training; returns the best latent weights and the loss before each step
    /// (losses[0] is the untrained quantizer's, losses[steps] the loss after the last step).
    func train(_ w: Matrix, calibration cal: Calibration) throws -> (latent: Matrix, losses: [Double], seconds: Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let n = w.rows, d = w.cols, count = n * d
        let dz = deadzone
        var latent = w
        var best = w
        var bestLoss = Double.infinity
        var losses: [Double] = []
        var m1 = [Float](repeating: 0, count: count), m2 = m1
        var what = [Float](repeating: 0, count: count), err = what, grad = what
        var biasGrad = [Float](repeating: 0, count: n)
        let (b1, b2, lr, eps, lam) = (Float(beta1), Float(beta2), Float(learningRate), Float(adamEpsilon), Float(lambda))
        var progress = ProgressReporter("tequila training", total: steps, enabled: count * steps > 50_000_000)
        for step in 0...steps {
            let state = dz.quantize(latent)
            dz.dequantize(state, rows: n, cols: d, into: &what)
            for k in 0..<count { err[k] = w.values[k] - what[k] }
            let loss = err.withUnsafeBufferPointer { pe in
                grad.withUnsafeMutableBufferPointer { pg in
                    biasGrad.withUnsafeMutableBufferPointer { pb in
                        cal.meanSquaredOutputError(error: pe, rows: n, bias: state.bias, gradient: pg, biasGradient: pb)
                    }
                }
            }
            guard loss.isFinite else {
                throw QuantizationError.numerical(method: methodName, reason: "training loss became non-finite at step \(step); lower lr")
            }
            losses.append(loss)
            if loss < bestLoss { bestLoss = loss; best = latent }
            if step == steps { break }
            // Adam with bias correction on the straight-through + deadzone gradient.
            let c1 = 1 - Float(pow(beta1, Double(step + 1))), c2 = 1 - Float(pow(beta2, Double(step + 1)))
            latent.values.withUnsafeMutableBufferPointer { pl in
                for i in 0..<n {
                    let deadTerm = lam * biasGrad[i]
                    for j in 0..<d {
                        let k = i * d + j
                        let g = grad[k] + (state.trits[k] == 0 ? deadTerm : 0)
                        m1[k] = b1 * m1[k] + (1 - b1) * g
                        m2[k] = b2 * m2[k] + (1 - b2) * g * g
                        pl[k] -= lr * (m1[k] / c1) / ((m2[k] / c2).squareRoot() + eps)
                    }
                }
            }
            progress.advance(detail: String(format: "loss %.4g", loss))
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (best, losses, seconds)
    }
}
