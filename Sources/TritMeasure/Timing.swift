import Foundation
import TritCore

/// The monotonic clock every TritBench timing goes through (`CLOCK_MONOTONIC`).
///
/// On this VM the TSC is constant-rate, so this measures wall time, not core cycles; that is
/// what a user waiting for tokens sees, and the only clock that means the same across machines.
public enum MonotonicClock {
    /// Nanoseconds since an arbitrary fixed point.
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Seconds elapsed since a `nanoseconds()` reading.
    @inline(__always)
    public static func seconds(since start: UInt64) -> Double {
        Double(nanoseconds() &- start) * 1e-9
    }
}

/// How long and how often to time a closure.
public struct TimingOptions: Codable, Sendable, Equatable {
    /// Calls made before any timing (page faults, cache fills, lazy initialisation).
    public var warmup: Int
    /// Each sample repeats the call until the batch lasts at least this long, so that clock
    /// resolution and the cost of reading it vanish against the work.
    public var minSampleSeconds: Double
    /// Samples wanted; every one is kept.
    public var samples: Int
    /// Budget for the whole measurement including warm-up and calibration: when it runs out,
    /// sampling stops with what it has (at least one sample is always taken).
    public var maxSeconds: Double

    public init(warmup: Int = 3, minSampleSeconds: Double = 0.01, samples: Int = 15, maxSeconds: Double = 5) {
        self.warmup = max(warmup, 0)
        self.minSampleSeconds = max(minSampleSeconds, 0)
        self.samples = max(samples, 1)
        self.maxSeconds = max(maxSeconds, 0)
    }

    /// A short setting for smoke runs and tests.
    public static let quick = TimingOptions(warmup: 1, minSampleSeconds: 0.002, samples: 7, maxSeconds: 1)
}

/// Every sample of one timed closure and the robust summary of them.
public struct TimingResult: Codable, Sendable, Equatable {
    /// Seconds per call, one entry per sample, in the order taken.
    public var samples: [Double]
    /// Calls averaged inside each sample.
    public var callsPerSample: Int
    public var median: Double
    public var min: Double
    /// Median absolute deviation of the samples (unscaled), seconds.
    public var mad: Double
    /// Bootstrap 95% confidence interval of the median, seconds.
    public var ciLow: Double
    public var ciHigh: Double

    /// Summarises samples (seconds per call).
    public init(samples: [Double], callsPerSample: Int) {
        self.samples = samples
        self.callsPerSample = callsPerSample
        median = Statistics.median(samples)
        min = samples.min() ?? .nan
        mad = Statistics.mad(samples)
        (ciLow, ciHigh) = Statistics.bootstrapCI(of: samples)
    }

    /// Relative half-width of the confidence interval, a quick noise figure.
    public var relativeCIHalfWidth: Double { (ciHigh - ciLow) / 2 / median }
}

/// Times closures the way the measurement reference asks: monotonic clock, warm-up, an
/// adaptive number of calls per sample, every sample kept.
///
/// Cache state is the caller's choice: a closure that reuses one buffer measures warm caches;
/// one that rotates over `ColdBuffers` measures cold ones.
public enum RobustTiming {
    /// Times `body`.
    public static func measure(_ options: TimingOptions = .init(), _ body: () -> Void) -> TimingResult {
        withoutActuallyEscaping(body) { interleaved(options, [$0])[0] }
    }

    /// Times several closures in rounds A B A B …, so that drift (a neighbour starting a build,
    /// frequency changes) lands on all of them rather than on whichever ran last.
    ///
    /// Each closure gets its own calls-per-sample; each round takes one sample of each.
    /// `maxSeconds` bounds the whole run.
    public static func interleaved(_ options: TimingOptions, _ bodies: [() -> Void]) -> [TimingResult] {
        guard !bodies.isEmpty else { return [] }
        let start = MonotonicClock.nanoseconds()
        var calls = [Int]()
        for body in bodies {
            for _ in 0..<options.warmup { body() }
            calls.append(calibrate(options, body))
        }
        var samples = [[Double]](repeating: [], count: bodies.count)
        for round in 0..<options.samples {
            if round > 0 && MonotonicClock.seconds(since: start) > options.maxSeconds { break }
            for (i, body) in bodies.enumerated() {
                samples[i].append(timeBatch(calls[i], body))
            }
        }
        return zip(samples, calls).map { TimingResult(samples: $0, callsPerSample: $1) }
    }

