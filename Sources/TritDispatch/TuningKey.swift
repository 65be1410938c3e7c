import Foundation
import TritKernels

/// A configuration of a kernel's tunable parameters (parameter name → value): the kernels'
/// own type, so the tuner, its cache, dispatch and the kernels share one. The tuner and its
/// strategies still treat it as an opaque sorted dictionary (Kernel Tuner's separation of search
/// space and kernel).
public typealias TuningConfiguration = KernelConfiguration

/// What is being tuned: the kernels' own problem type, shared by benchmarks, dispatch and reports.
public typealias TuningProblem = KernelProblem

/// Where a measurement is valid: this CPU and this build. Records from another CPU or another
/// build of the kernels are kept in the file but never used for decisions.
public struct TuningContext: Codable, Hashable, Sendable {
    public var cpuFingerprint: String
    public var buildFingerprint: String
    public init(cpuFingerprint: String, buildFingerprint: String) {
        self.cpuFingerprint = cpuFingerprint; self.buildFingerprint = buildFingerprint
    }
}

