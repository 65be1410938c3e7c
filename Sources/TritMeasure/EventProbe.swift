import Foundation

/// Whether one event really counts on this machine, and through which backend: the outcome of
/// trying each backend in turn (add or open, start, run a small loop, read, stop).
///
/// `count` is present only when the event counted; an unavailable event carries every
/// backend's failure and never a 0, so a report cannot mistake "not counted" for "nothing happened".
public struct EventProbeResult: Codable, Equatable, Sendable {
    public var event: String
    public var available: Bool
    public var count: Int64?
    /// The backend that counted it.
    public var backend: CounterBackendKind?
    /// Whether the count was scaled from part of the loop (a time-shared counter).
    public var scaled: Bool
    /// Each failed backend's reason, in the order tried.
    public var failures: [CounterFailure]

    public init(event: String, available: Bool, count: Int64?, backend: CounterBackendKind?, scaled: Bool = false,
                failures: [CounterFailure]) {
        self.event = event; self.available = available; self.count = count; self.backend = backend
        self.scaled = scaled; self.failures = failures
    }

    /// The failure of `backend`, if it was tried and failed.
    public func failure(of backend: CounterBackendKind) -> CounterFailure? { failures.first { $0.backend == backend } }

    enum CodingKeys: String, CodingKey { case event, available, count, backend, scaled, failures, error, failedStep }

    /// Result files written before the direct backend existed carry PAPI's error and step only;
    /// they read as one PAPI failure (and an available event as counted by PAPI).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        event = try c.decode(String.self, forKey: .event)
        available = try c.decode(Bool.self, forKey: .available)
        count = try c.decodeIfPresent(Int64.self, forKey: .count)
        scaled = try c.decodeIfPresent(Bool.self, forKey: .scaled) ?? false
        if let f = try c.decodeIfPresent([CounterFailure].self, forKey: .failures) {
            failures = f
            backend = try c.decodeIfPresent(CounterBackendKind.self, forKey: .backend)
        } else {
            let old = try c.decodeIfPresent(PAPIError.self, forKey: .error)
            let step = try c.decodeIfPresent(String.self, forKey: .failedStep) ?? "add"
            failures = old.map { [CounterFailure(papi: $0, step: step)] } ?? []
            backend = available ? .papi : nil
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(event, forKey: .event)
        try c.encode(available, forKey: .available)
        try c.encodeIfPresent(count, forKey: .count)
        try c.encodeIfPresent(backend, forKey: .backend)
        try c.encode(scaled, forKey: .scaled)
        try c.encode(failures, forKey: .failures)
    }
}

/// Probes events for real through each backend in turn (never trusting `papi_avail`, which can
/// list a preset that cannot be added).
public enum EventProbe {
    /// The list `tritbench env` reports: every hardware and software event TritBench reads.
    public static let standardEvents = CounterEvent.hardwareNames + CounterEvent.softwareNames

    public static func probe(_ events: [String] = standardEvents,
                             backends: [any CounterBackend] = CounterBackends.standard) -> [EventProbeResult] {
        events.map { probeOne($0, backends: backends) }
    }

    /// Tries `name` with each backend around a loop that faults pages, streams and branches;
    /// the first backend that counts it wins.
    public static func probeOne(_ name: String, backends: [any CounterBackend] = CounterBackends.standard) -> EventProbeResult {
        let event = CounterEvent.named(name)
        var failures: [CounterFailure] = []
        for b in backends {
            switch b.probe(event, workload: { ProbeWorkload.run() }) {
            case .success(let r):
                return EventProbeResult(event: name, available: true, count: r.value, backend: b.kind, scaled: r.scaled,
                                        failures: failures)
            case .failure(let f):
                failures.append(f)
            }
        }
        return EventProbeResult(event: name, available: false, count: nil, backend: nil, failures: failures)
    }
}

/// A few milliseconds of real work for probes: allocate and touch fresh pages (page faults),
/// stream over them (cache misses) and branch on the data (branch misses).
enum ProbeWorkload {
    @inline(never)
    static func run(bytes: Int = 8 << 20) {
        // mmap, not malloc: glibc reuses freed heap pages, and a probe of page faults needs fresh ones.
        let n = bytes / 8
        guard let raw = mmap(nil, n * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else { return }
        defer { munmap(raw, n * 8) }
        let p = raw.bindMemory(to: UInt64.self, capacity: n)
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
