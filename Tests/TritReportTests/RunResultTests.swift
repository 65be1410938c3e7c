import Foundation
import Testing
import TritCore
import TritMeasure
import TritReport

@Suite struct RunResultTests {
    func tempDir() -> String { FileManager.default.temporaryDirectory.appendingPathComponent("tb-report-\(UUID())").path }

    @Test func roundTripsThroughJSON() throws {
        let env = EnvironmentReport.collect(probeEvents: false)
        let r = RunResult(runID: "r1", context: env, stages: [StageRecord(name: "env", seconds: 0.5, reused: false)])
        let path = tempDir() + "/result.json"
        try AtomicFile.writeJSON(r, to: path)
        let back = try RunResult.load(path: path)
        #expect(back.runID == "r1")
        #expect(back.schemaVersion == RunResult.currentSchemaVersion)
        #expect(back.stages == r.stages)
        #expect(back.context.cpu == env.cpu)
    }

    @Test func rejectsAnUnknownSchemaVersion() throws {
        let path = tempDir() + "/result.json"
        try AtomicFile.write(#"{"schema": "tritbench.run-result", "schemaVersion": 99}"#, to: path)
        #expect(throws: ReportError.unsupportedVersion(path: path, found: 99, supported: RunResult.currentSchemaVersion)) {
            try RunResult.load(path: path)
        }
    }

    @Test func rejectsAMissingField() throws {
        let path = tempDir() + "/result.json"
        try AtomicFile.write(#"{"schema": "tritbench.run-result", "schemaVersion": 1, "runID": "x"}"#, to: path)
        #expect(throws: ReportError.self) { try RunResult.load(path: path) }
    }
}

@Suite struct RunResultCompatibilityTests {
    /// Result files written before the build stamp (e.g. the committed baseline) still load:
    /// a git tree of Kernels/ is read as "git-tree:<hash>", no kernel identity as "unknown".
    @Test(arguments: [(#""kernelsTree" : "0123456789ab""#, "git-tree:0123456789ab"), ("", "unknown")])
    func resultWithoutTheContentHashLoads(oldField: String, expected: String) throws {
        let r = RunResult(runID: "old", context: EnvironmentReport.collect(probeEvents: false))
        var lines = try JSONCoding.encodeString(r).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let at = try #require(lines.firstIndex { $0.contains("\"kernelsContentHash\"") })
        if oldField.isEmpty {
            lines.remove(at: at)
        } else {
            lines[at] = lines[at].replacing(#/"kernelsContentHash" : "[^"]*"/#, with: oldField)
        }
        let text = lines.joined(separator: "\n")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tb-old-\(UUID()).json").path
        try AtomicFile.write(text, to: path)
        #expect(!text.contains("kernelsContentHash"))
        #expect(try RunResult.load(path: path).context.build.kernelsContentHash == expected)
    }
}
