import Foundation
import TritCore
import TritMeasure

/// The verdict on one metric between a baseline and a current run.
public enum Verdict: String, Codable, Sendable, Comparable {
    case improved, unchanged, inconclusive, regressed
    static let order: [Verdict] = [.improved, .unchanged, .inconclusive, .regressed]
    public static func < (a: Verdict, b: Verdict) -> Bool { order.firstIndex(of: a)! < order.firstIndex(of: b)! }
}

/// One row of a comparison, with the evidence behind the verdict.
public struct MetricComparison: Codable, Equatable, Sendable {
    public var name: String
    public var unit: String
    public var kind: Metric.Kind
    public var verdict: Verdict
    public var baseline: Double
    public var current: Double
    /// Relative change of the median (or value): current / baseline − 1.
    public var change: Double
    /// Bootstrap 95% interval of the relative change (timings only).
    public var changeCILow: Double?
    public var changeCIHigh: Double?
    /// Mann–Whitney two-sided p, raw and Benjamini–Hochberg adjusted (timings only).
    public var pValue: Double?
    public var pAdjusted: Double?
    public var baselineSamples: Int
    public var currentSamples: Int
    public var rule: String
}

/// Settings of the regression call.
public struct CompareOptions: Sendable {
    /// Relative change of a timing below which a difference is "unchanged" (the noise floor:
    /// same-configuration medians differ ~11% between runs on the shared 2-core VM).
    public var noiseThreshold: Double
    public var alpha: Double
    /// Fewer samples than this on either side makes a timing inconclusive.
    public var minimumSamples: Int
    public init(noiseThreshold: Double = 0.15, alpha: Double = 0.05, minimumSamples: Int = 5) {
        self.noiseThreshold = noiseThreshold; self.alpha = alpha; self.minimumSamples = minimumSamples
    }
}

/// A comparison of two metric sets: per-metric verdicts and the CI exit code.
public struct Comparison: Codable, Sendable {
    public var rows: [MetricComparison]
    public var onlyInBaseline: [String]
    public var onlyInCurrent: [String]
    public var noiseThreshold: Double
    public var alpha: Double

    /// 0 no regression, 2 at least one regression, 3 inconclusive results but no regression.
    public var exitCode: Int32 {
        if rows.contains(where: { $0.verdict == .regressed }) { return 2 }
        if rows.contains(where: { $0.verdict == .inconclusive }) { return 3 }
        return 0
    }

