import Foundation
import TritCore
import TritModel

/// Floating-point work of one training token, counted from the model's shapes, so training speed
/// can be put beside what the machine's SGEMM does: the matrix products are nearly all the work.
public struct TrainingWork: Codable, Sendable, Equatable {
    /// Multiply-adds ×2 of the linear layers: forward (Ŵx), input gradient and weight gradient.
    public var linear: Double
    /// The tied LM head: logits forward and the hidden state's gradient (the embedding is frozen).
    public var head: Double
    /// Causal attention's score and value products, forward and backward (half the pairs).
    public var attention: Double
    /// A forward recomputed per block for its backward (0 when activations are kept).
    public var recomputed: Double

    public var perToken: Double { linear + head + attention + recomputed }

    public init(configuration c: LlamaConfiguration, sequenceLength: Int, keepActivations: Bool) {
        let linearWeights = Double(LlamaLinearName.allCases.reduce(0) { s, l in
            let (r, k) = LlamaParameters<Float>.shape(l, c); return s + r * k
        } * c.blockCount)
        let dim = Double(c.embeddingLength), blocks = Double(c.blockCount), t = Double(sequenceLength)
        linear = 6 * linearWeights
        head = 4 * Double(c.vocabularySize) * dim
        // Per token and block: scores and weighted values over (t + 1) / 2 earlier positions, each
        // 2·d flops forward; the backward does twice that (dP, dV; dQ, dK).
        let attentionForward = 2 * 2 * dim * (t + 1) / 2 * blocks
        attention = 3 * attentionForward
        recomputed = keepActivations ? 0 : 2 * linearWeights + attentionForward
    }
}

/// Single-precision GEMM throughput on this machine at the shape training runs most (tokens of a
/// step × the feed-forward width × the embedding width), on the same BLAS and threads: the
/// yardstick the training speed is quoted against, measured in the same run.
public struct SGEMMPeak: Codable, Sendable, Equatable {
    public var m: Int, n: Int, k: Int
    public var threads: Int
    /// Best of the repetitions, in GFLOP/s (the fastest run is the least disturbed one).
    public var gflops: Double
    public var repetitions: Int

    /// Runs C = A·Bᵀ at m × n × k for about `seconds` and keeps the fastest repetition.
    public static func measure(m: Int, n: Int, k: Int, threads: Int, seconds: Double = 1) -> SGEMMPeak {
        return LinearAlgebra.withThreads(threads) {
            var g = SeededGenerator(seed: 7)
            let a = (0..<(m * k)).map { _ in g.nextGaussian() }
            let b = (0..<(n * k)).map { _ in g.nextGaussian() }
            var c = [Float](repeating: 0, count: m * n)
            var best = Double.infinity, reps = 0
            let start = Date()
            repeat {
                let t0 = DispatchTime.now().uptimeNanoseconds
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                    Float.gemm(false, true, m, n, k, 1, pa.baseAddress!, k, pb.baseAddress!, k, 0, pc.baseAddress!, n)
                } } }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
                reps += 1
            } while Date().timeIntervalSince(start) < seconds || reps < 3
            return SGEMMPeak(m: m, n: n, k: k, threads: threads, gflops: 2 * Double(m * n * k) / best / 1e9, repetitions: reps)
        }
    }
}

/// Seconds of a training run by phase, to say where its time goes.
public struct TrainingPhases: Codable, Sendable, Equatable {
    /// The blocks' forward, with the weights' ternary forms (STE quantization).
    public var forward = 0.0
    /// Final norm, LM head, softmax cross-entropy and its gradient.
    public var head = 0.0
    /// The blocks' backward (and their recomputed forward when activations are not kept).
    public var backward = 0.0
    /// Gradient clipping and the Adam update.
    public var optimizer = 0.0

    public init() {}
    public var total: Double { forward + head + backward + optimizer }
}

/// Monotonic seconds since the last lap.
struct PhaseClock {
    private var last = DispatchTime.now().uptimeNanoseconds
    mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { last = now }
        return Double(now - last) * 1e-9
    }
}
