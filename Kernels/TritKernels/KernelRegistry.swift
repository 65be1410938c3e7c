import TritCore

/// A kernel variant as the registry lists it: a stable id, the formats it runs on, and its
/// tunable parameters.
public struct KernelVariant: Sendable {
    public let id: String
    public let summary: String
    public let formats: [PackedFormatKind]
    public let space: ParameterSpace
    /// Scale-group sizes this variant handles: every group size, or multiples of this many
    /// columns (plus one group per row).
    public let groupMultiple: Int
    /// Whether the tuner measures it and dispatch may choose it. The scalar reference and the
    /// forced portable fallback exist to check and compare against, not to run models.
    public let isTuned: Bool

    public func supports(_ format: PackedFormatKind) -> Bool { formats.contains(format) }

    /// Whether the variant's own loops run on a CPU with `features`, rather than the portable
    /// fallback every variant has (lut243 without AVX512-VBMI runs a Swift SIMD loop 1000×
    /// slower than its lookup loop): the tuner leaves such a variant out there.
    public func runsNatively(on features: CPUFeatures) -> Bool {
        switch id {
        case KernelRegistry.scalar, KernelRegistry.simdPortable: return true
        case KernelRegistry.lut243: return features.supportsVBMILookup
        default: return features.supportsAVX2Kernels
        }
    }

    /// The untuned default for `tokens` activation columns: the space's defaults (set for one
    /// token), with the token block raised for several tokens so one weight decode or table
    /// index load serves several tokens (and the row block lowered to keep the register block
    /// within its constraint).
    public func defaultConfiguration(tokens: Int) -> KernelConfiguration {
        var c = space.defaultConfiguration
        guard tokens > 1, let allowedTokens = space.parameters.first(where: { $0.name == KernelParameterName.tokenBlock })?.allowed else {
            return c
        }
        for (rb, tb) in [(2, 4), (1, 4), (2, 2), (1, 2)] {
            var t = c
            if t[KernelParameterName.rowBlock] != nil { t[KernelParameterName.rowBlock] = rb }
            t[KernelParameterName.tokenBlock] = min(tb, allowedTokens.max() ?? 1)
            if (try? space.resolve(t)) != nil { c = t; break }
        }
        return c
    }

    /// Whether the variant's loops handle the weights' scale groups.
    public func supportsGroups(of w: TernaryWeights) -> Bool {
        supportsGroups(groupSize: w.groupSize, groupsPerRow: w.groupsPerRow)
    }

    public func supportsGroups(groupSize: Int, groupsPerRow: Int) -> Bool {
        groupMultiple == 1 || groupsPerRow == 1 || groupSize % groupMultiple == 0
    }
}

public enum KernelError: Error, CustomStringConvertible, Equatable {
    case unknownVariant(String, known: [String])
    case formatNotSupported(variant: String, format: PackedFormatKind, supported: [PackedFormatKind])
    case groupSizeNotSupported(variant: String, groupSize: Int, cols: Int, multiple: Int)
    case shape(String)

    public var description: String {
        switch self {
        case let .unknownVariant(v, known):
            return "kernel variant '\(v)' is unknown (known: \(known.joined(separator: ", ")))"
        case let .formatNotSupported(v, f, s):
            return "kernel variant '\(v)' does not run on format '\(f.rawValue)' (it runs on: \(s.map(\.rawValue).joined(separator: ", ")))"
        case let .groupSizeNotSupported(v, g, c, m):
            return "kernel variant '\(v)': scale group size \(g) (cols \(c)) is not supported: it needs a multiple of \(m) columns or one group per row"
        case let .shape(what):
            return "kernel: \(what)"
        }
    }
}

/// All kernel variants. The ids are stable: tuning caches and result files refer to them.
public enum KernelRegistry {
    public static let scalar = "scalar"
    public static let simd = "simd"
    public static let simdPortable = "simd-portable"
    public static let bitsliced = "bitsliced"
    public static let lut = "lut"
    public static let lut243 = "lut243"

    /// The variants as this process may run them (`CPUFeatures.current`).
    public static let all: [KernelVariant] = variants(for: .current)

