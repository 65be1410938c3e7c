// TritKernelsAVX2: inner loops compiled with AVX2/FMA/BMI2. Only called after a run-time CPUID
// check (TritCore.CPUFeatures.supportsAVX2Kernels). Filled in by the kernels issue.
public enum TritKernelsAVX2Module {
    public static let name = "TritKernelsAVX2"
}
