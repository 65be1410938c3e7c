import ArgumentParser
import Foundation
import TritCore
import TritKernels
import TritMeasure

/// What `tritbench profile` was asked to measure.
struct ProfileCaseRequest {
    var kernel: String
    var format: String
    var rows: Int
    var cols: Int
    var tokens: Int
    var cache: CacheState
    /// Kernel parameters "name=value,..." (empty: the variant's defaults).
    var configuration: String = ""
}

/// Errors in the profile request, naming the option and what was expected.
enum ProfileRequestError: Error, CustomStringConvertible {
    case badShape(String)
    case badTokens(Int)
    case unknownKernel(String, known: [String])
    case unknownFormat(kernel: String, format: String, known: [String])
    case tooLarge(bytes: Int)

    var description: String {
        switch self {
        case let .badShape(s): return "--shape \"\(s)\": expected MxK with positive integers, e.g. 4096x4096"
        case let .badTokens(n): return "--tokens \(n): expected a positive integer"
        case let .unknownKernel(k, known): return "--kernel \"\(TextEscaping.terminal(k))\": unknown; available: \(known.joined(separator: ", "))"
        case let .unknownFormat(k, f, known):
            return "--format \"\(TextEscaping.terminal(f))\" for kernel \(TextEscaping.terminal(k)): unknown; available: \(known.joined(separator: ", "))"
        case let .tooLarge(b): return "the case needs \(b) bytes of packed data; refusing more than 8 GiB"
        }
    }
}

/// The cases `tritbench profile` knows. Kernel families plug in by adding a provider: a function
/// from the request to a `ProfileCase` whose body calls the kernel once on buffers it owns.
enum ProfileCatalog {
    typealias Provider = (ProfileCaseRequest) throws -> ProfileCase
    static let providers: [String: Provider] = {
        var p: [String: Provider] = ["stream": streamCase]
        for v in KernelRegistry.all { p[v.id] = kernelCase }
        return p
    }()

    /// A real kernel: random ternary weights of the requested shape packed in `format`, run
    /// through the variant with its default configuration (KernelBenchCase).
    static func kernelCase(_ r: ProfileCaseRequest) throws -> ProfileCase {
        guard let format = PackedFormatKind(rawValue: r.format) else {
            throw ProfileRequestError.unknownFormat(kernel: r.kernel, format: r.format,
                                                    known: ((try? KernelRegistry.variant(r.kernel))?.formats ?? []).map(\.rawValue))
        }
        let llc = CPUDescription.current().lastLevelCacheBytes
        let bench = try KernelBenchCase(rows: r.rows, cols: r.cols, tokens: r.tokens, variant: r.kernel, format: format,
                                        configuration: try KernelConfiguration(parsing: r.configuration),
                                        coldBytes: r.cache == .cold ? 2 * llc : nil)
        return ProfileCase(name: "\(r.kernel)/\(r.format) \(r.rows)x\(r.cols) tokens \(r.tokens)", bytesTouched: bench.weightBytes,
                           workUnits: Double(r.rows * r.cols * r.tokens), workUnitName: "weights",
                           workingSetBytes: bench.weightBytes * bench.copies, weights: r.rows * r.cols) { bench.runOnce() }
    }

    static func make(_ request: ProfileCaseRequest) throws -> ProfileCase {
        guard let provider = providers[request.kernel] else {
            throw ProfileRequestError.unknownKernel(request.kernel, known: providers.keys.sorted())
        }
        return try provider(request)
    }

    /// Bits per weight of the formats the stream case can stand in for.
    static let streamFormats: [String: Double] = ["2bit": 2, "base3": 1.6, "int8": 8, "f16": 16, "f32": 32]

