import Testing
import TritMeasure

@Suite struct EventProbeTests {
    @Test func papiInitialises() throws {
        let ctx = try PAPILibrary.initialization.get()
        #expect(ctx.version.hasPrefix("7."))
    }

    @Test func softwareEventsCountAndAreNonZero() {
        let r = EventProbe.probeOne("perf::TASK-CLOCK")
        #expect(r.available)
        #expect((r.count ?? 0) > 0)
        #expect(r.error == nil)
    }

    /// On this VM hardware events fail with PAPI_ENOEVNT; on a machine with a PMU they count.
    /// Either way an uncounted event must carry its error and never a count.
    @Test func hardwareEventsEitherCountOrCarryTheirError() {
        for r in EventProbe.probe(["PAPI_TOT_INS", "PAPI_TOT_CYC"]) {
            if r.available {
                #expect((r.count ?? 0) > 0, "\(r.event) counted but reported \(String(describing: r.count))")
            } else {
                #expect(r.count == nil, "\(r.event) was not counted but carries a count")
                #expect(r.error != nil)
                if let ctx = PAPILibrary.context, ctx.virtualized {
                    #expect(r.error?.name == "PAPI_ENOEVNT")
                }
            }
        }
    }

    @Test func unknownEventIsReportedNotCounted() {
        let r = EventProbe.probeOne("perf::NO-SUCH-EVENT-TRITBENCH")
        #expect(!r.available)
        #expect(r.count == nil)
        #expect(r.failedStep == "add")
    }
}
