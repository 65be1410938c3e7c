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