    /// The built-in case: stream over the M×K weights packed at the format's bits per weight.
    /// It is the floor any GEMV kernel of that format and shape must pay to read its weights,
    /// so a kernel's time over this one says how far from memory-bound it is.
    static func streamCase(_ r: ProfileCaseRequest) throws -> ProfileCase {
        guard let bpw = streamFormats[r.format] else {
            throw ProfileRequestError.unknownFormat(kernel: r.kernel, format: r.format, known: streamFormats.keys.sorted())
        }
        let weights = r.rows * r.cols
        let bytes = Int((Double(weights) * bpw / 8).rounded(.up))
        guard bytes <= 8 << 30 else { throw ProfileRequestError.tooLarge(bytes: bytes) }
        let fill: (UnsafeMutableRawBufferPointer) -> Void = { b in
            var x: UInt64 = 0x2545_F491_4F6C_DD1D
            for i in 0..<b.count { x ^= x << 13; x ^= x >> 7; x ^= x << 17; b[i] = UInt8(truncatingIfNeeded: x) }
        }
        let buffers = r.cache == .cold ? ColdBuffers(byteCount: bytes, fill: fill)
                                       : ColdBuffers(byteCount: bytes, copies: 1, fill: fill)
        return ProfileCase(name: "stream \(r.format) \(r.rows)x\(r.cols) tokens \(r.tokens)", bytesTouched: bytes,
                           workUnits: Double(weights) * Double(r.tokens), workUnitName: "weights",
                           workingSetBytes: r.cache == .cold ? buffers.totalBytes : bytes, weights: weights) {
            ThreadTeam.consume(StreamingRead.checksum(buffers.next()))
        }
    }
}

