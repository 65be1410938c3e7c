import CPAPI
import Foundation

/// A PAPI return code with its symbolic name, PAPI's own text, and what it usually means here.
public struct PAPIError: Error, Codable, Equatable, Sendable, CustomStringConvertible {
    public var code: Int32
    public var name: String
    public var message: String
    public var explanation: String

    public init(code: Int32, context: PAPIContext? = nil) {
        self.code = code
        self.name = PAPIError.names[code] ?? "PAPI_E(\(code))"
        self.message = PAPI_strerror(code).map { String(cString: $0) } ?? "unknown PAPI error"
        self.explanation = PAPIError.explain(code: code, context: context)
    }

    public var description: String { "\(name) (\(code)): \(message) — \(explanation)" }

    /// Symbolic names of PAPI's error codes (papi.h).
    static let names: [Int32: String] = [
        0: "PAPI_OK", -1: "PAPI_EINVAL", -2: "PAPI_ENOMEM", -3: "PAPI_ESYS", -4: "PAPI_ECMP",
        -5: "PAPI_ECLOST", -6: "PAPI_EBUG", -7: "PAPI_ENOEVNT", -8: "PAPI_ECNFLCT", -9: "PAPI_ENOTRUN",
        -10: "PAPI_EISRUN", -11: "PAPI_ENOEVST", -12: "PAPI_ENOTPRESET", -13: "PAPI_ENOCNTR",
        -14: "PAPI_EMISC", -15: "PAPI_EPERM", -16: "PAPI_ENOINIT", -17: "PAPI_ENOCMP",
        -18: "PAPI_ENOSUPP", -19: "PAPI_ENOIMPL", -20: "PAPI_EBUF", -21: "PAPI_EINVAL_DOM",
        -22: "PAPI_EATTR", -23: "PAPI_ECOUNT", -24: "PAPI_ECOMBO", -25: "PAPI_ECMP_DISABLED",
        -26: "PAPI_EDELAY_INIT", -27: "PAPI_EMULPASS",
    ]

    static func explain(code: Int32, context: PAPIContext?) -> String {
        switch code {
        case tritbench_papi_enoevnt():
            if let reason = context?.perfEventDisabledReason {
                return "event not available: PAPI's perf_event component is disabled (\(reason)), so PAPI reaches none of the kernel's perf events, software ones included"
            }
            if let c = context, c.virtualized || c.hardwareCounters == 0 {
                return c.virtualized
                    ? "event not available: no hardware PMU reaches this virtualised guest (PAPI's perf_event component lists \(c.hardwareCounters) counters, but the kernel serves no hardware event)"
                    : "event not available: the kernel reports no hardware counters to PAPI's perf_event component"
            }
            return "event not available on this CPU or PAPI build"
        case tritbench_papi_ecnflct():
            return "event conflicts with events already in the set: too many for the counters (use multiplexing)"
        case tritbench_papi_enocntr():
            return "no hardware counter is free for this event"
        case tritbench_papi_eperm():
            let p = context?.perfEventParanoid.map(String.init) ?? "unknown"
            return "permission denied by the kernel; /proc/sys/kernel/perf_event_paranoid is \(p) (lower it, or run with CAP_PERFMON)"
        case tritbench_papi_ecmp_disabled():
            return "the PAPI component providing this event is disabled: \(context?.perfEventDisabledReason ?? "no reason given")"
        case tritbench_papi_enoinit():
            return "PAPI was not initialised"
        case tritbench_papi_esys():
            return "a system call failed (errno \(errno): \(String(cString: strerror(errno))))"
        default:
            return "PAPI refused the request"
        }
    }
}

/// What PAPI knows of this machine, read once at initialisation.
public struct PAPIContext: Codable, Equatable, Sendable {
    public var version: String
    public var virtualized: Bool
    public var virtualVendor: String
    /// Hardware counters the perf_event component reports (0 when there is no PMU).
    public var hardwareCounters: Int
    public var perfEventDisabledReason: String?
    public var components: [PAPIComponent]
    public var perfEventParanoid: Int?
}

public struct PAPIComponent: Codable, Equatable, Sendable {
    public var name: String
    public var disabled: Bool
    public var disabledReason: String?
    public var counters: Int
}

