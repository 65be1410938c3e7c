import Foundation
import TritCore
import TritMeasure

/// One task's accuracy with its interval and how far above chance it is.
public struct TaskStatistics: Codable, Equatable, Sendable {
    public var task: String
    public var acc: Double
    /// Wilson 95% interval of `acc`.
    public var accLow: Double
    public var accHigh: Double
    public var chance: Double?
    /// (acc − chance) / (reference acc − chance).
    public var adjustedRetention: Double?
    /// Whether the interval's lower end is above chance.
    public var aboveChance: Bool?
    /// McNemar against the reference on the same documents.
    public var vsReference: PairedTest?
}

/// An exact McNemar test of two models on one task's documents.
public struct PairedTest: Codable, Equatable, Sendable {
    /// The other method's id.
    public var other: String
    public var task: String
    /// Documents only this method got right, and only the other.
    public var onlyThis: Int
    public var onlyOther: Int
    public var p: Double
    /// Benjamini–Hochberg adjusted over every McNemar test in the report.
    public var pAdjusted: Double?
}

/// The difference in chance-adjusted retention between two methods, by paired bootstrap over
/// documents (the same resampled documents for both, within each task).
public struct RetentionDifference: Codable, Equatable, Sendable {
    public var other: String
    /// This method's retention minus the other's.
    public var difference: Double
    public var low: Double
    public var high: Double
    public var p: Double
    /// Benjamini–Hochberg adjusted over every retention comparison in the report.
    public var pAdjusted: Double?
    public var significant: Bool
}

/// Everything the report says about one method's accuracy beyond its point estimates.
public struct MethodStatistics: Codable, Equatable, Sendable {
    public var tasks: [TaskStatistics]
    /// Bootstrap 95% interval of the perplexity over windows.
    public var pplLow: Double?
    public var pplHigh: Double?
    /// Mean over the averaged tasks (`averagedTasks`) of (acc − chance) / (reference − chance), with its
    /// paired-bootstrap 95% interval.
    public var retention: Double?
    public var retentionLow: Double?
    public var retentionHigh: Double?
    /// A collapsed model: perplexity above the vocabulary size, or no task above chance beyond
    /// its interval. Listed, but left off the Pareto front.
    public var collapsed: Bool
    public var collapseReason: String?
    public var vsReference: RetentionDifference?
    /// Against the next method down the retention ranking.
    public var vsNext: RetentionDifference?
    /// McNemar per task against that next method.
    public var mcNemarVsNext: [PairedTest]
}

/// Intervals, chance adjustment, paired tests with Benjamini–Hochberg correction, and the
/// collapse rule, for the methods of one run (all scored on the same documents and windows).
public struct AccuracyAnalysis {
    public var resamples = 2000
    /// The tokenizer's vocabulary size: a model whose perplexity exceeds it predicts worse than
    /// a uniform guess over the vocabulary.
    public var vocabularySize: Int?
    public var alpha = 0.05

    public init(vocabularySize: Int?, resamples: Int = 2000) {
        self.vocabularySize = vocabularySize; self.resamples = resamples
    }

    /// Whether `task` enters retention and the collapse rule: only where the reference itself is
    /// above chance beyond its 95% Wilson interval. Where the unquantized model scores at chance
    /// (WinoGrande, and at `--full` ARC-Challenge, BoolQ and OpenBookQA for SmolLM2-135M), a
    /// quantized model's score there measures noise, and (acc − chance) / (reference − chance)
    /// divides by a headroom that is zero or negative.
    public static func referenceIsAboveChance(_ task: TaskResult) -> Bool {
        guard let chance = task.chance, task.docs > 0 else { return false }
        let k = Int((task.acc * Double(task.docs)).rounded())
        return AccuracyStatistics.wilson(successes: k, trials: task.docs).low > chance
    }

    /// The tasks that enter averages and retention, as paired outcomes: recorded per document,
    /// with a chance level, present in both, and the reference above chance on them
    /// (`referenceIsAboveChance`). Documents are in file order, so a method scored on fewer
    /// (a collapsed one) pairs with the reference's first ones; the chance level is that of the
    /// shorter list.
    func averagedTasks(_ m: MethodResult, _ ref: MethodResult) -> [(m: [Bool], r: [Bool], chance: Double)] {
        m.tasks.compactMap { t in
            guard let chance = t.chance, let a = t.correct,
                  let r = ref.tasks.first(where: { $0.task == t.task }), Self.referenceIsAboveChance(r), let b = r.correct else { return nil }
            let n = min(a.count, b.count)
            guard n > 0 else { return nil }
            return (Array(a.prefix(n)), Array(b.prefix(n)), a.count <= b.count ? chance : r.chance ?? chance)
        }
    }

