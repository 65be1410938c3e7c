import ArgumentParser
import Foundation
import TritCore
import TritKernels
import TritMeasure
import TritReport
import TritRun

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Ternary kernel variants: list them, verify them against the scalar reference, benchmark them.",
        subcommands: [KernelsListCommand.self, KernelsVerifyCommand.self, Bench.self])

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Time variants × formats on one shape (median, 95% CI, G weights/s, GB/s, % of the measured roofline: read bandwidth × intensity, or the int8 peak where that is lower, as for GEMM).")
        @Option(help: "rows x K, e.g. 2048x2048 (\(MatrixShape.expected)).") var shape: MatrixShape
        @Option(help: "Tokens (1 = GEMV; 1...4096).") var tokens = 1
        @Option(help: "Threads (1-\(maximumThreads)).") var threads = ThreadCount(1)
        @Flag(help: "Cold: rotate over copies larger than the last-level cache (weights stream from DRAM).") var cold = false
        @Option(help: "Comma-separated variants (default: all).") var variants: String?
        @Option(help: "Comma-separated formats (default: all a variant supports); FORMAT:2 benches the format that holds one or two planes (bitmask) with two, e.g. bitmask:2.")
        var formats: CommaSeparated<FormatSelection>?
        @Option(help: "Kernel configuration, e.g. rowBlock=2,tokenBlock=2 (default: the variant's default for this token count).")
        var config: KernelConfiguration?
        @Option(help: "Timing samples (1...100000).") var samples = 15
        @Option(help: "Columns per scale group: a multiple of 128, or 'row' for one scale per row (the formats allow both).")
        var groupSize = ScaleGroupArgument(columns: 128)
        @Option(help: "Trit planes for the format that holds one or two (bitmask) when --formats does not say (default 1); 2 also leaves out the one-plane formats.")
        var planes: Int?
        @Flag(help: "Time every case in rounds (A B C A B C …) instead of one case after another, so drift on a shared machine lands on all of them. Holds every case's cold copies at once.")
        var interleave = false
        @Option(help: "VARIANT/FORMAT (e.g. simd/2bit): also report each case's time relative to that case as the median of per-round ratios with a 95% CI (implies --interleave).")
        var ratioTo: String?
        @Flag(help: "With --tokens N > 1: also time each case as GEMV (1 token, its default configuration) in the same interleaved rounds, and report GEMM per-token throughput over GEMV's as N · t(GEMV) / t(GEMM), the median of per-round ratios with a 95% CI (implies --interleave).")
        var gemvRatio = false
        @Flag(help: "JSON rows.") var json = false

        var request: KernelBenchRequest {
            var r = KernelBenchRequest(shape: shape)
            r.tokens = tokens; r.threads = threads.value; r.cold = cold
            r.variants = variants.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            r.formats = formats?.values; r.configuration = config; r.samples = samples
            r.groupSize = groupSize.columns; r.planes = planes
            r.interleave = interleave; r.ratioTo = ratioTo; r.gemvRatio = gemvRatio
            return r
        }

        /// Every numeric option in its range and every list item a registered name, before any
        /// weight is allocated (an unknown variant is an error, never an empty table).
        func validate() throws {
            try OptionCheck.range("tokens", tokens, 1...4096)
            try OptionCheck.range("samples", samples, 1...100_000)
            if let variants { _ = try OptionCheck.names("variants", variants, known: KernelRegistry.all.map(\.id)) }
            // Weights (≤ 1 byte per weight in any format, Float32 for the reference) and activations.
            try OptionCheck.memory("--shape \(shape) with --tokens \(tokens)",
                                   bytes: Double(shape.elements) * 6 + Double(tokens) * Double(shape.rows + shape.cols) * 8)
            do { _ = try KernelBenchPlan(request) } catch { throw ValidationError("\(error)") }
        }

        func run() throws {
            let rows = try KernelBenchPlan(request).run()
            if json {
                struct Row: Encodable {
                    var variant, format, shape: String; var tokens, threads, group_size, planes: Int; var cold: Bool
                    var median_us, ci_low_us, ci_high_us, gweights_per_s, gbytes_per_s: Double; var roofline_fraction: Double?
                    var weight_bytes: Int; var samples_us: [Double]
                    var ratio_to: String?; var ratio_median, ratio_ci_low, ratio_ci_high: Double?
                    var gemv_throughput_ratio, gemv_throughput_ratio_ci_low, gemv_throughput_ratio_ci_high: Double?
                }
                try printJSON(rows.map { row -> Row in
                    let r = row.result, q = row.ratio, gq = row.gemvThroughputRatio
                    return Row(variant: r.variant, format: r.format.rawValue, shape: r.shape, tokens: r.tokens, threads: r.threads,
                        group_size: groupSize.columns ?? shape.cols, planes: row.planes, cold: r.cold,
                        median_us: r.medianSeconds * 1e6, ci_low_us: r.ciLowSeconds * 1e6, ci_high_us: r.ciHighSeconds * 1e6,
                        gweights_per_s: r.gweightsPerSecond, gbytes_per_s: r.gbytesPerSecond, roofline_fraction: r.rooflineFraction,
                        weight_bytes: r.weightBytes, samples_us: r.samples.map { $0 * 1e6 },
                        ratio_to: q == nil ? nil : ratioTo, ratio_median: q?.median, ratio_ci_low: q?.low, ratio_ci_high: q?.high,
                        gemv_throughput_ratio: gq?.median, gemv_throughput_ratio_ci_low: gq?.low, gemv_throughput_ratio_ci_high: gq?.high)
                })
                return
            }
            func us(_ s: Double) -> String { String(format: "%.1f", s * 1e6) }
            func ci(_ q: PairedRatio?, _ f: String) -> String { q.map { String(format: f, $0.median, $0.low, $0.high) } ?? "" }
            var header = ["variant", "format", "median µs", "95% CI µs", "G w/s", "GB/s", "% roofline", "bytes"]
            if let ratioTo { header.append("× \(ratioTo) (paired, 95% CI)") }
            if gemvRatio { header += ["tok", "per-token throughput ÷ GEMV (paired, 95% CI)"] }
            let table = ReportTable(header: header, alignments: [.left, .left] + Array(repeating: .right, count: header.count - 2),
                                    rows: rows.map { row in
                let r = row.result
                var cells = [r.variant, row.label, us(r.medianSeconds), "[\(us(r.ciLowSeconds)), \(us(r.ciHighSeconds))]",
                             String(format: "%.1f", r.gweightsPerSecond), String(format: "%.1f", r.gbytesPerSecond),
                             r.rooflineFraction.map { String(format: "%.0f%%", $0 * 100) } ?? "—", "\(r.weightBytes)"]
                if ratioTo != nil { cells.append(ci(row.ratio, "%.3f [%.3f, %.3f]")) }
                if gemvRatio { cells += ["\(r.tokens)", ci(row.gemvThroughputRatio, "%.2f× [%.2f, %.2f]")] }
                return cells
            })
            print(table.text(), terminator: "")
        }
    }
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
            let f = CPUFeatures.current
            let level = f.supportsVNNIKernels ? "AVX-512 VNNI\(f.supportsVBMILookup ? " + VBMI" : "")\(f.supportsGFNIDecode ? " + GFNI" : "")"
                : f.supportsAVX2Kernels ? "AVX2" : "portable"
            let cap = (try? ISALevel.fromEnvironment().get()).flatMap { $0 }.map { " (TRITBENCH_ISA=\($0.rawValue))" } ?? ""
            print("loops verified: \(level)\(cap)")
            var keys: [String] = []
            var groups: [String: [KernelVerificationRow]] = [:]
            for r in rows {
                let key = all ? "\(r.variant)|\(r.format)|\(r.shape)|\(r.tokens)|\(r.threads)|\(r.configuration)"
                              : "\(r.variant)|\(r.format)|\(r.shape)|\(r.tokens)|\(r.threads)"
                if groups[key] == nil { keys.append(key) }
                groups[key, default: []].append(r)
            }
            let table = ReportTable(header: ["variant", "format", "shape", "tok", "thr", "configs", "outputs", "result"],
                                    alignments: [.left, .left, .left, .right, .right, .right, .right, .left],
                                    rows: keys.map { key in
                let g = groups[key]!, r = g[0]
                let bad = g.filter { !$0.passed }
                let result = bad.isEmpty ? "bit-exact"
                    : "MISMATCH: \(bad.map(\.mismatches).reduce(0, +)) outputs, max |Δ| \(bad.map(\.maxAbsDifference).max()!) in {\(bad[0].configuration)}"
                return [r.variant, r.format, r.shape, "\(r.tokens)", "\(r.threads)", "\(g.count)", "\(g.map(\.outputs).reduce(0, +))", result]
            })
            print(table.text(), terminator: "")
            print("\n\(rows.count) checks, \(failed.count) mismatching")
        }
        if !failed.isEmpty {
            FileHandle.standardError.write(Data("error: \(failed.count) kernel checks differ from the scalar reference\n".utf8))
            throw ExitCode(1)
        }
    }
}
