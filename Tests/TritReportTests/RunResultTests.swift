import Foundation
import Testing
import TritCore
import TritKernels
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

/// Kernel rows and tuning landscapes are a problem plus a body since the two became separate
/// types; their JSON stays the flat object result files have always held (these rows are from
/// the run 20261206-011022-230415f7, samples and points trimmed).
@Suite struct KernelRowCompatibilityTests {
    static let kernelRow = #"{"ciHighSeconds":1.0349316742081448e-05,"ciLowSeconds":9.986380090497739e-06,"cold":true,"cols":576,"counters":{"perf::PAGE-FAULTS":0,"perf::TASK-CLOCK":15896.2},"format":"2bit","gbytesPerSecond":9.693842171890244,"gweightsPerSecond":32.845018182404594,"medianSeconds":1.0101257918552037e-05,"rooflineFraction":0.1814215107441482,"rows":576,"samples":[1.1167532520325204e-05,1.051289837398374e-05],"simulatedInstructions":93647.33333333333,"threads":1,"tokens":1,"variant":"simd","weightBytes":97920}"#
    static let landscapeRow = #"{"best":{"int16Depth":4,"rowBlock":4,"threads":1},"bestMedianSeconds":1.0101257918552037e-05,"cold":true,"cols":576,"defaultMedianSeconds":1.0582362445414849e-05,"evaluations":13,"format":"2plane-base3-lut","points":[{"configuration":{"int16Depth":4,"rowBlock":4,"threads":1},"failed":false,"medianSeconds":1.0101257918552037e-05}],"rows":1536,"seconds":1.5,"strategy":"halving","threads":1,"tokens":1,"variant":"lut243"}"#

    static func object(_ data: Data) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: data) as? NSDictionary)
    }

    @Test func kernelRowsReadAndWriteTheFlatObject() throws {
        let row = try JSONDecoder().decode(KernelResult.self, from: Data(Self.kernelRow.utf8))
        #expect(row.problem == KernelProblem(variant: "simd", format: .twoBit, rows: 576, cols: 576, tokens: 1, threads: 1, cold: true))
        #expect(row.medianSeconds == 1.0101257918552037e-05 && row.weightBytes == 97920 && row.simulatedInstructions == 93647.33333333333)
        #expect(try Self.object(JSONEncoder().encode(row)) == Self.object(Data(Self.kernelRow.utf8)))
    }

    @Test func landscapesReadAndWriteTheFlatObject() throws {
        let l = try JSONDecoder().decode(TuningLandscape.self, from: Data(Self.landscapeRow.utf8))
        #expect(l.problem.format == .twoPlaneBase3LUT && l.problem.rows == 1536 && l.cold && l.strategy == "halving")
        #expect(try Self.object(JSONEncoder().encode(l)) == Self.object(Data(Self.landscapeRow.utf8)))
        // Written before the timing regime was recorded: hot.
        let old = Self.landscapeRow.replacingOccurrences(of: #""cold":true,"#, with: "")
        #expect(try JSONDecoder().decode(TuningLandscape.self, from: Data(old.utf8)).cold == false)
        // A format no build knows is an error naming it, not a row with an empty format.
        let unknown = Self.landscapeRow.replacingOccurrences(of: "2plane-base3-lut", with: "9trit")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(TuningLandscape.self, from: Data(unknown.utf8)) }
    }
}
