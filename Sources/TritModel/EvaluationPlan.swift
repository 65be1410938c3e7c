import Foundation
import TritCore

/// What to evaluate on a loaded model: perplexity text and windows, zero-shot tasks and their
/// document limit, speed. One plan type serves `tritbench eval` and the main run's evaluate stage.
public struct EvaluationPlan: Codable, Sendable, Equatable {
    /// "boolq-passages", "lambada" or a text file; nil skips perplexity.
    public var pplSource: String?
    public var context: Int
    public var stride: Int?
    public var maxTokens: Int?
    public var secondHalf: Bool
    public var tasks: [String]
    public var limit: Int?
    /// Per-task document limits that override `limit` (nil: `limit` for every task).
    public var taskLimits: [String: Int]?
    /// A model whose perplexity exceeds its vocabulary size (collapsed: worse than a uniform
    /// guess) is scored on at most this many documents per task (nil: as any other). Its tasks
    /// then only need to show it at chance; the documents are the first ones of every method.
    public var collapsedTaskLimit: Int?
    /// Thread counts at which prefill/decode speed is measured (empty: no speed).
    public var speedThreads: [Int]
    /// OpenBLAS and kernel threads for perplexity and tasks.
    public var threads: Int

    public init(pplSource: String? = nil, context: Int = 512, stride: Int? = nil, maxTokens: Int? = nil,
                secondHalf: Bool = false, tasks: [String] = [], limit: Int? = nil, taskLimits: [String: Int]? = nil,
                collapsedTaskLimit: Int? = nil, speedThreads: [Int] = [], threads: Int = 1) {
        self.collapsedTaskLimit = collapsedTaskLimit
        self.pplSource = pplSource; self.context = context; self.stride = stride; self.maxTokens = maxTokens
        self.secondHalf = secondHalf; self.tasks = tasks; self.limit = limit; self.taskLimits = taskLimits
        self.speedThreads = speedThreads
        self.threads = threads
    }

    /// The document limit of `task` (nil: all).
    public func limit(of task: String) -> Int? { taskLimits?[task] ?? limit }

    /// The plan's task documents, parsed once (a run evaluating many models passes them to
    /// every `run`: the request files take seconds to parse).
    public func documents(data: EvaluationData = EvaluationData()) throws -> [String: [MultipleChoiceDocument]] {
        var out: [String: [MultipleChoiceDocument]] = [:]
        for task in tasks { out[task] = try MultipleChoiceTask.documents(task: task, data: data) }
        return out
    }

    /// Runs the plan; progress on stderr unless `progress` is false. `documents`: the tasks'
    /// documents already parsed (`documents(data:)`); parsed here when nil.
    public func run(on loaded: LoadedModel, path: String, data: EvaluationData = EvaluationData(),
                    progress: Bool = true, documents: [String: [MultipleChoiceDocument]]? = nil) throws -> EvalReport {
        // Perplexity windows and documents are independent: `threads` workers each score their
        // share on one thread with a replica of the model (layers, head and BLAS single-threaded),
        // which keeps attention, norms and the head's softmax parallel too.
        return try LinearAlgebra.withThreads(1) {
            let evalModel = loaded.model.threaded(1)
            var report = EvalReport(model: path, representation: loaded.representation)
            report.runtime = loaded.model.runtimeByLayerKind
            if let ppl = pplSource {
                let source = PerplexitySource(argument: ppl)
                let tokens = loaded.tokenizer.encode(try source.text(data))
                if progress { logNotice("perplexity text \(source): \(tokens.count) tokens") }
                let r = try perplexity(model: evalModel, tokens: tokens,
                                       options: PerplexityOptions(context: context, stride: stride, maxTokens: maxTokens,
                                                                  scoring: secondHalf ? .secondHalf : .newTokens,
                                                                  windowStartToken: loaded.tokenizer.addBOS ? loaded.tokenizer.bosTokenID : nil),
                                       progress: progress, workers: threads)
                report.pplSource = source.description
                report.perplexity = r
                report.ppl = r.perplexity
                report.tokensScored = r.tokensScored
                if let cap = collapsedTaskLimit, r.perplexity > Double(loaded.model.outputHead.rows) || !r.perplexity.isFinite {
                    report.collapsedTaskLimit = cap
                }
            }
            for task in tasks {
                let docs = try documents?[task] ?? MultipleChoiceTask.documents(task: task, data: data)
                report.tasks[task] = evaluateMultipleChoice(task: task, documents: docs, model: evalModel,
                                                            tokenizer: loaded.tokenizer,
                                                            limit: [limit(of: task), report.collapsedTaskLimit].compactMap { $0 }.min(),
                                                            progress: progress,
                                                            workers: threads)
            }
            if !speedThreads.isEmpty {
                // A fixed prompt from the scored text's first passages: 128 tokens of prefill.
                let prompt = Array(loaded.tokenizer.encode(try PerplexitySource.boolqPassages.passages(data).prefix(8)
                    .joined(separator: "\n\n")).prefix(128))
                // The thread counts take turns in each round, so their ratio is measured per round.
                report.speed = measureSpeed(model: loaded.model, prompt: prompt, threadCounts: speedThreads)
                for t in speedThreads {
                    report.decodeBreakdown.append(measureDecodeBreakdown(model: loaded.model, prompt: prompt, threads: t))
                }
            }
            report.memory = MemoryReport(model: loaded.model)
            report.vocabularySize = loaded.model.outputHead.rows
            return report
        }
    }
}
