import Foundation

/// Decides whether one tuning record may be kept and used: the tuning cache checks every record
/// it reads from disk and every record inserted, so dispatch only ever ranks valid ones.
///
/// Two layers: the structural checks (status, finite non-negative times, positive sizes), which
/// hold for any kernel, and an optional kernel check (the variant is registered, runs the
/// format, and the configuration lies in its declared parameter space). The tuner itself knows
/// no kernel, so in-memory caches of synthetic kernels use `.structural`; files on disk are read
/// with `.kernels`.
public struct TuningRecordValidator: Sendable {
    let kernelCheck: @Sendable (TuningProblem, TuningConfiguration) -> String?

    public init(kernelCheck: @escaping @Sendable (TuningProblem, TuningConfiguration) -> String?) { self.kernelCheck = kernelCheck }

    /// Structural checks only (synthetic kernels in tests, in-memory caches).
    public static let structural = TuningRecordValidator { _, _ in nil }

    /// Why `r` is invalid, or nil when it may be kept.
    public func problem(with r: TuningRecord) -> String? {
        let p = r.problem
        for (name, v) in [("rows", p.rows), ("cols", p.cols), ("tokens", p.tokens), ("threads", p.threads)] where v <= 0 {
            return "problem.\(name) = \(v); expected a positive count"
        }
        if let bad = r.samples.first(where: { !$0.isFinite || $0 < 0 }) { return "a sample time is \(bad); expected a finite time ≥ 0" }
        for (name, v) in [("median", r.median), ("ciLow", r.ciLow), ("ciHigh", r.ciHigh)] {
            if let v, !v.isFinite || v < 0 { return "\(name) = \(v); expected a finite time ≥ 0" }
        }
        if let bad = r.counters.first(where: { !$0.value.isFinite }) { return "counter '\(bad.key)' = \(bad.value); expected a finite count" }
        switch r.status {
        case "ok":
            guard let m = r.median, m > 0 else { return "status \"ok\" without a positive median time" }
        case "failed": break
        default: return "status \"\(r.status)\"; expected \"ok\" or \"failed\""
        }
        return kernelCheck(p, r.configuration)
    }
}
