import Foundation

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

    /// Tasks that count towards averages and retention: WinoGrande is at chance for a model this
    /// small, so it is reported but left out (data.md).
    public static let excludedFromAverage: Set<String> = ["winogrande"]

    public var averageAccuracy: Double? {
        let t = tasks.filter { !Self.excludedFromAverage.contains($0.task) }
        return t.isEmpty ? nil : t.map(\.acc).reduce(0, +) / Double(t.count)
    }
}

/// One kernel benchmark row (the JSON of `tritbench kernels bench` uses the same fields).
public struct KernelResult: Codable, Equatable, Sendable {
    public var variant: String
    public var format: String
    public var rows: Int
    public var cols: Int
    public var tokens: Int
    public var threads: Int
    public var cold: Bool
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

    public var shape: String { "\(rows)x\(cols)" }

    public init(variant: String, format: String, rows: Int, cols: Int, tokens: Int, threads: Int, cold: Bool,
                samples: [Double], medianSeconds: Double, ciLowSeconds: Double, ciHighSeconds: Double,
                gweightsPerSecond: Double, gbytesPerSecond: Double, rooflineFraction: Double?,
                counters: [String: Double], simulatedInstructions: Double?, weightBytes: Int) {
        self.variant = variant; self.format = format; self.rows = rows; self.cols = cols; self.tokens = tokens
        self.threads = threads; self.cold = cold; self.samples = samples; self.medianSeconds = medianSeconds
        self.ciLowSeconds = ciLowSeconds; self.ciHighSeconds = ciHighSeconds; self.gweightsPerSecond = gweightsPerSecond
        self.gbytesPerSecond = gbytesPerSecond; self.rooflineFraction = rooflineFraction; self.counters = counters
        self.simulatedInstructions = simulatedInstructions; self.weightBytes = weightBytes
    }
}

/// The tuning landscape of one problem: every configuration measured, for the heatmap.
public struct TuningLandscape: Codable, Equatable, Sendable {
    public struct Point: Codable, Equatable, Sendable {
        public var configuration: [String: Int]
        public var medianSeconds: Double?
        public var failed: Bool
        public init(configuration: [String: Int], medianSeconds: Double?, failed: Bool) {
            self.configuration = configuration; self.medianSeconds = medianSeconds; self.failed = failed
        }
    }
    public var variant: String
    public var format: String
    public var rows: Int
    public var cols: Int
    public var tokens: Int
    public var threads: Int
    public var strategy: String
    public var points: [Point]
    public var best: [String: Int]?
    public var bestMedianSeconds: Double?
    public var defaultMedianSeconds: Double?
    public var evaluations: Int
    public var seconds: Double
    /// Timed with the weights streaming from DRAM (nil in results written before it was recorded: hot).
    public var cold: Bool?
    public var shape: String { "\(rows)x\(cols)" }

    public init(variant: String, format: String, rows: Int, cols: Int, tokens: Int, threads: Int, strategy: String,
                points: [Point], best: [String: Int]?, bestMedianSeconds: Double?, defaultMedianSeconds: Double?,
                evaluations: Int, seconds: Double, cold: Bool = false) {
        self.variant = variant; self.format = format; self.rows = rows; self.cols = cols; self.tokens = tokens
        self.threads = threads; self.strategy = strategy; self.points = points; self.best = best
        self.bestMedianSeconds = bestMedianSeconds; self.defaultMedianSeconds = defaultMedianSeconds
        self.evaluations = evaluations; self.seconds = seconds; self.cold = cold
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
