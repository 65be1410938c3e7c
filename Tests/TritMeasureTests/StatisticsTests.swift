import Foundation
import Testing
@testable import TritMeasure
@testable import TritCore

/// Known answers: the constants were computed by hand (median, MAD) or with SciPy 1.17
/// (`scipy.stats.mannwhitneyu`, `scipy.stats.false_discovery_control`) and pasted here.
@Suite struct StatisticsTests {
    @Test func medianOfOddAndEvenCounts() {
        #expect(Statistics.median([3, 1, 4, 1, 5, 9, 2, 6, 5]) == 4)
        #expect(Statistics.median([3, 1, 4, 1, 5, 9, 2, 6]) == 3.5)
        #expect(Statistics.median([7]) == 7)
        #expect(Statistics.median([]).isNaN)
    }

    @Test func madIsUnscaledMedianAbsoluteDeviation() {
        // |x - 4| = 1 3 0 3 1 5 2 2 1 → sorted 0 1 1 1 2 2 3 3 5 → median 2 (scipy: 2.0)
        #expect(Statistics.mad([3, 1, 4, 1, 5, 9, 2, 6, 5]) == 2)
        // |x - 3.5| = 0.5 2.5 0.5 2.5 1.5 5.5 1.5 2.5 → median 2.0
        #expect(Statistics.mad([3, 1, 4, 1, 5, 9, 2, 6]) == 2)
    }

    @Test func mannWhitneyExactSmallSamples() {
        let a = [1.1, 2.3, 3.2, 4.8, 5.0], b = [2.9, 6.1, 7.4, 8.0, 9.3, 10.2]
        // scipy.stats.mannwhitneyu(a, b, method='exact') → U=3, p=0.030303030303030304
        let r = Statistics.mannWhitneyU(a, b)
        #expect(r.u == 3)
        #expect(abs(r.p - 0.030303030303030304) < 1e-12)
        // Swapping the samples gives U₂ = n₁n₂ − U₁ = 27 and the same two-sided p.
        let s = Statistics.mannWhitneyU(b, a)
        #expect(s.u == 27)
        #expect(abs(s.p - 0.030303030303030304) < 1e-12)
        // scipy: U=11, p=0.7272727272727273 (exact, n1=3, n2=9)
        let t = Statistics.mannWhitneyU([5, 3, 9], [1, 2, 4, 6, 7, 8, 10, 11, 12])
        #expect(t.u == 11)
        #expect(abs(t.p - 0.7272727272727273) < 1e-12)
    }

    @Test func mannWhitneyAsymptoticWithoutTies() {
        let a = [1.1, 2.3, 3.2, 4.8, 5.0], b = [2.9, 6.1, 7.4, 8.0, 9.3, 10.2]
        // scipy method='asymptotic' → p=0.03576376659097789
        let r = Statistics.mannWhitneyU(a, b, method: .asymptotic)
        #expect(r.u == 3)
        #expect(abs(r.p - 0.03576376659097789) < 1e-12)
    }

    @Test func mannWhitneyWithTiesUsesTieCorrection() {
        let c: [Double] = [1, 2, 2, 3, 4, 4, 4, 5, 6, 7], d: [Double] = [3, 4, 5, 5, 6, 7, 8, 8, 9, 9, 10]
        // scipy (auto → asymptotic because of ties): U=18, p=0.009678556569449437
        let r = Statistics.mannWhitneyU(c, d)
        #expect(r.u == 18)
        #expect(abs(r.p - 0.009678556569449437) < 1e-12)
        let e = [12.1, 11.8, 12.5, 13.0, 12.2, 11.9, 12.7, 12.4, 12.0, 12.3, 12.6, 12.8]
        let f = [12.9, 13.1, 12.4, 13.5, 12.8, 13.3, 13.0, 12.7, 13.6, 13.2]
        // scipy: U=11, p=0.001366604915625782
        let s = Statistics.mannWhitneyU(e, f)
        #expect(s.u == 11)
        #expect(abs(s.p - 0.001366604915625782) < 1e-12)
    }

    @Test func mannWhitneyIdenticalSamplesAreNotSignificant() {
        let r = Statistics.mannWhitneyU([1, 1, 1], [1, 1, 1, 1])
        #expect(r.p == 1)
    }

