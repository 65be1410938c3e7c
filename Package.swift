// swift-tools-version: 6.0
// TritBench: ternary LLM weights, fast and measurable on CPUs.
//
// Layers (arrows point down only; see README.md):
//   tritbench (CLI) -> TritRun -> TritReport | TritModel | TritQuant | TritTune
//   TritTune -> TritMeasure, TritDispatch;  TritModel -> TritDispatch -> TritKernels -> TritCore
//   CPAPI (libpapi) and CPerfEvent (perf_event_open) are imported by TritMeasure only.
import PackageDescription

// x86-64: the AVX2 kernels live in their own target, compiled with AVX2/FMA/BMI2 enabled, so the
// rest of the package stays portable and the kernel dispatcher chooses at run time from CPUID.
// Each kernel target's clang flags are written once here: the target is compiled with them, and
// the same list is compiled into the build identity (`TRITBENCH_KERNEL_FLAGS` below), so tuning
// records always carry the flags the kernels were really built with.
#if arch(x86_64)
let kernelTargetFlags: [(target: String, flags: [String])] = [
    ("TritKernelsAVX2", ["-mavx2", "-mfma", "-mbmi2", "-mf16c"]),
    // The AVX-512 VNNI loops: their own target again, called only where CPUID reports the features.
    // GFNI is enabled for the one 2-bit decoder that uses it (`TwoBitGFNIRowPairs`, chosen only where
    // CPUID reports GFNI too; Cascade Lake has VNNI without it). Checked with objdump: no other
    // function of the target contains a GFNI instruction; recheck that if you add byte shifts here.
    ("TritKernelsAVX512", ["-mavx2", "-mfma", "-mbmi2", "-mf16c",
                           "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mgfni"]),
    // The 243-entry table-lookup loop (`vpermi2b` needs AVX512-VBMI, which Ice Lake and Zen 4 have
    // and Skylake-SP / Cascade Lake lack): a target of its own, so no other loop is compiled with it.
    ("TritKernelsVBMI", ["-mavx2", "-mfma", "-mbmi2", "-mf16c",
                         "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vbmi"]),
]
#else
let kernelTargetFlags: [(target: String, flags: [String])] = []
#endif

/// The Swift settings that pass a kernel target's clang flags to its C-imported intrinsics.
func kernelSettings(_ target: String) -> [SwiftSetting] {
    guard let flags = kernelTargetFlags.first(where: { $0.target == target })?.flags else { return [] }
    return [.unsafeFlags(flags.flatMap { ["-Xcc", $0] })]
}

/// "TritKernelsAVX2=-mavx2 -mfma …;TritKernelsAVX512=…": read back by `BuildInfo.kernelFlags`.
let kernelFlagsDefine = CSetting.define(
    "TRITBENCH_KERNEL_FLAGS",
    to: "\"" + kernelTargetFlags.map { "\($0.target)=\($0.flags.joined(separator: " "))" }.joined(separator: ";") + "\"")

