import Testing
import TritCore

@Suite struct CPUFeaturesTests {
    /// An Emerald Rapids-like feature set: everything the dispatcher distinguishes.
    static var xeon: CPUFeatures {
        var f = CPUFeatures()
        f.sse42 = true; f.popcnt = true; f.avx = true; f.avx2 = true; f.fma = true; f.bmi2 = true; f.f16c = true
        f.avx512f = true; f.avx512bw = true; f.avx512vl = true; f.avx512vnni = true; f.avx512vbmi = true
        f.avxVNNI = true; f.gfni = true; f.hypervisor = true
        return f
    }

    @Test func dispatchLevelsStepThroughWhatTheDispatcherDistinguishes() {
        let levels = Self.xeon.dispatchLevels
        #expect(levels.map(\.name) == ["portable", "avx2", "avx512-vnni", "avx512-vnni+vbmi", "avx512-vnni+vbmi+gfni"])
        let kinds = levels.map { [$0.features.supportsAVX2Kernels, $0.features.supportsVNNIKernels,
                                  $0.features.supportsVBMILookup, $0.features.supportsGFNIDecode] }
        #expect(kinds == [[false, false, false, false], [true, false, false, false], [true, true, false, false],
                          [true, true, true, false], [true, true, true, true]])
        #expect(levels.last!.features == Self.xeon)
        // An AVX2-only CPU (this project's AMD guests, Zen 3): two levels.
        let zen3 = Self.xeon.capped(at: .avx2)
        #expect(zen3.dispatchLevels.map(\.name) == ["portable", "avx2"])
        #expect(CPUFeatures().dispatchLevels.map(\.name) == ["portable"])
    }

    @Test func capHidesFeaturesAndNeverAddsOne() {
        #expect(Self.xeon.capped(at: .avx512) == Self.xeon)
        let avx2 = Self.xeon.capped(at: .avx2)
        #expect(avx2.supportsAVX2Kernels && !avx2.avx512f && !avx2.gfni && !avx2.avx512vbmi)
        let portable = Self.xeon.capped(at: .portable)
        #expect(!portable.avx2 && !portable.fma && portable.sse42)
        let bare = CPUFeatures().capped(at: .avx512)
        #expect(bare == CPUFeatures())
        #expect(CPUFeatures.current.capped(at: .avx512) == CPUFeatures.current)
    }

    @Test func isaEnvironmentValueIsParsedOrRefused() throws {
        #expect(try ISALevel.fromEnvironment([:]).get() == nil)
        #expect(try ISALevel.fromEnvironment(["TRITBENCH_ISA": "AVX2"]).get() == .avx2)
        #expect(try ISALevel.fromEnvironment(["TRITBENCH_ISA": " portable "]).get() == .portable)
        guard case .failure(let e) = ISALevel.fromEnvironment(["TRITBENCH_ISA": "sse9"]) else {
            Issue.record("accepted sse9"); return
        }
        #expect(e.description == "TRITBENCH_ISA=\"sse9\": expected one of portable, avx2, avx512")
    }
}