    /// The variants with every parameter value any CPU may offer: what a tuning record from any
    /// context (another ISA cap, a newer CPU) is checked against before it is kept.
    public static let allKnown: [KernelVariant] = {
        var f = CPUFeatures()
        f.sse42 = true; f.avx = true; f.avx2 = true; f.fma = true; f.bmi2 = true; f.f16c = true; f.popcnt = true
        f.avx512f = true; f.avx512bw = true; f.avx512vl = true; f.avx512vnni = true; f.avx512vbmi = true
        f.avxVNNI = true; f.gfni = true
        return variants(for: f)
    }()

    /// The variants with the parameter spaces `features` allows: a loop the CPU cannot run
    /// (tileDecode 2, gemvWidth 512 without AVX512-VNNI) is not a value the space offers.
    public static func variants(for features: CPUFeatures) -> [KernelVariant] { [
        KernelVariant(id: scalar, summary: "scalar reference: int8 activations × trits from the unpacked planes, exact int32 sums",
                      formats: PackedFormatKind.allCases,
                      space: ParameterSpace(variant: scalar, parameters: [.threads()], constraints: []),
                      groupMultiple: 1, isTuned: false),
        KernelVariant(id: simd, summary: "decode to codes w+1 + vpmaddubsw (AVX2; portable Swift SIMD when AVX2 is absent)",
                      formats: [.twoBit, .twoPlane2Bit, .base3, .twoPlane],
                      space: maddSpace(simd, features: features), groupMultiple: 128, isTuned: true),
        KernelVariant(id: simdPortable, summary: "portable Swift SIMD decode + int32 dot (the fallback of simd/bitsliced/lut, forced)",
                      formats: [.twoBit, .twoPlane2Bit, .base3, .twoPlane, .bitmask, .lut, .base3LUT, .twoPlaneBase3LUT],
                      space: ParameterSpace(variant: simdPortable, parameters: [.threads()], constraints: []),
                      groupMultiple: 32, isTuned: false),
        KernelVariant(id: bitsliced, summary: "bit-sliced trit planes: +/− masks expanded with vpshufb/vpcmpeqb, masked add/sub via vpmaddubsw",
                      formats: [.bitmask], space: maddSpace(bitsliced, features: features), groupMultiple: 128, isTuned: true),
        KernelVariant(id: lut, summary: "T-MAC-style bit-plane tables of 4 activations, 32 rows per vpshufb, exact lo/hi byte tables",
                      formats: [.lut], space: lutSpace(), groupMultiple: 4, isTuned: true),
        KernelVariant(id: lut243, summary: "243-entry tables of 5 activations indexed by the base-3 byte itself, 64 rows per vpermi2b, exact lo/hi byte tables (AVX512-VBMI; portable Swift SIMD elsewhere)",
                      formats: [.base3LUT, .twoPlaneBase3LUT], space: lut243Space(), groupMultiple: 32, isTuned: true),
    ] }

    /// What `tritbench tune` and the run's tuning stage tune by default: every tuned variant
    /// whose own loops run on a CPU with `features` (a portable fallback is never worth tuning:
    /// dispatch would not pick it), each on all its formats.
    public static func tuningTargets(for features: CPUFeatures = .current) -> [KernelVariant] {
        variants(for: features).filter { $0.isTuned && $0.runsNatively(on: features) }
    }

    public static func variant(_ id: String) throws -> KernelVariant {
        guard let v = all.first(where: { $0.id == id }) else { throw KernelError.unknownVariant(id, known: all.map(\.id)) }
        return v
    }

    /// The variant `id` as a CPU with `features` would run it.
    public static func variant(_ id: String, features: CPUFeatures) throws -> KernelVariant {
        let list = features == .current ? all : variants(for: features)
        guard let v = list.first(where: { $0.id == id }) else { throw KernelError.unknownVariant(id, known: list.map(\.id)) }
        return v
    }

