import Foundation
import Testing
@testable import TritMeasure

/// Real cachegrind output (valgrind 3.19), captured from
/// `tritbench profile --shape 256x256 --cachegrind-child-calls 10` run by CachegrindRunner's
/// settings; the 10,000 per-line records in the middle are cut, the header, the probe loop's
/// records and the closing `summary:` line are verbatim.
let capturedCachegrindOutput = """
desc: I1 cache:         32768 B, 64 B, 8-way associative
desc: D1 cache:         32768 B, 64 B, 8-way associative
desc: LL cache:         33554432 B, 64 B, 16-way associative
cmd: /tmp/cgt/program profile --shape 256x256 --cachegrind-child-calls 10
events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw 
fl=./csu/../csu/libc-start.c
fn=__libc_start_main@@GLIBC_2.34
128 2 1 1 2 2 0 0 0 0
134 3 0 0 1 1 0 0 0 0
135 6 0 0 2 1 0 1 0 0
138 1 0 0 1 1 0 0 0 0
139 2 0 0 0 0 0 0 0 0
142 3 1 1 2 1 0 0 0 0
143 2 0 0 2 1 0 0 0 0
fl=???
fn=tritbench_stream_read_avx2
0 11638 3 3 5654 124 0 11 0 0
fn=tritbench_xgetbv0
0 24 1 1 2 0 0 1 0 0
0 420 8 2 168 0 0 84 0 0
fn=void tuple_storeEnumTagSinglePayload<false, false>(swift::OpaqueValue*, unsigned int, unsigned int, swift::TargetMetadata<swift::InProcess> const*)
0 1598 330 4 634 4 0 330 0 0
summary: 43264890 125179 7507 11814451 561816 117719 5120771 61716 39228
"""

@Suite struct CachegrindTests {
    @Test func parsesEventsAndSummaryOfRealOutput() throws {
        let c = try CachegrindParser.parse(capturedCachegrindOutput, path: "fixture")
        #expect(c.simulated)
        #expect(c.instructions == 43264890)
        #expect(c.dataReads == 11814451)
        #expect(c.d1ReadMisses == 561816)
        #expect(c.llReadMisses == 117719)
        #expect(c.dataWrites == 5120771)
        #expect(c.d1WriteMisses == 61716)
        #expect(c.llWriteMisses == 39228)
        #expect(c.events["I1mr"] == 125179 && c.events["ILmr"] == 7507)
        #expect(c.events.count == 9)
        #expect(c.command == "/tmp/cgt/program profile --shape 256x256 --cachegrind-child-calls 10")
        #expect(c.cacheDescription.count == 3)
        #expect(c.cacheDescription[2].hasPrefix("LL cache:         33554432 B, 64 B, 16-way"))
    }

    @Test func rejectsMissingOrMismatchedSummary() {
        let noSummary = capturedCachegrindOutput.split(separator: "\n").filter { !$0.hasPrefix("summary:") }.joined(separator: "\n")
        #expect(throws: CachegrindError.self) { try CachegrindParser.parse(noSummary) }
        let short = "events: Ir Dr\nsummary: 12\n"
        do {
            _ = try CachegrindParser.parse(short, path: "short.out")
            Issue.record("a summary with too few values was accepted")
        } catch let e as CachegrindError {
            #expect(e == .malformed(path: "short.out", line: 2, field: "summary:",
                                    expected: "2 values (one per event: Ir Dr), found 1"))
        } catch { Issue.record("unexpected error \(error)") }
        #expect(throws: CachegrindError.self) { try CachegrindParser.parse("events: Ir\nsummary: 12x\n") }
        #expect(throws: CachegrindError.self) { try CachegrindParser.parse("summary: 12\n") }
        #expect(throws: CachegrindError.outputMissing(path: "/nonexistent/cg.out")) {
            try CachegrindParser.parse(file: "/nonexistent/cg.out")
        }
    }

    /// The real runner on a real program: the same command twice gives identical counts, and
    /// the per-call difference of a shell loop is positive and identical too.
    @Test func sameProgramTwiceGivesIdenticalInstructionCounts() throws {
        let runner = try CachegrindRunner()
        let a = try runner.run(executable: "/bin/true", arguments: [])
        let b = try runner.run(executable: "/bin/true", arguments: [])
        #expect((a.instructions ?? 0) > 10_000)
        #expect(a.events == b.events)
        let loop: (Int) -> [String] = { ["-c", "i=0; while [ $i -lt \($0) ]; do i=$((i+1)); done"] }
        let p = try runner.profile(executable: "/bin/sh", calls: 20, arguments: loop)
        let q = try runner.profile(executable: "/bin/sh", calls: 20, arguments: loop)
        #expect((p.perCall["Ir"] ?? 0) > 50)
        #expect(p.perCall["Ir"] == q.perCall["Ir"])
        #expect(p.measured.instructions == q.measured.instructions)
        #expect(p.simulated && p.addressRandomizationDisabled == (runner.setarch != nil))
    }

    @Test func failingProgramIsATypedError() throws {
        let runner = try CachegrindRunner()
        #expect(throws: CachegrindError.self) { try runner.run(executable: "/bin/false", arguments: []) }
    }
}
