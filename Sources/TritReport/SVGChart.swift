import Foundation

/// A small scatter/line chart rendered to inline SVG (no scripts, no network), for report.html.
///
/// One job: map data to pixels with axes, ticks and labels. Log axes for quantities that span
/// decades (throughput, arithmetic intensity).
public struct SVGScatterChart {
    public struct Point { public var x: Double; public var y: Double; public var label: String; public var highlighted: Bool
        /// Points of one series share a colour and a legend entry (nil: the default colour).
        public var series: String?
        /// A 95% interval on y (or x), drawn as an error bar.
        public var yInterval: (low: Double, high: Double)?
        public var xInterval: (low: Double, high: Double)?
        /// Drawn hollow (e.g. a collapsed model, listed but off the front).
        public var hollow = false
        public init(x: Double, y: Double, label: String, highlighted: Bool = false, series: String? = nil,
                    yInterval: (low: Double, high: Double)? = nil, xInterval: (low: Double, high: Double)? = nil,
                    hollow: Bool = false) {
            self.x = x; self.y = y; self.label = label; self.highlighted = highlighted; self.series = series
            self.yInterval = yInterval; self.xInterval = xInterval; self.hollow = hollow } }
    public struct Line { public var points: [(Double, Double)]; public var label: String; public var dashed: Bool
        public init(points: [(Double, Double)], label: String, dashed: Bool = false) { self.points = points; self.label = label; self.dashed = dashed } }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logX = false
    public var logY = false
    public var points: [Point] = []
    public var lines: [Line] = []
    public var width = 640.0
    public var height = 400.0
    /// Write each point's label beside it (off for dense charts: labels stay in the tooltip).
    public var labelPoints = true