    /// Chance-adjusted retention of `m` on the documents `draw` picks in each task (nil when the
    /// reference is not above chance on them).
    static func retention(_ pairs: [(m: [Bool], r: [Bool], chance: Double)], draw: [[Int]]?) -> Double? {
        var total = 0.0
        for (k, p) in pairs.enumerated() {
            let idx = draw?[k]
            let n = Double(idx?.count ?? p.m.count)
            let am = Double(idx.map { $0.filter { p.m[$0] }.count } ?? p.m.filter { $0 }.count) / n
            let ar = Double(idx.map { $0.filter { p.r[$0] }.count } ?? p.r.filter { $0 }.count) / n
            guard let adj = AccuracyStatistics.chanceAdjustedRetention(accuracy: am, reference: ar, chance: p.chance) else { return nil }
            total += adj
        }
        return pairs.isEmpty ? nil : total / Double(pairs.count)
    }

    /// Fills `statistics` of every method; the reference is the method "reference".
    public func analyze(_ methods: [MethodResult]) -> [MethodResult] {
        var out = methods
        let ref = methods.first { $0.method == "reference" }
        func outcomes(_ m: MethodResult) -> [(m: [Bool], r: [Bool], chance: Double)] {
            guard let ref else { return [] }
            return averagedTasks(m, ref)
        }
        for i in out.indices {
            let m = out[i]
            var st = MethodStatistics(tasks: [], collapsed: false, mcNemarVsNext: [])
            for t in m.tasks {
                let n = t.docs, k = Int((t.acc * Double(n)).rounded())
                let w = AccuracyStatistics.wilson(successes: k, trials: n)
                var ts = TaskStatistics(task: t.task, acc: t.acc, accLow: w.low, accHigh: w.high, chance: t.chance)
                if let c = t.chance { ts.aboveChance = w.low > c }
                if let ref, m.method != ref.method, let r = ref.tasks.first(where: { $0.task == t.task }) {
                    if let c = t.chance { ts.adjustedRetention = AccuracyStatistics.chanceAdjustedRetention(accuracy: t.acc, reference: r.acc, chance: c) }
                    if let a = t.correct, let b = r.correct {
                        let n = min(a.count, b.count)
                        let mc = AccuracyStatistics.mcNemar(Array(a.prefix(n)), Array(b.prefix(n)))
                        ts.vsReference = PairedTest(other: ref.method, task: t.task, onlyThis: mc.onlyFirst, onlyOther: mc.onlySecond, p: mc.p)
                    }
                }
                st.tasks.append(ts)
            }
            if let nll = m.pplWindowNLL, let tok = m.pplWindowTokens, nll.count == tok.count, !nll.isEmpty {
                let ci = AccuracyStatistics.stratifiedBootstrap(sizes: [nll.count], resamples: resamples) { d in
                    let s = d[0].reduce(0.0) { $0 + nll[$1] }, n = d[0].reduce(0) { $0 + tok[$1] }
                    return n > 0 ? exp(s / Double(n)) : nil
                }
                st.pplLow = ci.low; st.pplHigh = ci.high
            }
            let pairs = outcomes(m)
            if m.method == ref?.method {
                st.retention = 1
            } else if !pairs.isEmpty, let r = Self.retention(pairs, draw: nil) {
                let ci = AccuracyStatistics.stratifiedBootstrapTest(sizes: pairs.map(\.m.count), resamples: resamples) {
                    Self.retention(pairs, draw: $0).map { $0 - 1 }
                }
                st.retention = r; st.retentionLow = ci.low + 1; st.retentionHigh = ci.high + 1
                st.vsReference = RetentionDifference(other: ref!.method, difference: r - 1, low: ci.low, high: ci.high, p: ci.p,
                                                     pAdjusted: nil, significant: false)
            }
            var reasons: [String] = []
            if let v = vocabularySize, let p = m.ppl, !(p <= Double(v)) {
                reasons.append(String(format: "perplexity %.3g exceeds the vocabulary size %d", p, v))
            }
            // Judged on the tasks where the reference is above chance (all tasks without one).
            let judged = st.tasks.filter { ts in
                ts.aboveChance != nil && (ref.map { $0.tasks.contains { $0.task == ts.task && Self.referenceIsAboveChance($0) } } ?? true)
            }
            if !judged.isEmpty && judged.allSatisfy({ $0.aboveChance == false }) {
                reasons.append("no task is above chance beyond its 95% interval")
            }
            st.collapsed = !reasons.isEmpty && m.method != ref?.method
            st.collapseReason = st.collapsed ? reasons.joined(separator: "; ") : nil
            out[i].statistics = st
        }
        // Each method against the next one down the retention ranking, on the same documents.
        let ranked = out.indices.filter { out[$0].method != ref?.method && out[$0].statistics?.retention != nil }
            .sorted { out[$0].statistics!.retention! > out[$1].statistics!.retention! }
        for (a, b) in zip(ranked, ranked.dropFirst()) {
            // Both on the documents both were scored on.
            var pa = outcomes(out[a]), pb = outcomes(out[b])
            guard pa.count == pb.count, !pa.isEmpty else { continue }
            for k in pa.indices {
                let n = min(pa[k].m.count, pb[k].m.count)
                let chance = pa[k].m.count <= pb[k].m.count ? pa[k].chance : pb[k].chance
                pa[k] = (Array(pa[k].m.prefix(n)), Array(pa[k].r.prefix(n)), chance)
                pb[k] = (Array(pb[k].m.prefix(n)), Array(pb[k].r.prefix(n)), chance)
            }
            let ci = AccuracyStatistics.stratifiedBootstrapTest(sizes: pa.map(\.m.count), resamples: resamples) { d in
                guard let x = Self.retention(pa, draw: d), let y = Self.retention(pb, draw: d) else { return nil }
                return x - y
            }
            let diff = (Self.retention(pa, draw: nil) ?? .nan) - (Self.retention(pb, draw: nil) ?? .nan)
            out[a].statistics!.vsNext = RetentionDifference(other: out[b].method, difference: diff, low: ci.low, high: ci.high,
                                                            p: ci.p, pAdjusted: nil, significant: false)
            for (ta, tb) in zip(out[a].tasks, out[b].tasks) where ta.task == tb.task {
                guard let x = ta.correct, let y = tb.correct else { continue }
                let n = min(x.count, y.count)
                let mc = AccuracyStatistics.mcNemar(Array(x.prefix(n)), Array(y.prefix(n)))
                out[a].statistics!.mcNemarVsNext.append(PairedTest(other: out[b].method, task: ta.task, onlyThis: mc.onlyFirst,
                                                                   onlyOther: mc.onlySecond, p: mc.p))
            }
        }
        return Self.adjust(out, alpha: alpha)
    }

