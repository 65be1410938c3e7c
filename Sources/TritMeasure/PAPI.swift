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
                return "event not available: PAPI's perf_event component is disabled (\(reason)); no PMU or perf events reach this process"
            }
            if let c = context, c.virtualized || c.hardwareCounters == 0 {
                return "event not available: this machine exposes no hardware PMU to the process (virtualised: \(c.virtualized ? "yes" : "no"), hardware counters reported by perf_event: \(c.hardwareCounters))"
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
                                    components: components, perfEventParanoid: readPerfEventParanoid()))
    }()

    public static var context: PAPIContext? { try? initialization.get() }

    /// Serialises every call into PAPI: its bookkeeping of event sets and threads is process-
    /// global and not safe against concurrent calls (tests and tuners may measure from several
    /// threads). Held per call, never across a measured region.
    static let lock = NSLock()

    static func readPerfEventParanoid() -> Int? {
        (try? String(contentsOfFile: "/proc/sys/kernel/perf_event_paranoid", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}

/// One PAPI event set: add named events, start, read, stop. Owns its PAPI handle.
///
/// A class because it owns a PAPI resource that must be destroyed exactly once.
public final class PAPIEventSet {
    private var handle: Int32 = tritbench_papi_null()
    public private(set) var events: [String] = []
    public private(set) var multiplexed = false

    public init() throws {
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
    public func add(_ name: String) throws {
        let rc = PAPILibrary.lock.withLock { PAPI_add_named_event(handle, name) }
        guard rc == tritbench_papi_ok() else { throw PAPIError(code: rc, context: PAPILibrary.context) }
        events.append(name)
    }

    /// Switches the set to multiplexing (call before adding more events than counters).
    public func enableMultiplexing() throws {
        let rc = PAPILibrary.lock.withLock {
            let assigned = PAPI_assign_eventset_component(handle, 0)
            return assigned == tritbench_papi_ok() ? PAPI_set_multiplex(handle) : assigned
        }
        guard rc == tritbench_papi_ok() else { throw PAPIError(code: rc, context: PAPILibrary.context) }
        multiplexed = true
    }

    public func start() throws {
        let rc = PAPILibrary.lock.withLock { PAPI_start(handle) }
        guard rc == tritbench_papi_ok() else { throw PAPIError(code: rc, context: PAPILibrary.context) }
    }

    public func read() throws -> [Int64] {
        var values = [Int64](repeating: 0, count: events.count)
        let rc = PAPILibrary.lock.withLock { PAPI_read(handle, &values) }
        guard rc == tritbench_papi_ok() else { throw PAPIError(code: rc, context: PAPILibrary.context) }
        return values
    }

    @discardableResult
    public func stop() throws -> [Int64] {
        var values = [Int64](repeating: 0, count: events.count)
        let rc = PAPILibrary.lock.withLock { PAPI_stop(handle, &values) }
        guard rc == tritbench_papi_ok() else { throw PAPIError(code: rc, context: PAPILibrary.context) }
        return values
    }
}
