/// Escaping of strings that come from input files (GGUF metadata, metric names in results, task
/// names) for the place they are printed, so a hostile file cannot move the terminal's cursor,
/// forge a table row, or inject markup.
public enum TextEscaping {
    /// For a terminal or a log: C0/C1 control characters (ESC, CR, BEL, …, DEL) and the Unicode
    /// bidirectional overrides become visible `\u{…}` escapes; newline and tab stay only when
    /// `keepLineBreaks` (multi-line reports), otherwise they are escaped too.
    public static func terminal(_ s: String, keepLineBreaks: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            if keepLineBreaks && (u == "\n" || u == "\t") { out.unicodeScalars.append(u); continue }
            if isControl(u) { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
        }
        return out
    }

    /// For a Markdown table cell or paragraph: terminal-safe first, then `\`, `|` and `` ` `` are
    /// backslash-escaped (no forged cell, no code span) and `<`, `>`, `&` become entities (so no
    /// HTML passes through).
    public static func markdown(_ s: String) -> String {
        var out = ""
        for ch in terminal(s) {
            switch ch {
            case "\\", "|", "`": out += "\\" + String(ch)
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            default: out.append(ch)
            }
        }
        return out
    }

    /// For a name shown as code in Markdown (a metric name): a code span when that is safe —
    /// inside one nothing is markup, but a backtick would end it and a `|` still splits a table
    /// cell, and control characters are never safe — otherwise the escaped plain text.
    public static func markdownCode(_ s: String) -> String {
        let safe = !s.isEmpty && !s.contains("`") && !s.contains("|") && !s.unicodeScalars.contains(where: isControl)
        return safe ? "`\(s)`" : markdown(s)
    }

    /// Whether a scalar is a control character or a bidirectional override/isolate.
    static func isControl(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        return v < 0x20 || (0x7F...0x9F).contains(v) || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
    }
}

/// A name that becomes one path component (a run id, a report directory): refused when it is
/// empty, `.` or `..`, contains `/` or NUL or a control character, or starts with `-`.
public struct PathComponentName: Equatable, Sendable, CustomStringConvertible {
    public let value: String
    public var description: String { value }

    public enum Problem: Error, CustomStringConvertible, Equatable {
        case invalid(field: String, found: String, reason: String)
        public var description: String {
            switch self {
            case let .invalid(field, found, reason):
                return "\(field) '\(TextEscaping.terminal(found))' is not a valid name: \(reason) (expected letters, digits, '.', '_', '-' and no '/' or '..')"
            }
        }
    }

    /// - Parameter field: the option or field it came from, for the error.
    public init(_ s: String, field: String) throws {
        func bad(_ r: String) -> Problem { .invalid(field: field, found: s, reason: r) }
        guard !s.isEmpty else { throw bad("it is empty") }
        guard s != ".", s != ".." else { throw bad("it names a directory, not a file") }
        guard !s.contains("/") else { throw bad("it contains '/'") }
        guard !s.contains("..") else { throw bad("it contains '..'") }
        guard !s.unicodeScalars.contains(where: { $0.value == 0 || TextEscaping.isControl($0) }) else { throw bad("it contains a control character") }
        guard !s.hasPrefix("-") else { throw bad("it starts with '-'") }
        guard s.utf8.count <= 200 else { throw bad("it is longer than 200 bytes") }
        value = s
    }
}
