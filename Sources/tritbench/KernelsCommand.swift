import ArgumentParser
import Foundation
import TritCore
import TritKernels
import TritMeasure
import TritReport

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Ternary kernel variants: list them, verify them against the scalar reference, benchmark them.",
        subcommands: [KernelsListCommand.self, KernelsVerifyCommand.self, Bench.self])

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Time variants × formats on one shape (median, 95% CI, G weights/s, GB/s, % of the measured roofline: read bandwidth × intensity, or the int8 peak where that is lower, as for GEMM).")
        @Option(help: "rows x K, e.g. 2048x2048.") var shape: String
        @Option(help: "Tokens (1 = GEMV).") var tokens = 1
        @Option(help: "Threads.") var threads = 1
        @Flag(help: "Cold: rotate over copies larger than the last-level cache (weights stream from DRAM).") var cold = false
        @Option(help: "Comma-separated variants (default: all).") var variants: String?
        @Option(help: "Comma-separated formats (default: all a variant supports); FORMAT:2 benches the format that holds one or two planes (bitmask) with two, e.g. bitmask:2.") var formats: String?
        @Option(help: "Kernel configuration, e.g. rowBlock=2,tokenBlock=2 (default: the variant's default for this token count).") var config: String?
        @Option(help: "Timing samples.") var samples = 15
        @Option(help: "Columns per scale group: a multiple of 128, or 'row' for one scale per row (the formats allow both).")
        var groupSize = "128"
        @Option(help: "Trit planes for the format that holds one or two (bitmask) when --formats does not say (default 1); 2 also leaves out the one-plane formats.")
        var planes: Int?
        @Flag(help: "Time every case in rounds (A B C A B C …) instead of one case after another, so drift on a shared machine lands on all of them. Holds every case's cold copies at once.")
        var interleave = false
        @Option(help: "VARIANT/FORMAT (e.g. simd/2bit): also report each case's time relative to that case as the median of per-round ratios with a 95% CI (implies --interleave).")
        var ratioTo: String?
        @Flag(help: "With --tokens N > 1: also time each case as GEMV (1 token, its default configuration) in the same interleaved rounds, and report GEMM per-token throughput over GEMV's as N · t(GEMV) / t(GEMM), the median of per-round ratios with a 95% CI (implies --interleave).")
        var gemvRatio = false
        @Flag(help: "JSON rows.") var json = false

        /// Every numeric option in its range and every list item a registered name, before any
        /// weight is allocated (an unknown variant is an error, never an empty table).
        func validate() throws {
            let (r, k) = try OptionCheck.shape("shape", shape)
            try OptionCheck.range("tokens", tokens, 1...4096)
            try OptionCheck.range("threads", threads, 1...maximumThreads)
            try OptionCheck.range("samples", samples, 1...100_000)
            if let variants { _ = try OptionCheck.names("variants", variants, known: KernelRegistry.all.map(\.id)) }
            // Weights (≤ 1 byte per weight in any format, Float32 for the reference) and activations.
            try OptionCheck.memory("--shape \(shape) with --tokens \(tokens)", bytes: Double(r) * Double(k) * 6 + Double(tokens) * Double(r + k) * 8)
        }

        func run() throws {
            let dims = shape.lowercased().split(separator: "x").compactMap { Int($0) }
            guard dims.count == 2, dims[0] > 0, dims[1] > 0 else { throw ValidationError("--shape must be ROWSxK, e.g. 2048x2048; got '\(shape)'") }
            let group: Int
            if groupSize.lowercased() == "row" {
                group = dims[1]
            } else if let g = Int(groupSize), g > 0, g % 128 == 0 {
                group = g
            } else {
                throw ValidationError("--group-size must be 'row' or a positive multiple of 128; got '\(groupSize)'")
            }
            if let p = planes, p != 1 && p != 2 { throw ValidationError("--planes must be 1 or 2; got \(p)") }
            let wanted = variants.map { Set($0.split(separator: ",").map(String.init)) }
            let specs = try formats.map { list in try list.split(separator: ",").map { item -> (name: String, planes: Int?) in
                let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 1 || (parts.count == 2 && (parts[1] == "1" || parts[1] == "2")) else {
                    throw ValidationError("--formats: '\(item)' is not FORMAT or FORMAT:1 / FORMAT:2")
                }
                return (parts[0], parts.count == 2 ? Int(parts[1]) : nil)
            } }
            let llc = CPUDescription.current().lastLevelCacheBytes
            var rows: [KernelResult] = []
            /// Each row's format label (FORMAT, or FORMAT:2 for a two-plane run of a one-or-two-plane format).
            var labels: [String] = []
            let cases: [BenchSpec] = KernelRegistry.all.filter { wanted?.contains($0.id) ?? ($0.id != KernelRegistry.simdPortable || !CPUFeatures.current.supportsAVX2Kernels) }
                .flatMap { v in v.formats.flatMap { f -> [BenchSpec] in
                    let asked: [Int?] = specs.map { $0.filter { $0.name == f.rawValue }.map(\.planes) } ?? [nil]
                    return asked.compactMap { p in
                        let n = p ?? planes ?? f.requiredPlanes ?? 1
                        return (f.requiredPlanes ?? n) == n ? BenchSpec(variant: v, format: f, planes: n) : nil
                    }
                } }
            // A requested format that names no case is an error, not a silently shorter table.
            for spec in specs ?? [] where !cases.contains(where: { $0.format.rawValue == spec.name && (spec.planes ?? $0.planes) == $0.planes }) {
                guard let kind = PackedFormatKind(rawValue: spec.name) else {
                    throw ValidationError("--formats: unknown format '\(spec.name)'; known: \(PackedFormatKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                if let required = kind.requiredPlanes, let p = spec.planes, p != required {
                    throw ValidationError("--formats: \(spec.name) holds exactly \(required) plane\(required == 1 ? "" : "s"), not \(p)\(required == 1 ? "; its two-plane form is a format of its own (see `tritbench kernels list`)" : "")")
                }
                throw ValidationError("--formats: no variant\(wanted == nil ? "" : " among --variants") supports \(spec.name)")
            }
            if gemvRatio && tokens < 2 { throw ValidationError("--gemv-ratio compares GEMM with GEMV: give --tokens 2 or more (got \(tokens))") }
            if let r = ratioTo, !cases.contains(where: { $0.id == r }) {
                throw ValidationError("--ratio-to \(r): not among the cases benched (\(cases.map(\.id).joined(separator: ", ")))")
            }
            if cold && (interleave || ratioTo != nil || gemvRatio) {
                // Interleaved rounds hold every case's cold copies at once (the scalar reference
                // also keeps an unpacked int8 copy, ~4× a 2-bit one): refuse what cannot fit
                // instead of being killed for memory with nothing written.
                let perCase = 2 * max(llc, 256 << 20)
                let need = cases.reduce(0) { $0 + perCase * ($1.variant.id == KernelRegistry.scalar ? 5 : 1) } * (gemvRatio ? 2 : 1)
                let budget = Int(ProcessInfo.processInfo.physicalMemory / 5 * 2)
                if need > budget {
                    throw ValidationError("--cold with interleaved rounds holds every case's copies at once: \(cases.count) cases need about \(need >> 30) GiB, more than 40% of this machine's \(ProcessInfo.processInfo.physicalMemory >> 30) GiB; name fewer cases with --variants / --formats")
                }
            }
            logNotice("measuring DRAM read bandwidth for the roofline fraction…")
            let roof = RooflineProbe.measure(RooflineOptions(quick: true, threadCounts: [threads]), progress: false)
            let options = TimingOptions(warmup: 3, minSampleSeconds: 0.005, samples: samples, maxSeconds: 4)
            var progress = ProgressReporter("bench \(shape) tokens=\(tokens) threads=\(threads)\(cold ? " cold" : "")", total: cases.count)
            var benched: [(id: String, format: PackedFormatKind, label: String, bench: KernelBenchCase)] = []
            /// Per GEMM case (by index in `benched`), the index of its GEMV companion (--gemv-ratio).
            var companion: [Int: Int] = [:]
            for c in cases {
                let v = c.variant, f = c.format
                do {
                    let configuration = try config.map(KernelConfiguration.init(parsing:)) ?? v.defaultConfiguration(tokens: tokens)
                    benched.append((v.id, f, c.label, try KernelBenchCase(rows: dims[0], cols: dims[1], tokens: tokens, variant: v.id, format: f,
                                                                 configuration: configuration, threads: threads, planes: c.planes, groupSize: group,
                                                                 coldBytes: cold ? 2 * max(llc, 256 << 20) : nil)))
                    if gemvRatio {
                        benched.append((v.id, f, c.label, try KernelBenchCase(rows: dims[0], cols: dims[1], tokens: 1, variant: v.id, format: f,
                                                                     configuration: v.defaultConfiguration(tokens: 1), threads: threads, planes: c.planes, groupSize: group,
                                                                     coldBytes: cold ? 2 * max(llc, 256 << 20) : nil)))
                        companion[benched.count - 2] = benched.count - 1
                    }
                } catch {
                    // Without its reference case a ratio column would come out empty: say why instead.
                    if c.id == ratioTo { throw ValidationError("--ratio-to \(c.id): that case cannot run here (\(error))") }
                    progress.advance(detail: "\(c.id) skipped: \(error)")
                    continue
                }
                if !(interleave || ratioTo != nil || gemvRatio) {
                    // One case at a time: its cold copies are freed before the next is built.
                    let b = benched.removeLast()
                    rows.append(result(b.id, b.format, b.bench, RobustTiming.measure(options) { b.bench.runOnce() }, cold, roof, dims))
                    labels.append(b.label)
                    progress.advance(detail: "\(b.id)/\(b.label) \(String(format: "%.1f", rows.last!.medianSeconds * 1e6)) µs")
                }
            }
            if !benched.isEmpty {
                logNotice("timing \(benched.count) cases in \(samples) interleaved rounds…")
                let timings = RobustTiming.interleaved(TimingOptions(warmup: 3, minSampleSeconds: 0.005, samples: samples, maxSeconds: 4 * Double(benched.count)), benched.map { b in { b.bench.runOnce() } })
                for (b, t) in zip(benched, timings) {
                    rows.append(result(b.id, b.format, b.bench, t, cold, roof, dims))
                    labels.append(b.label)
                    progress.advance(detail: "\(b.id)/\(b.label) \(String(format: "%.1f", t.median * 1e6)) µs")
                }
            }
            // Per-round ratios to the --ratio-to case (same rounds, so shared drift cancels).
            let reference = zip(rows, labels).first { "\($0.0.variant)/\($0.1)" == ratioTo && $0.0.tokens == tokens }?.0
            let ratios = rows.map { r in reference.map { Statistics.pairedRatio(r.samples, $0.samples) } }
            // GEMM per-token throughput over GEMV: N · t(GEMV) / t(GEMM), per round.
            let gemvRatios: [(median: Double, low: Double, high: Double)?] = rows.indices.map { i in
                guard let j = companion[i] else { return nil }
                let q = Statistics.pairedRatio(rows[j].samples, rows[i].samples)
                let n = Double(tokens)
                return (n * q.median, n * q.low, n * q.high)
            }
            if json {
                struct Row: Encodable {
                    var variant, format, shape: String; var tokens, threads, group_size, planes: Int; var cold: Bool
                    var median_us, ci_low_us, ci_high_us, gweights_per_s, gbytes_per_s: Double; var roofline_fraction: Double?
                    var weight_bytes: Int; var samples_us: [Double]
                    var ratio_to: String?; var ratio_median, ratio_ci_low, ratio_ci_high: Double?
                    var gemv_throughput_ratio, gemv_throughput_ratio_ci_low, gemv_throughput_ratio_ci_high: Double?
                }
                try printJSON(zip(zip(rows, labels), zip(ratios, gemvRatios)).map { rl, qs -> Row in
                    let (r, label) = rl, (q, gq) = qs
                    return Row(variant: r.variant, format: r.format.rawValue, shape: r.shape, tokens: r.tokens, threads: r.threads, group_size: group,
                        planes: label.hasSuffix(":2") || r.format.requiredPlanes == 2 ? 2 : 1, cold: r.cold,
                        median_us: r.medianSeconds * 1e6, ci_low_us: r.ciLowSeconds * 1e6, ci_high_us: r.ciHighSeconds * 1e6,
                        gweights_per_s: r.gweightsPerSecond, gbytes_per_s: r.gbytesPerSecond, roofline_fraction: r.rooflineFraction,
                        weight_bytes: r.weightBytes, samples_us: r.samples.map { $0 * 1e6 },
                        ratio_to: q == nil ? nil : ratioTo, ratio_median: q?.median, ratio_ci_low: q?.low, ratio_ci_high: q?.high,
                        gemv_throughput_ratio: gq?.median, gemv_throughput_ratio_ci_low: gq?.low, gemv_throughput_ratio_ci_high: gq?.high)
                })
            } else {
                print("variant          format        median µs   95% CI µs           G w/s    GB/s   % roofline  bytes"
                      + (ratioTo.map { "      × \($0) (paired, 95% CI)" } ?? "")
                      + (gemvRatio ? "      tok  per-token throughput ÷ GEMV (paired, 95% CI)" : ""))
                for ((r, label), (q, gq)) in zip(zip(rows, labels), zip(ratios, gemvRatios)) {
                    print(String(format: "%-16@ %-12@ %10.1f   [%8.1f, %8.1f]  %7.1f  %6.1f   %6@     %d",
                                 r.variant as NSString, label as NSString, r.medianSeconds * 1e6, r.ciLowSeconds * 1e6, r.ciHighSeconds * 1e6,
                                 r.gweightsPerSecond, r.gbytesPerSecond, (r.rooflineFraction.map { String(format: "%.0f%%", $0 * 100) } ?? "—") as NSString, r.weightBytes)
                          + (q.map { String(format: "   %.3f [%.3f, %.3f]", $0.median, $0.low, $0.high) } ?? "")
                          + (gemvRatio ? String(format: "   %4d", r.tokens) : "")
                          + (gq.map { String(format: "   %.2f× [%.2f, %.2f]", $0.median, $0.low, $0.high) } ?? ""))
                }
            }
        }
    }
}

