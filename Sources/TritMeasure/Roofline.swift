import CTritSupport
import Foundation
import TritCore

/// Streaming-read bandwidth at one working-set size and thread count.
public struct BandwidthPoint: Codable, Equatable, Sendable {
    /// "L1", "L2", "L3" or "DRAM": the level the working set was sized to live in.
    public var level: String
    /// Bytes read per pass over all threads.
    public var workingSetBytes: Int
    public var threads: Int
    /// Which loop read the data ("avx2", "portable", or "plain Swift loop").
    public var loop: String
    /// Bytes read per timed call (working set × passes).
    public var bytesPerCall: Int
    /// Median bandwidth, 10⁹ bytes/s.
    public var gbPerSecond: Double
    /// Bandwidth of the fastest sample.
    public var gbPerSecondBest: Double
    /// Bandwidth at the ends of the median's 95% interval (low ↔ slow end).
    public var gbPerSecondCILow: Double
    public var gbPerSecondCIHigh: Double
    public var timing: TimingResult

    init(level: String, workingSetBytes: Int, threads: Int, loop: String, bytesPerCall: Int, timing: TimingResult) {
        self.level = level
        self.workingSetBytes = workingSetBytes
        self.threads = threads
        self.loop = loop
        self.bytesPerCall = bytesPerCall
        self.timing = timing
        let b = Double(bytesPerCall) / 1e9
        gbPerSecond = b / timing.median
        gbPerSecondBest = b / timing.min
        gbPerSecondCILow = b / timing.ciHigh
        gbPerSecondCIHigh = b / timing.ciLow
    }
}

/// Peak int8 multiply-add throughput of one core.
public struct ComputePeak: Codable, Equatable, Sendable {
    /// "avx2 vpmaddubsw" or "portable scalar".
    public var loop: String
    /// 10⁹ int8 multiply-adds per second (one `vpmaddubsw` ymm = 32), median.
    public var gMACsPerSecond: Double
    public var gMACsPerSecondBest: Double
    /// 10⁹ `vpmaddubsw` instructions per second (nil for the portable loop).
    public var gInstructionsPerSecond: Double?
    public var timing: TimingResult
}

/// The machine's measured roofline: what the memory hierarchy and one core's int8 units can do.
///
/// Measured once per run and stored with the run's results, so kernel figures can be expressed
/// as "fraction of measured bandwidth/compute", which travels across machines better than µs.
public struct RooflineResult: Codable, Equatable, Sendable {
    public static let currentSchemaVersion = 1
    public var schemaVersion: Int
    public var date: Date
    public var cpuModel: String
    public var cpuFingerprint: String
    /// Cache sizes used to size the working sets (bytes, by level name).
    public var caches: [String: Int]
    public var bandwidth: [BandwidthPoint]
    /// A plain Swift summing loop over the DRAM working set, single thread, measured in the same
    /// run: a sanity check on the probe's DRAM figure.
    public var plainStreamLoop: BandwidthPoint
    public var peakInt8: ComputePeak
    /// The `vpdpbusd` (AVX-512 VNNI) peak where the CPU has it: the ceiling of the VNNI GEMM
    /// loop, which issues one instruction per 32 multiply-adds with no separate widening add.
    /// Absent on other CPUs and in results written before it existed.
    public var peakInt8VNNI: ComputePeak?
    public var quick: Bool

    /// The highest int8 multiply-add peak measured (the compute ceiling of the fastest loop).
    public var bestInt8Peak: ComputePeak {
        guard let v = peakInt8VNNI, v.gMACsPerSecond > peakInt8.gMACsPerSecond else { return peakInt8 }
        return v
    }

    /// Median bandwidth of `level` at `threads` threads, nil when not measured.
    public func gbPerSecond(level: String, threads: Int = 1) -> Double? {
        bandwidth.first { $0.level == level && $0.threads == threads }?.gbPerSecond
    }

    /// The level a working set of `bytes` lives in: the smallest cache holding it, else DRAM.
    public func level(forWorkingSet bytes: Int) -> String {
        for (name, key) in [("L1", "L1d"), ("L2", "L2"), ("L3", "L3")] {
            if let size = caches[key], bytes <= size { return name }
        }
        return "DRAM"
    }

    /// `gbPerSecond` as a fraction of the measured bandwidth of the level `workingSetBytes` lives
    /// in, at the same thread count (or the nearest measured below it).
    public func fraction(gbPerSecond: Double, workingSetBytes: Int, threads: Int = 1)
        -> (fraction: Double, level: String, reference: Double)? {
        let level = level(forWorkingSet: workingSetBytes)
        let candidates = bandwidth.filter { $0.level == level && $0.threads <= max(threads, 1) }
        guard let ref = candidates.max(by: { $0.threads < $1.threads }) else { return nil }
        return (gbPerSecond / ref.gbPerSecond, level, ref.gbPerSecond)
    }

