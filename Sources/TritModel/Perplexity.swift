import Foundation
import TritCore

/// Which tokens of a window are scored.
public enum PerplexityScoring: String, Codable, Sendable {
    /// Every token not scored by an earlier window (Hugging Face's sliding-window recipe); with
    /// stride = context the windows are disjoint and each scores all but its first token.
    case newTokens = "new-tokens"
    /// Only the second half of each window: relative positions ctx/2+1 ..< ctx, i.e. ctx/2 − 1
    /// tokens per full window, as llama.cpp's `llama-perplexity` does (for comparing figures).
    case secondHalf = "second-half"
}

public struct PerplexityOptions: Sendable {
    public var context: Int
    public var stride: Int
    /// Use only the first `maxTokens` tokens of the text.
    public var maxTokens: Int?
    public var scoring: PerplexityScoring
    /// The token each window starts with, in place of the text's own (never scored): BOS for a
    /// vocabulary that adds it, as llama.cpp's perplexity does. A model trained with BOS always
    /// in front (Gemma) is far off its training distribution without it; nil: the text as it is.
    public var windowStartToken: Int32?

    public init(context: Int = 512, stride: Int? = nil, maxTokens: Int? = nil, scoring: PerplexityScoring = .newTokens,
                windowStartToken: Int32? = nil) {
        self.context = context; self.stride = stride ?? context; self.maxTokens = maxTokens; self.scoring = scoring
        self.windowStartToken = windowStartToken
    }
}

public struct PerplexityResult: Codable, Sendable {
    public var perplexity: Double
    /// Mean negative log-likelihood per scored token (nats).
    public var meanNLL: Double
    public var tokensScored: Int
    public var tokensInText: Int
    public var windows: Int
    public var context: Int
    public var stride: Int
    public var scoring: PerplexityScoring
    /// Per window: summed negative log-likelihood (nats) and tokens scored, for intervals by
    /// bootstrap over windows (nil in results written before they were kept).
    public var windowNLL: [Double]?
    public var windowTokens: [Int]?

    enum CodingKeys: String, CodingKey {
        case perplexity, meanNLL, tokensScored, tokensInText, windows, context, stride, scoring
        case windowNLL = "window_nll", windowTokens = "window_tokens"
    }
}

public enum PerplexityError: Error, CustomStringConvertible, Equatable {
    case invalidOptions(String)
    case nothingToScore(tokens: Int, context: Int)
    public var description: String {
        switch self {
        case let .invalidOptions(r): return "perplexity options: \(r)"
        case let .nothingToScore(n, c): return "perplexity: \(n) tokens give no token to score at context \(c)"
        }
    }
}

/// Perplexity of a token stream over windows of `context` tokens every `stride` tokens; each
/// window starts from an empty KV cache, as in llama.cpp and Hugging Face evaluations.
///
/// `workers` > 1 scores the windows on that many threads, each with a replica of `model`
/// (windows are independent); the sums are taken in window order, so the result does not depend
/// on the thread count beyond the kernels' own rounding.
public func perplexity<Model: DecoderModel>(model: Model, tokens allTokens: [Int32], options o: PerplexityOptions,
                       progress: Bool = true, workers: Int = 1) throws -> PerplexityResult {
    guard o.context >= 4, o.stride >= 1, o.stride <= o.context else {
        throw PerplexityError.invalidOptions("need context ≥ 4 and 1 ≤ stride ≤ context, got context \(o.context), stride \(o.stride)")
    }
    let tokens = o.maxTokens.map { Array(allTokens.prefix($0)) } ?? allTokens
    let n = tokens.count
    // Window starts: full windows only in second-half mode (llama.cpp drops the tail).
    var starts: [Int] = []
    var s = 0
    while s < n - 1 {
        if o.scoring == .secondHalf && s + o.context > n { break }
        starts.append(s)
        if s + o.context >= n { break }
        s += o.stride
    }
    guard !starts.isEmpty else { throw PerplexityError.nothingToScore(tokens: n, context: o.context) }
    // Each window's scored range: every token no earlier window scored (or its second half).
    var windows: [(begin: Int, end: Int, firstTarget: Int)] = []
    var previousEnd = 0
    for begin in starts {
        let end = min(begin + o.context, n)
        let firstTarget: Int
        switch o.scoring {
        case .newTokens: firstTarget = max(previousEnd, begin + 1)
        case .secondHalf: firstTarget = begin + o.context / 2 + 1
        }
        previousEnd = end
        if firstTarget < end { windows.append((begin, end, firstTarget)) }
    }
    guard !windows.isEmpty else { throw PerplexityError.nothingToScore(tokens: n, context: o.context) }
    let threads = max(1, min(workers, windows.count))
    let models = [model] + (1..<threads).map { _ in model.replica() }
    var results = [(nll: Double, count: Int)](repeating: (0, 0), count: windows.count)
    let reporter = WindowProgress(total: windows.count, enabled: progress)
    results.withUnsafeMutableBufferPointer { out in
        let out = out   // each thread writes its own windows' slots only
        DispatchQueue.concurrentPerform(iterations: threads) { w in
            let m = models[w]
            var cache = m.makeCache(capacity: o.context)
            for i in (windows.count * w / threads)..<(windows.count * (w + 1) / threads) {
                let (begin, end, firstTarget) = windows[i]
                cache.truncate(to: 0)
                var window = Array(tokens[begin..<end])
                if let first = o.windowStartToken { window[0] = first }
                let hidden = m.hiddenStates(window, cache: &cache)
                // Row r predicts token begin + r + 1.
                let lp = m.logProbabilities(hidden, first: firstTarget - 1 - begin, targets: Array(tokens[firstTarget..<end]))
                var nll = 0.0
                for v in lp { nll -= v }
                out[i] = (nll, lp.count)
                reporter.advance(nll: nll, tokens: lp.count)
            }
        }
    }
    reporter.finish()
    let nll = results.reduce(0.0) { $0 + $1.nll }, scored = results.reduce(0) { $0 + $1.count }
    guard scored > 0 else { throw PerplexityError.nothingToScore(tokens: n, context: o.context) }
    let mean = nll / Double(scored)
    return PerplexityResult(perplexity: exp(mean), meanNLL: mean, tokensScored: scored, tokensInText: n,
                            windows: starts.count, context: o.context, stride: o.stride, scoring: o.scoring,
                            windowNLL: results.map(\.nll), windowTokens: results.map(\.count))
}

/// Progress of perplexity windows scored on several threads.
final class WindowProgress: @unchecked Sendable {
    private var reporter: ProgressReporter
    private var nll = 0.0, scored = 0
    private let lock = NSLock()
    init(total: Int, enabled: Bool) { reporter = ProgressReporter("perplexity windows", total: total, enabled: enabled) }
    func advance(nll x: Double, tokens: Int) {
        lock.lock(); defer { lock.unlock() }
        nll += x; scored += tokens
        reporter.advance(detail: String(format: "ppl so far %.3f", exp(nll / Double(max(scored, 1)))))
    }
    func finish() { lock.lock(); defer { lock.unlock() }; reporter.finish() }
}
