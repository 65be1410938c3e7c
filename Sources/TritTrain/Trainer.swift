import Foundation
import TritCore
import TritKernels
import TritModel
import TritQuant
import CTritSupport

/// What one training run does. Codable: its hash names the checkpoint, so a rerun with the same
/// options continues where a killed one stopped, and any other options start afresh.
public struct TrainingOptions: Codable, Sendable, Equatable {
    public var form: TernaryTraining
    /// Training tokens (the budget): steps = tokens / (batch sequences × sequence length).
    public var tokens: Int
    public var sequenceLength = 256
    public var batchSequences = 4
    /// Peak learning rate of the warmup-stable-decay schedule (Tequila's: warm up over the first
    /// `warmupFraction` of the steps, hold, decay linearly to 0 over the last `decayFraction`).
    public var learningRate = 1e-3
    public var warmupFraction = 0.1
    public var decayFraction = 0.2
    public var beta1 = 0.9, beta2 = 0.95, epsilon = 1e-8
    /// Global gradient-norm clip.
    public var clipNorm = 1.0
    public var seed: UInt64 = 1
    public var groupSize = 128
    /// Held-out perplexity points on the learning curve (evenly spaced, the start included).
    public var curvePoints = 5
    /// Tokens of held-out text (BoolQ passages, the scored text, never trained on) per curve point.
    public var heldOutTokens = 1024
    /// OpenBLAS threads.
    public var threads = 2
    /// Keep every block's activations for the backward (≈1.3 GB at the default batch) rather
    /// than recompute each block's forward (a third more linear-layer work).
    public var keepActivations = true

    public init(form: TernaryTraining, tokens: Int) { self.form = form; self.tokens = tokens }

    public var tokensPerStep: Int { sequenceLength * batchSequences }
    public var steps: Int { max(1, tokens / tokensPerStep) }

    /// The learning rate at `step` (0-based) of `steps`.
    public func learningRate(at step: Int) -> Double {
        let s = Double(step), n = Double(steps)
        let warm = max(1, (warmupFraction * n).rounded()), decay = max(1, (decayFraction * n).rounded())
        if s < warm { return learningRate * (s + 1) / warm }
        if s >= n - decay { return learningRate * max(0, (n - s) / decay) }
        return learningRate
    }

    public func validate() throws {
        func bad(_ w: String) -> TrainingError { .badBatch(w) }
        guard tokens >= tokensPerStep else { throw bad("--tokens \(tokens) is less than one step (\(batchSequences) × \(sequenceLength))") }
        guard (2...4096).contains(sequenceLength) else { throw bad("sequence length \(sequenceLength) outside 2...4096") }
        guard (1...1024).contains(batchSequences) else { throw bad("batch of \(batchSequences) sequences outside 1...1024") }
        guard learningRate > 0, learningRate < 1 else { throw bad("learning rate \(learningRate) outside (0, 1)") }
        guard form.lambda >= 0, form.lambda < 1 else { throw bad("lambda \(form.lambda) outside [0, 1)") }
        guard (1...256).contains(threads) else { throw bad("threads \(threads) outside 1...256") }
    }
}

/// One point of the learning curve.
public struct CurvePoint: Codable, Equatable, Sendable {
    public var tokens: Int
    public var heldOutPerplexity: Double
    /// Fraction of latent weights in the deadzone (|w| < s/2 of their group).
    public var deadzoneFraction: Double
}

/// What a training run measured.
public struct TrainingReport: Codable, Sendable {
    public var options: TrainingOptions
    public var steps: Int
    public var tokensTrained: Int
    public var trainingSeconds: Double
    public var tokensPerSecond: Double
    /// Floating-point work per token, and what the run achieved against SGEMM on this machine,
    /// measured in the same run with the same threads.
    public var work: TrainingWork
    public var sgemmPeak: SGEMMPeak
    /// Seconds by phase of the steps this invocation ran (a resumed run's earlier steps are not in it).
    public var phases: TrainingPhases
    /// work.perToken × tokensPerSecond, and that over the SGEMM peak (stored, so the JSON has them).
    public var achievedGFLOPS = 0.0
    public var fractionOfPeak = 0.0
    /// Peak resident set size of the training process (getrusage), for the activation plan:
    /// kept activations or recomputed blocks (`options.keepActivations`).
    public var peakRSSBytes: Int?
    /// The training loss at every step (mean next-token cross-entropy of the batch).
    public var losses: [Double]
    public var curve: [CurvePoint]
    /// The step a killed run continued from, when it did.
    public var resumedAtStep: Int?
    /// The text trained on and the held-out text of the curve.
    public var trainingText: String
    public var heldOutText: String
}