    /// Achieved over attainable for a kernel doing `macs` int8 multiply-adds over `bytes` of
    /// packed weights in `seconds`: attainable = min(best int8 peak × threads, bandwidth of the
    /// level `workingSetBytes` lives in × macs/bytes), the roofline at the kernel's intensity.
    /// A GEMV (≈ 4 MAC per byte at 2 bpw) is bandwidth-bound, so this equals its bandwidth
    /// fraction; a 64-token GEMM is compute-bound and is measured against the peak instead.
    public func attainedFraction(macs: Double, bytes: Int, seconds: Double, workingSetBytes: Int, threads: Int = 1)
        -> (fraction: Double, bound: String)? {
        guard bytes > 0, seconds > 0, let bw = fraction(gbPerSecond: 1, workingSetBytes: workingSetBytes, threads: threads) else { return nil }
        let memoryBound = bw.reference * macs / Double(bytes)          // G MAC/s the level can feed
        let computeBound = bestInt8Peak.gMACsPerSecond * Double(max(threads, 1))
        let achieved = macs / seconds / 1e9
        return memoryBound <= computeBound ? (achieved / memoryBound, "\(bw.level) read \(String(format: "%.1f", bw.reference)) GB/s")
                                           : (achieved / computeBound, "\(bestInt8Peak.loop) peak × \(max(threads, 1))")
    }

    public func write(to path: String) throws { try AtomicFile.writeJSON(self, to: path) }

    public static func load(from path: String) throws -> RooflineResult {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileError.missing(path: path, hint: "Run `tritbench roofline --json > \(path)` to measure it.")
        }
        do { return try JSONCoding.decoder().decode(RooflineResult.self, from: data) } catch {
            throw FileError.cannotRead(path: path, reason: "not a roofline result: \(error)")
        }
    }
}

/// Settings of the roofline probe.
public struct RooflineOptions: Sendable {
    /// Thread counts to measure (1...cores by default).
    public var threadCounts: [Int]
    /// DRAM working set: on this VM 32 MiB already reads near DRAM speed, so use far more.
    public var dramBytes: Int
    public var timing: TimingOptions
    public var quick: Bool

    public init(quick: Bool = false, threadCounts: [Int]? = nil) {
        self.quick = quick
        let cores = max(ProcessInfo.processInfo.activeProcessorCount, 1)
        self.threadCounts = threadCounts ?? Array(1...cores)
        dramBytes = quick ? 256 << 20 : 512 << 20
        timing = quick ? TimingOptions(warmup: 1, minSampleSeconds: 0.01, samples: 7, maxSeconds: 2)
                       : TimingOptions(warmup: 2, minSampleSeconds: 0.02, samples: 15, maxSeconds: 6)
    }
}

/// Measures the roofline: streaming reads at L1-, L2-, L3- and DRAM-sized working sets for each
/// thread count, and the int8 multiply-add peak of one core.
public enum RooflineProbe {
    /// Working-set sizes per level, from the cache sizes: L1 and L2 are private, so each thread
    /// gets half of one (clear of the level below, safe from eviction by stack and code); L3 is
    /// shared, so a quarter of it is split between the threads (VM neighbours share it too);
    /// DRAM is `dramBytes` split between the threads.
    public static func workingSets(caches: [String: Int], threads: Int, dramBytes: Int) -> [(level: String, totalBytes: Int)] {
        let l1 = caches["L1d"] ?? 32 << 10
        let l2 = caches["L2"] ?? 512 << 10
        let l3 = caches["L3"] ?? 8 << 20
        let perThreadL3 = max(l3 / 4 / threads, 2 * l2)
        return [("L1", threads * l1 / 2), ("L2", threads * l2 / 2),
                ("L3", threads * perThreadL3), ("DRAM", dramBytes)]
    }

    public static func measure(_ options: RooflineOptions = .init(), progress: Bool = true) -> RooflineResult {
        let cpu = CPUDescription.current()
        let avx2 = cpu.features.avx2
        let loopName = avx2 ? "avx2" : "portable"
        let threadCounts = options.threadCounts.filter { $0 >= 1 }.sorted()
        let maxThreads = threadCounts.last ?? 1
        // One buffer, large enough for every working set; each thread reads its own slice.
        let capacity = max(options.dramBytes, workingSets(caches: cpu.caches, threads: maxThreads, dramBytes: 0)
            .map(\.totalBytes).max() ?? 0)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 4096)
        defer { buffer.deallocate() }
        // Touch every page with non-zero data (zero pages could be shared copy-on-write).
        let words = buffer.bindMemory(to: UInt64.self, capacity: capacity / 8)
        for i in 0..<(capacity / 8) { words[i] = UInt64(truncatingIfNeeded: i) &* 0x9E37_79B9_7F4A_7C15 }

