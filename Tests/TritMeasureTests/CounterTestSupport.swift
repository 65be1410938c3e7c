import Foundation
import Testing
@testable import TritMeasure

/// PAPI as it is on the Intel hosts of our machine kind, where its perf_event component is
/// disabled ("libpfm4 no default PMU found"): presets fail at add with PAPI_ECMP_DISABLED,
/// native perf:: events with PAPI_ENOEVNT. A mock, used only beside tests of the real PAPI.
struct DisabledPAPIBackend: CounterBackend {
    var kind: CounterBackendKind { .papi }

    func failure(_ e: CounterEvent) -> CounterFailure {
        e.name.hasPrefix("PAPI_")
            ? CounterFailure(backend: .papi, step: "add", code: -25, name: "PAPI_ECMP_DISABLED", message: "Component containing event is disabled",
                             explanation: "the PAPI component providing this event is disabled: Error libpfm4 no default PMU found")
            : CounterFailure(backend: .papi, step: "add", code: -7, name: "PAPI_ENOEVNT", message: "Event does not exist",
                             explanation: "event not available: PAPI's perf_event component is disabled")
    }

    func probe(_ event: CounterEvent, workload: () -> Void) -> Result<CounterReading, CounterFailure> { .failure(failure(event)) }

    func open(_ events: [CounterEvent], multiplex: Bool?) -> (session: CounterSession?, rejected: [String: CounterFailure]) {
        (nil, Dictionary(uniqueKeysWithValues: events.map { ($0.name, failure($0)) }))
    }
}

/// What the kernel allows here, asked without any of TritBench's selection logic: a raw
/// `perf_event_open` of task-clock around a page-touching loop.
enum RawPerfEvent {
    static let taskClock: Result<CounterReading, CounterFailure> =
        PerfEventBackend().probe(CounterEvent.named("perf::TASK-CLOCK")) { touchPages() }

    /// Runs `body` where the kernel counts software events; elsewhere records a known issue
    /// naming the reason, so the test says why in its output instead of passing silently.
    static func whereSoftwareEventsCount(_ body: () throws -> Void) rethrows {
        switch taskClock {
        case .success: try body()
        case .failure(let f):
            withKnownIssue("perf_event_open refuses task-clock on this host, so no backend can count software events: \(f)") {
                Issue.record("raw perf_event_open of task-clock failed: \(f)")
            }
        }
    }
}

/// Error names real hosts give for an event they cannot count: PAPI's on hosts without a PMU
/// (AMD: ENOEVNT; Intel, component disabled: ECMP_DISABLED) or with paranoid settings, and the
/// kernel's errno for perf_event_open; NO_EQUIVALENT where a backend cannot name the event.
let acceptedUnavailableReasons: [CounterBackendKind: Set<String>] = [
    .papi: ["PAPI_ENOEVNT", "PAPI_ECMP_DISABLED", "PAPI_EPERM", "PAPI_ENOCNTR", "PAPI_ECNFLCT", "NO_EQUIVALENT"],
    .perfEvent: ["ENOENT", "EACCES", "EPERM", "EOPNOTSUPP", "ENODEV", "NO_EQUIVALENT", "NOT_SCHEDULED"],
]

/// A workload that faults in fresh pages and takes real CPU time, so software events count.
/// mmap/munmap directly: malloc would recycle already-mapped heap pages and fault nothing.
func touchPages() {
    let n = 4 << 20
    guard let p = mmap(nil, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else { return }
    defer { munmap(p, n) }
    for i in stride(from: 0, to: n, by: 4096) { p.storeBytes(of: UInt8(i & 0x7F), toByteOffset: i, as: UInt8.self) }
}
