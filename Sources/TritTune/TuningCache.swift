import Foundation
import TritCore

/// One measured (or failed) configuration: a row of the tuning cache.
public struct TuningRecord: Codable, Equatable, Sendable {
    public var context: TuningContext
    public var problem: TuningProblem
    public var configuration: TuningConfiguration
    /// "ok", or "failed" (verification failure or error) with `failure` saying why.
    public var status: String
    public var failure: String?
    /// Seconds per call, one per timing sample; appended to when a strategy asks for more.
    public var samples: [Double]
    public var median: Double?
    public var ciLow: Double?
    public var ciHigh: Double?
    /// Counter readings per call, by event name; only events that really counted appear.
    public var counters: [String: Double]
    public var date: Date

    public var isFailure: Bool { status != "ok" }
}

/// Errors of the tuning cache; a corrupt file is moved aside, never silently overwritten.
public enum TuningCacheError: Error, CustomStringConvertible, Equatable {
    case corrupt(path: String, reason: String, movedTo: String)
    case unsupportedVersion(path: String, found: Int, supported: Int, movedTo: String)

    public var description: String {
        switch self {
        case let .corrupt(path, reason, moved):
            return "tuning cache \(path) is corrupt (\(reason)); it was moved aside to \(moved) and a new cache is started"
        case let .unsupportedVersion(path, found, supported, moved):
            return "tuning cache \(path) has schemaVersion \(found), this build reads \(supported); it was moved aside to \(moved)"
        }
    }
}

/// The tuning cache: a versioned JSON file with one record per (context, problem, configuration).
///
/// Resumable by construction: the tuner looks a configuration up before measuring it, and the
/// file is rewritten atomically after every new record, so a killed run loses at most the
/// measurement in flight.
public struct TuningCache: Sendable {
    public static let schemaName = "tritbench.tuning-cache"
    public static let currentSchemaVersion = 1

    public let path: String?
    public private(set) var records: [TuningRecord] = []
    private var index: [RecordKey: Int] = [:]

    struct RecordKey: Hashable { var context: TuningContext; var problem: TuningProblem; var configuration: TuningConfiguration }

    struct File: Codable {
        var schema: String
        var schemaVersion: Int
        var records: [TuningRecord]
    }

    /// An in-memory cache (nothing is written).
    public init() { path = nil }

    /// Opens (or starts) the cache at `path`. A corrupt or incompatible file is renamed to
    /// `<path>.corrupt-<timestamp>` and reported through `onCorrupt` (the caller prints it);
    /// the cache then starts empty.
    public init(path: String, onCorrupt: (TuningCacheError) -> Void = { logNotice("warning: \($0)") }) {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else { return }
        func moveAside() -> String {
            let f = DateFormatter(); f.dateFormat = "yyyyMMdd-HHmmss"; f.locale = Locale(identifier: "en_US_POSIX")
            let dest = "\(path).corrupt-\(f.string(from: Date()))"
            _ = rename(path, dest)
            return dest
        }
        do {
            let file = try JSONCoding.decoder().decode(File.self, from: data)
            guard file.schema == Self.schemaName else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "schema is '\(file.schema)', expected '\(Self.schemaName)'"))
            }
            guard file.schemaVersion == Self.currentSchemaVersion else {
                onCorrupt(.unsupportedVersion(path: path, found: file.schemaVersion, supported: Self.currentSchemaVersion, movedTo: moveAside()))
                return
            }
            for r in file.records { insert(r) }
        } catch {
            let reason: String
            switch error {
            case let DecodingError.dataCorrupted(c): reason = c.debugDescription + (c.underlyingError.map { ": \($0)" } ?? "")
            case let DecodingError.keyNotFound(k, c): reason = "missing field '\((c.codingPath + [k]).map(\.stringValue).joined(separator: "."))'"
            case let DecodingError.typeMismatch(_, c): reason = "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
            default: reason = "\(error)"
            }
            onCorrupt(.corrupt(path: path, reason: reason, movedTo: moveAside()))
        }
    }

    public func record(_ context: TuningContext, _ problem: TuningProblem, _ configuration: TuningConfiguration) -> TuningRecord? {
        index[RecordKey(context: context, problem: problem, configuration: configuration)].map { records[$0] }
    }

    /// Inserts or replaces a record (same key).
    public mutating func insert(_ r: TuningRecord) {
        let key = RecordKey(context: r.context, problem: r.problem, configuration: r.configuration)
        if let i = index[key] { records[i] = r } else { index[key] = records.count; records.append(r) }
    }

    /// Writes the whole cache atomically (no-op for an in-memory cache).
    public func save() throws {
        guard let path else { return }
        try AtomicFile.write(try JSONCoding.encode(File(schema: Self.schemaName, schemaVersion: Self.currentSchemaVersion, records: records)), to: path)
    }

    /// Successful records of one problem in one context.
    public func records(for problem: TuningProblem, in context: TuningContext) -> [TuningRecord] {
        records.filter { $0.context == context && $0.problem == problem }
    }

    /// The fastest successful record (by median) among problems matching `match` in `context`.
    public func best(in context: TuningContext, where match: (TuningProblem) -> Bool) -> TuningRecord? {
        records.filter { $0.context == context && !$0.isFailure && $0.median != nil && match($0.problem) }
            .min { ($0.median!, $0.configuration) < ($1.median!, $1.configuration) }
    }

    /// The default location: one file per CPU fingerprint under the download cache.
    public static func defaultPath(cache: CachePaths = CachePaths(), cpuFingerprint: String) -> String {
        cache.tuningDirectory + "/\(cpuFingerprint).json"
    }
}
