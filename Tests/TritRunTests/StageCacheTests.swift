import Foundation
import Testing
import TritCore
import TritRun

@Suite struct StageCacheTests {
    func cache(reuse: Bool = true, root: String) -> StageCache { StageCache(cache: CachePaths(root: root), reuse: reuse) }

    @Test func completedStageIsReusedAndAChangedKeyRunsAgain() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tb-stage-\(UUID())").path
        var runs = 0
        let k1 = StageCache.key(["rev-a", "model-sha", "absmean"])
        let first = try cache(root: root).run(stage: "quantize", key: k1) { () -> [Double] in runs += 1; return [1.5, 2] }
        let second = try cache(root: root).run(stage: "quantize", key: k1) { () -> [Double] in runs += 1; return [9] }
        #expect(!first.reused && second.reused)
        #expect(second.value == [1.5, 2])
        #expect(runs == 1)
        let k2 = StageCache.key(["rev-b", "model-sha", "absmean"])
        #expect(k2 != k1)
        let third = try cache(root: root).run(stage: "quantize", key: k2) { () -> [Double] in runs += 1; return [3] }
        #expect(!third.reused && runs == 2)
        // --fresh: runs even though the output is cached.
        let fresh = try cache(reuse: false, root: root).run(stage: "quantize", key: k1) { () -> [Double] in runs += 1; return [4] }
        #expect(!fresh.reused && fresh.value == [4] && runs == 3)
    }

    @Test func interruptedStageLeavesNothingBehindAndRunsAgain() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tb-stage-\(UUID())").path
        struct Interrupted: Error {}
        let k = StageCache.key(["x"])
        #expect(throws: Interrupted.self) {
            _ = try cache(root: root).run(stage: "eval", key: k) { () -> Int in throw Interrupted() }
        }
        var ran = false
        let r = try cache(root: root).run(stage: "eval", key: k) { () -> Int in ran = true; return 7 }
        #expect(ran && !r.reused && r.value == 7)
    }

    @Test func unreadableCachedOutputIsRecomputed() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tb-stage-\(UUID())").path
        let c = cache(root: root)
        let k = StageCache.key(["y"])
        try AtomicFile.write("{ not json", to: c.path(stage: "eval", key: k))
        let r = try c.run(stage: "eval", key: k) { 5 }
        #expect(!r.reused && r.value == 5)
    }
}