    /// Seconds per call of `calls` back-to-back calls.
    @inline(never)
    public static func timeBatch(_ calls: Int, _ body: () -> Void) -> Double {
        let t0 = MonotonicClock.nanoseconds()
        for _ in 0..<calls { body() }
        return MonotonicClock.seconds(since: t0) / Double(calls)
    }

    /// The number of calls whose batch lasts at least `minSampleSeconds`, found by growing a
    /// trial batch geometrically (aiming 20% above the target so noise does not undershoot).
    /// A batch that reaches the target is confirmed by two more, and the fastest of the three
    /// decides: one batch slowed by a neighbour must not fix a count that later samples, run
    /// undisturbed, fall short with.
    static func calibrate(_ options: TimingOptions, _ body: () -> Void) -> Int {
        var n = 1
        while true {
            var perCall = timeBatch(n, body)
            if perCall * Double(n) >= options.minSampleSeconds {
                perCall = Swift.min(perCall, timeBatch(n, body), timeBatch(n, body))
                if perCall * Double(n) >= options.minSampleSeconds { return n }
            }
            let wanted = perCall > 0 ? options.minSampleSeconds * 1.2 / perCall : Double(n) * 10
            let next = Int(Swift.min(Swift.max(wanted, Double(n) * 2), Double(n) * 100).rounded(.up))
            if next > 1 << 40 { return n }
            n = next
        }
    }
}

/// Copies of a buffer whose total size exceeds the last-level cache, handed out in rotation so
/// that each call of a kernel finds its data cold (evicted by the other copies since its last use).
///
/// Use: `let cold = ColdBuffers(byteCount: weights.count) { $0.copyBytes(from: weights) }`, then
/// time `{ kernel(cold.next()) }`. Warm-cache timing reuses one buffer instead. A class because
/// it owns aligned memory and a rotation cursor.
public final class ColdBuffers {
    public let byteCount: Int
    public let count: Int
    private let stride: Int
    private let base: UnsafeMutableRawPointer
    private var cursor = 0

    /// Allocates enough 64-byte-aligned copies to cover `minimumTotalBytes` (twice the last-level
    /// cache by default, and at least two copies), each filled by `fill`.
    public convenience init(byteCount: Int, minimumTotalBytes: Int = 2 * CPUDescription.current().lastLevelCacheBytes,
                            fill: (UnsafeMutableRawBufferPointer) -> Void) {
        let stride = (Swift.max(byteCount, 1) + 63) & ~63
        self.init(byteCount: byteCount, copies: Swift.max(2, (minimumTotalBytes + stride - 1) / stride), fill: fill)
    }

    /// Allocates exactly `copies` 64-byte-aligned copies; one copy gives warm-cache timing with
    /// the same calling code.
    public init(byteCount: Int, copies: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) {
        self.byteCount = Swift.max(byteCount, 1)
        stride = (self.byteCount + 63) & ~63
        count = Swift.max(1, copies)
        base = UnsafeMutableRawPointer.allocate(byteCount: stride * count, alignment: 64)
        for i in 0..<count {
            fill(UnsafeMutableRawBufferPointer(start: base + i * stride, count: self.byteCount))
        }
    }

    deinit { base.deallocate() }

    /// The next copy in rotation.
    @inline(__always)
    public func next() -> UnsafeRawBufferPointer {
        let p = base + cursor * stride
        cursor = cursor + 1 == count ? 0 : cursor + 1
        return UnsafeRawBufferPointer(start: p, count: byteCount)
    }

    /// Total bytes held by all copies.
    public var totalBytes: Int { stride * count }
}

/// Which cache state a measurement was taken in; recorded with every figure.
public enum CacheState: String, Codable, Sendable {
    /// The same buffers are reused call after call.
    case warm
    /// Calls rotate over buffers larger than the last-level cache in total.
    case cold
}