/// One case `kernels bench` runs: a variant on a format, with the weights' plane count.
private struct BenchSpec {
    let variant: KernelVariant
    let format: PackedFormatKind
    let planes: Int
    /// FORMAT, or FORMAT:2 where the format holds one or two planes and runs with two.
    var label: String { format.requiredPlanes == nil && planes == 2 ? "\(format.rawValue):2" : format.rawValue }
    var id: String { "\(variant.id)/\(label)" }
}

/// One bench row from a case's timing.
private func result(_ variant: String, _ format: PackedFormatKind, _ bench: KernelBenchCase, _ t: TimingResult, _ cold: Bool,
                    _ roof: RooflineResult, _ dims: [Int]) -> KernelResult {
    let weights = Double(dims[0] * dims[1] * bench.tokens)
    let gbps = Double(bench.weightBytes) / t.median / 1e9
    let fraction = roof.attainedFraction(macs: weights, bytes: bench.weightBytes, seconds: t.median,
                                         workingSetBytes: cold ? Int.max / 4 : bench.weightBytes, threads: bench.threads)?.fraction
    return KernelResult(problem: KernelProblem(variant: variant, format: format, rows: dims[0], cols: dims[1], tokens: bench.tokens,
                                               threads: bench.threads, cold: cold),
                        KernelMeasurement(samples: t.samples, medianSeconds: t.median, ciLowSeconds: t.ciLow, ciHighSeconds: t.ciHigh,
                                          gweightsPerSecond: weights / t.median / 1e9, gbytesPerSecond: gbps, rooflineFraction: fraction,
                                          counters: [:], simulatedInstructions: nil, weightBytes: bench.weightBytes))
}

