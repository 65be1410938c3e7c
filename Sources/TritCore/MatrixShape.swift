import Foundation

/// A weight matrix shape, rows (outputs) × cols (K, inputs), as benchmarks, tuning and
/// profiles take it ("ROWSxK", e.g. 2048x2048). Both sides are bounded by 2^20, so rows × cols
/// never overflows and a typo does not ask for terabytes.
public struct MatrixShape: Hashable, Sendable, CustomStringConvertible {
    public static let maximumSide = 1 << 20
    public let rows: Int
    public let cols: Int

    public init?(rows: Int, cols: Int) {
        guard (1...Self.maximumSide).contains(rows), (1...Self.maximumSide).contains(cols) else { return nil }
        self.rows = rows
        self.cols = cols
    }

    /// "ROWSxK" (case-insensitive x, spaces around the numbers allowed).
    public init?(_ text: String) {
        let d = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard d.count == 2, let r = d[0], let c = d[1] else { return nil }
        self.init(rows: r, cols: c)
    }

    /// What a valid shape looks like, for error messages.
    public static let expected = "ROWSxK with both in 1...\(maximumSide), e.g. 2048x2048"

    public var description: String { "\(rows)x\(cols)" }
    public var elements: Int { rows * cols }
}
