import Foundation
import Testing
import TritCore
import TritModel
@testable import TritRun
import TritTrain

/// A method row of the main run on the real SmolLM2 GGUF (absmean, a few perplexity tokens and
/// PIQA documents), checking that a row killed after some of its parts resumes from them.
@Suite("model stage resume", .serialized)
struct ModelStageResumeTests {
    static let plan = EvaluationPlan(pplSource: "boolq-passages", context: 32, maxTokens: 64, tasks: ["piqa"], limit: 3)

    static func stage(root: String) -> ModelStage {
        ModelStage(gguf: CachePaths().defaultModel,
                   methods: [MethodSpec(method: "absmean", label: "absmean", follows: "test")],
                   plan: plan, calibrationSequences: 0, stageCache: StageCache(cache: CachePaths(root: root)), buildKey: ["test"])
    }

    static func files(_ root: String, prefix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root + "/stages").filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// With the row's file gone (the run was killed after these parts), the rerun takes the
    /// model and every finished part from the cache: a part edited on disk shows up in the row.
    /// A model file that changed since its part was stored is made again.
    @Test func aKilledRowResumesFromItsFinishedParts() throws {
        try #require(FileManager.default.fileExists(atPath: CachePaths().defaultModel), "run Scripts/setup.sh first")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tb-resume-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = try Self.stage(root: root).run()
        let row = try #require(first.methods.first)
        #expect(!first.reused && row.ppl != nil && row.tasks.map(\.task) == ["piqa"] && row.tasks[0].docs == 3)
        let parts = try Self.files(root, prefix: "part-absmean-")
        #expect(parts.count == 3)
        for (file, part) in zip(parts, ["model", "perplexity", "task-piqa"]) { #expect(file.hasPrefix("part-absmean-\(part)-"), "\(parts)") }

        // The run is killed after the perplexity and PIQA parts: the row file is missing.
        for f in try Self.files(root, prefix: "method-absmean-") { try FileManager.default.removeItem(atPath: root + "/stages/" + f) }
        let piqaPart = root + "/stages/" + (try Self.files(root, prefix: "part-absmean-task-piqa")[0])
        var stored = try JSONCoding.decoder().decode(EvalReport.self, from: Data(contentsOf: URL(fileURLWithPath: piqaPart)))
        stored.tasks["piqa"]!.acc = 0.123
        try AtomicFile.writeJSON(stored, to: piqaPart)
        let resumed = try Self.stage(root: root).run()
        #expect(!resumed.reused)
        #expect(resumed.methods[0].tasks[0].acc == 0.123)
        #expect(resumed.methods[0].ppl == row.ppl)

        // The model file changed after its part was stored: quantized again. Quantization is
        // deterministic, so the remade file has the recorded SHA-256 and the parts stand.
        for f in try Self.files(root, prefix: "method-absmean-") { try FileManager.default.removeItem(atPath: root + "/stages/" + f) }
        let model = try #require(try FileManager.default.contentsOfDirectory(atPath: root + "/stages/models").first)
        let handle = try #require(FileHandle(forWritingAtPath: root + "/stages/models/" + model))
        try handle.seekToEnd(); try handle.write(contentsOf: Data([0])); try handle.close()
        let modelPath = root + "/stages/models/" + model
        let sizeBefore = try #require(FileManager.default.attributesOfItem(atPath: modelPath)[.size] as? Int)
        let redone = try Self.stage(root: root).run()
        #expect(try FileManager.default.attributesOfItem(atPath: modelPath)[.size] as? Int == sizeBefore - 1)
        #expect(redone.methods[0].tasks[0].acc == 0.123)
        #expect(redone.methods[0].ppl == row.ppl)
    }

    /// A row is measured again when what decides its figures changes (here the training tokens,
    /// which `--training-tokens` sets), and not when only its label or description does.
    @Test func theRowKeyFollowsTrainingOptionsButNotTheLabel() throws {
        let stage = Self.stage(root: "/nonexistent")
        let base = MethodSpec(method: "qat", id: "tequila", label: "Tequila", follows: "paper",
                              training: TrainingOptions(form: .tequila(lambda: 1e-3), tokens: 12_288))
        var relabelled = base
        relabelled.label = "Tequila QAT"; relabelled.follows = "paper text"
        var longer = base
        longer.training?.tokens = 50_000
        let key = { (s: MethodSpec) in try stage.rowKey(s, ggufSHA: "sha", planKey: "plan") }
        #expect(try key(base) == key(relabelled))
        #expect(try key(base) != key(longer))
        #expect(try key(base) != stage.rowKey(base, ggufSHA: "sha", planKey: "other plan"))
    }
}
