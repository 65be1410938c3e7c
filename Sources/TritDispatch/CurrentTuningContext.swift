import TritCore

extension TuningContext {
    /// The context of this CPU and this build. One definition serves `tritbench tune` (which
    /// writes records under it) and the model runtime (which looks them up): were the two
    /// spelled separately, a small difference would silently hide every tuned record.
    public static func current(cpu: CPUDescription = .current(), build: BuildInfo = .current()) -> TuningContext {
        TuningContext(cpuFingerprint: cpu.fingerprint, buildFingerprint: buildFingerprint(of: build))
    }

    /// What makes kernel timings comparable across builds: configuration, each kernel target's
    /// flags, the compiler, and the content of Kernels/ at build time (uncommitted edits included).
    public static func buildFingerprint(of build: BuildInfo) -> String {
        "\(build.configuration)-\(build.kernelFlags.joined(separator: ";"))-\(build.compilerVersion)-kernels-\(build.kernelsContentHash)"
    }
}

extension Dispatch {
    /// Dispatch from this CPU's default tuning cache (`TuningCache.defaultPath`) in the current
    /// context. A missing cache is an empty one: every lookup then falls back to the defaults.
    public static func current(cpu: CPUDescription = .current()) -> Dispatch {
        Dispatch(cache: TuningCache(path: TuningCache.defaultPath(cpuFingerprint: cpu.fingerprint)),
                 context: .current(cpu: cpu))
    }
}
