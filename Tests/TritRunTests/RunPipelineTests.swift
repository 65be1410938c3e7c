import Foundation
import Testing
import TritCore
import TritReport
import TritRun

@Suite struct RunPipelineTests {
    @Test func runWritesALoadableResultWithContext() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-run-\(UUID())").path
        let out = try RunPipeline(options: RunOptions(reportsDirectory: dir, runID: "test-run", skip: ["roofline", "tune", "models"])).run()
        #expect(out.path == dir + "/test-run/result.json")
        let loaded = try RunResult.load(path: out.path)
        #expect(loaded.stages.map(\.name).first == "env")
        #expect(loaded.context.events.contains { $0.event == "perf::TASK-CLOCK" && $0.available })
    }

    @Test func runIDSortsByTime() {
        let a = RunPipeline.makeRunID(date: Date(timeIntervalSince1970: 0), revision: "abcdef1234")
        let b = RunPipeline.makeRunID(date: Date(timeIntervalSince1970: 3600), revision: "0000000000")
        #expect(a == "19700101-000000-abcdef12")
        #expect(a < b)
    }
}
