import Foundation

/// One thing to profile: a closure plus what one call of it moves and computes.
///
/// TritMeasure knows nothing of kernels; whoever knows a kernel builds its `ProfileCase`
/// (buffers allocated and filled up front, the body calling the kernel once) and hands it over.
public struct ProfileCase {
    public var name: String
    /// Bytes one call reads or writes (packed weights, activations, outputs).
    public var bytesTouched: Int
    /// Units of work one call does ("weights": M·K·tokens multiply-adds for a GEMV/GEMM).
    public var workUnits: Double
    public var workUnitName: String
    /// Bytes the data of one call occupies (to pick the roofline level); `bytesTouched` when nil.
    public var workingSetBytes: Int?
    /// Weights one call reads, for "bytes per weight"; nil when weights mean nothing here.
    public var weights: Int?
    public var threads: Int
    public var body: () -> Void

    public init(name: String, bytesTouched: Int, workUnits: Double, workUnitName: String = "weights",
                workingSetBytes: Int? = nil, weights: Int? = nil, threads: Int = 1, body: @escaping () -> Void) {
        self.name = name
        self.bytesTouched = bytesTouched
        self.workUnits = workUnits
        self.workUnitName = workUnitName
        self.workingSetBytes = workingSetBytes
        self.weights = weights
        self.threads = threads
        self.body = body
    }
}

/// Figures derived from timing, counters and the case's size. Each is nil when an input it
/// needs is missing (an uncounted event never becomes a 0 here either).
public struct DerivedMetrics: Codable, Equatable, Sendable {
    /// Instructions per cycle (PAPI_TOT_INS / PAPI_TOT_CYC).
    public var ipc: Double?
    /// Misses (or mispredictions) per 1000 instructions, by event name, for each counted
    /// miss-type event when PAPI_TOT_INS counted.
    public var missesPerKiloInstruction: [String: Double]
    /// Bytes touched per weight (packed size ÷ weights for a weight-streaming kernel).
    public var bytesPerWeight: Double?
    /// 10⁹ work units per second at the median time.
    public var gWorkUnitsPerSecond: Double?
    /// 10⁹ bytes per second at the median time.
    public var gbPerSecond: Double?
    /// `gbPerSecond` ÷ the measured bandwidth of the level the working set lives in.
    public var rooflineFraction: Double?
    public var rooflineLevel: String?
    public var rooflineGBPerSecond: Double?

    static let missEvents = ["PAPI_L1_DCM", "PAPI_L2_DCM", "PAPI_L3_TCM", "PAPI_BR_MSP", "PAPI_L2_TCM",
                             "PAPI_L1_TCM", "PAPI_TLB_DM", "perf::CACHE-MISSES", "perf::BRANCH-MISSES"]

    public init(timing: TimingResult, counters: CounterSample?, profileCase: ProfileCase, roofline: RooflineResult?) {
        let ins = counters?.perCall("PAPI_TOT_INS")
        if let ins, let cyc = counters?.perCall("PAPI_TOT_CYC"), cyc > 0 { ipc = ins / cyc } else { ipc = nil }
        var mpki: [String: Double] = [:]
        if let ins, ins > 0, let counters {
            for e in Self.missEvents { if let m = counters.perCall(e) { mpki[e] = m / ins * 1000 } }
        }
        missesPerKiloInstruction = mpki
        bytesPerWeight = profileCase.weights.flatMap { $0 > 0 ? Double(profileCase.bytesTouched) / Double($0) : nil }
        let t = timing.median
        gWorkUnitsPerSecond = t > 0 && profileCase.workUnits > 0 ? profileCase.workUnits / t / 1e9 : nil
        gbPerSecond = t > 0 && profileCase.bytesTouched > 0 ? Double(profileCase.bytesTouched) / t / 1e9 : nil
        if let gb = gbPerSecond, let roofline,
           let f = roofline.fraction(gbPerSecond: gb, workingSetBytes: profileCase.workingSetBytes ?? profileCase.bytesTouched,
                                     threads: profileCase.threads) {
            rooflineFraction = f.fraction
            rooflineLevel = f.level
            rooflineGBPerSecond = f.reference
        } else {
            rooflineFraction = nil; rooflineLevel = nil; rooflineGBPerSecond = nil
        }
    }
}

/// Timing, counters and derived metrics of one case, measured together.
public struct ProfileResult: Codable, Equatable, Sendable {
    public var name: String
    public var bytesTouched: Int
    public var workUnits: Double
    public var workUnitName: String
    public var threads: Int
    public var cacheState: CacheState
    public var timing: TimingResult
    /// Counters read around a separate batch of calls after timing; nil when none were asked for.
    public var counters: CounterSample?
    public var derived: DerivedMetrics
}

/// Measures a closure: timing first (no counters running), then one counted batch.
public enum Profiler {
    /// Times `profileCase.body`, then counts `counters` around a batch of `callsPerSample` calls
    /// (at least `minCountedCalls`), and derives the per-call metrics.
    public static func measure(_ profileCase: ProfileCase, timing options: TimingOptions = .init(),
                               counters: CounterSet? = nil, roofline: RooflineResult? = nil,
                               cacheState: CacheState = .warm, minCountedCalls: Int = 3) -> ProfileResult {
        let timing = RobustTiming.measure(options, profileCase.body)
        let sample = counters?.count(calls: max(timing.callsPerSample, minCountedCalls), profileCase.body)
        return ProfileResult(name: profileCase.name, bytesTouched: profileCase.bytesTouched,
                             workUnits: profileCase.workUnits, workUnitName: profileCase.workUnitName,
                             threads: profileCase.threads, cacheState: cacheState, timing: timing, counters: sample,
                             derived: DerivedMetrics(timing: timing, counters: sample, profileCase: profileCase,
                                                     roofline: roofline))
    }

    /// Times and counts a bare closure (no size information, so no throughput metrics).
    public static func measure(timing options: TimingOptions = .init(), counters: CounterSet?,
                               _ body: @escaping () -> Void) -> ProfileResult {
        measure(ProfileCase(name: "closure", bytesTouched: 0, workUnits: 0, body: body), timing: options,
                counters: counters)
    }
}
