import Foundation
import Testing
import TritCore
import TritMeasure
import TritReport
import TritKernels
import TritTune
@testable import TritRun

@Suite struct RunPipelineTests {
    @Test func runWritesALoadableResultWithContext() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-run-\(UUID())").path
        let out = try RunPipeline(options: RunOptions(reportsDirectory: dir, runID: "test-run", skip: ["roofline", "tune", "models"])).run()
        #expect(out.path == dir + "/test-run/result.json")
        let loaded = try RunResult.load(path: out.path)
        #expect(loaded.stages.map(\.name).first == "env")
        // Skipped stages are absent from the run and named among its limits.
        #expect(!loaded.stages.contains { ["roofline", "tune", "models"].contains($0.name) })
        #expect(loaded.limits?.contains("stages left out of this run (--skip): roofline, tune, models") == true)
        // Every probed event either counted, by a named backend, or says why not for each backend.
        #expect(!loaded.context.events.isEmpty)
        for e in loaded.context.events {
            #expect(e.available ? e.backend != nil && e.count != nil : e.count == nil && !e.failures.isEmpty, "\(e)")
        }
        switch PerfEventBackend().probe(CounterEvent.named("perf::TASK-CLOCK"), workload: {}) {
        case .success:
            #expect(loaded.context.events.contains { $0.event == "perf::TASK-CLOCK" && $0.available })
        case .failure(let f):
            withKnownIssue("perf_event_open refuses task-clock on this host: \(f)") { Issue.record("no software events here") }
        }
    }

    @Test func runIDSortsByTime() {
        let a = RunPipeline.makeRunID(date: Date(timeIntervalSince1970: 0), revision: "abcdef1234")
        let b = RunPipeline.makeRunID(date: Date(timeIntervalSince1970: 3600), revision: "0000000000")
        #expect(a == "19700101-000000-abcdef12")
        #expect(a < b)
    }

    /// Layers whose decode and prefill formats differ hold two packed copies, and the method's
    /// row says so; embeddings, the head and one-copy layers are not counted as two.
    @Test func twoCopyNoteCountsOnlyTernaryLayersWithTwoFormats() {
        let runtime: [[String: Int]] = [
            ["ternary-2plane-2bit": 30],
            ["ternary-2plane-base3-lut+2plane-2bit": 30],
            ["ternary-2plane-base3-lut+2plane-2bit": 20, "ternary-2plane-2bit": 10],
            ["int8 block (tied)": 1],
        ]
        #expect(ModelStage.twoCopyNote(runtime)
                == "two packed copies (decode + prefill formats) in 50 of 90 ternary layers: ternary-2plane-base3-lut+2plane-2bit (50)")
        #expect(ModelStage.twoCopyNote([["ternary-2bit": 210], ["q8_0 embedding": 1]]) == nil)
    }

    /// The run's cachegrind stage counts the fastest 1-thread kernel per (shape, tokens) at its
    /// tuned configuration, through `profile`'s child mode.
    @Test func cachegrindCasesAreTheFastestTunedKernels() {
        func k(_ v: String, _ f: PackedFormatKind, _ rows: Int, _ tokens: Int, _ threads: Int, _ t: Double) -> KernelResult {
            KernelResult(problem: KernelProblem(variant: v, format: f, rows: rows, cols: 576, tokens: tokens, threads: threads, cold: tokens == 1),
                         KernelMeasurement(samples: [t], medianSeconds: t, ciLowSeconds: t, ciHighSeconds: t, gweightsPerSecond: 1,
                                           gbytesPerSecond: 1, rooflineFraction: nil, counters: [:], simulatedInstructions: nil, weightBytes: 1))
        }
        let kernels = [k("simd", .twoBit, 576, 1, 1, 5e-6), k("lut243", .base3LUT, 576, 1, 1, 4e-6),
                       k("simd", .twoBit, 576, 1, 2, 1e-6), k("simd", .base3, 576, 64, 1, 9e-5), k("simd", .twoBit, 192, 1, 1, 2e-6)]
        // Written before landscapes recorded the timing regime (cold reads as false): still matched.
        let tuning = [TuningLandscape(problem: KernelProblem(variant: "lut243", format: .base3LUT, rows: 576, cols: 576, tokens: 1, threads: 1),
                                      TuningSearch(strategy: "halving", points: [], best: ["prefetchBytes": 4096, "rowBlock": 4, "threads": 1],
                                                   bestMedianSeconds: 4e-6, defaultMedianSeconds: 5e-6, evaluations: 3, seconds: 1))]
        let cases = CachegrindRegression.fastestTuned(kernels, tuning: tuning)
        #expect(cases.map(\.name) == ["cachegrind/simd/2bit/192x576/tokens1", "cachegrind/lut243/base3-lut/576x576/tokens1",
                                      "cachegrind/simd/base3/576x576/tokens64"])
        #expect(cases[1].configuration == "prefetchBytes=4096,rowBlock=4")
        #expect(cases[1].arguments(calls: 3) == ["profile", "--kernel", "lut243", "--format", "base3-lut", "--shape", "576x576",
                                                 "--tokens", "1", "--config", "prefetchBytes=4096,rowBlock=4",
                                                 "--cachegrind-child-calls", "3"])
        #expect(cases[0].arguments(calls: 0).contains("--config") == false)
    }
}