    static func maddSpace(_ id: String, features: CPUFeatures) -> ParameterSpace {
        ParameterSpace(variant: id, parameters: [
            KernelParameter(name: KernelParameterName.rowBlock, allowed: [1, 2, 4], defaultValue: 4,
                            meaning: "rows decoded together against the same activations (register block)"),
            KernelParameter(name: KernelParameterName.tokenBlock, allowed: [1, 2, 3, 4], defaultValue: 1,
                            meaning: "activation columns (tokens) sharing one weight decode", minTokens: 2),
            KernelParameter(name: KernelParameterName.int16Depth, allowed: [1, 2, 4, 8, 16, 32], defaultValue: 16,
                            meaning: "128-column quads summed in int16 before vpmaddwd widening (K unroll)"),
            .tileDecode(features: features),
        ] + (id == simd ? [.gemvWidth(features: features)] : []) + [
            .prefetch(), .threads(),
        ], constraints: [
            ParameterConstraint(parameters: [KernelParameterName.rowBlock, KernelParameterName.tokenBlock],
                                rule: "rowBlock × tokenBlock ≤ 4, or = 8 (2×4, 4×2): ≤ 4 pairs keep an int16 and an int32 accumulator each, 8 pairs only int16 ones (widened once per scale group, so a group longer than int16Depth quads runs as 2×2 blocks); with 4 code vectors they must fit in 16 ymm registers",
                                holds: { c in
                                    let p = (c[KernelParameterName.rowBlock] ?? 1) * (c[KernelParameterName.tokenBlock] ?? 1)
                                    return p <= 4 || (p == 8 && (c[KernelParameterName.rowBlock] ?? 1) != 1)
                                }),
            ParameterConstraint(parameters: [KernelParameterName.int16Depth],
                                rule: "int16Depth ≤ 16: a quad adds ≤ 8 products of |code·q| ≤ 2·128 per int16 lane, so 16 quads reach ±32768 and 17 wrap",
                                holds: { ($0[KernelParameterName.int16Depth] ?? 1) <= 16 }),
        ])
    }

    static func lut243Space() -> ParameterSpace {
        ParameterSpace(variant: lut243, parameters: [
            KernelParameter(name: KernelParameterName.rowBlock, allowed: [4], defaultValue: 4,
                            meaning: "64-row tiles sharing each table load; fixed at 4 by the base3-lut layout, which stores a block's bytes in the order the loop reads them (rowBlock 1 and 2 over a 4-tile-blind layout measured 4x and 2x slower hot)"),
            KernelParameter(name: KernelParameterName.prefetch, allowed: [0, 2048, 4096, 8192, 16384], defaultValue: 8192,
                            meaning: "bytes ahead in the weight stream to prefetch into L2 (prefetcht1, one per 64-byte line). The loop issues 12 loads per 256 weight bytes (8 of them table loads that hit L1), so the load queue, not the bandwidth, bounds how far out-of-order execution reaches ahead: without prefetch it streamed 8.6–13.9 GB/s cold in a C harness of the loop, with 8 KiB ahead 20.9–24.1 GB/s"),
            .threads(),
        ], constraints: [])
    }

    static func lutSpace() -> ParameterSpace {
        ParameterSpace(variant: lut, parameters: [
            KernelParameter(name: KernelParameterName.lutGroup, allowed: [4], defaultValue: 4,
                            meaning: "activations per table (16-entry vpshufb tables fix it at 4 for bit-planes)"),
            KernelParameter(name: KernelParameterName.tokenBlock, allowed: [1, 2], defaultValue: 1,
                            meaning: "tokens whose tables share one index load", minTokens: 2),
            KernelParameter(name: KernelParameterName.int16Depth, allowed: [8, 16, 32, 64, 128], defaultValue: 32,
                            meaning: "column groups summed in int16 before widening"),
            .prefetch(), .threads(),
        ], constraints: [
            ParameterConstraint(parameters: [KernelParameterName.int16Depth],
                                rule: "int16Depth ≤ 85: each step adds ≤ 3·255 = 765 to an unsigned 16-bit lane (85·765 < 65536)",
                                holds: { ($0[KernelParameterName.int16Depth] ?? 1) <= 85 }),
        ])
    }
}
