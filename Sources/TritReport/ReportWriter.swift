import Foundation
import TritCore
import TritMeasure

/// Renders a `RunResult` as `summary.md` and a self-contained `report.html` (inline SVG, no
/// scripts or network), and writes them atomically beside `result.json`.
public struct ReportWriter {
    public var result: RunResult
    public init(result: RunResult) { self.result = result }

    /// Writes result.json, summary.md and report.html into `directory`; returns their paths.
    @discardableResult
    public func write(to directory: String) throws -> [String] {
        let paths = [directory + "/result.json", directory + "/summary.md", directory + "/report.html"]
        try AtomicFile.writeJSON(result, to: paths[0])
        try AtomicFile.write(markdown(), to: paths[1])
        try AtomicFile.write(html(), to: paths[2])
        return paths
    }

    var reference: MethodResult? { result.methods?.first { $0.method == "reference" } }
    var taskNames: [String] {
        var seen: [String] = []
        for m in result.methods ?? [] { for t in m.tasks where !seen.contains(t.task) { seen.append(t.task) } }
        return seen
    }

    // MARK: Markdown

    public func markdown() -> String { document().markdown() }

    /// The whole report as prose and tables, in order: `markdown()` and `html()` both render it.
    func document() -> ReportDocument {
        var s = ReportDocument()
        s += "# TritBench run \(result.runID)\n\n"
        let c = result.context
        s += "CPU: \(c.cpu.vendor) \(c.cpu.model), \(c.cpu.logicalCores) logical cores, \(c.cpu.virtualized ? "virtualised" : "bare metal"); "
        s += "features: \(c.cpu.features.names.joined(separator: " ")). Build: \(c.build.configuration), Swift \(c.build.swiftVersion), revision \(c.build.gitRevision)\(c.build.gitDirty ? " (dirty)" : ""). Date: \(ISO8601DateFormatter().string(from: c.date)).\n\n"
        for n in result.notes { s += "- \(n)\n" }
        for l in result.limits ?? [] { s += "- Limit applied: \(l)\n" }
        if !result.notes.isEmpty || !(result.limits ?? []).isEmpty { s += "\n" }
        s += methodTable()
        s += kernelTable()
        s += counterTable()
        s += tuningTable()
        if let r = result.roofline {
            s += "## Roofline (measured in this run)\n\n"
            s += ReportTable(columns: [("level", .left), ("threads", .right), ("GB/s (median)", .right), ("95% CI", .right)],
                             rows: r.bandwidth.map { p in [p.level, "\(p.threads)", f1(p.gbPerSecond), "[\(f1(p.gbPerSecondCILow)), \(f1(p.gbPerSecondCIHigh))]"] })
            s += "\nPlain streaming loop: \(f1(r.plainStreamLoop.gbPerSecond)) GB/s. Int8 peak (\(r.peakInt8.loop)): \(f1(r.peakInt8.gMACsPerSecond)) G MAC/s per core\(r.peakInt8VNNI.map { "; \($0.loop): \(f1($0.gMACsPerSecond)) G MAC/s" } ?? "").\n\n"
        }
        s += "Stages: " + result.stages.map { "\($0.name) \(String(format: "%.1f", $0.seconds)) s\($0.reused ? " (reused)" : "")" }.joined(separator: ", ") + "\n"
        return s
    }