/// Quantization-aware training of a Llama GGUF's linear layers: forward with the ternary form,
/// backward through the whole model to the latent Float32 weights (STE), next-token loss, Adam
/// with warmup-stable-decay and gradient clipping. The embedding (tied head) and the norms stay
/// frozen, as the packed model reads them from the source GGUF. Checkpoints are written
/// atomically every `checkpointSeconds`; a rerun with the same options continues from one.
public struct Trainer {
    public var options: TrainingOptions
    public var modelPath: String
    /// Where checkpoints go (a file per options hash).
    public var checkpointDirectory: String
    public var checkpointSeconds: Double = 180
    public var progress = true
    public var data = EvaluationData()

    public init(options: TrainingOptions, modelPath: String, checkpointDirectory: String) {
        self.options = options; self.modelPath = modelPath; self.checkpointDirectory = checkpointDirectory
    }

    /// The checkpoint file of these options and this model.
    public func checkpointPath(modelSHA256: String) throws -> String {
        var h = SHA256()
        h.update(Array(modelSHA256.utf8))
        h.update(Array(String(decoding: try JSONCoding.encode(options), as: UTF8.self).utf8))
        return checkpointDirectory + "/\(options.form.name)-" + h.finalize().prefix(8).map { String(format: "%02x", $0) }.joined() + ".ckpt"
    }

    /// A step allocates and frees its activations (up to tens of MB each); glibc hands blocks
    /// above its adaptive mmap threshold back to the kernel, and the next step then pays for
    /// fresh zeroed pages (`clear_page_erms` was 12% of a `perf record` of training). Pinning the
    /// threshold at glibc's maximum (32 MiB) and never trimming the heap keeps them for reuse.
    /// Process-wide and idempotent; it changes where memory comes from, not any result.
    static func reuseFreedActivations() {
        _ = tritbench_keep_freed_heap()
    }

