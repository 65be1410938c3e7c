import ArgumentParser
import Foundation
import TritCore
import TritKernels
import TritMeasure
import TritTune
import TritDispatch

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Autotune kernel parameters per (shape, tokens, threads); results go to a resumable per-CPU tuning cache.")

    @Option(help: "Shapes ROWSxK,... (e.g. 576x576,1536x576; \(MatrixShape.expected)).") var shapes: CommaSeparated<MatrixShape>
    @Option(help: "Token counts, e.g. 1,64 (each 1...4096).") var tokens = CommaSeparated<Int>(argument: "1")!
    @Option(help: "Thread counts, e.g. 1,2 (each 1...\(maximumThreads)).") var threads = CommaSeparated<Int>(argument: "1")!
    @Option(help: "Variants to tune (default: every tuned variant of the registry whose own loops run on this CPU: \(KernelRegistry.tuningTargets().map(\.id).joined(separator: ", "))). A named variant that would run only its portable fallback here is left out with a note: dispatch never picks it.")
    var variants = KernelRegistry.tuningTargets().map(\.id).joined(separator: ",")
    @Option(help: "Formats to tune them on, e.g. 2plane-2bit,2plane-base3-lut for PTQTP's two planes (default: each variant's one-plane formats).") var formats: CommaSeparated<PackedFormatKind>?
    @Option(help: "Strategy: \(TuningStrategies.names.joined(separator: "|")).") var strategy = "halving"
    @Option(help: "Evaluations per problem.") var budget: Int?
    @Option(help: "Wall-time budget per problem, seconds.") var time: Double?
    @Option(help: "Tuning cache file (default: $TRITBENCH_CACHE/tuning/<cpu>.json).") var cache: String?
    @Flag(help: "Replay the strategy against the cache without measuring.") var replay = false
    @Flag(help: "Time with weights streaming from DRAM (cold problems: their own records, which decode dispatch prefers).") var cold = false
    @Flag(help: "JSON output.") var json = false

    /// Ranges and registry names, before the cache is opened or anything is measured.
    func validate() throws {
        for t in tokens.values { try OptionCheck.range("tokens", t, 1...4096) }
        for t in threads.values { try OptionCheck.range("threads", t, 1...maximumThreads) }
        let chosen = try OptionCheck.names("variants", variants, known: KernelRegistry.all.map(\.id)).map { try KernelRegistry.variant($0) }
        for f in formats?.values ?? [] where !chosen.contains(where: { $0.supports(f) }) {
            throw ValidationError("--formats: none of --variants \(variants) runs \(f)")
        }
        guard TuningStrategies.named(strategy) != nil else {
            throw ValidationError("--strategy: unknown '\(TextEscaping.terminal(strategy))'; known: \(TuningStrategies.names.joined(separator: ", "))")
        }
        try OptionCheck.atLeast("budget", budget, 1)
        try OptionCheck.finite("time", time, 0.001...86_400)
    }

    func run() throws {
        let cpu = CPUDescription.current()
        let path = cache ?? TuningCache.defaultPath(cpuFingerprint: cpu.fingerprint)
        var loop = KernelTuningLoop(strategy: TuningStrategies.named(strategy)!, budget: TuningBudget(maxEvaluations: budget, maxSeconds: time),
                                    counters: CounterSet.preferred(), coldBytes: 2 * max(cpu.lastLevelCacheBytes, 256 << 20))
        loop.replay = replay
        let wanted = formats.map { Set($0.values) }
        var problems: [TuningProblem] = []
        let features = CPUFeatures.current
        var chosen: [KernelVariant] = []
        for v in variants.split(separator: ",").map(String.init) {
            let variant = try KernelRegistry.variant(v)
            if let note = variant.notTunedNote(on: features) { logNotice("[tune] \(note)") } else { chosen.append(variant) }
        }
        guard !chosen.isEmpty else {
            throw CommandFailure(description: "--variants \(variants): none runs its own loops on this CPU (features: \(features.names.joined(separator: " "))); nothing to tune")
        }
        for s in shapes.values { for t in tokens.values { for th in threads.values {
            for variant in chosen {
                let v = variant.id
                for f in variant.formats where wanted.map({ $0.contains(f) }) ?? (f.requiredPlanes ?? 1 == 1 || variant.formats.count == 1) {
                    problems.append(TuningProblem(variant: v, format: f, rows: s.rows, cols: s.cols, tokens: t, threads: th, cold: cold))
                }
            }
        } } }
        var tuner = Tuner(context: TuningContext.current(cpu: cpu), cache: TuningCache(path: path))
        let started = Date()
        var outcomes: [TuningOutcome] = []
        do {
            for p in problems { outcomes.append(try loop.tune(p, with: &tuner, progress: true)) }
        } catch {
            throw fail(error)
        }
        if json {
            struct Row: Encodable { var problem: String; var best: String?; var median_us: Double?; var ci_low_us: Double?; var ci_high_us: Double?
                var default_us: Double?; var speedup: Double?; var counters: [String: Double]; var evaluations: Int; var measured: Int; var failures: Int; var seconds: Double }
            try printJSON(outcomes.map { o in Row(problem: o.problem.description, best: o.best?.configuration.description, median_us: o.best?.median.map { $0 * 1e6 },
                                                  ci_low_us: o.best?.ciLow.map { $0 * 1e6 }, ci_high_us: o.best?.ciHigh.map { $0 * 1e6 },
                                                  default_us: o.defaultRecord?.median.map { $0 * 1e6 }, speedup: o.speedupOverDefault,
                                                  counters: o.best?.counters ?? [:], evaluations: o.evaluations.count, measured: o.newlyMeasured,
                                                  failures: o.failures, seconds: o.seconds) })
        } else {
            var byShape: [String: [TuningOutcome]] = [:]
            // One best per plane count: a two-plane layer never runs a one-plane format.
            for o in outcomes {
                let planes = o.problem.format.requiredPlanes ?? 1
                byShape["\(o.problem.shape) tokens=\(o.problem.tokens) threads=\(o.problem.threads)\(planes == 2 ? " two planes" : "")\(o.problem.cold ? " cold" : "")", default: []].append(o)
            }
            for key in byShape.keys.sorted() {
                let os = byShape[key]!
                guard let best = os.filter({ $0.best?.median != nil }).min(by: { $0.best!.median! < $1.best!.median! }) else { continue }
                let b = best.best!
                print("\(key): best \(best.problem.variant)/\(best.problem.format.rawValue) {\(b.configuration)} median \(String(format: "%.1f", b.median! * 1e6)) µs [\(String(format: "%.1f", (b.ciLow ?? .nan) * 1e6)), \(String(format: "%.1f", (b.ciHigh ?? .nan) * 1e6))]"
                      + ", speedup over default \(best.speedupOverDefault.map { String(format: "%.2f×", $0) } ?? "—")"
                      + ", counters \(b.counters.isEmpty ? "none counted" : b.counters.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.3g", $0.value))" }.joined(separator: " "))"
                      + ", tuned in \(String(format: "%.1f", os.map(\.seconds).reduce(0, +))) s (\(os.map(\.evaluations.count).reduce(0, +)) evaluations, \(os.map(\.newlyMeasured).reduce(0, +)) measured)")
            }
            print("total tuning time \(String(format: "%.1f", Date().timeIntervalSince(started))) s; cache \(path)")
        }
    }
}
