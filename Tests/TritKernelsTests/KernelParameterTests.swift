import Foundation
import Testing
import TritCore
@testable import TritKernels

@Suite struct KernelParameterTests {
    @Test func invalidConfigurationsAreRejectedByName() throws {
        let simd = try KernelRegistry.variant(KernelRegistry.simd).space
        #expect(throws: KernelConfigurationError.self) { try simd.resolve(KernelConfiguration(["rowBlock": 4, "tokenBlock": 3])) }
        #expect(throws: KernelConfigurationError.self) { try simd.resolve(KernelConfiguration(["rowBlock": 4, "tokenBlock": 4])) }
        do {
            _ = try simd.resolve(KernelConfiguration(["int16Depth": 32]))
            Issue.record("int16Depth 32 accepted")
        } catch let e as KernelConfigurationError {
            #expect("\(e)".contains("int16Depth") && "\(e)".contains("≤ 16"))
        }
        #expect(throws: KernelConfigurationError.valueNotAllowed(variant: "simd", name: "rowBlock", value: 3, allowed: [1, 2, 4])) {
            try simd.resolve(KernelConfiguration(["rowBlock": 3]))
        }
        #expect(throws: KernelConfigurationError.self) { try simd.resolve(KernelConfiguration(["rowblock": 4])) }
        let lut = try KernelRegistry.variant(KernelRegistry.lut).space
        #expect(throws: KernelConfigurationError.self) { try lut.resolve(KernelConfiguration(["int16Depth": 128])) }
        #expect(throws: KernelError.self) { try KernelRegistry.variant("nope") }
        var g = SeededGenerator(seed: 1)
        let w = TernaryWeights.random(rows: 4, cols: 128, groupSize: 128, planes: 1, using: &g)
        #expect(throws: KernelError.formatNotSupported(variant: "lut", format: .twoBit, supported: [.lut])) {
            try TernaryLinearKernel(weights: w, format: .twoBit, variant: "lut", configuration: .init())
        }
        #expect(throws: KernelConfigurationError.self) {
            try TernaryLinearKernel(weights: w, format: .twoBit, variant: "simd", configuration: .init(["tokenBlock": 3, "rowBlock": 2]))
        }
    }

    @Test func spacesEnumerateValidConfigurations() throws {
        for v in KernelRegistry.all {
            let all = v.space.allConfigurations
            #expect(!all.isEmpty && Set(all).count == all.count)
            #expect(all.contains(try v.space.resolve(v.space.defaultConfiguration)))
            for c in all { #expect(try v.space.resolve(c) == c) }
        }
        let simd = try KernelRegistry.variant(KernelRegistry.simd).space.allConfigurations
        // Register blocks of ≤ 4 (row, token) pairs, or exactly 8 as 2×4 / 4×2 (int16-only accumulators).
        #expect(!simd.contains { c in
            let pairs = c["rowBlock"]! * c["tokenBlock"]!
            return (pairs > 4 && !(pairs == 8 && c["rowBlock"]! > 1)) || c["int16Depth"]! > 16
        })
        #expect(simd.contains { $0["rowBlock"]! * $0["tokenBlock"]! == 8 })
        #expect(simd.count > 20)
    }

    @Test func configurationsRoundTripThroughJSONAndText() throws {
        let c = KernelConfiguration(["rowBlock": 2, "tokenBlock": 2, "threads": 1])
        let data = try JSONEncoder().encode(c)
        #expect(try JSONDecoder().decode(KernelConfiguration.self, from: data) == c)
        #expect(try KernelConfiguration(parsing: c.description) == c)
        #expect(throws: KernelConfigurationError.self) { try KernelConfiguration(parsing: "rowBlock=x") }
    }

    /// A call's search space keeps every value of each parameter its loop reads, pins the rest
    /// to their defaults, and holds the default configuration: GEMV spaces lose tokenBlock and
    /// tileDecode, GEMM spaces gemvWidth.
    @Test func tokenCountsPinTheParametersTheirLoopsDoNotRead() throws {
        for v in KernelRegistry.all {
            let space = v.space
            for tokens in [1, 3, 64] {
                let configs = space.configurations(tokens: tokens)
                #expect(Set(configs).count == configs.count, "\(v.id) tokens \(tokens): duplicates")
                #expect(configs.contains(space.defaultConfiguration), "\(v.id) tokens \(tokens): default missing")
                for c in configs { #expect((try? space.resolve(c)) == c, "\(v.id) {\(c)} is not valid") }
                for p in space.parameters {
                    let seen = Set(configs.compactMap { $0[p.name] })
                    if p.applies(toTokens: tokens) {
                        let reachable = Set(space.allConfigurations.compactMap { $0[p.name] })
                        #expect(seen == reachable, "\(v.id) tokens \(tokens): \(p.name) covers \(seen.sorted()) of \(reachable.sorted())")
                    } else {
                        #expect(seen == [p.defaultValue], "\(v.id) tokens \(tokens): \(p.name) not pinned: \(seen.sorted())")
                    }
                }
            }
        }
        let simd = try KernelRegistry.variant(KernelRegistry.simd).space
        #expect(simd.configurations(tokens: 1).count < simd.allConfigurations.count / 4)
        #expect(simd.parameters.first { $0.name == KernelParameterName.tokenBlock }?.applies(toTokens: 1) == false)
        #expect(simd.parameters.first { $0.name == KernelParameterName.tileDecode }?.applies(toTokens: 3) == false)
        #expect(simd.parameters.first { $0.name == KernelParameterName.gemvWidth }?.applies(toTokens: 64) == false)
    }
}

