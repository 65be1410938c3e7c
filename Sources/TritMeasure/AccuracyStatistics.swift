import Foundation
import TritCore

/// Statistics for accuracy figures: intervals on proportions, the paired test for two models
/// scored on the same documents, chance adjustment, and a paired (stratified) bootstrap.
///
/// Zero-shot accuracies on a few hundred documents move by several points between samples of
/// documents, and a task's chance level is far from 0 (PIQA 50%, ARC 25%): without these, a
/// collapsed model "retains" most of the reference's accuracy and any ranking looks supported.
public enum AccuracyStatistics {
    /// z for a two-sided 95% interval.
    public static let z95 = 1.959963984540054

    /// Wilson score interval of a proportion (successes of trials). Stays inside [0, 1] and keeps
    /// its coverage near 0 and 1, where the normal interval does not.
    public static func wilson(successes k: Int, trials n: Int, z: Double = z95) -> (low: Double, high: Double) {
        guard n > 0, k >= 0, k <= n else { return (.nan, .nan) }
        let p = Double(k) / Double(n), nn = Double(n), z2 = z * z
        let centre = (p + z2 / (2 * nn)) / (1 + z2 / nn)
        let half = z / (1 + z2 / nn) * (p * (1 - p) / nn + z2 / (4 * nn * nn)).squareRoot()
        return (max(0, centre - half), min(1, centre + half))
    }

    /// Exact two-sided McNemar test for paired binary outcomes: `b` documents only the first
    /// model got right, `c` only the second. Under H₀ the discordant pairs split as
    /// Binomial(b + c, ½); p = min(1, 2 · P(X ≤ min(b, c))). 1 when there is no discordant pair.
    public static func mcNemar(b: Int, c: Int) -> Double {
        let n = b + c
        guard n > 0 else { return 1 }
        let k = min(b, c)
        // Σ_{i ≤ k} C(n, i) / 2ⁿ in log space (n can be thousands).
        var logTerms: [Double] = []
        for i in 0...k { logTerms.append(logChoose(n, i) - Double(n) * log(2.0)) }
        let m = logTerms.max()!
        let tail = exp(m) * logTerms.reduce(0) { $0 + exp($1 - m) }
        return min(1, 2 * tail)
    }

    /// McNemar on two outcome vectors of the same documents (true = correct).
    public static func mcNemar(_ a: [Bool], _ b: [Bool]) -> (onlyFirst: Int, onlySecond: Int, p: Double) {
        precondition(a.count == b.count, "McNemar needs outcomes of the same documents")
        var only1 = 0, only2 = 0
        for (x, y) in zip(a, b) { if x && !y { only1 += 1 } else if y && !x { only2 += 1 } }
        return (only1, only2, mcNemar(b: only1, c: only2))
    }

    static func logChoose(_ n: Int, _ k: Int) -> Double {
        lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1))
    }

    /// Accuracy above chance as a fraction of the reference's accuracy above chance:
    /// (acc − chance) / (ref − chance). 1 = no loss, 0 = chance level, negative = below chance.
    /// nil when the reference itself is not above chance (nothing to retain).
    public static func chanceAdjustedRetention(accuracy: Double, reference: Double, chance: Double) -> Double? {
        let headroom = reference - chance
        guard headroom > 1e-9, accuracy.isFinite else { return nil }
        return (accuracy - chance) / headroom
    }

    /// Percentile bootstrap interval of a statistic of several strata of paired observations:
    /// each resample draws, within every stratum independently, as many indices as it holds
    /// (with replacement). Paired: the statistic sees the same indices for every model it
    /// compares, so documents' shared difficulty cancels. Seeded and reproducible.
    public static func stratifiedBootstrap(sizes: [Int], resamples: Int = 2000, level: Double = 0.95,
                                           seed: UInt64 = 0x6163_6375, statistic: ([[Int]]) -> Double?) -> (low: Double, high: Double) {
        let r = stratifiedBootstrapTest(sizes: sizes, resamples: resamples, level: level, seed: seed, statistic: statistic)
        return (r.low, r.high)
    }

    /// The interval above and a two-sided bootstrap p-value for "the statistic is 0":
    /// 2 · min(share of resamples ≤ 0, share ≥ 0), at least 1 / resamples.
    public static func stratifiedBootstrapTest(sizes: [Int], resamples: Int = 2000, level: Double = 0.95,
                                               seed: UInt64 = 0x6163_6375,
                                               statistic: ([[Int]]) -> Double?) -> (low: Double, high: Double, p: Double) {
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 > 0 }), resamples > 0 else { return (.nan, .nan, .nan) }
        var rng = SeededGenerator(seed: seed)
        var values: [Double] = []
        values.reserveCapacity(resamples)
        var draw = sizes.map { [Int](repeating: 0, count: $0) }
        for _ in 0..<resamples {
            for s in sizes.indices {
                let n = UInt64(sizes[s])
                for i in 0..<sizes[s] { draw[s][i] = Int(rng.next() % n) }
            }
            if let v = statistic(draw), v.isFinite { values.append(v) }
        }
        guard values.count >= resamples / 2 else { return (.nan, .nan, .nan) }
        values.sort()
        let a = (1 - level) / 2
        let below = Double(values.filter { $0 <= 0 }.count), above = Double(values.filter { $0 >= 0 }.count)
        let p = max(1 / Double(values.count), min(1, 2 * min(below, above) / Double(values.count)))
        return (Statistics.quantile(sorted: values, a), Statistics.quantile(sorted: values, 1 - a), p)
    }
}
