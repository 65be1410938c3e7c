import Foundation
import TritCore
import TritKernels
import TritMeasure
import TritReport

/// What `tritbench kernels bench` is asked to time: variants × formats on one shape.
public struct KernelBenchRequest: Sendable {
    public var shape: MatrixShape
    public var tokens = 1
    public var threads = 1
    /// Rotate over copies larger than the last-level cache (weights stream from DRAM).
    public var cold = false
    /// Variant ids (nil: every variant, the forced portable one only where AVX2 is absent).
    public var variants: [String]?
    /// Formats, each with the plane count to bench it at where the format holds one or two
    /// (nil: every format a variant runs).
    public var formats: [FormatSelection]?
    /// nil: each variant's default for the token count.
    public var configuration: KernelConfiguration?
    public var samples = 15
    /// Columns per scale group (nil: one group per row).
    public var groupSize: Int? = 128
    /// Trit planes for a format that holds one or two, where `formats` does not say (nil: 1).
    public var planes: Int?
    /// Time every case in rounds (A B C A B C …) so drift lands on all of them.
    public var interleave = false
    /// "VARIANT/FORMAT": each case's time relative to that case, per round (implies interleave).
    public var ratioTo: String?
    /// With tokens > 1, also time each case as GEMV and report N · t(GEMV) / t(GEMM) (implies interleave).
    public var gemvRatio = false

    public init(shape: MatrixShape) { self.shape = shape }

    var interleaved: Bool { interleave || ratioTo != nil || gemvRatio }
}

/// A format as `--formats` names it: FORMAT, or FORMAT:1 / FORMAT:2 for the plane count of a
/// format that holds one or two (bitmask).
public struct FormatSelection: Sendable, Equatable {
    public var format: PackedFormatKind
    public var planes: Int?

    public init(format: PackedFormatKind, planes: Int? = nil) { self.format = format; self.planes = planes }

    public init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard let f = parts.first.flatMap(PackedFormatKind.init(rawValue:)) else { return nil }
        if parts.count == 2 {
            guard parts[1] == "1" || parts[1] == "2" else { return nil }
            self.init(format: f, planes: Int(parts[1]))
        } else {
            self.init(format: f)
        }
    }
}

/// Why a bench request cannot run, naming the option and what was expected.
public struct KernelBenchError: Error, CustomStringConvertible {
    public let description: String
}

/// The cases a request runs, checked before anything is allocated or timed.
public struct KernelBenchPlan: Sendable {
    /// One case: a variant on a format, with the weights' plane count.
    public struct Case: Sendable {
        public let variant: KernelVariant
        public let format: PackedFormatKind
        public let planes: Int
        /// FORMAT, or FORMAT:2 where the format holds one or two planes and runs with two.
        public var label: String { format.requiredPlanes == nil && planes == 2 ? "\(format.rawValue):2" : format.rawValue }
        public var id: String { "\(variant.id)/\(label)" }
    }

    public let request: KernelBenchRequest
    public let cases: [Case]

