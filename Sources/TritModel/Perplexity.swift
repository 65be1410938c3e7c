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

    public init(context: Int = 512, stride: Int? = nil, maxTokens: Int? = nil, scoring: PerplexityScoring = .newTokens) {
        self.context = context; self.stride = stride ?? context; self.maxTokens = maxTokens; self.scoring = scoring
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
public func perplexity(model: LlamaModel, tokens allTokens: [Int32], options o: PerplexityOptions,
                       progress: Bool = true) throws -> PerplexityResult {
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
    var nll = 0.0, scored = 0, previousEnd = 0
    var report = ProgressReporter("perplexity windows", total: starts.count, enabled: progress)
    var cache = model.makeCache(capacity: o.context)
    for begin in starts {
        let end = min(begin + o.context, n)
        let firstTarget: Int
        switch o.scoring {
        case .newTokens: firstTarget = max(previousEnd, begin + 1)
        case .secondHalf: firstTarget = begin + o.context / 2 + 1
        }
        previousEnd = end
        if firstTarget >= end { continue }
        cache.truncate(to: 0)
        let hidden = model.hiddenStates(Array(tokens[begin..<end]), cache: &cache)
        // Row r predicts token begin + r + 1.
        let lp = model.logProbabilities(hidden, first: firstTarget - 1 - begin, targets: Array(tokens[firstTarget..<end]))
        for v in lp { nll -= v }
        scored += lp.count
        report.advance(detail: String(format: "ppl so far %.3f", exp(nll / Double(max(scored, 1)))))
    }
    guard scored > 0 else { throw PerplexityError.nothingToScore(tokens: n, context: o.context) }
    report.finish()
    let mean = nll / Double(scored)
    return PerplexityResult(perplexity: exp(mean), meanNLL: mean, tokensScored: scored, tokensInText: n,
                            windows: starts.count, context: o.context, stride: o.stride, scoring: o.scoring)
}