    /// The answer in one sentence with its evidence: the method with the best chance-adjusted
    /// retention per bit among those that did not collapse, the most accurate one, the fastest
    /// decode, and which differences the data do not support.
    func headline() -> String {
        guard let methods = result.methods, let ref = reference else { return "" }
        let candidates = methods.filter { $0.method != ref.method && $0.statistics?.collapsed == false && $0.statistics?.retention != nil }
        var parts: [String] = []
        func ret(_ m: MethodResult) -> String {
            let st = m.statistics!
            return String(format: "chance-adjusted retention %.2f [%.2f, %.2f]", st.retention!, st.retentionLow ?? .nan, st.retentionHigh ?? .nan)
                + (m.bitsPerWeight.map { String(format: " at %.2f bits/weight", $0) } ?? "")
        }
        if let perBit = candidates.filter({ ($0.bitsPerWeight ?? 0) > 0 && $0.statistics!.retention! > 0 })
            .max(by: { $0.statistics!.retention! / $0.bitsPerWeight! < $1.statistics!.retention! / $1.bitsPerWeight! }) {
            parts.append("\(perBit.label) gives the best retention per byte (\(ret(perBit)))")
        }
        if let best = candidates.max(by: { $0.statistics!.retention! < $1.statistics!.retention! }) {
            parts.append("\(best.label) keeps the most accuracy (\(ret(best)))")
        }
        if let fast = methods.filter({ $0.method != ref.method }).max(by: { ($0.decodeTokensPerSecond ?? 0) < ($1.decodeTokensPerSecond ?? 0) }),
           let t = fast.decodeTokensPerSecond {
            parts.append(String(format: "%@ decodes fastest (%.1f tokens/s on the packed kernels)", fast.label, t))
        }
        let collapsed = methods.filter { $0.statistics?.collapsed == true }.map(\.label)
        let ties = methods.compactMap { m -> String? in
            guard let d = m.statistics?.vsNext, !d.significant, let other = methods.first(where: { $0.method == d.other }) else { return nil }
            return "\(m.label) vs \(other.label)"
        }
        let cpu = result.context.cpu.model
        var s = "**On this model and CPU (\(cpu)):** " + (parts.isEmpty ? "no method has accuracy figures" : parts.joined(separator: "; ")) + "."
        if !ties.isEmpty { s += " Not significant (adjusted p ≥ 0.05, paired bootstrap over documents): \(ties.joined(separator: "; "))." }
        if !collapsed.isEmpty { s += " Collapsed (listed, off the Pareto front): \(collapsed.joined(separator: ", "))." }
        return s + "\n\n"
    }

