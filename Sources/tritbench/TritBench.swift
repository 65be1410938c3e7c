import ArgumentParser
import Foundation
import TritCore
import TritMeasure
import TritRun

@main
struct TritBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tritbench",
        abstract: "Ternary LLM weights on CPUs: kernels, autotuning, quantization, evaluation, reports.",
        subcommands: [EnvCommand.self, RunCommand.self, RooflineCommand.self, ProfileCommand.self, CompareCommand.self, KernelsCommand.self, TuneCommand.self, RegressCommand.self, QuantizeCommand.self, TrainCommand.self, EvalCommand.self, TokenizeCommand.self, LogitsCommand.self])

    /// Refuses an invalid `TRITBENCH_ISA` before any command runs: the kernels read the cap when
    /// they first look at the CPU, and a typo must not silently run at the CPU's full ISA.
    static func main() {
        if case .failure(let e) = ISALevel.fromEnvironment() {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(escaping: error)
        }
    }

    /// The parser's own exit (its message, its status: 64 for usage errors, 0 for help), with
    /// the message made terminal-safe: it echoes option values, and errors quote strings from
    /// input files, so control characters are made visible here, where every message passes.
    static func exit(escaping error: Error) -> Never {
        let code = exitCode(for: error)
        let message = TextEscaping.terminal(fullMessage(for: error), keepLineBreaks: true)
        if !message.isEmpty {
            if code == .success { print(message) } else { FileHandle.standardError.write(Data((message + "\n").utf8)) }
        }
        Foundation.exit(code.rawValue)
    }
}

/// A command's failure, as opposed to a usage error: the parser prints it on stderr (escaped,
/// in `TritBench.exit(escaping:)`) and exits with status 1; user errors never crash the tool.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
}

func fail(_ error: Error) -> CommandFailure { CommandFailure(description: "\(error)") }

/// Prints a value as JSON on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    print(try JSONCoding.encodeString(value), terminator: "")
}