    /// Compares every metric present in both sets.
    ///
    /// Timings: two-sided Mann–Whitney U on the samples, Benjamini–Hochberg across all timing
    /// metrics, and a bootstrap 95% CI of the relative change of the median. "regressed" or
    /// "improved" needs all three: adjusted p < alpha, the CI excluding zero, and the median
    /// change beyond the noise threshold. A CI inside ±threshold is "unchanged"; anything else
    /// is "inconclusive". Deterministic metrics: exact rule with the metric's own tolerance.
    public static func compare(baseline: [Metric], current: [Metric], options: CompareOptions = CompareOptions()) -> Comparison {
        let base = Dictionary(baseline.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let cur = Dictionary(current.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let common = base.keys.filter { cur[$0] != nil }.sorted()

        var rows: [MetricComparison] = []
        var timingIdx: [Int] = []
        var pvals: [Double] = []
        for name in common {
            let b = base[name]!, c = cur[name]!
            // A NaN or infinite value says nothing about a change: "inconclusive", never "unchanged"
            // (every comparison with NaN is false, so the rules below would call it unchanged).
            let values = (b.value.map { [$0] } ?? []) + (b.samples ?? []) + (c.value.map { [$0] } ?? []) + (c.samples ?? [])
            if values.contains(where: { !$0.isFinite }) {
                let bv = b.value ?? b.samples.map(Statistics.median) ?? .nan, cv = c.value ?? c.samples.map(Statistics.median) ?? .nan
                rows.append(MetricComparison(name: name, unit: b.unit, kind: b.kind, verdict: .inconclusive,
                                             baseline: bv, current: cv, change: .nan, changeCILow: nil, changeCIHigh: nil,
                                             pValue: nil, pAdjusted: nil, baselineSamples: b.samples?.count ?? 1,
                                             currentSamples: c.samples?.count ?? 1, rule: "a value is NaN or infinite: no verdict"))
            } else if b.kind == .timing, c.kind == .timing, let bs = b.samples, let cs = c.samples, !bs.isEmpty, !cs.isEmpty {
                let bm = Statistics.median(bs), cm = Statistics.median(cs)
                let mw = Statistics.mannWhitneyU(bs, cs)
                let ci = changeCI(bs, cs)
                timingIdx.append(rows.count); pvals.append(mw.p)
                rows.append(MetricComparison(name: name, unit: b.unit, kind: .timing, verdict: .inconclusive,
                                             baseline: bm, current: cm, change: cm / bm - 1,
                                             changeCILow: ci.low, changeCIHigh: ci.high, pValue: mw.p, pAdjusted: nil,
                                             baselineSamples: bs.count, currentSamples: cs.count, rule: ""))
            } else if let bv = b.value ?? b.samples.map(Statistics.median), let cv = c.value ?? c.samples.map(Statistics.median) {
                let change = bv == 0 ? (cv == 0 ? 0 : .infinity) : cv / bv - 1
                let tol = b.tolerance ?? 0
                let worse = b.direction == .lowerIsBetter ? change > tol : change < -tol
                let better = b.direction == .lowerIsBetter ? change < -tol : change > tol
                rows.append(MetricComparison(name: name, unit: b.unit, kind: .deterministic,
                                             verdict: worse ? .regressed : better ? .improved : .unchanged,
                                             baseline: bv, current: cv, change: change, changeCILow: nil, changeCIHigh: nil,
                                             pValue: nil, pAdjusted: nil, baselineSamples: 1, currentSamples: 1,
                                             rule: tol == 0 ? "exact: any change counts" : "exact within ±\(fmtPct(tol))"))
            }
        }
        let adjusted = Statistics.benjaminiHochberg(pvals)
        for (k, i) in timingIdx.enumerated() {
            var r = rows[i]
            r.pAdjusted = adjusted[k]
            let lowerIsBetter = (base[r.name]!.direction == .lowerIsBetter)
            let t = options.noiseThreshold
            let lo = r.changeCILow ?? -.infinity, hi = r.changeCIHigh ?? .infinity
            if r.baselineSamples < options.minimumSamples || r.currentSamples < options.minimumSamples {
                r.verdict = .inconclusive
                r.rule = "fewer than \(options.minimumSamples) samples"
            } else if adjusted[k] < options.alpha && (lo > 0 || hi < 0) && abs(r.change) > t {
                let slower = r.change > 0
                r.verdict = (slower == lowerIsBetter) ? .regressed : .improved
                r.rule = "MWU p_adj < \(options.alpha), CI excludes 0, |Δ| > \(fmtPct(t))"
            } else if lo >= -t && hi <= t {
                r.verdict = .unchanged
                r.rule = "CI of Δ within ±\(fmtPct(t))"
            } else {
                r.verdict = .inconclusive
                r.rule = "not significant or CI crosses the ±\(fmtPct(t)) band"
            }
            rows[i] = r
        }
        return Comparison(rows: rows, onlyInBaseline: base.keys.filter { cur[$0] == nil }.sorted(),
                          onlyInCurrent: cur.keys.filter { base[$0] == nil }.sorted(),
                          noiseThreshold: options.noiseThreshold, alpha: options.alpha)
    }

    /// Bootstrap 95% CI of median(current)/median(baseline) − 1, resampling both sides (seeded).
    static func changeCI(_ b: [Double], _ c: [Double], resamples: Int = 2000) -> (low: Double, high: Double) {
        var g = SeededGenerator(seed: 0x636f_6d70)
        var stats: [Double] = []
        stats.reserveCapacity(resamples)
        var rb = b, rc = c
        for _ in 0..<resamples {
            for i in 0..<b.count { rb[i] = b[Int(g.next() % UInt64(b.count))] }
            for i in 0..<c.count { rc[i] = c[Int(g.next() % UInt64(c.count))] }
            stats.append(Statistics.median(rc) / Statistics.median(rb) - 1)
        }
        stats.sort()
        return (Statistics.quantile(sorted: stats, 0.025), Statistics.quantile(sorted: stats, 0.975))
    }

    /// Markdown fit for a CI job summary.
    public func markdown(title: String = "TritBench regression check") -> String {
        let counts = Dictionary(grouping: rows, by: \.verdict).mapValues(\.count)
        var s = "## \(title)\n\n"
        let status = exitCode == 0 ? "✅ no regression" : exitCode == 2 ? "❌ regression" : "⚠️ inconclusive"
        s += "**\(status)** — \(rows.count) metrics: "
        s += Verdict.order.reversed().map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
        s += ". Timings: Mann–Whitney U with Benjamini–Hochberg (α = \(alpha)), bootstrap 95% CI of the change, noise threshold ±\(Self.fmtPct(noiseThreshold)). Deterministic metrics: exact rules.\n\n"
        s += table.markdown()
        if !onlyInBaseline.isEmpty { s += "\nOnly in the baseline (not compared): \(onlyInBaseline.map { TextEscaping.markdownCode($0) }.joined(separator: ", "))\n" }
        if !onlyInCurrent.isEmpty { s += "\nNew in this run (not compared): \(onlyInCurrent.map { TextEscaping.markdownCode($0) }.joined(separator: ", "))\n" }
        return s
    }

    /// The verdicts as one table (worst first), for the Markdown summary.
    public var table: ReportTable {
        ReportTable(header: ["verdict", "metric", "baseline", "current", "change", "95% CI", "p (adj.)", "n", "rule"],
                    alignments: [.left, .left, .right, .right, .right, .right, .right, .right, .left],
                    rows: rows.sorted(by: { ($0.verdict, $0.name) > ($1.verdict, $1.name) }).map { r in
            [r.verdict.rawValue, r.name, Self.fmtValue(r.baseline, r.unit), Self.fmtValue(r.current, r.unit), Self.fmtSigned(r.change),
             r.changeCILow.map { "[\(Self.fmtSigned($0)), \(Self.fmtSigned(r.changeCIHigh!))]" } ?? "—",
             r.pAdjusted.map { String(format: "%.3g", $0) } ?? "—", "\(r.baselineSamples)/\(r.currentSamples)", r.rule]
        })
    }

    /// Plain text for a terminal.
    public func text() -> String {
        var s = ""
        for r in rows.sorted(by: { ($0.verdict, $0.name) > ($1.verdict, $1.name) }) {
            s += "\(r.verdict.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(TextEscaping.terminal(r.name))  \(TextEscaping.terminal(Self.fmtValue(r.baseline, r.unit))) → \(TextEscaping.terminal(Self.fmtValue(r.current, r.unit))) (\(Self.fmtSigned(r.change)))"
            if let lo = r.changeCILow, let hi = r.changeCIHigh { s += " CI [\(Self.fmtSigned(lo)), \(Self.fmtSigned(hi))]" }
            if let p = r.pAdjusted { s += String(format: " p_adj=%.3g", p) }
            if r.verdict == .inconclusive { s += " — \(TextEscaping.terminal(r.rule))" }
            s += "\n"
        }
        s += "exit code \(exitCode) (0 no regression, 2 regression, 3 inconclusive only)\n"
        return s
    }

    static func fmtPct(_ x: Double) -> String { String(format: "%.0f%%", x * 100) }
    static func fmtSigned(_ x: Double) -> String { x.isFinite ? String(format: "%+.1f%%", x * 100) : "n/a" }
    static func fmtValue(_ v: Double, _ unit: String) -> String {
        if unit == "s" { return v < 1e-3 ? String(format: "%.2f µs", v * 1e6) : String(format: "%.3f ms", v * 1e3) }
        if v == v.rounded() && abs(v) < 1e15 { return "\(Int64(v)) \(unit)" }
        return String(format: "%.4g %@", v, unit)
    }
}