        var bar = ProgressReporter("roofline", total: threadCounts.count * 4 + 2, enabled: progress)
        var points: [BandwidthPoint] = []
        for t in threadCounts {
            let team = ThreadTeam(size: t)
            defer { team.shutdown() }
            for (level, total) in workingSets(caches: cpu.caches, threads: t, dramBytes: options.dramBytes) {
                let slice = (total / t) & ~127
                guard slice > 0 else { continue }
                // Enough passes that one call moves ≥ 8 MiB per thread (or one pass for DRAM),
                // so the team's two barrier waits are noise against the reads.
                let passes = max(1, (8 << 20) / slice)
                let raw = UnsafeRawPointer(buffer)
                let timing = RobustTiming.measure(options.timing) {
                    team.run { i in
                        let p = raw + i * slice
                        let s = avx2 ? tritbench_stream_read_avx2(p, slice, passes)
                                     : tritbench_stream_read_portable(p, slice, passes)
                        ThreadTeam.consume(s)
                    }
                }
                points.append(BandwidthPoint(level: level, workingSetBytes: slice * t, threads: t, loop: loopName,
                                             bytesPerCall: slice * t * passes, timing: timing))
                bar.advance(detail: "\(level) \(t) thread\(t == 1 ? "" : "s"): \(String(format: "%.1f", points.last!.gbPerSecond)) GB/s")
            }
        }
        // The plain loop: what a straightforward Swift sum over the same DRAM buffer reaches.
        let dramWords = UnsafeBufferPointer(start: UnsafePointer(words), count: options.dramBytes / 8)
        let plain = RobustTiming.measure(options.timing) { ThreadTeam.consume(plainSum(dramWords)) }
        let plainPoint = BandwidthPoint(level: "DRAM", workingSetBytes: options.dramBytes, threads: 1,
                                        loop: "plain Swift loop", bytesPerCall: options.dramBytes, timing: plain)
        bar.advance(detail: "plain loop: \(String(format: "%.1f", plainPoint.gbPerSecond)) GB/s")
        let peak = measurePeak(avx2: avx2, timing: options.timing)
        bar.advance(detail: "int8 peak: \(String(format: "%.1f", peak.gMACsPerSecond)) G MAC/s")
        let vnni = cpu.features.supportsVNNIKernels ? measureVNNIPeak(timing: options.timing) : nil
        if let vnni { bar.advance(detail: "vpdpbusd peak: \(String(format: "%.1f", vnni.gMACsPerSecond)) G MAC/s") }
        bar.finish()
        return RooflineResult(schemaVersion: RooflineResult.currentSchemaVersion, date: Date(),
                              cpuModel: cpu.model, cpuFingerprint: cpu.fingerprint, caches: cpu.caches,
                              bandwidth: points, plainStreamLoop: plainPoint, peakInt8: peak, peakInt8VNNI: vnni,
                              quick: options.quick)
    }

    /// A plain summing loop, the way anyone would first write it in Swift.
    @inline(never)
    public static func plainSum(_ xs: UnsafeBufferPointer<UInt64>) -> UInt64 {
        var s: UInt64 = 0
        for x in xs { s &+= x }
        return s
    }

    /// The `vpdpbusd ymm` multiply-add peak of one core. Only where
    /// `CPUFeatures.supportsVNNIKernels` holds (the loop faults elsewhere).
    public static func measureVNNIPeak(timing: TimingOptions = .init()) -> ComputePeak {
        precondition(CPUFeatures.current.supportsVNNIKernels, "measureVNNIPeak: this CPU has no AVX512-VNNI + AVX512VL")
        let iterations: UInt64 = 50_000
        let macsPerCall = Double(iterations) * Double(TRITBENCH_PEAK_MACS_PER_ITERATION)
        let t = RobustTiming.measure(timing) { ThreadTeam.consume(tritbench_dpbusd_peak_avx512vnni(iterations)) }
        return ComputePeak(loop: "avx512-vnni vpdpbusd ymm", gMACsPerSecond: macsPerCall / t.median / 1e9,
                           gMACsPerSecondBest: macsPerCall / t.min / 1e9,
                           gInstructionsPerSecond: macsPerCall / 32 / t.median / 1e9, timing: t)
    }

    /// The int8 multiply-add peak of one core.
    public static func measurePeak(avx2: Bool = CPUFeatures.current.avx2, timing: TimingOptions = .init()) -> ComputePeak {
        let iterations: UInt64 = 50_000
        let macsPerCall = Double(iterations) * Double(TRITBENCH_PEAK_MACS_PER_ITERATION)
        let t = RobustTiming.measure(timing) {
            ThreadTeam.consume(avx2 ? tritbench_maddubs_peak_avx2(iterations) : tritbench_int8_mac_peak_portable(iterations))
        }
        return ComputePeak(loop: avx2 ? "avx2 vpmaddubsw" : "portable scalar",
                           gMACsPerSecond: macsPerCall / t.median / 1e9,
                           gMACsPerSecondBest: macsPerCall / t.min / 1e9,
                           gInstructionsPerSecond: avx2 ? macsPerCall / 32 / t.median / 1e9 : nil,
                           timing: t)
    }
}

