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

    public func markdown() -> String {
        var s = "# TritBench run \(result.runID)\n\n"
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
            s += "## Roofline (measured in this run)\n\n| level | threads | GB/s (median) | 95% CI |\n|---|---|---|---|\n"
            for p in r.bandwidth { s += "| \(p.level) | \(p.threads) | \(f1(p.gbPerSecond)) | [\(f1(p.gbPerSecondCILow)), \(f1(p.gbPerSecondCIHigh))] |\n" }
            s += "\nPlain streaming loop: \(f1(r.plainStreamLoop.gbPerSecond)) GB/s. Int8 peak (\(r.peakInt8.loop)): \(f1(r.peakInt8.gMACsPerSecond)) G MAC/s per core\(r.peakInt8VNNI.map { "; \($0.loop): \(f1($0.gMACsPerSecond)) G MAC/s" } ?? "").\n\n"
        }
        s += "Stages: " + result.stages.map { "\($0.name) \(String(format: "%.1f", $0.seconds)) s\($0.reused ? " (reused)" : "")" }.joined(separator: ", ") + "\n"
        return s
    }

    func methodTable() -> String {
        guard let methods = result.methods, !methods.isEmpty else { return "" }
        let tasks = taskNames
        var s = "## Methods: accuracy per byte\n\n| method | bits/weight | model bytes | held by the runtime | ppl | ppl ratio | "
        s += tasks.map { $0 + (MethodResult.excludedFromAverage.contains($0) ? "*" : "") }.joined(separator: " | ")
        s += (tasks.isEmpty ? "" : " | ") + "avg acc | retention | prefill tok/s | decode tok/s | quantize s | runtime |\n"
        s += "|" + String(repeating: "---|", count: 12 + tasks.count) + "\n"
        for m in methods {
            var row = "| \(m.label) | \(opt(m.bitsPerWeight, "%.2f")) | \(m.modelBytes.map(Self.bytes) ?? "—") | "
            row += "\(m.heldBytes.map(Self.bytes) ?? "—") | \(Self.large(m.ppl)) | "
            row += Self.large(zip(m.ppl, reference?.ppl).map { $0 / $1 }, suffix: "×") + " | "
            row += tasks.map { t in m.tasks.first { $0.task == t }.map { String(format: "%.1f%%", $0.acc * 100) } ?? "—" }.joined(separator: " | ")
            row += (tasks.isEmpty ? "" : " | ") + opt(m.averageAccuracy.map { $0 * 100 }, "%.1f%%") + " | "
            row += opt(reference.flatMap { m.retention(reference: $0) }.map { $0 * 100 }, "%.1f%%") + " | "
            row += "\(opt(m.prefillTokensPerSecond, "%.0f")) | \(opt(m.decodeTokensPerSecond, "%.1f")) | \(opt(m.quantizeSeconds, "%.1f")) | \(m.runtime) |\n"
            s += row
        }
        if tasks.contains(where: MethodResult.excludedFromAverage.contains) {
            s += "\n\\* WinoGrande is at chance level for a model this small: reported, left out of averages and retention.\n"
        }
        let docs = tasks.compactMap { t in methods.first?.tasks.first { $0.task == t }.map { "\(t) \($0.docs)" } }
        if !docs.isEmpty { s += "\nDocuments per task: \(docs.joined(separator: ", ")). Accuracy by summed log-likelihood; acc_norm in result.json.\n" }
        if let t = reference?.tokensScored { s += "Perplexity tokens scored: \(t).\n" }
        let notes = methods.flatMap { m in m.notes.map { "- \(m.label): \($0)" } }
        if !notes.isEmpty { s += "\n" + notes.joined(separator: "\n") + "\n" }
        return s + "\n"
    }

    func kernelTable() -> String {
        guard let ks = result.kernels, !ks.isEmpty else { return "" }
        var s = "## Kernels\n\n| variant | format | shape | tokens | threads | cache | median µs | 95% CI µs | G weights/s | GB/s | % roofline | counters per call |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for k in ks {
            var counters = k.counters.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.3g", $0.value))" }
            if let ir = k.simulatedInstructions { counters.append("Ir(simulated)=\(String(format: "%.4g", ir))") }
            s += "| \(k.variant) | \(k.format) | \(k.shape) | \(k.tokens) | \(k.threads) | \(k.cold ? "cold" : "warm") | \(f1(k.medianSeconds * 1e6)) | [\(f1(k.ciLowSeconds * 1e6)), \(f1(k.ciHighSeconds * 1e6))] | \(f1(k.gweightsPerSecond)) | \(f1(k.gbytesPerSecond)) | \(opt(k.rooflineFraction.map { $0 * 100 }, "%.0f%%")) | \(counters.isEmpty ? "—" : counters.joined(separator: ", ")) |\n"
        }
        return s + "\n"
    }

    /// What counted on this machine and through which backend, and why the rest did not: the
    /// kernel table's per-call counters come from the counted ones.
    func counterTable() -> String {
        let c = result.context
        guard !c.events.isEmpty else { return "" }
        let order = (c.counterBackends ?? [.papi]).map(\.rawValue).joined(separator: ", then ")
        var s = "## Counters\n\nEach event was tried with \(order) (perf_event_paranoid \(c.perfEventParanoid.map(String.init) ?? "unreadable")"
        if let sources = c.perfEventSources { s += "; perf event sources: \(sources.isEmpty ? "none" : sources.joined(separator: ", "))" }
        s += "). An event that did not count has no number anywhere in this report.\n\n| event | counted | backend | why not (each backend tried) |\n|---|---|---|---|\n"
        for e in c.events {
            let why = e.failures.map { "\($0.backend.rawValue): \($0.name) at \($0.step) (\($0.explanation))" }
            s += "| \(e.event) | \(e.available ? "yes" : "no") | \(e.backend?.rawValue ?? "—") | \(e.available && why.isEmpty ? "—" : why.joined(separator: "; ").replacingOccurrences(of: "|", with: "\\|")) |\n"
        }
        return s + "\n"
    }

    func tuningTable() -> String {
        guard let ts = result.tuning, !ts.isEmpty else { return "" }
        var s = "## Tuning\n\n| shape | tokens | threads | timed | variant/format | best configuration | best µs | default µs | speedup | evaluations | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
        for t in ts {
            let cfg = t.best.map { $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") } ?? "—"
            let sp = zip(t.defaultMedianSeconds, t.bestMedianSeconds).map { $0 / $1 }
            s += "| \(t.shape) | \(t.tokens) | \(t.threads) | \(t.cold == true ? "cold" : "warm") | \(t.variant)/\(t.format) | \(cfg) | \(opt(t.bestMedianSeconds.map { $0 * 1e6 }, "%.1f")) | \(opt(t.defaultMedianSeconds.map { $0 * 1e6 }, "%.1f")) | \(opt(sp, "%.2f×")) | \(t.evaluations) | \(f1(t.seconds)) |\n"
        }
        return s + "\n"
    }

    // MARK: HTML

    public func html() -> String {
        var body = ""
        body += "<h1>TritBench run \(esc(result.runID))</h1>"
        body += "<p>\(esc(result.context.cpu.model)) · \(result.context.cpu.logicalCores) cores · \(result.context.cpu.virtualized ? "virtualised" : "bare metal") · Swift \(esc(result.context.build.swiftVersion)) \(esc(result.context.build.configuration)) · revision \(esc(String(result.context.build.gitRevision.prefix(12))))</p>"
        body += "<ul>" + (result.notes + (result.limits ?? []).map { "Limit applied: \($0)" }).map { "<li>\(esc($0))</li>" }.joined() + "</ul>"
        body += "<div class=\"plots\">" + plots().joined(separator: "\n") + "</div>"
        body += markdownTablesAsHTML()
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>TritBench \(esc(result.runID))</title>
        <style>body{font-family:sans-serif;margin:24px;max-width:1400px}table{border-collapse:collapse;margin:12px 0;font-size:13px}
        td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}
        .plots{display:flex;flex-wrap:wrap;gap:16px}.plots svg{border:1px solid #ddd}</style></head>
        <body>\(body)</body></html>

        """
    }

    /// The four plots: retention vs bits/weight (Pareto front), decode tok/s vs retention, the
    /// tuning landscape heatmaps, and the roofline with each kernel's point.
    public func plots() -> [String] {
        var out: [String] = []
        if let methods = result.methods, let ref = reference {
            var c = SVGScatterChart(title: "Accuracy retention vs bits per weight", xLabel: "bits per weight (log scale)",
                                    yLabel: "retention (% of reference accuracy)", logX: true)
            let pts = methods.compactMap { m -> (String, Double, Double)? in
                guard let b = m.bitsPerWeight, let r = m.retention(reference: ref) else { return nil }
                return (m.label, b, r * 100)
            }
            let front = Self.paretoFront(pts.map { ($0.1, $0.2) })
            c.points = pts.enumerated().map { .init(x: $1.1, y: $1.2, label: $1.0, highlighted: front.contains($0)) }
            c.lines = [.init(points: front.map { (pts[$0].1, pts[$0].2) }.sorted { $0.0 < $1.0 }, label: "Pareto front", dashed: true)]
            out.append(c.render())
            var d = SVGScatterChart(title: "Decode speed vs retention", xLabel: "retention (%)", yLabel: "decode tokens/s")
            d.points = methods.compactMap { m in
                guard let r = m.retention(reference: ref), let t = m.decodeTokensPerSecond else { return nil }
                return .init(x: r * 100, y: t, label: m.label)
            }
            out.append(d.render())
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

    /// The Markdown tables rendered as HTML tables (the same numbers, one source).
    func markdownTablesAsHTML() -> String {
        var html = ""
        var inTable = false, inList = false, inSections = false
        for line in markdown().split(separator: "\n", omittingEmptySubsequences: false) {
            // Lists inside sections (methods' notes); the run's own notes above them are in `html()`'s header.
            if inSections && line.hasPrefix("- ") {
                if !inList { html += "<ul>"; inList = true }
                html += "<li>\(esc(String(line.dropFirst(2))))</li>"
                continue
            }
            if inList { html += "</ul>"; inList = false }
            if line.hasPrefix("## ") { inSections = true }
            if line.hasPrefix("|") {
                let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { $0.trimmingCharacters(in: .whitespaces) }
                if cells.allSatisfy({ $0.allSatisfy { $0 == "-" } }) { continue }
                if !inTable { html += "<table><tr>" + cells.map { "<th>\(esc($0))</th>" }.joined() + "</tr>"; inTable = true; continue }
                html += "<tr>" + cells.map { "<td>\(esc($0))</td>" }.joined() + "</tr>"
            } else {
                if inTable { html += "</table>"; inTable = false }
                if line.hasPrefix("## ") { html += "<h2>\(esc(String(line.dropFirst(3))))</h2>" }
                else if !line.isEmpty && !line.hasPrefix("# ") && !line.hasPrefix("- ") { html += "<p>\(esc(String(line)))</p>" }
            }
        }
        if inTable { html += "</table>" }
        if inList { html += "</ul>" }
        return html
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

private func f1(_ v: Double) -> String { String(format: "%.1f", v) }
private func opt(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "—" }
private func zip(_ a: Double?, _ b: Double?) -> (Double, Double)? { if let a, let b { return (a, b) }; return nil }
