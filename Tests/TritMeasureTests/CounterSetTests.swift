import Foundation
import Testing
@testable import TritMeasure

@Suite struct CounterSetTests {
    /// Whether this machine counts hardware events through any backend (no KVM guest of ours does).
    static let hasPMU: Bool = EventProbe.probeOne("PAPI_TOT_CYC").available

    @Test func softwareEventsCountNonZeroPerCall() {
        RawPerfEvent.whereSoftwareEventsCount {
            let set = CounterSet(events: CounterSet.softwareEvents)
            #expect(set.counting.contains("perf::TASK-CLOCK"))
            #expect(set.counting.contains("perf::PAGE-FAULTS"))
            let s = set.count(calls: 4, touchPages)
            #expect(s.calls == 4)
            let clock = s["perf::TASK-CLOCK"]
            #expect(clock?.backend == set.backendOf["perf::TASK-CLOCK"])
            // TASK-CLOCK is in nanoseconds: 4 calls faulting 1024 pages each take well over 10 µs.
            #expect((clock?.perCall ?? 0) > 10_000)
            // 1024 fresh pages per call; transparent huge pages may fault fewer, never none.
            #expect((s.perCall("perf::PAGE-FAULTS") ?? 0) >= 1)
        }
    }

    /// The same with PAPI failing as on the Intel hosts: the direct backend counts everything
    /// and each value keeps PAPI's reason.
    @Test func directBackendCountsWhenPAPIFails() {
        RawPerfEvent.whereSoftwareEventsCount {
            let set = CounterSet(events: ["perf::TASK-CLOCK", "perf::PAGE-FAULTS", "PAPI_TOT_INS"],
                                 backends: [DisabledPAPIBackend(), PerfEventBackend()])
            #expect(set.backendOf["perf::TASK-CLOCK"] == .perfEvent)
            #expect(set.backendOf["perf::PAGE-FAULTS"] == .perfEvent)
            let s = set.count(calls: 3, touchPages)
            #expect((s.perCall("perf::TASK-CLOCK") ?? 0) > 10_000)
            #expect((s.perCall("perf::PAGE-FAULTS") ?? 0) >= 1)
            #expect(s["perf::TASK-CLOCK"]?.failures.map(\.name) == ["PAPI_ENOEVNT"])
            let ins = s["PAPI_TOT_INS"]!
            #expect(ins.failures.first?.name == "PAPI_ECMP_DISABLED")
            if !Self.hasPMU {
                #expect(!ins.counted && ins.failures.count == 2 && ins.reason!.contains("perf_event: "))
            }
        }
    }

    /// Software events opened as one group are read in one grouped read (what hardware events
    /// get where a PMU exists; a software group runs the same code on every host).
    @Test func groupedReadGivesEachMemberItsCount() {
        RawPerfEvent.whereSoftwareEventsCount {
            let backend = PerfEventBackend(groupsSoftwareEvents: true)
            let events = ["perf::PAGE-FAULTS", "perf::TASK-CLOCK", "perf::CONTEXT-SWITCHES"].map(CounterEvent.named)
            let (session, rejected) = backend.open(events, multiplex: nil)
            #expect(rejected.isEmpty)
            let s = session as! PerfEventSession
            #expect(Set(s.counters.map(\.groupLeader)) == [s.counters[0].fd], "all in the first event's group")
            try! s.start()
            for _ in 0..<2 { touchPages() }
            let r = try! s.stop().map { try $0.get() }
            // 2 × 1024 fresh pages, and the clock in ns: the order of the values is the order of the events.
            #expect(r[0].value >= 2 && r[0].value < 1_000_000)
            #expect(r[1].value > 20_000)
            #expect(r.allSatisfy { !$0.scaled })
        }
    }

    @Test func timeSharedCountsAreScaledAndNeverRunIsNotCounted() throws {
        let e = CounterEvent.named("PAPI_TOT_CYC")
        let full = try PerfEventSession.reading(1000, enabled: 500, running: 500, event: e).get()
        #expect(full == CounterReading(value: 1000, scaled: false, runningFraction: 1))
        let half = try PerfEventSession.reading(1000, enabled: 800, running: 200, event: e).get()
        #expect(half.value == 4000 && half.scaled && half.runningFraction == 0.25)
        guard case .failure(let f) = PerfEventSession.reading(0, enabled: 800, running: 0, event: e) else {
            Issue.record("a counter that never ran read as a number"); return
        }
        #expect(f.name == "NOT_SCHEDULED" && f.backend == .perfEvent)
    }

