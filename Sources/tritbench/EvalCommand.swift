import ArgumentParser
import Foundation
import TritCore
import TritModel
import TritDispatch

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Perplexity, zero-shot accuracy, speed and memory of a GGUF (as Float32) or a packed model file.")

    @Option(help: "GGUF file or packed model file (default: the cached SmolLM2-135M GGUF).") var model: String?
    @Option(help: "Perplexity text: boolq-passages, lambada, or a UTF-8 text file.") var ppl: String?
    @Option(help: "Perplexity window (tokens, 2-1048576).") var ctx = 512
    @Option(help: "Perplexity stride (tokens; default: --ctx).") var stride: Int?
    @Option(help: "Score at most this many tokens of the text.") var maxTokens: Int?
    @Flag(help: "Score only the second half of each window, as llama.cpp's perplexity tool does.") var secondHalf = false
    @Option(help: "Comma-separated zero-shot tasks: piqa,arc_easy,arc_challenge,hellaswag,winogrande,boolq,openbookqa.") var tasks: String?
    @Option(help: "Documents per task (default: all).") var limit: Int?
    @Option(help: "Threads for OpenBLAS, the packed kernels and the int8 LM head (1-\(maximumThreads)).") var threads = ThreadCount(1)
    @Flag(help: "Measure prefill (128 tokens) and decode tokens/s at 1 and 2 threads, and where decode time goes.") var speed = false
    @Flag(help: "Run a packed model's ternary layers dequantized to Float32 (BLAS) instead of on the packed kernels.") var dequantized = false
    @Option(help: "Also write the --ppl text, exactly as it is tokenized and scored, to this file (e.g. for llama-perplexity -f).")
    var writePplText: String?
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "No progress lines on stderr.") var quiet = false

    func validate() throws {
        try OptionCheck.range("ctx", ctx, 2...(1 << 20))
        if let stride { try OptionCheck.range("stride", stride, 1...ctx) }
        try OptionCheck.atLeast("max-tokens", maxTokens, 1)
        try OptionCheck.atLeast("limit", limit, 1)
        if let tasks { _ = try OptionCheck.names("tasks", tasks, known: MultipleChoiceTask.knownTasks) }
        if writePplText != nil, ppl == nil { throw ValidationError("--write-ppl-text needs --ppl") }
        try OptionCheck.distinct(outputs: [("write-ppl-text", writePplText)], inputs: [("model", model ?? CachePaths().defaultModel), ("ppl", ppl)])
    }

    func run() throws {
        let threads = self.threads.value
        do {
            let path = model ?? CachePaths().defaultModel
            if let out = writePplText {
                guard let ppl else { throw ValidationError("--write-ppl-text needs --ppl") }
                try AtomicFile.write(try PerplexitySource(argument: ppl).text(EvaluationData()), to: out)
            }
            let loaded = try LoadedModel(path: path, ternary: dequantized ? .dequantizedFloat32 : .packedKernels(Dispatch.current()),
                                         threads: threads)
            let plan = EvaluationPlan(pplSource: ppl, context: ctx, stride: stride, maxTokens: maxTokens, secondHalf: secondHalf,
                                      tasks: (tasks ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
                                      limit: limit, speedThreads: speed ? [1, 2] : [], threads: threads)
            let report = try plan.run(on: loaded, path: path, progress: !quiet)
            if json { try printJSON(report) } else { print(TextEscaping.terminal(report.text, keepLineBreaks: true), terminator: "") }
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }
}
