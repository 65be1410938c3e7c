import Foundation
import TritKernels

/// A configuration of a kernel's tunable parameters (parameter name → value): the kernels'
/// own type, so the tuner, its cache, dispatch and the kernels share one. The tuner and its
/// strategies still treat it as an opaque sorted dictionary (Kernel Tuner's separation of search
/// space and kernel).
public typealias TuningConfiguration = KernelConfiguration

/// What is being tuned: one kernel variant on one packed format at one problem size, timed hot
/// (weights in cache) or cold (weights streaming from DRAM, as a model's decode reads them: its
/// other layers evict each layer's weights between two tokens).
public struct TuningProblem: Codable, Hashable, Sendable, CustomStringConvertible {
    public var variant: String
    public var format: String
    public var rows: Int
    public var cols: Int
    public var tokens: Int
    public var threads: Int
    /// Timed with the weights streaming from DRAM. A cold and a hot problem are different
    /// problems: the tuner never answers one from the other's records.
    public var cold: Bool

    public init(variant: String, format: String, rows: Int, cols: Int, tokens: Int, threads: Int, cold: Bool = false) {
        self.variant = variant; self.format = format; self.rows = rows; self.cols = cols
        self.tokens = tokens; self.threads = threads; self.cold = cold
    }

    enum CodingKeys: String, CodingKey { case variant, format, rows, cols, tokens, threads, cold }

    /// Records written before `cold` existed were all timed hot: a missing key reads as false.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(variant: try c.decode(String.self, forKey: .variant), format: try c.decode(String.self, forKey: .format),
                  rows: try c.decode(Int.self, forKey: .rows), cols: try c.decode(Int.self, forKey: .cols),
                  tokens: try c.decode(Int.self, forKey: .tokens), threads: try c.decode(Int.self, forKey: .threads),
                  cold: try c.decodeIfPresent(Bool.self, forKey: .cold) ?? false)
    }

    public var shape: String { "\(rows)x\(cols)" }
    public var description: String { "\(variant)/\(format) \(shape) tokens=\(tokens) threads=\(threads)\(cold ? " cold" : "")" }
}

/// Where a measurement is valid: this CPU and this build. Records from another CPU or another
/// build of the kernels are kept in the file but never used for decisions.
public struct TuningContext: Codable, Hashable, Sendable {
    public var cpuFingerprint: String
    public var buildFingerprint: String
    public init(cpuFingerprint: String, buildFingerprint: String) {
        self.cpuFingerprint = cpuFingerprint; self.buildFingerprint = buildFingerprint
    }
}

