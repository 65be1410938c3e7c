import Foundation
import Testing
import TritMeasure

@Suite struct AccuracyStatisticsTests {
    /// Known answers, computed by hand from the Wilson score formula.
    @Test func wilsonIntervals() {
        let a = AccuracyStatistics.wilson(successes: 8, trials: 10)
        #expect(abs(a.low - 0.4901624715366418) < 1e-12 && abs(a.high - 0.9433178485456248) < 1e-12)
        let b = AccuracyStatistics.wilson(successes: 0, trials: 20)
        #expect(b.low == 0 && abs(b.high - 0.16112515805281938) < 1e-12)
        let c = AccuracyStatistics.wilson(successes: 275, trials: 500)
        #expect(abs(c.low - 0.5061772177351765) < 1e-12 && abs(c.high - 0.5930603482186684) < 1e-12)
        #expect(AccuracyStatistics.wilson(successes: 3, trials: 0).low.isNaN)
    }

    /// b = 10, c = 2: p = 2 · (C(12,0) + C(12,1) + C(12,2)) / 2¹² = 2 · 79 / 4096.
    @Test func mcNemarExactAgainstHandComputation() {
        #expect(abs(AccuracyStatistics.mcNemar(b: 10, c: 2) - 0.03857421875) < 1e-15)
        #expect(AccuracyStatistics.mcNemar(b: 2, c: 10) == AccuracyStatistics.mcNemar(b: 10, c: 2))
        #expect(AccuracyStatistics.mcNemar(b: 0, c: 0) == 1)
        #expect(AccuracyStatistics.mcNemar(b: 5, c: 5) == 1)
        // Large counts stay finite (log space): 2 · P(X ≤ 40 | n = 100).
        #expect(abs(AccuracyStatistics.mcNemar(b: 60, c: 40) - 0.05688793364098079) < 1e-12)
        // From outcome vectors: concordant documents do not count.
        let r = AccuracyStatistics.mcNemar([true, true, false, true, false], [true, false, false, false, true])
        #expect(r.onlyFirst == 2 && r.onlySecond == 1 && r.p == 1)
    }

    @Test func chanceAdjustment() {
        #expect(abs(AccuracyStatistics.chanceAdjustedRetention(accuracy: 0.6, reference: 0.7, chance: 0.5)! - 0.5) < 1e-12)
        // At chance: 0, whatever the raw ratio (0.5 / 0.7 = 71% "retention" before adjustment).
        #expect(AccuracyStatistics.chanceAdjustedRetention(accuracy: 0.5, reference: 0.7, chance: 0.5) == 0)
        #expect(AccuracyStatistics.chanceAdjustedRetention(accuracy: 0.45, reference: 0.7, chance: 0.5)! < 0)
        #expect(AccuracyStatistics.chanceAdjustedRetention(accuracy: 0.6, reference: 0.5, chance: 0.5) == nil)
    }

    /// The paired bootstrap of a difference of identical outcomes is 0 everywhere (p = 1); a
    /// large, consistent difference excludes 0.
    @Test func stratifiedBootstrapIsPairedAndSeeded() {
        let same = AccuracyStatistics.stratifiedBootstrapTest(sizes: [50, 30]) { _ in 0 }
        #expect(same.low == 0 && same.high == 0 && same.p == 1)
        let x = (0..<200).map { $0 % 10 < 8 }, y = (0..<200).map { $0 % 10 < 5 }
        func diff(_ d: [[Int]]) -> Double? {
            Double(d[0].filter { x[$0] }.count - d[0].filter { y[$0] }.count) / Double(d[0].count)
        }
        let r = AccuracyStatistics.stratifiedBootstrapTest(sizes: [200], statistic: diff)
        #expect(r.low > 0.2 && r.high < 0.4 && r.p <= 1.0 / 2000 + 1e-12)
        let again = AccuracyStatistics.stratifiedBootstrapTest(sizes: [200], statistic: diff)
        #expect(again.low == r.low && again.high == r.high)
    }
}