    /// Trains and returns the report and the trained parameters.
    public func run() throws -> (report: TrainingReport, parameters: LlamaParameters<Float>) {
        try options.validate()
        Self.reuseFreedActivations()
        try CachePaths().requireFile(modelPath)
        let gguf = try GGUFFile(path: modelPath)
        let weights = try LlamaWeights(gguf: gguf)
        // The training forward and backward (LlamaTrainingPass) are Llama's block and nothing else.
        guard weights.configuration.architecture == .llama else {
            throw TrainingError.unsupported("the \(weights.configuration.architecture.name) architecture (training runs Llama's block only)")
        }
        let tokenizer = try makeTokenizer(gguf: gguf)
        var params = try LlamaParameters<Float>(weights: weights)
        let sha = try PackedModelFile.sha256(ofFile: modelPath)
        let ckptPath = try checkpointPath(modelSHA256: sha)
        let o = options
        // Text: LAMBADA passages (never scored by the default run), epochs as needed; held-out:
        // the BoolQ passages the perplexity is scored on.
        let sequenceTokens = o.sequenceLength + 1
        let available = try calibrationSequences(scored: .boolqPassages, tokenizer: tokenizer, count: 1 << 20,
                                                 length: sequenceTokens, data: data)
        let heldOut = Array(tokenizer.encode(try PerplexitySource.boolqPassages.text(data)).prefix(max(o.heldOutTokens, 2)))
        var state = try TrainingState.resume(path: ckptPath, parameters: params) ?? TrainingState(parameters: params)
        if state.step > 0 { params = state.parameters }
        let resumedAt = state.step > 0 ? state.step : nil
        if let r = resumedAt, progress { logNotice("[train] \(o.form.name): continuing from the checkpoint at step \(r) of \(o.steps) (\(ckptPath))") }
        var pass = LlamaTrainingPass<Float>(form: o.form, groupSize: o.groupSize)
        pass.threads = o.threads
        pass.keepActivations = o.keepActivations
        let work = TrainingWork(configuration: params.configuration, sequenceLength: o.sequenceLength,
                                keepActivations: o.keepActivations)
        let peak = SGEMMPeak.measure(m: o.tokensPerStep, n: params.configuration.feedForwardLength,
                                     k: params.configuration.embeddingLength, threads: o.threads)
        if progress { logNotice(String(format: "[train] SGEMM %d×%d×%d on %d thread(s): %.1f GFLOP/s (best of %d); training does %.2f GFLOP per token",
                                       peak.m, peak.n, peak.k, peak.threads, peak.gflops, peak.repetitions, work.perToken / 1e9)) }
        var phases = TrainingPhases()
        // One gradient buffer for the whole run, zeroed in place each step (fresh pages cost
        // the kernel a page clear per 4 KiB: 420 MB of them per step).
        var grads: LlamaGradients<Float>? = params.zeros()
        let curveSteps = Set((0..<o.curvePoints).map { $0 * o.steps / max(o.curvePoints - 1, 1) })
        var reporter = ProgressReporter("[train] \(o.form.name)", total: o.steps, enabled: progress, minInterval: 5)
        let started = Date()
        var lastCheckpoint = Date()
        var trainedSeconds = state.seconds
        return try LinearAlgebra.withThreads(o.threads) {
            for _ in 0..<state.step { reporter.advance() }
            while state.step < o.steps {
                if curveSteps.contains(state.step) && !state.curve.contains(where: { $0.tokens == state.step * o.tokensPerStep }) {
                    state.curve.append(try curvePoint(params, pass: pass, heldOut: heldOut, tokens: state.step * o.tokensPerStep))
                }
                let t0 = Date()
                // The step's sequences: a fixed shuffle per epoch, from the seed.
                let batch = (0..<o.batchSequences).map { i -> [Int32] in
                    let k = state.step * o.batchSequences + i
                    return available[Self.order(count: available.count, epoch: k / available.count, seed: o.seed)[k % available.count]]
                }
                grads!.zero()
                let loss = try pass.loss(params, batch: batch, gradients: &grads, phases: &phases)
                guard loss.isFinite else { throw TrainingError.nonFinite(step: state.step, what: "the loss") }
                var clock = PhaseClock()
                state.apply(grads!, to: &params, options: o)
                phases.optimizer += clock.lap()
                state.losses.append(loss)
                state.step += 1
                let dt = Date().timeIntervalSince(t0)
                trainedSeconds += dt
                state.seconds = trainedSeconds
                let tps = Double(state.step * o.tokensPerStep) / max(trainedSeconds, 1e-9)
                reporter.advance(detail: String(format: "step %d/%d loss %.3f, %.0f tokens/s (%.0f%% of SGEMM), lr %.2g", state.step, o.steps,
                                                loss, tps, 100 * tps * work.perToken / 1e9 / peak.gflops, o.learningRate(at: state.step - 1)))
                if Date().timeIntervalSince(lastCheckpoint) >= checkpointSeconds && state.step < o.steps {
                    state.parameters = params
                    try state.write(to: ckptPath)
                    lastCheckpoint = Date()
                }
            }
            if !state.curve.contains(where: { $0.tokens == o.steps * o.tokensPerStep }) {
                state.curve.append(try curvePoint(params, pass: pass, heldOut: heldOut, tokens: o.steps * o.tokensPerStep))
            }
            reporter.finish()
            state.parameters = params
            try state.write(to: ckptPath)   // the finished run: a rerun returns at once
            _ = started
            var report = TrainingReport(options: o, steps: o.steps, tokensTrained: o.steps * o.tokensPerStep, trainingSeconds: trainedSeconds,
                                        tokensPerSecond: Double(o.steps * o.tokensPerStep) / max(trainedSeconds, 1e-9),
                                        work: work, sgemmPeak: peak, phases: phases, losses: state.losses,
                                        curve: state.curve, resumedAtStep: resumedAt,
                                        trainingText: "LAMBADA passages (\(available.count) sequences of \(sequenceTokens) tokens)",
                                        heldOutText: "BoolQ passages, first \(heldOut.count) tokens")
            report.achievedGFLOPS = work.perToken * report.tokensPerSecond / 1e9
            report.fractionOfPeak = report.achievedGFLOPS / peak.gflops
            report.peakRSSBytes = MemoryReport.peakResidentSetBytes()
            return (report, params)
        }
    }

