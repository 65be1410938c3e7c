import Foundation
import TritCore
import TritModel

/// Reuses the output of a completed stage when its inputs are unchanged.
///
/// A stage's key is the SHA-256 of a description of everything it depends on (input file
/// hashes, options, the code revision and the CPU); its output is stored as JSON under
/// `$TRITBENCH_CACHE/stages/<stage>-<key>.json`, written atomically only when the stage
/// finished. So a run killed in stage 5 reruns stages 1–4 from the cache and continues.
public struct StageCache: Sendable {
    public let directory: String
    /// Where training checkpoints live (shared with `tritbench train`).
    public let trainingCheckpointDirectory: String
    /// When false every stage runs afresh (its output still replaces the cached one).
    public let reuse: Bool

    public init(cache: CachePaths = CachePaths(), reuse: Bool = true) {
        directory = cache.root + "/stages"
        trainingCheckpointDirectory = cache.trainingCheckpointDirectory
        self.reuse = reuse
    }

    /// Hex SHA-256 of the key parts joined with newlines.
    public static func key(_ parts: [String]) -> String {
        var h = SHA256()
        h.update(Array(parts.joined(separator: "\n").utf8))
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    public func path(stage: String, key: String) -> String { "\(directory)/\(stage)-\(key.prefix(24)).json" }

    /// Returns the cached output and true, or runs `body`, stores its output, and returns false.
    public func run<T: Codable>(stage: String, key: String, _ body: () throws -> T) throws -> (value: T, reused: Bool) {
        let p = path(stage: stage, key: key)
        if reuse, let data = FileManager.default.contents(atPath: p) {
            if let v = try? JSONCoding.decoder().decode(T.self, from: data) { return (v, true) }
            logNotice("[run] stage cache \(p) is unreadable; running \(stage) again")
        }
        let v = try body()
        try AtomicFile.writeJSON(v, to: p)
        return (v, false)
    }
}