/// The probe's streaming-read loop for any buffer: AVX2 where the CPU has it, portable otherwise.
public enum StreamingRead {
    /// Reads every byte of `buffer` `passes` times and returns a checksum. The vector loop takes
    /// 128-byte blocks from a 32-byte-aligned start; the head and tail are read bytewise.
    public static func checksum(_ buffer: UnsafeRawBufferPointer, passes: Int = 1,
                                avx2: Bool = CPUFeatures.current.avx2) -> UInt64 {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let address = UInt(bitPattern: base)
        let head = Int((32 - address % 32) % 32)
        guard buffer.count > head else { return bytewise(buffer, passes: passes) }
        let body = (buffer.count - head) & ~127
        var s: UInt64 = 0
        if body > 0 {
            let p = base + head
            s = avx2 ? tritbench_stream_read_avx2(p, body, passes) : tritbench_stream_read_portable(p, body, passes)
        }
        s ^= bytewise(UnsafeRawBufferPointer(rebasing: buffer[0..<head]), passes: passes)
        s ^= bytewise(UnsafeRawBufferPointer(rebasing: buffer[(head + body)...]), passes: passes)
        return s
    }

    private static func bytewise(_ b: UnsafeRawBufferPointer, passes: Int) -> UInt64 {
        var s: UInt64 = 0
        for _ in 0..<passes { for x in b { s = s &* 31 &+ UInt64(x) } }
        return s
    }
}

/// A fixed team of threads that run one job together: the caller is member 0, the others wait
/// on a barrier. Reused across calls, so timing a call does not time thread creation.
///
/// A class because it owns threads and a barrier; `shutdown()` must be called once.
public final class ThreadTeam: @unchecked Sendable {
    public let size: Int
    private let barrier: UnsafeMutablePointer<pthread_barrier_t>
    private var job: ((Int) -> Void)?
    private var stopping = false
    private var threads: [pthread_t] = []

    public init(size: Int) {
        self.size = max(size, 1)
        barrier = .allocate(capacity: 1)
        pthread_barrier_init(barrier, nil, UInt32(self.size))
        for i in 1..<self.size {
            let context = Unmanaged.passRetained(WorkerContext(team: self, index: i)).toOpaque()
            var tid = pthread_t()
            pthread_create(&tid, nil, { raw in
                let ctx = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                ctx.team.workerLoop(ctx.index)
                return nil
            }, context)
            threads.append(tid)
        }
    }

    private final class WorkerContext {
        let team: ThreadTeam
        let index: Int
        init(team: ThreadTeam, index: Int) { self.team = team; self.index = index }
    }

    private func workerLoop(_ index: Int) {
        while true {
            pthread_barrier_wait(barrier)
            if stopping { return }
            job?(index)
            pthread_barrier_wait(barrier)
        }
    }

    /// Runs `job(i)` on every member i in 0..<size and returns when all have finished.
    public func run(_ job: @escaping (Int) -> Void) {
        if size == 1 { job(0); return }
        self.job = job
        pthread_barrier_wait(barrier)
        job(0)
        pthread_barrier_wait(barrier)
        self.job = nil
    }

    /// Stops and joins the worker threads.
    public func shutdown() {
        guard size > 1, !stopping else { return }
        stopping = true
        pthread_barrier_wait(barrier)
        for t in threads { pthread_join(t, nil) }
        threads = []
    }

    deinit {
        shutdown()
        pthread_barrier_destroy(barrier)
        barrier.deallocate()
    }

    /// Keeps a checksum alive so the loop that produced it cannot be removed.
    @_optimize(none)
    public static func consume(_ x: UInt64) {}
}
