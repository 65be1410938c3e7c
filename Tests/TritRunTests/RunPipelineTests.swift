import Foundation
import Testing
import TritCore
import TritMeasure
import TritReport
@testable import TritRun

@Suite struct RunPipelineTests {
    @Test func runWritesALoadableResultWithContext() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-run-\(UUID())").path
        let out = try RunPipeline(options: RunOptions(reportsDirectory: dir, runID: "test-run", skip: ["roofline", "tune", "models"])).run()
        #expect(out.path == dir + "/test-run/result.json")
        let loaded = try RunResult.load(path: out.path)
        #expect(loaded.stages.map(\.name).first == "env")
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
}
