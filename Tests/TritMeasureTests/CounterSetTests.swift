import Foundation
import Testing
@testable import TritMeasure

/// A workload that faults in fresh pages and takes real CPU time, so software events count.
/// mmap/munmap directly: malloc would recycle already-mapped heap pages and fault nothing.
private func touchPages() {
    let n = 4 << 20
    guard let p = mmap(nil, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else { return }
    defer { munmap(p, n) }
    for i in stride(from: 0, to: n, by: 4096) { p.storeBytes(of: UInt8(i & 0x7F), toByteOffset: i, as: UInt8.self) }
}

@Suite struct CounterSetTests {
    /// Whether this machine exposes a hardware PMU to PAPI (not on the project's KVM guest).
    static var hasPMU: Bool {
        guard let ctx = PAPILibrary.context else { return false }
        return !ctx.virtualized && ctx.hardwareCounters > 0
    }

    @Test func softwareEventsCountNonZeroPerCall() {
        let set = CounterSet(events: CounterSet.softwareEvents)
        #expect(set.counting.contains("perf::TASK-CLOCK"))
        #expect(set.counting.contains("perf::PAGE-FAULTS"))
        let s = set.count(calls: 4, touchPages)
        #expect(s.calls == 4)
        let clock = s["perf::TASK-CLOCK"]
        #expect((clock?.total ?? 0) > 0)
        // TASK-CLOCK is in nanoseconds: 4 calls faulting 1024 pages each take well over 10 µs.
        #expect((clock?.perCall ?? 0) > 10_000)
        #expect((s.perCall("perf::PAGE-FAULTS") ?? 0) >= 1)
    }

    /// On a VM without a PMU hardware events are unavailable with PAPI_ENOEVNT and carry no
    /// number; on a machine with a PMU they count and are non-zero.
    @Test func hardwareEventsCountOnlyWhereThereIsAPMU() {
        let set = CounterSet(events: ["PAPI_TOT_INS", "PAPI_TOT_CYC"])
        let s = set.count(calls: 2, touchPages)
        for v in s.values {
            if Self.hasPMU {
                #expect((v.total ?? 0) > 0, "\(v.event) should count on a PMU machine: \(v.reason ?? "")")
            } else if v.counted {
                #expect((v.total ?? 0) > 0, "\(v.event) counted but reported 0")
            } else {
                #expect(v.total == nil && v.perCall == nil)
                #expect(v.reason != nil)
                if PAPILibrary.context?.virtualized == true { #expect(v.error?.name == "PAPI_ENOEVNT") }
            }
        }
    }

    /// An event that cannot count is reported with its reason, never as 0, even next to events
    /// that do count in the same set.
    @Test func uncountedEventIsNeverZero() {
        let set = CounterSet(events: ["perf::TASK-CLOCK", "perf::NO-SUCH-EVENT-TRITBENCH", "PAPI_L1_DCM"])
        let s = set.count(calls: 1, touchPages)
        #expect(s.values.map(\.event) == ["perf::TASK-CLOCK", "perf::NO-SUCH-EVENT-TRITBENCH", "PAPI_L1_DCM"])
        #expect(s["perf::TASK-CLOCK"]?.counted == true)
        let missing = s["perf::NO-SUCH-EVENT-TRITBENCH"]!
        #expect(!missing.counted && missing.total == nil && missing.perCall == nil)
        #expect(missing.failedStep == "add")
        #expect(missing.reason?.isEmpty == false)
        if !Self.hasPMU, let l1 = s["PAPI_L1_DCM"], !l1.counted {
            #expect(l1.total == nil && l1.reason != nil)
        }
        let json = String(decoding: try! JSONEncoder().encode(s), as: UTF8.self)
        #expect(!json.contains("\"total\":0"))
    }

    /// Forced multiplexing either counts (PAPI scales the time-shared estimates) or, where PAPI
    /// refuses it (this VM: PAPI_ENOEVNT without a PMU), reports why for every event.
    @Test func multiplexedSetCountsOrSaysWhyNot() {
        let set = CounterSet(events: CounterSet.softwareEvents, multiplex: true)
        let s = set.count(calls: 3, touchPages)
        #expect(s.multiplexed == set.multiplexed)
        if set.multiplexed {
            #expect((s.perCall("perf::TASK-CLOCK") ?? 0) > 0)
        } else {
            #expect(!Self.hasPMU, "a PMU machine should multiplex")
            for v in s.values {
                #expect(!v.counted && v.failedStep == "multiplex" && v.error != nil, "\(v)")
            }
        }
    }

    @Test func preferredPicksHardwareOnlyWhenItCounts() {
        let set = CounterSet.preferred()
        if Self.hasPMU {
            #expect(set.counting.contains("PAPI_TOT_INS") || set.counting.contains("PAPI_TOT_CYC"))
        } else {
            #expect(set.requested == CounterSet.softwareEvents)
            #expect(set.counting.contains("perf::TASK-CLOCK"))
        }
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
        #expect((r.counters?.perCall("perf::TASK-CLOCK") ?? 0) > 0)
        #expect(r.derived.bytesPerWeight == 0.25)
        let gb = Double(bytes) / r.timing.median / 1e9
        #expect(abs((r.derived.gbPerSecond ?? 0) - gb) < 1e-9 * gb)
        if r.counters?["PAPI_TOT_INS"]?.counted != true {
            #expect(r.derived.ipc == nil && r.derived.missesPerKiloInstruction.isEmpty)
        }
    }
}
