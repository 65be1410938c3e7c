import ArgumentParser
import Foundation
import TritCore
import TritKernels
import TritMeasure
import TritReport

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels", abstract: "List, verify and benchmark the ternary kernel variants.",
        subcommands: [List.self, Verify.self, Bench.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each variant, the formats it supports and its parameters.")
        func run() {
            for v in KernelRegistry.all {
                print("\(v.id): \(v.summary)")
                print("  formats: \(v.formats.map(\.rawValue).joined(separator: ", "))")
                for p in v.space.parameters {
                    print("  \(p.name) ∈ {\(p.allowed.map(String.init).joined(separator: ", "))} default \(p.defaultValue) — \(p.meaning)")
                }
                for c in v.space.constraints { print("  constraint: \(c.rule)") }
                print("  valid configurations: \(v.space.allConfigurations.count)")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every variant × format × shape against the scalar reference; non-zero exit on any mismatch.")
        @Flag(help: "Check every valid configuration, not just the default.") var allConfigurations = false
        func run() throws {
            // Tails in rows and K, one-group rows, odd sizes, and a long K for int16 overflow.
            let shapes: [(Int, Int, Int)] = [(1, 128, 1), (7, 384, 1), (13, 640, 3), (33, 1000, 2), (64, 8192, 1), (20, 256, 64)]
            var failures = 0, checked = 0
            for v in KernelRegistry.all {
                let configs = allConfigurations ? v.space.allConfigurations : [v.space.defaultConfiguration]
                for f in v.formats { for (r, k, t) in shapes { for c in configs { for threads in [1, 2] {
                    checked += 1
                    if let why = KernelVerification.check(variant: v.id, format: f, configuration: c, rows: r, cols: k, tokens: t, threads: threads) {
                        failures += 1
                        print("MISMATCH \(v.id)/\(f.rawValue) {\(c)} \(r)x\(k) tokens=\(t) threads=\(threads): \(why)")
                    }
                } } } }
                print("\(v.id): checked against the scalar reference")
            }
            print("\(checked - failures) passed, \(failures) failed")
            if failures > 0 { throw ExitCode(1) }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Time variants × formats on one shape (median, 95% CI, G weights/s, GB/s, % of measured bandwidth).")
        @Option(help: "rows x K, e.g. 2048x2048.") var shape: String
        @Option(help: "Tokens (1 = GEMV).") var tokens = 1
        @Option(help: "Threads.") var threads = 1
        @Flag(help: "Cold: rotate over copies larger than the last-level cache (weights stream from DRAM).") var cold = false
        @Option(help: "Comma-separated variants (default: all).") var variants: String?
        @Option(help: "Comma-separated formats (default: all a variant supports).") var formats: String?
        @Option(help: "Timing samples.") var samples = 15
        @Flag(help: "JSON rows.") var json = false

        func run() throws {
            let dims = shape.lowercased().split(separator: "x").compactMap { Int($0) }
            guard dims.count == 2, dims[0] > 0, dims[1] > 0 else { throw ValidationError("--shape must be ROWSxK, e.g. 2048x2048; got '\(shape)'") }
            let wanted = variants.map { Set($0.split(separator: ",").map(String.init)) }
            let wantedFormats = formats.map { Set($0.split(separator: ",").map(String.init)) }
            let llc = CPUDescription.current().lastLevelCacheBytes
            logNotice("measuring DRAM read bandwidth for the roofline fraction…")
            let roof = RooflineProbe.measure(RooflineOptions(quick: true, threadCounts: [threads]), progress: false)
            var rows: [KernelResult] = []
            let cases = KernelRegistry.all.filter { wanted?.contains($0.id) ?? ($0.id != KernelRegistry.simdPortable || !CPUFeatures.current.supportsAVX2Kernels) }
                .flatMap { v in v.formats.filter { wantedFormats?.contains($0.rawValue) ?? true }.map { (v, $0) } }
            var progress = ProgressReporter("bench \(shape) tokens=\(tokens) threads=\(threads)\(cold ? " cold" : "")", total: cases.count)
            for (v, f) in cases {
                let bench: KernelBenchCase
                do {
                    bench = try KernelBenchCase(rows: dims[0], cols: dims[1], tokens: tokens, variant: v.id, format: f,
                                                threads: threads, coldBytes: cold ? 2 * max(llc, 256 << 20) : nil)
                } catch { progress.advance(detail: "\(v.id)/\(f.rawValue) skipped: \(error)"); continue }
                let t = RobustTiming.measure(TimingOptions(warmup: 3, minSampleSeconds: 0.005, samples: samples, maxSeconds: 4)) { bench.runOnce() }
                let weights = Double(dims[0] * dims[1] * tokens)
                let gbps = Double(bench.weightBytes) / t.median / 1e9
                let fraction = roof.fraction(gbPerSecond: gbps, workingSetBytes: cold ? Int.max / 4 : bench.weightBytes, threads: threads)?.fraction
                rows.append(KernelResult(variant: v.id, format: f.rawValue, rows: dims[0], cols: dims[1], tokens: tokens, threads: threads,
                                         cold: cold, samples: t.samples, medianSeconds: t.median, ciLowSeconds: t.ciLow, ciHighSeconds: t.ciHigh,
                                         gweightsPerSecond: weights / t.median / 1e9, gbytesPerSecond: gbps, rooflineFraction: fraction,
                                         counters: [:], simulatedInstructions: nil, weightBytes: bench.weightBytes))
                progress.advance(detail: "\(v.id)/\(f.rawValue) \(String(format: "%.1f", t.median * 1e6)) µs")
            }
            if json {
                struct Row: Encodable {
                    var variant, format, shape: String; var tokens, threads: Int; var cold: Bool
                    var median_us, ci_low_us, ci_high_us, gweights_per_s, gbytes_per_s: Double; var roofline_fraction: Double?
                    var weight_bytes: Int; var samples_us: [Double]
                }
                try printJSON(rows.map { Row(variant: $0.variant, format: $0.format, shape: $0.shape, tokens: $0.tokens, threads: $0.threads, cold: $0.cold,
                                             median_us: $0.medianSeconds * 1e6, ci_low_us: $0.ciLowSeconds * 1e6, ci_high_us: $0.ciHighSeconds * 1e6,
                                             gweights_per_s: $0.gweightsPerSecond, gbytes_per_s: $0.gbytesPerSecond, roofline_fraction: $0.rooflineFraction,
                                             weight_bytes: $0.weightBytes, samples_us: $0.samples.map { $0 * 1e6 }) })
            } else {
                print("variant          format        median µs   95% CI µs           G w/s    GB/s   % roofline  bytes")
                for r in rows {
                    print(String(format: "%-16@ %-12@ %10.1f   [%8.1f, %8.1f]  %7.1f  %6.1f   %6@     %d",
                                 r.variant as NSString, r.format as NSString, r.medianSeconds * 1e6, r.ciLowSeconds * 1e6, r.ciHighSeconds * 1e6,
                                 r.gweightsPerSecond, r.gbytesPerSecond, (r.rooflineFraction.map { String(format: "%.0f%%", $0 * 100) } ?? "—") as NSString, r.weightBytes))
                }
            }
        }
    }
}
