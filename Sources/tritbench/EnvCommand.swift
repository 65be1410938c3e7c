import ArgumentParser
import TritMeasure

struct EnvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env",
        abstract: "Report CPU, ISA features, caches, build and which PAPI events really count.")

    @Flag(help: "Print JSON instead of text.") var json = false
    @Flag(help: "Skip the PAPI event probes.") var noProbe = false

    func run() throws {
        let report = EnvironmentReport.collect(probeEvents: !noProbe)
        if json { try printJSON(report) } else { print(report.text(), terminator: "") }
    }
}
