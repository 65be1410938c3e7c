import Foundation

/// Whether one PAPI event really counts on this machine: the outcome of adding it to a fresh
/// event set, starting, running a small loop, reading and stopping.
///
/// `count` is present only when the event counted; an unavailable event carries its error and
/// never a 0, so a report cannot mistake "not counted" for "nothing happened".
public struct EventProbeResult: Codable, Equatable, Sendable {
    public var event: String
    public var available: Bool
    public var count: Int64?
    public var error: PAPIError?
    /// Which step failed ("add", "start", "read", "stop"), when one did.
    public var failedStep: String?
}

/// Probes PAPI events for real (never trusting `papi_avail`, which can list a preset that
/// cannot be added).
public enum EventProbe {
    /// The standard list `tritbench env` reports.
    public static let standardEvents = [
        "PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L1_DCM", "PAPI_L2_DCM", "PAPI_L3_TCM", "PAPI_BR_MSP",
        "perf::TASK-CLOCK", "perf::PAGE-FAULTS", "perf::CONTEXT-SWITCHES",
    ]

    /// Probes each event on its own event set around a small memory-touching loop.
    public static func probe(_ events: [String] = standardEvents) -> [EventProbeResult] {
        events.map(probeOne)
    }

    public static func probeOne(_ name: String) -> EventProbeResult {
        let set: PAPIEventSet
        do { set = try PAPIEventSet() } catch let e as PAPIError {
            return EventProbeResult(event: name, available: false, count: nil, error: e, failedStep: "init")
        } catch { return EventProbeResult(event: name, available: false, count: nil, error: nil, failedStep: "init") }
        var step = "add"
        do {
            try set.add(name)
            step = "start"; try set.start()
            ProbeWorkload.run()
            step = "read"; _ = try set.read()
            step = "stop"; let v = try set.stop()
            return EventProbeResult(event: name, available: true, count: v.first, error: nil, failedStep: nil)
        } catch let e as PAPIError {
            return EventProbeResult(event: name, available: false, count: nil, error: e, failedStep: step)
        } catch {
            return EventProbeResult(event: name, available: false, count: nil, error: nil, failedStep: step)
        }
    }
}

/// A few milliseconds of real work for probes: allocate and touch fresh pages (page faults),
/// stream over them (cache misses) and branch on the data (branch misses).
enum ProbeWorkload {
    @inline(never)
    static func run(bytes: Int = 8 << 20) {
        let n = bytes / 8
        let p = UnsafeMutablePointer<UInt64>.allocate(capacity: n)
        defer { p.deallocate() }
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in 0..<n { x ^= x << 13; x ^= x >> 7; x ^= x << 17; p[i] = x }
        var acc: UInt64 = 0
        for pass in 0..<4 {
            for i in stride(from: pass, to: n, by: 8) where p[i] & 1 == 0 { acc &+= p[i] }
        }
        sink = acc
    }
    nonisolated(unsafe) static var sink: UInt64 = 0
}
