import Foundation
import Testing
import TritCore
import TritMeasure
@testable import TritReport

/// One table, three renderings: the Markdown of `summary.md`, the HTML of `report.html` and the
/// fixed-width text for a terminal, each escaping the same plain cells its own way.
@Suite struct ReportTableTests {
    /// A pipe, HTML's special characters, an ESC sequence and an empty cell.
    static let table = ReportTable(columns: [("name", .left), ("value", .right), ("note", .left)],
                                   rows: [["a|b", "1.5", "x < y & z"],
                                          ["esc\u{1B}[31m", "10", ""],
                                          ["c", "200", "ok"]])

    @Test func markdownEscapesEachCell() {
        #expect(Self.table.markdown() == """
            | name | value | note |
            |---|---|---|
            | a\\|b | 1.5 | x &lt; y &amp; z |
            | esc\\\\u{1b}[31m | 10 |  |
            | c | 200 | ok |

            """)
    }

    @Test func htmlEscapesEachCellAndAlignsRightColumns() {
        let right = " style=\"text-align:right\""
        #expect(Self.table.html() == "<table><thead><tr><th>name</th><th\(right)>value</th><th>note</th></tr></thead><tbody>"
            + "<tr><td>a|b</td><td\(right)>1.5</td><td>x &lt; y &amp; z</td></tr>"
            + "<tr><td>esc\\u{1b}[31m</td><td\(right)>10</td><td></td></tr>"
            + "<tr><td>c</td><td\(right)>200</td><td>ok</td></tr></tbody></table>")
    }

    /// Columns as wide as their widest cell (the escaped ESC counts as the six characters it
    /// shows), two spaces apart, "value" right-aligned, nothing after the last character.
    @Test func textPadsColumnsToTheWidestCell() {
        let text = Self.table.text()
        #expect(text == """
            name           value  note
            -------------  -----  ---------
            a|b              1.5  x < y & z
            esc\\u{1b}[31m     10
            c                200  ok

            """)
        #expect(!text.unicodeScalars.contains("\u{1B}"))
    }

    /// Width counts characters, not bytes: "µ" and "—" take one column each.
    @Test func textWidthCountsCharacters() {
        let t = ReportTable(columns: [("µs", .right), ("x", .left)], rows: [["—", "a"], ["12.5", "b"]])
        #expect(t.text() == "  µs  x\n----  -\n   —  a\n12.5  b\n")
    }

    /// A row shorter or longer than the header still renders as a rectangle, and a column with
    /// no alignment given is left-aligned.
    @Test func raggedRowsAreFilledAndMissingAlignmentsAreLeft() {
        let t = ReportTable(header: ["a", "b"], alignments: [.right], rows: [["1"], ["22", "x", "extra"]])
        #expect(t.columnCount == 3)
        #expect(t.alignment(ofColumn: 1) == .left && t.alignment(ofColumn: 2) == .left)
        #expect(t.markdown() == "| a | b |  |\n|---|---|---|\n| 1 |  |  |\n| 22 | x | extra |\n")
        #expect(t.text() == " a  b\n--  -  -----\n 1\n22  x  extra\n")
        #expect(t.html().components(separatedBy: "<td").count - 1 == 6)
    }

    @Test func anEmptyTableRendersNoMarkdownOrText() {
        let t = ReportTable(header: [])
        #expect(t.markdown().isEmpty && t.text().isEmpty)
    }

    /// In the run report a label with a pipe stays one cell in both outputs (the HTML used to be
    /// made by splitting the Markdown rows at every "|", escaped or not).
    @Test func reportCellsWithAPipeStayOneCell() {
        var r = RunResult(runID: "t", context: EnvironmentReport.collect(probeEvents: false))
        var m = MethodResult(method: "m", label: "a|b <c>", runtime: "packed ternary kernels")
        m.decodeTokensPerSecond = 10
        r.methods = [m]
        let writer = ReportWriter(result: r)
        #expect(writer.markdown().contains("| a\\|b &lt;c&gt; | — | — | 10.0 | — | packed ternary kernels |\n"))
        #expect(writer.html().contains("<td>a|b &lt;c&gt;</td>"))
    }
}
