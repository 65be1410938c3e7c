import TritCore

/// One table of a report, held once as plain text and rendered for each place it is read: a
/// GitHub pipe table for `summary.md`, an HTML table for `report.html`, and a fixed-width table
/// for a terminal.
///
/// Why a model: the run report used to write each table as Markdown rows and then split those
/// rows back apart to make its HTML, so every table carried its escaping by hand, a `\|` inside
/// a cell split the HTML cell in two, and a table for the terminal would have been a third copy.
/// Here a cell holds the text as it is meant to be read, and each renderer escapes it for its
/// own output; a caller never escapes a cell and so cannot forget to.
///
/// Rows may be shorter or longer than the header: every rendering gives the table as many
/// columns as its widest row and leaves missing cells empty, so the columns always line up.
public struct ReportTable: Equatable, Sendable {
    /// Where a column's cells sit in the terminal and HTML renderings: text reads best on the
    /// left, numbers on the right, where their digits line up.
    public enum Alignment: Equatable, Sendable { case left, right }

    public var header: [String]
    public var rows: [[String]]
    /// One per column; a column without one is left-aligned.
    public var alignments: [Alignment]

    public init(header: [String], alignments: [Alignment] = [], rows: [[String]] = []) {
        self.header = header
        self.alignments = alignments
        self.rows = rows
    }

    /// Each column's heading beside its alignment, so a wide table is read one column at a time.
    public init(columns: [(String, Alignment)], rows: [[String]] = []) {
        self.init(header: columns.map(\.0), alignments: columns.map(\.1), rows: rows)
    }

    public mutating func append(_ row: [String]) { rows.append(row) }

    /// As many columns as the widest of the header and the rows.
    public var columnCount: Int { ([header] + rows).map(\.count).max() ?? 0 }

    public func alignment(ofColumn column: Int) -> Alignment {
        alignments.indices.contains(column) ? alignments[column] : .left
    }

    /// The header and every row, each with exactly `columnCount` cells.
    private func filledLines() -> (header: [String], rows: [[String]]) {
        let n = columnCount
        func fill(_ cells: [String]) -> [String] { cells + Array(repeating: "", count: n - cells.count) }
        return (fill(header), rows.map(fill))
    }

    /// A GitHub pipe table, each cell escaped by `TextEscaping.markdown` (a `|` cannot end a
    /// cell, no HTML or code span gets through, control characters become visible).
    ///
    /// The separator row is `---` for every column, with no alignment colons: run summaries
    /// written before this model used it, and keeping it lets two runs' `summary.md` be diffed
    /// line by line where only numbers changed.
    public func markdown() -> String {
        let n = columnCount
        guard n > 0 else { return "" }
        let (header, rows) = filledLines()
        func line(_ cells: [String]) -> String { "| " + cells.map(TextEscaping.markdown).joined(separator: " | ") + " |\n" }
        return line(header) + "|" + String(repeating: "---|", count: n) + "\n" + rows.map(line).joined()
    }

    /// An HTML `<table>` with the header in `<thead>` and the rows in `<tbody>`. Control
    /// characters are shown as `\u{…}` escapes as on a terminal, then `&`, `<`, `>` and `"`
    /// become entities. A right-aligned cell carries its alignment inline, so the table needs no
    /// style sheet to show it; left is the page's default.
    public func html() -> String {
        let (header, rows) = filledLines()
        func line(_ cells: [String], tag: String) -> String {
            "<tr>" + cells.enumerated().map { i, c in
                let style = alignment(ofColumn: i) == .right ? " style=\"text-align:right\"" : ""
                return "<\(tag)\(style)>\(esc(TextEscaping.terminal(c)))</\(tag)>"
            }.joined() + "</tr>"
        }
        return "<table><thead>" + line(header, tag: "th") + "</thead><tbody>"
            + rows.map { line($0, tag: "td") }.joined() + "</tbody></table>"
    }

    /// A plain table for a terminal: the header, a rule of dashes under each heading, then the
    /// rows; each column as wide as its widest cell, right-aligned columns padded on the left,
    /// two spaces between columns, no spaces at the end of a line. Control characters become
    /// visible `\u{…}` escapes (`TextEscaping.terminal`), so a cell can neither move the cursor
    /// nor break the table across lines.
    ///
    /// Width counts characters, so the columns line up wherever each character takes one cell of
    /// the terminal; East Asian wide characters and emoji take two and push their row right.
    public func text() -> String {
        let (header, rows) = filledLines()
        let lines = ([header] + rows).map { $0.map { TextEscaping.terminal($0) } }
        let widths = (0..<columnCount).map { i in lines.map { $0[i].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            let padded = cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return alignment(ofColumn: i) == .right ? pad + c : c + pad
            }
            var s = padded.joined(separator: "  ")
            while s.last == " " { s.removeLast() }
            return s + "\n"
        }
        guard let first = lines.first, !widths.isEmpty else { return "" }
        return line(first) + line(widths.map { String(repeating: "-", count: $0) }) + lines.dropFirst().map(line).joined()
    }
}
