/// Overflow-checked arithmetic on sizes read from untrusted files.
///
/// Every reader (GGUF, `.npy`, packed model) multiplies dimensions, element counts and type
/// sizes, and adds offsets to lengths, on numbers a file supplies. Swift traps on overflow, so a
/// crafted header (two GGUF dimensions of 2^39, a packed row count of 2^62, an offset near 2^63)
/// would kill the process before any message. These helpers return `nil` instead; the reader
/// turns that into its own error naming the file, field and offset, and bounds the result by the
/// file's size before allocating or converting anything.
public enum CheckedSize {
    /// The product of `factors`, or nil when one is negative or the product overflows `Int`.
    public static func product(_ factors: Int...) -> Int? { product(factors) }

    /// The product of `factors`, or nil when one is negative or the product overflows `Int`.
    public static func product<S: Sequence>(_ factors: S) -> Int? where S.Element == Int {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (r, o) = p.multipliedReportingOverflow(by: f)
            if o { return nil }
            p = r
        }
        return p
    }

    /// The sum of non-negative `terms`, or nil when one is negative or the sum overflows `Int`.
    public static func sum(_ terms: Int...) -> Int? {
        var s = 0
        for t in terms {
            guard t >= 0 else { return nil }
            let (r, o) = s.addingReportingOverflow(t)
            if o { return nil }
            s = r
        }
        return s
    }

    /// Whether `offset ..< offset + length` lies inside a buffer of `size` bytes, computed without
    /// overflow (a negative offset or length never fits).
    public static func fits(offset: Int, length: Int, within size: Int) -> Bool {
        guard offset >= 0, length >= 0, offset <= size else { return false }
        return length <= size - offset
    }

    /// A stored unsigned value as an `Int` no larger than `limit`, or nil (never traps).
    public static func int(_ v: UInt64, atMost limit: Int) -> Int? {
        v <= UInt64(max(limit, 0)) ? Int(v) : nil
    }
}
