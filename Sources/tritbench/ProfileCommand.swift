import ArgumentParser
import Foundation
import TritCore
import TritKernels
import TritMeasure
import TritRun

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Time one kernel case, read its counters, and optionally count it exactly under cachegrind.")

    @Option(help: "Kernel variant (stream, or a variant from `kernels list`).") var kernel = "stream"
    @Option(help: "Packed format (stream: 2bit, base3, int8, f16, f32; kernels: see `kernels list`).") var format = "2bit"
    @Option(help: "Weight matrix shape ROWSxK (rows = outputs; \(MatrixShape.expected)).") var shape = MatrixShape(rows: 4096, cols: 4096)!
    @Option(help: "Activation columns (tokens) per call (1...4096).") var tokens = 1
    @Option(help: "Kernel parameters name=value,... (default: the variant's declared defaults).") var config = KernelConfiguration()
    @Option(help: "Comma-separated PAPI events (presets or native names); default: hardware events where they count, else perf software events.")
    var events: String?
    @Flag(help: "Rotate over copies larger than the last-level cache (cold cache).") var cold = false
    @Flag(help: "Also count the case under valgrind's cachegrind (simulated, exact instruction counts).") var cachegrind = false
    @Option(help: "Calls counted under cachegrind.") var cachegrindCalls = 10
    @Option(help: "A saved roofline (from `tritbench roofline --output`) to express bandwidth as a fraction of.") var roofline: String?
    @Flag(help: "Measure a quick roofline in this run to express bandwidth as a fraction of.") var measureRoofline = false
    @Flag(help: "Shorter timing.") var quick = false
    @Flag(help: "Print JSON instead of text.") var json = false
    /// Internal: run the case N times (after one warm-up call) and exit; used under cachegrind.
    @Option(help: .hidden) var cachegrindChildCalls: Int?

    func validate() throws {
        try OptionCheck.range("tokens", tokens, 1...4096)
        try OptionCheck.range("cachegrind-calls", cachegrindCalls, 1...100_000)
        try OptionCheck.atLeast("cachegrind-child-calls", cachegrindChildCalls, 0)
        guard ProfileCatalog.providers[kernel] != nil else {
            throw ValidationError(ProfileRequestError.unknownKernel(kernel, known: ProfileCatalog.providers.keys.sorted()).description)
        }
        try OptionCheck.memory("--shape \(shape) with --tokens \(tokens)",
                               bytes: Double(shape.elements) * 6 + Double(tokens) * Double(shape.rows + shape.cols) * 8)
    }

    func run() throws {
        do {
            let request = ProfileCaseRequest(kernel: kernel, format: format, shape: shape, tokens: tokens, cache: cold ? .cold : .warm,
                                             configuration: config)
            let profileCase = try ProfileCatalog.make(request)
            if let n = cachegrindChildCalls {
                profileCase.body()
                for _ in 0..<max(n, 0) { profileCase.body() }
                return
            }
            var roof: RooflineResult?
            if let path = roofline { roof = try RooflineResult.load(from: path) }
            if measureRoofline { roof = RooflineProbe.measure(RooflineOptions(quick: true, threadCounts: [1])) }
            let counters = events.map { CounterSet(events: $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
                ?? CounterSet.preferred()
            let result = Profiler.measure(profileCase, timing: quick ? .quick : .init(), counters: counters,
                                          roofline: roof, cacheState: request.cache)
            var cg: CachegrindProfile?
            if cachegrind { cg = try runUnderCachegrind() }
            let report = ProfileReport(request: request, result: result, cachegrind: cg, roofline: roof)
            if json { try printJSON(report) } else { print(report.text, terminator: "") }
        } catch {
            throw fail(error)
        }
    }

    /// Re-executes this binary under cachegrind with the hidden flag, with 0 and N calls.
    func runUnderCachegrind() throws -> CachegrindProfile {
        let runner = try CachegrindRunner()
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        logNotice("cachegrind: running the case under valgrind (0 and \(cachegrindCalls) calls; simulated, slow)…")
        var base = ["profile", "--kernel", kernel, "--format", format, "--shape", "\(shape)", "--tokens", "\(tokens)", "--config", "\(config)"]
        if cold { base.append("--cold") }
        return try runner.profile(executable: exe, calls: cachegrindCalls) { base + ["--cachegrind-child-calls", "\($0)"] }
    }
}
