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

    public init(context: TuningContext, problem: TuningProblem, configuration: TuningConfiguration, status: String,
                failure: String?, samples: [Double], median: Double?, ciLow: Double?, ciHigh: Double?,
                counters: [String: Double], date: Date) {
        self.context = context; self.problem = problem; self.configuration = configuration; self.status = status
        self.failure = failure; self.samples = samples; self.median = median; self.ciLow = ciLow; self.ciHigh = ciHigh
        self.counters = counters; self.date = date
    }

    public var isFailure: Bool { status != "ok" }
}

/// Errors of the tuning cache; a corrupt file is moved aside, never silently overwritten.
public enum TuningCacheError: Error, CustomStringConvertible, Equatable {
    case corrupt(path: String, reason: String, movedTo: String)
    case unsupportedVersion(path: String, found: Int, supported: Int, movedTo: String)
    /// Records that failed validation were dropped; the valid ones were kept.
    case droppedRecords(path: String, dropped: Int, kept: Int, first: String)

    public var description: String {
        switch self {
        case let .corrupt(path, reason, moved):
            return "tuning cache \(path) is corrupt (\(reason)); it was moved aside to \(moved) and a new cache is started"
        case let .unsupportedVersion(path, found, supported, moved):
            return "tuning cache \(path) has schemaVersion \(found), this build reads \(supported); it was moved aside to \(moved)"
        case let .droppedRecords(path, dropped, kept, first):
            return "tuning cache \(path): dropped \(dropped) invalid record\(dropped == 1 ? "" : "s") and kept \(kept) (first: \(first))"
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
    /// Every record here passed `validator`: dispatch ranks only valid records.
    public private(set) var records: [TuningRecord] = []
    public let validator: TuningRecordValidator
    private var index: [RecordKey: Int] = [:]

    struct RecordKey: Hashable { var context: TuningContext; var problem: TuningProblem; var configuration: TuningConfiguration }

    struct File: Codable {
        var schema: String
        var schemaVersion: Int
        var records: [TuningRecord]
    }

    /// The file as read: each record decoded on its own, so one bad record costs only itself.
    struct LenientFile: Decodable {
        var schema: String
        var schemaVersion: Int
        var records: [LenientRecord]
    }

    /// A record, or why it does not decode (a missing field, a wrong type).
    struct LenientRecord: Decodable {
        var result: Result<TuningRecord, Error>
        init(from decoder: Decoder) throws {
            do { result = .success(try TuningRecord(from: decoder)) } catch { result = .failure(error) }
        }
    }

    /// An in-memory cache (nothing is written).
    public init(validator: TuningRecordValidator = .structural) { path = nil; self.validator = validator }

    /// Opens (or starts) the cache at `path`. A file that is not a tuning cache at all (not
    /// JSON, another schema or version) is moved aside to a unique `<path>.corrupt-<timestamp>-<n>`
    /// and reported through `onCorrupt`; the cache then starts empty. Records that fail
    /// `validator` (a missing field, a NaN or negative time, an unknown variant or format,
    /// parameters outside the variant's space) are dropped, counted in one warning, and the
    /// valid ones kept.
    public init(path: String, validator: TuningRecordValidator = .kernels,
                onCorrupt: (TuningCacheError) -> Void = { logNotice("warning: \(TextEscaping.terminal($0.description))") }) {
        self.path = path
        self.validator = validator
        guard let data = FileManager.default.contents(atPath: path) else { return }
        switch Self.parse(data, validator: validator) {
        case let .notACache(reason):
            onCorrupt(.corrupt(path: path, reason: reason, movedTo: Self.moveAside(path)))
        case let .unsupportedVersion(found):
            onCorrupt(.unsupportedVersion(path: path, found: found, supported: Self.currentSchemaVersion, movedTo: Self.moveAside(path)))
        case let .records(valid, dropped, first):
            for r in valid { insert(r) }
            if let first { onCorrupt(.droppedRecords(path: path, dropped: dropped, kept: records.count, first: first)) }
        }
    }

    /// What a cache file's bytes hold.
    public enum Parsed {
        /// Not a tuning cache at all (not JSON, another schema, no record list).
        case notACache(reason: String)
        case unsupportedVersion(found: Int)
        /// The records that decode and pass the validator; how many did not, and the first reason.
        case records(valid: [TuningRecord], dropped: Int, firstProblem: String?)
    }

    /// Parses a cache file's bytes record by record (the one place every file passes through;
    /// the fuzz target calls it directly). Never throws: each failure is part of the answer.
    public static func parse(_ data: Data, validator: TuningRecordValidator) -> Parsed {
        let file: LenientFile
        do { file = try JSONCoding.decoder().decode(LenientFile.self, from: data) } catch { return .notACache(reason: reason(error)) }
        guard file.schema == schemaName else { return .notACache(reason: "schema is '\(TextEscaping.terminal(file.schema))', expected '\(schemaName)'") }
        guard file.schemaVersion == currentSchemaVersion else { return .unsupportedVersion(found: file.schemaVersion) }
        var valid: [TuningRecord] = []
        var dropped = 0
        var first: String?
        for (i, lenient) in file.records.enumerated() {
            let why: String?
            switch lenient.result {
            case let .success(r): why = validator.problem(with: r)
                if why == nil { valid.append(r) }
            case let .failure(e): why = reason(e)
            }
            if let why { dropped += 1; if first == nil { first = "record \(i): \(why)" } }
        }
        return .records(valid: valid, dropped: dropped, firstProblem: first)
    }

    /// A decoding error as a short reason naming the field.
    static func reason(_ error: Error) -> String {
        func at(_ c: DecodingError.Context, _ extra: [CodingKey] = []) -> String {
            (c.codingPath + extra).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case let DecodingError.dataCorrupted(c): return c.debugDescription + (c.underlyingError.map { ": \($0)" } ?? "")
        case let DecodingError.keyNotFound(k, c): return "missing field '\(at(c, [k]))'"
        case let DecodingError.typeMismatch(t, c): return "wrong type at '\(at(c))' (expected \(t))"
        case let DecodingError.valueNotFound(t, c): return "null at '\(at(c))' (expected \(t))"
        default: return "\(error)"
        }
    }

    /// Renames a corrupt file to a name no earlier move used (`link` fails on an existing name,
    /// so three corruptions in one second keep three files), and returns that name.
    static func moveAside(_ path: String) -> String {
        let f = DateFormatter(); f.dateFormat = "yyyyMMdd-HHmmss"; f.locale = Locale(identifier: "en_US_POSIX")
        let stem = "\(path).corrupt-\(f.string(from: Date()))"
        for n in 0..<10_000 {
            let dest = n == 0 ? stem : "\(stem)-\(n)"
            if link(path, dest) == 0 { unlink(path); return dest }
            if errno != EEXIST { break }
        }
        // A file system without hard links: a random suffix makes a collision vanishingly rare.
        let dest = "\(stem)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        _ = rename(path, dest)
        return dest
    }

    public func record(_ context: TuningContext, _ problem: TuningProblem, _ configuration: TuningConfiguration) -> TuningRecord? {
        index[RecordKey(context: context, problem: problem, configuration: configuration)].map { records[$0] }
    }

    /// Inserts or replaces a record (same key) when `validator` accepts it; otherwise leaves the
    /// cache unchanged and returns why.
    @discardableResult
    public mutating func insert(_ r: TuningRecord) -> String? {
        if let why = validator.problem(with: r) { return why }
        let key = RecordKey(context: r.context, problem: r.problem, configuration: r.configuration)
        if let i = index[key] { records[i] = r } else { index[key] = records.count; records.append(r) }
        return nil
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