    public init(title: String, xLabel: String, yLabel: String, logX: Bool = false, logY: Bool = false) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.logX = logX; self.logY = logY
    }

    public func render() -> String {
        let left = 70.0, right = 20.0, top = 36.0, bottom = 50.0
        let pw = width - left - right, ph = height - top - bottom
        let xs = points.map(\.x) + points.flatMap { [$0.xInterval?.low, $0.xInterval?.high].compactMap { $0 } }
            + lines.flatMap { $0.points.map(\.0) }
        let ys = points.map(\.y) + points.flatMap { [$0.yInterval?.low, $0.yInterval?.high].compactMap { $0 } }
            + lines.flatMap { $0.points.map(\.1) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        svg += "<text x=\"\(width / 2)\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(esc(title))</text>"
        guard let xr = range(xs, log: logX), let yr = range(ys, log: logY) else {
            return svg + "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\">no data</text></svg>"
        }
        func tx(_ v: Double) -> Double { left + (map(v, logX) - xr.0) / (xr.1 - xr.0) * pw }
        func ty(_ v: Double) -> Double { top + ph - (map(v, logY) - yr.0) / (yr.1 - yr.0) * ph }
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#888\"/>"
        for t in ticks(xr, log: logX) {
            let x = tx(t)
            svg += "<line x1=\"\(f(x))\" y1=\"\(top + ph)\" x2=\"\(f(x))\" y2=\"\(top)\" stroke=\"#eee\"/><text x=\"\(f(x))\" y=\"\(top + ph + 15)\" text-anchor=\"middle\">\(fmt(t))</text>"
        }
        for t in ticks(yr, log: logY) {
            let y = ty(t)
            svg += "<line x1=\"\(left)\" y1=\"\(f(y))\" x2=\"\(left + pw)\" y2=\"\(f(y))\" stroke=\"#eee\"/><text x=\"\(left - 6)\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(fmt(t))</text>"
        }
        svg += "<text x=\"\(left + pw / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\">\(esc(xLabel))</text>"
        svg += "<text transform=\"translate(16,\(top + ph / 2)) rotate(-90)\" text-anchor=\"middle\">\(esc(yLabel))</text>"
        let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
        for (i, l) in lines.enumerated() where !l.points.isEmpty {
            let c = palette[i % palette.count]
            let d = l.points.map { "\(f(tx($0.0))),\(f(ty($0.1)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(d)\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"1.5\"\(l.dashed ? " stroke-dasharray=\"5,4\"" : "")/>"
            let dash = " stroke-dasharray=\"5,4\""
            // Line labels stacked in the top-left corner, one row each, so they never overlap.
            svg += "<line x1=\"\(left + 8)\" y1=\"\(top + 12 + 14 * Double(i))\" x2=\"\(left + 26)\" y2=\"\(top + 12 + 14 * Double(i))\" stroke=\"\(c)\"\(l.dashed ? dash : "")/>"
            svg += "<text x=\"\(left + 30)\" y=\"\(top + 16 + 14 * Double(i))\" fill=\"\(c)\">\(esc(l.label))</text>"
        }
        let seriesNames = points.compactMap(\.series).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let seriesColours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
        for p in points {
            let x = tx(p.x), y = ty(p.y)
            let colour = p.highlighted ? "#d62728" : p.series.flatMap { s in seriesNames.firstIndex(of: s).map { seriesColours[$0 % seriesColours.count] } } ?? "#1f77b4"
            if let i = p.yInterval, i.low.isFinite, i.high.isFinite {
                let (a, b) = (ty(i.low), ty(i.high))
                svg += "<line x1=\"\(f(x))\" y1=\"\(f(a))\" x2=\"\(f(x))\" y2=\"\(f(b))\" stroke=\"\(colour)\"/>"
                svg += "<line x1=\"\(f(x - 3))\" y1=\"\(f(a))\" x2=\"\(f(x + 3))\" y2=\"\(f(a))\" stroke=\"\(colour)\"/><line x1=\"\(f(x - 3))\" y1=\"\(f(b))\" x2=\"\(f(x + 3))\" y2=\"\(f(b))\" stroke=\"\(colour)\"/>"
            }
            if let i = p.xInterval, i.low.isFinite, i.high.isFinite {
                let (a, b) = (tx(i.low), tx(i.high))
                svg += "<line x1=\"\(f(a))\" y1=\"\(f(y))\" x2=\"\(f(b))\" y2=\"\(f(y))\" stroke=\"\(colour)\"/>"
                svg += "<line x1=\"\(f(a))\" y1=\"\(f(y - 3))\" x2=\"\(f(a))\" y2=\"\(f(y + 3))\" stroke=\"\(colour)\"/><line x1=\"\(f(b))\" y1=\"\(f(y - 3))\" x2=\"\(f(b))\" y2=\"\(f(y + 3))\" stroke=\"\(colour)\"/>"
            }
            svg += "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"\(p.highlighted ? 5 : 3.5)\" fill=\"\(p.hollow ? "white" : colour)\" stroke=\"\(p.hollow ? colour : "black")\" stroke-width=\"\(p.hollow ? 1.5 : 0.5)\"><title>\(esc(p.label))</title></circle>"
            if labelPoints {
                // Labels near the right edge grow leftwards so they stay inside the chart.
                let leftward = x > left + pw * 0.7
                let anchor = leftward ? " text-anchor=\"end\"" : ""
                svg += "<text x=\"\(f(leftward ? x - 6 : x + 6))\" y=\"\(f(y - 4))\" font-size=\"10\"\(anchor)>\(esc(p.label))</text>"
            }
        }
        for (i, name) in seriesNames.enumerated() {
            let y = top + ph - 10 - 14 * Double(seriesNames.count - 1 - i)
            svg += "<circle cx=\"\(left + pw - 120)\" cy=\"\(f(y - 4))\" r=\"3.5\" fill=\"\(seriesColours[i % seriesColours.count])\"/><text x=\"\(left + pw - 112)\" y=\"\(f(y))\">\(esc(name))</text>"
        }
        return svg + "</svg>"
    }

    func map(_ v: Double, _ log: Bool) -> Double { log ? Foundation.log10(max(v, 1e-300)) : v }

    func range(_ vs: [Double], log: Bool) -> (Double, Double)? {
        let m = vs.filter { $0.isFinite && (!log || $0 > 0) }.map { map($0, log) }
        guard var lo = m.min(), var hi = m.max() else { return nil }
        if hi - lo < 1e-12 { lo -= log ? 0.5 : max(abs(lo) * 0.1, 1e-9); hi += log ? 0.5 : max(abs(hi) * 0.1, 1e-9) }
        let pad = (hi - lo) * 0.08
        return (lo - pad, hi + pad)
    }

    func ticks(_ r: (Double, Double), log: Bool) -> [Double] {
        if log {
            return (Int(r.0.rounded(.up))...max(Int(r.0.rounded(.up)), Int(r.1.rounded(.down)))).map { pow(10, Double($0)) }
        }
        let span = r.1 - r.0
        let step0 = pow(10, (Foundation.log10(span / 5)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * step0 }.first { span / $0 <= 6 } ?? step0 * 10
        var t = (r.0 / step).rounded(.up) * step
        var out: [Double] = []
        while t <= r.1 + 1e-12 { out.append(t); t += step }
        return out
    }

    func f(_ v: Double) -> String { String(format: "%.1f", v) }
    func fmt(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e4 || a < 1e-2 { return String(format: "%.0e", v) }
        return a >= 10 ? String(format: "%.0f", v) : String(format: "%.2g", v)
    }
}

/// A heatmap over two integer parameters, cells coloured by value (lower = better = darker green).
public struct SVGHeatmap {
    public var title: String
    public var xName: String
    public var yName: String
    /// (x, y) → value in µs; missing cells are drawn grey ("not measured / failed").
    public var cells: [[Int]: Double]

    public init(title: String, xName: String, yName: String, cells: [[Int]: Double]) {
        self.title = title; self.xName = xName; self.yName = yName; self.cells = cells
    }

    public func render() -> String {
        let xsv = Array(Set(cells.keys.map { $0[0] })).sorted(), ysv = Array(Set(cells.keys.map { $0[1] })).sorted()
        let cw = 64.0, ch = 26.0, left = 90.0, top = 40.0
        let width = max(left + cw * Double(max(xsv.count, 1)) + 20, Double(title.count) * 7.5 + 16), height = top + ch * Double(max(ysv.count, 1)) + 46
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        svg += "<text x=\"8\" y=\"18\" font-size=\"13\" font-weight=\"bold\">\(esc(title))</text>"
        let vals = cells.values.filter(\.isFinite)
        let lo = vals.min() ?? 0, hi = vals.max() ?? 1
        for (j, y) in ysv.enumerated() {
            svg += "<text x=\"\(left - 6)\" y=\"\(top + ch * Double(j) + 17)\" text-anchor=\"end\">\(y)</text>"
            for (i, x) in xsv.enumerated() {
                let px = left + cw * Double(i), py = top + ch * Double(j)
                if let v = cells[[x, y]], v.isFinite {
                    let t = hi > lo ? (v - lo) / (hi - lo) : 0
                    let r = Int(40 + 215 * t), g = Int(160 + 60 * (1 - t)), b = Int(60 + 40 * t)
                    svg += "<rect x=\"\(px)\" y=\"\(py)\" width=\"\(cw - 2)\" height=\"\(ch - 2)\" fill=\"rgb(\(r),\(g),\(b))\"><title>\(xName)=\(x) \(yName)=\(y): \(String(format: "%.2f", v)) µs</title></rect>"
                    svg += "<text x=\"\(px + cw / 2 - 1)\" y=\"\(py + 17)\" text-anchor=\"middle\">\(String(format: v < 100 ? "%.1f" : "%.0f", v))</text>"
                } else {
                    svg += "<rect x=\"\(px)\" y=\"\(py)\" width=\"\(cw - 2)\" height=\"\(ch - 2)\" fill=\"#ccc\"/>"
                }
            }
        }
        for (i, x) in xsv.enumerated() {
            svg += "<text x=\"\(left + cw * Double(i) + cw / 2 - 1)\" y=\"\(top + ch * Double(ysv.count) + 14)\" text-anchor=\"middle\">\(x)</text>"
        }
        svg += "<text x=\"\(left + cw * Double(xsv.count) / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\">\(esc(xName)) (cells: best µs over the other parameters)</text>"
        svg += "<text transform=\"translate(14,\(top + ch * Double(ysv.count) / 2)) rotate(-90)\" text-anchor=\"middle\">\(esc(yName))</text>"
        return svg + "</svg>"
    }
}

func esc(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
