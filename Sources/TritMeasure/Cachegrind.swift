import Foundation
import TritCore

/// Totals from one cachegrind output file. Every figure is SIMULATED: instructions are exact
/// counts of the guest program, cache misses come from valgrind's cache model, not hardware.
///
/// The point is repeatability: the same binary with the same inputs gives the same counts
/// whatever else runs on the machine, which makes them fit for CI regression checks on VMs
/// that expose no PMU.
public struct CachegrindCounts: Codable, Equatable, Sendable {
    /// Always true: these are valgrind's simulation, and reports must say so.
    public var simulated = true
    /// Event totals from the `summary:` line, by the names of the `events:` line
    /// (Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw with --cache-sim=yes).
    public var events: [String: Int64]
    /// The `cmd:` line: what ran.
    public var command: String?
    /// The `desc:` lines: the simulated cache geometry.
    public var cacheDescription: [String]

    public var instructions: Int64? { events["Ir"] }
    public var dataReads: Int64? { events["Dr"] }
    public var dataWrites: Int64? { events["Dw"] }
    public var d1ReadMisses: Int64? { events["D1mr"] }
    public var d1WriteMisses: Int64? { events["D1mw"] }
    public var llReadMisses: Int64? { events["DLmr"] }
    public var llWriteMisses: Int64? { events["DLmw"] }
}

/// What went wrong running or reading cachegrind.
public enum CachegrindError: Error, CustomStringConvertible, Equatable {
    case valgrindNotFound(searched: [String])
    case valgrindFailed(command: String, status: Int32, stderrTail: String)
    case outputMissing(path: String)
    case malformed(path: String, line: Int, field: String, expected: String)

    public var description: String {
        switch self {
        case let .valgrindNotFound(searched):
            return "valgrind not found (looked in \(searched.joined(separator: ", "))); install it with `apt-get install valgrind`"
        case let .valgrindFailed(command, status, tail):
            return "cachegrind run failed with status \(status): \(command)\n\(tail)"
        case let .outputMissing(path):
            return "cachegrind wrote no output file at \(path)"
        case let .malformed(path, line, field, expected):
            return "\(path):\(line): malformed cachegrind output in `\(field)`: expected \(expected)"
        }
    }
}

/// Reads cachegrind output files without cg_annotate: only the `events:` and `summary:` lines
/// (plus `cmd:`/`desc:`) matter for totals.
public enum CachegrindParser {
    public static func parse(_ text: String, path: String = "<cachegrind output>") throws -> CachegrindCounts {
        var names: [String]?
        var summary: [Int64]?
        var summaryLine = 0
        var command: String?
        var desc: [String] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("events:") {
                let fields = line.dropFirst("events:".count).split(separator: " ").map(String.init)
                guard !fields.isEmpty else {
                    throw CachegrindError.malformed(path: path, line: i + 1, field: "events:", expected: "at least one event name")
                }
                names = fields
            } else if line.hasPrefix("summary:") {
                var values: [Int64] = []
                for f in line.dropFirst("summary:".count).split(separator: " ") {
                    guard let v = Int64(f), v >= 0 else {
                        throw CachegrindError.malformed(path: path, line: i + 1, field: "summary:",
                                                        expected: "non-negative integers, found \"\(f)\"")
                    }
                    values.append(v)
                }
                summary = values
                summaryLine = i + 1
            } else if line.hasPrefix("cmd:") {
                command = line.dropFirst("cmd:".count).trimmingCharacters(in: .whitespaces)
            } else if line.hasPrefix("desc:") {
                desc.append(line.dropFirst("desc:".count).trimmingCharacters(in: .whitespaces))
            }
        }
        guard let names else {
            throw CachegrindError.malformed(path: path, line: 0, field: "events:", expected: "an `events:` line naming the counters")
        }
        guard let summary else {
            throw CachegrindError.malformed(path: path, line: 0, field: "summary:", expected: "a `summary:` line with the totals")
        }
        guard summary.count == names.count else {
            throw CachegrindError.malformed(path: path, line: summaryLine, field: "summary:",
                                            expected: "\(names.count) values (one per event: \(names.joined(separator: " "))), found \(summary.count)")
        }
        return CachegrindCounts(events: Dictionary(uniqueKeysWithValues: zip(names, summary)),
                                command: command, cacheDescription: desc)
    }

    public static func parse(file path: String) throws -> CachegrindCounts {
        guard let data = FileManager.default.contents(atPath: path) else { throw CachegrindError.outputMissing(path: path) }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }
}

/// Per-call simulated counts of a case: (run with N calls − run with 0 calls) ÷ N, so process
/// start-up, argument parsing and buffer set-up cancel out exactly.
public struct CachegrindProfile: Codable, Equatable, Sendable {
    public var simulated = true
    public var calls: Int
    public var cacheConfiguration: CachegrindRunner.CacheGeometry
    /// Whether the child ran with address randomisation off (needed for exact repeats).
    public var addressRandomizationDisabled: Bool
    /// The run that set up the case and made 0 measured calls.
    public var baseline: CachegrindCounts
    /// The run that set up the case and made `calls` measured calls.
    public var measured: CachegrindCounts
    /// (measured − baseline) ÷ calls, per event.
    public var perCall: [String: Double]
}

