import Foundation

/// Robust statistics for benchmark samples: medians and MADs rather than means and standard
/// deviations, because timing noise on shared machines is one-sided and heavy-tailed (a neighbour
/// compiling adds time, nothing subtracts it).
///
/// Empty inputs give `.nan` (never a crash): a caller that measured nothing gets "not a number",
/// which prints as such, rather than a plausible-looking 0.
public enum Statistics {
    /// The median (mean of the two middle values for an even count).
    public static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted()
        let m = s.count / 2
        return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
    }

    /// The median absolute deviation from the median, unscaled (multiply by 1.4826 for a
    /// standard-deviation estimate under normality).
    public static func mad(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let m = median(xs)
        return median(xs.map { abs($0 - m) })
    }

    /// Percentile bootstrap confidence interval of `statistic` (the median by default).
    ///
    /// Seeded, so the same samples always give the same interval: reports and regression calls
    /// must be reproducible from the stored samples alone.
    public static func bootstrapCI(of xs: [Double], statistic: ([Double]) -> Double = median,
                                   level: Double = 0.95, resamples: Int = 2000,
                                   seed: UInt64 = 0x7472_6974) -> (low: Double, high: Double) {
        guard !xs.isEmpty, resamples > 0 else { return (.nan, .nan) }
        if xs.count == 1 { return (xs[0], xs[0]) }
        var rng = SeededGenerator(seed: seed)
        var stats = [Double]()
        stats.reserveCapacity(resamples)
        var resample = [Double](repeating: 0, count: xs.count)
        for _ in 0..<resamples {
            for i in 0..<xs.count { resample[i] = xs[Int(rng.next() % UInt64(xs.count))] }
            stats.append(statistic(resample))
        }
        stats.sort()
        let alpha = (1 - level) / 2
        return (quantile(sorted: stats, alpha), quantile(sorted: stats, 1 - alpha))
    }

    /// The time of A relative to B from samples taken in the same rounds (A B A B …): the
    /// median of the per-round ratios aᵢ / bᵢ with its bootstrap 95% interval.
    ///
    /// Why paired: on a shared machine a neighbour's burst slows every closure timed during it,
    /// so the ratio within a round cancels the drift that separate medians keep. Pairs where
    /// either sample is missing, zero or not finite are dropped; no pair left gives NaN.
    public static func pairedRatio(_ a: [Double], _ b: [Double]) -> (median: Double, low: Double, high: Double) {
        let r = zip(a, b).compactMap { x, y -> Double? in
            x.isFinite && y.isFinite && x > 0 && y > 0 ? x / y : nil
        }
        let ci = bootstrapCI(of: r)
        return (median(r), ci.low, ci.high)
    }

    /// Linear-interpolation quantile of sorted data (the "type 7" definition, as numpy's default).
    public static func quantile(sorted s: [Double], _ q: Double) -> Double {
        guard !s.isEmpty else { return .nan }
        let h = Double(s.count - 1) * min(max(q, 0), 1)
        let lo = Int(h.rounded(.down)), hi = min(lo + 1, s.count - 1)
        return s[lo] + (h - Double(lo)) * (s[hi] - s[lo])
    }

    /// How the Mann–Whitney p-value is computed.
    public enum MannWhitneyMethod: String, Codable, Sendable {
        /// Exact permutation distribution when a sample has at most 8 values and there are no
        /// ties (SciPy's `method="auto"` rule), as long as n₁·n₂ ≤ 2500 so the exact table stays
        /// small; normal approximation otherwise.
        case auto
        /// Exact distribution of U (valid only without ties).
        case exact
        /// Normal approximation with tie correction and continuity correction.
        case asymptotic
    }

    /// Two-sided Mann–Whitney U test.
    ///
    /// `u` is the statistic of the first sample, U₁ = R₁ − n₁(n₁+1)/2 with mid-ranks for ties
    /// (SciPy's convention). The asymptotic p-value uses the tie-corrected variance and a 0.5
    /// continuity correction. Returns p = 1 when either sample is empty or all values are tied.
    public static func mannWhitneyU(_ a: [Double], _ b: [Double],
                                    method: MannWhitneyMethod = .auto) -> (u: Double, p: Double) {
        let n1 = a.count, n2 = b.count
        guard n1 > 0, n2 > 0 else { return (.nan, 1) }
        let (ranks, tieGroups) = midRanks(a + b)
        let r1 = ranks[0..<n1].reduce(0, +)
        let u1 = r1 - Double(n1 * (n1 + 1)) / 2
        let hasTies = tieGroups.contains { $0 > 1 }
        let useExact: Bool
        switch method {
        case .exact: useExact = true
        case .asymptotic: useExact = false
        case .auto: useExact = (n1 <= 8 || n2 <= 8) && !hasTies && n1 * n2 <= 2500
        }
        if useExact {
            return (u1, exactTwoSidedP(u: u1, n1: n1, n2: n2))
        }
        let n = Double(n1 + n2)
        let mu = Double(n1 * n2) / 2
        let tieTerm = tieGroups.reduce(0.0) { $0 + Double($1 * $1 * $1 - $1) }
        let variance = Double(n1 * n2) / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
        guard variance > 0 else { return (u1, 1) }
        let uBig = max(u1, Double(n1 * n2) - u1)
        let z = (uBig - mu - 0.5) / variance.squareRoot()
        let p = min(1, 2 * normalSurvival(z))
        return (u1, max(p, 0))
    }

    /// Benjamini–Hochberg adjusted p-values (false discovery rate), in the input order.
    ///
    /// adjusted(i) = min over j with rank ≥ rank(i) of p(j)·m/rank(j), capped at 1.
    public static func benjaminiHochberg(_ pValues: [Double]) -> [Double] {
        let m = pValues.count
        guard m > 0 else { return [] }
        let order = pValues.indices.sorted { pValues[$0] < pValues[$1] }
        var adjusted = [Double](repeating: 1, count: m)
        var running = 1.0
        for k in stride(from: m - 1, through: 0, by: -1) {
            let i = order[k]
            running = min(running, pValues[i] * Double(m) / Double(k + 1))
            adjusted[i] = min(running, 1)
        }
        return adjusted
    }

    // MARK: - Pieces

    /// Mid-ranks (1-based) and the sizes of the tie groups.
    static func midRanks(_ xs: [Double]) -> (ranks: [Double], tieGroups: [Int]) {
        let order = xs.indices.sorted { xs[$0] < xs[$1] }
        var ranks = [Double](repeating: 0, count: xs.count)
        var groups: [Int] = []
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && xs[order[j + 1]] == xs[order[i]] { j += 1 }
            let rank = Double(i + j + 2) / 2
            for k in i...j { ranks[order[k]] = rank }
            groups.append(j - i + 1)
            i = j + 1
        }
        return (ranks, groups)
    }

    /// Exact two-sided p-value of U under H₀, from the count of rank arrangements giving each U.
    static func exactTwoSidedP(u: Double, n1: Int, n2: Int) -> Double {
        // counts[m][k][u]: arrangements of m values of sample 1 among m+k with statistic u,
        // built by the recurrence f(m,k,u) = f(m-1,k,u-k) + f(m,k-1,u).
        let maxU = n1 * n2
        var table = [[[Double]]](repeating: [[Double]](repeating: [], count: n2 + 1), count: n1 + 1)
        for m in 0...n1 {
            for k in 0...n2 {
                var row = [Double](repeating: 0, count: m * k + 1)
                if m == 0 || k == 0 {
                    row[0] = 1
                } else {
                    for v in 0...(m * k) {
                        var c = 0.0
                        if v - k >= 0 && v - k <= (m - 1) * k { c += table[m - 1][k][v - k] }
                        if v <= m * (k - 1) { c += table[m][k - 1][v] }
                        row[v] = c
                    }
                }
                table[m][k] = row
            }
        }
        let dist = table[n1][n2]
        let total = dist.reduce(0, +)
        let uBig = Int(max(u, Double(maxU) - u).rounded())
        let upper = dist[uBig...].reduce(0, +) / total
        return min(1, 2 * upper)
    }

    /// P(Z > z) for a standard normal Z.
    static func normalSurvival(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }
}
