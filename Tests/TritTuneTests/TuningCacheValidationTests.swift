import Foundation
import Testing
import TritCore
import TritKernels
@testable import TritTune
@testable import TritDispatch

/// Issue 23, class 7: the tuning cache is read record by record; invalid records are dropped
/// with one counted warning, valid ones kept, dispatch sees only valid ones, and corrupt files
/// moved aside never overwrite each other.
@Suite("bad input: tuning cache")
struct TuningCacheValidationTests {
    static func record(variant: String = "simd", format: PackedFormatKind = .twoBit, configuration: TuningConfiguration? = nil,
                       median: Double? = 2e-6, samples: [Double] = [2e-6], status: String = "ok", rows: Int = 64) throws -> TuningRecord {
        TuningRecord(context: context, problem: TuningProblem(variant: variant, format: format, rows: rows, cols: 256, tokens: 1, threads: 1),
                     configuration: try configuration ?? KernelTuning.defaultConfiguration(variant: "simd", threads: 1),
                     status: status, failure: nil, samples: samples, median: median, ciLow: nil, ciHigh: nil, counters: [:],
                     date: Date(timeIntervalSince1970: 0))
    }

    @Test func invalidRecordsAreDroppedOneByOneAndCounted() throws {
        let path = tempPath("cache.json")
        var good = try Self.record()
        var records: [Any] = []
        func json(_ r: TuningRecord) throws -> Any { try JSONSerialization.jsonObject(with: JSONCoding.encode(r)) }
        records.append(try json(good))
        good.problem.rows = 128
        records.append(try json(good))
        // A missing field.
        var missing = try json(try Self.record(rows: 32)) as! [String: Any]
        missing["status"] = nil
        records.append(missing)
        // NaN median (the cache's JSON writes non-finite numbers as strings), negative sample time.
        records.append(try json(try Self.record(median: .nan, rows: 33)))
        records.append(try json(try Self.record(samples: [-1], rows: 34)))
        // Unknown variant, a format the variant does not run, parameters outside its space.
        records.append(try json(try Self.record(variant: "warp9", rows: 35)))
        records.append(try json(try Self.record(format: .lut, rows: 36)))
        records.append(try json(try Self.record(configuration: TuningConfiguration(["rowBlock": 3]), rows: 37)))
        records.append(try json(try Self.record(configuration: TuningConfiguration(["bogus": 1]), rows: 38)))
        records.append(try json(try Self.record(status: "maybe", rows: 39)))
        // A format no build knows (formats are typed: it does not decode).
        var unknownFormat = try json(try Self.record(rows: 40)) as! [String: Any]
        var problem = unknownFormat["problem"] as! [String: Any]
        problem["format"] = "9trit"
        unknownFormat["problem"] = problem
        records.append(unknownFormat)
        let file: [String: Any] = ["schema": TuningCache.schemaName, "schemaVersion": 1, "records": records]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: file), to: path)
        var reported: [TuningCacheError] = []
        let cache = TuningCache(path: path) { reported.append($0) }
        #expect(cache.records.map(\.problem.rows) == [64, 128])
        #expect(reported.count == 1)
        let e = reported.first.map { "\($0)" } ?? ""
        #expect(e.contains(path) && e.contains("dropped 9 invalid records and kept 2") && e.contains("record 2: missing field '[2].status'")
                || e.contains("record 2: missing field"), "\(e)")
        #expect(FileManager.default.fileExists(atPath: path))   // not moved aside: it is a cache
        // Each kind of problem has its own reason.
        let reasons = records.indices.dropFirst(2).compactMap { i -> String? in
            guard case let .records(_, _, first) = TuningCache.parse(try! JSONSerialization.data(withJSONObject:
                ["schema": TuningCache.schemaName, "schemaVersion": 1, "records": [records[i]]] as [String: Any]), validator: .kernels) else { return nil }
            return first
        }
        let expected = ["missing field", "median = nan", "a sample time is -1.0", "unknown variant 'warp9'", "does not run format 'lut'",
                        "'rowBlock' = 3 is not allowed", "unknown parameter 'bogus'", "status \"maybe\"", "9trit"]
        #expect(reasons.count == expected.count)
        for (r, x) in zip(reasons, expected) { #expect(r.contains(x), "\(r) lacks \(x)") }
        // Dispatch never sees an invalid record, whichever way it arrives.
        var mem = TuningCache(validator: .kernels)
        #expect(mem.insert(try Self.record(median: -1)) != nil)
        #expect(mem.insert(try Self.record(variant: "warp9")) != nil)
        #expect(mem.records.isEmpty)
        #expect(Dispatch(cache: mem, context: context).select(formats: nil, rows: 64, cols: 256, tokens: 1, threads: 1) == nil)
        #expect(Dispatch(cache: cache, context: context).select(formats: nil, rows: 64, cols: 256, tokens: 1, threads: 1)?.variant == "simd")
    }

    @Test func corruptFilesMovedAsideInOneSecondKeepDistinctNames() throws {
        let path = tempPath("cache.json")
        var moved: [String] = []
        for i in 0..<3 {
            try AtomicFile.write("not json \(i)", to: path)
            _ = TuningCache(path: path) { if case let .corrupt(_, _, to) = $0 { moved.append(to) } }
        }
        #expect(Set(moved).count == 3, "\(moved)")
        for (i, m) in moved.enumerated() {
            #expect(FileManager.default.contents(atPath: m) == Data("not json \(i)".utf8))
        }
    }
}
