import Foundation
import Testing
import TritReport

@Suite struct AccuracyAnalysisTests {
    /// A task result from per-document outcomes.
    static func task(_ name: String, _ correct: [Bool], chance: Double) -> TaskResult {
        let acc = Double(correct.filter { $0 }.count) / Double(correct.count)
        return TaskResult(task: name, acc: acc, accNorm: acc, docs: correct.count, chance: chance,
                          outcomes: String(correct.map { $0 ? "1" : "0" }), outcomesNorm: String(correct.map { $0 ? "1" : "0" }))
    }

    static func method(_ id: String, ppl: Double, piqa: [Bool], arc: [Bool]) -> MethodResult {
        var m = MethodResult(method: id, label: id, runtime: "test")
        m.ppl = ppl
        m.tasks = [task("piqa", piqa, chance: 0.5), task("arc_easy", arc, chance: 0.25)]
        return m
    }

    /// 400 documents per task; `rate` of them right, spread evenly.
    static func outcomes(_ rate: Double, n: Int = 400, phase: Int = 0) -> [Bool] {
        (0..<n).map { ($0 + phase) % 100 < Int((rate * 100).rounded()) }
    }

    @Test func retentionIsChanceAdjustedWithIntervalsAndCollapseRule() {
        let ref = Self.method("reference", ppl: 20, piqa: Self.outcomes(0.70), arc: Self.outcomes(0.55))
        let good = Self.method("good", ppl: 40, piqa: Self.outcomes(0.65), arc: Self.outcomes(0.45))
        // At chance on both tasks with a sane perplexity: collapsed by the second rule.
        let chance = Self.method("chance", ppl: 900, piqa: Self.outcomes(0.50, phase: 7), arc: Self.outcomes(0.25, phase: 3))
        // A fine accuracy but a perplexity above the vocabulary: collapsed by the first rule.
        let wild = Self.method("wild", ppl: 1e8, piqa: Self.outcomes(0.64, phase: 1), arc: Self.outcomes(0.44, phase: 1))
        let out = AccuracyAnalysis(vocabularySize: 49152).analyze([ref, good, chance, wild])
        let st = Dictionary(uniqueKeysWithValues: out.map { ($0.method, $0.statistics!) })
        #expect(st["reference"]!.retention == 1 && !st["reference"]!.collapsed)
        // (0.65 − 0.5)/(0.70 − 0.5) = 0.75 and (0.45 − 0.25)/(0.55 − 0.25) = 2/3: mean 0.7083.
        #expect(abs(st["good"]!.retention! - (0.75 + 2.0 / 3) / 2) < 1e-9)
        #expect(st["good"]!.retentionLow! < st["good"]!.retention! && st["good"]!.retention! < st["good"]!.retentionHigh!)
        #expect(!st["good"]!.collapsed)
        #expect(st["chance"]!.collapsed && st["chance"]!.collapseReason!.contains("above chance"))
        #expect(abs(st["chance"]!.retention!) < 0.02)
        #expect(st["wild"]!.collapsed && st["wild"]!.collapseReason!.contains("vocabulary"))
        // Wilson interval on each task, and McNemar against the reference.
        let piqa = st["good"]!.tasks.first { $0.task == "piqa" }!
        #expect(piqa.accLow < 0.65 && piqa.accHigh > 0.65 && piqa.aboveChance == true)
        #expect(piqa.vsReference!.onlyOther == 20 && piqa.vsReference!.onlyThis == 0)
        // Good vs reference: 5 points on 400 documents, all one way: significant after correction.
        #expect(st["good"]!.vsReference!.significant)
        // good and wild differ by one document per hundred: neighbours, not distinguishable.
        let ranked = out.filter { $0.method != "reference" }.sorted { $0.statistics!.retention! > $1.statistics!.retention! }.map(\.method)
        #expect(ranked == ["good", "wild", "chance"])
        #expect(st["good"]!.vsNext!.other == "wild" && !st["good"]!.vsNext!.significant)
        #expect(st["wild"]!.vsNext!.other == "chance" && st["wild"]!.vsNext!.significant)
        // Every test carries an adjusted p no smaller than its raw p.
        for s in st.values {
            for d in [s.vsReference, s.vsNext].compactMap({ $0 }) { #expect(d.pAdjusted! >= d.p) }
        }
    }

    /// A collapsed model scored on the first 100 documents pairs with the reference's first 100.
    @Test func shorterDocumentListsPairWithTheReferencePrefix() {
        let ref = Self.method("reference", ppl: 20, piqa: Self.outcomes(0.70), arc: Self.outcomes(0.55))
        let good = Self.method("good", ppl: 40, piqa: Self.outcomes(0.65), arc: Self.outcomes(0.45))
        let short = Self.method("short", ppl: 1e7, piqa: Self.outcomes(0.5, n: 100), arc: Self.outcomes(0.25, n: 100))
        let out = AccuracyAnalysis(vocabularySize: 49152).analyze([ref, good, short])
        let st = out.first { $0.method == "short" }!.statistics!
        #expect(abs(st.retention!) < 1e-9)
        #expect(st.tasks.first { $0.task == "piqa" }!.vsReference!.onlyOther == 20)   // reference right on 20 of the first 100
        #expect(out.first { $0.method == "good" }!.statistics!.vsNext!.other == "short")
    }

    /// A task where the reference itself is at or below chance (BoolQ at 41% for SmolLM2-135M
    /// at --full) is left out of retention and of the collapse rule, for every method, and the
    /// report marks it; before, its headroom ≤ 0 left every method without a retention.
    @Test func tasksWhereTheReferenceIsAtChanceAreLeftOutOfRetention() throws {
        func withBoolq(_ m: MethodResult, _ rate: Double, phase: Int = 0) -> MethodResult {
            var m = m
            m.tasks.append(Self.task("boolq", Self.outcomes(rate, phase: phase), chance: 0.5))
            return m
        }
        let ref = withBoolq(Self.method("reference", ppl: 20, piqa: Self.outcomes(0.70), arc: Self.outcomes(0.55)), 0.41)
        let good = withBoolq(Self.method("good", ppl: 40, piqa: Self.outcomes(0.65), arc: Self.outcomes(0.45)), 0.62)
        // At chance on PIQA and ARC, "above chance" only on the task the reference cannot do.
        let chance = withBoolq(Self.method("chance", ppl: 900, piqa: Self.outcomes(0.50, phase: 7), arc: Self.outcomes(0.25, phase: 3)), 0.62, phase: 5)
        #expect(!AccuracyAnalysis.referenceIsAboveChance(ref.tasks[2]) && AccuracyAnalysis.referenceIsAboveChance(ref.tasks[0]))
        // 0.52 on 400 documents: Wilson low 0.471 < 0.5, so not above chance beyond its interval.
        #expect(!AccuracyAnalysis.referenceIsAboveChance(Self.task("piqa", Self.outcomes(0.52), chance: 0.5)))
        let out = AccuracyAnalysis(vocabularySize: 49152).analyze([ref, good, chance])
        let st = Dictionary(uniqueKeysWithValues: out.map { ($0.method, $0.statistics!) })
        // The same retention as without BoolQ: (0.75 + 2/3) / 2.
        #expect(abs(st["good"]!.retention! - (0.75 + 2.0 / 3) / 2) < 1e-9)
        #expect(st["good"]!.retentionLow! < st["good"]!.retention! && st["good"]!.retention! < st["good"]!.retentionHigh!)
        #expect(st["chance"]!.collapsed && st["chance"]!.collapseReason!.contains("above chance"))
        var r = RunResult(runID: "t", context: .collect(probeEvents: false))
        r.methods = out
        let md = ReportWriter(result: r).markdown()
        #expect(md.contains("boolq* acc [95% CI]") && md.contains("| piqa acc [95% CI]"))
        #expect(md.contains("The reference is not above chance beyond its 95% interval on boolq: reported, left out of retention"))
    }

    @Test func perplexityIntervalBootstrapsWindows() {
        var m = Self.method("reference", ppl: exp(3), piqa: Self.outcomes(0.7), arc: Self.outcomes(0.5))
        m.pplWindowNLL = [2.5 * 100, 3.0 * 100, 3.5 * 100, 3.0 * 100]
        m.pplWindowTokens = [100, 100, 100, 100]
        let st = AccuracyAnalysis(vocabularySize: nil).analyze([m])[0].statistics!
        #expect(st.pplLow! < exp(3) && st.pplHigh! > exp(3))
        #expect(st.pplLow! >= exp(2.5) && st.pplHigh! <= exp(3.5))
    }

    @Test func reportLeadsWithTheAnswerAndMarksCollapsedRows() throws {
        let ref = Self.method("reference", ppl: 20, piqa: Self.outcomes(0.70), arc: Self.outcomes(0.55))
        var good = Self.method("good", ppl: 40, piqa: Self.outcomes(0.65), arc: Self.outcomes(0.45))
        good.bitsPerWeight = 4; good.decodeTokensPerSecond = 100
        var chance = Self.method("chance", ppl: 1e6, piqa: Self.outcomes(0.50, phase: 7), arc: Self.outcomes(0.25, phase: 3))
        chance.bitsPerWeight = 1.6; chance.decodeTokensPerSecond = 200
        var r = RunResult(runID: "t", context: .collect(probeEvents: false))
        r.methods = AccuracyAnalysis(vocabularySize: 49152).analyze([ref, good, chance])
        let md = ReportWriter(result: r).markdown()
        #expect(md.contains("**On this model and CPU"))
        #expect(md.contains("good gives the best retention per byte"))
        #expect(md.contains("chance decodes fastest"))
        #expect(md.contains("Collapsed (listed, off the Pareto front): chance"))
        #expect(md.contains("| chance | 1.60 |") && md.contains("COLLAPSED: perplexity 1e+06 exceeds the vocabulary size 49152"))
        let html = ReportWriter(result: r).html()
        #expect(html.contains("fill=\"white\" stroke=")) // the collapsed point is hollow
    }
}
