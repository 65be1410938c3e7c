import CPerfEvent
import Foundation

/// Counters through `perf_event_open(2)` directly, as nanobench does: one fd per event, so a
/// hardware event the kernel refuses (ENOENT on a VM without a PMU) does not take the software
/// events down with it. Hardware events asked for together share a group and one grouped read,
/// so their counts cover the same cycles; software events stay on their own fds.
///
/// Counts cover the calling thread, user space only (PAPI's default domain too). Every read
/// carries time enabled and running; a count from a time-shared counter is scaled by their
/// ratio and marked as scaled, and one that never ran is "not counted", never 0.
public struct PerfEventBackend: CounterBackend {
    public var kind: CounterBackendKind { .perfEvent }
    /// Whether software events join one group too (tests use it to run the grouped read on hosts
    /// without a PMU; the kernel accepts software-only groups).
    var groupsSoftwareEvents = false

    public init() {}
    init(groupsSoftwareEvents: Bool) { self.groupsSoftwareEvents = groupsSoftwareEvents }

    public func probe(_ event: CounterEvent, workload: () -> Void) -> Result<CounterReading, CounterFailure> {
        let (session, rejected) = open([event], multiplex: nil)
        guard let session else {
            return .failure(rejected[event.name] ?? Self.failure(step: "open", errno: EINVAL, event: event))
        }
        do {
            try session.start()
            workload()
            return try session.stop().first ?? .failure(Self.failure(step: "read", errno: EIO, event: event))
        } catch {
            return .failure(error)
        }
    }

    public func open(_ events: [CounterEvent], multiplex: Bool?) -> (session: CounterSession?, rejected: [String: CounterFailure]) {
        var rejected: [String: CounterFailure] = [:]
        var counters: [PerfEventSession.Counter] = []
        var leader: Int32 = -1
        for e in events {
            guard let code = e.perf else {
                rejected[e.name] = CounterFailure(backend: .perfEvent, step: "map", code: 0, name: "NO_EQUIVALENT",
                                                  message: "perf_event_open has no generic event for \(e.name)",
                                                  explanation: "only PAPI can count it (a PMU-specific event)")
                continue
            }
            // Hardware events join the first hardware event's group; a member the PMU cannot
            // schedule with the others (EINVAL/ENOSPC at open) gets an fd of its own, which the
            // kernel then time-shares and the read scales.
            let grouped = code.isHardware || groupsSoftwareEvents
            if grouped, leader >= 0 {
                let fd = tritbench_perf_open(code.type, code.config, leader, 1)
                if fd >= 0 { counters.append(.init(event: e, fd: fd, groupLeader: leader)); continue }
            }
            let fd = tritbench_perf_open(code.type, code.config, -1, grouped ? 1 : 0)
            if fd < 0 {
                rejected[e.name] = Self.failure(step: "open", errno: -fd, event: e)
                continue
            }
            if grouped, leader < 0 { leader = fd }
            counters.append(.init(event: e, fd: fd, groupLeader: grouped ? fd : nil))
        }
        return (counters.isEmpty ? nil : PerfEventSession(counters: counters), rejected)
    }

    /// What an errno from `perf_event_open` or its ioctls means for `event` on this machine.
    static func failure(step: String, errno e: Int32, event: CounterEvent) -> CounterFailure {
        let hardware = event.perf?.isHardware ?? false
        let explanation: String
        switch e {
        case ENOENT:
            explanation = hardware
                ? "the kernel offers no such hardware event: no PMU is exposed to this machine (\(PerfEventHost.pmuSummary))"
                : "the kernel does not offer this software event"
        case EACCES, EPERM:
            explanation = "permission denied: /proc/sys/kernel/perf_event_paranoid is \(PerfEventHost.paranoid.map(String.init) ?? "unreadable") (2 allows user-space counting of one's own threads; 3 or more forbids it without CAP_PERFMON)"
        case EOPNOTSUPP:
            explanation = "the PMU cannot count this event as asked (no user-only filtering, or no such counter)"
        case ENODEV:
            explanation = "no PMU serves this event type here"
        case EINVAL:
            explanation = "the kernel rejected the event's attributes (unknown config on this PMU, or a group it cannot schedule together)"
        case ENOSYS:
            explanation = "perf_event_open is not available: a kernel without CONFIG_PERF_EVENTS, or a seccomp filter (containers often block it)"
        case EMFILE, ENFILE:
            explanation = "out of file descriptors"
        case EBUSY:
            explanation = "the counter is held exclusively by someone else"
        default:
            explanation = "the kernel refused the request"
        }
        return CounterFailure(backend: .perfEvent, step: step, code: e, name: errnoName(e),
                              message: String(cString: strerror(e)), explanation: explanation)
    }

    static func errnoName(_ e: Int32) -> String {
        let names: [Int32: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", EIO: "EIO", EBADF: "EBADF", EACCES: "EACCES", EBUSY: "EBUSY",
            ENODEV: "ENODEV", EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE", ENOSPC: "ENOSPC", ENOSYS: "ENOSYS",
            EOPNOTSUPP: "EOPNOTSUPP", E2BIG: "E2BIG", EFAULT: "EFAULT", EOVERFLOW: "EOVERFLOW", ESRCH: "ESRCH",
        ]
        return names[e] ?? "errno \(e)"
    }
}

