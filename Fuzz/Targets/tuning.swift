import Foundation

/// libFuzzer target: arbitrary bytes through the tuning-cache parser (record by record), then
/// the valid records through a cache and dispatch, as a model load would use them.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTuningCache(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard case let .records(valid, _, _) = TuningCache.parse(Data(bytes: bytes, count: size), validator: .structural) else { return 0 }
    var cache = TuningCache()
    for r in valid { cache.insert(r) }
    for r in cache.records {
        let d = Dispatch(cache: cache, context: r.context)
        _ = d.select(formats: nil, rows: r.problem.rows, cols: r.problem.cols, tokens: r.problem.tokens, threads: r.problem.threads)
    }
    return 0
}
