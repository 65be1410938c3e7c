// TritKernels: packed ternary formats and kernel variants. Filled in by the kernels issue.
public enum TritKernelsModule {
    public static let name = "TritKernels"
}
