import ArgumentParser
import Foundation
import TritCore
import TritModel
import TritDispatch

/// Token ids given on the command line ("ids:1,2,3") or in a file (whitespace or commas).
struct TokenIDList: ExpressibleByArgument {
    var ids: [Int32]
    var source: String

    init?(argument: String) {
        source = argument
        let text: String
        if argument.hasPrefix("ids:") {
            text = String(argument.dropFirst(4))
        } else if let t = try? String(contentsOfFile: argument, encoding: .utf8) {
            text = t
        } else {
            return nil
        }
        let parts = text.split { $0 == "," || $0.isWhitespace }
        let parsed = parts.compactMap { Int32($0) }
        guard !parsed.isEmpty, parsed.count == parts.count, parsed.allSatisfy({ $0 >= 0 }) else { return nil }
        ids = parsed
    }
}

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Write the logits of every position of a token sequence as float32 NPY (rows = tokens), one forward over the whole sequence: what Scripts/llama-cpp-logits.sh writes for llama.cpp, to compare.")

    @Option(help: "GGUF file or packed model file (default: the cached SmolLM2-135M GGUF).") var model: String?
    @Option(help: "Token ids: ids:1,2,3 or a file of non-negative ids separated by whitespace or commas.") var tokens: TokenIDList
    @Option(help: "Output .npy file (written atomically).") var out: String
    @Option(help: "Threads of the packed kernels (1-\(maximumThreads)).") var threads = ThreadCount(1)
    @Flag(help: "Run ternary layers dequantized to Float32 (BLAS) instead of on the packed kernels.") var dequantized = false

    func run() throws {
        do {
            let path = model ?? CachePaths().defaultModel
            let loaded = try LoadedModel(path: path, ternary: dequantized ? .dequantizedFloat32 : .packedKernels(Dispatch.current()),
                                         threads: threads.value)
            let m = loaded.model
            if let bad = tokens.ids.first(where: { Int($0) >= m.vocabularySize }) {
                throw ValidationError("--tokens (\(tokens.source)): id \(bad) is outside the vocabulary (0..<\(m.vocabularySize))")
            }
            var cache = m.makeCache(capacity: tokens.ids.count)
            let logits = LinearAlgebra.withThreads(threads.value) { m.logits(m.hiddenStates(tokens.ids, cache: &cache)) }
            try NPY.write(logits, to: out)
            logNotice("logits: \(logits.rows) × \(logits.cols) (\(loaded.representation)) → \(out)")
        } catch { throw fail(error) }
    }
}
