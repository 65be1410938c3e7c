import Foundation
import TritCore
import TritMeasure

/// The result of one `tritbench run`: the file `Reports/<run-id>/result.json`.
///
/// Versioned: `schemaVersion` changes whenever a field changes meaning or is removed; readers
/// reject versions they do not know instead of guessing. Later stages add optional sections.
public struct RunResult: Codable, Equatable, Sendable {
    /// The schema this file follows. Bump on any incompatible change.
    public static let currentSchemaVersion = 1
    public static let schemaName = "tritbench.run-result"

    public var schema: String
    public var schemaVersion: Int
    public var runID: String
    /// Machine, build and revision the numbers came from (Google Benchmark-style context).
    public var context: EnvironmentReport
    /// Stages run, in order, with their wall time and whether they were reused from the stage cache.
    public var stages: [StageRecord]
    /// What the reference model is; stated in every report.
    public var notes: [String]
    /// Numbers a later run is compared against by `tritbench compare`.
    public var metrics: [Metric]?
    /// Limits the profile applied (document counts, token budgets, …), stated in every report.
    public var limits: [String]?
    /// Streaming bandwidth and int8 peak measured in this run (TritMeasure's roofline probe).
    public var roofline: RooflineResult?
    public var methods: [MethodResult]?
    public var kernels: [KernelResult]?
    public var tuning: [TuningLandscape]?

    public init(runID: String, context: EnvironmentReport, stages: [StageRecord] = [], notes: [String] = []) {
        self.schema = Self.schemaName
        self.schemaVersion = Self.currentSchemaVersion
        self.runID = runID
        self.context = context
        self.stages = stages
        self.notes = notes
        self.metrics = nil
        self.limits = nil
        self.roofline = nil
        self.methods = nil
        self.kernels = nil
        self.tuning = nil
    }

    /// Reads a result file, checking the schema name and version.
    public static func load(path: String) throws -> RunResult {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileError.missing(path: path, hint: "Expected a result.json written by `tritbench run`.")
        }
        struct Header: Decodable { var schema: String?; var schemaVersion: Int? }
        let header: Header
        do { header = try JSONCoding.decoder().decode(Header.self, from: data) } catch {
            throw ReportError.malformed(path: path, field: "(document)", reason: "not JSON: \(error)")
        }
        guard header.schema == schemaName else {
            throw ReportError.malformed(path: path, field: "schema", reason: "found \(header.schema ?? "nothing"), expected \(schemaName)")
        }
        guard header.schemaVersion == currentSchemaVersion else {
            throw ReportError.unsupportedVersion(path: path, found: header.schemaVersion ?? -1, supported: currentSchemaVersion)
        }
        do { return try JSONCoding.decoder().decode(RunResult.self, from: data) } catch let DecodingError.keyNotFound(key, ctx) {
            throw ReportError.malformed(path: path, field: (ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."), reason: "missing")
        } catch {
            throw ReportError.malformed(path: path, field: "(document)", reason: "\(error)")
        }
    }
}

/// One stage of a run: its name, how long it took, and whether its output came from the cache.
public struct StageRecord: Codable, Equatable, Sendable {
    public var name: String
    public var seconds: Double
    public var reused: Bool
    public init(name: String, seconds: Double, reused: Bool) {
        self.name = name; self.seconds = seconds; self.reused = reused
    }
}

public enum ReportError: Error, CustomStringConvertible, Equatable {
    case malformed(path: String, field: String, reason: String)
    case unsupportedVersion(path: String, found: Int, supported: Int)

    public var description: String {
        switch self {
        case let .malformed(path, field, reason): return "\(path): field '\(field)': \(reason)"
        case let .unsupportedVersion(path, found, supported):
            return "\(path): schemaVersion \(found) is not supported (this build reads version \(supported))"
        }
    }
}
