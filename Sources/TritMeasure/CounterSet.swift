import Foundation

/// One event's count over a batch of calls: a number only when the event really counted.
///
/// `total`/`perCall` are nil for an event that was not counted, and `reason` says why; nothing
/// in TritBench ever turns "not counted" into 0.
public struct CounterValue: Codable, Equatable, Sendable {
    public var event: String
    /// Raw count over the whole batch (a PAPI estimate when the set was multiplexed).
    public var total: Int64?
    /// `total / calls`.
    public var perCall: Double?
    /// Why the event has no value: PAPI's error, the step that failed, and what it means here.
    public var error: PAPIError?
    public var failedStep: String?

    public var counted: Bool { total != nil }

    /// A one-line reason for an uncounted event ("PAPI_ENOEVNT (-7) at add: …").
    public var reason: String? {
        guard !counted else { return nil }
        if let e = error { return "\(e.name) (\(e.code)) at \(failedStep ?? "?"): \(e.explanation)" }
        return "not counted (failed at \(failedStep ?? "?"))"
    }
}

/// The counters read around one batch of calls.
public struct CounterSample: Codable, Equatable, Sendable {
    public var calls: Int
    /// Whether PAPI time-shared the counters (values are then scaled estimates).
    public var multiplexed: Bool
    public var values: [CounterValue]

    public subscript(event: String) -> CounterValue? { values.first { $0.event == event } }

    /// Per-call count of `event`, nil when it was not requested or not counted.
    public func perCall(_ event: String) -> Double? { self[event]?.perCall }
}

/// A set of PAPI events, chosen by name, probed for real, and read around batches of calls.
///
/// Each requested event is first probed on its own (add, start, count, read, stop) so that an
/// unavailable one carries its own reason; the ones that count share one event set, which is
/// switched to multiplexing when the hardware has fewer counters than events. A class because it
/// owns a PAPI event set.
public final class CounterSet {
    /// Hardware events, preferred where a PMU exists.
    public static let hardwareEvents = ["PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L1_DCM", "PAPI_L2_DCM",
                                        "PAPI_L3_TCM", "PAPI_BR_MSP"]
    /// Kernel software events, which count even in a VM without a virtual PMU.
    public static let softwareEvents = ["perf::TASK-CLOCK", "perf::PAGE-FAULTS", "perf::CONTEXT-SWITCHES",
                                        "perf::CPU-MIGRATIONS"]

    public let requested: [String]
    /// Events that failed their probe or could not join the shared set.
    public private(set) var unavailable: [String: (error: PAPIError?, step: String)] = [:]
    /// Events in the shared set, in set order.
    public private(set) var counting: [String] = []
    public private(set) var multiplexed = false
    private var set: PAPIEventSet?

    /// Builds a set of `events`. `multiplex`: nil decides automatically (multiplex only when the
    /// events do not fit the counters), true forces it, false forbids it.
    public init(events: [String], multiplex: Bool? = nil) {
        requested = events
        var usable: [String] = []
        for name in events where !usable.contains(name) {
            let probe = EventProbe.probeOne(name)
            if probe.available { usable.append(name) } else { unavailable[name] = (probe.error, probe.failedStep ?? "add") }
        }
        guard !usable.isEmpty else { return }
        let plain = multiplex == true ? nil : Self.build(usable, multiplex: false)
        if case .success(let p)? = plain, p.rejected.isEmpty || multiplex == false {
            adopt(p.set, rejected: p.rejected, multiplexed: false)
            return
        }
        // Too many events for the counters (or multiplexing was asked for): time-share them.
        switch Self.build(usable, multiplex: true) {
        case .success(let m):
            if case .success(let p)? = plain, p.rejected.count <= m.rejected.count {
                adopt(p.set, rejected: p.rejected, multiplexed: false)
            } else {
                adopt(m.set, rejected: m.rejected, multiplexed: true)
            }
        case .failure(let f):
            if case .success(let p)? = plain {
                adopt(p.set, rejected: p.rejected, multiplexed: false)
            } else {
                for name in usable { unavailable[name] = (f.error, f.step) }
            }
        }
    }

    /// The preferred events on this machine: the hardware events that count, if any does;
    /// otherwise the perf software events.
    public static func preferred() -> CounterSet {
        let hardware = CounterSet(events: hardwareEvents)
        return hardware.counting.isEmpty ? CounterSet(events: softwareEvents) : hardware
    }

    private struct Built { var set: PAPIEventSet; var rejected: [String: PAPIError] }
    private struct BuildFailure: Error { var error: PAPIError?; var step: String }

    /// Builds one event set; returns it with the events that could not be added (and why), or
    /// the error of the step that made the whole set impossible.
    private static func build(_ events: [String], multiplex: Bool) -> Result<Built, BuildFailure> {
        let s: PAPIEventSet
        do { s = try PAPIEventSet() } catch { return .failure(BuildFailure(error: error as? PAPIError, step: "create")) }
        if multiplex {
            // On a VM without a PMU, PAPI 7 refuses multiplexing with PAPI_ENOEVNT.
            do { try s.enableMultiplexing() } catch {
                return .failure(BuildFailure(error: error as? PAPIError, step: "multiplex"))
            }
        }
        var rejected: [String: PAPIError] = [:]
        for name in events {
            do { try s.add(name) } catch let e as PAPIError { rejected[name] = e } catch {}
        }
        return .success(Built(set: s, rejected: rejected))
    }

    private func adopt(_ s: PAPIEventSet, rejected: [String: PAPIError], multiplexed m: Bool) {
        set = s
        counting = s.events
        multiplexed = m
        for (name, e) in rejected { unavailable[name] = (e, m ? "add (multiplexed)" : "add") }
    }

    /// Counts `calls` calls of `body` between one start and one stop (PAPI reads cost
    /// microseconds, so they go around batches, never single calls) and normalises per call.
    public func count(calls: Int, _ body: () -> Void) -> CounterSample {
        let n = max(calls, 1)
        var measured: [String: Int64] = [:]
        var runFailure: (PAPIError?, String)?
        if let set {
            do {
                try set.start()
                for _ in 0..<n { body() }
                let v = try set.stop()
                for (name, x) in zip(set.events, v) { measured[name] = x }
            } catch let e as PAPIError {
                runFailure = (e, "start/stop")
            } catch { runFailure = (nil, "start/stop") }
        } else {
            for _ in 0..<n { body() }
        }
        let values = requested.map { name -> CounterValue in
            if let x = measured[name] {
                return CounterValue(event: name, total: x, perCall: Double(x) / Double(n), error: nil, failedStep: nil)
            }
            if let u = unavailable[name] {
                return CounterValue(event: name, total: nil, perCall: nil, error: u.error, failedStep: u.step)
            }
            return CounterValue(event: name, total: nil, perCall: nil, error: runFailure?.0,
                                failedStep: runFailure?.1 ?? "count")
        }
        return CounterSample(calls: n, multiplexed: multiplexed, values: values)
    }
}
