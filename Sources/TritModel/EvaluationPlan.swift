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
    /// Thread counts at which prefill/decode speed is measured (empty: no speed).
    public var speedThreads: [Int]
    /// OpenBLAS and kernel threads for perplexity and tasks.
    public var threads: Int

    public init(pplSource: String? = nil, context: Int = 512, stride: Int? = nil, maxTokens: Int? = nil,
                secondHalf: Bool = false, tasks: [String] = [], limit: Int? = nil, speedThreads: [Int] = [], threads: Int = 1) {
        self.pplSource = pplSource; self.context = context; self.stride = stride; self.maxTokens = maxTokens
        self.secondHalf = secondHalf; self.tasks = tasks; self.limit = limit; self.speedThreads = speedThreads
        self.threads = threads
    }

    /// Runs the plan; progress on stderr unless `progress` is false.
    public func run(on loaded: LoadedModel, path: String, data: EvaluationData = EvaluationData(),
                    progress: Bool = true) throws -> EvalReport {
        LinearAlgebra.setThreads(threads)
        var report = EvalReport(model: path, representation: loaded.representation)
        report.runtime = loaded.model.runtimeByLayerKind
        if let ppl = pplSource {
            let source = PerplexitySource(argument: ppl)
            let tokens = loaded.tokenizer.encode(try source.text(data))
            if progress { logNotice("perplexity text \(source): \(tokens.count) tokens") }
            let r = try perplexity(model: loaded.model, tokens: tokens,
                                   options: PerplexityOptions(context: context, stride: stride, maxTokens: maxTokens,
                                                              scoring: secondHalf ? .secondHalf : .newTokens),
                                   progress: progress)
            report.pplSource = source.description
            report.perplexity = r
            report.ppl = r.perplexity
            report.tokensScored = r.tokensScored
        }
        for task in tasks {
            let docs = try MultipleChoiceTask.documents(task: task, data: data)
            report.tasks[task] = evaluateMultipleChoice(task: task, documents: docs, model: loaded.model,
                                                        tokenizer: loaded.tokenizer, limit: limit, progress: progress)
        }
        if !speedThreads.isEmpty {
            // A fixed prompt from the scored text's first passages: 128 tokens of prefill.
            let prompt = Array(loaded.tokenizer.encode(try PerplexitySource.boolqPassages.passages(data).prefix(8)
                .joined(separator: "\n\n")).prefix(128))
            for t in speedThreads {
                report.speed.append(measureSpeed(model: loaded.model, prompt: prompt, threads: t))
                report.decodeBreakdown.append(measureDecodeBreakdown(model: loaded.model, prompt: prompt, threads: t))
            }
            LinearAlgebra.setThreads(threads)
        }
        report.memory = MemoryReport(model: loaded.model)
        return report
    }
}