    func methodTable() -> ReportDocument {
        var s = ReportDocument()
        guard let methods = result.methods, !methods.isEmpty else { return s }
        let tasks = taskNames
        // Tasks left out of retention: those where the reference is not above chance.
        let notAveraged = tasks.filter { t in reference?.tasks.first { $0.task == t }.map { !AccuracyAnalysis.referenceIsAboveChance($0) } ?? false }
        s += headline()
        s += "## Methods: accuracy per byte\n\n"
        var table = ReportTable(columns: [("method", .left), ("bits/weight", .right), ("model bytes", .right), ("ppl [95% CI]", .right), ("ppl ratio", .right)]
            + tasks.map { ($0 + (notAveraged.contains($0) ? "*" : "") + " acc [95% CI]", .right) }
            + [("chance-adjusted retention [95% CI]", .right), ("vs reference", .right), ("verdict", .left)])
        for m in methods {
            let st = m.statistics
            let ppl = Self.large(m.ppl) + (st?.pplLow.map { lo in " [\(Self.large(lo)), \(Self.large(st?.pplHigh))]" } ?? "")
            let accuracies = tasks.map { t in
                guard let r = m.tasks.first(where: { $0.task == t }) else { return "—" }
                let ts = st?.tasks.first { $0.task == t }
                return String(format: "%.1f%%", r.acc * 100) + (ts.map { String(format: " [%.1f, %.1f]", $0.accLow * 100, $0.accHigh * 100) } ?? "")
            }
            let retention = st?.retention.map { r in
                String(format: "%.2f", r) + (st?.retentionLow.map { String(format: " [%.2f, %.2f]", $0, st?.retentionHigh ?? .nan) } ?? "")
            } ?? "—"
            let vsReference = st?.vsReference.map { d in
                String(format: "%+.2f, p_adj %.2g%@", d.difference, d.pAdjusted ?? d.p, d.significant ? " (significant)" : " (not significant)")
            } ?? (m.method == reference?.method ? "reference" : "—")
            let verdict = st?.collapsed == true ? "COLLAPSED: \(st?.collapseReason ?? "")" : m.method == reference?.method ? "—" : "usable"
            table.append([m.label, opt(m.bitsPerWeight, "%.2f"), m.modelBytes.map(Self.bytes) ?? "—", ppl,
                          Self.large(zip(m.ppl, reference?.ppl).map { $0 / $1 }, suffix: "×")]
                         + accuracies + [retention, vsReference, verdict])
        }
        s += table
        if !notAveraged.isEmpty {
            s += "\n\\* The reference is not above chance beyond its 95% interval on \(notAveraged.joined(separator: ", ")): reported, left out of retention and of the collapse rule (a score there measures noise, and the chance adjustment would divide by a headroom ≤ 0).\n"
        }
        let docs = tasks.compactMap { t in methods.first?.tasks.first { $0.task == t }.map { r in
            "\(t) \(r.docs)" + (r.chance.map { String(format: " (chance %.1f%%)", $0 * 100) } ?? "") } }
        if !docs.isEmpty {
            s += "\nDocuments per task (the same documents for every method): \(docs.joined(separator: ", ")). Accuracy by summed log-likelihood with Wilson 95% intervals; acc_norm in result.json. "
            s += "Chance-adjusted retention is the mean, over the tasks where the reference is above chance beyond its interval, of (acc − chance) / (reference acc − chance), with a paired bootstrap interval over documents (2000 resamples); 1 = no loss, 0 = chance. "
            s += "\"vs reference\" is retention − 1 with its Benjamini–Hochberg adjusted bootstrap p-value. A model is collapsed when its perplexity exceeds the vocabulary size or no such task is above chance beyond its interval.\n"
        }
        if let t = reference?.tokensScored {
            s += "Perplexity tokens scored: \(t)\(reference?.pplWindowNLL.map { ", in \($0.count) windows (interval: bootstrap over windows)" } ?? "").\n"
        }
        s += significanceTable()
        s += speedTable()
        let follows = methods.compactMap { m in m.follows.map { "- \(Self.cell(m.label)): \(Self.cell($0))" } }
        if !follows.isEmpty { s += "\n### What each method follows\n\n" + follows.joined(separator: "\n") + "\n" }
        let notes = methods.flatMap { m in m.notes.map { "- \(Self.cell(m.label)): \(Self.cell($0))" } }
        if !notes.isEmpty { s += "\n### Notes\n\n" + notes.joined(separator: "\n") + "\n" }
        s += "\n"
        return s
    }

    /// Adjacent methods in the retention ranking: the difference, its interval, and the
    /// per-task McNemar tests, all Benjamini–Hochberg adjusted.
    func significanceTable() -> ReportDocument {
        var s = ReportDocument()
        guard let methods = result.methods else { return s }
        let pairs = methods.compactMap { m -> (MethodResult, MethodResult, RetentionDifference)? in
            guard let d = m.statistics?.vsNext, let o = methods.first(where: { $0.method == d.other }) else { return nil }
            return (m, o, d)
        }.sorted { ($0.0.statistics?.retention ?? 0) > ($1.0.statistics?.retention ?? 0) }
        guard !pairs.isEmpty else { return s }
        s += "\n### Which differences are significant (neighbours in the retention ranking)\n\n"
        s += ReportTable(columns: [("method", .left), ("next below", .left), ("Δ retention [95% CI]", .right), ("p_adj", .right),
                                   ("per-task McNemar (only this / only next right, p_adj)", .left), ("verdict", .left)],
                         rows: pairs.map { m, o, d in
            let mc = (m.statistics?.mcNemarVsNext ?? []).map { String(format: "%@ %d/%d %.2g", $0.task, $0.onlyThis, $0.onlyOther, $0.pAdjusted ?? $0.p) }
            return [m.label, o.label, String(format: "%+.3f [%+.3f, %+.3f]", d.difference, d.low, d.high), String(format: "%.2g", d.pAdjusted ?? d.p),
                    mc.joined(separator: "; "), d.significant ? "different" : "not distinguishable"]
        })
        return s
    }

