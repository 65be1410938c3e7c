import Foundation

/// Which library or system call counted an event.
public enum CounterBackendKind: String, Codable, CaseIterable, Sendable {
    /// PAPI (libpapi): presets and native events through its components.
    case papi
    /// `perf_event_open(2)` called directly, one fd per event (hardware events grouped).
    case perfEvent = "perf_event"
}

/// Why one backend did not count one event: the step that failed, the error's code and
/// symbolic name (a PAPI return code, or an errno), the library's own text, and what it means here.
public struct CounterFailure: Error, Codable, Equatable, Sendable, CustomStringConvertible {
    public var backend: CounterBackendKind
    /// "init", "map", "add", "open", "start", "read", "stop", "group", "multiplex", "schedule".
    public var step: String
    /// PAPI's return code, or the errno of the failed system call (0 where neither applies).
    public var code: Int32
    /// "PAPI_ENOEVNT", "ENOENT", … ("NO_EQUIVALENT" when the backend cannot name the event).
    public var name: String
    /// PAPI_strerror's or strerror's text.
    public var message: String
    public var explanation: String

    public init(backend: CounterBackendKind, step: String, code: Int32, name: String, message: String, explanation: String) {
        self.backend = backend; self.step = step; self.code = code; self.name = name
        self.message = message; self.explanation = explanation
    }

    public init(papi e: PAPIError, step: String) {
        self.init(backend: .papi, step: step, code: e.code, name: e.name, message: e.message, explanation: e.explanation)
    }

    public var description: String {
        "\(backend.rawValue): \(name)\(code != 0 ? " (\(code))" : "") at \(step): \(message) — \(explanation)"
    }
}

/// One event's count over a measured region.
public struct CounterReading: Equatable, Sendable {
    /// The count, scaled by time enabled ÷ time running when the counter was time-shared.
    public var value: Int64
    /// Whether `value` is an estimate scaled from part of the region (multiplexing).
    public var scaled: Bool
    /// Time running ÷ time enabled where the backend reports it (1 = counted throughout).
    public var runningFraction: Double?

    public init(value: Int64, scaled: Bool = false, runningFraction: Double? = nil) {
        self.value = value; self.scaled = scaled; self.runningFraction = runningFraction
    }
}

/// Events counted together by one backend between one start and one stop. A class: it owns
/// file descriptors or a PAPI event set, released exactly once.
public protocol CounterSession: AnyObject {
    /// The events in the session, in the order `stop` returns their readings.
    var events: [CounterEvent] { get }
    /// Whether the backend time-shares counters for this session (readings are then estimates).
    var multiplexed: Bool { get }
    func start() throws(CounterFailure)
    /// Stops counting and returns one result per event: an event the kernel never scheduled
    /// fails here with its reason rather than reading as 0.
    func stop() throws(CounterFailure) -> [Result<CounterReading, CounterFailure>]
}

/// A way of counting events (PAPI, or `perf_event_open` directly). Swappable, so the choice of
/// backend per event can be tested with one that fails on purpose.
public protocol CounterBackend: Sendable {
    var kind: CounterBackendKind { get }
    /// Counts `event` alone around `workload`: the reading, or why it could not.
    func probe(_ event: CounterEvent, workload: () -> Void) -> Result<CounterReading, CounterFailure>
    /// Opens one session for `events` (each already probed). Events that cannot join it come
    /// back in `rejected` with their failure. `multiplex`: nil lets the backend decide.
    func open(_ events: [CounterEvent], multiplex: Bool?) -> (session: CounterSession?, rejected: [String: CounterFailure])
}

/// The backends tried for each event, in order: the first that counts an event counts it.
public enum CounterBackends {
    /// PAPI first, then `perf_event_open` for what PAPI cannot count. `TRITBENCH_COUNTERS`
    /// (a comma-separated list of `papi`, `perf_event`) changes the order or leaves one out,
    /// e.g. `TRITBENCH_COUNTERS=perf_event` to see what the direct backend alone gives.
    public static let standard: [any CounterBackend] = {
        switch parse(ProcessInfo.processInfo.environment["TRITBENCH_COUNTERS"]) {
        case .success(let kinds): return kinds.map(make)
        case .failure(let message):
            FileHandle.standardError.write(Data("tritbench: \(message); using papi,perf_event\n".utf8))
            return [PAPIBackend(), PerfEventBackend()]
        }
    }()

    public static func make(_ kind: CounterBackendKind) -> any CounterBackend {
        switch kind {
        case .papi: return PAPIBackend()
        case .perfEvent: return PerfEventBackend()
        }
    }

    /// Parses a `TRITBENCH_COUNTERS` value (nil or empty: the default order).
    public static func parse(_ text: String?) -> Result<[CounterBackendKind], ParseError> {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return .success([.papi, .perfEvent]) }
        var kinds: [CounterBackendKind] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let k = CounterBackendKind(rawValue: item) else {
                return .failure(ParseError(description: "TRITBENCH_COUNTERS=\"\(text)\": unknown backend \"\(item)\" (expected papi, perf_event)"))
            }
            if !kinds.contains(k) { kinds.append(k) }
        }
        return .success(kinds)
    }

    public struct ParseError: Error, CustomStringConvertible, Equatable { public var description: String }
}