@Suite struct TuningTargetTests {
    /// The tuning targets are the registry's tuned variants that run their own loops on the CPU:
    /// never the scalar reference or the forced fallback; lut243 only with AVX512-VBMI; nothing
    /// but what the registry lists, each on all its formats.
    @Test func tuningTargetsComeFromTheRegistry() throws {
        var avx2 = CPUFeatures()
        avx2.sse42 = true; avx2.avx = true; avx2.avx2 = true; avx2.fma = true; avx2.bmi2 = true; avx2.f16c = true; avx2.popcnt = true
        var vbmi = avx2
        vbmi.avx512f = true; vbmi.avx512bw = true; vbmi.avx512vl = true; vbmi.avx512vbmi = true
        #expect(KernelRegistry.tuningTargets(for: avx2).map(\.id) == ["simd", "bitsliced", "lut"])
        #expect(vbmi.supportsVBMILookup)
        #expect(KernelRegistry.tuningTargets(for: vbmi).map(\.id) == ["simd", "bitsliced", "lut", "lut243"])
        #expect(KernelRegistry.tuningTargets(for: CPUFeatures()).isEmpty)  // no AVX2: only fallbacks
        for v in KernelRegistry.tuningTargets(for: vbmi) {
            #expect(v.formats == (try KernelRegistry.variant(v.id, features: vbmi)).formats)
        }
        #expect(KernelRegistry.allKnown.filter { !$0.isTuned }.map(\.id) == ["scalar", "simd-portable"])
        // The note that says why a variant is left out names what its loops need, and only
        // where they cannot run.
        let lut243 = try KernelRegistry.variant("lut243", features: vbmi), simd = try KernelRegistry.variant("simd", features: vbmi)
        #expect(lut243.notTunedNote(on: vbmi) == nil)
        #expect(lut243.notTunedNote(on: avx2) == "lut243 not tuned: this CPU runs only its portable fallback (its own loops need AVX512-VBMI), so dispatch never picks it")
        #expect(simd.notTunedNote(on: avx2) == nil)
        #expect(simd.notTunedNote(on: CPUFeatures())?.contains("its own loops need AVX2 + FMA") == true)
        #expect(try KernelRegistry.variant("scalar", features: vbmi).notTunedNote(on: CPUFeatures()) == nil)
    }
}
