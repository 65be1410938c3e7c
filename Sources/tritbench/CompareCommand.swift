import ArgumentParser
import Foundation
import TritReport

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Regression verdicts between two runs (exit 0 no regression, 2 regression, 3 inconclusive only).",
        discussion: "BASE and CURRENT are result.json files or directories holding one (e.g. Reports/baseline).")

    @Argument(help: "Baseline result (file or directory).") var base: String
    @Argument(help: "Current result (file or directory).") var current: String
    @Flag(help: "Print Markdown fit for a CI job summary.") var markdown = false
    @Flag(help: "Print the comparison as JSON.") var json = false
    @Option(help: "Relative change of a timing treated as noise.") var noiseThreshold = 0.15
    @Option(help: "Significance level (after Benjamini–Hochberg).") var alpha = 0.05
    @Flag(help: "After comparing, write CURRENT as the new baseline in --baseline-dir.") var updateBaseline = false
    @Flag(help: "Allow --update-baseline to replace an existing baseline.") var force = false
    @Option(help: "Baseline directory for --update-baseline.") var baselineDir = "Reports/baseline"

    func validate() throws {
        try OptionCheck.finite("noise-threshold", noiseThreshold, 0...10)
        try OptionCheck.finite("alpha", alpha, 0.000_001...0.5)
    }

    func run() throws {
        let cmp: Comparison
        do {
            let b = try RunResult.load(path: Baseline.resultPath(base))
            let c = try RunResult.load(path: Baseline.resultPath(current))
            cmp = Comparison.compare(baseline: b.metrics ?? [], current: c.metrics ?? [],
                                     options: CompareOptions(noiseThreshold: noiseThreshold, alpha: alpha))
            if updateBaseline {
                let dest = try Baseline.update(from: Baseline.resultPath(current), directory: baselineDir, force: force)
                FileHandle.standardError.write(Data("baseline written: \(dest)\n".utf8))
            }
        } catch {
            throw fail(error)
        }
        if json { try printJSON(cmp) } else if markdown { print(cmp.markdown(), terminator: "") } else { print(cmp.text(), terminator: "") }
        if cmp.exitCode != 0 { throw ExitCode(cmp.exitCode) }
    }
}
