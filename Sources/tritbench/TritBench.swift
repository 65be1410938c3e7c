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
        subcommands: [EnvCommand.self, RunCommand.self, RooflineCommand.self, ProfileCommand.self, CompareCommand.self, KernelsCommand.self, TuneCommand.self, RegressCommand.self, QuantizeCommand.self, TrainCommand.self, EvalCommand.self, TokenizeCommand.self])

    /// Refuses an invalid `TRITBENCH_ISA` before any command runs: the kernels read the cap when
    /// they first look at the CPU, and a typo must not silently run at the CPU's full ISA.
    static func main() {
        if case .failure(let e) = ISALevel.fromEnvironment() {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        main(nil)
    }
}

/// Prints an error on stderr and exits non-zero; user errors never crash the tool. Errors quote
/// strings from input files (keys, tensor names), so control characters are made visible here,
/// where every error passes, and cannot drive the terminal.
func fail(_ error: Error) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(TextEscaping.terminal("\(error)", keepLineBreaks: true))\n".utf8))
    return ExitCode(1)
}

/// Prints a value as JSON on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    print(try JSONCoding.encodeString(value), terminator: "")
}