    public init(_ r: KernelBenchRequest) throws {
        request = r
        if let p = r.planes, p != 1 && p != 2 { throw KernelBenchError(description: "--planes must be 1 or 2; got \(p)") }
        if let g = r.groupSize, g <= 0 || g % 128 != 0 {
            throw KernelBenchError(description: "--group-size must be 'row' or a positive multiple of 128; got \(g)")
        }
        let wanted = r.variants.map(Set.init)
        cases = KernelRegistry.all
            .filter { wanted?.contains($0.id) ?? ($0.id != KernelRegistry.simdPortable || !CPUFeatures.current.supportsAVX2Kernels) }
            .flatMap { v in v.formats.flatMap { f -> [Case] in
                let asked: [Int?] = r.formats.map { $0.filter { $0.format == f }.map(\.planes) } ?? [nil]
                return asked.compactMap { p in
                    let n = p ?? r.planes ?? f.requiredPlanes ?? 1
                    return (f.requiredPlanes ?? n) == n ? Case(variant: v, format: f, planes: n) : nil
                }
            } }
        // A requested format that names no case is an error, not a silently shorter table.
        for s in r.formats ?? [] where !cases.contains(where: { $0.format == s.format && (s.planes ?? $0.planes) == $0.planes }) {
            if let required = s.format.requiredPlanes, let p = s.planes, p != required {
                throw KernelBenchError(description: "--formats: \(s.format) holds exactly \(required) plane\(required == 1 ? "" : "s"), not \(p)\(required == 1 ? "; its two-plane form is a format of its own (see `tritbench kernels list`)" : "")")
            }
            throw KernelBenchError(description: "--formats: no variant\(wanted == nil ? "" : " among --variants") supports \(s.format)")
        }
        if r.gemvRatio && r.tokens < 2 {
            throw KernelBenchError(description: "--gemv-ratio compares GEMM with GEMV: give --tokens 2 or more (got \(r.tokens))")
        }
        if let ratio = r.ratioTo, !cases.contains(where: { $0.id == ratio }) {
            throw KernelBenchError(description: "--ratio-to \(ratio): not among the cases benched (\(cases.map(\.id).joined(separator: ", ")))")
        }
        if r.cold && r.interleaved {
            // Interleaved rounds hold every case's cold copies at once (the scalar reference
            // also keeps an unpacked int8 copy, ~4× a 2-bit one): refuse what cannot fit
            // instead of being killed for memory with nothing written.
            let perCase = Self.coldBytes
            let need = cases.reduce(0) { $0 + perCase * ($1.variant.id == KernelRegistry.scalar ? 5 : 1) } * (r.gemvRatio ? 2 : 1)
            let memory = ProcessInfo.processInfo.physicalMemory
            if need > Int(memory / 5 * 2) {
                throw KernelBenchError(description: "--cold with interleaved rounds holds every case's copies at once: \(cases.count) cases need about \(need >> 30) GiB, more than 40% of this machine's \(memory >> 30) GiB; name fewer cases with --variants / --formats")
            }
        }
    }

    /// Bytes of weight copies a cold case rotates over: twice the last-level cache, at least 512 MiB.
    static var coldBytes: Int { 2 * max(CPUDescription.current().lastLevelCacheBytes, 256 << 20) }
}

/// One timed case.
public struct KernelBenchRow: Sendable {
    public var result: KernelResult
    /// The case's format label (FORMAT or FORMAT:2).
    public var label: String
    public var planes: Int
    /// Time relative to `--ratio-to`'s case: median of per-round ratios, 95% CI.
    public var ratio: PairedRatio?
    /// N · t(GEMV) / t(GEMM): per-token throughput of the GEMM over the GEMV, per round.
    public var gemvThroughputRatio: PairedRatio?
}

/// A ratio from paired rounds: its median and 95% interval.
public struct PairedRatio: Sendable, Equatable {
    public var median, low, high: Double
}

