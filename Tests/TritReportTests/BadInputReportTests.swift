import Foundation
import Testing
import TritCore
@testable import TritReport

/// Issue 23: a NaN metric is inconclusive, never unchanged (class 3); metric names from a
/// result file are escaped in Markdown and on the terminal (class 8).
@Suite("bad input: reports")
struct BadInputReportTests {
    @Test func nonFiniteMetricsAreInconclusive() {
        let cases: [(Metric, Metric)] = [
            (.exact("ppl", unit: "", value: 10, direction: .lowerIsBetter, tolerance: 0.01),
             .exact("ppl", unit: "", value: .nan, direction: .lowerIsBetter, tolerance: 0.01)),
            (.exact("acc", unit: "", value: .nan, direction: .higherIsBetter, tolerance: 0),
             .exact("acc", unit: "", value: .nan, direction: .higherIsBetter, tolerance: 0)),
            (.exact("ir", unit: "", value: .infinity, direction: .lowerIsBetter, tolerance: 0),
             .exact("ir", unit: "", value: 5, direction: .lowerIsBetter, tolerance: 0)),
            (.timing("t", unit: "s", samples: [1, 1, 1, 1, 1, 1, 1, 1]), .timing("t", unit: "s", samples: [1, 1, .nan, 1, 1, 1, 1, 1])),
        ]
        for (b, c) in cases {
            let cmp = Comparison.compare(baseline: [b], current: [c])
            #expect(cmp.rows.count == 1 && cmp.rows[0].verdict == .inconclusive && cmp.rows[0].rule.contains("NaN or infinite"), "\(b.name): \(cmp.rows)")
            #expect(cmp.exitCode == 3)
        }
    }

    @Test func hostileMetricNamesAreEscaped() {
        let name = "evil|name`<img src=x>`&\u{1B}[31m"
        let cmp = Comparison.compare(baseline: [.exact(name, unit: "", value: 1, direction: .lowerIsBetter, tolerance: 0)],
                                     current: [.exact(name, unit: "", value: 1, direction: .lowerIsBetter, tolerance: 0)])
        let md = cmp.markdown()
        #expect(md.contains("evil\\|name\\`&lt;img src=x&gt;\\`&amp;\\\\u{1b}[31m"), "\(md)")
        #expect(!md.contains("<img") && !md.contains("\u{1B}"))
        let text = cmp.text()
        #expect(!text.contains("\u{1B}") && text.contains("\\u{1b}[31m"))
        // The rows of the table keep their column count.
        let row = md.split(separator: "\n").first { $0.contains("evil") }.map(String.init) ?? ""
        #expect(row.replacingOccurrences(of: "\\|", with: "").filter { $0 == "|" }.count == 10, "\(row)")
    }
    /// A metric's unit comes from the result file too: escaped like its name, in Markdown and on
    /// the terminal; and the text output says why a row is inconclusive.
    @Test func hostileUnitsAreEscapedAndInconclusiveRowsSayWhy() {
        let unit = "u|<img src=x>\u{1B}[31m\r\n"
        let cmp = Comparison.compare(baseline: [.exact("m1", unit: unit, value: 1, direction: .lowerIsBetter, tolerance: 0)],
                                     current: [.exact("m1", unit: unit, value: 2, direction: .lowerIsBetter, tolerance: 0)])
        let md = cmp.markdown()
        #expect(!md.contains("<img") && !md.contains("\u{1B}") && !md.contains("\r"), "\(md)")
        let row = md.split(separator: "\n").first { $0.contains("m1") }.map(String.init) ?? ""
        #expect(row.replacingOccurrences(of: "\\|", with: "").filter { $0 == "|" }.count == 10, "\(row)")
        let text = cmp.text()
        #expect(!text.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\r" }, "\(text.debugDescription)")
        #expect(text.split(separator: "\n").count == 2, "one line per row, then the exit line: \(text.debugDescription)")
        let nan = Comparison.compare(baseline: [.exact("p", unit: "", value: 1, direction: .lowerIsBetter, tolerance: 0)],
                                     current: [.exact("p", unit: "", value: .nan, direction: .lowerIsBetter, tolerance: 0)])
        #expect(nan.text().contains("NaN or infinite"), "\(nan.text())")
    }
}