struct KernelsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Each variant, the formats it runs on and its parameters.")

    @Flag(help: "Print JSON instead of text.") var json = false

    struct Entry: Encodable {
        let id: String, summary: String, formats: [String], parameters: [KernelParameter]
        let constraints: [String], configurations: Int
    }

    func run() throws {
        let entries = KernelRegistry.all.map { v in
            Entry(id: v.id, summary: v.summary, formats: v.formats.map(\.rawValue), parameters: v.space.parameters,
                  constraints: v.space.constraints.map(\.rule), configurations: v.space.allConfigurations.count)
        }
        if json { try printJSON(entries); return }
        let avx2 = CPUFeatures.current.supportsAVX2Kernels
        print("CPU: AVX2 kernels \(avx2 ? "available" : "NOT available: SIMD variants run their portable Swift SIMD loops")")
        for e in entries {
            print("\n\(e.id) — \(e.summary)")
            print("  formats: \(e.formats.joined(separator: ", "))")
            for p in e.parameters {
                let calls = p.maxTokens == 1 ? " [1 token only]" : p.minTokens > 1 ? " [\(p.minTokens)+ tokens only]" : ""
                print("  \(p.name.padding(toLength: 14, withPad: " ", startingAt: 0)) {\(p.allowed.map(String.init).joined(separator: ","))} default \(p.defaultValue)\(calls): \(p.meaning)")
            }
            for c in e.constraints { print("  constraint: \(c)") }
            print("  valid configurations: \(e.configurations)")
        }
    }
}

