import ArgumentParser
import Foundation
import TritCore
import TritModel

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text with the GGUF's own tokenizer (stdin when no --file).",
        discussion: """
        --passages FILE tokenizes many texts in one run: FILE holds one JSON string a line (so a \
        passage may hold newlines), and each passage's ids are printed on a line of their own.
        """)

    @Option(help: "GGUF model file (default: the cached SmolLM2-135M).") var model: String?
    @Option(help: "Text file to tokenize; stdin when absent.") var file: String?
    @Option(help: "JSON Lines file of passages (one JSON string a line); one line of ids per passage.") var passages: String?
    @Flag(help: "Print a JSON array instead of space-separated ids.") var json = false

    func validate() throws {
        if file != nil && passages != nil { throw ValidationError("--file and --passages are exclusive") }
    }

    func run() throws {
        do {
            let tokenizer = try makeTokenizer(gguf: GGUFFile(path: model ?? CachePaths().defaultModel))
            for text in try texts() {
                let ids = tokenizer.encode(text)
                if json { try printJSON(ids); print() } else { print(ids.map(String.init).joined(separator: " ")) }
            }
        } catch { throw fail(error) }
    }

    /// The texts to tokenize: the passages of --passages, the whole --file, or stdin.
    private func texts() throws -> [String] {
        guard let path = passages ?? file else {
            return [String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)]
        }
        let content: String
        do { content = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw FileError.cannotRead(path: path, reason: error.localizedDescription)
        }
        guard passages != nil else { return [content] }
        return try content.split(separator: "\n", omittingEmptySubsequences: true).enumerated().map { i, line in
            guard let s = try? JSONDecoder().decode(String.self, from: Data(line.utf8)) else {
                throw FileError.cannotRead(path: path, reason: "line \(i + 1) is not a JSON string")
            }
            return s
        }
    }
}
