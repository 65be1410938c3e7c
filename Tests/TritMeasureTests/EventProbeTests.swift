import Foundation
import Testing
@testable import TritMeasure

@Suite struct EventProbeTests {
    @Test func papiInitialises() throws {
        let ctx = try PAPILibrary.initialization.get()
        #expect(ctx.version.hasPrefix("7."))
    }

    /// The contract on every host: each standard event either counted (a count, the backend
    /// that counted it, and the failures of the backends tried before it) or carries one
    /// failure per backend, each with an error a real host gives, and never a count.
    @Test func everyEventCountsOrCarriesEachBackendsReason() {
        let backends = CounterBackends.standard
        for r in EventProbe.probe() {
            if r.available {
                #expect(r.count != nil && r.backend != nil, "\(r.event) counted without a count or backend")
                #expect(r.failures.count == backends.firstIndex { $0.kind == r.backend }, "\(r.event): \(r.failures)")
            } else {
                #expect(r.count == nil, "\(r.event) was not counted but carries a count")
                #expect(r.failures.map(\.backend) == backends.map(\.kind), "\(r.event): one failure per backend tried")
                for f in r.failures {
                    #expect(acceptedUnavailableReasons[f.backend]!.contains(f.name), "\(r.event): unexpected \(f)")
                    #expect(!f.message.isEmpty && !f.explanation.isEmpty)
                }
            }
        }
    }

    /// Where the kernel counts software events at all, task-clock and page faults count, non-zero,
    /// through whichever backend was selected; the workload faults 1024 fresh pages.
    @Test func softwareEventsCountThroughTheSelectedBackend() {
        RawPerfEvent.whereSoftwareEventsCount {
            for name in ["perf::TASK-CLOCK", "perf::PAGE-FAULTS"] {
                let r = EventProbe.probeOne(name)
                #expect(r.available, "\(name): \(r.failures)")
                #expect((r.count ?? 0) > 0, "\(name) counted \(String(describing: r.count)) via \(String(describing: r.backend))")
            }
        }
    }

    /// With PAPI failing as on the Intel hosts, the direct backend takes over the software
    /// events, and the probe keeps PAPI's reason beside it.
    @Test func directBackendTakesOverWhenPAPIIsDisabled() {
        RawPerfEvent.whereSoftwareEventsCount {
            let backends: [any CounterBackend] = [DisabledPAPIBackend(), PerfEventBackend()]
            let r = EventProbe.probeOne("perf::TASK-CLOCK", backends: backends)
            #expect(r.available && r.backend == .perfEvent && (r.count ?? 0) > 0)
            #expect(r.failure(of: .papi)?.name == "PAPI_ENOEVNT")
            let hw = EventProbe.probeOne("PAPI_TOT_INS", backends: backends)
            #expect(hw.failure(of: .papi)?.name == "PAPI_ECMP_DISABLED")
            if !hw.available {
                // Both reasons, the kernel's errno among them.
                #expect(hw.failures.count == 2)
                #expect(acceptedUnavailableReasons[.perfEvent]!.contains(hw.failure(of: .perfEvent)?.name ?? ""))
            } else {
                #expect(hw.backend == .perfEvent && (hw.count ?? 0) > 0)
            }
        }
    }

    /// An event PAPI can count is counted by PAPI, the first backend; the direct backend is a
    /// fallback, not a second opinion.
    @Test func papiCountsWhatItCan() {
        for name in ["perf::TASK-CLOCK", "PAPI_TOT_CYC"] {
            let papiAlone = PAPIBackend().probe(CounterEvent.named(name)) { touchPages() }
            let r = EventProbe.probeOne(name, backends: [PAPIBackend(), PerfEventBackend()])
            if case .success = papiAlone { #expect(r.backend == .papi, "\(name)") } else { #expect(r.backend != .papi, "\(name)") }
        }
    }

    @Test func unknownEventIsReportedNotCounted() {
        let r = EventProbe.probeOne("perf::NO-SUCH-EVENT-TRITBENCH", backends: [PAPIBackend(), PerfEventBackend()])
        #expect(!r.available)
        #expect(r.count == nil)
        #expect(r.failure(of: .papi)?.step == "add")
        #expect(r.failure(of: .perfEvent)?.name == "NO_EQUIVALENT")
    }

    @Test func perfStatNamesResolveToTheCatalogue() {
        #expect(CounterEvent.named("cycles").name == "PAPI_TOT_CYC")
        #expect(CounterEvent.named("task-clock").perf == PerfEventCode(type: 1, config: 1))
        #expect(CounterEvent.named("instructions").perf == PerfEventCode(type: 0, config: 1))
        #expect(CounterEvent.named("PAPI_L2_DCM").perf == nil)
        #expect(CounterEvent.named("perf::INSTRUCTIONS:u").papiName == "perf::INSTRUCTIONS:u")
    }

    @Test func backendOrderParsesAndRejectsUnknownNames() throws {
        #expect(try CounterBackends.parse(nil).get() == [.papi, .perfEvent])
        #expect(try CounterBackends.parse("perf_event").get() == [.perfEvent])
        #expect(try CounterBackends.parse(" perf_event , papi,perf_event").get() == [.perfEvent, .papi])
        guard case .failure(let e) = CounterBackends.parse("papi,pmu") else { Issue.record("accepted 'pmu'"); return }
        #expect(e.description.contains("\"pmu\""))
    }

    /// Result files written before the direct backend read as PAPI's view.
    @Test func oldProbeRecordsDecode() throws {
        let old = #"{"event":"PAPI_TOT_INS","available":false,"failedStep":"add","error":{"code":-7,"name":"PAPI_ENOEVNT","message":"Event does not exist","explanation":"no PMU"}}"#
        let r = try JSONDecoder().decode(EventProbeResult.self, from: Data(old.utf8))
        #expect(!r.available && r.backend == nil)
        #expect(r.failures == [CounterFailure(backend: .papi, step: "add", code: -7, name: "PAPI_ENOEVNT", message: "Event does not exist", explanation: "no PMU")])
        let counted = try JSONDecoder().decode(EventProbeResult.self, from: Data(#"{"event":"perf::TASK-CLOCK","available":true,"count":5}"#.utf8))
        #expect(counted.backend == .papi && counted.count == 5)
        let again = try JSONDecoder().decode(EventProbeResult.self, from: JSONEncoder().encode(r))
        #expect(again == r)
    }
}