    /// Benjamini–Hochberg over the report's retention comparisons, and separately over its
    /// McNemar tests; a retention difference is significant when its adjusted p < alpha.
    static func adjust(_ methods: [MethodResult], alpha: Double) -> [MethodResult] {
        var out = methods
        var retention: [(Int, Bool, Double)] = []   // (method, isVsNext, p)
        var mcnemar: [(Int, Int, Bool, Double)] = []   // (method, index, isVsNext, p)
        for (i, m) in out.enumerated() {
            guard let s = m.statistics else { continue }
            if let d = s.vsReference { retention.append((i, false, d.p)) }
            if let d = s.vsNext { retention.append((i, true, d.p)) }
            for (k, t) in s.tasks.enumerated() { if let v = t.vsReference { mcnemar.append((i, k, false, v.p)) } }
            for (k, t) in s.mcNemarVsNext.enumerated() { mcnemar.append((i, k, true, t.p)) }
        }
        for (entry, q) in zip(retention, Statistics.benjaminiHochberg(retention.map(\.2))) {
            if entry.1 {
                out[entry.0].statistics!.vsNext!.pAdjusted = q
                out[entry.0].statistics!.vsNext!.significant = q < alpha
            } else {
                out[entry.0].statistics!.vsReference!.pAdjusted = q
                out[entry.0].statistics!.vsReference!.significant = q < alpha
            }
        }
        for (entry, q) in zip(mcnemar, Statistics.benjaminiHochberg(mcnemar.map(\.3))) {
            if entry.2 { out[entry.0].statistics!.mcNemarVsNext[entry.1].pAdjusted = q }
            else { out[entry.0].statistics!.tasks[entry.1].vsReference!.pAdjusted = q }
        }
        return out
    }
}