let package = Package(
    name: "TritBench",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tritbench", targets: ["tritbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // System libraries.
        .systemLibrary(name: "CPAPI", path: "Sources/CPAPI", pkgConfig: "papi",
                       providers: [.apt(["libpapi-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        // CPUID / XGETBV and other tiny bits of C that Swift cannot express.
        .target(name: "CTritSupport", path: "Sources/CTritSupport", cSettings: [kernelFlagsDefine]),
        // The build identity, stamped at build time by BuildStampPlugin: a content hash of every
        // file under Kernels/ (uncommitted edits included), the revision and the compiler. TritCore
        // reads it through C declarations (CTritSupport.h) and does not import it, so a new stamp
        // relinks instead of recompiling the package; every executable and test target links it.
        .plugin(name: "BuildStampPlugin", capability: .buildTool(), path: "Sources/BuildStampPlugin"),
        .target(name: "TritBuildStamp", path: "Sources/TritBuildStamp", plugins: ["BuildStampPlugin"]),
        // perf_event_open(2), its attribute struct and ioctls: the direct counter backend's C side.
        .target(name: "CPerfEvent", path: "Sources/CPerfEvent"),

        // Foundation layer: Matrix, .npy, BLAS/LAPACK, atomic files, progress, errors, CPU features, SHA-256.
        .target(name: "TritCore", dependencies: ["CBLAS", "CTritSupport", .product(name: "Crypto", package: "swift-crypto")],
                path: "Sources/TritCore"),

        // Kernels: formats and variants. ISA-specific inner loops sit in TritKernelsAVX2 and
        // TritKernelsAVX512 (which builds on the AVX2 decoders and epilogue).
        .target(name: "TritKernelsAVX2", dependencies: ["CTritSupport"], path: "Kernels/TritKernelsAVX2",
                swiftSettings: kernelSettings("TritKernelsAVX2")),
        .target(name: "TritKernelsAVX512", dependencies: ["TritKernelsAVX2", "CTritSupport"], path: "Kernels/TritKernelsAVX512",
                swiftSettings: kernelSettings("TritKernelsAVX512")),
        .target(name: "TritKernelsVBMI", dependencies: ["CTritSupport"], path: "Kernels/TritKernelsVBMI",
                swiftSettings: kernelSettings("TritKernelsVBMI")),
        .target(name: "TritKernels", dependencies: ["TritCore", "CTritSupport", "TritKernelsAVX2", "TritKernelsAVX512", "TritKernelsVBMI"],
                path: "Kernels/TritKernels"),

        // Measurement: PAPI and perf_event counters, cachegrind, clocks, statistics, roofline. Measures closures.
        .target(name: "TritMeasure", dependencies: ["TritCore", "CPAPI", "CPerfEvent", "CTritSupport"], path: "Sources/TritMeasure"),
        // Dispatch: the tuning cache, its records and keys, and the choice of a layer's kernels
        // from them. No measurement: a program that only runs models links no PAPI.
        .target(name: "TritDispatch", dependencies: ["TritCore", "TritKernels"], path: "Sources/TritDispatch"),
        // Tuning: search spaces, strategies and the tuner, which measure and write the cache.
        .target(name: "TritTune", dependencies: ["TritCore", "TritKernels", "TritMeasure", "TritDispatch"],
                path: "Sources/TritTune"),
        // Quantizers: PTQTP, PT²-LLM, Tequila and baselines -> packed formats.
        .target(name: "TritQuant", dependencies: ["TritCore", "TritKernels"], path: "Sources/TritQuant"),
        // Model runtime: GGUF, tokenizer, Llama forward, evaluation, packed model file.
        .target(name: "TritModel", dependencies: ["TritCore", "TritKernels", "TritDispatch",
                                                  .product(name: "CompressNIO", package: "compress-nio"),
                                                  .product(name: "NIOCore", package: "swift-nio")],
                path: "Sources/TritModel"),
        // Training: backward pass through the Llama forward, STE quantization-aware training
        // (Tequila, absmean-STE), resumable checkpoints.
        .target(name: "TritTrain", dependencies: ["TritCore", "TritModel", "TritQuant", "TritKernels", "CBLAS", "CTritSupport"],
                path: "Sources/TritTrain"),
        // Reports: versioned result schema, Markdown, HTML/SVG, compare.
        .target(name: "TritReport", dependencies: ["TritCore", "TritKernels", "TritMeasure"], path: "Sources/TritReport"),
        // The main job: stages with a content-hash stage cache.
        .target(name: "TritRun",
                dependencies: ["TritCore", "TritKernels", "TritMeasure", "TritDispatch", "TritTune", "TritQuant",
                               "TritModel", "TritReport", "TritTrain"],
                path: "Sources/TritRun"),
        // Command-line tool: parses arguments, calls one function, prints.
        .executableTarget(
            name: "tritbench",
            dependencies: [
                "TritCore", "TritKernels", "TritMeasure", "TritDispatch", "TritTune", "TritQuant", "TritModel",
                "TritReport", "TritRun", "TritTrain", "TritBuildStamp",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/tritbench"),

        // One test target per module. They link into one test binary, which gets the build stamp
        // through TritCoreTests (which also tests it).
        .testTarget(name: "TritCoreTests", dependencies: ["TritBuildStamp", "TritCore"]),
        .testTarget(name: "TritKernelsTests", dependencies: ["TritKernels", "TritCore"]),
        .testTarget(name: "TritMeasureTests", dependencies: ["TritMeasure", "TritCore"]),
        .testTarget(name: "TritTuneTests", dependencies: ["TritTune", "TritDispatch", "TritKernels", "TritMeasure"]),
        .testTarget(name: "TritQuantTests", dependencies: ["TritQuant", "TritKernels", "TritCore"]),
        .testTarget(name: "TritModelTests", dependencies: ["TritModel", "TritKernels", "TritCore", "TritQuant", "TritDispatch", "TritTune"]),
        .testTarget(name: "TritTrainTests", dependencies: ["TritTrain", "TritModel", "TritCore"]),
        .testTarget(name: "TritReportTests", dependencies: ["TritReport", "TritMeasure", "TritCore"]),
        .testTarget(name: "TritRunTests", dependencies: ["TritRun", "TritTrain", "TritTune", "TritReport", "TritCore", "TritModel", "TritQuant", "TritKernels", "TritMeasure"]),
    ],
    swiftLanguageModes: [.v5]
)
