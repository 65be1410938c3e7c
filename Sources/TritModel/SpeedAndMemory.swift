import Foundation
import TritCore

/// Prefill and decode throughput of a model at one thread count.
public struct SpeedResult: Codable, Sendable {
    public var threads: Int
    public var prefillTokens: Int
    /// Median over rounds of prefill tokens / second (one forward of the whole prompt + logits of its last token).
    public var prefillTokensPerSecond: Double
    public var decodeTokens: Int
    /// Median over rounds of decoded tokens / second (one token per forward, greedy, full LM head).
    public var decodeTokensPerSecond: Double
    public var repeats: Int
    /// Each round's figures, in round order (rounds interleave the thread counts measured
    /// together, so round i of two results is a pair); nil in results stored before rounds.
    public var prefillSamples: [Double]?
    public var decodeSamples: [Double]?

    /// Bootstrap 95% interval of the median prefill and decode rates (NaN without samples).
    public var prefillInterval: (low: Double, high: Double) { Statistics.bootstrapCI(of: prefillSamples ?? []) }
    public var decodeInterval: (low: Double, high: Double) { Statistics.bootstrapCI(of: decodeSamples ?? []) }

    /// How many times faster this decodes and prefills than `base`, measured in the same
    /// rounds: the median of the per-round ratios with its bootstrap 95% interval. Why per
    /// round: this guest's speed at 2 threads drifts by up to half between minutes, and two
    /// medians taken minutes apart carry that drift into their ratio.
    public func speedup(over base: SpeedResult) -> (decode: (median: Double, low: Double, high: Double),
                                                    prefill: (median: Double, low: Double, high: Double)) {
        (Statistics.pairedRatio(decodeSamples ?? [], base.decodeSamples ?? []),
         Statistics.pairedRatio(prefillSamples ?? [], base.prefillSamples ?? []))
    }
}

/// Measures prefill (a `prefillTokens` prompt in one batch) and greedy decode (`decodeTokens`
/// steps, each a one-token forward with the KV cache plus the full LM head and argmax), the
/// same two figures llama-bench reports as pp and tg, at each of `threadCounts` (each runs
/// OpenBLAS, the packed kernels and the LM head on that many threads; the count found is
/// restored). The thread counts take turns within each of `rounds` rounds, in alternating
/// order, after a warm-up round, so a ratio between them is taken per round
/// (`SpeedResult.speedup`).
public func measureSpeed<Model: DecoderModel>(model original: Model, prompt: [Int32], decodeTokens: Int = 32, threadCounts: [Int],
                                              rounds: Int = 7) -> [SpeedResult] {
    let models = threadCounts.map { original.threaded($0) }
    var caches = models.map { $0.makeCache(capacity: prompt.count + decodeTokens + 1) }
    var prefill = threadCounts.map { _ in [Double]() }, decode = prefill
    for round in 0...rounds {   // round 0 is a warm-up
        let order = round % 2 == 0 ? Array(threadCounts.indices) : threadCounts.indices.reversed()
        for i in order {
            let (p, d) = LinearAlgebra.withThreads(threadCounts[i]) {
                timePrefillAndDecode(models[i], prompt: prompt, decodeTokens: decodeTokens, cache: &caches[i])
            }
            if round > 0 { prefill[i].append(p); decode[i].append(d) }
        }
    }
    return threadCounts.indices.map { i in
        SpeedResult(threads: threadCounts[i], prefillTokens: prompt.count, prefillTokensPerSecond: Statistics.median(prefill[i]),
                    decodeTokens: decodeTokens, decodeTokensPerSecond: Statistics.median(decode[i]), repeats: rounds,
                    prefillSamples: prefill[i], decodeSamples: decode[i])
    }
}

/// One prefill of `prompt` (with its last token's logits) and `decodeTokens` greedy decode
/// steps after it, as tokens / second each.
private func timePrefillAndDecode<Model: DecoderModel>(_ model: Model, prompt: [Int32], decodeTokens: Int,
                                                       cache: inout KVCache) -> (prefill: Double, decode: Double) {
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
    return (Double(prompt.count) / (Double(t1 - t0) * 1e-9), Double(decodeTokens) / (Double(t2 - t1) * 1e-9))
}

/// Where a decode step's time goes, in milliseconds per token.
public struct DecodeBreakdown: Codable, Sendable {
    public var threads: Int
    public var decodeTokens: Int
    /// Whole decode step (blocks + LM head + argmax).
    public var totalMilliseconds: Double
    /// "linear attn_q" … "linear ffn_down" (all blocks; layers run as one call are one part,
    /// e.g. "linear attn_q+attn_k+attn_v"), "lm head + argmax", "attention (scores, softmax,
    /// values)", and "other": the rest of the blocks (RMSNorm, RoPE, the KV-cache write,
    /// SwiGLU, residuals, the step's buffers, embedding lookup, final norm).
    public var partsMilliseconds: [String: Double]

