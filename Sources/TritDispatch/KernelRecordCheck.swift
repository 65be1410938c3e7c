import TritKernels

extension TuningRecordValidator {
    /// Structural checks plus the kernel registry: known variant, a format it runs (an unknown
    /// format does not decode: the cache drops it as malformed), parameters in its space (the thread parameter must equal the problem's thread count).
    public static let kernels = TuningRecordValidator { p, c in
        guard let variant = KernelRegistry.allKnown.first(where: { $0.id == p.variant }) else {
            return "unknown variant '\(p.variant)' (known: \(KernelRegistry.allKnown.map(\.id).joined(separator: ", ")))"
        }
        guard variant.formats.contains(p.format) else { return "variant '\(p.variant)' does not run format '\(p.format.rawValue)'" }
        var values = c.values
        if let t = values[KernelParameterName.threads] {
            guard t == p.threads else { return "parameter threads = \(t) differs from the problem's \(p.threads) threads" }
            values[KernelParameterName.threads] = nil
        }
        do { _ = try variant.space.resolve(KernelConfiguration(values)) } catch { return "\(error)" }
        return nil
    }
}
