import Foundation

/// One number a run produced that a later run can be compared against.
///
/// Timings keep their samples (so a comparison can test them); deterministic values (bytes,
/// accuracy, cachegrind instruction counts) carry one exact value and are compared by rule.
public struct Metric: Codable, Equatable, Sendable {
    public enum Direction: String, Codable, Sendable { case lowerIsBetter = "lower", higherIsBetter = "higher" }
    public enum Kind: String, Codable, Sendable { case timing, deterministic }

    /// Stable identity across runs, e.g. "kernel/avx2/twoBit/2048x2048/t1/threads1/seconds".
    public var name: String
    public var unit: String
    public var direction: Direction
    public var kind: Kind
    /// Timing samples (kind == timing).
    public var samples: [Double]?
    /// The exact value (kind == deterministic).
    public var value: Double?
    /// For deterministic metrics: relative change tolerated as "unchanged" (0 = exact).
    public var tolerance: Double?

    public static func timing(_ name: String, unit: String = "s", samples: [Double]) -> Metric {
        Metric(name: name, unit: unit, direction: .lowerIsBetter, kind: .timing, samples: samples, value: nil, tolerance: nil)
    }

    public static func exact(_ name: String, unit: String, value: Double, direction: Direction = .lowerIsBetter,
                             tolerance: Double = 0) -> Metric {
        Metric(name: name, unit: unit, direction: direction, kind: .deterministic, samples: nil, value: value, tolerance: tolerance)
    }
}