    public var text: String {
        var s = String(format: "decode breakdown, %d thread(s), %.3f ms/token:\n", threads, totalMilliseconds)
        let width = partsMilliseconds.keys.map(\.count).max() ?? 0
        for (k, v) in partsMilliseconds.sorted(by: { $0.value > $1.value }) {
            s += "  " + k.padding(toLength: width, withPad: " ", startingAt: 0)
                + String(format: " %7.3f ms  %5.1f%%\n", v, 100 * v / totalMilliseconds)
        }
        return s
    }
}

/// Nanoseconds spent in each kind of linear layer, in each group of kinds run as one call
/// (`SharedInputLinears`, keyed by their indices), and in decode attention (a reference type:
/// the wrappers and the attention of every block add to it).
final class DecodeStepTimes: @unchecked Sendable {
    var nanoseconds = [UInt64](repeating: 0, count: LlamaLinearName.allCases.count)
    var groups: [[Int]: UInt64] = [:]
    var attentionNanoseconds: UInt64 = 0

    func measure(group indices: [Int], _ body: () -> Void) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        groups[indices, default: 0] &+= DispatchTime.now().uptimeNanoseconds - t0
    }

    func reset() {
        nanoseconds = nanoseconds.map { _ in 0 }
        groups = [:]
        attentionNanoseconds = 0
    }
}

/// Times each call of the wrapped layer (two clock reads per layer call, ~50 ns).
struct TimedLinear: LinearLayer {
    let index: Int
    let inner: LinearLayer
    let times: DecodeStepTimes
    var inputCount: Int { inner.inputCount }
    var outputCount: Int { inner.outputCount }
    var weightBytes: Int { inner.weightBytes }
    var kind: String { inner.kind }
    var kernelSelections: [String: KernelSelection] { inner.kernelSelections }
    func threaded(_ n: Int) -> LinearLayer { TimedLinear(index: index, inner: inner.threaded(n), times: times) }
    func replica() -> LinearLayer { TimedLinear(index: index, inner: inner.replica(), times: times) }
    func forward(_ x: UnsafeBufferPointer<Float>, tokens: Int, into y: UnsafeMutableBufferPointer<Float>) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        inner.forward(x, tokens: tokens, into: y)
        times.nanoseconds[index] &+= DispatchTime.now().uptimeNanoseconds - t0
    }

    /// When every layer is timed into one `DecodeStepTimes`: the times, the kind indices and the
    /// layers inside, so a group call is timed as one part.
    static func group(_ layers: [LinearLayer]) -> (times: DecodeStepTimes, indices: [Int], inner: [LinearLayer])? {
        let timed = layers.compactMap { $0 as? TimedLinear }
        guard timed.count == layers.count, let times = timed.first?.times, timed.allSatisfy({ $0.times === times }) else { return nil }
        return (times, timed.map(\.index), timed.map(\.inner))
    }
}

/// Decodes `decodeTokens` tokens after `prompt` with every linear layer timed, and splits the
/// step into linear layers by kind, the LM head and the rest.
public func measureDecodeBreakdown(model: LlamaModel, prompt: [Int32], decodeTokens: Int = 32, threads: Int) -> DecodeBreakdown {
    return LinearAlgebra.withThreads(threads) {
        let times = DecodeStepTimes()
        let kinds = LlamaLinearName.allCases
        let m = model.threaded(threads).mappingLinears { kind, layer in
            TimedLinear(index: kinds.firstIndex(of: kind)!, inner: layer, times: times)
        }.timingAttention(into: times)
        var cache = m.makeCache(capacity: prompt.count + decodeTokens + 1)
        let h = m.hiddenStates(prompt, cache: &cache)
        var next = argmax(m.logits(h, first: h.rows - 1, count: 1).values)
        times.reset()
        var blocks: UInt64 = 0, head: UInt64 = 0
        for _ in 0..<decodeTokens {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let hs = m.hiddenStates([next], cache: &cache)
            let t1 = DispatchTime.now().uptimeNanoseconds
            next = argmax(m.logits(hs).values)
            let t2 = DispatchTime.now().uptimeNanoseconds
            blocks += t1 - t0; head += t2 - t1
        }
        func ms(_ ns: UInt64) -> Double { Double(ns) / 1e6 / Double(decodeTokens) }
        var parts: [String: Double] = ["lm head + argmax": ms(head)]
        // A kind's own calls, and each group of kinds run as one call ("linear attn_q+attn_k+attn_v").
        for (i, k) in kinds.enumerated() where times.nanoseconds[i] > 0 { parts["linear \(k.rawValue)"] = ms(times.nanoseconds[i]) }
        for (g, ns) in times.groups { parts["linear " + g.map { kinds[$0].rawValue }.joined(separator: "+")] = ms(ns) }
        parts["attention (scores, softmax, values)"] = ms(times.attentionNanoseconds)
        parts["other"] = ms(blocks) - ms(times.nanoseconds.reduce(0, +) + times.groups.values.reduce(0, +) + times.attentionNanoseconds)
        return DecodeBreakdown(threads: threads, decodeTokens: decodeTokens, totalMilliseconds: ms(blocks + head), partsMilliseconds: parts)
    }
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

    public init<Model: DecoderModel>(model: Model) {
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
