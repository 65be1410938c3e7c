import ArgumentParser
import Foundation
import TritCore
import TritMeasure

struct RooflineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roofline",
        abstract: "Measure streaming-read bandwidth (L1, L2, L3, DRAM; 1..N threads) and one core's int8 multiply-add peak.")

    @Flag(help: "Print JSON instead of a table.") var json = false
    @Flag(help: "Shorter run: 256 MiB DRAM working set, fewer samples.") var quick = false
    @Option(help: "Highest thread count to measure (default: all logical cores).") var threads: Int?
    @Option(help: "Also write the JSON result to this file (atomically), for later `profile --roofline`.") var output: String?

    func validate() throws {
        if let threads { try OptionCheck.range("threads", threads, 1...maximumThreads) }
    }

    func run() throws {
        do {
            let opts = RooflineOptions(quick: quick, threadCounts: threads.map { Array(1...$0) })
            let result = RooflineProbe.measure(opts)
            if let output { try result.write(to: output) }
            if json { try printJSON(result) } else { print(Self.table(result), terminator: "") }
        } catch let e as ValidationError {
            throw e
        } catch {
            throw fail(error)
        }
    }

    static func table(_ r: RooflineResult) -> String {
        func row(_ cols: [String]) -> String {
            zip(cols, [7, 13, 9, 12, 20, 10]).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined() + "\n"
        }
        func f(_ x: Double) -> String { String(format: "%.1f", x) }
        var s = "Streaming-read bandwidth (\(r.bandwidth.first?.loop ?? "?") loop), \(r.cpuModel)\n"
        s += row(["level", "working set", "threads", "GB/s", "95% CI", "best"])
        for p in r.bandwidth {
            s += row([p.level, EnvironmentReport.bytes(p.workingSetBytes), "\(p.threads)", f(p.gbPerSecond),
                      "\(f(p.gbPerSecondCILow))–\(f(p.gbPerSecondCIHigh))", f(p.gbPerSecondBest)])
        }
        let pl = r.plainStreamLoop
        s += "\nplain Swift summing loop, DRAM \(EnvironmentReport.bytes(pl.workingSetBytes)), 1 thread: \(f(pl.gbPerSecond)) GB/s "
        s += "(95% CI \(f(pl.gbPerSecondCILow))–\(f(pl.gbPerSecondCIHigh)), best \(f(pl.gbPerSecondBest)))\n"
        for pk in [r.peakInt8] + (r.peakInt8VNNI.map { [$0] } ?? []) {
            s += "int8 multiply-add peak, one core (\(pk.loop)): \(f(pk.gMACsPerSecond)) G MAC/s"
            if let gi = pk.gInstructionsPerSecond { s += " = \(String(format: "%.2f", gi)) G instructions/s" }
            s += " (best \(f(pk.gMACsPerSecondBest)))\n"
        }
        return s
    }
}
