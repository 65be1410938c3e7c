import ArgumentParser
import Foundation
import TritCore
import TritModel

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text with the GGUF's own tokenizer (stdin when no --file).")

    @Option(help: "GGUF model file (default: the cached SmolLM2-135M).") var model: String?
    @Option(help: "Text file to tokenize; stdin when absent.") var file: String?
    @Flag(help: "Print a JSON array instead of space-separated ids.") var json = false

    func run() throws {
        do {
            let path = model ?? CachePaths().defaultModel
            let tokenizer = try BPETokenizer(gguf: GGUFFile(path: path))
            let text: String
            if let file {
                do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                    throw FileError.cannotRead(path: file, reason: error.localizedDescription)
                }
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            let ids = tokenizer.encode(text)
            if json { try printJSON(ids) } else { print(ids.map(String.init).joined(separator: " ")) }
        } catch { throw fail(error) }
    }
}