    /// Held-out perplexity of the model as it trains (the ternary forward, Float32), and the
    /// deadzone fraction of its latent weights.
    func curvePoint(_ p: LlamaParameters<Float>, pass: LlamaTrainingPass<Float>, heldOut: [Int32], tokens: Int) throws -> CurvePoint {
        let window = min(512, heldOut.count)
        var nll = 0.0, n = 0
        var start = 0
        while start + 2 <= heldOut.count {
            let end = min(start + window, heldOut.count)
            var none: LlamaGradients<Float>? = nil
            let chunk = Array(heldOut[start..<end])
            nll += try pass.loss(p, batch: [chunk], gradients: &none) * Double(chunk.count - 1)
            n += chunk.count - 1
            start = end
        }
        var dead = 0.0, count = 0.0
        if options.form != .float {
            for block in 0..<p.configuration.blockCount {
                for (i, w) in pass.effective(p, block).enumerated() {
                    let size = Double(p.linear[block][i].count)
                    dead += w.deadzoneFraction * size; count += size
                }
            }
        }
        return CurvePoint(tokens: tokens, heldOutPerplexity: exp(nll / Double(max(n, 1))), deadzoneFraction: count > 0 ? dead / count : 0)
    }

    /// A permutation of 0..<count for `epoch` (Fisher-Yates from the seed): every sequence once per epoch.
    static func order(count: Int, epoch: Int, seed: UInt64) -> [Int] {
        var g = SeededGenerator(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var a = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) { a.swapAt(i, Int(g.next() % UInt64(i + 1))) }
        return a
    }

    /// The trained layers as a packed model: absmean per (row, group) of the latent weights,
    /// with Tequila's folded bias (fp16 side data, as every packed layer).
    public static func packedModel(_ p: LlamaParameters<Float>, form: TernaryTraining, groupSize: Int,
                                   sourcePath: String, sourceSHA256: String, parameters: [String: String]) throws -> PackedModelFile {
        var tensors: [String: PackedTensor] = [:]
        let c = p.configuration
        for b in 0..<c.blockCount {
            for (i, l) in LlamaLinearName.allCases.enumerated() {
                let (rows, cols) = LlamaParameters<Float>.shape(l, c)
                let w = EffectiveWeights(latent: p.linear[b][i], rows: rows, cols: cols, groupSize: groupSize,
                                         form: form == .float ? .absmean : form)
                let g = min(groupSize, cols), ng = (cols + g - 1) / g
                var trits = [Int8](repeating: 0, count: rows * cols), scales = [Float](repeating: 0, count: rows * ng)
                for r in 0..<rows { for j in 0..<cols {
                    let v = w.deadzone[r * cols + j] ? 0 : w.weights[r * cols + j]
                    trits[r * cols + j] = v > 0 ? 1 : v < 0 ? -1 : 0
                    if v != 0 { scales[r * ng + j / g] = abs(v) }
                } }
                let bias: [Float]? = { if case .tequila = form { return w.bias }; return nil }()
                tensors[l.tensorName(block: b)] = .ternary(try TernaryWeights(rows: rows, cols: cols, groupSize: g, planes: [trits],
                                                                             scales: [scales], bias: bias).roundedToHalfPrecision())
            }
        }
        return PackedModelFile(method: form.name, parameters: parameters, sourceGGUFPath: sourcePath,
                               sourceGGUFSHA256: sourceSHA256, tensors: tensors)
    }
}

/// The optimizer state and progress of a run, written as a checkpoint: a JSON header line,
/// then the latent weights and Adam's two moments as raw little-endian Float32.
struct TrainingState {
    var step = 0
    var seconds = 0.0
    var losses: [Double] = []
    var curve: [CurvePoint] = []
    var parameters: LlamaParameters<Float>
    var m: [[[Float]]], v: [[[Float]]]

    init(parameters p: LlamaParameters<Float>) {
        parameters = p
        m = p.linear.map { $0.map { [Float](repeating: 0, count: $0.count) } }
        v = m
    }

    struct Header: Codable { var format = "tritbench.training-checkpoint.v1"; var step: Int; var seconds: Double; var losses: [Double]; var curve: [CurvePoint]; var floats: Int }