/// The PAPI library, initialised once per process.
///
/// PAPI keeps process-global state of its own; this type is the single door to it, so that
/// nothing else in TritBench imports CPAPI.
public enum PAPILibrary {
    /// The result of `PAPI_library_init`, computed once.
    public static let initialization: Result<PAPIContext, PAPIError> = {
        let want = tritbench_papi_ver_current()
        let got = PAPI_library_init(want)
        guard got == want else {
            return .failure(PAPIError(code: got < 0 ? got : -1, context: nil))
        }
        let threads = tritbench_papi_thread_init()
        guard threads == tritbench_papi_ok() else { return .failure(PAPIError(code: threads, context: nil)) }
        _ = PAPI_multiplex_init()
        var components: [PAPIComponent] = []
        var perfCounters = 0
        var perfReason: String?
        for cid in 0..<PAPI_num_components() {
            guard let info = PAPI_get_component_info(cid)?.pointee else { continue }
            let name = withUnsafeBytes(of: info.name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            let reason = withUnsafeBytes(of: info.disabled_reason) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            let counters = Int(max(PAPI_num_cmp_hwctrs(cid), 0))
            components.append(PAPIComponent(name: name, disabled: info.disabled != 0,
                                            disabledReason: info.disabled != 0 ? reason : nil, counters: counters))
            if name == "perf_event" {
                perfCounters = counters
                if info.disabled != 0 { perfReason = reason }
            }
        }
        var virtualized = false
        var virtualVendor = ""
        if let hw = PAPI_get_hardware_info()?.pointee {
            virtualized = hw.virtualized != 0
            virtualVendor = withUnsafeBytes(of: hw.virtual_vendor_string) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        }
        let v = Int32(want)
        let version = "\(tritbench_papi_version_major(v)).\(tritbench_papi_version_minor(v)).\(tritbench_papi_version_revision(v))"
        return .success(PAPIContext(version: version, virtualized: virtualized, virtualVendor: virtualVendor,
                                    hardwareCounters: perfCounters, perfEventDisabledReason: perfReason,
                                    components: components, perfEventParanoid: PerfEventHost.paranoid))
    }()

    public static var context: PAPIContext? { try? initialization.get() }

    /// Serialises every call into PAPI: its bookkeeping of event sets and threads is process-
    /// global and not safe against concurrent calls (tests and tuners may measure from several
    /// threads). Held per call, never across a measured region.
    static let lock = NSLock()
}

/// One PAPI event set: add named events, start, read, stop. Owns its PAPI handle.
///
/// A class because it owns a PAPI resource that must be destroyed exactly once.
public final class PAPIEventSet {
    private var handle: Int32 = tritbench_papi_null()
    public private(set) var events: [String] = []
    public private(set) var multiplexed = false

    public init() throws(PAPIError) {
        let ctx = try PAPILibrary.initialization.get()
        let rc = PAPILibrary.lock.withLock { PAPI_create_eventset(&handle) }
        guard rc == tritbench_papi_ok() else { throw PAPIError(code: rc, context: ctx) }
    }

    deinit {
        var scratch = [Int64](repeating: 0, count: max(events.count, 1))
        PAPILibrary.lock.withLock {
            _ = PAPI_stop(handle, &scratch)
            _ = PAPI_cleanup_eventset(handle)
            _ = PAPI_destroy_eventset(&handle)
        }
    }

    /// Adds an event by PAPI preset or native name ("PAPI_TOT_INS", "perf::TASK-CLOCK").
    public func add(_ name: String) throws(PAPIError) {
        let rc = PAPILibrary.lock.withLock { PAPI_add_named_event(handle, name) }
        guard rc == tritbench_papi_ok() else { throw PAPIError(code: rc, context: PAPILibrary.context) }
        events.append(name)
    }

    /// Switches the set to multiplexing (call before adding more events than counters).
    public func enableMultiplexing() throws(PAPIError) {
        let rc = PAPILibrary.lock.withLock {
            let assigned = PAPI_assign_eventset_component(handle, 0)
            return assigned == tritbench_papi_ok() ? PAPI_set_multiplex(handle) : assigned
        }
        guard rc == tritbench_papi_ok() else { throw PAPIError(code: rc, context: PAPILibrary.context) }
        multiplexed = true
    }

    public func start() throws(PAPIError) {
        let rc = PAPILibrary.lock.withLock { PAPI_start(handle) }
        guard rc == tritbench_papi_ok() else { throw PAPIError(code: rc, context: PAPILibrary.context) }
    }

    public func read() throws(PAPIError) -> [Int64] {
        var values = [Int64](repeating: 0, count: events.count)
        let rc = PAPILibrary.lock.withLock { PAPI_read(handle, &values) }
        guard rc == tritbench_papi_ok() else { throw PAPIError(code: rc, context: PAPILibrary.context) }
        return values
    }

