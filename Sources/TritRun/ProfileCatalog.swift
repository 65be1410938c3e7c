import Foundation
import TritCore
import TritKernels
import TritMeasure

/// What `tritbench profile` was asked to measure.
public struct ProfileCaseRequest: Sendable {
    /// "stream", or a kernel variant id.
    public var kernel: String
    /// A packed format of the variant, or (stream) one of `ProfileCatalog.streamFormats`.
    public var format: String
    public var shape: MatrixShape
    public var tokens: Int
    public var cache: CacheState
    /// Kernel parameters (empty: the variant's defaults).
    public var configuration: KernelConfiguration

    public init(kernel: String, format: String, shape: MatrixShape, tokens: Int, cache: CacheState,
                configuration: KernelConfiguration = KernelConfiguration()) {
        self.kernel = kernel; self.format = format; self.shape = shape; self.tokens = tokens
        self.cache = cache; self.configuration = configuration
    }
    var rows: Int { shape.rows }
    var cols: Int { shape.cols }
}

/// Errors in the profile request, naming the option and what was expected.
public enum ProfileRequestError: Error, CustomStringConvertible {
    case badTokens(Int)
    case unknownKernel(String, known: [String])
    case unknownFormat(kernel: String, format: String, known: [String])
    case tooLarge(bytes: Int)

    public var description: String {
        switch self {
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
public enum ProfileCatalog {
    public typealias Provider = @Sendable (ProfileCaseRequest) throws -> ProfileCase
    public static let providers: [String: Provider] = {
        var p: [String: Provider] = ["stream": { try streamCase($0) }]
        for v in KernelRegistry.all { p[v.id] = { try kernelCase($0) } }
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
                                        configuration: r.configuration,
                                        coldBytes: r.cache == .cold ? 2 * llc : nil)
        return ProfileCase(name: "\(r.kernel)/\(r.format) \(r.rows)x\(r.cols) tokens \(r.tokens)", bytesTouched: bench.weightBytes,
                           workUnits: Double(r.rows * r.cols * r.tokens), workUnitName: "weights",
                           workingSetBytes: bench.weightBytes * bench.copies, weights: r.rows * r.cols) { bench.runOnce() }
    }

    public static func make(_ request: ProfileCaseRequest) throws -> ProfileCase {
        guard request.tokens > 0 else { throw ProfileRequestError.badTokens(request.tokens) }
        guard let provider = providers[request.kernel] else {
            throw ProfileRequestError.unknownKernel(request.kernel, known: providers.keys.sorted())
        }
        return try provider(request)
    }

    /// Bits per weight of the formats the stream case can stand in for.
    public static let streamFormats: [String: Double] = ["2bit": 2, "base3": 1.6, "int8": 8, "f16": 16, "f32": 32]

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
            var g = SeededGenerator(seed: 0x2545_F491_4F6C_DD1D)
            var i = 0
            while i < b.count {
                var word = g.next()
                for _ in 0..<min(8, b.count - i) { b[i] = UInt8(truncatingIfNeeded: word); word >>= 8; i += 1 }
            }
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
public struct ProfileReport: Codable {
    public var kernel: String
    public var format: String
    public var rows: Int
    public var cols: Int
    public var tokens: Int
    public var result: ProfileResult
    /// Simulated per-call counts from cachegrind, when asked for.
    public var cachegrind: CachegrindProfile?
    public var roofline: RooflineResult?

    public init(request r: ProfileCaseRequest, result: ProfileResult, cachegrind: CachegrindProfile?, roofline: RooflineResult?) {
        kernel = r.kernel; format = r.format; rows = r.rows; cols = r.cols; tokens = r.tokens
        self.result = result; self.cachegrind = cachegrind; self.roofline = roofline
    }

    /// The report as text for a terminal.
    public var text: String { Self.text(self) }

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