    /// Hardware events count (non-zero) where a PMU exists; elsewhere each carries one reason
    /// per backend and no number.
    @Test func hardwareEventsCountOnlyWhereThereIsAPMU() {
        let set = CounterSet(events: ["PAPI_TOT_INS", "PAPI_TOT_CYC"])
        let s = set.count(calls: 2, touchPages)
        for v in s.values {
            if v.counted {
                #expect((v.total ?? 0) > 0, "\(v.event) counted but reported 0")
            } else {
                #expect(!Self.hasPMU, "\(v.event) should count on a PMU machine: \(v.reason ?? "")")
                #expect(v.total == nil && v.perCall == nil)
                #expect(v.failures.map(\.backend) == CounterBackends.standard.map(\.kind))
                for f in v.failures { #expect(acceptedUnavailableReasons[f.backend]!.contains(f.name), "\(f)") }
            }
        }
    }

    /// An event that cannot count is reported with its reasons, never as 0, even next to events
    /// that do count in the same set.
    @Test func uncountedEventIsNeverZero() throws {
        let set = CounterSet(events: ["perf::TASK-CLOCK", "perf::NO-SUCH-EVENT-TRITBENCH", "PAPI_L1_DCM"],
                             backends: [PAPIBackend(), PerfEventBackend()])
        let s = set.count(calls: 1, touchPages)
        #expect(s.values.map(\.event) == ["perf::TASK-CLOCK", "perf::NO-SUCH-EVENT-TRITBENCH", "PAPI_L1_DCM"])
        let missing = s["perf::NO-SUCH-EVENT-TRITBENCH"]!
        #expect(!missing.counted && missing.total == nil && missing.perCall == nil)
        #expect(missing.failures.first?.step == "add")
        #expect(missing.reason?.isEmpty == false)
        if let l1 = s["PAPI_L1_DCM"], !l1.counted { #expect(l1.total == nil && l1.reason != nil) }
        let json = String(decoding: try JSONEncoder().encode(s), as: UTF8.self)
        #expect(!json.contains("\"total\":0"))
        RawPerfEvent.whereSoftwareEventsCount { #expect(s["perf::TASK-CLOCK"]?.counted == true) }
    }

    /// Forced multiplexing either counts through PAPI (time-shared estimates, marked scaled) or,
    /// where PAPI refuses it (no PMU: PAPI_ENOEVNT at multiplex), the events fall to the direct
    /// backend with PAPI's reason kept.
    @Test func forcedMultiplexingCountsOrFallsBack() {
        let set = CounterSet(events: CounterSet.softwareEvents, multiplex: true, backends: [PAPIBackend(), PerfEventBackend()])
        let s = set.count(calls: 3, touchPages)
        let clock = s["perf::TASK-CLOCK"]!
        switch clock.backend {
        case .papi?: #expect(set.multiplexed && clock.scaled && (clock.perCall ?? 0) > 0)
        case .perfEvent?:
            #expect(clock.failures.first?.backend == .papi, "PAPI's reason is kept: \(clock.failures)")
            #expect((clock.perCall ?? 0) > 0)
        case nil:
            #expect(clock.failures.count == 2)
            RawPerfEvent.whereSoftwareEventsCount { Issue.record("task-clock not counted: \(clock.reason ?? "")") }
        }
    }

    @Test func preferredAsksForHardwareAndSoftwareEvents() {
        let set = CounterSet.preferred()
        #expect(set.requested == CounterSet.hardwareEvents + CounterSet.softwareEvents)
        if Self.hasPMU { #expect(set.counting.contains("PAPI_TOT_INS") || set.counting.contains("PAPI_TOT_CYC")) }
        RawPerfEvent.whereSoftwareEventsCount { #expect(set.counting.contains("perf::TASK-CLOCK")) }
    }

    @Test func profilerReturnsTimingCountersAndDerivedMetrics() {
        let bytes = 1 << 20
        let buf = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: bytes / 8)
        defer { buf.deallocate() }
        for i in buf.indices { buf[i] = UInt64(i) }
        let ro = UnsafeBufferPointer(buf)
        let c = ProfileCase(name: "sum 1 MiB", bytesTouched: bytes, workUnits: Double(bytes / 8),
                            workUnitName: "words", weights: bytes * 4) {
            ThreadTeam.consume(RooflineProbe.plainSum(ro))
        }
        let r = Profiler.measure(c, timing: .quick, counters: CounterSet(events: ["perf::TASK-CLOCK", "PAPI_TOT_INS"]))
        #expect(r.timing.samples.count >= 1)
        RawPerfEvent.whereSoftwareEventsCount { #expect((r.counters?.perCall("perf::TASK-CLOCK") ?? 0) > 0) }
        #expect(r.derived.bytesPerWeight == 0.25)
        let gb = Double(bytes) / r.timing.median / 1e9
        #expect(abs((r.derived.gbPerSecond ?? 0) - gb) < 1e-9 * gb)
        if r.counters?["PAPI_TOT_INS"]?.counted != true {
            #expect(r.derived.ipc == nil && r.derived.missesPerKiloInstruction.isEmpty)
        }
    }
}
