import Foundation
import TritCore

/// Prefill and decode throughput of a model at one thread count.
public struct SpeedResult: Codable, Sendable {
    public var threads: Int
    public var prefillTokens: Int
    /// Median over repeats of prefill tokens / second (one forward of the whole prompt + logits of its last token).
    public var prefillTokensPerSecond: Double
    public var decodeTokens: Int
    /// Median over repeats of decoded tokens / second (one token per forward, greedy, full LM head).
    public var decodeTokensPerSecond: Double
    public var repeats: Int
}

/// Measures prefill (a `prefillTokens` prompt in one batch) and greedy decode (`decodeTokens`
/// steps, each a one-token forward with the KV cache plus the full LM head and argmax), the
/// same two figures llama-bench reports as pp and tg. Sets OpenBLAS to `threads` threads.
public func measureSpeed(model: LlamaModel, prompt: [Int32], decodeTokens: Int = 32, threads: Int,
                         repeats: Int = 3) -> SpeedResult {
    LinearAlgebra.setThreads(threads)
    var prefill: [Double] = [], decode: [Double] = []
    var cache = model.makeCache(capacity: prompt.count + decodeTokens + 1)
    for rep in 0...repeats {   // repeat 0 is a warm-up
        cache.truncate(to: 0)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let h = model.hiddenStates(prompt, cache: &cache)
        var next = argmax(model.logits(h, first: h.rows - 1, count: 1).values)
        let t1 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<decodeTokens {
            let hs = model.hiddenStates([next], cache: &cache)
            next = argmax(model.logits(hs).values)
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        if rep > 0 {
            prefill.append(Double(prompt.count) / (Double(t1 - t0) * 1e-9))
            decode.append(Double(decodeTokens) / (Double(t2 - t1) * 1e-9))
        }
    }
    func median(_ a: [Double]) -> Double { let s = a.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
    return SpeedResult(threads: threads, prefillTokens: prompt.count, prefillTokensPerSecond: median(prefill),
                       decodeTokens: decodeTokens, decodeTokensPerSecond: median(decode), repeats: repeats)
}

func argmax(_ v: [Float]) -> Int32 {
    var best = 0
    for i in 1..<v.count where v[i] > v[best] { best = i }
    return Int32(best)
}

/// Memory figures of a loaded model.
public struct MemoryReport: Codable, Sendable {
    /// Weight bytes as held in memory, by representation.
    public var weightBytesByKind: [String: Int]
    public var totalWeightBytes: Int
    /// Peak resident set size of this process so far (getrusage ru_maxrss).
    public var peakRSSBytes: Int

    public init(model: LlamaModel) {
        weightBytesByKind = model.weightBytesByKind
        totalWeightBytes = weightBytesByKind.values.reduce(0, +)
        peakRSSBytes = Self.peakResidentSetBytes()
    }

    /// ru_maxrss is in kilobytes on Linux (bytes on macOS).
    public static func peakResidentSetBytes() -> Int {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        #if os(Linux)
        return Int(usage.ru_maxrss) * 1024
        #else
        return Int(usage.ru_maxrss)
        #endif
    }
}
