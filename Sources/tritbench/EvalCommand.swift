import ArgumentParser
import Foundation
import TritCore
import TritModel
import TritTune

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Perplexity, zero-shot accuracy, speed and memory of a GGUF (as Float32) or a packed model file.")

    @Option(help: "GGUF file or packed model file (default: the cached SmolLM2-135M GGUF).") var model: String?
    @Option(help: "Perplexity text: boolq-passages, lambada, or a UTF-8 text file.") var ppl: String?
    @Option(help: "Perplexity window (tokens).") var ctx = 512
    @Option(help: "Perplexity stride (tokens; default: --ctx).") var stride: Int?
    @Option(help: "Score at most this many tokens of the text.") var maxTokens: Int?
    @Flag(help: "Score only the second half of each window, as llama.cpp's perplexity tool does.") var secondHalf = false
    @Option(help: "Comma-separated zero-shot tasks: piqa,arc_easy,arc_challenge,hellaswag,winogrande,boolq,openbookqa.") var tasks: String?
    @Option(help: "Documents per task (default: all).") var limit: Int?
    @Option(help: "Threads for OpenBLAS, the packed kernels and the int8 LM head.") var threads = 1
    @Flag(help: "Measure prefill (128 tokens) and decode tokens/s at 1 and 2 threads, and where decode time goes.") var speed = false
    @Flag(help: "Run a packed model's ternary layers dequantized to Float32 (BLAS) instead of on the packed kernels.") var dequantized = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "No progress lines on stderr.") var quiet = false

    func run() throws {
        do {
            let path = model ?? CachePaths().defaultModel
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            LinearAlgebra.setThreads(threads)
            let loaded = try LoadedModel(path: path, ternary: dequantized ? .dequantizedFloat32 : .packedKernels(Dispatch.current()),
                                         threads: threads)
            var report = EvalReport(model: path, representation: loaded.representation)
            report.runtime = loaded.model.runtimeByLayerKind
            let data = EvaluationData()
            if let ppl {
                let source = PerplexitySource(argument: ppl)
                let text = try source.text(data)
                let tokens = loaded.tokenizer.encode(text)
                if !quiet { logNotice("perplexity text \(source): \(tokens.count) tokens") }
                let options = PerplexityOptions(context: ctx, stride: stride, maxTokens: maxTokens,
                                                scoring: secondHalf ? .secondHalf : .newTokens)
                let r = try perplexity(model: loaded.model, tokens: tokens, options: options, progress: !quiet)
                report.pplSource = source.description
                report.perplexity = r
                report.ppl = r.perplexity
                report.tokensScored = r.tokensScored
            }
            if let tasks {
                for task in tasks.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) where !task.isEmpty {
                    let docs = try MultipleChoiceTask.documents(task: task, data: data)
                    report.tasks[task] = evaluateMultipleChoice(task: task, documents: docs, model: loaded.model,
                                                                tokenizer: loaded.tokenizer, limit: limit, progress: !quiet)
                }
            }
            if speed {
                let prompt = Array(loaded.tokenizer.encode(try PerplexitySource.boolqPassages.passages(data).prefix(8).joined(separator: "\n\n")).prefix(128))
                for t in [1, 2] {
                    let model = loaded.model.threaded(t)   // re-dispatches (and may re-pack) once per count
                    report.speed.append(measureSpeed(model: model, prompt: prompt, threads: t))
                    report.decodeBreakdown.append(measureDecodeBreakdown(model: model, prompt: prompt, threads: t))
                }
                LinearAlgebra.setThreads(threads)
            }
            report.memory = MemoryReport(model: loaded.model)
            if json { try printJSON(report) } else { print(report.text, terminator: "") }
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }
}
