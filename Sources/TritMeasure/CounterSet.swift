import Foundation

/// One event's count over a batch of calls: a number only when the event really counted.
///
/// `total`/`perCall` are nil for an event that was not counted, and `failures` say why, one per
/// backend tried; nothing in TritBench ever turns "not counted" into 0.
public struct CounterValue: Codable, Equatable, Sendable {
    public var event: String
    /// Count over the whole batch (an estimate when `scaled`).
    public var total: Int64?
    /// `total / calls`.
    public var perCall: Double?
    /// The backend that counted it.
    public var backend: CounterBackendKind?
    /// Whether the count was scaled up from part of the batch (time-shared counters).
    public var scaled: Bool
    /// Time running ÷ time enabled, where the backend reports it.
    public var runningFraction: Double?
    /// Why each backend tried did not count it (for a counted event: the backends before the one that did).
    public var failures: [CounterFailure]

    public var counted: Bool { total != nil }

    /// A one-line reason for an uncounted event, naming every backend's failure.
    public var reason: String? {
        guard !counted else { return nil }
        return failures.isEmpty ? "not counted" : failures.map(\.description).joined(separator: "; ")
    }
}

/// The counters read around one batch of calls.
public struct CounterSample: Codable, Equatable, Sendable {
    public var calls: Int
    /// Whether any count is a scaled estimate (multiplexed counters).
    public var multiplexed: Bool
    public var values: [CounterValue]

    public subscript(event: String) -> CounterValue? { values.first { $0.event == event } }

    /// Per-call count of `event`, nil when it was not requested or not counted.
    public func perCall(_ event: String) -> Double? { self[event]?.perCall }
}

/// A set of events, chosen by name, each counted by the first backend that really counts it.
///
/// For each backend in order (PAPI, then `perf_event_open`): probe the events still without a
/// backend one at a time (add/open, start, count a small loop, read, stop), open one session for
/// those that counted, and leave the rest, with this backend's reason, to the next. So on a host
/// where PAPI's perf_event component is disabled the kernel's software events still count, and
/// a report can say which backend counted what. A class because it owns the sessions.
public final class CounterSet {
    /// Hardware events, counted where a PMU exists.
    public static let hardwareEvents = CounterEvent.hardwareNames
    /// Kernel software events, which count even in a VM without a virtual PMU.
    public static let softwareEvents = CounterEvent.softwareNames

    public let requested: [String]
    /// The backend counting each event that counts.
    public private(set) var backendOf: [String: CounterBackendKind] = [:]
    /// Why each backend tried did not count an event, in the order tried.
    public private(set) var failures: [String: [CounterFailure]] = [:]
    private var sessions: [CounterSession] = []

    /// Events that count, in request order.
    public var counting: [String] { requested.filter { backendOf[$0] != nil } }
    /// Events no backend counts.
    public var unavailable: [String] { requested.filter { backendOf[$0] == nil } }
    /// Whether a backend time-shares counters (PAPI multiplexing; the kernel's, seen at a read).
    public var multiplexed: Bool { sessions.contains { $0.multiplexed } }

    /// Builds a set of `events`. `multiplex`: nil lets each backend decide (multiplex only when
    /// the events do not fit the counters), true forces it where the backend can, false forbids it.
    public init(events: [String], multiplex: Bool? = nil, backends: [any CounterBackend] = CounterBackends.standard) {
        var unique: [String] = []
        for name in events where !unique.contains(name) { unique.append(name) }
        requested = unique
        var remaining = unique.map(CounterEvent.named)
        for backend in backends where !remaining.isEmpty {
            var counted: [CounterEvent] = []
            for e in remaining {
                switch backend.probe(e, workload: { ProbeWorkload.run(bytes: 1 << 20) }) {
                case .success: counted.append(e)
                case .failure(let f): failures[e.name, default: []].append(f)
                }
            }
            var joined = Set<String>()
            if !counted.isEmpty {
                let (session, rejected) = backend.open(counted, multiplex: multiplex)
                for (name, f) in rejected { failures[name, default: []].append(f) }
                if let session {
                    sessions.append(session)
                    for e in session.events { backendOf[e.name] = backend.kind; joined.insert(e.name) }
                }
            }
            remaining = remaining.filter { !joined.contains($0.name) }
        }
    }

    /// The events `profile` and the tuner read: every hardware event (reported with its reason
    /// where no PMU counts it) and the software events.
    public static func preferred(backends: [any CounterBackend] = CounterBackends.standard) -> CounterSet {
        CounterSet(events: hardwareEvents + softwareEvents, backends: backends)
    }

    /// Counts `calls` calls of `body` between one start and one stop of every session (reads
    /// cost microseconds, so they go around batches, never single calls) and normalises per call.
    public func count(calls: Int, _ body: () -> Void) -> CounterSample {
        let n = max(calls, 1)
        var readings: [String: Result<CounterReading, CounterFailure>] = [:]
        var started: [CounterSession] = []
        for s in sessions {
            do { try s.start(); started.append(s) } catch {
                for e in s.events { readings[e.name] = .failure(error) }
            }
        }
        for _ in 0..<n { body() }
        for s in started.reversed() {
            do {
                for (e, r) in zip(s.events, try s.stop()) { readings[e.name] = r }
            } catch {
                for e in s.events { readings[e.name] = .failure(error) }
            }
        }
        let values = requested.map { name -> CounterValue in
            let before = failures[name] ?? []
            switch readings[name] {
            case .success(let r)?:
                return CounterValue(event: name, total: r.value, perCall: Double(r.value) / Double(n), backend: backendOf[name],
                                    scaled: r.scaled, runningFraction: r.runningFraction, failures: before)
            case .failure(let f)?:
                return CounterValue(event: name, total: nil, perCall: nil, backend: nil, scaled: false, runningFraction: nil,
                                    failures: before + [f])
            case nil:
                return CounterValue(event: name, total: nil, perCall: nil, backend: nil, scaled: false, runningFraction: nil,
                                    failures: before)
            }
        }
        return CounterSample(calls: n, multiplexed: values.contains { $0.scaled } || multiplexed, values: values)
    }
}