/// Runs a program under `valgrind --tool=cachegrind --cache-sim=yes` in a subprocess.
public struct CachegrindRunner: Sendable {
    /// The simulated cache geometry. Pinned (not auto-detected) so that counts do not change
    /// when CI lands on a different CPU: the defaults are this project's reference machine
    /// (Zen 3: 32 KiB 8-way L1i/L1d, 32 MiB 16-way L3 as the last level, 64-byte lines).
    public struct CacheGeometry: Codable, Equatable, Sendable {
        public var l1i = "32768,8,64"
        public var d1 = "32768,8,64"
        public var ll = "33554432,16,64"
        public init() {}
        var arguments: [String] { ["--I1=\(l1i)", "--D1=\(d1)", "--LL=\(ll)"] }
    }

    public var valgrind: String
    public var geometry: CacheGeometry
    /// util-linux `setarch`, used to turn address randomisation off; nil when absent (counts
    /// may then jitter by a few dozen instructions between runs).
    public var setarch: String?

    static var machine: String {
        var uts = utsname()
        uname(&uts)
        return withUnsafeBytes(of: uts.machine) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }

    /// Finds valgrind on PATH (then /usr/bin, /usr/local/bin).
    public init(geometry: CacheGeometry = .init()) throws {
        var dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        dirs += ["/usr/bin", "/usr/local/bin"]
        guard let found = dirs.map({ $0 + "/valgrind" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CachegrindError.valgrindNotFound(searched: dirs)
        }
        valgrind = found
        self.geometry = geometry
        setarch = dirs.map { $0 + "/setarch" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Environment that makes the child execute the same instructions in every run: Swift
    /// dictionaries hash with a fixed seed, and OpenBLAS (loaded by TritCore) starts no thread
    /// pool, whose idle workers spin on `sched_yield` a scheduling-dependent number of times.
    public static let deterministicEnvironment = ["SWIFT_DETERMINISTIC_HASHING": "1", "OPENBLAS_NUM_THREADS": "1",
                                                  "OMP_NUM_THREADS": "1"]

    /// Runs `executable arguments` under cachegrind once and returns its totals, with a minimal
    /// deterministic environment (PATH, HOME, LANG and `deterministicEnvironment`) and, where
    /// `setarch` exists, address randomisation off.
    public func run(executable: String, arguments: [String]) throws -> CachegrindCounts {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tritbench-cachegrind-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/cachegrind.out"
        let program = Self.withoutDebugInfo(executable, in: dir)
        let args = ["--tool=cachegrind", "--cache-sim=yes", "--cachegrind-out-file=\(out)"] + geometry.arguments
            + [program] + arguments
        // The child's environment is minimal and in sorted order (through `env -i`): a Swift
        // dictionary would hand it over in a different order every run, and getenv's scan
        // length would change the count. Address-space randomisation is off (`setarch -R`):
        // otherwise glibc parses different /proc/self/maps addresses each run.
        let parent = ProcessInfo.processInfo.environment
        var env = Self.deterministicEnvironment
        for k in ["PATH", "HOME", "LANG"] { if let v = parent[k] { env[k] = v } }
        let assignments = env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        var command = [valgrind] + args
        if let setarch { command = [setarch, Self.machine, "-R"] + command }
        let launchArgs = ["-i"] + assignments + command
        let commandLine = (["/usr/bin/env"] + launchArgs).joined(separator: " ")
        guard let result = Shell.run("/usr/bin/env", launchArgs) else {
            throw CachegrindError.valgrindFailed(command: commandLine, status: -1, stderrTail: "could not start /usr/bin/env")
        }
        guard result.status == 0 else {
            // The program's own messages first (its error comes before valgrind's summary,
            // which alone would fill the tail), then valgrind's last lines.
            let lines = result.stderr.split(separator: "\n")
            let program = lines.filter { !$0.hasPrefix("==") && !$0.hasPrefix("--") && !$0.hasPrefix("###") }.prefix(5)
            let tail = (program + lines.filter { $0.hasPrefix("==") }.suffix(5)).joined(separator: "\n")
            throw CachegrindError.valgrindFailed(command: commandLine, status: result.status, stderrTail: tail)
        }
        return try CachegrindParser.parse(file: out)
    }

    /// valgrind 3.19's debuginfo reader gives up on the DWARF 5 that Swift 6 emits ("Possibly
    /// corrupted debuginfo file… Giving up"), so the program runs from a copy stripped of debug
    /// sections: the same machine code, without what valgrind cannot read. Falls back to the
    /// original when objcopy is missing or fails.
    static func withoutDebugInfo(_ executable: String, in dir: String) -> String {
        let copy = dir + "/program"
        for objcopy in ["/usr/bin/objcopy", "/usr/local/bin/objcopy"] where FileManager.default.isExecutableFile(atPath: objcopy) {
            if let r = Shell.run(objcopy, ["--strip-debug", executable, copy]), r.status == 0,
               FileManager.default.isExecutableFile(atPath: copy) {
                return copy
            }
        }
        return executable
    }

    /// Per-call counts: runs `arguments(0)` and `arguments(calls)` and divides the difference.
    /// `arguments(n)` must make the program set up its case and call it exactly n times.
    public func profile(executable: String, calls: Int, arguments: (Int) -> [String]) throws -> CachegrindProfile {
        let n = max(calls, 1)
        let base = try run(executable: executable, arguments: arguments(0))
        let meas = try run(executable: executable, arguments: arguments(n))
        var perCall: [String: Double] = [:]
        for (k, v) in meas.events { if let b = base.events[k] { perCall[k] = Double(v - b) / Double(n) } }
        return CachegrindProfile(calls: n, cacheConfiguration: geometry, addressRandomizationDisabled: setarch != nil, baseline: base, measured: meas, perCall: perCall)
    }
}