    func speedTable() -> ReportDocument {
        var s = ReportDocument()
        guard let methods = result.methods, methods.contains(where: { $0.decodeTokensPerSecond != nil || $0.quantizeSeconds != nil }) else { return s }
        s += "\n### Speed and memory\n\n"
        s += ReportTable(columns: [("method", .left), ("held by the runtime", .right), ("prefill tok/s", .right), ("decode tok/s", .right),
                                   ("quantize s", .right), ("runtime", .left)],
                         rows: methods.map { m in
            [m.label, m.heldBytes.map(Self.bytes) ?? "—", opt(m.prefillTokensPerSecond, "%.0f"), opt(m.decodeTokensPerSecond, "%.1f"),
             opt(m.quantizeSeconds, "%.1f"), m.runtime]
        })
        return s
    }

    /// Any string that came from an input (method labels, notes) as Markdown text outside a table
    /// (a `ReportTable` escapes its own cells).
    static func cell(_ s: String) -> String { TextEscaping.markdown(s) }

    func kernelTable() -> ReportDocument {
        var s = ReportDocument()
        guard let ks = result.kernels, !ks.isEmpty else { return s }
        s += "## Kernels\n\n"
        s += ReportTable(columns: [("variant", .left), ("format", .left), ("shape", .left), ("tokens", .right), ("threads", .right), ("cache", .left),
                                   ("median µs", .right), ("95% CI µs", .right), ("G weights/s", .right), ("GB/s", .right), ("% roofline", .right),
                                   ("counters per call", .left)],
                         rows: ks.map { k in
            var counters = k.counters.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.3g", $0.value))" }
            if let ir = k.simulatedInstructions { counters.append("Ir(simulated)=\(String(format: "%.4g", ir))") }
            return [k.variant, "\(k.format)", k.shape, "\(k.tokens)", "\(k.threads)", k.cold ? "cold" : "warm", f1(k.medianSeconds * 1e6),
                    "[\(f1(k.ciLowSeconds * 1e6)), \(f1(k.ciHighSeconds * 1e6))]", f1(k.gweightsPerSecond), f1(k.gbytesPerSecond),
                    opt(k.rooflineFraction.map { $0 * 100 }, "%.0f%%"), counters.isEmpty ? "—" : counters.joined(separator: ", ")]
        })
        s += "\n"
        return s
    }

    /// What counted on this machine and through which backend, and why the rest did not: the
    /// kernel table's per-call counters come from the counted ones.
    func counterTable() -> ReportDocument {
        let c = result.context
        var s = ReportDocument()
        guard !c.events.isEmpty else { return s }
        let order = (c.counterBackends ?? [.papi]).map(\.rawValue).joined(separator: ", then ")
        s += "## Counters\n\nEach event was tried with \(order) (perf_event_paranoid \(c.perfEventParanoid.map(String.init) ?? "unreadable")"
        if let sources = c.perfEventSources { s += "; perf event sources: \(sources.isEmpty ? "none" : sources.joined(separator: ", "))" }
        s += "). An event that did not count has no number anywhere in this report.\n\n"
        s += ReportTable(columns: [("event", .left), ("counted", .left), ("backend", .left), ("why not (each backend tried)", .left)],
                         rows: c.events.map { e in
            let why = e.failures.map { "\($0.backend.rawValue): \($0.name) at \($0.step) (\($0.explanation))" }
            return [e.event, e.available ? "yes" : "no", e.backend?.rawValue ?? "—", e.available && why.isEmpty ? "—" : why.joined(separator: "; ")]
        })
        s += "\n"
        return s
    }

    func tuningTable() -> ReportDocument {
        var s = ReportDocument()
        guard let ts = result.tuning, !ts.isEmpty else { return s }
        s += "## Tuning\n\n"
        s += ReportTable(columns: [("shape", .left), ("tokens", .right), ("threads", .right), ("timed", .left), ("variant/format", .left),
                                   ("best configuration", .left), ("best µs", .right), ("default µs", .right), ("speedup", .right),
                                   ("evaluations", .right), ("seconds", .right)],
                         rows: ts.map { t in
            let cfg = t.best.map { $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") } ?? "—"
            let sp = zip(t.defaultMedianSeconds, t.bestMedianSeconds).map { $0 / $1 }
            return [t.shape, "\(t.tokens)", "\(t.threads)", t.cold == true ? "cold" : "warm", "\(t.variant)/\(t.format)", cfg,
                    opt(t.bestMedianSeconds.map { $0 * 1e6 }, "%.1f"), opt(t.defaultMedianSeconds.map { $0 * 1e6 }, "%.1f"), opt(sp, "%.2f×"),
                    "\(t.evaluations)", f1(t.seconds)]
        })
        s += "\n"
        return s
    }

    // MARK: HTML

    public func html() -> String {
        var body = ""
        body += "<h1>TritBench run \(esc(result.runID))</h1>"
        body += "<p>\(esc(result.context.cpu.model)) · \(result.context.cpu.logicalCores) cores · \(result.context.cpu.virtualized ? "virtualised" : "bare metal") · Swift \(esc(result.context.build.swiftVersion)) \(esc(result.context.build.configuration)) · revision \(esc(String(result.context.build.gitRevision.prefix(12))))</p>"
        body += "<ul>" + (result.notes + (result.limits ?? []).map { "Limit applied: \($0)" }).map { "<li>\(esc($0))</li>" }.joined() + "</ul>"
        body += "<div class=\"plots\">" + plots().joined(separator: "\n") + "</div>"
        body += document().html()
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>TritBench \(esc(result.runID))</title>
        <style>body{font-family:sans-serif;margin:24px;max-width:1400px}table{border-collapse:collapse;margin:12px 0;font-size:13px}
        td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}th{background:#f3f3f3}
        .plots{display:flex;flex-wrap:wrap;gap:16px}.plots svg{border:1px solid #ddd}</style></head>
        <body>\(body)</body></html>

        """
    }

    /// The four plots: retention vs bits/weight (Pareto front), decode tok/s vs retention, the
    /// tuning landscape heatmaps, and the roofline with each kernel's point.
    public func plots() -> [String] {
        var out: [String] = []
        if let methods = result.methods, reference != nil {
            var c = SVGScatterChart(title: "Chance-adjusted retention vs bits per weight", xLabel: "bits per weight (log scale)",
                                    yLabel: "chance-adjusted retention (1 = reference, 0 = chance)", logX: true)
            let pts = methods.compactMap { m -> (m: MethodResult, x: Double, y: Double)? in
                guard let b = m.bitsPerWeight, let r = m.statistics?.retention else { return nil }
                return (m, b, r)
            }
            // The front runs through the models that did not collapse; collapsed ones are drawn hollow.
            let usable = pts.indices.filter { pts[$0].m.statistics?.collapsed != true }
            let front = Set(Self.paretoFront(usable.map { (pts[$0].x, pts[$0].y) }).map { usable[$0] })
            c.points = pts.enumerated().map { i, p in
                .init(x: p.x, y: p.y, label: p.m.label + (p.m.statistics?.collapsed == true ? " (collapsed)" : ""),
                      highlighted: front.contains(i),
                      yInterval: p.m.statistics.flatMap { st in st.retentionLow.map { ($0, st.retentionHigh ?? $0) } },
                      hollow: p.m.statistics?.collapsed == true)
            }
            c.lines = [.init(points: front.map { (pts[$0].x, pts[$0].y) }.sorted { $0.0 < $1.0 }, label: "Pareto front (not collapsed)", dashed: true)]
            out.append(c.render())
            var d = SVGScatterChart(title: "Decode speed vs chance-adjusted retention", xLabel: "chance-adjusted retention",
                                    yLabel: "decode tokens/s")
            d.points = methods.compactMap { m in
                guard let r = m.statistics?.retention, let t = m.decodeTokensPerSecond else { return nil }
                return .init(x: r, y: t, label: m.label,
                             xInterval: m.statistics.flatMap { st in st.retentionLow.map { ($0, st.retentionHigh ?? $0) } },
                             hollow: m.statistics?.collapsed == true)
            }
            out.append(d.render())
        }
        let trained = (result.methods ?? []).filter { !($0.learningCurve ?? []).isEmpty }
        if !trained.isEmpty {
            var c = SVGScatterChart(title: "Learning curves: held-out perplexity while training", xLabel: "training tokens",
                                    yLabel: "held-out perplexity (log scale)", logY: true)
            c.lines = trained.map { m in .init(points: m.learningCurve!.map { (Double($0.tokens), $0.perplexity) }, label: m.label) }
            c.points = trained.flatMap { m in m.learningCurve!.map {
                .init(x: Double($0.tokens), y: $0.perplexity,
                      label: String(format: "%@: %d tokens, ppl %.4g, deadzone %.1f%%", m.label, $0.tokens, $0.perplexity, $0.deadzoneFraction * 100),
                      series: m.label)
            } }
            c.labelPoints = false
            out.append(c.render())
        }
        var heatmaps: [String] = []
        // One heatmap per (shape, tokens, threads): the landscape of the variant/format that won there.
        var winners: [String: TuningLandscape] = [:]
        for t in result.tuning ?? [] {
            let k = "\(t.shape)|\(t.tokens)|\(t.threads)"
            if let b = t.bestMedianSeconds, b < (winners[k]?.bestMedianSeconds ?? .infinity) { winners[k] = t }
        }
        let ordered = (result.tuning ?? []).compactMap { t -> TuningLandscape? in
            let k = "\(t.shape)|\(t.tokens)|\(t.threads)"
            return winners[k].map { $0.variant == t.variant && $0.format == t.format ? t : nil } ?? nil
        }
        for t in ordered {
            // Axes: the first two varying parameters in order of preference (tile parameters first).
            let preference = ["rowBlock", "int16Depth", "tokenBlock", "lutGroup", "prefetchBytes"]
            let keys = Set(t.points.flatMap { $0.configuration.keys })
            let varying = (preference + keys.sorted()).filter { k in keys.contains(k) && Set(t.points.compactMap { $0.configuration[k] }).count > 1 }
            var axes: [String] = []
            for k in varying where !axes.contains(k) { axes.append(k) }
            guard let xk = axes.first else { continue }
            let yk = axes.count > 1 ? axes[1] : xk
            var cells: [[Int]: Double] = [:]
            for p in t.points {
                guard let x = p.configuration[xk], let y = p.configuration[yk] else { continue }
                if let m = p.medianSeconds, !p.failed { cells[[x, y]] = min(cells[[x, y]] ?? .infinity, m * 1e6) }
                else if cells[[x, y]] == nil { cells[[x, y]] = .nan }
            }
            heatmaps.append(SVGHeatmap(title: "Tuning \(t.shape) tokens=\(t.tokens) threads=\(t.threads): \(t.variant)/\(t.format) (fastest)",
                                       xName: xk, yName: yk, cells: cells).render())
        }
        if let r = result.roofline, let ks = result.kernels, !ks.isEmpty {
            var c = SVGScatterChart(title: "Roofline: kernels vs measured limits", xLabel: "arithmetic intensity (int8 MAC per byte of packed weights)",
                                    yLabel: "G MAC/s", logX: true, logY: true)
            let peak = r.bestInt8Peak.gMACsPerSecond
            let intensities = ks.map { Double($0.rows * $0.cols * $0.tokens) / Double(max($0.weightBytes, 1)) }
            let lo = max((intensities.min() ?? 1) / 4, 0.05), hi = max((intensities.max() ?? 1) * 4, lo * 10)
            for (level, dashed) in [("DRAM", false), ("L2", true)] {
                if let bw = r.gbPerSecond(level: level, threads: 1) {
                    let knee = peak / bw
                    let xsLine = [lo, min(max(knee, lo), hi), hi]
                    c.lines.append(.init(points: xsLine.map { ($0, min(bw * $0, peak)) }, label: "\(level) read \(f1(bw)) GB/s, 1 thread", dashed: dashed))
                }
            }
            c.labelPoints = false
            c.points = zip(ks, intensities).map { k, i in
                .init(x: i, y: Double(k.rows * k.cols * k.tokens) / k.medianSeconds / 1e9,
                      label: "\(k.variant)/\(k.format) \(k.shape) tokens \(k.tokens), threads \(k.threads)",
                      series: "\(k.variant)/\(k.format)")
            }
            c.lines.append(.init(points: [(lo, peak), (hi, peak)], label: String(format: "int8 peak %.0f G MAC/s, 1 core (%@)", peak, r.bestInt8Peak.loop), dashed: true))
            out.append(c.render())
        }
        return out + heatmaps
    }

    /// Indices of the points no other point dominates (higher-or-equal y at lower-or-equal x, one strictly).
    public static func paretoFront(_ pts: [(x: Double, y: Double)]) -> Set<Int> {
        var front = Set<Int>()
        for (i, p) in pts.enumerated() {
            let dominated = pts.enumerated().contains { j, q in j != i && q.x <= p.x && q.y >= p.y && (q.x < p.x || q.y > p.y) }
            if !dominated { front.insert(i) }
        }
        return front
    }

    /// Two decimals for ordinary values, three significant digits in exponent form for the
    /// perplexities of collapsed models (1.1e+08), so columns stay readable.
    static func large(_ v: Double?, suffix: String = "") -> String {
        guard let v else { return "—" }
        return (abs(v) >= 1e4 ? String(format: "%.2e", v) : String(format: "%.2f", v)) + suffix
    }

    static func bytes(_ b: Int) -> String {
        b >= 1 << 20 ? String(format: "%.1f MiB", Double(b) / 1048576) : String(format: "%.1f KiB", Double(b) / 1024)
    }
}

/// The run report in order, as Markdown prose and tables: `ReportWriter.markdown()` and
/// `html()` both render it, so each table's cells are written once and the HTML never has to
/// split Markdown rows back into cells.
struct ReportDocument {
    enum Part {
        case prose(String)
        case table(ReportTable)
    }
    private(set) var parts: [Part] = []

    /// Prose joins the prose before it, so a list or paragraph written in pieces stays one.
    static func += (document: inout ReportDocument, prose: String) {
        if case .prose(let before)? = document.parts.last {
            document.parts[document.parts.count - 1] = .prose(before + prose)
        } else {
            document.parts.append(.prose(prose))
        }
    }

    static func += (document: inout ReportDocument, table: ReportTable) { document.parts.append(.table(table)) }

    static func += (document: inout ReportDocument, other: ReportDocument) {
        for part in other.parts {
            switch part {
            case .prose(let text): document += text
            case .table(let table): document += table
            }
        }
    }

    func markdown() -> String {
        parts.map { part in
            switch part {
            case .prose(let text): text
            case .table(let table): table.markdown()
            }
        }.joined()
    }

    /// The prose as HTML headings, paragraphs and lists, each table as an HTML table. The run's
    /// title and its own notes (the list before the first section) are left out:
    /// `ReportWriter.html()` writes them in its header.
    func html() -> String {
        var html = ""
        var inList = false, inSections = false
        func closeList() { if inList { html += "</ul>"; inList = false } }
        for part in parts {
            switch part {
            case .table(let table):
                closeList()
                html += table.html()
            case .prose(let text):
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                    // Lists inside sections (methods' notes); the run's own notes above them are in `ReportWriter.html()`'s header.
                    if inSections && line.hasPrefix("- ") {
                        if !inList { html += "<ul>"; inList = true }
                        html += "<li>\(esc(String(line.dropFirst(2))))</li>"
                        continue
                    }
                    closeList()
                    if line.hasPrefix("## ") { inSections = true; html += "<h2>\(esc(String(line.dropFirst(3))))</h2>" }
                    else if !line.isEmpty && !line.hasPrefix("# ") && !line.hasPrefix("- ") { html += "<p>\(esc(String(line)))</p>" }
                }
            }
        }
        closeList()
        return html
    }
}

private func f1(_ v: Double) -> String { String(format: "%.1f", v) }
private func opt(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "—" }
private func zip(_ a: Double?, _ b: Double?) -> (Double, Double)? { if let a, let b { return (a, b) }; return nil }