struct KernelsVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Every variant × format × shape (tails included) against the scalar reference; non-zero exit on any mismatch.")

    @Flag(help: "Print JSON rows instead of the table.") var json = false
    @Flag(help: "Show every row, not only a summary per variant and format.") var all = false
    @Option(help: "Seed of the random weights and activations.") var seed: UInt64 = 42

    func run() throws {
        let rows: [KernelVerificationRow]
        do { rows = try KernelVerification.run(seed: seed) } catch { throw fail(error) }
        let failed = rows.filter { !$0.passed }
        if json {
            try printJSON(rows)
        } else {
            func cell(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
            let f = CPUFeatures.current
            let level = f.supportsVNNIKernels ? "AVX-512 VNNI\(f.supportsVBMILookup ? " + VBMI" : "")\(f.supportsGFNIDecode ? " + GFNI" : "")"
                : f.supportsAVX2Kernels ? "AVX2" : "portable"
            let cap = (try? ISALevel.fromEnvironment().get()).flatMap { $0 }.map { " (TRITBENCH_ISA=\($0.rawValue))" } ?? ""
            print("loops verified: \(level)\(cap)")
            print("\(cell("variant", 14)) \(cell("format", 13)) \(cell("shape", 24)) \(cell("tok", 4)) \(cell("thr", 4)) \(cell("configs", 8)) \(cell("outputs", 9)) result")
            var keys: [String] = []
            var groups: [String: [KernelVerificationRow]] = [:]
            for r in rows {
                let key = all ? "\(r.variant)|\(r.format)|\(r.shape)|\(r.tokens)|\(r.threads)|\(r.configuration)"
                              : "\(r.variant)|\(r.format)|\(r.shape)|\(r.tokens)|\(r.threads)"
                if groups[key] == nil { keys.append(key) }
                groups[key, default: []].append(r)
            }
            for key in keys {
                let g = groups[key]!, r = g[0]
                let bad = g.filter { !$0.passed }
                let result = bad.isEmpty ? "bit-exact"
                    : "MISMATCH: \(bad.map(\.mismatches).reduce(0, +)) outputs, max |Δ| \(bad.map(\.maxAbsDifference).max()!) in {\(bad[0].configuration)}"
                print("\(cell(r.variant, 14)) \(cell(r.format, 13)) \(cell(r.shape, 24)) \(cell(String(r.tokens), 4)) \(cell(String(r.threads), 4)) \(cell(String(g.count), 8)) \(cell(String(g.map(\.outputs).reduce(0, +)), 9)) \(result)")
            }
            print("\n\(rows.count) checks, \(failed.count) mismatching")
        }
        if !failed.isEmpty {
            FileHandle.standardError.write(Data("error: \(failed.count) kernel checks differ from the scalar reference\n".utf8))
            throw ExitCode(1)
        }
    }
}