@Suite struct TuningStageTargetTests {
    /// The run tunes what the registry marks as tuned, on every format of each: a variant added
    /// to the registry is tuned without touching the run.
    @Test func defaultTargetsAreTheRegistrysTunedVariants() {
        let stage = TuningStage(tokens: [1], threads: [1], budget: TuningBudget(maxEvaluations: 1), cachePath: "/nonexistent")
        let expected = KernelRegistry.all.filter(\.isTuned)
        #expect(stage.targets.map(\.variant) == expected.map(\.id))
        #expect(stage.targets.map(\.formats) == expected.map(\.formats))
        #expect(!stage.targets.contains { $0.variant == KernelRegistry.scalar || $0.variant == KernelRegistry.simdPortable })
    }

    /// A case whose program fails under valgrind is left out with the program's own message
    /// (here /bin/sh refusing tritbench's arguments, as tritbench refuses an AVX-512
    /// configuration under valgrind's CPU model), and the stage goes on with the other cases
    /// instead of failing as a whole.
    @Test func aCaseValgrindCannotRunIsLeftOutWithItsReason() throws {
        let set = CachegrindRegression(cases: [.init(variant: "simd", format: .twoBit, rows: 64, cols: 256, tokens: 1),
                                               .init(variant: "lut243", format: .base3LUT, rows: 64, cols: 256, tokens: 1)], calls: 1)
        var features = CPUFeatures(); features.avx512f = true
        let r = try set.instructionsPerCall(executable: "/bin/sh", hostFeatures: features)
        #expect(r.perCall.isEmpty)
        #expect(Set(r.notSimulated.keys) == ["cachegrind/simd/2bit/64x256/tokens1", "cachegrind/lut243/base3-lut/64x256/tokens1"])
        for why in r.notSimulated.values {
            #expect(why.contains("profile") && !why.hasPrefix("==") && why.contains("without AVX-512"), "\(why)")
        }
    }

    /// The real case: the built tritbench under valgrind runs an AVX2 configuration and is
    /// refused an AVX-512 one (valgrind's CPU model has no AVX-512 on any host, and an AVX2
    /// host refuses it natively too), which is left out with tritbench's own message.
    @Test func theRealTritbenchUnderValgrindRunsAVX2AndLeavesOutAVX512() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let exe = root.appendingPathComponent(".build/release/tritbench").path
        try #require(FileManager.default.isExecutableFile(atPath: exe), "build tritbench first (Scripts/test.sh does)")
        let avx2 = CachegrindRegression.Case(variant: "simd", format: .twoBit, rows: 64, cols: 256, tokens: 1,
                                             configuration: "gemvWidth=256,rowBlock=4")
        let avx512 = CachegrindRegression.Case(variant: "simd", format: .twoBit, rows: 128, cols: 256, tokens: 1,
                                               configuration: "gemvWidth=512,rowBlock=4")
        let r = try CachegrindRegression(cases: [avx2, avx512], calls: 1).instructionsPerCall(executable: exe)
        #expect((r.perCall[avx2.name] ?? 0) > 0)
        #expect(r.perCall[avx512.name] == nil)
        #expect(r.notSimulated[avx512.name]?.contains("gemvWidth") == true, "\(r.notSimulated)")
    }
}
