import Foundation
import TritKernels

/// Accuracy of one zero-shot task.
public struct TaskResult: Codable, Equatable, Sendable {
    public var task: String
    public var acc: Double
    public var accNorm: Double
    public var docs: Int
    /// Accuracy of a uniform random pick (mean of 1 / choices); nil in results written before.
    public var chance: Double?
    /// Per document in file order: "1" correct, "0" not (acc and acc_norm), for paired tests.
    public var outcomes: String?
    public var outcomesNorm: String?

    public init(task: String, acc: Double, accNorm: Double, docs: Int, chance: Double? = nil,
                outcomes: String? = nil, outcomesNorm: String? = nil) {
        self.task = task; self.acc = acc; self.accNorm = accNorm; self.docs = docs
        self.chance = chance; self.outcomes = outcomes; self.outcomesNorm = outcomesNorm
    }

    /// Per-document correctness (acc), when recorded.
    public var correct: [Bool]? { outcomes.map { $0.map { $0 == "1" } } }
}

/// One quantization method evaluated end to end (the reference model is method "reference").
public struct MethodResult: Codable, Equatable, Sendable {
    public var method: String
    /// How the method is shown; the untrained Tequila variant is never shown as "Tequila".
    public var label: String
    public var bitsPerWeight: Double?
    public var modelBytes: Int?
    /// Weight bytes the runtime held while it evaluated the method: every packed copy (a layer
    /// whose decode and prefill kernels use two formats holds both), the embedding and the norms;
    /// Float32 for methods run on dequantized weights. `modelBytes` is what storage at the
    /// method's bits per weight needs. nil where not measured (results written before).
    public var heldBytes: Int?
    public var ppl: Double?
    public var tokensScored: Int?
    /// Per perplexity window: summed negative log-likelihood and tokens scored (for its interval).
    public var pplWindowNLL: [Double]?
    public var pplWindowTokens: [Int]?
    public var tasks: [TaskResult]
    /// What the method's implementation follows, in one line (paper text, official code,
    /// released checkpoint, or "ours": an improvement shown beside the paper's method).
    public var follows: String?
    /// Intervals, chance-adjusted retention, paired tests and the collapse verdict
    /// (`AccuracyAnalysis`); nil before the analysis ran.
    public var statistics: MethodStatistics?
    /// For a method trained end to end: held-out perplexity and deadzone fraction against
    /// training tokens.
    public var learningCurve: [LearningCurvePoint]?
    public var quantizeSeconds: Double?
    public var prefillTokensPerSecond: Double?
    public var decodeTokensPerSecond: Double?
    /// Which layer implementation ran it ("packed ternary kernels", "Float32 BLAS", …).
    public var runtime: String
    public var notes: [String]

    public init(method: String, label: String, runtime: String) {
        self.method = method; self.label = label; self.runtime = runtime
        self.tasks = []; self.notes = []
    }

}

/// A result about one kernel problem: the problem and what was found on it. The JSON is flat,
/// the problem's fields beside the body's, as the result files have always been written.
@dynamicMemberLookup
public struct KernelProblemResult<Body: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
    public var problem: KernelProblem
    public var body: Body

    public init(problem: KernelProblem, _ body: Body) {
        self.problem = problem
        self.body = body
    }

    public init(from decoder: Decoder) throws {
        problem = try KernelProblem(from: decoder)
        body = try Body(from: decoder)
    }

    public func encode(to encoder: Encoder) throws {
        try problem.encode(to: encoder)
        try body.encode(to: encoder)
    }

    public subscript<T>(dynamicMember path: WritableKeyPath<KernelProblem, T>) -> T {
        get { problem[keyPath: path] }
        set { problem[keyPath: path] = newValue }
    }

    public subscript<T>(dynamicMember path: WritableKeyPath<Body, T>) -> T {
        get { body[keyPath: path] }
        set { body[keyPath: path] = newValue }
    }

    public var shape: String { problem.shape }
}

/// One kernel benchmark row (`tritbench kernels bench`, the run's kernel table).
public typealias KernelResult = KernelProblemResult<KernelMeasurement>

/// The tuning landscape of one problem: every configuration measured, for the heatmap.
public typealias TuningLandscape = KernelProblemResult<TuningSearch>

/// What a kernel benchmark measured on one problem.
public struct KernelMeasurement: Codable, Equatable, Sendable {
    public var samples: [Double]
    public var medianSeconds: Double
    public var ciLowSeconds: Double
    public var ciHighSeconds: Double
    public var gweightsPerSecond: Double
    public var gbytesPerSecond: Double
    /// Fraction of the measured DRAM (cold) or L2/L3 (warm) read bandwidth reached.
    public var rooflineFraction: Double?
    /// Per-call counter values of events that counted; absent events did not count.
    public var counters: [String: Double]
    /// cachegrind instruction count per call (simulated; deterministic).
    public var simulatedInstructions: Double?
    public var weightBytes: Int

    public init(samples: [Double], medianSeconds: Double, ciLowSeconds: Double, ciHighSeconds: Double,
                gweightsPerSecond: Double, gbytesPerSecond: Double, rooflineFraction: Double?,
                counters: [String: Double], simulatedInstructions: Double?, weightBytes: Int) {
        self.samples = samples; self.medianSeconds = medianSeconds
        self.ciLowSeconds = ciLowSeconds; self.ciHighSeconds = ciHighSeconds; self.gweightsPerSecond = gweightsPerSecond
        self.gbytesPerSecond = gbytesPerSecond; self.rooflineFraction = rooflineFraction; self.counters = counters
        self.simulatedInstructions = simulatedInstructions; self.weightBytes = weightBytes
    }
}

/// How one problem was tuned: every configuration measured, the best, and what it cost.
public struct TuningSearch: Codable, Equatable, Sendable {
    public struct Point: Codable, Equatable, Sendable {
        public var configuration: [String: Int]
        public var medianSeconds: Double?
        public var failed: Bool
        public init(configuration: [String: Int], medianSeconds: Double?, failed: Bool) {
            self.configuration = configuration; self.medianSeconds = medianSeconds; self.failed = failed
        }
    }
    public var strategy: String
    public var points: [Point]
    public var best: [String: Int]?
    public var bestMedianSeconds: Double?
    public var defaultMedianSeconds: Double?
    public var evaluations: Int
    public var seconds: Double

    public init(strategy: String, points: [Point], best: [String: Int]?, bestMedianSeconds: Double?,
                defaultMedianSeconds: Double?, evaluations: Int, seconds: Double) {
        self.strategy = strategy; self.points = points; self.best = best
        self.bestMedianSeconds = bestMedianSeconds; self.defaultMedianSeconds = defaultMedianSeconds
        self.evaluations = evaluations; self.seconds = seconds
    }
}

/// One point of a learning curve.
public struct LearningCurvePoint: Codable, Equatable, Sendable {
    public var tokens: Int
    /// Held-out perplexity of the model as it trains (its ternary forward).
    public var perplexity: Double
    /// Fraction of latent weights in the deadzone.
    public var deadzoneFraction: Double
    public init(tokens: Int, perplexity: Double, deadzoneFraction: Double) {
        self.tokens = tokens; self.perplexity = perplexity; self.deadzoneFraction = deadzoneFraction
    }
}