    @Test func benjaminiHochbergMatchesScipy() {
        let p = [0.2, 0.001, 0.04, 0.03, 0.8, 0.01, 0.011]
        // scipy.stats.false_discovery_control(p)
        let expected = [0.23333333333333336, 0.007, 0.055999999999999994, 0.0525, 0.8,
                        0.025666666666666667, 0.025666666666666667]
        let got = Statistics.benjaminiHochberg(p)
        #expect(got.count == expected.count)
        for (g, e) in zip(got, expected) { #expect(abs(g - e) < 1e-12) }
        // scipy: [0.03, 0.06, 0.06, 0.24, 0.03, 0.5]
        let second = Statistics.benjaminiHochberg([0.01, 0.04, 0.03, 0.20, 0.005, 0.5])
        for (g, e) in zip(second, [0.03, 0.06, 0.06, 0.24, 0.03, 0.5]) { #expect(abs(g - e) < 1e-12) }
        #expect(Statistics.benjaminiHochberg([]).isEmpty)
    }

    @Test func bootstrapIntervalBracketsTheMedianAndIsReproducible() {
        let xs: [Double] = (0..<41).map { Double($0) }  // median 20
        let a = Statistics.bootstrapCI(of: xs)
        let b = Statistics.bootstrapCI(of: xs)
        #expect(a.low == b.low && a.high == b.high)
        #expect(a.low < 20 && 20 < a.high)
        // The bootstrap median of 41 uniform points rarely leaves ±8 of the centre (order
        // statistics 12..28 cover ~97% under the binomial(41, 1/2) approximation).
        #expect(a.low >= 11 && a.high <= 29)
        #expect(Statistics.bootstrapCI(of: [5]).low == 5)
    }

    @Test func quantileInterpolatesLikeNumpy() {
        // numpy.quantile([1,2,3,4], 0.25) = 1.75
        #expect(Statistics.quantile(sorted: [1, 2, 3, 4], 0.25) == 1.75)
        #expect(Statistics.quantile(sorted: [1, 2, 3, 4], 1) == 4)
    }
}

@Suite struct TimingTests {
    /// A closure that sleeps ~2 ms: the median must land at or above 2 ms (sleep overshoots,
    /// never undershoots; the upper bound leaves room for a loaded machine), and every sample
    /// is kept.
    @Test func measuresAKnownDuration() {
        let opts = TimingOptions(warmup: 1, minSampleSeconds: 0.004, samples: 5, maxSeconds: 2)
        let r = RobustTiming.measure(opts) { usleep(2000) }
        #expect(r.samples.count == 5)
        #expect(Double(r.callsPerSample) * r.median >= 0.004 * 0.9, "batch shorter than minSampleSeconds")
        #expect(r.median >= 0.002 && r.median < 0.05, "median \(r.median)")
        #expect(r.min <= r.median && r.ciLow <= r.median && r.median <= r.ciHigh)
    }

    @Test func calibrationReachesMinimumSampleTime() {
        var sink = 0
        let opts = TimingOptions(warmup: 2, minSampleSeconds: 0.003, samples: 3, maxSeconds: 2)
        let r = RobustTiming.measure(opts) { for i in 0..<100 { sink &+= i } }
        #expect(r.callsPerSample > 1)
        #expect(Double(r.callsPerSample) * r.median >= 0.001, "batch \(Double(r.callsPerSample) * r.median)s")
        #expect(sink != 0)
    }

    @Test func interleavedRunsBothInRoundsAndSeesTheDifference() {
        var order: [Int] = []
        let opts = TimingOptions(warmup: 0, minSampleSeconds: 0, samples: 4, maxSeconds: 2)
        let rs = RobustTiming.interleaved(opts, [{ order.append(0); usleep(1000) }, { order.append(1); usleep(8000) }])
        #expect(rs.count == 2)
        #expect(rs[0].samples.count == 4 && rs[1].samples.count == 4)
        // With minSampleSeconds 0 each sample is one call; calibration adds one call each first.
        #expect(Array(order.suffix(8)) == [0, 1, 0, 1, 0, 1, 0, 1])
        #expect(rs[1].median > rs[0].median * 1.5, "\(rs[1].median) vs \(rs[0].median)")
    }

    @Test func maxSecondsStopsSampling() {
        let opts = TimingOptions(warmup: 0, minSampleSeconds: 0, samples: 1000, maxSeconds: 0.05)
        let r = RobustTiming.measure(opts) { usleep(5000) }
        #expect(r.samples.count >= 1 && r.samples.count < 100)
    }

    @Test func coldBuffersRotateOverDistinctCopiesLargerThanTheCache() {
        let cold = ColdBuffers(byteCount: 1000, minimumTotalBytes: 10_000) { buf in
            for i in 0..<buf.count { buf[i] = UInt8(i & 0xFF) }
        }
        #expect(cold.count == 10)  // stride 1024 → ceil(10000/1024) = 10
        #expect(cold.totalBytes >= 10_000)
        let first = cold.next()
        var seen = Set([first.baseAddress!])
        for _ in 1..<cold.count { seen.insert(cold.next().baseAddress!) }
        #expect(seen.count == cold.count)
        #expect(cold.next().baseAddress == first.baseAddress)
        #expect(Int(bitPattern: first.baseAddress!) % 64 == 0)
        #expect(first[999] == UInt8(999 & 0xFF))
    }

    /// Drift shared by the two closures within a round cancels in the paired ratio.
    @Test func pairedRatioCancelsSharedDrift() {
        let drift: [Double] = [1, 1.9, 1, 1.2, 2, 1, 1.5, 1, 1.1, 1.8, 1, 1.3]
        let b = drift.map { 10e-6 * $0 }
        let a = drift.map { 13e-6 * $0 }
        let r = Statistics.pairedRatio(a, b)
        #expect(abs(r.median - 1.3) < 1e-12 && abs(r.low - 1.3) < 1e-12 && abs(r.high - 1.3) < 1e-12)
        // Round by round, not a ratio of medians: ratios 0.5, 2, 2 have median 2, the medians 20/15.
        #expect(Statistics.pairedRatio([10, 20, 30], [20, 10, 15]).median == 2)
        // Unusable pairs are dropped; none left is NaN, not 0.
        let partial = Statistics.pairedRatio([2, .nan, 0, 4], [1, 1, 1, 2])
        #expect(partial.median == 2)
        #expect(Statistics.pairedRatio([], []).median.isNaN)
        #expect(Statistics.pairedRatio([1], [0]).median.isNaN)
    }
}
