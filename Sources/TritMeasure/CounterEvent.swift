import Foundation
import CPerfEvent

/// An event as `perf_event_open(2)` names it: the attribute's type and config.
public struct PerfEventCode: Codable, Hashable, Sendable, CustomStringConvertible {
    public var type: UInt32
    public var config: UInt64

    /// A `PERF_TYPE_HARDWARE` or `PERF_TYPE_HW_CACHE` event: one that needs a PMU, and that can
    /// share a group (and a grouped read) with other hardware events.
    public var isHardware: Bool {
        type == UInt32(tritbench_perf_type_hardware) || type == UInt32(tritbench_perf_type_hw_cache)
    }

    public var description: String {
        let kind = type == UInt32(tritbench_perf_type_hardware) ? "PERF_TYPE_HARDWARE"
            : type == UInt32(tritbench_perf_type_software) ? "PERF_TYPE_SOFTWARE"
            : type == UInt32(tritbench_perf_type_hw_cache) ? "PERF_TYPE_HW_CACHE" : "type \(type)"
        return "\(kind) config \(config)"
    }

    static func hardware(_ config: UInt64) -> PerfEventCode { PerfEventCode(type: UInt32(tritbench_perf_type_hardware), config: config) }
    static func software(_ config: UInt64) -> PerfEventCode { PerfEventCode(type: UInt32(tritbench_perf_type_software), config: config) }
}

/// One countable event and how each backend asks for it.
///
/// The name is what users pass and what reports print (PAPI's preset or native name, as before
/// the direct backend existed). An event has a `perf` code only where `perf_event_open` has a
/// generic event of the same meaning: PAPI_TOT_CYC is the kernel's cycles event, but PAPI_L2_DCM
/// (L2 data-cache misses) has no generic equivalent, so it is counted by PAPI or not at all,
/// rather than by a different event under its name.
public struct CounterEvent: Codable, Hashable, Sendable {
    public var name: String
    /// The name PAPI is asked for (nil: PAPI has no such event).
    public var papiName: String?
    /// The direct backend's attribute (nil: no generic perf_event equivalent).
    public var perf: PerfEventCode?
    /// What one count is ("ns" for the clocks; nil for plain event counts).
    public var unit: String?

    public init(name: String, papiName: String?, perf: PerfEventCode?, unit: String? = nil) {
        self.name = name; self.papiName = papiName; self.perf = perf; self.unit = unit
    }

    /// The events TritBench knows both ways. Config numbers are the kernel's ABI
    /// (include/uapi/linux/perf_event.h): PERF_COUNT_HW_CPU_CYCLES 0, INSTRUCTIONS 1,
    /// CACHE_REFERENCES 2, CACHE_MISSES 3, BRANCH_MISSES 5; PERF_COUNT_SW_TASK_CLOCK 1,
    /// PAGE_FAULTS 2, CONTEXT_SWITCHES 3, CPU_MIGRATIONS 4.
    public static let catalogue: [CounterEvent] = [
        CounterEvent(name: "PAPI_TOT_CYC", papiName: "PAPI_TOT_CYC", perf: .hardware(0)),
        CounterEvent(name: "PAPI_TOT_INS", papiName: "PAPI_TOT_INS", perf: .hardware(1)),
        CounterEvent(name: "PAPI_L1_DCM", papiName: "PAPI_L1_DCM", perf: nil),
        CounterEvent(name: "PAPI_L2_DCM", papiName: "PAPI_L2_DCM", perf: nil),
        CounterEvent(name: "PAPI_L3_TCM", papiName: "PAPI_L3_TCM", perf: nil),
        CounterEvent(name: "PAPI_BR_MSP", papiName: "PAPI_BR_MSP", perf: nil),
        CounterEvent(name: "perf::CACHE-REFERENCES", papiName: "perf::CACHE-REFERENCES", perf: .hardware(2)),
        CounterEvent(name: "perf::CACHE-MISSES", papiName: "perf::CACHE-MISSES", perf: .hardware(3)),
        CounterEvent(name: "perf::BRANCH-MISSES", papiName: "perf::BRANCH-MISSES", perf: .hardware(5)),
        CounterEvent(name: "perf::TASK-CLOCK", papiName: "perf::TASK-CLOCK", perf: .software(1), unit: "ns"),
        CounterEvent(name: "perf::PAGE-FAULTS", papiName: "perf::PAGE-FAULTS", perf: .software(2)),
        CounterEvent(name: "perf::CONTEXT-SWITCHES", papiName: "perf::CONTEXT-SWITCHES", perf: .software(3)),
        CounterEvent(name: "perf::CPU-MIGRATIONS", papiName: "perf::CPU-MIGRATIONS", perf: .software(4)),
    ]

    /// `perf stat`'s names for the catalogue's events, accepted wherever an event is named.
    static let aliases: [String: String] = [
        "cycles": "PAPI_TOT_CYC", "cpu-cycles": "PAPI_TOT_CYC", "perf::cycles": "PAPI_TOT_CYC",
        "instructions": "PAPI_TOT_INS", "perf::instructions": "PAPI_TOT_INS",
        "cache-references": "perf::CACHE-REFERENCES", "cache-misses": "perf::CACHE-MISSES",
        "branch-misses": "perf::BRANCH-MISSES", "task-clock": "perf::TASK-CLOCK", "page-faults": "perf::PAGE-FAULTS",
        "faults": "perf::PAGE-FAULTS", "context-switches": "perf::CONTEXT-SWITCHES", "cs": "perf::CONTEXT-SWITCHES",
        "cpu-migrations": "perf::CPU-MIGRATIONS", "migrations": "perf::CPU-MIGRATIONS",
    ]

    /// The catalogue entry for `name` (or its `perf stat` alias); any other name is passed to
    /// PAPI as it is (a native event such as "perf::INSTRUCTIONS:u"), with no direct fallback.
    public static func named(_ name: String) -> CounterEvent {
        let canonical = aliases[name.lowercased()] ?? name
        if let e = catalogue.first(where: { $0.name.caseInsensitiveCompare(canonical) == .orderedSame }) { return e }
        return CounterEvent(name: name, papiName: name, perf: nil)
    }

    /// Hardware events, counted where a PMU exists.
    public static let hardwareNames = ["PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L1_DCM", "PAPI_L2_DCM", "PAPI_L3_TCM",
                                       "PAPI_BR_MSP", "perf::CACHE-REFERENCES", "perf::CACHE-MISSES", "perf::BRANCH-MISSES"]
    /// Kernel software events, which count in a VM without a virtual PMU too.
    public static let softwareNames = ["perf::TASK-CLOCK", "perf::PAGE-FAULTS", "perf::CONTEXT-SWITCHES",
                                       "perf::CPU-MIGRATIONS"]
}
