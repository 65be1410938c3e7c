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
}