    @discardableResult
    public func stop() throws(PAPIError) -> [Int64] {
        var values = [Int64](repeating: 0, count: events.count)
        let rc = PAPILibrary.lock.withLock { PAPI_stop(handle, &values) }
        guard rc == tritbench_papi_ok() else { throw PAPIError(code: rc, context: PAPILibrary.context) }
        return values
    }
}

/// Counters through PAPI: each event probed on a set of its own, the ones that count sharing one
/// event set, switched to multiplexing when the hardware has fewer counters than events.
public struct PAPIBackend: CounterBackend {
    public var kind: CounterBackendKind { .papi }
    public init() {}

    public func probe(_ event: CounterEvent, workload: () -> Void) -> Result<CounterReading, CounterFailure> {
        guard let name = event.papiName else { return .failure(Self.noName(event)) }
        let set: PAPIEventSet
        do { set = try PAPIEventSet() } catch { return .failure(CounterFailure(papi: error, step: "init")) }
        var step = "add"
        do {
            try set.add(name)
            step = "start"; try set.start()
            workload()
            step = "read"; _ = try set.read()
            step = "stop"; let v = try set.stop()
            return .success(CounterReading(value: v.first ?? 0))
        } catch {
            return .failure(CounterFailure(papi: error, step: step))
        }
    }

    public func open(_ events: [CounterEvent], multiplex: Bool?) -> (session: CounterSession?, rejected: [String: CounterFailure]) {
        var rejected: [String: CounterFailure] = [:]
        let named = events.filter { e in
            if e.papiName == nil { rejected[e.name] = Self.noName(e) }
            return e.papiName != nil
        }
        guard !named.isEmpty else { return (nil, rejected) }
        func merge(_ b: Built) -> (session: CounterSession?, rejected: [String: CounterFailure]) {
            rejected.merge(b.rejected) { a, _ in a }
            return (b.session.events.isEmpty ? nil : b.session, rejected)
        }
        let plain = multiplex == true ? nil : Self.build(named, multiplex: false)
        if case .success(let p)? = plain, p.rejected.isEmpty || multiplex == false { return merge(p) }
        // Too many events for the counters (or multiplexing was asked for): time-share them.
        switch Self.build(named, multiplex: true) {
        case .success(let m):
            if case .success(let p)? = plain, p.rejected.count <= m.rejected.count { return merge(p) }
            return merge(m)
        case .failure(let f):
            if case .success(let p)? = plain { return merge(p) }
            for e in named { rejected[e.name] = f }
            return (nil, rejected)
        }
    }

    private struct Built { var session: PAPISession; var rejected: [String: CounterFailure] }

    /// Builds one event set; returns it with the events that could not be added (and why), or
    /// the failure of the step that made the whole set impossible.
    private static func build(_ events: [CounterEvent], multiplex: Bool) -> Result<Built, CounterFailure> {
        let s: PAPIEventSet
        do { s = try PAPIEventSet() } catch { return .failure(CounterFailure(papi: error, step: "create")) }
        if multiplex {
            // On a VM without a PMU, PAPI 7 refuses multiplexing with PAPI_ENOEVNT.
            do { try s.enableMultiplexing() } catch { return .failure(CounterFailure(papi: error, step: "multiplex")) }
        }
        var rejected: [String: CounterFailure] = [:]
        var added: [CounterEvent] = []
        for e in events {
            do { try s.add(e.papiName!); added.append(e) } catch {
                rejected[e.name] = CounterFailure(papi: error, step: multiplex ? "add (multiplexed)" : "add")
            }
        }
        return .success(Built(session: PAPISession(set: s, events: added, multiplexed: multiplex), rejected: rejected))
    }

    static func noName(_ e: CounterEvent) -> CounterFailure {
        CounterFailure(backend: .papi, step: "map", code: 0, name: "NO_EQUIVALENT", message: "PAPI has no name for \(e.name)",
                       explanation: "only the direct perf_event backend can count it")
    }
}

/// One PAPI event set counting a backend session's events.
final class PAPISession: CounterSession {
    let set: PAPIEventSet
    let events: [CounterEvent]
    let multiplexed: Bool

    init(set: PAPIEventSet, events: [CounterEvent], multiplexed: Bool) {
        self.set = set; self.events = events; self.multiplexed = multiplexed
    }

    func start() throws(CounterFailure) {
        do { try set.start() } catch { throw CounterFailure(papi: error, step: "start") }
    }

    func stop() throws(CounterFailure) -> [Result<CounterReading, CounterFailure>] {
        let values: [Int64]
        do { values = try set.stop() } catch { throw CounterFailure(papi: error, step: "stop") }
        // PAPI scales a multiplexed set's counts itself; each is then an estimate.
        return values.map { .success(CounterReading(value: $0, scaled: multiplexed)) }
    }
}
