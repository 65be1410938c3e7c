import Foundation
import Testing
import TritCore
@testable import TritMeasure

@Suite struct RooflineTests {
    /// A short real probe on one thread: bandwidth must fall from L1 to DRAM, and every figure
    /// must be a measured positive number.
    @Test func bandwidthFallsFromL1ToDRAM() throws {
        var opts = RooflineOptions(quick: true, threadCounts: [1])
        opts.dramBytes = 128 << 20
        opts.timing = TimingOptions(warmup: 1, minSampleSeconds: 0.005, samples: 5, maxSeconds: 1)
        let r = RooflineProbe.measure(opts, progress: false)
        #expect(r.bandwidth.map(\.level) == ["L1", "L2", "L3", "DRAM"])
        let l1 = try #require(r.gbPerSecond(level: "L1")), dram = try #require(r.gbPerSecond(level: "DRAM"))
        #expect(l1 > 1.5 * dram, "L1 \(l1) GB/s vs DRAM \(dram) GB/s")
        #expect(dram > 0.5)
        #expect(r.plainStreamLoop.gbPerSecond > 0.5)
        #expect(r.peakInt8.gMACsPerSecond > 1)
        let data = try JSONCoding.encode(r)
        let back = try JSONCoding.decoder().decode(RooflineResult.self, from: data)
        #expect(back.bandwidth.count == 4 && back.peakInt8.gMACsPerSecond == r.peakInt8.gMACsPerSecond)
        // A fraction is taken against the level the working set lives in.
        let f = try #require(r.fraction(gbPerSecond: dram / 2, workingSetBytes: 1 << 30))
        #expect(f.level == "DRAM" && abs(f.fraction - 0.5) < 1e-9)
        // The vpdpbusd peak is measured exactly where the VNNI loop can run.
        #expect((r.peakInt8VNNI != nil) == CPUFeatures.current.supportsVNNIKernels)
        if let v = r.peakInt8VNNI { #expect(v.gMACsPerSecond > 1 && r.bestInt8Peak.gMACsPerSecond >= v.gMACsPerSecond) }
        // Roofline at a kernel's intensity: 1 MAC per byte is bandwidth-bound, 10⁶ is peak-bound.
        let bytes = 1 << 30, peak = r.bestInt8Peak.gMACsPerSecond
        let low = try #require(r.attainedFraction(macs: Double(bytes), bytes: bytes, seconds: Double(bytes) / (dram / 2 * 1e9),
                                                  workingSetBytes: bytes))
        #expect(low.bound.hasPrefix("DRAM") && abs(low.fraction - 0.5) < 1e-9)
        let macs = 1e6 * Double(bytes)
        let high = try #require(r.attainedFraction(macs: macs, bytes: bytes, seconds: macs / (peak / 4 * 1e9), workingSetBytes: bytes))
        #expect(high.bound.contains("peak") && abs(high.fraction - 0.25) < 1e-9)
    }

    @Test func workingSetsSitInsideTheirLevel() {
        let caches = ["L1d": 32 << 10, "L2": 1 << 20, "L3": 32 << 20]
        let ws = RooflineProbe.workingSets(caches: caches, threads: 1, dramBytes: 512 << 20)
        #expect(ws.map(\.level) == ["L1", "L2", "L3", "DRAM"])
        #expect(ws[0].totalBytes < 32 << 10 && ws[1].totalBytes > 32 << 10 && ws[1].totalBytes < 1 << 20)
        #expect(ws[2].totalBytes > 1 << 20 && ws[2].totalBytes < 32 << 20 && ws[3].totalBytes > 8 * (32 << 20))
        let two = RooflineProbe.workingSets(caches: caches, threads: 2, dramBytes: 512 << 20)
        #expect(two[0].totalBytes == 2 * ws[0].totalBytes)  // private L1: per-thread size kept
    }

    @Test func threadTeamRunsEveryMember() {
        let team = ThreadTeam(size: 3)
        defer { team.shutdown() }
        let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: 3)
        hits.initialize(repeating: 0)
        defer { hits.deallocate() }
        for _ in 0..<50 { team.run { i in hits[i] += 1 } }
        #expect(Array(hits) == [50, 50, 50])
    }

    /// Every byte is read, whatever the alignment: flipping one in the head, body or tail
    /// changes the checksum, for the AVX2 and the portable loop.
    @Test func streamingReadCoversHeadBodyAndTail() {
        let n = 1000
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: n + 64, alignment: 64)
        defer { raw.deallocate() }
        for i in 0..<raw.count { raw[i] = UInt8(truncatingIfNeeded: i &* 37 &+ 11) }
        let buf = UnsafeMutableRawBufferPointer(rebasing: raw[5..<(5 + n)])  // misaligned start
        for avx2 in CPUFeatures.current.avx2 ? [true, false] : [false] {
            let base = StreamingRead.checksum(UnsafeRawBufferPointer(buf), avx2: avx2)
            for index in [0, 20, 500, n - 1] {
                buf[index] ^= 0x40
                #expect(StreamingRead.checksum(UnsafeRawBufferPointer(buf), avx2: avx2) != base, "byte \(index), avx2 \(avx2)")
                buf[index] ^= 0x40
            }
        }
    }
}