extension KernelBenchPlan {
    /// Builds and times every case (progress on stderr). A case that cannot run here (a
    /// variant's scale-group rule) is skipped with its reason, unless it is `--ratio-to`'s.
    public func run() throws -> [KernelBenchRow] {
        let r = request, shape = r.shape
        logNotice("measuring DRAM read bandwidth for the roofline fraction…")
        let roof = RooflineProbe.measure(RooflineOptions(quick: true, threadCounts: [r.threads]), progress: false)
        let options = TimingOptions(warmup: 3, minSampleSeconds: 0.005, samples: r.samples, maxSeconds: 4)
        var progress = ProgressReporter("bench \(shape) tokens=\(r.tokens) threads=\(r.threads)\(r.cold ? " cold" : "")", total: cases.count)
        var rows: [KernelBenchRow] = []
        var benched: [(c: Case, bench: KernelBenchCase)] = []
        /// Per GEMM case (by index in `benched`), the index of its GEMV companion.
        var companion: [Int: Int] = [:]
        func bench(_ c: Case, tokens: Int, _ configuration: KernelConfiguration) throws -> KernelBenchCase {
            try KernelBenchCase(rows: shape.rows, cols: shape.cols, tokens: tokens, variant: c.variant.id, format: c.format,
                                configuration: configuration, threads: r.threads, planes: c.planes,
                                groupSize: r.groupSize ?? shape.cols, coldBytes: r.cold ? Self.coldBytes : nil)
        }
        for c in cases {
            do {
                benched.append((c, try bench(c, tokens: r.tokens, r.configuration ?? c.variant.defaultConfiguration(tokens: r.tokens))))
                if r.gemvRatio {
                    benched.append((c, try bench(c, tokens: 1, c.variant.defaultConfiguration(tokens: 1))))
                    companion[benched.count - 2] = benched.count - 1
                }
            } catch {
                // Without its reference case a ratio column would come out empty: say why instead.
                if c.id == r.ratioTo { throw KernelBenchError(description: "--ratio-to \(c.id): that case cannot run here (\(error))") }
                progress.advance(detail: "\(c.id) skipped: \(error)")
                continue
            }
            if !r.interleaved {
                // One case at a time: its cold copies are freed before the next is built.
                let b = benched.removeLast()
                rows.append(row(b.c, b.bench, RobustTiming.measure(options) { b.bench.runOnce() }, roof))
                progress.advance(detail: "\(b.c.id) \(String(format: "%.1f", rows.last!.result.medianSeconds * 1e6)) µs")
            }
        }
        if !benched.isEmpty {
            logNotice("timing \(benched.count) cases in \(r.samples) interleaved rounds…")
            var o = options
            o.maxSeconds = 4 * Double(benched.count)
            let timings = RobustTiming.interleaved(o, benched.map { b in { b.bench.runOnce() } })
            for (b, t) in zip(benched, timings) {
                rows.append(row(b.c, b.bench, t, roof))
                progress.advance(detail: "\(b.c.id) \(String(format: "%.1f", t.median * 1e6)) µs")
            }
        }
        // Per-round ratios to the --ratio-to case (same rounds, so shared drift cancels).
        if let reference = rows.first(where: { "\($0.result.variant)/\($0.label)" == r.ratioTo && $0.result.tokens == r.tokens }) {
            for i in rows.indices {
                let q = Statistics.pairedRatio(rows[i].result.samples, reference.result.samples)
                rows[i].ratio = PairedRatio(median: q.median, low: q.low, high: q.high)
            }
        }
        for (i, j) in companion {
            let q = Statistics.pairedRatio(rows[j].result.samples, rows[i].result.samples), n = Double(r.tokens)
            rows[i].gemvThroughputRatio = PairedRatio(median: n * q.median, low: n * q.low, high: n * q.high)
        }
        return rows
    }

    private func row(_ c: Case, _ bench: KernelBenchCase, _ t: TimingResult, _ roof: RooflineResult) -> KernelBenchRow {
        let weights = Double(request.shape.elements * bench.tokens)
        let fraction = roof.attainedFraction(macs: weights, bytes: bench.weightBytes, seconds: t.median,
                                             workingSetBytes: request.cold ? Int.max / 4 : bench.weightBytes,
                                             threads: bench.threads)?.fraction
        let problem = KernelProblem(variant: c.variant.id, format: c.format, rows: request.shape.rows, cols: request.shape.cols,
                                    tokens: bench.tokens, threads: bench.threads, cold: request.cold)
        let m = KernelMeasurement(samples: t.samples, medianSeconds: t.median, ciLowSeconds: t.ciLow, ciHighSeconds: t.ciHigh,
                                  gweightsPerSecond: weights / t.median / 1e9,
                                  gbytesPerSecond: Double(bench.weightBytes) / t.median / 1e9, rooflineFraction: fraction,
                                  counters: [:], simulatedInstructions: nil, weightBytes: bench.weightBytes)
        return KernelBenchRow(result: KernelResult(problem: problem, m), label: c.label, planes: c.planes)
    }
}
