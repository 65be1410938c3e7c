import Foundation

/// Progress of long work, reported on stderr as "what: done/total (pct) elapsed, ETA".
///
/// Results go to stdout and files; progress goes to stderr only, rate-limited so that tight
/// loops can call `advance` freely. A value type: each piece of work owns its reporter.
public struct ProgressReporter {
    public let label: String
    public let total: Int
    public private(set) var done = 0
    private let start = Date()
    private var lastPrint = Date.distantPast
    private let enabled: Bool
    private let minInterval: TimeInterval

    public init(_ label: String, total: Int, enabled: Bool = true, minInterval: TimeInterval = 0.5) {
        self.label = label
        self.total = max(total, 0)
        self.enabled = enabled
        self.minInterval = minInterval
    }

    public mutating func advance(by n: Int = 1, detail: String = "") {
        done += n
        let now = Date()
        if now.timeIntervalSince(lastPrint) >= minInterval || done >= total {
            lastPrint = now
            emit(detail: detail, now: now)
        }
    }

    /// Prints the final line (100 % and the elapsed time).
    public func finish(detail: String = "") {
        guard enabled else { return }
        let elapsed = Date().timeIntervalSince(start)
        Self.write("\(label): done \(done)/\(total) in \(Self.format(seconds: elapsed))\(detail.isEmpty ? "" : " — \(detail)")\n")
    }

    private func emit(detail: String, now: Date) {
        guard enabled else { return }
        let elapsed = now.timeIntervalSince(start)
        var line = "\(label): \(done)/\(total)"
        if total > 0 {
            line += String(format: " (%.0f%%)", 100.0 * Double(done) / Double(total))
            if done > 0 && done < total {
                let eta = elapsed / Double(done) * Double(total - done)
                line += " elapsed \(Self.format(seconds: elapsed)), ETA \(Self.format(seconds: eta))"
            }
        }
        if !detail.isEmpty { line += " — \(detail)" }
        Self.write(line + "\n")
    }

    public static func format(seconds s: Double) -> String {
        if s < 60 { return String(format: "%.1fs", s) }
        let m = Int(s) / 60, sec = Int(s) % 60
        if m < 60 { return "\(m)m\(String(format: "%02d", sec))s" }
        return "\(m / 60)h\(String(format: "%02d", m % 60))m"
    }

    /// Writes a line to stderr.
    public static func write(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }
}

/// Prints one informational line on stderr (progress and notices, never results).
public func logNotice(_ message: String) {
    ProgressReporter.write(message.hasSuffix("\n") ? message : message + "\n")
}
