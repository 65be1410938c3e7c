import ArgumentParser
import Foundation
import TritCore
import TritRun

struct RegressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "regress",
        abstract: "Count a fixed kernel set under cachegrind and write a result.json of deterministic metrics (for `compare`).")

    @Option(help: "Directory that receives result.json.") var out: String
    @Option(help: "Calls per case under cachegrind.") var calls = 5

    func validate() throws {
        try OptionCheck.range("calls", calls, 1...100_000)
        // The directory's name becomes the result's run id.
        do { _ = try PathComponentName(URL(fileURLWithPath: out).lastPathComponent, field: "--out's last component") } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        do {
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            let result = try CachegrindRegression(calls: calls).run(runID: URL(fileURLWithPath: out).lastPathComponent, executable: exe)
            try AtomicFile.writeJSON(result, to: out + "/result.json")
            print(out + "/result.json")
        } catch {
            throw fail(error)
        }
    }
}