    /// One Adam step on the linear layers' latent weights after clipping the global gradient
    /// norm; layers are updated on `options.threads` threads (the update touches 4 × 420 MB).
    mutating func apply(_ g: LlamaGradients<Float>, to p: inout LlamaParameters<Float>, options o: TrainingOptions) {
        let layers = g.linear.indices.flatMap { b in g.linear[b].indices.map { (b, $0) } }
        var partial = [Double](repeating: 0, count: layers.count)
        partial.withUnsafeMutableBufferPointer { out in
            let out = out
            DispatchQueue.concurrentPerform(iterations: layers.count) { k in
                let (b, l) = layers[k]
                var s = 0.0
                g.linear[b][l].withUnsafeBufferPointer { for x in $0 { s += Double(x) * Double(x) } }
                out[k] = s
            }
        }
        let norm2 = partial.reduce(0, +)
        let clip = Float(min(1, o.clipNorm / max(norm2.squareRoot(), 1e-12)))
        let lr = o.learningRate(at: step), t = Double(step + 1)
        let b1 = Float(o.beta1), b2 = Float(o.beta2)
        let c1 = Float(1 - pow(o.beta1, t)), c2 = Float(1 - pow(o.beta2, t))
        let stepSize = Float(lr) / c1, eps = Float(o.epsilon)
        // Raw pointers per layer, so the layers can be updated in parallel (each touches its own).
        var pointers: [(w: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                        g: UnsafePointer<Float>, count: Int)] = []
        for (b, l) in layers {
            pointers.append((p.linear[b][l].withUnsafeMutableBufferPointer { $0.baseAddress! },
                             m[b][l].withUnsafeMutableBufferPointer { $0.baseAddress! },
                             v[b][l].withUnsafeMutableBufferPointer { $0.baseAddress! },
                             g.linear[b][l].withUnsafeBufferPointer { $0.baseAddress! }, g.linear[b][l].count))
        }
        let chunk = 1 << 16
        let work = pointers.flatMap { p in stride(from: 0, to: p.count, by: chunk).map { (p, $0) } }
        DispatchQueue.concurrentPerform(iterations: work.count) { k in
            let (q, start) = work[k]
            for i in start..<min(start + chunk, q.count) {
                let x = q.g[i] * clip
                q.m[i] = b1 * q.m[i] + (1 - b1) * x
                q.v[i] = b2 * q.v[i] + (1 - b2) * x * x
                q.w[i] -= stepSize * q.m[i] / ((q.v[i] / c2).squareRoot() + eps)
            }
        }
    }

    func write(to path: String) throws {
        let floats = parameters.linear.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } }
        // One line: a compact encoder (the header ends at the first newline).
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var header = try encoder.encode(Header(step: step, seconds: seconds, losses: losses, curve: curve, floats: floats))
        header.append(0x0A)
        try AtomicFile.write(to: path) { sink in
            try sink(header)
            for arrays in [parameters.linear, m, v] {
                for block in arrays { for layer in block { try layer.withUnsafeBytes { try sink(Data($0)) } } }
            }
        }
    }

    /// The state of `path` when it holds a checkpoint of these shapes; nil when there is none.
    static func resume(path: String, parameters p: LlamaParameters<Float>) throws -> TrainingState? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path), let nl = data.firstIndex(of: 0x0A) else {
            throw TrainingError.checkpoint(path: path, reason: "unreadable or without a header line")
        }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: data[..<nl]) } catch {
            throw TrainingError.checkpoint(path: path, reason: "header: \(error)")
        }
        let floats = p.linear.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } }
        guard header.floats == floats, data.count - (nl + 1) == 3 * floats * 4 else {
            throw TrainingError.checkpoint(path: path, reason: "holds \(header.floats) weights and \(data.count - nl - 1) bytes; this model has \(floats) weights (\(3 * floats * 4) bytes expected)")
        }
        var s = TrainingState(parameters: p)
        s.step = header.step; s.seconds = header.seconds; s.losses = header.losses; s.curve = header.curve
        var offset = nl + 1
        func read(into arrays: inout [[[Float]]]) {
            for b in arrays.indices { for l in arrays[b].indices {
                let n = arrays[b][l].count
                _ = arrays[b][l].withUnsafeMutableBytes { dst in data.copyBytes(to: dst, from: offset..<(offset + n * 4)) }
                offset += n * 4
            } }
        }
        read(into: &s.parameters.linear); read(into: &s.m); read(into: &s.v)
        return s
    }
}

extension PackedModelFile {
    /// Storage bits per weight of the file's ternary layers, counted as every method's are
    /// (`QuantizedLayer.storageBits`: base-3 trits and fp16 side data).
    public var bitsPerWeight: Double {
        var bits = 0.0, weights = 0
        for case let .ternary(t) in tensors.values {
            bits += QuantizedLayer.ternary(t).storageBits
            weights += t.rows * t.cols
        }
        return weights > 0 ? bits / Double(weights) : .nan
    }
}
