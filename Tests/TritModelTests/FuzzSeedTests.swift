import Foundation
import Testing
import TritCore
import TritKernels
@testable import TritModel
@testable import TritTune
@testable import TritDispatch

/// The seed corpus of the fuzz targets (Fuzz/corpus/TARGET/seed-*), made here from the same
/// builders the parser tests use, so a format change that invalidates a seed fails a test.
/// `TRITBENCH_WRITE_FUZZ_SEEDS=1 swift test --filter FuzzSeedTests` rewrites them.
@Suite("fuzz seed corpus")
struct FuzzSeedTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// A variant's defaults with the parameters whose default follows the CPU (gemvWidth and
    /// tileDecode widen where AVX-512 VNNI is present) pinned to their AVX2 values, so the seed
    /// is the same file on every host.
    static func hostIndependentDefaults(_ variant: String, threads: Int) throws -> TuningConfiguration {
        var c = try KernelTuning.defaultConfiguration(variant: variant, threads: threads)
        if c[KernelParameterName.gemvWidth] != nil { c[KernelParameterName.gemvWidth] = 256 }
        if c[KernelParameterName.tileDecode] != nil { c[KernelParameterName.tileDecode] = 1 }
        return c
    }

    static func seeds() throws -> [(target: String, name: String, data: Data)] {
        let tuningPath = FileManager.default.temporaryDirectory.appendingPathComponent("tb-seed-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json").path
        defer { unlink(tuningPath) }
        var cache = TuningCache(path: tuningPath)
        let ctx = TuningContext(cpuFingerprint: "seed-cpu", buildFingerprint: "seed-build")
        for (variant, format, median) in [("simd", PackedFormatKind.twoBit, 2e-6), ("lut", .lut, 3e-6), ("bitsliced", .bitmask, 4e-6)] {
            cache.insert(TuningRecord(context: ctx, problem: TuningProblem(variant: variant, format: format, rows: 64, cols: 256, tokens: 1, threads: 1),
                                      configuration: try hostIndependentDefaults(variant, threads: 1), status: "ok", failure: nil,
                                      samples: [median, median * 1.1], median: median, ciLow: median * 0.9, ciHigh: median * 1.2,
                                      counters: ["perf::TASK-CLOCK": 1000], date: Date(timeIntervalSince1970: 1_700_000_000)))
        }
        cache.insert(TuningRecord(context: ctx, problem: TuningProblem(variant: "simd", format: .base3, rows: 64, cols: 256, tokens: 64, threads: 2, cold: true),
                                  configuration: try hostIndependentDefaults("simd", threads: 2), status: "failed",
                                  failure: "differs", samples: [], median: nil, ciLow: nil, ciHigh: nil, counters: [:],
                                  date: Date(timeIntervalSince1970: 1_700_000_000)))
        try cache.save()
        let tuning = try Data(contentsOf: URL(fileURLWithPath: tuningPath))
        return [
            ("npy", "seed-matrix.npy", NPY.encode(Matrix(rows: 3, cols: 4, values: (0..<12).map { Float($0) - 5.5 }))),
            ("gguf", "seed-sample.gguf", sampleGGUF().build()),
            ("gguf", "seed-vocabulary.gguf", BadInputTests.vocabularyGGUF(vocabSize: 4, special: [("tokenizer.ggml.bos_token_id", 4, TestGGUFWriter.le(UInt32(3)))])),
            ("packed", "seed-sample.trit", try PackedModelFileTests.sample().encoded()),
            ("tuning", "seed-cache.json", tuning),
        ]
    }

    @Test func seedsParseAndMatchTheCommittedCorpus() throws {
        let write = ProcessInfo.processInfo.environment["TRITBENCH_WRITE_FUZZ_SEEDS"] == "1"
        for (target, name, data) in try Self.seeds() {
            // Each seed is a valid input of its parser: mutations start from a file that parses.
            switch target {
            case "npy": _ = try NPY.decode(data, path: name)
            case "gguf": _ = try GGUFFile(data: data, path: name)
            case "packed": _ = try PackedModelFile.decode(data, path: name)
            default:
                guard case let .records(valid, dropped, _) = TuningCache.parse(data, validator: .kernels) else { Issue.record("\(name) is not a cache"); continue }
                #expect(valid.count == 4 && dropped == 0)
            }
            let path = "\(Self.root)/Fuzz/corpus/\(target)/\(name)"
            if write {
                try FileManager.default.createDirectory(atPath: "\(Self.root)/Fuzz/corpus/\(target)", withIntermediateDirectories: true)
                try data.write(to: URL(fileURLWithPath: path))
            }
            #expect(FileManager.default.contents(atPath: path) == data,
                    "\(path) differs from the seed the tests make; rewrite with TRITBENCH_WRITE_FUZZ_SEEDS=1 swift test --filter FuzzSeedTests")
        }
    }
}
