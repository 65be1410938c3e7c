// The fuzz build compiles the parsers without the kernel registry: the kernel check of tuning
// records is replaced by the structural one (the registry's own lookups are plain array
// searches over constant data, exercised by the unit tests).
extension TuningRecordValidator {
    public static let kernels = TuningRecordValidator.structural
}