/// Everything one `tritbench profile` prints as JSON.
struct ProfileReport: Codable {
    var kernel: String
    var format: String
    var rows: Int
    var cols: Int
    var tokens: Int
    var result: ProfileResult
    /// Simulated per-call counts from cachegrind, when asked for.
    var cachegrind: CachegrindProfile?
    var roofline: RooflineResult?
}

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Time one kernel case, read its counters, and optionally count it exactly under cachegrind.")

    @Option(help: "Kernel variant (stream, or a variant from `kernels list`).") var kernel = "stream"
    @Option(help: "Packed format (stream: 2bit, base3, int8, f16, f32; kernels: see `kernels list`).") var format = "2bit"
    @Option(help: "Weight matrix shape MxK (rows = outputs).") var shape = "4096x4096"
    @Option(help: "Activation columns (tokens) per call.") var tokens = 1
    @Option(help: "Kernel parameters name=value,... (default: the variant's declared defaults).") var config = ""
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
        let (r, k) = try OptionCheck.shape("shape", shape)
        try OptionCheck.range("tokens", tokens, 1...4096)
        try OptionCheck.range("cachegrind-calls", cachegrindCalls, 1...100_000)
        try OptionCheck.atLeast("cachegrind-child-calls", cachegrindChildCalls, 0)
        guard ProfileCatalog.providers[kernel] != nil else {
            throw ValidationError(ProfileRequestError.unknownKernel(kernel, known: ProfileCatalog.providers.keys.sorted()).description)
        }
        try OptionCheck.memory("--shape \(shape) with --tokens \(tokens)", bytes: Double(r) * Double(k) * 6 + Double(tokens) * Double(r + k) * 8)
    }

    func run() throws {
        do {
            let request = try makeRequest()
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
            let report = ProfileReport(kernel: request.kernel, format: request.format, rows: request.rows,
                                       cols: request.cols, tokens: request.tokens, result: result,
                                       cachegrind: cg, roofline: roof)
            if json { try printJSON(report) } else { print(Self.text(report), terminator: "") }
        } catch {
            throw fail(error)
        }
    }

    func makeRequest() throws -> ProfileCaseRequest {
        let parts = shape.lowercased().split(separator: "x")
        guard parts.count == 2, let m = Int(parts[0]), let k = Int(parts[1]), m > 0, k > 0 else {
            throw ProfileRequestError.badShape(shape)
        }
        guard tokens > 0 else { throw ProfileRequestError.badTokens(tokens) }
        return ProfileCaseRequest(kernel: kernel, format: format, rows: m, cols: k, tokens: tokens, cache: cold ? .cold : .warm,
                                  configuration: config)
    }

    /// Re-executes this binary under cachegrind with the hidden flag, with 0 and N calls.
    func runUnderCachegrind() throws -> CachegrindProfile {
        let runner = try CachegrindRunner()
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        logNotice("cachegrind: running the case under valgrind (0 and \(cachegrindCalls) calls; simulated, slow)…")
        var base = ["profile", "--kernel", kernel, "--format", format, "--shape", shape, "--tokens", "\(tokens)", "--config", config]
        if cold { base.append("--cold") }
        return try runner.profile(executable: exe, calls: cachegrindCalls) { base + ["--cachegrind-child-calls", "\($0)"] }
    }

    static func text(_ r: ProfileReport) -> String {
        let p = r.result
        func time(_ s: Double) -> String {
            s >= 1e-3 ? String(format: "%.3f ms", s * 1e3) : String(format: "%.2f µs", s * 1e6)
        }
        func num(_ x: Double) -> String { x.rounded() == x && abs(x) < 1e15 ? String(Int64(x)) : String(format: "%.1f", x) }
        var s = "case: \(p.name) — \(EnvironmentReport.bytes(p.bytesTouched)) per call, \(p.cacheState.rawValue) cache, \(p.threads) thread\(p.threads == 1 ? "" : "s")\n"
        let t = p.timing
        s += "time/call: median \(time(t.median)) (95% CI \(time(t.ciLow))–\(time(t.ciHigh))), min \(time(t.min)), MAD \(time(t.mad)); \(t.samples.count) samples × \(t.callsPerSample) calls\n"
        let d = p.derived
        var tp: [String] = []
        if let g = d.gbPerSecond { tp.append(String(format: "%.2f GB/s", g)) }
        if let w = d.gWorkUnitsPerSecond { tp.append(String(format: "%.2f G %@/s", w, p.workUnitName)) }
        if let b = d.bytesPerWeight { tp.append(String(format: "%.3f bytes/weight", b)) }
        if !tp.isEmpty { s += "throughput: " + tp.joined(separator: ", ") + "\n" }
        if let f = d.rooflineFraction, let level = d.rooflineLevel, let ref = d.rooflineGBPerSecond {
            s += String(format: "roofline: %.2f of measured %@ bandwidth (%.1f GB/s)\n", f, level, ref)
        }
        if let ipc = d.ipc { s += String(format: "IPC: %.2f\n", ipc) }
        for (e, v) in d.missesPerKiloInstruction.sorted(by: { $0.key < $1.key }) { s += String(format: "%@ per 1k instructions: %.2f\n", e, v) }
        if let c = p.counters {
            s += "counters (per call, over \(c.calls) calls on the calling thread; hardware events in user space only\(c.multiplexed ? ", multiplexed" : "")):\n"
            // Counted events first, then each one that did not count with every backend's reason.
            for v in c.values.filter(\.counted) + c.values.filter({ !$0.counted }) {
                let name = v.event.padding(toLength: 24, withPad: " ", startingAt: 0)
                if let pc = v.perCall {
                    let scaled = v.scaled ? String(format: ", scaled from %.0f%% of the time", (v.runningFraction ?? 0) * 100) : ""
                    s += "  \(name) \(String(format: "%.1f", pc))\(CounterEvent.named(v.event).unit.map { " " + $0 } ?? "")   (\(v.backend?.rawValue ?? "?")\(scaled))\n"
                } else {
                    s += "  \(name) NOT COUNTED\n"
                    for f in v.failures { s += "  \(String(repeating: " ", count: 24))   \(f)\n" }
                }
            }
        }
        if let cg = r.cachegrind {
            s += "cachegrind (SIMULATED; per call = (run with \(cg.calls) calls − run with 0) ÷ \(cg.calls)):\n"
            for e in ["Ir", "Dr", "D1mr", "DLmr", "Dw", "D1mw", "DLmw"] {
                guard let v = cg.perCall[e] else { continue }
                s += "  \(e.padding(toLength: 6, withPad: " ", startingAt: 0)) \(num(v)) per call   (total \(cg.measured.events[e].map(String.init) ?? "?") vs baseline \(cg.baseline.events[e].map(String.init) ?? "?"))\n"
            }
        }
        return s
    }
}