/// What the kernel says about perf events here, read once.
public enum PerfEventHost {
    /// /proc/sys/kernel/perf_event_paranoid.
    public static let paranoid: Int? = (try? String(contentsOfFile: "/proc/sys/kernel/perf_event_paranoid", encoding: .utf8))
        .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }

    /// The PMUs the kernel registered (/sys/bus/event_source/devices): "software" and
    /// "tracepoint" always; "cpu" (Intel) or "cpu_core"/"cpu_atom", or AMD's "cpu" and "ibs_*",
    /// only where a PMU is exposed.
    public static let pmus: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/event_source/devices")) ?? []).sorted()

    /// Whether a core PMU is listed.
    public static var hasCorePMU: Bool { pmus.contains { $0 == "cpu" || $0.hasPrefix("cpu_") } }

    static var pmuSummary: String {
        pmus.isEmpty ? "/sys/bus/event_source/devices is unreadable"
            : "/sys/bus/event_source/devices lists \(pmus.joined(separator: ", "))\(hasCorePMU ? "" : ", no 'cpu'")"
    }
}

/// The open fds of one `PerfEventBackend.open`.
final class PerfEventSession: CounterSession {
    struct Counter {
        var event: CounterEvent
        var fd: Int32
        /// The fd of the group this counter belongs to (its own fd for a leader); nil for a lone
        /// software event.
        var groupLeader: Int32?
    }

    let counters: [Counter]
    var events: [CounterEvent] { counters.map(\.event) }
    /// The kernel time-shares counters on its own; this says whether any reading was scaled,
    /// which is only known after a read, so it reports the last stop.
    private(set) var multiplexed = false

    init(counters: [Counter]) { self.counters = counters }

    deinit { for c in counters { tritbench_perf_close(c.fd) } }

    /// fds enabled and disabled as a unit: each group's leader (with its members), each lone event.
    private var units: [Int32] { counters.filter { $0.groupLeader == nil || $0.groupLeader == $0.fd }.map(\.fd) }

    func start() throws(CounterFailure) {
        for fd in units {
            let group: Int32 = counters.contains { $0.groupLeader == fd } ? 1 : 0
            var rc = tritbench_perf_reset(fd, group)
            if rc == 0 { rc = tritbench_perf_enable(fd, group) }
            if rc < 0 {
                throw PerfEventBackend.failure(step: "start", errno: -rc, event: counters.first { $0.fd == fd }!.event)
            }
        }
    }

    func stop() throws(CounterFailure) -> [Result<CounterReading, CounterFailure>] {
        for fd in units.reversed() {
            let group: Int32 = counters.contains { $0.groupLeader == fd } ? 1 : 0
            let rc = tritbench_perf_disable(fd, group)
            if rc < 0 { throw PerfEventBackend.failure(step: "stop", errno: -rc, event: counters.first { $0.fd == fd }!.event) }
        }
        var results: [Result<CounterReading, CounterFailure>] = []
        var groups: [Int32: Result<(values: [UInt64], enabled: UInt64, running: UInt64), CounterFailure>] = [:]
        for c in counters {
            let raw: Result<(value: UInt64, enabled: UInt64, running: UInt64), CounterFailure>
            if let leader = c.groupLeader {
                if groups[leader] == nil { groups[leader] = readGroup(leader) }
                let members = counters.filter { $0.groupLeader == leader }
                let index = members.firstIndex { $0.fd == c.fd }!
                raw = groups[leader]!.flatMap { g in
                    index < g.values.count ? .success((g.values[index], g.enabled, g.running))
                        : .failure(PerfEventBackend.failure(step: "read", errno: EIO, event: c.event))
                }
            } else {
                var out: [UInt64] = [0, 0, 0]
                let rc = tritbench_perf_read_one(c.fd, &out)
                raw = rc < 0 ? .failure(PerfEventBackend.failure(step: "read", errno: -rc, event: c.event))
                    : .success((out[0], out[1], out[2]))
            }
            results.append(raw.flatMap { Self.reading($0.value, enabled: $0.enabled, running: $0.running, event: c.event) })
        }
        multiplexed = results.contains { (try? $0.get())?.scaled == true }
        return results
    }

    private func readGroup(_ leader: Int32) -> Result<(values: [UInt64], enabled: UInt64, running: UInt64), CounterFailure> {
        let n = counters.filter { $0.groupLeader == leader }.count
        var values = [UInt64](repeating: 0, count: n)
        var enabled: UInt64 = 0, running: UInt64 = 0
        let rc = tritbench_perf_read_group(leader, Int32(n), &values, &enabled, &running)
        guard rc >= 0 else {
            return .failure(PerfEventBackend.failure(step: "read", errno: -rc, event: counters.first { $0.fd == leader }!.event))
        }
        return .success((values, enabled, running))
    }

    /// A raw count and its times as a reading: scaled when the counter ran for part of the
    /// region, a failure when it never ran (nothing was counted, so there is no number).
    static func reading(_ value: UInt64, enabled: UInt64, running: UInt64, event: CounterEvent) -> Result<CounterReading, CounterFailure> {
        guard running > 0 else {
            return .failure(CounterFailure(backend: .perfEvent, step: "schedule", code: 0, name: "NOT_SCHEDULED",
                                           message: "time running 0 of \(enabled) ns enabled",
                                           explanation: "the kernel never put this event on a counter (all counters busy, or the PMU refused it)"))
        }
        let fraction = Double(running) / Double(max(enabled, running))
        // Ran throughout (software events always do; a tenth of a per-mille is clock skew between the two times).
        guard fraction < 0.9999 else { return .success(CounterReading(value: Int64(clamping: value), runningFraction: fraction)) }
        let scaled = (Double(value) / fraction).rounded()
        return .success(CounterReading(value: scaled < 9.2e18 ? Int64(scaled) : Int64.max, scaled: true, runningFraction: fraction))
    }
}
