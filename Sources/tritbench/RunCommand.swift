import ArgumentParser
import Foundation
import TritCore
import TritModel
import TritRun

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "The main job: run every stage and write Reports/<run-id>/.")

    @Option(help: "Directory that receives <run-id>/result.json.") var reports = "Reports"
    @Option(help: "Run id (default: UTC date, time and git revision).") var runID: String?
    @Flag(help: "The complete profile: full roofline and full task sets (slow).") var full = false
    @Flag(help: "Run every stage afresh instead of reusing completed stages.") var fresh = false
    @Option(help: "Comma-separated stages to leave out: \(RunCommand.skippableStages.joined(separator: ", ")). For example `--skip roofline,tune,cachegrind` reruns only the method rows; their speed then uses whatever the tuning cache already holds.")
    var skip: String?
    @Option(help: "Comma-separated method rows to run (ids as in result.json, e.g. ptqtp,ptqtp-keep-qk,pt2llm,pt2llm-rerounding); the reference always runs. Default: all.")
    var methods: String?
    @Option(help: "Training tokens of the QAT rows (absmean-ste, tequila), \(RunCommand.qatTokenRange.lowerBound)-\(RunCommand.qatTokenRange.upperBound) (default: 12288; with --full: 131072). The run reuses the model `tritbench train --method M --tokens N` trained, from its checkpoint.")
    var qatTokens: Int?
    @Option(help: "The GGUF model to measure (default: SmolLM2-135M from the set-up cache). Architectures: \(ArchitectureRegistry.supportedNames.joined(separator: ", ")). A GGUF with TQ1_0/TQ2_0 linear layers (BitNet) is evaluated as shipped; any other is quantized by every method.")
    var model: String?

    static let qatTokenRange = 1...(1 << 40)
    static let skippableStages = ["roofline", "tune", "cachegrind", "models"]

    /// The stages named by --skip, each checked against `skippableStages`.
    var skippedStages: Set<String> {
        get throws {
            guard let skip else { return [] }
            let names = skip.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if names.isEmpty { throw ValidationError("--skip is empty") }
            if let bad = names.first(where: { !Self.skippableStages.contains($0) }) {
                throw ValidationError("--skip: unknown stage '\(bad)'; expected some of \(Self.skippableStages.joined(separator: ", "))")
            }
            return Set(names)
        }
    }

    /// The run id names a directory under --reports: no '/', no '..', not empty.
    func validate() throws {
        if let qatTokens { try OptionCheck.range("qat-tokens", qatTokens, Self.qatTokenRange) }
        if let runID { do { _ = try PathComponentName(runID, field: "--run-id") } catch { throw ValidationError("\(error)") } }
        _ = try skippedStages
        if let methods, methods.split(separator: ",").allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw ValidationError("--methods is empty")
        }
    }

    func run() throws {
        do {
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            var options = RunOptions(reportsDirectory: reports, runID: runID, full: full, fresh: fresh,
                                     skip: try skippedStages, executable: exe)
            options.trainingTokens = qatTokens
            options.model = model
            options.methods = methods.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            let out = try RunPipeline(options: options).run()
            print(out.path)
        } catch {
            throw fail(error)
        }
    }
}
